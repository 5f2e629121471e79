"""Adverse-event intake, follow-ups and the case itself (SPEC §3, §4, §14): load the registry's facts,
decide with the rules, store the case, its version and its reactions, audit — one transaction each.

The API's controllers and the pages call the same use cases; triage builds on the case functions here.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.audit import record_audit
from pv_service.cases import repository
from pv_service.cases.schemas import (
    AcceptedReport,
    CaseAnswer,
    CaseDetail,
    CaseListItem,
    CaseNotes,
    CaseSummary,
    ReportablePatient,
    VersionDetail,
    VersionRef,
    case_list_item,
    case_summary,
    etag_of,
    follow_up_request_view,
)
from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.digests import counts
from pv_service.errors import IfMatchRequired, NotFound, RuleViolation, StaleCase, StateConflict
from pv_service.i18n import translate
from pv_service.jobs.repository import findings_for_case
from pv_service.pagination import MAX_KEY, Keyset, Page
from pv_service.registry.repository import reachable_patient_facts
from pv_service.registry.schemas import PatientFacts
from pv_service.rules.assessment import Assessment, RegistryFacts, assess, check_validity, deadlines_for
from pv_service.rules.consistency import RecordedDose
from pv_service.rules.doses import dispensed_daily_mg
from pv_service.rules.duplicates import ReactionKey, is_possible_duplicate
from pv_service.rules.field_error import FieldError
from pv_service.rules.report_body import ReportBody, ReportPatient
from pv_service.rules.report_checks import ReportedPatient, carried_codes, earliest_onset, follow_up_errors
from pv_service.rules.text import Text
from pv_service.rules.workflow import REOPENED_BY_FOLLOW_UP
from pv_service.storage.models import Case, CaseReaction, CaseVersion, IdempotencyKey
from pv_service.storage.surrogate_keys import key_new_rows
from pv_service.users.schemas import Caller

IDEMPOTENCY_TTL = timedelta(hours=24)
VERSIONS = Keyset((CaseVersion.version,))
NEWEST_CASES = Keyset((Case.id,), descending=True)


def format_case_number(year: int, number: int) -> str:
    return f"PV-{year}-{number:06d}"


def _body_hash(body: ReportBody) -> str:
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


def _registry_id(body: ReportBody) -> str | None:
    return body.patient.registry_id if body.patient and body.patient.registry_id else None


def _today(context: ServiceContext, moment: datetime) -> date:
    return moment.astimezone(context.settings.zone).date()


# --- the case, as other use cases need it ------------------------------------------------------------


def check_if_match(case: Case, if_match: str | None, *, required: bool) -> None:
    """428 when an If-Match is required and missing, 412 when it names another state of the case."""
    if if_match is None:
        if required:
            raise IfMatchRequired()
        return
    if if_match != etag_of(case):
        raise StaleCase()


async def reachable_case(session: AsyncSession, caller: Caller, case_id: int, *, lock: bool = False) -> Case:
    """The case if its patient is within the caller's reach; otherwise 404, like an unknown case (or an id no
    case can have)."""
    case = await repository.reachable_case(session, caller, case_id, lock=lock) if 0 < case_id <= MAX_KEY else None
    if case is None:
        raise NotFound("case")
    return case


async def ensure_patient_within_reach(context: ServiceContext, caller: Caller, registry_id: str) -> PatientFacts:
    """The patient, or 404 for one outside reach, answered before the body's shape is judged (SPEC §14
    precedence); intake then works with the patient found here rather than looking it up again."""
    async with context.database.lookup_connection() as connection:
        patient = await reachable_patient_facts(connection, caller, registry_id)
    if patient is None:
        raise NotFound("patient")
    return patient


async def ensure_case_precondition(
    context: ServiceContext, caller: Caller, case_id: int, if_match: str | None, *, required: bool
) -> None:
    """404 for a case outside reach, then 428 / 412, before the body is decoded; the use case checks
    again under the row lock."""
    async with context.database.read_session() as session:
        check_if_match(await reachable_case(session, caller, case_id), if_match, required=required)


async def latest_body(session: AsyncSession, case: Case) -> ReportBody:
    return msgspec.convert(await repository.latest_report(session, case), ReportBody)


class FactsAsked(NamedTuple):
    patient: PatientFacts
    body: ReportBody
    today: date


async def _registry_facts_of(
    session: AsyncSession, context: ServiceContext, asked: Sequence[FactsAsked]
) -> list[RegistryFacts]:
    """The registry's facts for each report of ``asked``, in order: two statements however many."""
    products = [context.reference.products.get(one.body.product_code or "") for one in asked]
    doses_asked = [
        repository.DosesAsked(one.patient.id, product.code if product else None, earliest_onset(one.body) or one.today)
        for one, product in zip(asked, products, strict=True)
    ]
    doses = await repository.doses_on(session, doses_asked)
    prescribed = await repository.prescribed_products(session, list({one.patient.id for one in asked}))
    facts = []
    for one, product, found in zip(asked, products, doses, strict=True):
        dispensed = None
        if product is not None and found.supply is not None:
            dispensed = RecordedDose(*dispensed_daily_mg(product.content, *found.supply))
        facts.append(
            RegistryFacts(
                patient=_reported(one.patient),
                legal_status=one.patient.legal_status,
                titration=found.titration,
                dispensed=dispensed,
                prescribed_products=prescribed[one.patient.id],
            )
        )
    return facts


