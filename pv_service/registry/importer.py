"""Bulk import of registry NDJSON (SPEC §2, §12): per-line results, valid lines kept, idempotent.

Lines may come in any order, so the whole file is decoded first and the records applied kind by kind
in the order of ``KINDS``. Each kind is looked up in bulk before its records are applied.
``pv_service.registry.service.import_ndjson`` puts the pieces together for every caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from pv_service.config import Settings
from pv_service.errors import TOO_DEEP, decode_error_to_field_error
from pv_service.i18n import translate
from pv_service.reference import ReferenceData
from pv_service.registry.kinds import KIND_OF_RECORD, KINDS
from pv_service.registry.schemas import ImportLineError, ImportRecord, ImportReport
from pv_service.registry.writer import Outcome, RecordRefused, RegistryWriter
from pv_service.rules.field_error import FieldError
from pv_service.storage.database import Database

__all__ = ["ImportReport", "NdjsonLines", "RegistryImport"]


class NdjsonLines:
    """Splits a byte stream into numbered, non-blank lines, whatever the chunk boundaries."""

    def __init__(self) -> None:
        self._pending = b""
        self._number = 0

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        data = self._pending + chunk
        *complete, self._pending = data.split(b"\n")
        return self._number_lines(complete)

    def finish(self) -> list[tuple[int, bytes]]:
        rest, self._pending = self._pending, b""
        return self._number_lines([rest])

    def _number_lines(self, lines: list[bytes]) -> list[tuple[int, bytes]]:
        numbered = []
        for line in lines:
            self._number += 1
            if line.strip():
                numbered.append((self._number, line))
        return numbered


class RegistryImport:
    """Collects decoded lines, then applies them in one transaction."""

    def __init__(self, *, reference: ReferenceData, settings: Settings, actor: str) -> None:
        self.reference = reference
        self.settings = settings
        self.actor = actor
        self.report = ImportReport()
        self._decoder = msgspec.json.Decoder(ImportRecord)
        self._records: dict[str, list[tuple[int, Any]]] = {kind.tag: [] for kind in KINDS}

    @property
    def decoded(self) -> int:
        """How many lines decoded into a record, to be applied."""
        return sum(len(records) for records in self._records.values())

    def add_lines(self, lines: list[tuple[int, bytes]]) -> None:
        for number, raw in lines:
            self.report.total += 1
            try:
                record = self._decoder.decode(raw)
            except msgspec.DecodeError as exc:
                self._fail(number, [decode_error_to_field_error(str(exc), ImportRecord)])
                continue
            except RecursionError:
                self._fail(number, [TOO_DEEP])
                continue
            self._records[KIND_OF_RECORD[type(record)].tag].append((number, record))

    def _fail(self, number: int, errors: list[FieldError]) -> None:
        self.report.failed += 1
        # The report is a 200 answer, not a problem: its messages are written in English.
        self.report.errors.extend(ImportLineError(number, e.field, e.code, translate(e.message, "en")) for e in errors)

    async def apply(self, database: Database, progress: Callable[[int], None] | None = None) -> ImportReport:
        """Applies the decoded records; ``progress`` is told of each record applied."""
        async with database.session() as session, session.begin():
            writer = RegistryWriter(
                session, reference=self.reference, settings=self.settings, actor=self.actor, importing=True
            )
            for kind in KINDS:
                records = self._records[kind.tag]
                if kind.apply_order is not None:
                    records.sort(key=lambda item, order=kind.apply_order: order(item[1]))
                await writer.prefetch(kind, [record for _, record in records])
                for number, record in records:
                    try:
                        applied = await writer.apply_prefetched(kind, record)
                    except RecordRefused as refused:
                        self._fail(number, refused.errors)
                    else:
                        if applied.outcome is Outcome.UNCHANGED:
                            self.report.unchanged += 1
                        else:
                            self.report.accepted += 1
                    if progress is not None:
                        progress(1)
                await writer.flush()
            self.report.errors.sort(key=lambda e: e.line)
            writer.audit_summary(
                "registry.import",
                "registry",
                "import",
                {
                    "total": self.report.total,
                    "accepted": self.report.accepted,
                    "unchanged": self.report.unchanged,
                    "failed": self.report.failed,
                },
            )
            await writer.flush()
        return self.report
