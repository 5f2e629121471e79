"""Adverse-event intake and follow-ups (SPEC §3, §4, §14): load the registry's facts, decide with the
rules, store the case, its version and its reactions, audit, all in one transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.audit import record_audit
from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.errors import Problem, conflict, not_found, rule_violation
from pv_service.jobs.anomalies import findings_for_case
from pv_service.pagination import Page, decode_cursor, encode_cursor
from pv_service.registry.reach import patients_within_reach
from pv_service.reports import views
from pv_service.reports.assessment import (
    Assessment,
    ReactionAssessment,
    RegistryFacts,
    assess,
    check_validity,
    deadlines_for,
    vocabulary,
)
from pv_service.reports.body import ReportBody, ReportPatient
from pv_service.reports.numbers import next_case_number
from pv_service.rules.causality import BEGAUD_1985
from pv_service.rules.consistency import RecordedDose
from pv_service.rules.doses import ProductContent, dispensed_daily_mg
from pv_service.rules.duplicates import ReactionKey, is_possible_duplicate
from pv_service.rules.field_error import FieldError
from pv_service.rules.report_checks import ReportedPatient, earliest_onset
from pv_service.rules.workflow import REOPENED_BY_FOLLOW_UP
from pv_service.storage.models import (
    Case,
    CaseLink,
    CaseReaction,
    CaseVersion,
    Dispensation,
    FollowUpRequest,
    IdempotencyKey,
    Patient,
    Prescription,
    TitrationStep,
)
from pv_service.users import Caller

IDEMPOTENCY_TTL = timedelta(hours=24)
DUPLICATE_WINDOW = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class CaseAnswer:
    """An encoded case and its ETag, as stored for idempotent replays."""

    body: bytes
    etag: str


def etag_of(case: Case) -> str:
    return f'"{case.id}.{case.revision}"'


def check_if_match(case: Case, if_match: str | None, *, required: bool) -> None:
    """428 when an If-Match is required and missing, 412 when it names another state of the case."""
    if if_match is None:
        if required:
            raise Problem(428, "Send the case's ETag in If-Match.")
        return
    if if_match != etag_of(case):
        raise Problem(412, "The case has changed since you read it; read it again.")


def is_overdue(case: Case, now: datetime) -> bool:
    return (case.forwarded_at is None and now > case.forward_due) or (
        case.state == "received" and now > case.triage_due
    )


def _body_hash(body: ReportBody) -> str:
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


# --- loading ------------------------------------------------------------------------------------------


async def reachable_patient_by_registry_id(session: AsyncSession, caller: Caller, registry_id: str) -> Patient | None:
    return await session.scalar(
        select(Patient).where(Patient.registry_id == registry_id, patients_within_reach(caller))
    )


async def reachable_case(session: AsyncSession, caller: Caller, case_id: int, *, lock: bool = False) -> Case:
    """The case if its patient is within the caller's reach; otherwise 404, like an unknown case.
    ``lock`` holds the row until the transaction ends (PostgreSQL; SQLite's writer lock already does)."""
    query = (
        select(Case)
        .join(Patient, Patient.id == Case.patient_id)
        .where(Case.id == case_id, patients_within_reach(caller))
    )
    case = await session.scalar(query.with_for_update(of=Case) if lock else query)
    if case is None:
        raise not_found("case")
    return case


async def _registry_facts(
    session: AsyncSession, context: ServiceContext, patient: Patient, body: ReportBody, today: date
) -> RegistryFacts:
    onset = earliest_onset(body) or today
    step = (
        await session.execute(
            select(TitrationStep.daily_thc_mg, TitrationStep.daily_cbd_mg)
            .where(TitrationStep.patient_id == patient.id, TitrationStep.date <= onset)
            .order_by(TitrationStep.date.desc())
            .limit(1)
        )
    ).first()
    code = body.suspect_product.code if body.suspect_product else None
    product = context.reference.products.get(code) if code else None
    dispensed = None
    if product is not None:
        supply = (
            await session.execute(
                select(Dispensation.quantity, Dispensation.days_supply)
                .join(Prescription, Prescription.id == Dispensation.prescription_id)
                .where(Dispensation.patient_id == patient.id, Prescription.product == code, Dispensation.date <= onset)
                .order_by(Dispensation.date.desc())
                .limit(1)
            )
        ).first()
        if supply is not None:
            content = ProductContent(product.form, product.thc, product.cbd)
            dispensed = RecordedDose(*dispensed_daily_mg(content, supply.quantity, supply.days_supply))
    prescribed = await session.scalars(
        select(Prescription.product).where(Prescription.patient_id == patient.id).distinct()
    )
    return RegistryFacts(
        patient=ReportedPatient(sex=patient.sex, birth_year=patient.birth_year, inclusion_date=patient.inclusion_date),
        legal_status=patient.legal_status,
        titration=RecordedDose(step.daily_thc_mg, step.daily_cbd_mg) if step else None,
        dispensed=dispensed,
        prescribed_products=frozenset(prescribed),
    )


async def _possible_duplicates(
    session: AsyncSession, patient_id: int, case_id: int | None, assessment: Assessment
) -> list[tuple[int, str]]:
    """Other cases of the patient that may report the same reaction: (id, case number), by id."""
    onsets = [r.onset_date for r in assessment.reactions if r.onset_date is not None]
    if not onsets:
        return []
    rows = await session.execute(
        select(CaseReaction.case_id, Case.case_number, CaseReaction.code, CaseReaction.text, CaseReaction.onset_date)
        .join(Case, Case.id == CaseReaction.case_id)
        .where(
            Case.patient_id == patient_id,
            Case.id != (case_id or 0),
            Case.state != "nullified",
            CaseReaction.onset_date.between(min(onsets) - DUPLICATE_WINDOW, max(onsets) + DUPLICATE_WINDOW),
        )
    )
    by_case: dict[tuple[int, str], list[ReactionKey]] = {}
    for other_id, number, code, text, onset in rows:
        by_case.setdefault((other_id, number), []).append(ReactionKey(code, text, onset))
    new = [ReactionKey(r.code, r.text, r.onset_date) for r in assessment.reactions]
    return sorted(other for other, keys in by_case.items() if is_possible_duplicate(new, keys))


# --- storing ------------------------------------------------------------------------------------------


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
    case.warnings = [{"field": w.field, "code": w.code, "message": w.message} for w in assessment.warnings]


def _reaction_fields(judged: ReactionAssessment) -> dict[str, Any]:
    return {
        "text": judged.text,
        "code": judged.code,
        "onset_date": judged.onset_date,
        "end_date": judged.end_date,
        "outcome": judged.outcome,
        "criteria": list(judged.criteria),
        "expected": judged.expected,
    }


async def _store_reactions(session: AsyncSession, case_id: int, assessment: Assessment) -> None:
    """Reactions keep their position; what triage added to one (causality, staff criteria) stays."""
    existing = {
        row.position: row for row in await session.scalars(select(CaseReaction).where(CaseReaction.case_id == case_id))
    }
    for index, judged in enumerate(assessment.reactions):
        fields = _reaction_fields(judged)
        row = existing.get(index)
        if row is None:
            session.add(CaseReaction(case_id=case_id, position=index, staff_criteria=None, **fields))
        else:
            for name, value in fields.items():
                setattr(row, name, value)


async def current_reactions(session: AsyncSession, case_id: int) -> list[CaseReaction]:
    query = select(CaseReaction).where(CaseReaction.case_id == case_id).order_by(CaseReaction.position)
    return list(await session.scalars(query))


async def latest_body(session: AsyncSession, case: Case) -> ReportBody:
    stored = await session.scalar(
        select(CaseVersion.body).where(CaseVersion.case_id == case.id, CaseVersion.version == case.version)
    )
    return msgspec.convert(stored, ReportBody)


async def reassess(session: AsyncSession, context: ServiceContext, case: Case) -> None:
    """Recompute a case after triage changed a code or a seriousness; deadlines count from the first receipt."""
    body = await latest_body(session, case)
    patient = await session.get(Patient, case.patient_id)
    assert patient is not None
    today = utc_now().astimezone(context.settings.zone).date()
    facts = await _registry_facts(session, context, patient, body, today)
    reactions = await current_reactions(session, case.id)
    assessment = assess(
        body,
        facts=facts,
        reference=context.reference,
        terms=vocabulary(context.reference),
        codes=[r.code for r in reactions],
        staff_criteria=[r.staff_criteria for r in reactions],
    )
    _apply_assessment(case, assessment, case.received_at)
    await _store_reactions(session, case.id, assessment)


async def _link_duplicates(session: AsyncSession, case: Case, assessment: Assessment) -> None:
    existing = set(await session.scalars(select(CaseLink.other_case_id).where(CaseLink.case_id == case.id)))
    found = await _possible_duplicates(session, case.patient_id, case.id, assessment)
    _add_links(session, case.id, [other for other, _ in found if other not in existing])


def _add_links(session: AsyncSession, case_id: int, others: Sequence[int]) -> None:
    for other in others:
        if other != case_id:
            session.add_all(
                [CaseLink(case_id=case_id, other_case_id=other), CaseLink(case_id=other, other_case_id=case_id)]
            )


# --- views --------------------------------------------------------------------------------------------


def reaction_view(row: CaseReaction) -> views.CaseReactionView:
    causality = None
    if row.who_umc is not None or row.chronology is not None:
        causality = views.Causality(
            method=BEGAUD_1985 if row.chronology is not None else "who_umc",
            who_umc=row.who_umc,
            chronology=row.chronology,
            semiology=row.semiology,
            intrinsic_score=row.intrinsic_score,
        )
    return views.CaseReactionView(
        text=row.text,
        code=row.code,
        onset_date=row.onset_date,
        outcome=row.outcome,
        criteria=row.criteria,
        expected=row.expected,
        causality=causality,
    )


async def _summary_fields(session: AsyncSession, case: Case, registry_id: str) -> dict[str, Any]:
    reactions = await current_reactions(session, case.id)
    linked = await session.execute(
        select(Case.id, Case.case_number)
        .join(CaseLink, CaseLink.other_case_id == Case.id)
        .where(CaseLink.case_id == case.id)
        .order_by(Case.id)
    )
    return _fields_of(case, registry_id, reactions, [(other_id, number) for other_id, number in linked])


def _fields_of(
    case: Case, registry_id: str, reactions: Sequence[CaseReaction], linked: Sequence[tuple[int, str]]
) -> dict[str, Any]:
    return {
        "id": case.id,
        "case_number": case.case_number,
        "version": case.version,
        "state": case.state,
        "patient": registry_id,
        "product": case.product,
        "received_at": case.received_at,
        "serious": case.serious,
        "seriousness": views.SeriousnessView(case=case.criteria, reactions=[r.criteria for r in reactions]),
        "suggested_criteria": case.suggested_criteria,
        "expected": case.expected,
        "priority": case.priority,
        "triage_due": case.triage_due,
        "forward_due": case.forward_due,
        "overdue": is_overdue(case, utc_now()),
        "completeness": case.completeness,
        "missing": case.missing,
        "warnings": [views.CaseWarning(**w) for w in case.warnings],
        "possible_duplicates": [views.CaseRef(id=i, case_number=n) for i, n in linked],
        "special_situations": case.special_situations,
        "reactions": [reaction_view(r) for r in reactions],
    }


async def _summary(session: AsyncSession, case: Case, registry_id: str) -> CaseAnswer:
    await session.flush()
    return _answer(case, await _summary_fields(session, case, registry_id))


def _answer(case: Case, fields: dict[str, Any]) -> CaseAnswer:
    return CaseAnswer(body=msgspec.json.encode(views.CaseSummary(**fields)), etag=etag_of(case))


# --- use cases ----------------------------------------------------------------------------------------


def _registry_id(body: ReportBody) -> str | None:
    return body.patient.registry_id if body.patient and body.patient.registry_id else None


async def _validated(
    session: AsyncSession, context: ServiceContext, caller: Caller, body: ReportBody, received_at: datetime
) -> tuple[Patient | None, RegistryFacts | None, list[FieldError]]:
    """The patient (404 outside reach) and the validity errors of a report."""
    today = received_at.astimezone(context.settings.zone).date()
    registry_id = _registry_id(body)
    patient = None
    if registry_id is not None:
        patient = await reachable_patient_by_registry_id(session, caller, registry_id)
        if patient is None:
            raise not_found("patient")
    facts = await _registry_facts(session, context, patient, body, today) if patient is not None else None
    errors = check_validity(
        body,
        today=today,
        patient=facts.patient if facts else None,
        caller_role=caller.role,
        reference=context.reference,
    )
    return patient, facts, errors


async def _replay(
    session: AsyncSession, caller: Caller, key: str, body: ReportBody, now: datetime
) -> CaseAnswer | None:
    """The stored answer for this caller's key, if it is less than a day old (older ones are replaced)."""
    stored = await session.get(IdempotencyKey, (caller.rpps, key))
    if stored is None or now - stored.created_at > IDEMPOTENCY_TTL:
        return None
    if stored.body_hash != _body_hash(body):
        raise rule_violation(
            [FieldError("Idempotency-Key", "idempotency_key_reused", "This key was used with another report.")]
        )
    return CaseAnswer(body=stored.response, etag=stored.etag)


async def submit_report(
    context: ServiceContext, caller: Caller, body: ReportBody, idempotency_key: str | None
) -> CaseAnswer:
    """A new case, or the replay of the first answer given to this caller for this key."""
    try:
        return await _submit(context, caller, body, idempotency_key)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key won the race: replay what it stored.
        async with context.database.session() as session, session.begin():
            replay = await _replay(session, caller, idempotency_key, body, utc_now())
        if replay is None:
            raise
        return replay


async def _submit(context: ServiceContext, caller: Caller, body: ReportBody, idempotency_key: str | None) -> CaseAnswer:
    """Everything read first, without the write lock; then one short write transaction of inserts."""
    received_at = utc_now()
    async with context.database.read_session() as session:
        if idempotency_key is not None:
            replay = await _replay(session, caller, idempotency_key, body, received_at)
            if replay is not None:
                return replay
        patient, facts, errors = await _validated(session, context, caller, body, received_at)
        if errors or patient is None or facts is None:
            raise rule_violation(errors)
        codes = [r.code for r in body.reactions or []]
        assessment = assess(
            body, facts=facts, reference=context.reference, terms=vocabulary(context.reference), codes=codes
        )
        duplicates = await _possible_duplicates(session, patient.id, None, assessment)
    async with context.database.session() as session, session.begin():
        case = Case(
            case_number=await next_case_number(session, received_at.astimezone(context.settings.zone).year),
            patient_id=patient.id,
            reporter_rpps=caller.rpps,
            reporter_role=caller.role,
            received_at=received_at,
            serious_since=None,
            updated_at=received_at,
            version=1,
            revision=1,
            state="received",
            special_situations=list(body.special_situations),
        )
        _set_product(case, body)
        _apply_assessment(case, assessment, received_at)
        session.add(case)
        await session.flush()
        version = CaseVersion(
            case_id=case.id,
            version=1,
            received_at=received_at,
            reporter_rpps=caller.rpps,
            body=msgspec.to_builtins(body),
        )
        reactions = [
            CaseReaction(case_id=case.id, position=index, staff_criteria=None, **_reaction_fields(judged))
            for index, judged in enumerate(assessment.reactions)
        ]
        session.add_all([version, *reactions])
        _add_links(session, case.id, [other for other, _ in duplicates])
        await record_audit(
            session,
            actor=caller.rpps,
            action="case.create",
            entity="case",
            entity_id=str(case.id),
            after={"case_number": case.case_number, "priority": case.priority, "serious": case.serious},
        )
        answer = _answer(case, _fields_of(case, patient.registry_id, reactions, duplicates))
        if idempotency_key is not None:
            await session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.user_rpps == caller.rpps,
                    IdempotencyKey.key == idempotency_key,
                    IdempotencyKey.created_at <= received_at - IDEMPOTENCY_TTL,
                )
            )
            session.add(
                IdempotencyKey(
                    user_rpps=caller.rpps,
                    key=idempotency_key,
                    body_hash=_body_hash(body),
                    case_id=case.id,
                    response=answer.body,
                    etag=answer.etag,
                    created_at=received_at,
                )
            )
    return answer


