"""The cross-check findings for PV staff (SPEC §15): filtered by kind, patient and date as
``GET /api/v1/anomalies`` is, a keyset page at a time, each said in words and linked to its cases.

The findings are ``jobs.service.list_anomalies``'s; this module only words them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import FromQuery
from litestar.response import Template

from pv_service.di import Context
from pv_service.errors import Problem
from pv_service.handlers.pages import web
from pv_service.handlers.pages.labels import ANOMALY_KINDS, KIND_GROUPS, N_, Labels, Worded, worded_pages
from pv_service.handlers.pages.web import SignedIn
from pv_service.jobs import service
from pv_service.jobs.schemas import AnomalyView
from pv_service.pagination import DEFAULT_LIMIT

# What each kind of finding says, with the fields of its detail (rules/crosschecks.py, jobs/reminders.py);
# nested records are read as ``first_id``, ``second_dispensation_date``…
SENTENCES = {
    "secure_supply_over_28_days": N_(
        "Secure prescription: the dispensation of {dispensation_date} brings the supply to"
        " {cumulative_days_supplied} days since the first dispensation ({first_dispensation_date}),"
        " more than the {max_days} days allowed."
    ),
    "supply_outside_prescription": N_(
        "The supply dispensed on {dispensation_date} runs to {supply_last}, outside the prescription's period"
        " ({prescription_start} to {prescription_last})."
    ),
    "quantity_above_prescribed": N_(
        "By the dispensation of {dispensation_date}, {cumulative_dispensed_mg} mg of {compared_on} were dispensed"
        " for {prescribed_mg} mg prescribed ({prescribed_daily_mg} mg a day for {prescription_days} days; limit"
        " with the tolerance {limit_mg} mg)."
    ),
    "early_refill": N_(
        "Dispensed on {dispensation_date}, {days_after_previous} days after the previous dispensation"
        " ({previous_date}, {previous_days_supply} days' supply): not expected before {earliest_days_after_previous}"
        " days."
    ),
    "reported_dose_mismatch": N_(
        "The case reports {reported_daily_mg} mg of {compared_on} a day at the onset ({onset}); the dispensation"
        " of {dispensation_date} gives {dispensed_daily_mg} mg a day."
    ),
    "late_presentation": N_(
        "Secure prescription of {prescription_start} first presented on {dispensation_date}, {days_after_start}"
        " days after its start (at most {max_days_after_start}): {days_supply} days supplied when"
        " {remaining_days} remained."
    ),
    "overlapping_prescriptions": N_(
        "Two secure prescriptions overlap by {overlap_days} days: {first_id} ({first_prescription_start} to"
        " {first_prescription_last}) and {second_id} ({second_prescription_start} to {second_prescription_last})."
    ),
    "multiple_pharmacies": N_(
        "Supplies from two pharmacists overlap: {first_id} on {first_dispensation_date} (to {first_supply_last})"
        " by {first_pharmacist}, and {second_id} on {second_dispensation_date} (to {second_supply_last}) by"
        " {second_pharmacist}."
    ),
    "titration_start_too_high": N_(
        "Titration started on {step_date} at {step_daily_thc_mg} mg of THC a day, above the protocol's"
        " {max_start_daily_thc_mg} mg."
    ),
    "titration_increment_too_large": N_(
        "On {step_date} (day {days_since_inclusion} of titration) the daily THC dose rose by {increment_mg} mg,"
        " from {previous_daily_thc_mg} to {step_daily_thc_mg} mg; the protocol allows"
        " {max_daily_thc_increment_mg} mg."
    ),
    "titration_increase_too_soon": N_(
        "Increase on {step_date}, {days_between} days after the previous one ({reference_date}); the protocol"
        " asks for at least {min_days_between_increases} days."
    ),
    "titration_above_max_dose": N_(
        "On {step_date} the daily THC dose was {step_daily_thc_mg} mg, above the protocol's maximum of"
        " {max_daily_thc_mg} mg."
    ),
    "consultation_missed": N_("The complex consultation M{month} was due on {due} and is not recorded."),
    "follow_up_overdue": N_(
        "Case {case_number}: the follow-up requested was to be answered by {reply_by} and has not been."
    ),
    "triage_overdue": N_("Case {case_number} is overdue: triage was due {triage_due}, forwarding {forward_due}."),
}
# The findings about reactions name them in a list, and the event they follow.
TEMPORAL = N_(
    "{reactions}: began within {temporal_association_days} days of the dose increase of {increase_date}"
    " (to {increase_daily_thc_mg} mg of THC a day)."
)
TEMPORAL_START = N_(
    "{reactions}: began within {temporal_association_days} days of the treatment's start ({increase_date})."
)
DECHALLENGE = N_(
    "{reactions}: abated within {temporal_association_days} days of the dose reduction of {reduction_date}."
)
DECHALLENGE_WITHDRAWAL = N_(
    "{reactions}: abated within {temporal_association_days} days of the withdrawal ({withdrawal_date})."
)
RECHALLENGE = N_(
    "{dechallenged}: abated after {event}, then came back within {temporal_association_days} days of the"
    " re-increase of {reincrease_date}: {recurrences}."
)
REDUCTION_EVENT = N_("the dose reduction of {reduction_date}")
WITHDRAWAL_EVENT = N_("the withdrawal ({withdrawal_date})")
REACTION_ONSET = N_("{reaction} (onset {onset})")
COMPONENTS = {"thc": "THC", "cbd": "CBD"}
FILTER_FIELDS = frozenset({"kind", "patient", "since"})
RAW_DETAIL = N_("Details: {details}.")


def _flat(detail: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _shown(labels: Labels, key: str, value: Any) -> str:
    """A detail value as people read it: days and instants in words, doses with their decimals, codes as labels."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return labels.amount(value)
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        return str(value)
    if key == "compared_on":
        return COMPONENTS.get(value, value)
    if key.endswith(("_due", "due")) and "T" in value:
        return labels.moment(value)
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return labels.day(date.fromisoformat(value))
        except ValueError:
            return value
    return value


