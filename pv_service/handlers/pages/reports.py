"""The reporter's pages (SPEC §10, §15): their cases, the reporting-aid form and its confirmation, one case
with its follow-up form.

The form posts to the service's own intake and follow-up use cases, the ones the API calls, with the
signed-in caller, so every rule of §3 and §14 holds; this module only turns inputs into a body
(``cases.form_body``), errors into messages beside their inputs, and answers into pages.

Double submission: the new-report form carries an idempotency key made when it is first shown and kept
while it is corrected; a form sent twice replays the first answer (the same case, never a second). The
follow-up form carries the case's ETag, so a follow-up sent twice meets a case that changed since and is
told so.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec
from babel.numbers import format_percent
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from pv_service.cases import service
from pv_service.cases.form_body import (
    MAX_REACTIONS,
    FormDefinition,
    FormField,
    FormSection,
    FormValues,
    anchor_of,
    body_from_fields,
    fields_from_body,
    form_definition,
    input_id,
    reaction_count,
    reaction_index,
)
from pv_service.cases.schemas import CaseDetail, CaseSummary, ReportablePatient
from pv_service.context import ServiceContext
from pv_service.di import Context
from pv_service.errors import NotFound, RuleViolation, StaleCase
from pv_service.handlers.pages.labels import Labels as Words
from pv_service.handlers.pages.triage import STATE_LABELS
from pv_service.handlers.pages.web import SignedIn, Viewer, page, signed_in
from pv_service.i18n import translate
from pv_service.rules.field_error import FieldError
from pv_service.rules.report_body import ReportBody

CASES_PER_PAGE = 50
PATIENT = "patient.registry_id"
ADD_REACTION = "add_reaction"
IDEMPOTENCY_FIELD = "idempotency_key"
IF_MATCH_FIELD = "if_match"
# A key this form made (``secrets.token_urlsafe(24)``); anything else sent in its place is not used.
_FORM_KEY = re.compile(r"^[A-Za-z0-9_-]{32}$")
ALREADY_SENT = (
    "This form had already been sent and created a case; what you changed since was not sent. "
    "Check the report below and send it again to file it as a new report."
)


# --- what the templates show --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class OptionGroup:
    label: str
    options: list[Option]


@dataclass(frozen=True, slots=True)
class InputView:
    """One input of the form with its label, help, the values it holds and its error, if any."""

    id: str
    name: str
    widget: str
    label: str
    help: str = ""
    # "required", "recommended", "one_of" (with the labels of the group) or "".
    marker: str = ""
    one_of: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    groups: list[OptionGroup] = field(default_factory=list)
    blank: str = ""
    error: str = ""
    autofocus: bool = False

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


@dataclass(frozen=True, slots=True)
class ReactionBlock:
    number: int
    id: str
    inputs: list[InputView]
    criteria: list[InputView]


@dataclass(frozen=True, slots=True)
class SectionView:
    id: str
    title: str
    help: str
    inputs: list[InputView]
    blocks: list[ReactionBlock]


@dataclass(frozen=True, slots=True)
class ErrorLink:
    """An entry of the error summary: the input it links to (``href`` empty when none), what and why."""

    href: str
    label: str
    message: str


@dataclass(frozen=True, slots=True)
class FormView:
    action: str
    title: str
    intro: str
    sections: list[SectionView]
    errors: list[ErrorLink]
    hidden: list[tuple[str, str]]
    can_add_reaction: bool
    has_patients: bool


@dataclass(frozen=True, slots=True)
class ReactionRow:
    """A reaction of the case as the reporter's case page lists it."""

    text: str
    term: str
    onset: str
    outcome: str
    criteria: list[str]


# --- labels ---------------------------------------------------------------------------------------------


