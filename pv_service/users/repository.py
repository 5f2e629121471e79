"""Named queries on users and their tokens."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.storage.models import Token, User


async def user(session: AsyncSession, rpps: str) -> User | None:
    return await session.get(User, rpps)


async def tokens_of(session: AsyncSession, rpps: str) -> list[Token]:
    rows = await session.scalars(select(Token).where(Token.user_rpps == rpps).order_by(Token.created_at, Token.id))
    return list(rows)


async def token_by_id_or_hash(session: AsyncSession, token_id: str, token_hash: str) -> Token | None:
    return await session.scalar(select(Token).where(or_(Token.id == token_id, Token.token_hash == token_hash)))


async def token_by_hash(session: AsyncSession, token_hash: str) -> Token | None:
    return await session.scalar(select(Token).where(Token.token_hash == token_hash))


def users_query() -> Select[Any]:
    return select(User)
