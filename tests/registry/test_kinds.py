"""Each registry record kind is described once, in ``pv_service.registry.kinds``; what the import, the
writer and the API derive from those descriptions holds for every kind."""

from __future__ import annotations

from typing import get_args

import pytest
from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint

from pv_service.registry.kinds import (
    KIND_OF_RECORD,
    KINDS,
    PATIENTS,
    PRESCRIPTIONS,
    PROFESSIONALS,
    WITHDRAWALS,
    RecordKind,
)
from pv_service.registry.schemas import ImportRecord

BY_TAG = {kind.tag: kind for kind in KINDS}


def test_the_ordered_kinds_cover_every_import_record_tag_once() -> None:
    assert [kind.record for kind in KINDS] == list(KIND_OF_RECORD)
    assert set(KIND_OF_RECORD) == set(get_args(ImportRecord))
    assert len(BY_TAG) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.tag)
def test_a_kind_comes_after_the_kinds_its_records_name(kind: RecordKind) -> None:
    position = KINDS.index(kind)
    named = [
        *([PROFESSIONALS] if kind.professionals else []),
        *([PATIENTS] if kind.patient else []),
        *([PRESCRIPTIONS] if kind.prescription else []),
    ]
    assert all(KINDS.index(other) < position for other in named)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.tag)
def test_a_kinds_foreign_keys_point_to_tables_inserted_before_it(kind: RecordKind) -> None:
    earlier = {other.table.name for other in KINDS[: KINDS.index(kind)]}
    assert {key.column.table.name for key in kind.table.foreign_keys} <= earlier


def test_withdrawals_are_applied_before_the_records_they_restrict() -> None:
    later = {kind.tag for kind in KINDS[KINDS.index(WITHDRAWALS) + 1 :]}
    restricted = {kind.tag for kind in KINDS if kind.patient or kind.prescription} - {WITHDRAWALS.tag}
    assert restricted <= later


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.tag)
def test_a_natural_key_is_a_unique_key_of_the_table(kind: RecordKind) -> None:
    """So two writers racing on one key meet an integrity error rather than store the record twice."""
    unique = [
        {column.name for column in constraint.columns}
        for constraint in kind.table.constraints
        if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint)
    ]
    unique += [{column.name} for column in kind.table.columns if column.unique]
    assert set(kind.key) in unique


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.tag)
def test_a_kinds_stored_rows_are_found_from_its_records(kind: RecordKind) -> None:
    """The key's first column is a record field, or the id of the patient the record names."""
    fields = set(kind.record.__struct_fields__)
    if kind.key[0] == "patient_id":
        assert kind.patient in fields
    else:
        assert kind.key[0] in fields
    for name, _role in kind.professionals:
        assert name in fields
    assert {kind.patient, kind.prescription} - {None} <= fields


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind.api], ids=lambda kind: kind.tag)
def test_an_api_kinds_body_is_its_import_record_less_what_the_path_and_caller_give(kind: RecordKind) -> None:
    assert kind.api is not None
    body, record = set(kind.api.body.__struct_fields__), set(kind.record.__struct_fields__)
    assert body <= record
    assert record - body <= {"registry_id"}
    for field in (kind.api.caller_field, "id" if kind.api.id_prefix else None):
        assert field is None or field in body


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind.api], ids=lambda kind: kind.tag)
def test_an_api_kinds_view_reads_its_rows_columns_and_the_registry_id(kind: RecordKind) -> None:
    assert kind.api is not None
    columns = set(kind.table.columns.keys())
    assert set(kind.api.view.__struct_fields__) - {"registry_id"} <= columns
    assert "patient_id" in columns
