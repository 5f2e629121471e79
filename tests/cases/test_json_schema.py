"""SPEC §3: the JSON Schema shipped in schemas/ is generated from the code's own types and kept in step."""

from __future__ import annotations

import json

from pv_service.cases.json_schema import SCHEMA_FILE, render


def test_shipped_json_schema_matches_the_report_body_types() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), (
        "schemas/report_body.schema.json is stale: run `python -m pv_service.cases.json_schema`"
    )


def test_json_schema_forbids_unknown_fields_and_bounds_numbers() -> None:
    schema = json.loads(render())
    body = schema["$defs"]["ReportBody"]
    assert body["additionalProperties"] is False
    weight = next(
        option for option in schema["$defs"]["ReportPatient"]["properties"]["weight_kg"]["anyOf"] if "minimum" in option
    )
    assert (weight["minimum"], weight["maximum"]) == (0.3, 400)
