"""End to end, what ``make run`` does: ``pv-service demo`` serves generated data and prints working tokens."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
from demo_server import ROLES, free_port, running_demo

PV_SERVICE = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pv-service")
TOKEN_RE = re.compile(r"^pvt_[A-Za-z0-9_-]{43}$")


def test_demo_serves_generated_registry_and_prints_working_tokens(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PV_DATA_DIR"] = str(tmp_path / "data")
    with running_demo(PV_SERVICE, port=port, env=env, log=tmp_path / "demo.stderr") as demo:
        tokens = demo.tokens
        assert set(tokens) == set(ROLES)
        assert all(TOKEN_RE.match(token) for token in tokens.values()), tokens
        assert len(set(tokens.values())) == len(ROLES)
        assert demo.base_url == f"http://127.0.0.1:{port}"
        assert demo.sign_in_url == f"http://127.0.0.1:{port}/login"

        with httpx.Client(base_url=demo.base_url, timeout=10.0) as client:
            health = demo.wait_until_healthy(client)
            assert health.status_code == 200, health.text
            assert health.json() == {"status": "ok", "database": "ok", "scheduler": "running"}

            def patients(token: str) -> httpx.Response:
                return client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})

            mine = patients(tokens["prescriber"])
            assert mine.status_code == 200, mine.text
            assert isinstance(mine.json()["items"], list) and mine.json()["items"], mine.text

            staff = patients(tokens["pv_staff"])
            assert staff.status_code == 200, staff.text
            assert staff.json()["items"], staff.text

            made_up = patients("pvt_" + "A" * 43)
            assert made_up.status_code == 401, made_up.text

            # PV staff open a queue, anomalies and digests with something in them.
            staff_headers = {"Authorization": f"Bearer {tokens['pv_staff']}"}
            queue = client.get("/api/v1/queue", params={"counts": "true"}, headers=staff_headers).json()
            assert queue["items"] and queue["counts"]["state"].get("received"), queue["counts"]
            every = client.get(
                "/api/v1/queue",
                params={"state": ["received", "in_triage", "assessed", "awaiting_follow_up", "duplicate", "closed",
                                  "nullified"], "counts": "true", "limit": 1},
                headers=staff_headers,
            ).json()  # fmt: skip
            assert set(every["counts"]["state"]) == {
                "received", "in_triage", "assessed", "awaiting_follow_up", "duplicate", "closed", "nullified"
            }  # fmt: skip
            anomalies = client.get("/api/v1/anomalies", params={"limit": 500}, headers=staff_headers).json()
            assert any(item["cases"] for item in anomalies["items"]), "no finding concerns a case"
            digests = client.get("/api/v1/digests", headers=staff_headers).json()["items"]
            assert len(digests) >= 4, digests
            mine = client.get("/api/v1/reports", headers={"Authorization": f"Bearer {tokens['prescriber']}"})
            assert mine.status_code == 200 and mine.json()["items"], mine.text
