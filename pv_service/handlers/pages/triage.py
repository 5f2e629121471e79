"""PV staff's pages (SPEC §15): the triage queue, and a case with its registry, findings, audit trail and the
triage actions its state allows.

The pages call the services the API calls (``triage.service.queue_page``, ``cases.service.get_case``,
``triage.service.apply_action``, ``triage.service.case_audit``) and show what they answer; this module only
reads forms and query strings into the API's own types and writes the answers in the reader's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar
from urllib.parse import urlencode

import msgspec
from babel.dates import format_skeleton
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template

from pv_service.cases import service as cases
from pv_service.cases.form_body import FormDefinition, FormField, form_definition, reaction_index
from pv_service.cases.schemas import CaseDetail
from pv_service.cases.timeline import TimelineWords, registry_timeline
from pv_service.context import ServiceContext
from pv_service.di import Context
from pv_service.errors import NotFound, Problem, decode_error_to_field_error
from pv_service.handlers.pages.anomalies import finding_sentence
from pv_service.handlers.pages.labels import MISSING, N_, Labels, labels_for
from pv_service.handlers.pages.web import SignedIn, page, see_other, signed_in
from pv_service.i18n import translate
from pv_service.pagination import DEFAULT_LIMIT, MAX_LIMIT
from pv_service.registry import service as registry
from pv_service.rules.causality import CHRONOLOGY, SEMIOLOGY, WHO_UMC
from pv_service.rules.field_error import FieldError
from pv_service.rules.priority import PRIORITIES
from pv_service.rules.seriousness import CRITERIA
from pv_service.rules.workflow import STATES, is_allowed
from pv_service.triage import service as triage
from pv_service.triage.schemas import QueueFilters, TriageAction

# --- words ----------------------------------------------------------------------------------------------

STATE_LABELS = {
    "received": N_("Received"),
    "in_triage": N_("In triage"),
    "assessed": N_("Assessed"),
    "awaiting_follow_up": N_("Awaiting follow-up"),
    "duplicate": N_("Duplicate"),
    "closed": N_("Closed"),
    "nullified": N_("Nullified"),
}
# SPEC §4: what each priority stands for.
PRIORITY_LABELS = {
    "P1": N_("fatal or life-threatening"),
    "P2": N_("serious and unexpected"),
    "P3": N_("other serious"),
    "P4": N_("non-serious, unexpected or in a patient at risk"),
    "P5": N_("other non-serious"),
}
ACTION_LABELS = {
    "start": N_("Start triage"),
    "assign": N_("Assign"),
    "code": N_("Code a reaction"),
    "set_seriousness": N_("Set the seriousness"),
    "assess": N_("Assess causality"),
    "request_follow_up": N_("Request follow-up"),
    "mark_duplicate": N_("Mark as duplicate"),
    "close": N_("Close"),
    "forward": N_("Forward"),
    "nullify": N_("Nullify"),
}
# The order the actions are offered in: the usual course of a case, then the exceptional ones.
ACTIONS = tuple(ACTION_LABELS)
AUDIT_LABELS = {
    "case.create": N_("Report received"),
    "case.follow_up": N_("Follow-up received"),
    "case.read": N_("Case read"),
    "case.read_version": N_("Version read"),
    "case.start": N_("Triage started"),
    "case.assign": N_("Assigned"),
    "case.code": N_("Reaction coded"),
    "case.set_seriousness": N_("Seriousness set"),
    "case.assess": N_("Causality assessed"),
    "case.request_follow_up": N_("Follow-up requested"),
    "case.mark_duplicate": N_("Marked as duplicate"),
    "case.close": N_("Closed"),
    "case.forward": N_("Forwarded"),
    "case.nullify": N_("Nullified"),
}
READS = ("case.read", "case.read_version")
AUDIT_FIELDS = {
    "state": N_("State"),
    "priority": N_("Priority"),
    "serious": N_("Serious"),
    "expected": N_("Expected"),
    "criteria": N_("Seriousness criteria"),
    "suggested_criteria": N_("Suggested criteria"),
    "assignee": N_("Assignee"),
    "forwarded_at": N_("Forwarded"),
    "duplicate_of": N_("Duplicate of"),
    "nullification_reason": N_("Reason for nullification"),
    "version": N_("Version"),
    "case_number": N_("Case number"),
    "reason": N_("Reason"),
    "message": N_("Message"),
    "reply_by": N_("Reply by"),
    "destination": N_("Destination"),
    "reference": N_("Reference"),
    "master": N_("Master case"),
    "code": N_("Vocabulary term"),
    "staff_criteria": N_("Criteria set by PV staff"),
    "who_umc": N_("WHO-UMC category"),
    "chronology": N_("Chronology"),
    "semiology": N_("Semiology"),
    "intrinsic_score": N_("Intrinsic score"),
}
WHO_UMC_LABELS = {
    "certain": N_("Certain"),
    "probable": N_("Probable / likely"),
    "possible": N_("Possible"),
    "unlikely": N_("Unlikely"),
    "conditional": N_("Conditional / unclassified"),
    "unassessable": N_("Unassessable / unclassifiable"),
}
# Bégaud et al., Thérapie 1985: the words of the French imputability method.
CHRONOLOGY_LABELS = {
    "C0": N_("C0 incompatible"),
    "C1": N_("C1 doubtful"),
    "C2": N_("C2 plausible"),
    "C3": N_("C3 likely"),
}
SEMIOLOGY_LABELS = {"S1": N_("S1 doubtful"), "S2": N_("S2 plausible"), "S3": N_("S3 likely")}
INTRINSIC_LABELS = {
    "I0": N_("I0 seemingly excluded"),
    "I1": N_("I1 doubtful"),
    "I2": N_("I2 plausible"),
    "I3": N_("I3 likely"),
    "I4": N_("I4 very likely"),
}
DESTINATION_LABELS = {
    "crpv": N_("CRPV (regional pharmacovigilance centre)"),
    "ansm": N_("ANSM (national agency)"),
    "ceip_a": N_("CEIP-A (addictovigilance centre)"),
}
SEX_LABELS = {"F": N_("female"), "M": N_("male"), "U": N_("not stated")}


class TriageWords:
    """The reader's words for triage: the shared ``Labels`` and this area's own."""

    def __init__(self, labels: Labels, form: FormDefinition) -> None:
        self.labels = labels
        self.form = form

    def _of(self, words: Mapping[str, str], code: str | None) -> str:
        if code is None:
            return MISSING
        return self.labels.say(words[code]) if code in words else code

    def state(self, code: str) -> str:
        return self._of(STATE_LABELS, code)

    def priority(self, code: str) -> str:
        return self._of(PRIORITY_LABELS, code)

    def action(self, code: str) -> str:
        return self._of(ACTION_LABELS, code)

    def audit_action(self, code: str) -> str:
        return self._of(AUDIT_LABELS, code)

    def who_umc(self, code: str | None) -> str:
        return self._of(WHO_UMC_LABELS, code)

    def chronology(self, code: str | None) -> str:
        return self._of(CHRONOLOGY_LABELS, code)

    def semiology(self, code: str | None) -> str:
        return self._of(SEMIOLOGY_LABELS, code)

    def intrinsic(self, code: str | None) -> str:
        return self._of(INTRINSIC_LABELS, code)

    def destination(self, code: str) -> str:
        return self._of(DESTINATION_LABELS, code)

    def sex(self, code: str) -> str:
        return self._of(SEX_LABELS, code)

    def yes_no(self, value: bool) -> str:
        return self.labels.say("Yes") if value else self.labels.say("No")

    def label(self, path: str) -> str:
        """The form's label of the field at ``path`` (``reactions[0].code`` or ``reactions[].code``)."""
        found = self.form.field_at(path)
        return found.label[self.labels.lang] if found else path

    def choice(self, path: str, value: str) -> str:
        """The form's label of ``value`` among the choices of the field at ``path``."""
        found = self.form.field_at(path)
        choice = next((c for c in found.values if c.value == value), None) if found else None
        return choice.label[self.labels.lang] if choice else value

    def criterion(self, name: str) -> str:
        return self.label(f"reactions[].seriousness.{name}")

    def criteria(self, names: Iterable[str]) -> str:
        return ", ".join(self.criterion(n) for n in names) or MISSING

    def reactions(self, codes: Iterable[str | None]) -> str:
        return ", ".join(self.labels.reaction(c) if c else self.labels.say("Uncoded") for c in codes) or MISSING

    def field(self, path: str) -> str:
        """A report field by its path with indexes (``reactions[0].onset_date``), as the form names it."""
        label = self.label(path)
        index = reaction_index(path)
        return label if index is None else self._of_reaction(index, label)

    def _of_reaction(self, index: int, label: str) -> str:
        reaction = self.labels.say("Reaction {number}", number=index + 1)
        return self.labels.say("{name}: {value}", name=reaction, value=label)

    def audit_field(self, path: str) -> str:
        label = self._of(AUDIT_FIELDS, path.rsplit(".", 1)[-1])
        index = reaction_index(path)
        return label if index is None else self._of_reaction(index, label)

    def audit_value(self, path: str, value: Any) -> str:
        name = path.rsplit(".", 1)[-1]
        if value is None or value == [] or value == "":
            return MISSING
        if isinstance(value, bool):
            return self.yes_no(value)
        if name == "state":
            return self.state(value)
        if name in ("criteria", "suggested_criteria", "staff_criteria") and isinstance(value, list):
            return self.criteria(value)
        if name == "code":
            return self.labels.reaction(value)
        if name == "who_umc":
            return self.who_umc(value)
        if name == "destination":
            return self.destination(value)
        if name == "forwarded_at":
            return self.labels.moment(value)
        if name == "reply_by":
            return self.labels.day(value)
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def words_for(viewer: SignedIn, context: Context) -> TriageWords:
    """The viewer's words, with the reporting-aid form's labels."""
    return TriageWords(labels_for(viewer, context), form_definition(context.reference.documents["form"]))