class FormLabels:
    """The words of the reporting-aid form in one language, over the pages' shared words for reference data
    (``words``): a code or a body path is never shown raw."""

    def __init__(self, definition: FormDefinition, words: Words) -> None:
        self.definition = definition
        self.words = words
        self.lang = words.lang

    def text(self, localised: dict[str, str]) -> str:
        return localised.get(self.lang) or localised.get("en", "")

    def of_path(self, path: str) -> str:
        """A body path as a reporter reads it: the field's label, with the reaction's number."""
        known = self.definition.field_at(path)
        section = self.definition.section_at(path)
        label = self.text(known.label) if known else self.text(section.title) if section else ""
        index = reaction_index(path)
        if index is None:
            return label
        reaction = self.words.say("Reaction {number}", number=index + 1)
        return f"{label} ({reaction})" if known else reaction

    def choice(self, path: str, value: str | None) -> str:
        """The label of an allowed value of the field at ``path`` (``outcome`` ``recovering``)."""
        known = self.definition.field_at(path)
        for choice in known.values if known else []:
            if choice.value == value:
                return self.text(choice.label)
        return value or ""

    def criterion(self, name: str) -> str:
        """A seriousness criterion (``hospitalisation``) by the label of its checkbox."""
        known = self.definition.field_at(f"reactions[].seriousness.{name}")
        return self.text(known.label) if known else name

    def patient(self, patient: ReportablePatient) -> str:
        """A patient to choose: registry id, inclusion date, product of the latest prescription, indication."""
        words = self.words
        parts = [
            patient.registry_id,
            words.say("included {date}", date=words.day(patient.inclusion_date)),
            words.product(patient.product) if patient.product else words.say("no prescription"),
            words.indication(patient.indication),
        ]
        if patient.withdrawn_on is not None:
            parts.append(words.say("withdrawn {date}", date=words.day(patient.withdrawn_on)))
        return " · ".join(parts)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.lang)


# --- building the form ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormState:
    """What the form holds now: the values, the reaction blocks shown, the errors and the input to focus."""

    values: FormValues
    reactions: int
    errors: Sequence[FieldError] = ()
    focus: str = ""


@dataclass(frozen=True, slots=True)
class Choosable:
    """Whom the patient input offers: the reporter's patients, or a follow-up's one patient."""

    patients: Sequence[ReportablePatient]
    only_one: bool = False


def _marker(form_field: FormField) -> str:
    if form_field.requirement == "required_one_of":
        return "one_of"
    return form_field.requirement if form_field.requirement in ("required", "recommended") else ""


class _FormBuilder:
    """The form's inputs in one language, holding the values sent and each error beside its input."""

    def __init__(
        self, labels: FormLabels, state: FormState, beside: dict[str, list[str]], choosable: Choosable
    ) -> None:
        self.labels, self.state, self.beside, self.choosable = labels, state, beside, choosable

    def section(self, section: FormSection) -> SectionView:
        title, help_text = self.labels.text(section.title), self.labels.text(section.help)
        if not section.repeatable:
            return SectionView(section.id, title, help_text, [self.input(section, f) for f in section.fields], [])
        blocks = []
        for index in range(self.state.reactions):
            inputs = [self.input(section, f, index) for f in section.fields]
            blocks.append(
                ReactionBlock(
                    number=index + 1,
                    id=f"reaction-{index + 1}",
                    inputs=[i for i in inputs if ".seriousness." not in i.name],
                    criteria=[i for i in inputs if ".seriousness." in i.name],
                )
            )
        return SectionView(section.id, title, help_text, [], blocks)

    def input(self, section: FormSection, form_field: FormField, index: int = 0) -> InputView:
        name = form_field.input_name(index)
        # The patient is chosen among the reporter's own, not typed.
        widget = "choice" if form_field.path == PATIENT else form_field.widget
        options: list[Option] = []
        groups: list[OptionGroup] = []
        blank = ""
        if widget in ("choice", "choices"):
            options, groups, blank = self.choices(form_field)
        one_of = [
            self.labels.text(other.label)
            for other in section.fields
            if form_field.requirement == "required_one_of" and other.group == form_field.group and other != form_field
        ]
        return InputView(
            id=input_id(name),
            name=name,
            widget=widget,
            label=self.labels.text(form_field.label),
            help=self.labels.text(form_field.help),
            marker=_marker(form_field),
            one_of=one_of,
            values=list(self.state.values.get(name, ())),
            options=options,
            groups=groups,
            blank=blank,
            error=" ".join(self.beside.get(name, [])),
            autofocus=name == self.state.focus,
        )

    def choices(self, form_field: FormField) -> tuple[list[Option], list[OptionGroup], str]:
        """The options of a choice input, grouped or not, and the label of its empty choice ("" for none)."""
        labels, words = self.labels, self.labels.words
        if form_field.path == PATIENT:
            options = [Option(p.registry_id, labels.patient(p)) for p in self.choosable.patients]
            return options, [], "" if self.choosable.only_one else words.say("Choose a patient")
        if form_field.reference == "products":
            options = [Option(code, words.product(code)) for code in words.reference.products]
            return options, [], words.say("Choose a product")
        if form_field.reference == "reactions":
            # The vocabulary by system organ class, as MedDRA presents it.
            by_soc: dict[str, list[Option]] = {}
            for term in words.reference.reactions.values():
                by_soc.setdefault(term.soc, []).append(Option(term.code, words.reaction(term.code)))
            groups = [OptionGroup(words.say(soc), _alphabetical(terms)) for soc, terms in by_soc.items()]
            return [], sorted(groups, key=lambda g: _collation_key(g.label)), words.say("Not given")
        if form_field.type == "boolean":
            return [Option("true", words.say("Yes")), Option("false", words.say("No"))], [], words.say("Not given")
        return [Option(c.value, labels.text(c.label)) for c in form_field.values], [], words.say("Not given")


