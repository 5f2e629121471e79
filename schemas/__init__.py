"""Reference data, the reporting-aid form and the report body JSON Schema; installed as ``pv_service.schemas``."""