# --- the report as the form shows it --------------------------------------------------------------------------


@dataclass
class ShownField:
    label: str
    value: str | list[str]
    given: bool


@dataclass
class ShownGroup:
    title: str
    fields: list[ShownField]


@dataclass
class ShownSection:
    id: str
    title: str
    fields: list[ShownField] = field(default_factory=list)
    groups: list[ShownGroup] = field(default_factory=list)


def _at(document: Mapping[str, Any] | None, path: str) -> Any:
    value: Any = document
    for step in path.rstrip("[]").split("."):
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def _shown_value(words: TriageWords, spec: FormField, value: Any) -> str | list[str]:
    if spec.type == "boolean":
        return words.yes_no(bool(value))
    if spec.type == "enum":
        return words.choice(spec.path, str(value))
    if spec.type == "enum_list":
        return [words.choice(spec.path, str(v)) for v in value]
    if spec.type == "string_list":
        return [str(v) for v in value]
    if spec.type == "reference":
        return words.labels.product(value) if spec.reference == "products" else words.labels.reaction(value)
    if spec.type == "date":
        return words.labels.day(value)
    if spec.type == "number":
        unit = {"kg": "kg", "mg/d": words.labels.say("mg/day")}.get(spec.unit or "", "")
        return f"{words.labels.amount(value)} {unit}".strip()
    return str(value)


