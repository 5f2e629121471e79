"""Who may use the service: roles, the caller of a request, a token as issued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import msgspec

Role = Literal["prescriber", "pharmacist", "pv_staff", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making a request, as the guards and the reach rules see them."""

    rpps: str
    role: Role


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: its value is shown this once and never stored."""

    id: str
    token: str
    expires_at: datetime


class Me(msgspec.Struct, frozen=True):
    """Who the caller is, as the service knows them."""

    rpps: str
    name: str
    role: Role


class UserView(msgspec.Struct, frozen=True, kw_only=True):
    """A user as the administration lists them."""

    rpps: str
    name: str
    role: Role
    structure: str | None
    created_at: datetime


class TokenView(msgspec.Struct, frozen=True, kw_only=True):
    """A token as listed: never its value, which is shown once when issued."""

    id: str
    user: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
