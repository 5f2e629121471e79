"""What one unit of work knows of the registry mirror: the rows it has read or written, by kind and natural key.

No I/O here: the writer loads rows into a ``Mirror`` (in bulk on import, on demand on the API) and the
kinds' checks read them, with the reference data and the settings the seed rules need.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.reference import ReferenceData

if TYPE_CHECKING:
    from pv_service.registry.kinds import RecordKind

Row = dict[str, Any]
Key = tuple[Any, ...]


class Mirror:
    """Rows by kind and natural key. Rows are loaded by the value of their key's first column (the
    scope): a one-column key is one row, a longer one all the rows of a patient, kept in key order."""

    def __init__(self, *, reference: ReferenceData, settings: Settings) -> None:
        self.reference = reference
        self.settings = settings
        # The day records may not be dated after, in the service's time zone.
        self.today = utc_now().astimezone(settings.zone).date()
        self._rows: defaultdict[str, dict[Key, Row]] = defaultdict(dict)
        self._scopes: defaultdict[str, dict[Any, list[Row]]] = defaultdict(dict)
        self._by_id: defaultdict[str, dict[int, Row]] = defaultdict(dict)
        self._loaded: defaultdict[tuple[str, str], set[Any]] = defaultdict(set)

    def row(self, kind: RecordKind[Any], key: Key) -> Row | None:
        return self._rows[kind.tag].get(key)

    def row_by_id(self, kind: RecordKind[Any], row_id: int) -> Row | None:
        """A row of a kind whose ids the database assigns, by that id."""
        return self._by_id[kind.tag].get(row_id)

    def before(self, kind: RecordKind[Any], key: Key) -> Row | None:
        """The row of the same scope just before ``key`` in key order (the previous titration step)."""
        rows = self._scopes[kind.tag].get(key[0], [])
        at = bisect.bisect_left(rows, key, key=kind.key_of)
        return rows[at - 1] if at > 0 else None

    def missing(self, kind: RecordKind[Any], column: str, values: Iterable[Any]) -> list[Any]:
        """The values of ``column`` whose rows have not been looked up yet, in order."""
        loaded = self._loaded[(kind.tag, column)]
        return sorted({v for v in values if v is not None and v not in loaded})

    def mark_loaded(self, kind: RecordKind[Any], column: str, values: Iterable[Any]) -> None:
        """Every stored row with these values of ``column`` has been remembered (those found)."""
        values = list(values)
        self._loaded[(kind.tag, column)].update(values)
        if column == kind.key[0] and len(kind.key) > 1:
            scopes = self._scopes[kind.tag]
            for value in values:
                scopes.setdefault(value, [])

    def remember(self, kind: RecordKind[Any], row: Row) -> None:
        """A row read from the database or about to be inserted."""
        key = kind.key_of(row)
        self._rows[kind.tag][key] = row
        if len(kind.key) == 1:
            self._loaded[(kind.tag, kind.key[0])].add(key[0])
        else:
            bisect.insort(self._scopes[kind.tag].setdefault(key[0], []), row, key=kind.key_of)
        if "id" in row and kind.assigns_id:
            self.assign_id(kind, row, row["id"])

    def assign_id(self, kind: RecordKind[Any], row: Row, row_id: int) -> None:
        row["id"] = row_id
        self._by_id[kind.tag][row_id] = row
        self._loaded[(kind.tag, "id")].add(row_id)