def _shown_fields(
    words: TriageWords, specs: Iterable[FormField], document: Mapping[str, Any] | None, strip: str = ""
) -> list[ShownField]:
    shown = []
    for spec in specs:
        value = _at(document, spec.path.removeprefix(strip))
        given = value not in (None, "", [])
        shown.append(
            ShownField(
                label=spec.label[words.labels.lang],
                value=_shown_value(words, spec, value) if given else words.labels.say("Not given"),
                given=given,
            )
        )
    return shown


def shown_report(words: TriageWords, report: Mapping[str, Any]) -> list[ShownSection]:
    """Every section of the form with the report's values, labelled; a repeatable section once per item."""
    lang = words.labels.lang
    sections = []
    for section in words.form.sections:
        shown = ShownSection(id=section.id, title=section.title[lang])
        if section.repeatable:
            for index, item in enumerate(report.get(section.id) or []):
                shown.groups.append(
                    ShownGroup(
                        title=words.labels.say("Reaction {number}", number=index + 1),
                        fields=_shown_fields(words, section.fields, item, strip=f"{section.id}[]."),
                    )
                )
        else:
            shown.fields = _shown_fields(words, section.fields, report)
        sections.append(shown)
    return sections


# --- the queue's filters, as the API names them ---------------------------------------------------------------

BOOLEAN_CHOICES = ("true", "false")