async def _registry_facts(
    session: AsyncSession, context: ServiceContext, patient: PatientFacts, body: ReportBody, today: date
) -> RegistryFacts:
    return (await _registry_facts_of(session, context, [FactsAsked(patient, body, today)]))[0]


def _reported(patient: PatientFacts) -> ReportedPatient:
    return ReportedPatient(sex=patient.sex, birth_year=patient.birth_year, inclusion_date=patient.inclusion_date)


def _assessment(
    context: ServiceContext,
    body: ReportBody,
    facts: RegistryFacts,
    codes: Sequence[str | None],
    staff_criteria: Sequence[Sequence[str] | None] = (),
) -> Assessment:
    return assess(body, facts=facts, reference=context.reference, codes=codes, staff_criteria=staff_criteria)


async def _possible_duplicates(
    session: AsyncSession, patient_id: int, case_id: int, assessment: Assessment
) -> list[tuple[int, str]]:
    """Other cases of the patient that may report the same reaction: (id, case number), by id. Looked for
    in the transaction that stores the links, under the patient's row lock: writers of one patient's cases
    look one after the other, each seeing the cases, codes and links the previous one stored."""
    if not assessment.reactions:
        return []
    await repository.hold_patients(session, [patient_id])
    candidates = await repository.duplicate_candidates(session, [patient_id], case_id)
    return _duplicates_among(candidates.get(patient_id, {}), _reaction_keys(assessment))


def _reaction_keys(assessment: Assessment) -> list[ReactionKey]:
    return [ReactionKey(r.code, r.text, r.onset_date) for r in assessment.reactions]


def _duplicates_among(
    candidates: dict[tuple[int, str], list[ReactionKey]], new: list[ReactionKey]
) -> list[tuple[int, str]]:
    return sorted(other for other, keys in candidates.items() if new and is_possible_duplicate(new, keys))


def _set_product(case: Case, body: ReportBody) -> None:
    product = body.suspect_product
    case.product = product.code if product and product.code else ""
    case.daily_thc_mg = product.daily_thc_mg if product else None
    case.daily_cbd_mg = product.daily_cbd_mg if product else None


def _apply_assessment(case: Case, assessment: Assessment, received_at: datetime) -> None:
    """Set the derived fields of the case; the due dates count from the version that made it serious."""
    if assessment.serious and case.serious_since is None:
        case.serious_since = received_at
    if not assessment.serious:
        case.serious_since = None
    due = deadlines_for(assessment, case.received_at, case.serious_since)
    case.serious = assessment.serious
    case.expected = assessment.expected
    case.priority = assessment.priority
    case.criteria = list(assessment.criteria)
    case.suggested_criteria = assessment.suggested_criteria
    case.triage_due = due.triage_due
    case.forward_due = due.forward_due
    case.completeness = assessment.completeness
    case.missing = assessment.missing
    # Stored with the case, so written once, in English.
    case.warnings = [
        {"field": w.field, "code": w.code, "message": translate(w.message, "en")} for w in assessment.warnings
    ]


