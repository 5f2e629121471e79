"""A load of adverse-event reports on a running service: concurrent clients (asyncio + httpx), each sending
valid, varied reports with an ``Idempotency-Key`` of its own, every request recorded with its answer or the
lack of one, so that a test can tell afterwards what the service acknowledged before it was killed.

The reports are on the small test registry's patient RC-000123, whom both the prescriber and the
pharmacist of ``conftest.registry_lines()`` reach.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from report_bodies import reaction, report, serious

REPORTS = "/api/v1/reports"
PROFESSIONS = {"prescriber": "physician", "pharmacist": "pharmacist"}
INCLUSION = date(2022, 5, 3)  # RC-000123's inclusion: no onset before it
CODES = ("somnolence", "dizziness", "headache", "nausea", "anxiety", "insomnia", "tachycardia", "seizure",
         "syncope", "fatigue", "vertigo", "dry_mouth", "fall", "depression")  # fmt: skip
TEXTS = ("somnolence marquée le matin", "vertiges en se levant", "céphalées l'après-midi", "nausées après la prise",
         "anxiété inhabituelle", "réveils nocturnes", "palpitations au repos", "malaise bref", "fatigue persistante",
         "bouche sèche")  # fmt: skip
# A client whose request failed waits this long before its next one: a service that is down is not flooded.
PAUSE_AFTER_FAILURE = 0.5


@dataclass(frozen=True)
class Sent:
    """One request and what came back: ``status`` is None when no answer arrived (refused, reset, timed out)."""

    key: str
    role: str
    body: dict[str, Any]
    status: int | None
    answer: dict[str, Any] | None = None
    failure: str | None = None

    @property
    def case_id(self) -> int:
        assert self.answer is not None, self
        return int(self.answer["id"])

    @property
    def case_number(self) -> str:
        assert self.answer is not None, self
        return str(self.answer["case_number"])


def varied_report(rng: random.Random, role: str, today: date) -> dict[str, Any]:
    """A valid report on RC-000123 by ``role``: 1 to 4 reactions with their own codes, texts, dates and
    outcomes, a non-serious or a hospitalisation case, no onset before the inclusion or after yesterday."""
    days = (today - INCLUSION).days - 1
    reactions = []
    for number, code in enumerate(rng.sample(CODES, rng.randint(1, 4))):
        onset = INCLUSION + timedelta(days=rng.randint(0, days))
        ended = onset + timedelta(days=rng.randint(0, 20)) if rng.random() < 0.5 else None
        end = ended if ended is not None and ended < today else None
        reactions.append(
            reaction(
                text=f"{rng.choice(TEXTS)}, épisode {number + 1}",
                code=code if rng.random() < 0.9 else None,
                onset_date=onset.isoformat(),
                end_date=end.isoformat() if end else None,
                outcome="recovered" if end else rng.choice(("recovering", "not_recovered", "unknown")),
                severity=rng.choice(("mild", "moderate", "severe")),
                seriousness=serious(hospitalisation=rng.random() < 0.15),
            )
        )
    return report(
        reporter={"profession": PROFESSIONS[role]},
        reactions=reactions,
        action_taken=rng.choice(("dose_reduced", "dose_unchanged", "withdrawn", "unknown")),
        narrative=f"Signalement {rng.randrange(10_000)} : {reactions[0]['text']}.",
    )


@dataclass
class ReportLoad:
    """``clients`` concurrent clients sending reports to ``base_url`` as the roles of ``tokens`` until stopped."""

    base_url: str
    tokens: dict[str, str]
    clients: int = 16
    seed: int = 11
    sent: list[Sent] = field(default_factory=list)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    def http(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        return httpx.AsyncClient(base_url=self.base_url, timeout=30.0, limits=limits)

    async def send(self, http: httpx.AsyncClient, key: str, role: str, body: dict[str, Any]) -> Sent:
        """One report with its key, recorded whatever happens to it."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}", "Idempotency-Key": key}
        try:
            response = await http.post(REPORTS + "/", json=body, headers=headers)
        except httpx.TransportError as exc:
            return Sent(key, role, body, None, failure=type(exc).__name__)
        answer = response.json() if response.status_code == 201 else None
        return Sent(key, role, body, response.status_code, answer, None if answer else response.text[:500])

    async def resend(self, http: httpx.AsyncClient, earlier: Sent) -> Sent:
        """``earlier`` again, with its key: what a client does when an answer was lost."""
        return await self.send(http, earlier.key, earlier.role, earlier.body)

    def acknowledged(self) -> int:
        return sum(1 for s in self.sent if s.status == 201)

    async def run(self, stop: asyncio.Event) -> None:
        """Load until ``stop`` is set; the requests accumulate in ``sent``, the CPU this thread spent on them
        in ``cpu_seconds``."""
        today = datetime.now(ZoneInfo("Europe/Paris")).date()
        cpu, wall = time.thread_time(), time.monotonic()
        async with self.http() as http:
            await asyncio.gather(*(self._client(http, number, today, stop) for number in range(self.clients)))
        self.cpu_seconds += time.thread_time() - cpu
        self.wall_seconds += time.monotonic() - wall

    async def _client(self, http: httpx.AsyncClient, number: int, today: date, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed * 1000 + number)
        while not stop.is_set():
            role = rng.choice(tuple(PROFESSIONS))
            outcome = await self.send(http, uuid.uuid4().hex, role, varied_report(rng, role, today))
            self.sent.append(outcome)
            if outcome.status is None:
                await asyncio.sleep(PAUSE_AFTER_FAILURE)