@dataclass
class QueueAsked:
    """The queue's filters as asked in the query string (SPEC §13 names), and what was wrong with them."""

    state: list[str]
    priority: list[str]
    serious: str
    assignee: str
    product: list[str]
    reaction: list[str]
    overdue: str
    cursor: str | None
    limit: int
    errors: dict[str, str]

    @property
    def filters(self) -> QueueFilters:
        return QueueFilters(
            states=self.state,  # type: ignore[arg-type]
            priorities=self.priority,  # type: ignore[arg-type]
            serious=None if not self.serious else self.serious == "true",
            assignee=self.assignee or None,
            products=self.product,
            reactions=self.reaction,
            overdue=None if not self.overdue else self.overdue == "true",
        )

    def query(self, **changes: Any) -> str:
        """This query string, with ``changes`` (a None drops a parameter)."""
        pairs: dict[str, Any] = {
            "state": self.state, "priority": self.priority, "serious": self.serious, "assignee": self.assignee,
            "product": self.product, "reaction": self.reaction, "overdue": self.overdue,
            "limit": self.limit if self.limit != DEFAULT_LIMIT else None,
        }  # fmt: skip
        pairs.update(changes)
        return urlencode({k: v for k, v in pairs.items() if v not in (None, "", [])}, doseq=True)


def _choices(
    request: Request[Any, Any, Any], name: str, allowed: Iterable[str], errors: dict[str, str], words: TriageWords
) -> list[str]:
    asked = [v for v in request.query_params.getall(name, []) if v]
    offered = set(allowed)
    if any(v not in offered for v in asked):
        errors[name] = words.labels.say("Choose among the values offered.")
    return [v for v in asked if v in offered]


def queue_asked(request: Request[Any, Any, Any], context: ServiceContext, words: TriageWords) -> QueueAsked:
    params = request.query_params
    errors: dict[str, str] = {}
    reference = context.reference

    def one_of(name: str, allowed: Iterable[str]) -> str:
        value = params.get(name) or ""
        if value and value not in allowed:
            errors[name] = words.labels.say("Choose among the values offered.")
            return ""
        return value

    assignee = params.get("assignee") or ""
    if assignee and assignee != "none" and not (len(assignee) == 11 and assignee.isdigit()):
        errors["assignee"] = words.labels.say("An RPPS number has 11 digits.")
        assignee = ""
    limit_text = params.get("limit") or ""
    limit = int(limit_text) if limit_text.isdigit() and 1 <= int(limit_text) <= MAX_LIMIT else DEFAULT_LIMIT
    if limit_text and str(limit) != limit_text:
        errors["limit"] = words.labels.say("Must be a whole number between {low} and {high}.", low=1, high=MAX_LIMIT)
    return QueueAsked(
        state=_choices(request, "state", STATES, errors, words),
        priority=_choices(request, "priority", PRIORITIES, errors, words),
        serious=one_of("serious", BOOLEAN_CHOICES),
        assignee=assignee,
        product=_choices(request, "product", reference.products, errors, words),
        reaction=_choices(request, "reaction", reference.reactions, errors, words),
        overdue=one_of("overdue", BOOLEAN_CHOICES),
        cursor=params.get("cursor") or None,
        limit=limit,
        errors=errors,
    )


# --- an action's form, as the API's action ---------------------------------------------------------------------

# The inputs of each action's form: the API's field names (SPEC §13). ``seriousness`` is the six checkboxes
# ``seriousness.<criterion>``.
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "start": (),
    "assign": ("assignee",),
    "code": ("reaction", "code"),
    "set_seriousness": ("reaction", "seriousness", "reason"),
    "assess": ("reaction", "who_umc", "chronology", "semiology"),
    "request_follow_up": ("message", "reply_by"),
    "mark_duplicate": ("master",),
    "close": ("reason",),
    "forward": ("destination", "reference"),
    "nullify": ("reason",),
}


@dataclass
class ActionFailure:
    """Why an action was refused, said beside its inputs (``fields``) or about the whole form (``general``)."""

    action: str
    typed: dict[str, Any]
    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def kept(self, action: str, name: str, default: Any) -> Any:
        """What the form shows in input ``name`` of ``action``: as typed when that action failed, else ``default``."""
        return self.typed.get(name, default) if action == self.action else default

    def summary(self) -> list[tuple[str, str]]:
        """(link target, message) for the summary at the top of the page."""
        linked = [(f"#{input_id(self.action, name)}", message) for name, message in self.fields.items()]
        return [(f"#action-{self.action}", message) for message in self.general] + linked