def _store_reactions(
    session: AsyncSession, case_id: int, existing: Sequence[CaseReaction], assessment: Assessment
) -> list[CaseReaction]:
    """Reactions keep their position; what triage added to one (causality, staff criteria) stays."""
    by_position = {row.position: row for row in existing}
    stored = []
    for index, judged in enumerate(assessment.reactions):
        row = by_position.get(index)
        if row is None:
            row = CaseReaction(case_id=case_id, position=index, staff_criteria=None)
            session.add(row)
        row.text, row.code, row.onset_date, row.end_date = judged.text, judged.code, judged.onset_date, judged.end_date
        row.outcome, row.criteria, row.expected = judged.outcome, list(judged.criteria), judged.expected
        stored.append(row)
    return stored


async def reassess(session: AsyncSession, context: ServiceContext, case: Case) -> None:
    """Recompute a case after triage changed a code or a seriousness; deadlines count from the first
    receipt. Possible duplicates are looked for again."""
    body = await latest_body(session, case)
    patient = PatientFacts.of(await repository.patient_of(session, case))
    facts = await _registry_facts(session, context, patient, body, _today(context, utc_now()))
    reactions = await repository.reactions_of(session, case.id)
    assessment = _assessment(context, body, facts, [r.code for r in reactions], [r.staff_criteria for r in reactions])
    _apply_assessment(case, assessment, case.received_at)
    _store_reactions(session, case.id, reactions, assessment)
    await _link_duplicates(session, case, assessment)


def _add_version(session: AsyncSession, case: Case, caller: Caller, body: ReportBody, received_at: datetime) -> None:
    """The case's current version, kept whole as received."""
    session.add(
        CaseVersion(
            case_id=case.id,
            version=case.version,
            received_at=received_at,
            reporter_rpps=caller.rpps,
            body=msgspec.to_builtins(body),
        )
    )


async def _link_duplicates(session: AsyncSession, case: Case, assessment: Assessment) -> None:
    found = await _possible_duplicates(session, case.patient_id, case.id, assessment)
    existing = {other for other, _ in await repository.linked_cases(session, case.id)}
    repository.add_links(session, case.id, [other for other, _ in found if other not in existing])


async def _summary(session: AsyncSession, case: Case, registry_id: str) -> CaseSummary:
    await session.flush()
    reactions = await repository.reactions_of(session, case.id)
    linked = await repository.linked_cases(session, case.id)
    return case_summary(case, registry_id, reactions, linked, utc_now())


async def case_detail(session: AsyncSession, case: Case, caller: Caller) -> CaseDetail:
    """The whole case as its reader may see it: triage fields for PV staff only."""
    patient = await repository.patient_of(session, case)
    summary = await _summary(session, case, patient.registry_id)
    versions = await repository.versions_of(session, case.id)
    staff = caller.role == "pv_staff"
    return CaseDetail(
        **msgspec.structs.asdict(summary),
        report=versions[-1].body,
        versions=[VersionRef(version=v.version, received_at=v.received_at) for v in versions],
        findings=await findings_for_case(session, case.id),
        follow_up_requests=[
            follow_up_request_view(r) for r in await repository.follow_up_requests_of(session, case.id)
        ],
        assignee=case.assignee if staff else None,
        forwarded_at=case.forwarded_at if staff else None,
        duplicate_of=case.duplicate_of if staff else None,
        nullification_reason=case.nullification_reason,
    )


# --- intake -------------------------------------------------------------------------------------------


async def _validated(
    session: AsyncSession,
    context: ServiceContext,
    caller: Caller,
    body: ReportBody,
    received_at: datetime,
    reached: PatientFacts | None = None,
) -> tuple[PatientFacts | None, list[FieldError]]:
    """The patient (404 outside reach) and the validity errors of a report, which depend on the patient's
    record alone; ``reached``, when it is the patient the body names, was found within the caller's reach
    already."""
    registry_id = _registry_id(body)
    patient = None
    if registry_id is not None:
        found = reached is not None and reached.registry_id == registry_id
        patient = reached if found else await reachable_patient_facts(await session.connection(), caller, registry_id)
        if patient is None:
            raise NotFound("patient")
    errors = check_validity(
        body,
        today=_today(context, received_at),
        patient=_reported(patient) if patient is not None else None,
        caller_role=caller.role,
        reference=context.reference,
    )
    return patient, errors


