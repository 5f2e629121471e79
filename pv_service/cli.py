"""The ``pv-service`` console script: the Litestar CLI plus the service's own commands (SPEC §11, §13, §14)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from litestar import Litestar
from litestar.cli._utils import LitestarGroup
from litestar.cli.main import litestar_group
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

from pv_service.app import create_app
from pv_service.context import ServiceContext
from pv_service.demo import prepare_demo
from pv_service.digests.render import digest_text
from pv_service.digests.schemas import DigestBody
from pv_service.digests.service import get_digest
from pv_service.errors import Problem
from pv_service.jobs.schemas import RunView
from pv_service.jobs.service import start_run
from pv_service.registry.schemas import ImportReport
from pv_service.registry.service import import_ndjson
from pv_service.server import serve
from pv_service.storage.migrate import upgrade
from pv_service.users.schemas import ROLES
from pv_service.users.service import UserError, create_user, issue_token, list_tokens, revoke_token

T = TypeVar("T")
CLI_ACTOR = "cli"
READ_CHUNK = 1 << 20


def _run(app: Litestar, work: Callable[[ServiceContext], Awaitable[T]]) -> T:
    """Run ``work`` on the app's own context, migrated first, and close it after."""
    context: ServiceContext = app.state.context

    async def run() -> T:
        try:
            await upgrade(context.database)
            return await work(context)
        finally:
            await context.close()

    return asyncio.run(run())


def _stamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


def _user_error(exc: UserError) -> click.ClickException:
    return click.BadParameter(exc.error.message, param_hint=f"--{exc.error.field}")