def _reactions(labels: Labels, reactions: Any) -> str:
    if not isinstance(reactions, list):
        return ""
    named = []
    for reaction in reactions:
        if not isinstance(reaction, Mapping):
            continue
        name = labels.reaction(reaction["code"]) if reaction.get("code") else str(reaction.get("text") or "")
        onset = reaction.get("onset")
        named.append(labels.say(REACTION_ONSET, reaction=name, onset=labels.day(onset)) if onset else name)
    return ", ".join(named)


def finding_sentence(labels: Labels, anomaly: AnomalyView) -> str:
    """The finding's detail said in a sentence of the reader's language; its raw fields when no sentence fits."""
    values = {key: _shown(labels, key, value) for key, value in _flat(anomaly.detail).items()}
    detail = anomaly.detail
    if anomaly.kind == "temporal_association":
        template = TEMPORAL_START if detail.get("initiation") else TEMPORAL
        values["reactions"] = _reactions(labels, detail.get("reactions"))
    elif anomaly.kind == "positive_dechallenge":
        template = DECHALLENGE if "reduction_date" in detail else DECHALLENGE_WITHDRAWAL
        values["reactions"] = _reactions(labels, detail.get("reactions"))
    elif anomaly.kind == "positive_rechallenge":
        template = RECHALLENGE
        event = REDUCTION_EVENT if "reduction_date" in detail else WITHDRAWAL_EVENT
        values["event"] = labels.say(event, **values)
        values["dechallenged"] = _reactions(labels, detail.get("dechallenged"))
        values["recurrences"] = _reactions(labels, detail.get("recurrences"))
    else:
        template = SENTENCES.get(anomaly.kind, RAW_DETAIL)
    try:
        return labels.say(template, **values)
    except (KeyError, IndexError, ValueError):
        details = "; ".join(f"{key} {value}" for key, value in values.items())
        return labels.say(RAW_DETAIL, details=details)


@dataclass(frozen=True, slots=True)
class FindingRow:
    anomaly: AnomalyView
    kind: str
    sentence: str
    cases: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Filters:
    """The filter form as sent, and the field errors it drew."""

    kinds: list[str]
    patient: str
    since: str
    errors: dict[str, str]

    def query(self, **more: str) -> str:
        pairs = [("kind", kind) for kind in self.kinds]
        pairs += [(name, value) for name, value in (("patient", self.patient), ("since", self.since)) if value]
        return urlencode(pairs + list(more.items()))


def _filters(request: Request[Any, Any, Any], labels: Labels) -> tuple[Filters, date | None]:
    params = request.query_params
    kinds = [kind for kind in params.getall("kind", []) if kind in ANOMALY_KINDS]
    patient = (params.get("patient") or "").strip()
    since_text = (params.get("since") or "").strip()
    errors: dict[str, str] = {}
    since = None
    if since_text:
        try:
            since = date.fromisoformat(since_text)
        except ValueError:
            errors["since"] = labels.say(N_("Write the date as YYYY-MM-DD, for example 2026-03-02."))
    return Filters(kinds=kinds, patient=patient, since=since_text, errors=errors), since


class AnomalyPages(Controller):
    include_in_schema = False
    dependencies: ClassVar[dict[str, Provide]] = worded_pages("pv_staff")

    @get("/anomalies")
    async def anomalies(
        self,
        request: Request[Any, Any, Any],
        viewer: SignedIn,
        context: Context,
        labels: Worded,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        filters, since = _filters(request, labels)
        rows: list[FindingRow] = []
        next_cursor = None
        if not filters.errors:
            try:
                found = await service.list_anomalies(
                    context,
                    kinds=filters.kinds,
                    patient=filters.patient or None,
                    since=since,
                    cursor=cursor or None,
                    limit=DEFAULT_LIMIT,
                )
            except Problem as problem:
                # A date outside the calendar is said beside its field; anything else is an error page.
                if problem.status_code != 400 or any(e.field not in FILTER_FIELDS for e in problem.errors):
                    raise
                fields = {error.field: labels.message(error.message) for error in problem.errors}
                filters = Filters(filters.kinds, filters.patient, filters.since, fields)
            else:
                numbers = await service.case_numbers(context, [case for a in found.items for case in a.cases])
                rows = [
                    FindingRow(
                        anomaly=a,
                        kind=labels.kind(a.kind),
                        sentence=finding_sentence(labels, a),
                        cases=[(case, numbers.get(case, str(case))) for case in a.cases],
                    )
                    for a in found.items
                ]
                next_cursor = found.next_cursor
        return web.page(
            request,
            "anomalies.html",
            viewer,
            filters=filters,
            rows=rows,
            next_cursor=next_cursor,
            paged=bool(cursor),
            kind_groups=[(labels.say(group), [(k, labels.kind(k)) for k in kinds]) for group, kinds in KIND_GROUPS],
            labels=labels,
        )