async def _replay(
    session: AsyncSession, caller: Caller, key: str, body: ReportBody, now: datetime
) -> CaseAnswer | None:
    """The stored answer for this caller's key, if it is less than a day old (older ones are replaced)."""
    stored = await repository.idempotency_record(session, caller.rpps, key)
    if stored is None or now - stored.created_at > IDEMPOTENCY_TTL:
        return None
    if stored.body_hash != _body_hash(body):
        raise RuleViolation(
            [FieldError("Idempotency-Key", "idempotency_key_reused", Text("This key was used with another report."))]
        )
    return CaseAnswer(body=stored.response, etag=stored.etag)


async def submit_report(
    context: ServiceContext,
    caller: Caller,
    body: ReportBody,
    idempotency_key: str | None,
    reached: PatientFacts | None = None,
) -> CaseAnswer:
    """A new case, or the replay of the first answer given to this caller for this key; ``reached`` is the
    patient ``ensure_patient_within_reach`` found for this request, if it ran."""
    try:
        return await _submit(context, caller, body, idempotency_key, reached)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key won the race: replay what it stored.
        async with context.database.session() as session, session.begin():
            replay = await _replay(session, caller, idempotency_key, body, utc_now())
        if replay is None:
            raise
        return replay


async def _submit(
    context: ServiceContext, caller: Caller, body: ReportBody, idempotency_key: str | None, reached: PatientFacts | None
) -> CaseAnswer:
    """Judged first, without the write lock: a replay, or the errors, which need only the patient's record
    (read once, by the 404 check, when it ran). The report then joins the next group commit, which reads the
    registry's doses and prescriptions for the whole group, assesses each report and stores it; each is
    answered once that transaction has committed."""
    received_at = utc_now()
    async with context.database.read_session() as session:
        if idempotency_key is not None:
            replay = await _replay(session, caller, idempotency_key, body, received_at)
            if replay is not None:
                return replay
        patient, errors = await _validated(session, context, caller, body, received_at, reached)
    if errors or patient is None:
        raise RuleViolation(errors)
    accepted = AcceptedReport(caller, body, idempotency_key, patient, received_at)
    return await context.report_writes.submit(accepted, lambda group: _store_reports(context, group))


async def _case_numbers(session: AsyncSession, context: ServiceContext, reports: Sequence[AcceptedReport]) -> list[str]:
    """A number for each report, in order, from its year's counter raised once for the group."""
    years = [report.received_at.astimezone(context.settings.zone).year for report in reports]
    next_of: dict[int, int] = {}
    for year, count in Counter(years).items():
        next_of[year] = await repository.take_case_numbers(session, year, count) - count + 1
    numbers = []
    for year in years:
        numbers.append(format_case_number(year, next_of[year]))
        next_of[year] += 1
    return numbers


def _new_case(report: AcceptedReport, assessment: Assessment, case_number: str, zone: ZoneInfo) -> Case:
    case = Case(
        case_number=case_number,
        patient_id=report.patient.id,
        reporter_rpps=report.caller.rpps,
        reporter_role=report.caller.role,
        received_at=report.received_at,
        received_week=counts.local_monday(report.received_at, zone),
        serious_since=None,
        updated_at=report.received_at,
        version=1,
        revision=1,
        state="received",
        special_situations=list(report.body.special_situations),
    )
    _set_product(case, report.body)
    _apply_assessment(case, assessment, report.received_at)
    return case


