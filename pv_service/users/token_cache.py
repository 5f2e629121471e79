"""The callers behind bearer tokens an instance verified in the last few seconds (``PV_TOKEN_CACHE_SECONDS``), so
that most requests need no lookup."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from pv_service.clock import utc_now
from pv_service.users.schemas import Caller

# Entries kept beyond which the stale ones are dropped: a few per user.
TOKEN_CACHE_BOUND = 10_000


@dataclass(frozen=True)
class _Verified:
    caller: Caller
    expires_at: datetime
    # time.monotonic() after which the token is looked up again.
    until: float


@dataclass
class TokenCache:
    """Verified tokens by hash. Only usable tokens are kept (an unknown one is looked up each time); expiry is
    checked on every use. A revocation through this instance drops its entry at once; one made elsewhere (the
    command line, another instance) is seen once the entry is older than the cache's seconds."""

    _entries: dict[str, _Verified] = field(default_factory=dict)

    def caller(self, token_hash: str) -> Caller | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry.until <= time.monotonic():
            return None
        return entry.caller if entry.expires_at > utc_now() else None

    def keep(self, token_hash: str, caller: Caller, expires_at: datetime, seconds: float) -> None:
        now = time.monotonic()
        if len(self._entries) >= TOKEN_CACHE_BOUND:
            self._entries = {key: entry for key, entry in self._entries.items() if entry.until > now}
        self._entries[token_hash] = _Verified(caller, expires_at, now + seconds)

    def forget(self, token_hash: str) -> None:
        self._entries.pop(token_hash, None)