def _collation_key(label: str) -> str:
    """Alphabetical order as a reader expects it: accents and case do not count (é sorts with e)."""
    return unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().casefold()


def _alphabetical(options: list[Option]) -> list[Option]:
    return sorted(options, key=lambda option: _collation_key(option.label))


def _placed_errors(
    labels: FormLabels, names: list[str], errors: Sequence[FieldError]
) -> tuple[dict[str, list[str]], list[ErrorLink]]:
    """Each error beside the input it concerns, and every error in the summary with a link to that input."""
    beside: dict[str, list[str]] = {}
    summary = []
    for error in errors:
        message = translate(error.message, labels.lang)
        anchor = anchor_of(error.field, names)
        if anchor is not None:
            beside.setdefault(anchor, []).append(message)
        summary.append(ErrorLink(f"#{input_id(anchor)}" if anchor else "", labels.of_path(error.field), message))
    return beside, summary


def build_form(
    labels: FormLabels,
    *,
    action: str,
    state: FormState,
    choosable: Choosable,
    hidden: list[tuple[str, str]],
    notices: Sequence[str] = (),
) -> FormView:
    """The reporting-aid form as a page shows it: its sections in the definition's order, each input with
    what it holds and its error, the summary of errors (notices first) at the top."""
    definition = labels.definition
    beside, summary = _placed_errors(labels, definition.input_names(state.reactions), state.errors)
    builder = _FormBuilder(labels, state, beside, choosable)
    return FormView(
        action=action,
        title=labels.text(definition.title),
        intro=labels.text(definition.intro),
        sections=[builder.section(section) for section in definition.sections],
        errors=[ErrorLink("", "", notice) for notice in notices] + summary,
        hidden=hidden,
        can_add_reaction=state.reactions < MAX_REACTIONS,
        has_patients=bool(choosable.patients),
    )


def _sent(form: Any) -> dict[str, list[str]]:
    return {name: [str(v) for v in form.getall(name)] for name in form.keys()}  # noqa: SIM118 (a multi-dict)


def _related(one: str, other: str) -> bool:
    """Whether two paths are the same field or one lies inside the other."""
    return any(a == b or a.startswith((b + ".", b + "[")) for a, b in ((one, other), (other, one)))


def _without_overlap(shape: Sequence[FieldError], rules: Iterable[FieldError]) -> list[FieldError]:
    """The rules' errors about fields the shape errors do not already concern (a value dropped for its
    type would otherwise also be reported missing)."""
    return [e for e in rules if not any(_related(e.field, s.field) for s in shape)]


@dataclass(frozen=True, slots=True)
class Checked:
    """A form read and judged: the body, and the errors to show (empty when the service may take it)."""

    body: ReportBody
    errors: list[FieldError]