async def _store_reports(context: ServiceContext, reports: Sequence[AcceptedReport]) -> list[CaseAnswer]:
    """One short write transaction for a group of accepted reports, each statement covering the whole group:
    the patients held, the registry's doses and prescriptions read and each report assessed with them, their
    cases' reactions read for possible duplicates (a report also links to one stored before it in the group),
    the numbers, then the inserts. Answered from memory: nothing here needs reading back, and everything is
    built before the commit."""
    async with context.database.session() as session, session.begin():
        reacting = sorted({report.patient.id for report in reports if report.body.reactions})
        indications = await repository.hold_patients(session, sorted({report.patient.id for report in reports}))
        asked = [FactsAsked(r.patient, r.body, _today(context, r.received_at)) for r in reports]
        facts = await _registry_facts_of(session, context, asked)
        assessments = [
            _assessment(context, report.body, found, [r.code for r in report.body.reactions or []])
            for report, found in zip(reports, facts, strict=True)
        ]
        candidates = await repository.duplicate_candidates(session, reacting, None) if reacting else {}
        numbers = await _case_numbers(session, context, reports)
        cases = [
            _new_case(report, assessment, number, context.settings.zone)
            for report, assessment, number in zip(reports, assessments, numbers, strict=True)
        ]
        session.add_all(cases)
        await key_new_rows(session)
        await session.flush()
        answers, records, added = [], [], Counter[counts.Key]()
        for report, assessment, case in zip(reports, assessments, cases, strict=True):
            keys = _reaction_keys(assessment)
            earlier = candidates.setdefault(report.patient.id, {})
            duplicates = _duplicates_among(earlier, keys)
            if keys:
                earlier[(case.id, case.case_number)] = keys
            _add_version(session, case, report.caller, report.body, report.received_at)
            reactions = _store_reactions(session, case.id, [], assessment)
            added += counts.new_case(
                case.received_week, case.product, indications[case.patient_id], (r.code for r in reactions)
            )
            repository.add_links(session, case.id, [other for other, _ in duplicates])
            await record_audit(
                session,
                actor=report.caller.rpps,
                action="case.create",
                entity="case",
                entity_id=str(case.id),
                after={"case_number": case.case_number, "priority": case.priority, "serious": case.serious},
            )
            summary = case_summary(case, report.patient.registry_id, reactions, duplicates, report.received_at)
            answer = CaseAnswer(body=msgspec.json.encode(summary), etag=etag_of(case))
            answers.append(answer)
            if report.idempotency_key is not None:
                records.append(
                    IdempotencyKey(
                        user_rpps=report.caller.rpps,
                        key=report.idempotency_key,
                        body_hash=_body_hash(report.body),
                        case_id=case.id,
                        response=answer.body,
                        etag=answer.etag,
                        created_at=report.received_at,
                    )
                )
        await key_new_rows(session)
        await repository.remember_answers(session, records, min(r.received_at for r in reports) - IDEMPOTENCY_TTL)
        await counts.add(session, added)
    return answers


def _audited(case: Case) -> dict[str, object]:
    """What a follow-up's audit entry records of the case, before and after."""
    return {"version": case.version, "state": case.state, "priority": case.priority, "serious": case.serious}


def _with_patient(body: ReportBody, registry_id: str) -> ReportBody:
    patient = msgspec.structs.replace(body.patient, registry_id=registry_id) if body.patient else None
    return msgspec.structs.replace(body, patient=patient or ReportPatient(registry_id=registry_id))


async def follow_up(
    context: ServiceContext, caller: Caller, case_id: int, body: ReportBody, if_match: str | None
) -> CaseAnswer:
    received_at = utc_now()
    async with context.database.session() as session, session.begin():
        case = await reachable_case(session, caller, case_id, lock=True)
        check_if_match(case, if_match, required=False)
        if case.state == "nullified":
            raise StateConflict(Text("A nullified case takes no follow-up."))
        patient = await repository.patient_of(session, case)
        previous = await repository.reactions_of(session, case.id)
        complete_body = body if _registry_id(body) else _with_patient(body, patient.registry_id)
        # The case is within reach, so its patient is: looked up again only if the body names another.
        named, errors = await _validated(session, context, caller, complete_body, received_at, PatientFacts.of(patient))
        earlier_codes = [r.code for r in previous]
        errors = follow_up_errors(body, patient.registry_id, earlier_codes) + errors
        if errors or named is None:
            raise RuleViolation(errors)
        facts = await _registry_facts(session, context, named, complete_body, _today(context, received_at))
        assessment = _assessment(
            context,
            complete_body,
            facts,
            carried_codes(complete_body, earlier_codes),
            [r.staff_criteria for r in previous],
        )
        before = _audited(case)
        async with counts.recounting(session, [case.id]):
            case.version += 1
            case.revision += 1
            case.updated_at = received_at
            _set_product(case, complete_body)
            case.special_situations = list(complete_body.special_situations)
            if case.state in REOPENED_BY_FOLLOW_UP:
                case.state = "in_triage"
            _apply_assessment(case, assessment, received_at)
            _add_version(session, case, caller, complete_body, received_at)
            _store_reactions(session, case.id, previous, assessment)
            await _link_duplicates(session, case, assessment)
        await repository.answer_follow_up_requests(session, case.id, case.version)
        await record_audit(
            session,
            actor=caller.rpps,
            action="case.follow_up",
            entity="case",
            entity_id=str(case.id),
            before=before,
            after=_audited(case),
        )
        summary = await _summary(session, case, patient.registry_id)
        return CaseAnswer(body=msgspec.json.encode(summary), etag=etag_of(case))