def input_id(action: str, name: str) -> str:
    return f"{action}-{name}".replace(".", "-")


def typed_action(form: Any) -> tuple[str, dict[str, Any]]:
    """The action asked and its inputs as typed: empty inputs are not given."""
    action = str(form.get("action") or "")
    typed: dict[str, Any] = {}
    for name in ACTION_FIELDS.get(action, ()):
        if name == "seriousness":
            typed[name] = {c: True for c in CRITERIA if form.get(f"seriousness.{c}")}
            continue
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            typed[name] = value
    return action, typed


def action_body(action: str, typed: Mapping[str, Any]) -> TriageAction:
    """The API's action from the typed inputs; numbers and dates are parsed as the API's types say, and a value
    that does not fit is a ``FieldError`` on its input (raised as a 422 ``Problem``)."""
    try:
        return msgspec.convert({"action": action, **typed}, TriageAction, strict=False)  # type: ignore[arg-type]
    except msgspec.ValidationError as error:
        raise Problem(422, errors=[decode_error_to_field_error(str(error), TriageAction)]) from None


def failure_of(action: str, typed: dict[str, Any], problem: Problem, words: TriageWords) -> ActionFailure:
    """Each error of ``problem`` beside the input it names, the others (and a refusal without any) for the form."""
    lang = words.labels.lang
    failure = ActionFailure(action=action, typed=typed)
    if problem.status_code == 409 and not problem.errors:
        # The service names the action and the state by their codes; the page says them in words.
        failure.general.append(words.labels.say("This action is not allowed in the present state of the case."))
        return failure
    inputs = ACTION_FIELDS.get(action, ())
    errors: Sequence[FieldError] = problem.errors
    for error in errors:
        name = error.field.split(".", 1)[0] if error.field.startswith("seriousness") else error.field
        if name in inputs:
            failure.fields.setdefault(name, translate(error.message, lang))
        else:
            failure.general.append(translate(error.message, lang))
    if not errors:
        failure.general.append(translate(problem.detail_text, lang))
    return failure


# --- the pages ---------------------------------------------------------------------------------------------------


def _received_day(detail: CaseDetail, context: ServiceContext) -> date:
    return detail.received_at.astimezone(context.settings.zone).date()


async def case_page(
    request: Request[Any, Any, Any],
    viewer: SignedIn,
    context: Context,
    case_id: int,
    *,
    failure: ActionFailure | None = None,
    stale: bool = False,
) -> Template:
    detail, etag = await cases.get_case(context, viewer.caller, case_id)
    words = words_for(viewer, context)
    version_text = request.query_params.get("version") or ""
    report, shown_version = detail.report, detail.version
    if version_text.isdigit() and int(version_text) != detail.version:
        asked = await cases.get_version(context, viewer.caller, case_id, int(version_text))
        report, shown_version = asked.report, asked.version
    onsets = [r.onset_date for r in detail.reactions if r.onset_date is not None]
    onset = min(onsets, default=None)
    around = await registry.records_before(
        context, viewer.caller, detail.patient, onset or _received_day(detail, context)
    )
    timeline = registry_timeline(
        since=around.since,
        until=around.until,
        onset=onset,
        titration_steps=around.titration_steps,
        prescriptions=around.prescriptions,
        dispensations=around.dispensations,
        words=TimelineWords(
            gettext=words.labels.say,
            day=words.labels.day,
            short_day=lambda day: format_skeleton("MMMd", day, locale=viewer.lang),
            number=words.labels.amount,
            product=words.labels.product,
        ),
    )
    audit_cursor = request.query_params.get("audit_cursor") or None
    audit = await triage.case_audit(context, viewer.caller, case_id, audit_cursor, MAX_LIMIT)
    all_audit = request.query_params.get("audit") == "all"
    done = request.query_params.get("done")
    return page(
        request,
        "case.html",
        viewer,
        case=detail,
        etag=etag,
        words=words,
        report_sections=shown_report(words, report),
        missing=[words.field(path) for path in detail.missing],
        shown_version=shown_version,
        onset=onset,
        around=around,
        record_ids=_record_ids(around),
        timeline=timeline,
        audit=[a for a in audit.items if all_audit or a.action not in READS],
        audit_reads_hidden=0 if all_audit else sum(a.action in READS for a in audit.items),
        audit_all=all_audit,
        audit_next=audit.next_cursor,
        actions=[a for a in ACTIONS if is_allowed(a, detail.state)],
        action_fields=ACTION_FIELDS,
        vocabulary=sorted(context.reference.reactions, key=lambda code: words.labels.reaction(code).casefold()),
        who_umc=WHO_UMC,
        chronology=CHRONOLOGY,
        semiology=SEMIOLOGY,
        destinations=tuple(DESTINATION_LABELS),
        criteria=CRITERIA,
        failure=failure,
        summary=failure.summary() if failure else [],
        input_id=input_id,
        stale=stale,
        done=done if done in ACTION_LABELS else None,
        kept=failure.kept if failure else _default,
        reaction_name=lambda r: r.text or words.labels.reaction(r.code),
        finding_sentence=lambda finding: finding_sentence(words.labels, finding),
    )