async def _checked(context: ServiceContext, viewer: Viewer, values: FormValues) -> Checked:
    """The body a form holds; with shape errors, the rules' errors too, so the reporter sees all at once."""
    converted = body_from_fields(form_definition(context.reference.documents["form"]), values)
    if not converted.errors:
        return Checked(converted.body, [])
    try:
        rules = await service.report_errors(context, viewer.caller, converted.body)
    except NotFound as unknown:
        rules = [_patient_not_found(unknown)]
    return Checked(converted.body, converted.errors + _without_overlap(converted.errors, rules))


def _patient_not_found(problem: NotFound) -> FieldError:
    # Said on the input, never naming the patient asked for: out of reach and unknown read alike.
    return FieldError(PATIENT, "not_found", problem.detail_text)


def _confirmation(
    request: Request[Any, Any, Any], viewer: Viewer, context: ServiceContext, answer: CaseSummary, *, follow_up: bool
) -> Template:
    labels = _labels(context, viewer)
    return page(
        request,
        "report_confirmation.html",
        viewer,
        case=answer,
        follow_up=follow_up,
        missing=[labels.of_path(path) for path in answer.missing],
        warnings=[(labels.of_path(w.field), translate(w.message, viewer.lang)) for w in answer.warnings],
        completeness=labels.percent(answer.completeness),
    )


# --- the controller ---------------------------------------------------------------------------------------