def _carried_codes(body: ReportBody, previous: Sequence[CaseReaction]) -> list[str | None]:
    """Reactions keep their index; a code given in triage stays unless the reporter sends another."""
    codes = []
    for index, reaction in enumerate(body.reactions or []):
        earlier = previous[index].code if index < len(previous) else None
        codes.append(reaction.code or earlier)
    return codes


def _follow_up_errors(body: ReportBody, patient: Patient, previous: Sequence[CaseReaction]) -> list[FieldError]:
    errors = []
    if _registry_id(body) not in (None, patient.registry_id):
        errors.append(
            FieldError("patient.registry_id", "patient_changed", "A follow-up concerns the case's own patient.")
        )
    reactions = body.reactions or []
    if len(reactions) < len(previous):
        errors.append(
            FieldError("reactions", "reaction_removed", "A follow-up may amend or append reactions, not remove them.")
        )
    earlier_codes = [r.code for r in previous]
    for index, reaction in enumerate(reactions[: len(previous)]):
        moved = reaction.code and reaction.code != earlier_codes[index] and reaction.code in earlier_codes
        if moved:
            errors.append(
                FieldError(f"reactions[{index}]", "reaction_removed", "Reactions keep their order; append new ones.")
            )
    return errors


async def follow_up(
    context: ServiceContext, caller: Caller, case_id: int, body: ReportBody, if_match: str | None
) -> CaseAnswer:
    received_at = utc_now()
    async with context.database.session() as session, session.begin():
        case = await reachable_case(session, caller, case_id, lock=True)
        check_if_match(case, if_match, required=False)
        if case.state == "nullified":
            raise conflict("A nullified case takes no follow-up.")
        patient = await session.get(Patient, case.patient_id)
        assert patient is not None
        previous = await current_reactions(session, case.id)
        complete_body = body if _registry_id(body) else _with_patient(body, patient.registry_id)
        _, facts, errors = await _validated(session, context, caller, complete_body, received_at)
        errors = _follow_up_errors(body, patient, previous) + errors
        if errors or facts is None:
            raise rule_violation(errors)
        codes = _carried_codes(complete_body, previous)
        assessment = assess(
            complete_body,
            facts=facts,
            reference=context.reference,
            terms=vocabulary(context.reference),
            codes=codes,
            staff_criteria=[r.staff_criteria for r in previous],
        )
        before = {"version": case.version, "state": case.state, "priority": case.priority, "serious": case.serious}
        case.version += 1
        case.revision += 1
        case.updated_at = received_at
        _set_product(case, complete_body)
        case.special_situations = list(complete_body.special_situations)
        if case.state in REOPENED_BY_FOLLOW_UP:
            case.state = "in_triage"
        _apply_assessment(case, assessment, received_at)
        session.add(
            CaseVersion(
                case_id=case.id,
                version=case.version,
                received_at=received_at,
                reporter_rpps=caller.rpps,
                body=msgspec.to_builtins(complete_body),
            )
        )
        await _store_reactions(session, case.id, assessment)
        await _link_duplicates(session, case, assessment)
        await session.execute(
            update(FollowUpRequest)
            .where(FollowUpRequest.case_id == case.id, FollowUpRequest.answered_version.is_(None))
            .values(answered_version=case.version)
        )
        await record_audit(
            session,
            actor=caller.rpps,
            action="case.follow_up",
            entity="case",
            entity_id=str(case.id),
            before=before,
            after={"version": case.version, "state": case.state, "priority": case.priority, "serious": case.serious},
        )
        return await _summary(session, case, patient.registry_id)


