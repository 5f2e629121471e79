"""Users and their bearer tokens: creation, listing, revocation, and the lookup behind every request.

A token is shown once; only its SHA-256 digest is stored, so a copy of the database lets nobody in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import TypeGuard

from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.audit import record_audit
from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.pagination import Keyset, Page
from pv_service.rules.field_error import FieldError
from pv_service.rules.rpps import rpps_error
from pv_service.rules.text import Text
from pv_service.storage.models import Token, User
from pv_service.users import repository
from pv_service.users.schemas import ROLES, Caller, IssuedToken, Me, TokenView, UserView

TOKEN_PREFIX = "pvt_"
# A token's value as it may show up in a text: its prefix, then URL-safe characters.
TOKEN_PATTERN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_\-]+")
TOKEN_ID_PREFIX = "tok_"


class UserError(ValueError):
    """A user or token request that cannot be carried out, with the field at fault."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(str(error.message))
        self.error = error


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    # 32 random bytes: 256 bits, 43 base64url characters.
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _check_rpps(rpps: str) -> None:
    error = rpps_error("rpps", rpps)
    if error is not None:
        raise UserError(error)


async def create_user(session: AsyncSession, *, rpps: str, role: str, name: str, actor: str) -> User:
    _check_rpps(rpps)
    if role not in ROLES:
        raise UserError(
            FieldError("role", "invalid_value", Text("Role must be one of {roles}.", {"roles": ", ".join(ROLES)}))
        )
    if not name.strip():
        raise UserError(FieldError("name", "invalid_value", Text("A name is required.")))
    if await repository.user(session, rpps) is not None:
        raise UserError(
            FieldError("rpps", "invalid_value", Text("A user with RPPS {rpps} already exists.", {"rpps": rpps}))
        )
    user = User(rpps=rpps, role=role, name=name.strip(), structure=None, created_at=utc_now())
    session.add(user)
    await record_audit(
        session,
        actor=actor,
        action="user.create",
        entity="user",
        entity_id=rpps,
        after={"rpps": rpps, "role": role, "name": user.name},
    )
    return user


async def issue_token(session: AsyncSession, *, rpps: str, days: int, actor: str) -> IssuedToken:
    if days < 1:
        raise UserError(FieldError("days", "out_of_range", Text("A token lasts at least one day.")))
    if await repository.user(session, rpps) is None:
        raise UserError(FieldError("rpps", "unknown_reference", Text("No user with RPPS {rpps}.", {"rpps": rpps})))
    token = new_token()
    now = utc_now()
    row = Token(
        id=TOKEN_ID_PREFIX + secrets.token_hex(8),
        user_rpps=rpps,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(days=days),
        revoked_at=None,
    )
    session.add(row)
    await record_audit(
        session,
        actor=actor,
        action="token.create",
        entity="token",
        entity_id=row.id,
        after={"user": rpps, "expires_at": row.expires_at.isoformat()},
    )
    return IssuedToken(id=row.id, token=token, expires_at=row.expires_at)


async def list_tokens(session: AsyncSession, rpps: str) -> list[Token]:
    return await repository.tokens_of(session, rpps)


async def revoke_token(session: AsyncSession, id_or_token: str, *, actor: str) -> Token:
    """Revoke by id or by the token itself; revoking twice keeps the first revocation time."""
    row = await repository.token_by_id_or_hash(session, id_or_token, hash_token(id_or_token))
    if row is None:
        raise UserError(FieldError("token", "unknown_reference", Text("No such token.")))
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        await record_audit(
            session,
            actor=actor,
            action="token.revoke",
            entity="token",
            entity_id=row.id,
            after={"revoked_at": row.revoked_at.isoformat()},
        )
    return row


