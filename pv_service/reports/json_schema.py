"""The JSON Schema of the report body, generated from the code's own types and shipped in ``schemas/``.

Regenerate after changing ``pv_service/reports/body.py``: ``python -m pv_service.reports.json_schema``;
a test fails while the shipped file and the types disagree.
"""

from __future__ import annotations

import json

import msgspec

from pv_service.config import PROJECT_ROOT
from pv_service.reports.body import ReportBody

SCHEMA_FILE = PROJECT_ROOT / "schemas" / "report_body.schema.json"


def render() -> str:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **msgspec.json.schema(ReportBody)}
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(render(), encoding="utf-8")