def _with_patient(body: ReportBody, registry_id: str) -> ReportBody:
    patient = msgspec.structs.replace(body.patient, registry_id=registry_id) if body.patient else None
    return msgspec.structs.replace(body, patient=patient or ReportPatient(registry_id=registry_id))


async def follow_up_request_views(session: AsyncSession, case_id: int) -> list[views.FollowUpRequestView]:
    rows = await session.scalars(
        select(FollowUpRequest).where(FollowUpRequest.case_id == case_id).order_by(FollowUpRequest.id)
    )
    return [
        views.FollowUpRequestView(at=r.at, message=r.message, reply_by=r.reply_by, answered_version=r.answered_version)
        for r in rows
    ]


async def case_detail(session: AsyncSession, case: Case, caller: Caller) -> views.CaseDetail:
    """The whole case as its reader may see it: triage fields for PV staff only."""
    patient = await session.get(Patient, case.patient_id)
    assert patient is not None
    versions = list(
        await session.execute(
            select(CaseVersion.version, CaseVersion.received_at, CaseVersion.body)
            .where(CaseVersion.case_id == case.id)
            .order_by(CaseVersion.version)
        )
    )
    staff = caller.role == "pv_staff"
    return views.CaseDetail(
        **await _summary_fields(session, case, patient.registry_id),
        report=versions[-1].body,
        versions=[views.VersionRef(version=v.version, received_at=v.received_at) for v in versions],
        findings=await findings_for_case(session, case.id),
        follow_up_requests=await follow_up_request_views(session, case.id),
        assignee=case.assignee if staff else None,
        forwarded_at=case.forwarded_at if staff else None,
        duplicate_of=case.duplicate_of if staff else None,
        nullification_reason=case.nullification_reason,
    )


