"""Bulk import of registry NDJSON (SPEC §2, §12): per-line results, valid lines kept, idempotent.

Lines may come in any order, so the whole file is decoded first and the records applied kind by kind
in dependency order (professionals before the patients that name them, withdrawals before the records
they restrict). Each kind is looked up in bulk before its records are applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from pv_service.config import Settings
from pv_service.errors import decode_error_to_field_error
from pv_service.reference import ReferenceData
from pv_service.registry.records import (
    ConsultationRecord,
    DispensationRecord,
    ImportRecord,
    PatientRecord,
    PrescriptionRecord,
    ProfessionalRecord,
    TitrationStepRecord,
    WithdrawalRecord,
)
from pv_service.registry.writer import Outcome, RecordRefused, RegistryWriter
from pv_service.rules.field_error import FieldError
from pv_service.storage.database import Database

APPLY_ORDER: tuple[type[Any], ...] = (
    ProfessionalRecord,
    PatientRecord,
    WithdrawalRecord,
    PrescriptionRecord,
    DispensationRecord,
    TitrationStepRecord,
    ConsultationRecord,
)


class ImportLineError(msgspec.Struct, frozen=True):
    line: int
    field: str
    code: str
    message: str


class ImportReport(msgspec.Struct):
    total: int = 0
    accepted: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[ImportLineError] = msgspec.field(default_factory=list)


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
        self._records: dict[type[Any], list[tuple[int, Any]]] = {kind: [] for kind in APPLY_ORDER}

    def add_lines(self, lines: list[tuple[int, bytes]]) -> None:
        for number, raw in lines:
            self.report.total += 1
            try:
                record = self._decoder.decode(raw)
            except msgspec.DecodeError as exc:
                self._fail(number, [decode_error_to_field_error(str(exc))])
                continue
            self._records[type(record)].append((number, record))

    def _fail(self, number: int, errors: list[FieldError]) -> None:
        self.report.failed += 1
        self.report.errors.extend(ImportLineError(number, e.field, e.code, e.message) for e in errors)

    async def apply(self, database: Database, progress: Callable[[int], None] | None = None) -> ImportReport:
        async with database.session() as session, session.begin():
            writer = RegistryWriter(
                session,
                reference=self.reference,
                settings=self.settings,
                actor=self.actor,
                update_existing=True,
                audit_new=False,
            )
            for kind in APPLY_ORDER:
                records = self._records[kind]
                await self._prefetch(writer, kind, [r for _, r in records])
                if kind is TitrationStepRecord:
                    records.sort(key=lambda item: (item[1].registry_id, item[1].date))
                apply = getattr(writer, _METHOD[kind])
                for number, record in records:
                    try:
                        outcome = await apply(record)
                    except RecordRefused as refused:
                        self._fail(number, refused.errors)
                    else:
                        if outcome is Outcome.UNCHANGED:
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

    @staticmethod
    async def _prefetch(writer: RegistryWriter, kind: type[Any], records: list[Any]) -> None:
        if not records:
            return
        if kind is ProfessionalRecord:
            await writer.prefetch_users(r.rpps for r in records)
        elif kind is PatientRecord:
            await writer.prefetch_users(
                rpps for r in records for rpps in (r.reference_prescriber, r.city_doctor, r.pharmacist) if rpps
            )
            await writer.prefetch_patients(r.registry_id for r in records)
        elif kind is WithdrawalRecord:
            await writer.prefetch_patients(r.registry_id for r in records)
        elif kind is PrescriptionRecord:
            await writer.prefetch_users(r.prescriber for r in records)
            await writer.prefetch_patients(r.registry_id for r in records)
            await writer.prefetch_prescriptions(r.id for r in records)
        elif kind is DispensationRecord:
            await writer.prefetch_users(r.pharmacist for r in records)
            await writer.prefetch_prescriptions(r.prescription_id for r in records)
            await writer.prefetch_dispensations(r.id for r in records)
        elif kind is TitrationStepRecord:
            await writer.prefetch_steps(await writer.patient_ids({r.registry_id for r in records}))
        elif kind is ConsultationRecord:
            await writer.prefetch_consultations(await writer.patient_ids({r.registry_id for r in records}))


_METHOD = {
    ProfessionalRecord: "professional",
    PatientRecord: "patient",
    WithdrawalRecord: "withdrawal",
    PrescriptionRecord: "prescription",
    DispensationRecord: "dispensation",
    TitrationStepRecord: "titration_step",
    ConsultationRecord: "consultation",
}
