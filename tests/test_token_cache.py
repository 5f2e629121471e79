"""A verified bearer token is trusted for ``PV_TOKEN_CACHE_SECONDS`` without a lookup (SPEC §1 still holds):
a revocation written by another process (the command line, another instance) is refused once that time has
passed, one made through this process at once, and an expired token at once whatever the cache holds."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import ADMIN, PRESCRIBER, Tokens
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pages_client import sign_in, submit
from sqlalchemy import update

from pv_service.app import create_app
from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.storage.database import Database
from pv_service.storage.models import Token
from pv_service.users.service import hash_token

SHORT_CACHE_SECONDS = 1.0
LONG_CACHE_SECONDS = 60.0

ClientWith = Callable[[float], AsyncTestClient[Litestar]]


@pytest.fixture
def client_with(settings: Settings) -> ClientWith:
    """A test client (to enter with ``async with``) whose app trusts verified tokens for the given seconds."""

    def make(seconds: float) -> AsyncTestClient[Litestar]:
        return AsyncTestClient(app=create_app(replace(settings, token_cache_seconds=seconds)))

    return make


async def _revoke_elsewhere(database: Database, token: str) -> None:
    """The token revoked as another process writes it: in the database, unseen by this process's cache."""
    async with database.session() as session, session.begin():
        await session.execute(update(Token).where(Token.token_hash == hash_token(token)).values(revoked_at=utc_now()))


async def _status(client: AsyncTestClient[Litestar], registry: Tokens) -> int:
    return (await client.get("/api/v1/me", headers=registry.headers(PRESCRIBER))).status_code


@pytest.mark.parametrize(
    ("cache_seconds", "wait_seconds", "status"),
    [(0.0, 0.0, 401), (SHORT_CACHE_SECONDS, SHORT_CACHE_SECONDS + 0.1, 401), (LONG_CACHE_SECONDS, 0.0, 200)],
    ids=["no-cache-refused-at-once", "refused-once-the-seconds-pass", "trusted-until-they-pass"],
)
async def test_a_token_revoked_by_another_process_is_refused_once_the_cache_seconds_have_passed(
    client_with: ClientWith,
    registry: Tokens,
    database: Database,
    cache_seconds: float,
    wait_seconds: float,
    status: int,
) -> None:
    async with client_with(cache_seconds) as client:
        assert await _status(client, registry) == 200
        await _revoke_elsewhere(database, registry.by_rpps[PRESCRIBER])
        await asyncio.sleep(wait_seconds)
        assert await _status(client, registry) == status


async def test_a_token_revoked_through_this_process_is_refused_at_once(
    client_with: ClientWith, registry: Tokens, database: Database
) -> None:
    async with client_with(LONG_CACHE_SECONDS) as client:
        assert await _status(client, registry) == 200
        await sign_in(client, registry.by_rpps[ADMIN])
        page = await client.get(f"/admin?tokens={PRESCRIBER}")
        ids = re.findall(r'name="token_id" value="(tok_[0-9a-f]+)"', page.text)
        revoked = await submit(
            client, f"/admin?tokens={PRESCRIBER}", "/admin", {"operation": "revoke_token", "token_id": ids[-1]}
        )
        assert revoked.status_code == 303
        assert await _status(client, registry) == 401


async def test_a_cached_token_is_refused_as_soon_as_it_expires(
    client_with: ClientWith, registry: Tokens, database: Database
) -> None:
    expires_at = utc_now() + timedelta(seconds=3)
    async with database.session() as session, session.begin():
        await session.execute(
            update(Token)
            .where(Token.token_hash == hash_token(registry.by_rpps[PRESCRIBER]))
            .values(expires_at=expires_at)
        )
    async with client_with(LONG_CACHE_SECONDS) as client:
        assert await _status(client, registry) == 200
        await asyncio.sleep(max(0.0, (expires_at - utc_now()).total_seconds()) + 0.1)
        assert await _status(client, registry) == 401