class ReportPages(Controller):
    include_in_schema = False
    dependencies: ClassVar[dict[str, Provide]] = {"viewer": Provide(signed_in("prescriber", "pharmacist"))}

    @get("/reports")
    async def my_reports(self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context) -> Template:
        cursor = request.query_params.get("cursor") or None
        cases = await service.list_cases(context, viewer.caller, None, cursor, CASES_PER_PAGE)
        notes = await service.case_notes(context, viewer.caller, [item.id for item in cases.items])
        labels = _labels(context, viewer)
        return page(
            request,
            "reports.html",
            viewer,
            cases=cases.items,
            notes=notes,
            missing={case_id: [labels.of_path(p) for p in note.missing] for case_id, note in notes.items()},
            next_cursor=cases.next_cursor,
            first_page=cursor is None,
            products={item.product: labels.words.product(item.product) for item in cases.items},
            words=labels.words,
            states=_states(labels.words),
        )

    @get("/reports/new")
    async def new_report(self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context) -> Template:
        return await self._new_form(request, viewer, context, FormState({}, 1), secrets.token_urlsafe(24))

    @post("/reports/new")
    async def submit_report(self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context) -> Template:
        values = _sent(await request.form())
        sent_key = values.get(IDEMPOTENCY_FIELD, [""])[0]
        key = sent_key if _FORM_KEY.match(sent_key) else secrets.token_urlsafe(24)
        reactions = reaction_count(values)
        if ADD_REACTION in values:
            return await self._new_form(request, viewer, context, _one_more(values, reactions), key)
        checked = await _checked(context, viewer, values)
        if not checked.errors:
            try:
                answer = await service.submit_report(context, viewer.caller, checked.body, key)
            except RuleViolation as violation:
                checked = Checked(checked.body, violation.errors)
            except NotFound as unknown:
                checked = Checked(checked.body, [_patient_not_found(unknown)])
            else:
                summary = msgspec.json.decode(answer.body, type=CaseSummary)
                return _confirmation(request, viewer, context, summary, follow_up=False)
        notices: list[str] = []
        errors = checked.errors
        if any(e.code == "idempotency_key_reused" for e in errors):
            # The first sending of this form made a case; what is sent now is another report.
            key = secrets.token_urlsafe(24)
            notices.append(translate(ALREADY_SENT, viewer.lang))
            errors = [e for e in errors if e.code != "idempotency_key_reused"]
        return await self._new_form(request, viewer, context, FormState(values, reactions, errors), key, notices)

    @get("/reports/{case_id:int}")
    async def case(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, case_id: FromPath[int]
    ) -> Template:
        detail, etag = await service.get_case(context, viewer.caller, case_id)
        return await self._case_page(request, viewer, context, detail, etag, _last_version(context, detail))

    @post("/reports/{case_id:int}/follow-up")
    async def follow_up(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, case_id: FromPath[int]
    ) -> Template:
        values = _sent(await request.form())
        if_match = values.get(IF_MATCH_FIELD, [""])[0] or None
        reactions = reaction_count(values)
        if ADD_REACTION in values:
            detail, _ = await service.get_case(context, viewer.caller, case_id)
            return await self._case_page(request, viewer, context, detail, if_match or "", _one_more(values, reactions))
        checked = await _checked(context, viewer, values)
        if not checked.errors:
            try:
                answer = await service.follow_up(context, viewer.caller, case_id, checked.body, if_match)
            except StaleCase:
                detail, etag = await service.get_case(context, viewer.caller, case_id)
                fresh = _last_version(context, detail)
                return await self._case_page(request, viewer, context, detail, etag, fresh, stale=True)
            except RuleViolation as violation:
                checked = Checked(checked.body, violation.errors)
            else:
                summary = msgspec.json.decode(answer.body, type=CaseSummary)
                return _confirmation(request, viewer, context, summary, follow_up=True)
        detail, _ = await service.get_case(context, viewer.caller, case_id)
        state = FormState(values, reactions, checked.errors)
        return await self._case_page(request, viewer, context, detail, if_match or "", state)

    async def _new_form(
        self,
        request: Request[Any, Any, Any],
        viewer: Viewer,
        context: ServiceContext,
        state: FormState,
        key: str,
        notices: Sequence[str] = (),
    ) -> Template:
        labels = _labels(context, viewer)
        form = build_form(
            labels, action="/reports/new", state=state, hidden=[(IDEMPOTENCY_FIELD, key)], notices=notices,
            choosable=Choosable(await service.reportable_patients(context, viewer.caller)),
        )  # fmt: skip
        heading = translate("New report", viewer.lang)
        return page(request, "report_form.html", viewer, form=form, heading=heading, level=2)

    async def _case_page(
        self,
        request: Request[Any, Any, Any],
        viewer: Viewer,
        context: ServiceContext,
        detail: CaseDetail,
        etag: str,
        state: FormState,
        *,
        stale: bool = False,
    ) -> Template:
        labels = _labels(context, viewer)
        words = labels.words
        # A follow-up is about the case's own patient: the only one to choose.
        patients = await service.reportable_patients(context, viewer.caller, detail.patient)
        form = build_form(
            labels, action=f"/reports/{detail.id}/follow-up", state=state, hidden=[(IF_MATCH_FIELD, etag)],
            choosable=Choosable(patients, only_one=True),
        )  # fmt: skip
        return page(
            request,
            "report.html",
            viewer,
            form=form,
            heading=words.say("Case {case_number}", case_number=detail.case_number),
            level=3,
            case=detail,
            stale=stale,
            missing=[labels.of_path(path) for path in detail.missing],
            warnings=[(labels.of_path(w.field), translate(w.message, viewer.lang)) for w in detail.warnings],
            reactions=[
                ReactionRow(
                    text=r.text or "",
                    term=words.reaction(r.code) if r.code else "",
                    onset=words.day(r.onset_date) if r.onset_date else "",
                    outcome=labels.choice("reactions[].outcome", r.outcome),
                    criteria=[labels.criterion(c) for c in r.criteria],
                )
                for r in detail.reactions
            ],
            product=words.product(detail.product),
            completeness=labels.percent(detail.completeness),
            words=words,
            states=_states(words),
        )


def _states(words: Words) -> dict[str, str]:
    return {state: words.say(label) for state, label in STATE_LABELS.items()}


def _labels(context: ServiceContext, viewer: Viewer) -> FormLabels:
    words = Words(reference=context.reference, lang=viewer.lang, zone=context.settings.zone)
    return FormLabels(form_definition(context.reference.documents["form"]), words)


def _one_more(values: FormValues, reactions: int) -> FormState:
    """The form as sent, with one more reaction block (within the limit), its first input focused."""
    return FormState(values, min(reactions + 1, MAX_REACTIONS), focus=f"reactions[{reactions}].text")


def _last_version(context: ServiceContext, detail: CaseDetail) -> FormState:
    """The form filled with the case's last version. The profession is left to the account of whoever sends
    the follow-up, who may not be the first reporter (a pharmacist completing a physician's report)."""
    last = msgspec.structs.replace(msgspec.convert(detail.report, ReportBody), reporter=None)
    values = fields_from_body(form_definition(context.reference.documents["form"]), last)
    return FormState(values, reaction_count(values))
