"""The triage state graph (SPEC §5, §13): which action is allowed in which state, and where it leads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, get_args

CaseState = Literal["received", "in_triage", "assessed", "awaiting_follow_up", "duplicate", "closed", "nullified"]
TriageActionName = Literal[
    "assign", "start", "code", "set_seriousness", "assess", "request_follow_up", "mark_duplicate", "close",
    "forward", "nullify",
]  # fmt: skip
# Where a case is forwarded: the regional pharmacovigilance centre, the national agency, the
# addictovigilance centres (CEIP-A: abuse, dependence, misuse of a narcotic product).
Destination = Literal["crpv", "ansm", "ceip_a"]
# Special situations that concern addictovigilance (SPEC §15).
ADDICTOVIGILANCE_SITUATIONS = frozenset({"overdose", "misuse", "abuse", "dependence"})

STATES: tuple[CaseState, ...] = get_args(CaseState)
ACTIVE: tuple[CaseState, ...] = ("received", "in_triage", "assessed", "awaiting_follow_up")
# Out of the queue unless asked for by state.
FINISHED: tuple[CaseState, ...] = ("closed", "nullified", "duplicate")
# Cases that do not count: never overdue, never in the digest's population.
SET_ASIDE: tuple[CaseState, ...] = ("duplicate", "nullified")

ALLOWED_IN: dict[TriageActionName, frozenset[CaseState]] = {
    "assign": frozenset(ACTIVE),
    "start": frozenset({"received", "awaiting_follow_up"}),
    "code": frozenset({"in_triage", "assessed"}),
    "set_seriousness": frozenset({"in_triage", "assessed"}),
    "assess": frozenset({"in_triage", "assessed"}),
    "request_follow_up": frozenset({"in_triage", "assessed"}),
    "mark_duplicate": frozenset(ACTIVE),
    "close": frozenset({"assessed", "duplicate"}),
    "forward": frozenset({"in_triage", "assessed", "closed"}),
    "nullify": frozenset(s for s in STATES if s != "nullified"),
}
# States a follow-up from the reporter brings back to triage.
REOPENED_BY_FOLLOW_UP = frozenset({"closed", "awaiting_follow_up"})


def suggested_destinations(special_situations: Iterable[str]) -> list[Destination]:
    """Where a case should go besides pharmacovigilance: the CEIP-A for abuse, dependence, misuse, overdose."""
    return ["ceip_a"] if ADDICTOVIGILANCE_SITUATIONS.intersection(special_situations) else []


def is_overdue(
    *, state: str, forwarded_at: datetime | None, forward_due: datetime, triage_due: datetime, at: datetime
) -> bool:
    """SPEC §15: whatever the state but duplicate and nullified, a case not forwarded by its forward due
    date, or still received past its triage due date, is overdue — a closed case never forwarded counts.
    ``Case.overdue_at`` is the same rule as a SQL expression."""
    if state in SET_ASIDE:
        return False
    not_forwarded = forwarded_at is None or forwarded_at > at
    return (not_forwarded and at > forward_due) or (state == "received" and at > triage_due)


def is_allowed(action: str, state: str) -> bool:
    return state in ALLOWED_IN.get(action, frozenset())


def next_state(action: str, state: str, *, every_reaction_assessed: bool = False) -> str:
    """The state after an allowed action."""
    if action == "assign":
        return "in_triage" if state == "received" else state
    if action == "start":
        return "in_triage"
    if action == "assess":
        return "assessed" if every_reaction_assessed else state
    if action == "request_follow_up":
        return "awaiting_follow_up"
    if action == "mark_duplicate":
        return "duplicate"
    if action == "close":
        return "closed"
    if action == "nullify":
        return "nullified"
    return state