# --- reading ------------------------------------------------------------------------------------------


async def get_case(context: ServiceContext, caller: Caller, case_id: int) -> tuple[CaseDetail, str]:
    async with context.database.session() as session, session.begin():
        case = await reachable_case(session, caller, case_id)
        detail = await case_detail(session, case, caller)
        await record_audit(session, actor=caller.rpps, action="case.read", entity="case", entity_id=str(case.id))
        return detail, etag_of(case)


async def list_versions(
    context: ServiceContext, caller: Caller, case_id: int, cursor: str | None, limit: int
) -> Page[VersionRef]:
    async with context.database.read_session() as session:
        case = await reachable_case(session, caller, case_id)
        rows = list(await session.execute(VERSIONS.query(repository.versions_query(case.id), cursor, limit)))
    return VERSIONS.page(
        rows,
        limit,
        key=lambda row: [row.version],
        view=lambda row: VersionRef(version=row.version, received_at=row.received_at),
    )


async def get_version(context: ServiceContext, caller: Caller, case_id: int, version: int) -> VersionDetail:
    async with context.database.session() as session, session.begin():
        case = await reachable_case(session, caller, case_id)
        row = await repository.version_of(session, case.id, version) if 0 < version <= case.version else None
        if row is None:
            raise NotFound("version")
        await record_audit(
            session, actor=caller.rpps, action="case.read_version", entity="case", entity_id=str(case.id),
            after={"version": version},
        )  # fmt: skip
        return VersionDetail(
            version=row.version, received_at=row.received_at, reporter=row.reporter_rpps, report=row.body
        )


async def list_cases(
    context: ServiceContext, caller: Caller, patient: str | None, cursor: str | None, limit: int
) -> Page[CaseListItem]:
    """The caller's own reports (PV staff: every case), newest first."""
    reporter = None if caller.role == "pv_staff" else caller.rpps
    query = NEWEST_CASES.query(repository.own_cases_query(reporter, patient), cursor, limit)
    async with context.database.read_session() as session:
        rows = list(await session.execute(query))
    return NEWEST_CASES.page(rows, limit, key=lambda row: [row[0].id], view=lambda row: case_list_item(row[0], row[1]))


# --- what the reporter's pages read besides ---------------------------------------------------------

# A reporter's patients are tens; a page lists at most this many to choose from.
REPORTABLE_PATIENTS_LISTED = 1000


async def reportable_patients(
    context: ServiceContext, caller: Caller, registry_id: str | None = None
) -> list[ReportablePatient]:
    """The patients within the caller's reach (or only ``registry_id``, if within reach), by registry id,
    with their inclusion date and the product of their latest prescription: whom a reporter chooses among
    in the reporting-aid form."""
    async with context.database.read_session() as session:
        rows = await repository.patients_with_latest_product(session, caller, registry_id, REPORTABLE_PATIENTS_LISTED)
    return [ReportablePatient(**row._asdict()) for row in rows]


async def case_notes(context: ServiceContext, caller: Caller, case_ids: Sequence[int]) -> dict[int, CaseNotes]:
    """For each of these cases within the caller's reach: what is still missing and the follow-up requests
    still open (a reporter's list of cases shows them)."""
    async with context.database.read_session() as session:
        missing = await repository.missing_fields(session, caller, case_ids)
        requests = await repository.open_follow_up_requests(session, list(missing))
    return {
        case_id: CaseNotes(missing=fields, open_requests=[follow_up_request_view(r) for r in requests.get(case_id, [])])
        for case_id, fields in missing.items()
    }


async def report_errors(context: ServiceContext, caller: Caller, body: ReportBody) -> list[FieldError]:
    """The validity errors intake finds in ``body`` (404 for a patient outside reach), storing nothing: a
    page that found shape errors itself shows these with them, at once."""
    async with context.database.read_session() as session:
        _, errors = await _validated(session, context, caller, body, utc_now())
    return errors