def _default(action: str, name: str, default: Any) -> Any:
    return default


def _record_ids(around: registry.RecordsAround) -> dict[str, str]:
    """The anchor of each record of the window's tables, by the name findings give it."""
    anchors = {p.id: f"record-{p.id}" for p in around.prescriptions}
    anchors |= {d.id: f"record-{d.id}" for d in around.dispensations}
    anchors |= {f"step:{s.date.isoformat()}": f"record-step-{s.date.isoformat()}" for s in around.titration_steps}
    return {name: re.sub(r"[^A-Za-z0-9_-]", "-", anchor) for name, anchor in anchors.items()}


class TriagePages(Controller):
    include_in_schema = False
    dependencies: ClassVar[dict[str, Provide]] = {"viewer": Provide(signed_in("pv_staff"))}

    @get("/queue")
    async def queue(self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context) -> Template:
        words = words_for(viewer, context)
        asked = queue_asked(request, context, words)
        queue = None
        if not asked.errors:
            queue = await triage.queue_page(context, asked.filters, asked.cursor, asked.limit, True)
        counts = queue.counts if queue is not None else None
        return page(
            request,
            "queue.html",
            viewer,
            words=words,
            asked=asked,
            queue=queue,
            counts=counts,
            total=sum(counts.state.values()) if counts else 0,
            next_url=f"/queue?{asked.query(cursor=queue.next_cursor)}" if queue and queue.next_cursor else None,
            first_url=f"/queue?{asked.query()}" if asked.cursor else None,
            states=STATES,
            priorities=PRIORITIES,
            default_limit=DEFAULT_LIMIT,
            products=sorted(context.reference.products),
            vocabulary=sorted(context.reference.reactions, key=lambda code: words.labels.reaction(code).casefold()),
        )

    @get("/cases/{case_id:int}")
    async def case(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, case_id: FromPath[int]
    ) -> Template:
        return await case_page(request, viewer, context, case_id)

    @get("/cases/{case_id:int}/actions")
    async def case_actions_read(self, request: Request[Any, Any, Any], case_id: FromPath[int]) -> Redirect:
        """A page answered to an action's form has this address: reloading it or switching language reads the case."""
        query = f"?{request.url.query}" if request.url.query else ""
        return see_other(f"/cases/{case_id}{query}")

    @post("/cases/{case_id:int}/actions")
    async def case_action(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, case_id: FromPath[int]
    ) -> Template | Redirect:
        form = await request.form()
        action, typed = typed_action(form)
        if_match = str(form.get("if_match") or "") or None
        try:
            # SPEC §14's order, as the API answers: an unknown case, then a stale ETag, then the inputs.
            await cases.ensure_case_precondition(context, viewer.caller, case_id, if_match, required=True)
            body = action_body(action, typed)
            await triage.apply_action(context, viewer.caller, case_id, body, if_match)
        except NotFound:
            raise
        except Problem as problem:
            if problem.status_code == 412:
                return await case_page(request, viewer, context, case_id, stale=True)
            failure = failure_of(action, typed, problem, words_for(viewer, context))
            return await case_page(request, viewer, context, case_id, failure=failure)
        return see_other(f"/cases/{case_id}?done={action}")
