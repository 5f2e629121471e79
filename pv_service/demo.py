"""The demo instance: a fresh SQLite file, a generated registry, cases of the last months in every state, the
jobs run once, one user and token per role."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from datetime import datetime

import msgspec

from pv_service.config import Settings, sqlite_url
from pv_service.context import open_context
from pv_service.demo_cases import generate_cases, run_jobs_once
from pv_service.demo_data import demo_professionals, generate_registry
from pv_service.registry.service import import_ndjson
from pv_service.users.service import create_user, issue_token

DEMO_ACTOR = "demo"
DEMO_STAFF_NAMES = {"pv_staff": "Évaluatrice CRPV (démo)", "admin": "Opérateur (démo)"}


def _fresh_database_url(settings: Settings) -> str:
    path = settings.data_dir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return sqlite_url(path)


async def _populate(settings: Settings, patients: int, cases: int) -> dict[str, str]:
    async with open_context(settings) as context:
        today = datetime.now(settings.zone).date()
        encoder = msgspec.json.Encoder()
        records = generate_registry(patients=patients, today=today, reference=context.reference, settings=settings)
        lines = (encoder.encode(record) + b"\n" for record in records)
        report = await import_ndjson(context, lines, actor=DEMO_ACTOR)
        if report.failed:
            raise RuntimeError(f"demo data refused: {report.errors[:3]}")
        tokens: dict[str, str] = {}
        async with context.database.session() as session, session.begin():
            for role, rpps in demo_professionals().items():
                if role in DEMO_STAFF_NAMES:
                    await create_user(session, rpps=rpps, role=role, name=DEMO_STAFF_NAMES[role], actor=DEMO_ACTOR)
                issued = await issue_token(session, rpps=rpps, days=settings.token_days, actor=DEMO_ACTOR)
                tokens[role] = issued.token
        await generate_cases(context, staff_rpps=demo_professionals()["pv_staff"], count=cases)
        await run_jobs_once(context)
        return tokens


def prepare_demo(settings: Settings, *, patients: int, cases: int = 240) -> tuple[Settings, dict[str, str]]:
    settings = replace(
        settings,
        database_url=_fresh_database_url(settings),
        secret_key=settings.secret_key or secrets.token_urlsafe(32),
        migrate_on_start=True,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings, asyncio.run(_populate(settings, patients, cases))
