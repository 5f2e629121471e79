"""Demo cases worth opening (SPEC §15): a few hundred reports of the last months, sent through the service's
own intake, follow-ups and triage, in every state, then dated back to when they would have been received;
then the jobs run once, so that the queue, the anomalies and the last weeks' digests have something to show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select, update

from pv_service.cases import service as cases
from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.digests.counts import local_monday, recounting
from pv_service.jobs.catalogue import JOBS
from pv_service.jobs.periods import latest_complete
from pv_service.jobs.service import start_run
from pv_service.rules.report_body import ReportBody
from pv_service.storage.models import AuditEntry, Case, CaseVersion, Patient, Prescription
from pv_service.triage import service as triage
from pv_service.triage.schemas import TriageAction
from pv_service.users.schemas import Caller

# Codes of the vocabulary, weighted as cannabis reactions are reported: mostly expected and mild.
COMMON = ("somnolence", "dizziness", "dry_mouth", "fatigue", "nausea", "headache", "disturbance_in_attention",
          "euphoric_mood", "anxiety", "increased_appetite", "balance_disorder", "vision_blurred")  # fmt: skip
RARE = ("confusional_state", "tachycardia", "palpitations", "syncope", "fall", "hallucination", "vomiting",
        "orthostatic_hypotension", "seizure", "psychotic_disorder", "hepatic_enzyme_increased")  # fmt: skip
FRENCH = {"somnolence": "somnolence marquée", "dizziness": "vertiges", "dry_mouth": "bouche sèche",
          "fatigue": "fatigue", "nausea": "nausées", "headache": "céphalées", "syncope": "malaise avec chute",
          "tachycardia": "tachycardie", "confusional_state": "confusion", "fall": "chute au domicile"}  # fmt: skip
WEEKS_OF_DIGESTS = 8


@dataclass(frozen=True)
class _Patient:
    id: int
    registry_id: str
    prescriber: str
    inclusion: date
    product: str


async def _patients(context: ServiceContext) -> list[_Patient]:
    first_product = (
        select(Prescription.patient_id, func.min(Prescription.product).label("product"))
        .group_by(Prescription.patient_id)
        .subquery()
    )
    async with context.database.read_session() as session:
        rows = await session.execute(
            select(Patient.id, Patient.registry_id, Patient.reference_prescriber, Patient.inclusion_date,
                   first_product.c.product)
            .join(first_product, first_product.c.patient_id == Patient.id)
            .order_by(Patient.id)
        )  # fmt: skip
    return [_Patient(*row) for row in rows]


def _reaction(rng: random.Random, code: str, onset: date, serious: bool, today: date) -> dict[str, Any]:
    criteria = {"hospitalisation": serious and rng.random() < 0.8, "medically_important": serious}
    if serious and rng.random() < 0.1:
        criteria["life_threatening"] = True
    end = onset + timedelta(days=rng.randint(1, 10))
    recovered = rng.random() < 0.6 and end <= today
    return {
        "text": FRENCH.get(code, code.replace("_", " ")),
        "code": code if rng.random() < 0.8 else None,
        "onset_date": onset.isoformat(),
        "end_date": end.isoformat() if recovered else None,
        "outcome": "recovered" if recovered else rng.choice(["recovering", "not_recovered", "unknown"]),
        "severity": rng.choice(["mild", "mild", "moderate", "severe"]),
        "seriousness": criteria,
    }


def _report(rng: random.Random, patient: _Patient, onset: date, code: str, today: date) -> ReportBody:
    serious = code in RARE and rng.random() < 0.5
    situations = ["misuse"] if rng.random() < 0.03 else []
    body = {
        "patient": {"registry_id": patient.registry_id, "weight_kg": round(rng.uniform(45, 95), 1)},
        "reporter": {"profession": "physician"},
        "suspect_product": {"code": patient.product, "start_date": patient.inclusion.isoformat()},
        "reactions": [_reaction(rng, code, onset, serious, today)],
        "action_taken": rng.choice(["dose_reduced", "dose_unchanged", "withdrawn", "unknown"]),
        "narrative": "Effet indésirable signalé en consultation de suivi.",
        "special_situations": situations,
    }
    return msgspec.convert(body, ReportBody)


async def _act(context: ServiceContext, staff: Caller, case_id: int, etag: str, action: dict[str, Any]) -> str:
    _, etag = await triage.apply_action(context, staff, case_id, msgspec.convert(action, TriageAction), etag)
    return etag


async def _triage(
    context: ServiceContext, rng: random.Random, staff: Caller, case_id: int, etag: str, *, may_nullify: bool
) -> bool:
    """Moves a case along the state graph as PV staff would, stopping in a random state; True when it
    ends awaiting a follow-up."""
    outcome = rng.random()
    if outcome < 0.25:
        return False  # still received
    etag = await _act(context, staff, case_id, etag, {"action": "start"})
    if outcome < 0.4:
        return False
    if outcome < 0.5:
        message = "Pouvez-vous préciser l'évolution et la date de fin de l'effet ?"
        await _act(context, staff, case_id, etag, {"action": "request_follow_up", "message": message})
        return True
    etag = await _act(context, staff, case_id, etag, {"action": "assess", "reaction": 0, "who_umc": "possible"})
    if outcome < 0.7:
        return False
    if outcome < 0.97 or not may_nullify:
        etag = await _act(context, staff, case_id, etag, {"action": "forward", "destination": "crpv"})
        await _act(context, staff, case_id, etag, {"action": "close"})
        return False
    await _act(context, staff, case_id, etag, {"action": "nullify", "reason": "Signalement en double par erreur."})
    return False


async def _date_back(context: ServiceContext, case_id: int, received_at: datetime) -> None:
    """The case as if received at ``received_at``: its deadlines, week, first version and audit move with it
    (and the digest's counts with its week)."""
    async with context.database.session() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        shift = received_at - case.received_at
        async with recounting(session, [case_id]):
            await session.execute(
                update(Case)
                .where(Case.id == case_id)
                .values(
                    received_at=received_at,
                    received_week=local_monday(received_at, context.settings.zone),
                    serious_since=received_at if case.serious_since is not None else None,
                    triage_due=case.triage_due + shift,
                    forward_due=case.forward_due + shift,
                )
            )
        await session.execute(update(CaseVersion).where(CaseVersion.case_id == case_id).values(received_at=received_at))
        await session.execute(
            update(AuditEntry)
            .where(AuditEntry.entity == "case", AuditEntry.entity_id == str(case_id))
            .values(at=received_at)
        )


async def generate_cases(context: ServiceContext, *, staff_rpps: str, count: int = 240, seed: int = 11) -> int:
    """``count`` cases (and a few duplicates) on the registry's patients; returns how many were made."""
    rng = random.Random(seed)
    patients = await _patients(context)
    staff = Caller(rpps=staff_rpps, role="pv_staff")
    now = utc_now()
    today = now.astimezone(context.settings.zone).date()
    made = 0
    for _ in range(count):
        patient = rng.choice(patients)
        received_day = today - timedelta(days=int(rng.triangular(0, 120, 10)))
        onset = max(patient.inclusion, received_day - timedelta(days=rng.randint(0, 6)))
        code = rng.choice(COMMON) if rng.random() < 0.8 else rng.choice(RARE)
        reporter = Caller(rpps=patient.prescriber, role="prescriber")
        copies = 2 if rng.random() < 0.05 else 1  # a duplicate, sent again by the same reporter
        first: int | None = None
        for _ in range(copies):
            answer = await cases.submit_report(context, reporter, _report(rng, patient, onset, code, today), None)
            case_id = int(msgspec.json.decode(answer.body)["id"])
            hour = time(rng.randint(8, 18), rng.randint(0, 59), tzinfo=context.settings.zone)
            await _date_back(context, case_id, min(now, datetime.combine(received_day, hour)))
            etag = answer.etag  # dating back leaves the revision, hence the ETag, as it was
            if first is not None:
                # PV staff recognise the copy as a duplicate of the first report.
                etag = await _act(context, staff, case_id, etag, {"action": "start"})
                await _act(context, staff, case_id, etag, {"action": "mark_duplicate", "master": first})
            elif received_day < today - timedelta(days=2):
                awaiting = await _triage(context, rng, staff, case_id, etag, may_nullify=copies == 1)
                if awaiting and rng.random() < 0.5:
                    amended = _report(rng, patient, onset, code, today)
                    await cases.follow_up(context, reporter, case_id, amended, None)
            first = case_id
            made += 1
    return made


async def run_jobs_once(context: ServiceContext) -> None:
    """Every job for its last complete period, and the digests of the last weeks."""
    today = utc_now().astimezone(context.settings.zone).date()
    for definition in JOBS:
        await start_run(context, definition.name, None, force=False, trigger="cli")
    week = latest_complete("week", today)
    for _ in range(WEEKS_OF_DIGESTS - 1):
        week = week.previous()
        await start_run(context, "weekly-signal-digest", week.key, force=False, trigger="cli")
