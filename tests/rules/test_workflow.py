"""The state graph and the overdue rule (SPEC §5, §13, §15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from pv_service.rules.workflow import ALLOWED_IN, STATES, CaseState, TriageActionName, is_allowed, is_overdue
from pv_service.triage.schemas import TriageAction

RECEIVED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRIAGE_DUE = RECEIVED + timedelta(days=1)
FORWARD_DUE = RECEIVED + timedelta(days=15)


def overdue(state: CaseState, at: datetime, forwarded_at: datetime | None = None) -> bool:
    return is_overdue(state=state, forwarded_at=forwarded_at, forward_due=FORWARD_DUE, triage_due=TRIAGE_DUE, at=at)


def test_every_action_has_its_states_and_its_body() -> None:
    names = set(get_args(TriageActionName))
    assert set(ALLOWED_IN) == names
    assert {member.__struct_config__.tag for member in get_args(TriageAction)} == names


def test_no_action_is_allowed_on_a_nullified_case() -> None:
    assert not any(is_allowed(action, "nullified") for action in ALLOWED_IN)
    assert STATES[-1] == "nullified"


def test_a_received_case_past_its_triage_due_date_is_overdue() -> None:
    assert not overdue("received", TRIAGE_DUE)
    assert overdue("received", TRIAGE_DUE + timedelta(seconds=1))
    assert not overdue("in_triage", TRIAGE_DUE + timedelta(seconds=1))


def test_a_closed_case_never_forwarded_is_overdue_past_its_forward_due_date() -> None:
    assert overdue("closed", FORWARD_DUE + timedelta(seconds=1))
    assert not overdue("closed", FORWARD_DUE + timedelta(days=1), forwarded_at=FORWARD_DUE - timedelta(days=1))


def test_a_case_forwarded_late_was_overdue_until_it_was_forwarded() -> None:
    forwarded = FORWARD_DUE + timedelta(days=2)
    assert overdue("assessed", FORWARD_DUE + timedelta(days=1), forwarded_at=forwarded)
    assert not overdue("assessed", forwarded + timedelta(days=1), forwarded_at=forwarded)


@pytest.mark.parametrize("state", ["duplicate", "nullified"])
def test_duplicates_and_nullified_cases_are_never_overdue(state: CaseState) -> None:
    assert not overdue(state, FORWARD_DUE + timedelta(days=100))
