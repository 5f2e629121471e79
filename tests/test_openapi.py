"""The OpenAPI document is true (SPEC §15) and its interactive page works offline (issue 9, items 17-18)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import PRESCRIBER, PV_STAFF, Tokens
from litestar import Litestar
from litestar.testing import AsyncTestClient

import pv_service
from pv_service.auth import BEARER
from pv_service.openapi import SWAGGER_UI_VERSION


async def test_every_api_operation_declares_the_bearer_token_and_health_none(client: AsyncTestClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert document["components"]["securitySchemes"][BEARER] == {
        "type": "http",
        "scheme": "bearer",
        "description": "pvt_… token",
    }
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    api = [(path, method) for path, method, operation in operations if path.startswith("/api/")]
    assert len(api) >= 20
    assert all(
        operation.get("security") == [{BEARER: []}] for path, _, operation in operations if path.startswith("/api/")
    )
    assert "security" not in document["paths"]["/health"]["get"]


# --- the interactive page works offline (issue 9, item 17) ---------------------------------------------------

ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ASSET_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


async def test_the_schema_page_loads_only_assets_the_service_serves_itself(client: AsyncTestClient) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = ASSET_REFERENCE.findall(page.text)
    assert {Path(url).suffix for url in assets} >= {".js", ".css"}
    for url in assets:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/static/"), url
        # No token: the page itself takes none, and neither do its assets.
        answer = await client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].split(";")[0] in ASSET_TYPES[Path(url).suffix], url
        assert answer.content
        if url.endswith(".css"):
            # The stylesheet fetches nothing either: its images are inline.
            assert all(ref.startswith(("data:", '"data:')) for ref in re.findall(r"url\(([^)]*)\)", answer.text))


def test_the_vendored_assets_carry_their_licence_and_pinned_version() -> None:
    folder = Path(pv_service.__file__).parent / "static" / "swagger-ui"
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert f"Swagger UI {SWAGGER_UI_VERSION}" in (folder / "README.md").read_text()
    assert f"swagger-ui-dist@{SWAGGER_UI_VERSION}" in (folder / "README.md").read_text()


# --- the document says what the routes answer and take (issue 9, item 18) ---------------------------------------

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}}


def operations_of(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture
async def document(client: AsyncTestClient) -> dict[str, Any]:
    answer = await client.get("/schema/openapi.json")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def test_every_error_answer_is_a_problem_and_every_api_route_declares_401(document: dict[str, Any]) -> None:
    for path, method, operation in operations_of(document):
        # /health's 503 is its own body (SPEC §14): the state of each part, not a problem.
        errors = {status: answer for status, answer in operation["responses"].items() if "400" <= status < "500"}
        for status, answer in errors.items():
            assert answer["content"] == PROBLEM, (method, path, status)
        if path.startswith("/api/"):
            assert "401" in errors, (method, path)
        if "requestBody" in operation:
            assert "413" in errors, (method, path)
            if "application/json" in operation["requestBody"]["content"]:
                assert "400" in errors, (method, path)


def test_request_bodies_that_refuse_unknown_fields_say_so(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    bodies = ["ReportBody", "ReportPatient", "ReportedReaction", "Seriousness", "PrescriptionBody", "DispensationBody"]
    bodies += ["TitrationStepBody", "ConsultationBody", "WithdrawalBody", "RunRequest", "Assign", "Assess", "Nullify"]
    for name in bodies:
        assert schemas[name]["additionalProperties"] is False, name
    # Answers are not closed: a client must accept fields added later.
    assert "additionalProperties" not in schemas["CaseDetail"]


def test_reference_documents_and_the_form_are_json_objects(document: dict[str, Any]) -> None:
    for path in ("/api/v1/reference/{name}", "/api/v1/forms/adverse-event"):
        answer = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["type"] == "object", path
    (name,) = document["paths"]["/api/v1/reference/{name}"]["get"]["parameters"]
    assert name["schema"]["enum"] == ["products", "indications", "reactions", "titration-protocol"]


def test_the_registry_import_takes_ndjson_and_the_job_run_body_is_optional(document: dict[str, Any]) -> None:
    imports = document["paths"]["/api/v1/registry/imports"]["post"]["requestBody"]
    assert list(imports["content"]) == ["application/x-ndjson"]
    assert imports["content"]["application/x-ndjson"]["schema"]["format"] == "binary"
    run = document["paths"]["/api/v1/jobs/{name}/runs"]["post"]["requestBody"]
    assert run["required"] is False
    assert run["content"]["application/json"]["schema"]["oneOf"][0] == {"$ref": "#/components/schemas/RunRequest"}


def test_creations_document_the_200_of_an_identical_replay(document: dict[str, Any]) -> None:
    creations = [
        "/api/v1/patients/{registry_id}/prescriptions",
        "/api/v1/patients/{registry_id}/titration-steps",
        "/api/v1/patients/{registry_id}/consultations",
        "/api/v1/patients/{registry_id}/withdrawal",
        "/api/v1/dispensations",
        "/api/v1/jobs/{name}/runs",
    ]
    for path in creations:
        responses = document["paths"][path]["post"]["responses"]
        assert responses["200"]["content"] == responses["201"]["content"], path


def test_the_line_listing_and_the_digest_declare_their_csv_and_html(document: dict[str, Any]) -> None:
    queue = document["paths"]["/api/v1/queue"]["get"]["responses"]["200"]["content"]
    assert queue["application/json"]["schema"] == {"$ref": "#/components/schemas/QueuePage"}
    assert queue["text/csv"]["schema"]["type"] == "string"
    digest = document["paths"]["/api/v1/digests/{week}"]["get"]["responses"]["200"]["content"]
    assert digest["application/json"]["schema"] == {"$ref": "#/components/schemas/DigestBody"}
    assert {"text/csv", "text/html"} <= set(digest)


def concrete(path: str) -> str:
    """A request path for a route path: each parameter given a value of its type."""
    return re.sub(r"\{[^}:]+(?::(\w+))?\}", lambda match: "1" if match.group(1) == "int" else "x", path)


async def test_options_names_every_method_of_each_path_and_needs_no_token(
    app: Litestar, client: AsyncTestClient
) -> None:
    """Litestar 2 named only the first handler's methods (litestar-org/litestar#4169), and a controller's guard
    answered 500 to an OPTIONS, which comes without a token (handlers/options.py)."""
    for path, handlers in app.route_handler_method_map.items():
        if not path.startswith(("/api/", "/static/", "/schema", "/health")):
            continue  # the pages are their own controllers' business
        answer = await client.options(concrete(path))
        assert answer.status_code == 204, (path, answer.text)
        allowed = {method.strip() for method in answer.headers["allow"].split(",")}
        assert allowed == {method for method in handlers if method.isupper()} | {"OPTIONS"}, path


# --- the bodies are taken as declared --------------------------------------------------------------------------


async def test_a_value_of_another_type_than_declared_is_400_not_converted(
    client: AsyncTestClient, registry: Tokens
) -> None:
    """Litestar converts bodies leniently: ``{"force": 0}`` ran a job and ``"2.5"`` was stored as a dose."""
    staff, prescriber = registry.headers(PV_STAFF), registry.headers(PRESCRIBER)
    run = await client.post("/api/v1/jobs/dose-crosscheck/runs", json={"force": 0}, headers=staff)
    assert run.status_code == 400, run.text
    assert run.json()["errors"][0]["field"] == "force"
    step = {"date": "2022-05-10", "daily_thc_mg": "2.5", "daily_cbd_mg": 0.1}
    answer = await client.post("/api/v1/patients/RC-000123/titration-steps", json=step, headers=prescriber)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0] == {
        "field": "daily_thc_mg",
        "code": "invalid_type",
        "message": answer.json()["errors"][0]["message"],
    }
    step["daily_thc_mg"] = 2.5
    assert (
        await client.post("/api/v1/patients/RC-000123/titration-steps", json=step, headers=prescriber)
    ).status_code == 201
