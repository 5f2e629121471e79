"""The triage state graph (SPEC §5, §13): which action is allowed in which state, and where it leads."""

from __future__ import annotations

STATES = ("received", "in_triage", "assessed", "awaiting_follow_up", "duplicate", "closed", "nullified")
ACTIVE = ("received", "in_triage", "assessed", "awaiting_follow_up")

ALLOWED_IN: dict[str, frozenset[str]] = {
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
