"""Applies registry records to the mirror, one record at a time, for the API and the bulk import alike.

The writer is one unit of work over every kind of ``pv_service.registry.kinds``: it loads what a record
names into its ``Mirror`` (in bulk for a whole kind on import, one query per kind and batch; on demand
on the API), runs the kind's seed rules, and stores the record found by its natural key: a new row is
queued and inserted in batches by ``flush``, a changed one is updated (import) or refused (API). Its
statements are ``pv_service.registry.repository``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import Enum
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.audit import record_audit_many
from pv_service.config import Settings
from pv_service.digests.counts import reindicated
from pv_service.reference import ReferenceData
from pv_service.registry import repository
from pv_service.registry.kinds import KINDS, PATIENTS, PRESCRIPTIONS, PROFESSIONALS, WITHDRAWALS, RecordKind
from pv_service.registry.mirror import Mirror, Row
from pv_service.rules.field_error import FieldError
from pv_service.rules.text import Text


class Outcome(Enum):
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    UPDATED = "updated"


class Applied(NamedTuple):
    outcome: Outcome
    row: Row
    """The record's row as the writer holds it (the stored one is read back after ``flush``)."""


class RecordRefused(Exception):
    """A record that breaks a rule (422) or, on the API, changes an existing one (409)."""

    def __init__(self, errors: list[FieldError], status: int = 422) -> None:
        super().__init__("; ".join(str(e.message) for e in errors))
        self.errors = errors
        self.status = status


def _audit_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _plain(values: Row | None) -> Row | None:
    return None if values is None else {k: _audit_value(v) for k, v in values.items()}


class RegistryWriter:
    """One unit of work on the mirror; the caller owns the transaction and calls ``flush``."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        reference: ReferenceData,
        settings: Settings,
        actor: str,
        importing: bool = False,
    ) -> None:
        self.session = session
        self.actor = actor
        # The import updates a changed record and audits the updates (and its summary); the API refuses
        # a changed record (409) and audits every record it creates.
        self.update_existing = importing
        self.audit_new = not importing
        self.mirror = Mirror(reference=reference, settings=settings)
        self._pending: dict[str, list[Row]] = {kind.tag: [] for kind in KINDS}
        self._pending_ids: set[int] = set()
        self._audit: list[Row] = []
        # Stored patients whose indication changed, with the one they had: their cases are recounted.
        self._indications_before: dict[int, str] = {}

    # --- loading --------------------------------------------------------------------------------

    async def prefetch(self, kind: RecordKind[Any], records: Iterable[Any]) -> None:
        """Loads what these records name, then the stored rows of ``kind`` they may meet."""
        records = list(records)
        await self._load(PROFESSIONALS, "rpps", [getattr(r, field) for r in records for field, _ in kind.professionals])
        if kind.patient is not None:
            await self._load(PATIENTS, "registry_id", [getattr(r, kind.patient) for r in records])
        if kind.prescription is not None:
            await self._load(PRESCRIPTIONS, "id", [getattr(r, kind.prescription) for r in records])
        await self._load(kind, kind.key[0], [kind.scope(r, self.mirror) for r in records])

    async def _load(self, kind: RecordKind[Any], column: str, values: Iterable[Any]) -> None:
        missing = self.mirror.missing(kind, column, values)
        if not missing:
            return
        found = await repository.rows_where_in(self.session, kind.table, column, missing)
        for row in found:
            self.mirror.remember(kind, row)
        self.mirror.mark_loaded(kind, column, missing)
        # The rules read a patient with their withdrawal, and a prescription with its patient.
        if kind is PATIENTS:
            await self._load(WITHDRAWALS, "patient_id", [patient["id"] for patient in found])
        elif kind is PRESCRIPTIONS:
            await self._load(PATIENTS, "id", [prescription["patient_id"] for prescription in found])

    # --- applying -------------------------------------------------------------------------------

    async def apply(self, kind: RecordKind[Any], record: Any) -> Applied:
        """Checks ``record`` and stores it; raises ``RecordRefused`` with every broken rule."""
        await self.prefetch(kind, (record,))
        return await self.apply_prefetched(kind, record)

    async def apply_prefetched(self, kind: RecordKind[Any], record: Any) -> Applied:
        """``apply`` for a record among those ``prefetch`` was given (the import's whole batch of a kind)."""
        errors = kind.errors(record, self.mirror)
        if errors:
            raise RecordRefused(errors)
        row = kind.row(record, self.mirror)
        existing = self.mirror.row(kind, kind.key_of(row))
        values = {column: value for column, value in row.items() if column not in kind.key}
        if existing is None:
            if kind.set_on_insert is not None:
                row.update(kind.set_on_insert())
            self.mirror.remember(kind, row)
            self._pending[kind.tag].append(row)
            self._pending_ids.add(id(row))
            if self.audit_new:
                self._audit_entry(f"{kind.tag}.create", kind.tag, kind.label(record), None, values)
            return Applied(Outcome.ACCEPTED, row)
        changed = {column: value for column, value in values.items() if existing[column] != value}
        if not changed:
            return Applied(Outcome.UNCHANGED, existing)
        if not self.update_existing:
            raise RecordRefused(
                [
                    FieldError(
                        name,
                        "invalid_value",
                        Text("A record with this key already exists with another '{field}'.", {"field": name}),
                    )
                    for name in changed
                ],
                status=409,
            )
        before = {column: existing[column] for column in changed}
        existing.update(changed)
        if id(existing) not in self._pending_ids:
            if kind is PATIENTS and "indication" in changed:
                self._indications_before.setdefault(existing["id"], before["indication"])
            await repository.update_row(self.session, kind.table, kind.natural_key(existing), changed)
        self._audit_entry(f"{kind.tag}.update", kind.tag, kind.label(record), before, changed)
        return Applied(Outcome.UPDATED, existing)

    # --- storing --------------------------------------------------------------------------------

    def _audit_entry(self, action: str, entity: str, label: str, before: Row | None, after: Row | None) -> None:
        self._audit.append(
            {
                "actor": self.actor,
                "action": action,
                "entity": entity,
                "entity_id": label,
                "before": _plain(before),
                "after": _plain(after),
            }
        )

    def audit_summary(self, action: str, entity: str, label: str, after: Row) -> None:
        self._audit_entry(action, entity, label, None, after)

    async def flush(self) -> None:
        """Inserts the new rows, kind by kind in ``KINDS`` order; rows whose id the database assigns get it
        back, for the records naming them. The cases of patients whose indication changed are recounted."""
        for kind in KINDS:
            rows = self._pending[kind.tag]
            if not rows:
                continue
            if kind.assigns_id:
                ids = {
                    tuple(key): row_id
                    for row_id, *key in await repository.insert_rows_returning_ids(
                        self.session, kind.table, rows, kind.key
                    )
                }
                for row in rows:
                    self.mirror.assign_id(kind, row, ids[kind.key_of(row)])
            else:
                await repository.insert_rows(self.session, kind.table, rows)
            rows.clear()
        self._pending_ids.clear()
        if self._indications_before:
            await reindicated(self.session, self._indications_before)
            self._indications_before.clear()
        await record_audit_many(self.session, self._audit)
        self._audit.clear()
