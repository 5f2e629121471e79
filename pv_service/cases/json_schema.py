"""The JSON Schema of the report body, generated from the code's own types and shipped in ``schemas/``.

Regenerate after changing ``pv_service/rules/report_body.py``: ``python -m pv_service.cases.json_schema``;
a test fails while the shipped file and the types disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from pv_service.reference import schemas_root
from pv_service.rules.report_body import ReportBody

# The shipped copy: in a checkout (editable install), the top-level schemas/ folder.
SCHEMA_FILE = schemas_root(None) / "report_body.schema.json"


def render() -> str:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **msgspec.json.schema(ReportBody)}
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    Path(str(SCHEMA_FILE)).write_text(render(), encoding="utf-8")