async def get_case(context: ServiceContext, caller: Caller, case_id: int) -> tuple[views.CaseDetail, str]:
    async with context.database.session() as session, session.begin():
        case = await reachable_case(session, caller, case_id)
        detail = await case_detail(session, case, caller)
        await record_audit(session, actor=caller.rpps, action="case.read", entity="case", entity_id=str(case.id))
        return detail, etag_of(case)


async def list_versions(
    context: ServiceContext, caller: Caller, case_id: int, cursor: str | None, limit: int
) -> Page[views.VersionRef]:
    async with context.database.read_session() as session:
        case = await reachable_case(session, caller, case_id)
        query = select(CaseVersion.version, CaseVersion.received_at).where(CaseVersion.case_id == case.id)
        if cursor:
            (after,) = decode_cursor(cursor, (int,))
            query = query.where(CaseVersion.version > after)
        rows = list(await session.execute(query.order_by(CaseVersion.version).limit(limit + 1)))
    items = [views.VersionRef(version=v, received_at=at) for v, at in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor([items[-1].version]) if len(rows) > limit else None)


async def get_version(context: ServiceContext, caller: Caller, case_id: int, version: int) -> views.VersionDetail:
    async with context.database.session() as session, session.begin():
        case = await reachable_case(session, caller, case_id)
        row = await session.scalar(
            select(CaseVersion).where(CaseVersion.case_id == case.id, CaseVersion.version == version)
        )
        if row is None:
            raise not_found("version")
        await record_audit(
            session, actor=caller.rpps, action="case.read_version", entity="case", entity_id=str(case.id),
            after={"version": version},
        )  # fmt: skip
        return views.VersionDetail(
            version=row.version, received_at=row.received_at, reporter=row.reporter_rpps, report=row.body
        )


async def list_cases(
    context: ServiceContext, caller: Caller, patient: str | None, cursor: str | None, limit: int
) -> Page[views.CaseListItem]:
    """The caller's own reports (PV staff: every case), newest first."""
    query = select(Case, Patient.registry_id).join(Patient, Patient.id == Case.patient_id)
    if caller.role != "pv_staff":
        query = query.where(Case.reporter_rpps == caller.rpps)
    if patient is not None:
        query = query.where(Patient.registry_id == patient)
    if cursor:
        (before,) = decode_cursor(cursor, (int,))
        query = query.where(Case.id < before)
    async with context.database.read_session() as session:
        rows = list(await session.execute(query.order_by(Case.id.desc()).limit(limit + 1)))
    items = [
        views.CaseListItem(
            id=case.id,
            case_number=case.case_number,
            version=case.version,
            state=case.state,
            patient=registry_id,
            product=case.product,
            received_at=case.received_at,
            serious=case.serious,
            priority=case.priority,
        )
        for case, registry_id in rows[:limit]
    ]
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)