@click.group(cls=LitestarGroup, name="db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command(name="upgrade", help="Apply every pending migration.")
def db_upgrade(app: Litestar) -> None:
    async def nothing(_: ServiceContext) -> None:
        return None

    _run(app, nothing)
    click.echo("database up to date")


@click.group(cls=LitestarGroup, name="users", help="Users (professionals with an RPPS and one role).")
def users_group() -> None:
    pass


@users_group.command(name="create", help="Create a user.")
@click.option("--rpps", required=True, help="11-digit RPPS with its Luhn key.")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", required=True)
def users_create(app: Litestar, rpps: str, role: str, name: str) -> None:
    async def work(context: ServiceContext) -> None:
        async with context.database.session() as session, session.begin():
            await create_user(session, rpps=rpps, role=role, name=name, actor=CLI_ACTOR)

    try:
        _run(app, work)
    except UserError as exc:
        raise _user_error(exc) from None
    click.echo(f"{rpps}\t{role}\t{name}")


@click.group(cls=LitestarGroup, name="tokens", help="Bearer tokens.")
def tokens_group() -> None:
    pass


@tokens_group.command(name="create", help="Create a token and print it alone (it is shown only once).")
@click.option("--rpps", required=True)
@click.option("--days", type=click.IntRange(min=1), default=None, help="Expiry in days (default 90).")
def tokens_create(app: Litestar, rpps: str, days: int | None) -> None:
    async def work(context: ServiceContext) -> str:
        lifetime = days or context.settings.token_days
        async with context.database.session() as session, session.begin():
            issued = await issue_token(session, rpps=rpps, days=lifetime, actor=CLI_ACTOR)
        return issued.token

    try:
        click.echo(_run(app, work))
    except UserError as exc:
        raise _user_error(exc) from None


@tokens_group.command(name="list", help="List a user's tokens: id, created, expires, revoked.")
@click.option("--rpps", required=True)
def tokens_list(app: Litestar, rpps: str) -> None:
    async def work(context: ServiceContext) -> list[str]:
        async with context.database.read_session() as session:
            rows = await list_tokens(session, rpps)
        return [f"{r.id}\t{_stamp(r.created_at)}\t{_stamp(r.expires_at)}\t{_stamp(r.revoked_at)}" for r in rows]

    for line in _run(app, work):
        click.echo(line)


@tokens_group.command(name="revoke", help="Revoke a token, given its id or the token itself.")
@click.argument("id_or_token")
def tokens_revoke(app: Litestar, id_or_token: str) -> None:
    async def work(context: ServiceContext) -> str:
        async with context.database.session() as session, session.begin():
            row = await revoke_token(session, id_or_token, actor=CLI_ACTOR)
        return f"{row.id}\trevoked {_stamp(row.revoked_at)}"

    try:
        click.echo(_run(app, work))
    except UserError as exc:
        raise click.ClickException(exc.error.message) from None


@click.group(cls=LitestarGroup, name="registry", help="The registry mirror.")
def registry_group() -> None:
    pass


@registry_group.command(name="import", help="Import registry NDJSON; exits 1 when a line failed.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def registry_import(app: Litestar, file: Path) -> None:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    bars = {
        "reading": progress.add_task("reading", total=file.stat().st_size),
        "importing": progress.add_task("importing", total=None, visible=False),
    }

    def show(stage: str, done: int, total: int | None) -> None:
        progress.update(bars[stage], completed=done, total=total, visible=True)

    def chunks() -> Iterator[bytes]:
        with file.open("rb") as stream:
            while chunk := stream.read(READ_CHUNK):
                yield chunk

    async def work(context: ServiceContext) -> ImportReport:
        return await import_ndjson(context, chunks(), actor=CLI_ACTOR, progress=show)

    # Said first, on stderr: a registry imported into another database than the one served is easy to miss.
    database = make_url(app.state.context.settings.database_url).render_as_string(hide_password=True)
    click.echo(f"importing into {database}", err=True)
    with progress:
        report = _run(app, work)
    click.echo(f"total={report.total} accepted={report.accepted} unchanged={report.unchanged} failed={report.failed}")
    for error in report.errors:
        where = f"{error.field}: " if error.field else ""
        click.echo(f"line {error.line}: {where}{error.code}: {error.message}")
    if report.failed:
        sys.exit(1)


@click.command(name="run", help="Serve the service, with its connection limit and client timeouts (PV_* settings).")
@click.option("-H", "--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("-U", "--uds", default=None, help="Listen on this UNIX socket instead of a host and port.")
@click.option("-F", "--fd", default=None, type=int, help="Listen on the socket of this file descriptor instead.")
@click.option("--ssl-certfile", default=None, type=click.Path(exists=True, dir_okay=False), help="TLS certificate.")
@click.option("--ssl-keyfile", default=None, type=click.Path(exists=True, dir_okay=False), help="TLS private key.")
def run_service(
    app: Litestar,
    host: str,
    port: int,
    uds: str | None,
    fd: int | None,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
) -> None:
    serve(app, host=host, port=port, uds=uds, fd=fd, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)


@click.command(name="demo", help="Serve a demo on a fresh SQLite file with generated data; print a token per role.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--patients", default=300, show_default=True, type=click.IntRange(min=1))
def demo(app: Litestar, host: str, port: int, patients: int) -> None:
    settings, tokens = prepare_demo(app.state.context.settings, patients=patients)
    for role, token in tokens.items():
        click.echo(f"{role}\t{token}")
    click.echo(f"http://{host}:{port}")
    click.echo(f"http://{host}:{port}/login")
    sys.stdout.flush()
    serve(create_app(settings), host=host, port=port, log_level="warning")


@click.group(cls=LitestarGroup, name="jobs", help="Scheduled jobs, run on demand.")
def jobs_group() -> None:
    pass


@jobs_group.command(name="run", help="Run a job for a period (default: the last complete one).")
@click.argument("name")
@click.option("--period", default=None, help="YYYY-MM-DD (daily jobs), YYYY-Www (digest), YYYY-MM (retention).")
@click.option("--force", is_flag=True, help="Run again a period already done.")
def jobs_run(app: Litestar, name: str, period: str | None, force: bool) -> None:
    async def work(context: ServiceContext) -> tuple[RunView, bool]:
        return await start_run(context, name, period, force=force, trigger="cli")

    try:
        run, created = _run(app, work)
    except Problem as problem:
        if problem.status_code == 400:
            raise click.BadParameter(str(problem.detail), param_hint="--period") from None
        raise click.ClickException(str(problem.detail)) from None
    counts = " ".join(f"{key}={value}" for key, value in sorted(run.counts.items()))
    note = "" if created else " (already done; --force runs it again)"
    click.echo(f"run={run.id} job={run.job} period={run.period} status={run.status} {counts}{note}".rstrip())
    if run.error:
        click.echo(f"error: {run.error}", err=True)
    if run.status == "failed":
        sys.exit(1)


@click.group(cls=LitestarGroup, name="digest", help="Weekly signal digests.")
def digest_group() -> None:
    pass


@digest_group.command(name="show", help="Print a week's digest (YYYY-Www).")
@click.argument("week")
def digest_show(app: Litestar, week: str) -> None:
    async def work(context: ServiceContext) -> DigestBody:
        return await get_digest(context, week)

    try:
        digest = _run(app, work)
    except Problem as problem:
        if problem.status_code == 400:
            raise click.BadParameter(str(problem.detail), param_hint="WEEK") from None
        raise click.ClickException(str(problem.detail)) from None
    click.echo(digest_text(digest), nl=False)


# ``run`` replaces Litestar's own, which serves with uvicorn's defaults (no head or body timeout).
COMMANDS = (run_service, db_group, users_group, tokens_group, registry_group, jobs_group, digest_group, demo)


def main() -> None:
    """Litestar's own commands (``routes``, ``info``, …) on ``create_app``, plus the service's (``run`` among them)."""
    os.environ.setdefault("LITESTAR_APP", "pv_service.app:create_app")
    os.environ.setdefault("LITESTAR_QUIET_CONSOLE", "1")
    for command in COMMANDS:
        litestar_group.add_command(command)
    litestar_group()
