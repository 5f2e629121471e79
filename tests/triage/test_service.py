"""SPEC §5, §13, §14: triage actions over the state graph, causality, staleness, audit, and the queue."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import ADMIN, PHARMACIST, PRESCRIBER, PV_STAFF, Tokens
from litestar.testing import AsyncTestClient
from report_bodies import reaction, report, serious

REPORTS = "/api/v1/reports"
STATES_BEFORE = ["received", "in_triage", "assessed", "awaiting_follow_up", "duplicate", "closed", "nullified"]
ALLOWED = {
    "assign": {"received", "in_triage", "assessed", "awaiting_follow_up"},
    "start": {"received", "awaiting_follow_up"},
    "code": {"in_triage", "assessed"},
    "set_seriousness": {"in_triage", "assessed"},
    "assess": {"in_triage", "assessed"},
    "request_follow_up": {"in_triage", "assessed"},
    "mark_duplicate": {"received", "in_triage", "assessed", "awaiting_follow_up"},
    "close": {"assessed", "duplicate"},
    "forward": {"in_triage", "assessed", "closed"},
    "nullify": {"received", "in_triage", "assessed", "awaiting_follow_up", "duplicate", "closed"},
}
LEADS_TO = {"start": "in_triage", "request_follow_up": "awaiting_follow_up", "mark_duplicate": "duplicate",
            "close": "closed", "nullify": "nullified"}  # fmt: skip


class Case:
    """A case seen by PV staff, with its current ETag."""

    def __init__(self, client: AsyncTestClient, registry: Tokens, body: dict[str, Any]) -> None:
        self.client, self.registry = client, registry
        self.id: int = body["id"]
        self.etag = ""
        self.body = body

    async def act(self, action: str, rpps: str = PV_STAFF, **fields: Any) -> Any:
        response = await self.client.post(
            f"{REPORTS}/{self.id}/actions",
            json={"action": action, **fields},
            headers={**self.registry.headers(rpps), "If-Match": self.etag},
        )
        if response.status_code == 200:
            self.etag, self.body = response.headers["etag"], response.json()
        return response

    async def must(self, action: str, **fields: Any) -> dict[str, Any]:
        response = await self.act(action, **fields)
        assert response.status_code == 200, response.text
        return response.json()


async def new_case(client: AsyncTestClient, registry: Tokens, body: dict[str, Any] | None = None) -> Case:
    created = await client.post(REPORTS, json=body or report(), headers=registry.headers(PRESCRIBER))
    assert created.status_code == 201, created.text
    case = Case(client, registry, created.json())
    case.etag = created.headers["etag"]
    return case


async def case_in(client: AsyncTestClient, registry: Tokens, state: str) -> Case:
    case = await new_case(client, registry)
    if state in ("in_triage", "assessed", "awaiting_follow_up", "closed"):
        await case.must("start")
    if state in ("assessed", "closed"):
        await case.must("assess", reaction=0, who_umc="possible")
    if state == "awaiting_follow_up":
        await case.must("request_follow_up", message="Quelle dose au moment des faits ?")
    if state == "closed":
        await case.must("close")
    if state == "duplicate":
        master = await new_case(client, registry)
        await case.must("mark_duplicate", master=master.id)
    if state == "nullified":
        await case.must("nullify", reason="Saisie en double par erreur")
    assert case.body["state"] == state
    return case


def valid_body(action: str, master: int) -> dict[str, Any]:
    return {
        "assign": {"assignee": PV_STAFF},
        "start": {},
        "code": {"reaction": 0, "code": "dizziness"},
        "set_seriousness": {"reaction": 0, "seriousness": serious(hospitalisation=True)},
        "assess": {"reaction": 0, "who_umc": "probable"},
        "request_follow_up": {"message": "Merci de préciser l'évolution."},
        "mark_duplicate": {"master": master},
        "close": {"reason": "Évaluation terminée"},
        "forward": {"destination": "crpv", "reference": "CRPV-2026-17"},
        "nullify": {"reason": "Patient erroné"},
    }[action]


# --- the state graph ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", STATES_BEFORE)
async def test_every_action_is_allowed_exactly_where_the_graph_says(
    client: AsyncTestClient, registry: Tokens, state: str
) -> None:
    master = await new_case(client, registry)
    for action, allowed_in in ALLOWED.items():
        case = await case_in(client, registry, state)
        response = await case.act(action, **valid_body(action, master.id))
        if state in allowed_in:
            assert response.status_code == 200, (action, state, response.text)
            expected = LEADS_TO.get(action, "in_triage" if (action, state) == ("assign", "received") else state)
            if action == "assess":
                expected = "assessed"
            assert response.json()["state"] == expected, (action, state)
        else:
            assert response.status_code == 409, (action, state, response.text)


async def test_assign_needs_a_pv_staff_member(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    response = await case.act("assign", assignee=PRESCRIBER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "assignee"
    assert (await case.must("assign", assignee=PV_STAFF))["assignee"] == PV_STAFF


async def test_case_is_assessed_once_every_reaction_has_a_causality(client: AsyncTestClient, registry: Tokens) -> None:
    two = report(reactions=[reaction(), reaction(code="dizziness", text="vertiges")])
    case = await new_case(client, registry, two)
    await case.must("start")
    assert (await case.must("assess", reaction=0, who_umc="probable"))["state"] == "in_triage"
    assert (await case.must("assess", reaction=1, chronology="C1", semiology="S3"))["state"] == "assessed"


# --- causality ------------------------------------------------------------------------------------------

GRID = {
    ("C0", "S1"): "I0", ("C0", "S2"): "I0", ("C0", "S3"): "I0",
    ("C1", "S1"): "I1", ("C1", "S2"): "I1", ("C1", "S3"): "I2",
    ("C2", "S1"): "I1", ("C2", "S2"): "I2", ("C2", "S3"): "I3",
    ("C3", "S1"): "I3", ("C3", "S2"): "I3", ("C3", "S3"): "I4",
}  # fmt: skip


async def test_the_whole_intrinsic_score_grid_is_computed_by_the_service(
    client: AsyncTestClient, registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await case.must("start")
    for (chronology, semiology), score in GRID.items():
        body = await case.must("assess", reaction=0, who_umc="probable", chronology=chronology, semiology=semiology)
        assert body["reactions"][0]["causality"] == {
            "method": "begaud_1985",
            "who_umc": "probable",
            "chronology": chronology,
            "semiology": semiology,
            "intrinsic_score": score,
        }


async def test_chronology_without_semiology_is_422(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    await case.must("start")
    response = await case.act("assess", reaction=0, chronology="C2")
    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "invalid_value"
    assert (await case.act("assess", reaction=0)).status_code == 422
    assert (await case.act("assess", reaction=5, who_umc="possible")).status_code == 422


async def test_assess_with_only_a_who_umc_category_keeps_the_french_method(
    client: AsyncTestClient, registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await case.must("start")
    await case.must("assess", reaction=0, chronology="C2", semiology="S2")
    body = await case.must("assess", reaction=0, who_umc="possible")
    assert body["reactions"][0]["causality"] == {
        "method": "begaud_1985",
        "who_umc": "possible",
        "chronology": "C2",
        "semiology": "S2",
        "intrinsic_score": "I2",
    }
    # The reverse: the French method alone keeps the WHO-UMC category.
    body = await case.must("assess", reaction=0, chronology="C3", semiology="S3")
    assert body["reactions"][0]["causality"]["who_umc"] == "possible"
    assert body["reactions"][0]["causality"]["intrinsic_score"] == "I4"


async def test_assess_with_an_explicit_null_clears_only_that_field(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    await case.must("start")
    await case.must("assess", reaction=0, who_umc="probable", chronology="C1", semiology="S1")
    body = await case.must("assess", reaction=0, chronology=None, semiology=None)
    assert body["reactions"][0]["causality"] == {
        "method": "who_umc",
        "who_umc": "probable",
        "chronology": None,
        "semiology": None,
        "intrinsic_score": None,
    }
    cleared = await case.act("assess", reaction=0, who_umc=None)
    assert cleared.status_code == 422, cleared.text


async def test_a_serious_case_is_closed_only_once_forwarded(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry, report(reactions=[reaction(seriousness=serious(hospitalisation=True))]))
    await case.must("start")
    await case.must("assess", reaction=0, who_umc="possible")
    refused = await case.act("close")
    assert refused.status_code == 409, refused.text
    assert [e["code"] for e in refused.json()["errors"]] == ["not_forwarded"]
    await case.must("forward", destination="ceip_a")
    assert (await case.must("close"))["state"] == "closed"


async def test_client_cannot_send_its_own_intrinsic_score(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    await case.must("start")
    response = await case.act("assess", reaction=0, chronology="C1", semiology="S1", intrinsic_score="I4")
    assert response.status_code == 400


# --- coding and seriousness recompute priority and deadlines -----------------------------------------------


async def test_coding_a_reaction_recomputes_expectedness_and_priority(
    client: AsyncTestClient, registry: Tokens
) -> None:
    case = await new_case(client, registry, report(reactions=[reaction(code=None, text="crise convulsive")]))
    assert case.body["priority"] == "P4" and case.body["expected"] is False
    await case.must("start")
    coded = await case.must("code", reaction=0, code="somnolence")
    assert (coded["expected"], coded["priority"], coded["reactions"][0]["code"]) == (True, "P5", "somnolence")
    important = await case.must("code", reaction=0, code="seizure")
    assert important["suggested_criteria"] == ["medically_important"]
    assert (await case.act("code", reaction=0, code="nope")).status_code == 422


async def test_setting_seriousness_recomputes_priority_and_deadlines_from_receipt(
    client: AsyncTestClient, registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await case.must("start")
    body = await case.must("set_seriousness", reaction=0, seriousness=serious(hospitalisation=True))
    received = datetime.fromisoformat(body["received_at"])
    assert body["serious"] is True and body["priority"] == "P3"
    assert datetime.fromisoformat(body["triage_due"]) - received == timedelta(hours=24)
    assert datetime.fromisoformat(body["forward_due"]) - received == timedelta(days=15)


async def test_removing_a_reporters_criterion_needs_a_reason(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry, report(reactions=[reaction(seriousness=serious(hospitalisation=True))]))
    await case.must("start")
    refused = await case.act("set_seriousness", reaction=0, seriousness=serious())
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "reason"
    body = await case.must("set_seriousness", reaction=0, seriousness=serious(), reason="Hospitalisation programmée")
    assert body["serious"] is False
    assert body["report"]["reactions"][0]["seriousness"]["hospitalisation"] is True  # the reporter's view stays


async def test_triage_data_survive_a_follow_up(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry, report(reactions=[reaction(code=None, text="crise")]))
    await case.must("start")
    await case.must("code", reaction=0, code="seizure")
    await case.must("assess", reaction=0, who_umc="possible")
    await case.must("request_follow_up", message="Évolution ?")
    response = await client.post(
        f"{REPORTS}/{case.id}/follow-ups",
        json=report(reactions=[reaction(code=None, text="crise", outcome="recovered")]),
        headers=registry.headers(PRESCRIBER),
    )
    assert response.status_code == 201, response.text
    after = response.json()
    assert after["state"] == "in_triage"
    assert after["reactions"][0]["code"] == "seizure"
    assert after["reactions"][0]["causality"]["who_umc"] == "possible"
    seen_by_reporter = (await client.get(f"{REPORTS}/{case.id}", headers=registry.headers(PRESCRIBER))).json()
    assert seen_by_reporter["follow_up_requests"][0]["message"] == "Évolution ?"
    assert seen_by_reporter["follow_up_requests"][0]["answered_version"] == 2
    assert seen_by_reporter["assignee"] is None  # triage fields are for PV staff


async def test_nullified_case_takes_no_follow_up_and_keeps_its_reason(
    client: AsyncTestClient, registry: Tokens
) -> None:
    case = await case_in(client, registry, "nullified")
    response = await client.post(f"{REPORTS}/{case.id}/follow-ups", json=report(), headers=registry.headers(PRESCRIBER))
    assert response.status_code == 409
    detail = (await client.get(f"{REPORTS}/{case.id}", headers=registry.headers(PRESCRIBER))).json()
    assert detail["state"] == "nullified" and detail["nullification_reason"] == "Saisie en double par erreur"


async def test_duplicate_points_at_its_master_and_forward_is_recorded(
    client: AsyncTestClient, registry: Tokens
) -> None:
    master = await new_case(client, registry)
    case = await new_case(client, registry)
    assert (await case.must("mark_duplicate", master=master.id))["duplicate_of"] == master.id
    assert (await case.act("mark_duplicate", master=case.id)).status_code == 409
    other = await new_case(client, registry)
    assert (await other.act("mark_duplicate", master=other.id)).status_code == 422
    assert (await other.act("mark_duplicate", master=999999)).status_code == 422
    await other.must("start")
    assert (await other.must("forward", destination="ansm"))["forwarded_at"] is not None


# --- staleness and concurrency ------------------------------------------------------------------------------


async def test_action_without_if_match_is_428_and_with_a_stale_one_412(
    client: AsyncTestClient, registry: Tokens
) -> None:
    case = await new_case(client, registry)
    url, headers = f"{REPORTS}/{case.id}/actions", registry.headers(PV_STAFF)
    assert (await client.post(url, json={"action": "start"}, headers=headers)).status_code == 428
    for stale in ('"0.0"', "*", case.etag.strip('"')):
        response = await client.post(url, json={"action": "start"}, headers={**headers, "If-Match": stale})
        assert response.status_code == 412, stale
    # 412 comes before the body's shape and the state graph.
    stale_and_bad = {**headers, "If-Match": '"0.0"'}
    assert (await client.post(url, json={"action": "fly"}, headers=stale_and_bad)).status_code == 412


async def test_of_two_concurrent_actions_exactly_one_wins(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    url = f"{REPORTS}/{case.id}/actions"
    headers = {**registry.headers(PV_STAFF), "If-Match": case.etag}
    first, second = await asyncio.gather(
        client.post(url, json={"action": "assign", "assignee": PV_STAFF}, headers=headers),
        client.post(url, json={"action": "start"}, headers=headers),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 412]
    audit = (await client.get(f"{REPORTS}/{case.id}/audit", headers=registry.headers(PV_STAFF))).json()["items"]
    assert [a["action"] for a in audit if a["action"] in ("case.assign", "case.start")] in (
        ["case.assign"],
        ["case.start"],
    )


async def test_unknown_action_is_400_and_unknown_case_404(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    assert (await case.act("fly")).status_code == 400
    missing = await client.post(
        f"{REPORTS}/999999/actions",
        json={"action": "start"},
        headers={**registry.headers(PV_STAFF), "If-Match": '"1.1"'},
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("rpps", [PRESCRIBER, PHARMACIST, ADMIN])
async def test_only_pv_staff_act_on_cases(client: AsyncTestClient, registry: Tokens, rpps: str) -> None:
    case = await new_case(client, registry)
    assert (await case.act("start", rpps=rpps)).status_code == 403


# --- audit -------------------------------------------------------------------------------------------------


async def test_every_change_is_in_the_audit_trail_with_before_and_after(
    client: AsyncTestClient, registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await case.must("assign", assignee=PV_STAFF)
    await case.must("assess", reaction=0, who_umc="possible")
    await case.must("close", reason="RAS")
    items = (await client.get(f"{REPORTS}/{case.id}/audit", headers=registry.headers(PV_STAFF))).json()["items"]
    assert [i["action"] for i in items] == ["case.create", "case.assign", "case.assess", "case.close"]
    assign = items[1]
    assert assign["actor"] == PV_STAFF and assign["at"].endswith("Z")
    assert assign["before"] == {"state": "received", "assignee": None}
    assert assign["after"] == {"state": "in_triage", "assignee": PV_STAFF}
    assert items[2]["after"]["reactions[0].who_umc"] == "possible"
    assert items[3]["after"] == {"state": "closed", "reason": "RAS"}


# --- the queue ---------------------------------------------------------------------------------------------


async def test_queue_orders_by_priority_then_due_date(client: AsyncTestClient, registry: Tokens) -> None:
    p5 = await new_case(client, registry)
    p3 = await new_case(client, registry, report(reactions=[reaction(seriousness=serious(hospitalisation=True))]))
    p1 = await new_case(client, registry, report(reactions=[reaction(outcome="fatal")]))
    p5_later = await new_case(client, registry)
    items = (await client.get("/api/v1/queue", headers=registry.headers(PV_STAFF))).json()["items"]
    assert [i["id"] for i in items] == [p1.id, p3.id, p5.id, p5_later.id]
    assert items[0]["reactions"] == ["somnolence"] and items[0]["serious"] is True
    assert set(items[0]) >= {"id", "case_number", "state", "priority", "serious", "expected", "received_at",
                             "triage_due", "forward_due", "assignee", "product", "reactions"}  # fmt: skip


async def test_queue_excludes_finished_cases_unless_asked(client: AsyncTestClient, registry: Tokens) -> None:
    open_case = await new_case(client, registry)
    closed = await case_in(client, registry, "closed")
    nullified = await case_in(client, registry, "nullified")
    headers = registry.headers(PV_STAFF)
    default = {i["id"] for i in (await client.get("/api/v1/queue", headers=headers)).json()["items"]}
    assert open_case.id in default and not {closed.id, nullified.id} & default
    asked = (await client.get("/api/v1/queue?state=closed&state=nullified", headers=headers)).json()["items"]
    assert {i["id"] for i in asked} == {closed.id, nullified.id}


async def test_queue_filters(client: AsyncTestClient, registry: Tokens) -> None:
    plain = await new_case(client, registry)
    grave = await new_case(client, registry, report(reactions=[reaction(seriousness=serious(hospitalisation=True))]))
    dizzy = await new_case(client, registry, report(reactions=[reaction(code="dizziness", text="vertiges")]))
    await grave.must("assign", assignee=PV_STAFF)
    headers = registry.headers(PV_STAFF)

    async def ids(query: str) -> set[int]:
        response = await client.get(f"/api/v1/queue?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()["items"]}

    assert await ids("serious=true") == {grave.id}
    assert await ids("priority=P3") == {grave.id}
    assert await ids("priority=P3&priority=P5") == {grave.id, plain.id, dizzy.id}
    assert await ids(f"assignee={PV_STAFF}") == {grave.id}
    assert await ids("assignee=none") == {plain.id, dizzy.id}
    assert await ids("reaction=dizziness") == {dizzy.id}
    assert await ids("product=OIL-T10") == {plain.id, grave.id, dizzy.id}
    assert await ids("product=FLOWER-T18") == set()
    assert await ids("state=in_triage") == {grave.id}
    assert await ids("overdue=true") == set()
    assert await ids("overdue=false") == {plain.id, grave.id, dizzy.id}
    assert (await client.get("/api/v1/queue?priority=P9", headers=headers)).status_code == 400
    assert (await client.get("/api/v1/queue?state=lost", headers=headers)).status_code == 400


async def test_queue_counts_on_request(client: AsyncTestClient, registry: Tokens) -> None:
    await new_case(client, registry)
    await new_case(client, registry, report(reactions=[reaction(seriousness=serious(hospitalisation=True))]))
    headers = registry.headers(PV_STAFF)
    assert "counts" not in (await client.get("/api/v1/queue", headers=headers)).json() or (
        (await client.get("/api/v1/queue", headers=headers)).json()["counts"] is None
    )
    counts = (await client.get("/api/v1/queue?counts=true", headers=headers)).json()["counts"]
    assert counts == {"state": {"received": 2}, "priority": {"P3": 1, "P5": 1}}


async def test_queue_pages_never_repeat_nor_skip_while_cases_arrive(client: AsyncTestClient, registry: Tokens) -> None:
    originals = [await new_case(client, registry) for _ in range(7)]
    headers = registry.headers(PV_STAFF)
    seen: list[int] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/api/v1/queue?{query}", headers=headers)).json()
        seen += [i["id"] for i in page["items"]]
        await new_case(client, registry)  # a newcomer lands behind the cursor (same priority, later due date)
        await new_case(client, registry, report(reactions=[reaction(outcome="fatal")]))  # one ahead of it
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert {c.id for c in originals} <= set(seen)


async def test_queue_line_listing_as_csv(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    response = await client.get("/api/v1/queue?format=csv", headers=registry.headers(PV_STAFF))
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["case_number", "received", "age", "sex", "product", "dose", "reaction_codes", "onset",
                       "outcome", "seriousness", "causality", "state"]  # fmt: skip
    line = dict(zip(rows[0], rows[1], strict=True))
    assert line["case_number"] == case.body["case_number"]
    assert (line["age"], line["sex"], line["product"]) == ("53", "F", "OIL-T10")
    assert line["dose"] == "THC 5 mg/d; CBD 0.25 mg/d"
    assert (line["reaction_codes"], line["onset"], line["state"]) == ("somnolence", "2023-06-01", "received")


@pytest.mark.parametrize("rpps", [PRESCRIBER, PHARMACIST, ADMIN])
async def test_queue_is_for_pv_staff_only(client: AsyncTestClient, registry: Tokens, rpps: str) -> None:
    assert (await client.get("/api/v1/queue", headers=registry.headers(rpps))).status_code == 403


BEYOND_64_BITS = 2**63


@pytest.mark.parametrize(
    "path", ["/api/v1/reports/{id}", "/api/v1/reports/{id}/audit", "/api/v1/reports/{id}/versions/1"]
)
async def test_an_id_no_case_can_have_is_404(client: AsyncTestClient, registry: Tokens, path: str) -> None:
    response = await client.get(path.format(id=BEYOND_64_BITS), headers=registry.headers(PV_STAFF))
    assert response.status_code == 404, response.text


async def test_actions_and_follow_ups_on_an_id_no_case_can_have_are_404(
    client: AsyncTestClient, registry: Tokens
) -> None:
    headers = {**registry.headers(PV_STAFF), "If-Match": '"1.1"'}
    action = await client.post(f"{REPORTS}/{BEYOND_64_BITS}/actions", json={"action": "start"}, headers=headers)
    assert action.status_code == 404, action.text
    follow_up = await client.post(f"{REPORTS}/{BEYOND_64_BITS}/follow-ups", json=report(), headers=headers)
    assert follow_up.status_code == 404, follow_up.text


async def test_a_master_beyond_64_bits_is_a_malformed_action(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    response = await case.act("mark_duplicate", master=BEYOND_64_BITS)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("path", ["/api/v1/queue", "/api/v1/reports", "/api/v1/anomalies"])
async def test_a_cursor_holding_a_number_beyond_64_bits_is_400(
    client: AsyncTestClient, registry: Tokens, path: str
) -> None:
    cursor = base64.urlsafe_b64encode(f"[{BEYOND_64_BITS}]".encode()).decode().rstrip("=")
    queue_cursor = base64.urlsafe_b64encode(
        f'["P1","2026-01-01T00:00:00+00:00","2026-01-01T00:00:00+00:00",{BEYOND_64_BITS}]'.encode()
    )
    chosen = queue_cursor.decode().rstrip("=") if path.endswith("queue") else cursor
    response = await client.get(path, params={"cursor": chosen}, headers=registry.headers(PV_STAFF))
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "cursor"


async def test_coding_a_reaction_looks_for_duplicates_again(client: AsyncTestClient, registry: Tokens) -> None:
    first = await new_case(client, registry, report(reactions=[reaction(text="malaise", code="dizziness")]))
    second = await new_case(client, registry, report(reactions=[reaction(text="tête qui tourne", code=None)]))
    assert second.body["possible_duplicates"] == []
    await second.must("start")
    coded = await second.must("code", reaction=0, code="dizziness")
    assert coded["possible_duplicates"] == [{"id": first.id, "case_number": first.body["case_number"]}]
    detail = await client.get(f"{REPORTS}/{first.id}", headers=registry.headers(PV_STAFF))
    assert detail.json()["possible_duplicates"] == [{"id": second.id, "case_number": second.body["case_number"]}]


async def test_the_audit_writes_instants_in_utc_with_z(client: AsyncTestClient, registry: Tokens) -> None:
    case = await new_case(client, registry)
    await case.must("start")
    await case.must("forward", destination="crpv")
    trail = await client.get(f"{REPORTS}/{case.id}/audit", headers=registry.headers(PV_STAFF))
    forwarded = next(item for item in trail.json()["items"] if item["action"] == "case.forward")
    assert forwarded["after"]["forwarded_at"].endswith("Z"), forwarded


async def test_coding_a_reaction_to_the_code_it_has_still_audits_that_code(
    client: AsyncTestClient, registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await case.must("start")
    await case.must("code", reaction=0, code="somnolence")  # the reporter's own coding, confirmed
    await case.must("code", reaction=0, code="dry_mouth")
    trail = await client.get(f"{REPORTS}/{case.id}/audit", headers=registry.headers(PV_STAFF))
    codes = [item for item in trail.json()["items"] if item["action"] == "case.code"]
    assert [(c["before"], c["after"]) for c in codes] == [
        ({"reactions[0].code": "somnolence"}, {"reactions[0].code": "somnolence"}),
        ({"reactions[0].code": "somnolence"}, {"reactions[0].code": "dry_mouth"}),
    ]
