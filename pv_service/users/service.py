"""Users and their bearer tokens: creation, listing, revocation, and the lookup behind every request.

A token is shown once; only its SHA-256 digest is stored, so a copy of the database lets nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.audit import record_audit
from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.rules.field_error import FieldError
from pv_service.rules.rpps import rpps_error
from pv_service.rules.text import Text
from pv_service.storage.models import Token, User
from pv_service.users import repository
from pv_service.users.schemas import ROLES, Caller, IssuedToken, Me

TOKEN_PREFIX = "pvt_"
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


async def authenticate(session: AsyncSession, token: str) -> Caller | None:
    """The caller behind a bearer token, or None when it is unknown, revoked or expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await repository.token_by_hash(session, hash_token(token))
    if row is None or row.revoked_at is not None or row.expires_at <= utc_now():
        return None
    return Caller(rpps=row.user.rpps, role=row.user.role)  # type: ignore[arg-type]


async def me(context: ServiceContext, caller: Caller) -> Me:
    async with context.database.read_session() as session:
        user = await repository.user(session, caller.rpps)
    assert user is not None  # the caller's token named this user
    return Me(rpps=user.rpps, name=user.name, role=caller.role)
