"""Group commit: writes that arrive during a write go together into the next one, each answered with its own
outcome after its group is written; a failing write fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from conftest import until

from pv_service.storage.group_commit import GroupCommit


class Store:
    """A write function that records each group it is given, and can be held before writing."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.begun: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def write(self, items: Sequence[str]) -> list[str]:
        self.begun.append(list(items))
        await self.release.wait()
        if "bad" in items:
            raise ValueError("refused")
        self.groups.append(list(items))
        return [item.upper() for item in items]


async def behind_a_held_write(
    store: Store, writes: GroupCommit[str, str], later: Sequence[str]
) -> list[asyncio.Task[str]]:
    """ "a" submitted and held in its write, then ``later`` submitted and waiting: the tasks, "a"'s first."""
    store.release.clear()
    tasks = [asyncio.create_task(writes.submit("a", store.write))]
    await until(lambda: store.begun == [["a"]])
    tasks += [asyncio.create_task(writes.submit(item, store.write)) for item in later]
    await until(lambda: writes.waiting == len(later))
    return tasks


async def test_writes_that_arrive_during_a_write_go_together_into_the_next_group() -> None:
    store, writes = Store(), GroupCommit[str, str]()
    first, *later = await behind_a_held_write(store, writes, ["b", "c", "d"])
    assert writes.writing == 1
    store.release.set()
    assert [await first, *[await task for task in later]] == ["A", "B", "C", "D"]
    assert (writes.writing, writes.waiting) == (0, 0)
    assert store.groups == [["a"], ["b", "c", "d"]]


async def test_a_group_never_holds_more_than_its_size() -> None:
    store, writes = Store(), GroupCommit[str, str](group_size=2)
    tasks = await behind_a_held_write(store, writes, list("bcde"))
    store.release.set()
    assert await asyncio.gather(*tasks) == list("ABCDE")
    assert store.groups == [["a"], ["b", "c"], ["d", "e"]]


async def test_a_write_that_fails_fails_alone_and_the_rest_of_its_group_is_stored() -> None:
    store, writes = Store(), GroupCommit[str, str]()
    tasks = await behind_a_held_write(store, writes, ["b", "bad", "c"])
    store.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert outcomes[:2] == ["A", "B"] and outcomes[3] == "C"
    assert isinstance(outcomes[2], ValueError)
    # The group of three was refused as a whole, then each was written on its own.
    assert store.groups == [["a"], ["b"], ["c"]]


async def test_a_write_whose_submitter_went_away_is_still_stored() -> None:
    store, writes = Store(), GroupCommit[str, str]()
    store.release.clear()
    gone = asyncio.create_task(writes.submit("a", store.write))
    await until(lambda: store.begun == [["a"]])
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    store.release.set()
    assert await writes.submit("b", store.write) == "B"
    assert store.groups == [["a"], ["b"]]


async def test_nothing_keeps_running_once_no_write_waits() -> None:
    store, writes = Store(), GroupCommit[str, str]()
    before = asyncio.all_tasks()
    assert await writes.submit("a", store.write) == "A"
    await until(lambda: asyncio.all_tasks() == before)
