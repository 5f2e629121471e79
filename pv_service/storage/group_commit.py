"""Group commit: the writes that arrive while one transaction is being written wait and go together into the
next one, so that a burst of requests costs a few transactions instead of one each.

Each submitter awaits its own outcome, which is given only after the transaction holding its write has
committed: nothing is acknowledged before it is stored. When a group fails as a whole, each write of it is
tried again on its own, so that one bad write fails alone and the others still get their answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Writes per transaction: enough to carry a burst, few enough that one transaction stays short.
GROUP_SIZE = 64

WriteGroup = Callable[[Sequence[T]], Awaitable[Sequence[R]]]
"""Writes every item in one transaction and returns their outcomes in order, once it has committed."""


@dataclass
class _Waiting(Generic[T, R]):
    item: T
    outcome: asyncio.Future[R]


@dataclass
class GroupCommit(Generic[T, R]):
    """One per instance and kind of write. Nothing runs between bursts: the task that writes the groups is
    started by the first write of a burst and ends when none is waiting."""

    group_size: int = GROUP_SIZE
    _waiting: list[_Waiting[T, R]] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None
    _group: list[_Waiting[T, R]] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        """Writes waiting for the next group."""
        return len(self._waiting)

    @property
    def writing(self) -> int:
        """Writes in the group being written."""
        return len(self._group)

    async def submit(self, item: T, write: WriteGroup[T, R]) -> R:
        """The outcome of ``item`` once it is stored (or the error it alone raised). ``write`` is the same
        function for every item of one ``GroupCommit``."""
        outcome: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        # Read even when its submitter went away, so that an error nobody awaits is not reported as lost.
        outcome.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._waiting.append(_Waiting(item, outcome))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting(write))
        # A submitter that goes away (its client hung up) does not stop the write: its item is stored anyway.
        return await asyncio.shield(outcome)

    async def _write_waiting(self, write: WriteGroup[T, R]) -> None:
        try:
            while self._waiting:
                self._group, self._waiting = self._waiting[: self.group_size], self._waiting[self.group_size :]
                await _write_group(self._group, write)
                self._group = []
        finally:
            # Only when the loop itself stops mid-write: no submitter is left waiting for an answer.
            for waiting in [*self._group, *self._waiting]:
                _fail(waiting, RuntimeError("the service stopped before this write was stored"))
            self._group = []


async def _write_group(group: list[_Waiting[T, R]], write: WriteGroup[T, R]) -> None:
    try:
        outcomes = await write([waiting.item for waiting in group])
    except Exception as error:
        if len(group) == 1:
            _fail(group[0], error)
            return
        for waiting in group:
            try:
                (outcome,) = await write([waiting.item])
            except Exception as alone:
                _fail(waiting, alone)
            else:
                _succeed(waiting, outcome)
        return
    for waiting, outcome in zip(group, outcomes, strict=True):
        _succeed(waiting, outcome)


def _succeed(waiting: _Waiting[T, R], outcome: R) -> None:
    if not waiting.outcome.done():
        waiting.outcome.set_result(outcome)


def _fail(waiting: _Waiting[T, R], error: BaseException) -> None:
    if not waiting.outcome.done():
        waiting.outcome.set_exception(error)
