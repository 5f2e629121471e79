"""The service as the intake figure serves it: ``create_app`` and one extra, bare endpoint.

The bare endpoint is the baseline of SPEC §9's intake gate: on the same server and through the app's
own engine, it stores the raw request body (one insert, one commit) and does nothing else — no
authentication, no decoding, no checks. Run by figure_intake as a subprocess on loopback:
``python bench/intake_server.py --database-url URL --port PORT``.
"""

from __future__ import annotations

import argparse
import cProfile
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from common import write_profile
from litestar import Litestar, Request, Response, post
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert

from pv_service.app import create_app
from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.storage.database import Database

HOST = "127.0.0.1"
BARE_PATH = "/bench/raw-bodies"
RAW_BODIES = Table("bench_raw_bodies", MetaData(), Column("id", Integer, primary_key=True), Column("body", LargeBinary))


async def create_raw_bodies_table(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(RAW_BODIES.metadata.create_all)


# Outside /api, as the pages are: neither the bearer token nor the pages' CSRF check applies to it.
@post(BARE_PATH, opt={"exclude_from_auth": True, "exclude_from_csrf": True}, status_code=201, include_in_schema=False)
async def store_raw_body(request: Request[Any, Any, Any]) -> Response[bytes]:
    """One insert and one commit of the body as received, in a write session of the app's (on SQLite, writers
    queue on the app's one-writer lock rather than in SQLite's busy handler)."""
    context: ServiceContext = request.app.state.context
    body = await request.body()
    async with context.database.session() as session, session.begin():
        await session.execute(insert(RAW_BODIES).values(body=body))
    return Response(b'{"stored":true}', status_code=201, media_type="application/json")


def build_app(settings: Settings) -> Litestar:
    app = create_app(settings)
    app.register(store_raw_body)
    return app


def _stop_quietly(_signal: int, _frame: FrameType | None) -> None:
    # uvicorn re-raises the SIGTERM it caught once it has shut down; end normally so a profile is written.
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", type=Path, default=None)
    arguments = parser.parse_args()
    settings = Settings(
        data_dir=arguments.data_dir,
        database_url=arguments.database_url,
        scheduler_enabled=False,
        secret_key="bench",
    )
    app = build_app(settings)
    signal.signal(signal.SIGTERM, _stop_quietly)
    profile = cProfile.Profile() if arguments.profile else None
    try:
        if profile is not None:
            profile.enable()
        uvicorn.run(app, host=HOST, port=arguments.port, log_level="warning")
    finally:
        if profile is not None and arguments.profile is not None:
            profile.disable()
            write_profile(profile, arguments.profile)


if __name__ == "__main__":
    main()