async def _usable_token(session: AsyncSession, token: str, token_hash: str | None = None) -> Token | None:
    """The stored token behind a token's value, if it may still be used (known, not revoked, not expired)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await repository.token_by_hash(session, token_hash or hash_token(token))
    return row if _usable(row) else None


def _caller(row: Token) -> Caller:
    return Caller(rpps=row.user.rpps, role=row.user.role)  # type: ignore[arg-type]


async def authenticate(context: ServiceContext, token: str) -> Caller | None:
    """The caller behind a bearer token, or None when it is unknown, revoked or expired; looked up in the
    database unless verified within the last ``PV_TOKEN_CACHE_SECONDS`` (0: every time)."""
    seconds = context.settings.token_cache_seconds
    token_hash = hash_token(token)
    caller = context.verified_tokens.caller(token_hash) if seconds > 0 else None
    if caller is not None:
        return caller
    async with context.database.read_session() as session:
        row = await _usable_token(session, token, token_hash)
    if row is None:
        return None
    if seconds > 0:
        context.verified_tokens.keep(token_hash, _caller(row), row.expires_at, seconds)
    return _caller(row)


async def sign_in(context: ServiceContext, token: str) -> tuple[str, Me] | None:
    """The token's id and its user, for a page session; None when the token would be refused."""
    async with context.database.read_session() as session:
        row = await _usable_token(session, token.strip())
        return None if row is None else (row.id, _me(row))


async def session_user(context: ServiceContext, token_id: str) -> Me | None:
    """Who a page session belongs to, looked up on every request: a revoked or expired token ends it."""
    async with context.database.read_session() as session:
        row = await session.get(Token, token_id)
        return _me(row) if _usable(row) else None


def _usable(row: Token | None) -> TypeGuard[Token]:
    return row is not None and row.revoked_at is None and row.expires_at > utc_now()


def _me(row: Token) -> Me:
    return Me(rpps=row.user.rpps, name=row.user.name, role=row.user.role)  # type: ignore[arg-type]


async def me(context: ServiceContext, caller: Caller) -> Me:
    async with context.database.read_session() as session:
        user = await repository.user(session, caller.rpps)
    assert user is not None  # the caller's token named this user
    return Me(rpps=user.rpps, name=user.name, role=caller.role)


# --- the administration page: the same use cases, each in its own transaction (as the CLI runs them) -----

USERS_BY_RPPS = Keyset((User.rpps,))


def user_view(user: User) -> UserView:
    return UserView(
        rpps=user.rpps, name=user.name, role=user.role, structure=user.structure, created_at=user.created_at
    )  # type: ignore[arg-type]


def token_view(row: Token) -> TokenView:
    return TokenView(
        id=row.id, user=row.user_rpps, created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at
    )


async def list_users(context: ServiceContext, cursor: str | None, limit: int) -> Page[UserView]:
    """Every user, registry professionals included, by RPPS."""
    query = USERS_BY_RPPS.query(repository.users_query(), cursor, limit)
    async with context.database.read_session() as session:
        rows = list(await session.scalars(query))
    return USERS_BY_RPPS.page(rows, limit, key=lambda user: [user.rpps], view=user_view)


async def add_user(context: ServiceContext, *, rpps: str, role: str, name: str, actor: str) -> UserView:
    """``create_user`` (``pv-service users create``), committed; UserError names the field at fault."""
    async with context.database.session() as session, session.begin():
        return user_view(await create_user(session, rpps=rpps, role=role, name=name, actor=actor))


async def add_token(context: ServiceContext, *, rpps: str, days: int | None, actor: str) -> IssuedToken:
    """``issue_token`` (``pv-service tokens create``), lasting ``PV_TOKEN_DAYS`` unless told, committed."""
    async with context.database.session() as session, session.begin():
        lifetime = context.settings.token_days if days is None else days
        return await issue_token(session, rpps=rpps, days=lifetime, actor=actor)


async def user_tokens(context: ServiceContext, rpps: str) -> tuple[UserView | None, list[TokenView]]:
    """A user (None when unknown) and their tokens, oldest first (``pv-service tokens list``)."""
    async with context.database.read_session() as session:
        user = await repository.user(session, rpps)
        rows = await list_tokens(session, rpps) if user is not None else []
    return (user_view(user) if user is not None else None), [token_view(row) for row in rows]


async def withdraw_token(context: ServiceContext, id_or_token: str, *, actor: str) -> TokenView:
    """``revoke_token`` (the admin page), committed; this instance refuses the token from now on."""
    async with context.database.session() as session, session.begin():
        row = await revoke_token(session, id_or_token, actor=actor)
    context.verified_tokens.forget(row.token_hash)
    return token_view(row)
