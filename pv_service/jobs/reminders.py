"""``follow-up-reminders`` (SPEC §6): complex consultations missed, follow-up requests past their reply
date, cases overdue for triage or forwarding — each a finding, stored once."""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.context import ServiceContext
from pv_service.jobs.periods import JobPeriod
from pv_service.jobs.runner import JobOutput, findings_output
from pv_service.rules.findings import Finding
from pv_service.rules.follow_up import missed_consultations
from pv_service.storage.models import Case, Consultation, FollowUpRequest, Patient, Withdrawal


async def _missed_consultations(session: AsyncSession, context: ServiceContext, period: JobPeriod) -> list[Finding]:
    done: dict[int, set[int]] = {}
    recorded = await session.execute(
        select(Consultation.patient_id, Consultation.month).where(
            Consultation.kind == "complex", Consultation.month.is_not(None), Consultation.date <= period.last
        )
    )
    for patient_id, month in recorded:
        done.setdefault(patient_id, set()).add(month)
    patients = await session.execute(
        select(Patient.id, Patient.inclusion_date, Withdrawal.date).outerjoin(
            Withdrawal, Withdrawal.patient_id == Patient.id
        )
    )
    findings = []
    for patient_id, inclusion, withdrawal in patients:
        for month, due in missed_consultations(
            inclusion,
            recorded_months=done.get(patient_id, ()),
            withdrawal=withdrawal,
            experimentation_end=context.settings.experimentation_end,
            as_of=period.last,
        ):
            findings.append(
                Finding("consultation_missed", patient_id, (f"M{month}",), (), {"month": month, "due": due.isoformat()})
            )
    return findings


async def _overdue_follow_ups(session: AsyncSession, period: JobPeriod) -> list[Finding]:
    rows = await session.execute(
        select(Case.patient_id, Case.id, Case.case_number, FollowUpRequest.id, FollowUpRequest.reply_by)
        .join(FollowUpRequest, FollowUpRequest.case_id == Case.id)
        .where(
            FollowUpRequest.answered_version.is_(None),
            FollowUpRequest.reply_by < period.last,
            Case.state == "awaiting_follow_up",
        )
    )
    return [
        Finding(
            "follow_up_overdue",
            patient_id,
            (f"follow-up:{request_id}",),
            (case_id,),
            {"case_number": number, "reply_by": reply_by.isoformat()},
        )
        for patient_id, case_id, number, request_id, reply_by in rows
    ]


async def _overdue_triage(session: AsyncSession, context: ServiceContext, period: JobPeriod) -> list[Finding]:
    end = datetime.combine(period.end, time(0), tzinfo=context.settings.zone).astimezone(UTC)
    rows = await session.execute(
        select(Case.patient_id, Case.id, Case.case_number, Case.triage_due, Case.forward_due).where(
            Case.received_at < end, Case.overdue_at(end)
        )
    )
    return [
        Finding(
            "triage_overdue",
            patient_id,
            (f"case:{number}",),
            (case_id,),
            {"case_number": number, "triage_due": triage_due.isoformat(), "forward_due": forward_due.isoformat()},
        )
        for patient_id, case_id, number, triage_due, forward_due in rows
    ]


async def follow_up_reminders(context: ServiceContext, period: JobPeriod) -> JobOutput:
    async with context.database.read_session() as session:
        consultations = await _missed_consultations(session, context, period)
        follow_ups = await _overdue_follow_ups(session, period)
        triage = await _overdue_triage(session, context, period)
    counts = {
        "consultations_missed": len(consultations),
        "follow_ups_overdue": len(follow_ups),
        "triage_overdue": len(triage),
    }
    return findings_output(consultations + follow_ups + triage, counts)
