"""``pv-service run`` against slow, oversized and odd clients, over real sockets (SPEC §15: the server times out
slow clients and bounds its connections; no body, number or encoding gives a 500).

One service, with short timeouts, serves every test but the connection-limit one, which starts its own.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from report_bodies import report
from service_process import ServiceProcess, cli, service_env, set_up_registry

HEADER_TIMEOUT, BODY_TIMEOUT, IDLE_TIMEOUT = 3, 3, 1
MAX_BODY_BYTES = 64 * 1024
# A generous deadline for a timeout to act or a request to be answered: liveness, not speed.
MARGIN = 10.0
# Timers never fire early; this allows for the clock reads on either side.
EARLY = 0.2
SLOW_CLIENTS = 300
REPORTS = "/api/v1/reports"
HEALTH_REQUEST = b"GET /health HTTP/1.1\r\nHost: pv\r\n\r\n"


@dataclass(frozen=True)
class Service:
    process: ServiceProcess
    tokens: dict[str, str]
    database: Path

    @property
    def port(self) -> int:
        return self.process.port

    def headers(self, role: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    def cases(self) -> int:
        with sqlite3.connect(self.database) as connection:
            (count,) = connection.execute("SELECT count(*) FROM cases").fetchone()
        return int(count)

    def log(self) -> str:
        return self.process.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("server-limits")
    env = service_env(
        folder / "data",
        HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        IDLE_TIMEOUT_SECONDS=str(IDLE_TIMEOUT),
        MAX_BODY_BYTES=str(MAX_BODY_BYTES),
    )
    tokens = set_up_registry(env, folder)
    process = ServiceProcess(env, folder / "service.log").start()
    try:
        yield Service(process, tokens, folder / "data" / "pv_service.db")
    finally:
        process.stop()
    log = folder.joinpath("service.log").read_text(errors="replace")
    assert '" 500 ' not in log and "Traceback" not in log, log[-3000:]


def test_pv_service_run_is_the_services_own_command_not_litestars(tmp_path: Path) -> None:
    shown = cli(service_env(tmp_path), "run", "--help")
    assert "connection limit and client timeouts" in shown
    for option in ("--host", "--port", "--uds", "--fd", "--ssl-certfile", "--ssl-keyfile"):
        assert option in shown, option
    assert "--reload" not in shown  # Litestar's own ``run`` has it


# --- raw clients -------------------------------------------------------------------------------------


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_until_closed(reader: asyncio.StreamReader, seconds: float = MARGIN) -> bytes:
    """Everything the server sends until it closes the connection (EOF or reset); fails after ``seconds``."""
    received = b""
    async with asyncio.timeout(seconds):
        try:
            while chunk := await reader.read(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response with a Content-Length, leaving the connection open: its status and body."""
    async with asyncio.timeout(MARGIN):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        return int(head.split(b" ", 2)[1]), await reader.readexactly(length)


async def send(writer: asyncio.StreamWriter, data: bytes) -> bool:
    """Whether ``data`` went out (False once the server has closed the connection)."""
    try:
        writer.write(data)
        await writer.drain()
    except ConnectionError:
        return False
    return True


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


@dataclass
class SlowClient:
    """One client of the crowd: what it did, when it stopped sending, when the server closed on it."""

    kind: str
    opened: float = 0.0
    last_sent: float = 0.0
    closed: float = 0.0
    response: bytes = b""

    async def run(self, service: Service, started: asyncio.Event) -> None:
        # Times are read before the act: the server's timer starts no earlier, whatever this loop's delays.
        self.opened = self.last_sent = time.monotonic()
        reader, writer = await connect(service.port)
        closing = asyncio.create_task(read_until_closed(reader, max(HEADER_TIMEOUT, BODY_TIMEOUT) + 2 * MARGIN))
        trickle = asyncio.create_task(self.trickle(service, writer, started))
        self.response = await closing
        self.closed = time.monotonic()
        trickle.cancel()
        writer.close()

    async def trickle(self, service: Service, writer: asyncio.StreamWriter, started: asyncio.Event) -> None:
        token = service.tokens["prescriber"].encode()
        if self.kind == "silent":  # connects and never sends a byte
            started.set()
            return
        if self.kind == "slow head":  # a byte of its head every half second, for ever
            head = b"GET /health HTTP/1.1\r\nHost: pv\r\nX-Slow: " + b"s" * 10_000
            await send(writer, head[:10])
            started.set()
            for byte in head[10:]:
                await asyncio.sleep(0.5)
                if not await send(writer, bytes([byte])):
                    return
            return
        # A complete head announcing a body, then a few bytes of it half a second apart, then silence: read by
        # the service (a signed-in report), or answered 401 before it is read (no token).
        authorization = b"Authorization: Bearer " + token + b"\r\n" if self.kind == "stalled body" else b""
        head = (
            b"POST /api/v1/reports HTTP/1.1\r\nHost: pv\r\nContent-Type: application/json\r\n"
            + authorization
            + b"Content-Length: 1000\r\n\r\n"
        )
        await send(writer, head)
        started.set()
        for piece in (b'{"pa', b"tie", b'nt"'):
            await asyncio.sleep(0.5)
            sending = time.monotonic()
            if not await send(writer, piece):
                return
            self.last_sent = sending


async def health_status(process: ServiceProcess) -> int:
    """``/health``'s status, answered within 5 s on a connection of its own."""
    async with httpx.AsyncClient(base_url=process.base_url, timeout=5) as client:
        response = await client.get("/health")
    return response.status_code


# --- slow clients --------------------------------------------------------------------------------------


@pytest.mark.reliability
async def test_health_answers_while_300_slow_clients_hold_connections_and_each_is_closed_at_its_timeout(
    service: Service,
) -> None:
    kinds = ("silent", "slow head", "stalled body", "answered body")
    clients = [SlowClient(kinds[number % len(kinds)]) for number in range(SLOW_CLIENTS)]
    started = [asyncio.Event() for _ in clients]
    crowd = [asyncio.create_task(client.run(service, event)) for client, event in zip(clients, started, strict=True)]
    async with asyncio.timeout(MARGIN):
        await asyncio.gather(*(event.wait() for event in started))

    held_during_checks = []
    for _ in range(5):
        assert await health_status(service.process) == 200
        held_during_checks.append(sum(not client.closed for client in clients))
    await asyncio.gather(*crowd)

    # Every slow client was still connected while /health answered its first time.
    assert held_during_checks[0] == SLOW_CLIENTS, held_during_checks
    for client in clients:
        if client.kind in ("silent", "slow head"):
            # No answer (h11 cannot answer a head it has not parsed); the trickle did not extend the deadline.
            assert client.response == b"", (client.kind, client.response[:200])
            assert HEADER_TIMEOUT - EARLY <= client.closed - client.opened <= HEADER_TIMEOUT + MARGIN, client
        elif client.kind == "stalled body":
            assert status_of(client.response) == 408, client.response[:300]
            assert b"content-type: application/problem+json" in client.response.lower()
            assert BODY_TIMEOUT - EARLY <= client.closed - client.last_sent <= BODY_TIMEOUT + MARGIN, client
        else:
            # Answered at once; the rest of the body it did not read may pause only as long as an idle connection.
            assert status_of(client.response) == 401, client.response[:300]
            assert IDLE_TIMEOUT - EARLY <= client.closed - client.last_sent <= IDLE_TIMEOUT + MARGIN, client
    assert await health_status(service.process) == 200


async def test_a_stalled_body_is_answered_408_problem_json_in_the_request_language_and_nothing_is_written(
    service: Service,
) -> None:
    before = service.cases()
    body = json.dumps(report()).encode()
    reader, writer = await connect(service.port)
    head = (
        f"POST {REPORTS} HTTP/1.1\r\nHost: pv\r\nAuthorization: Bearer {service.tokens['prescriber']}\r\n"
        f"Content-Type: application/json\r\nAccept-Language: fr\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    await send(writer, head + body[: len(body) // 2])
    response = await read_until_closed(reader, BODY_TIMEOUT + MARGIN)
    writer.close()
    _, _, document = response.partition(b"\r\n\r\n")
    assert status_of(response) == 408, response[:300]
    assert json.loads(document)["detail"] == (
        f"Aucune partie du corps de la requête n'est arrivée depuis {BODY_TIMEOUT} secondes."
    )
    assert b"connection: close" in response.lower()
    assert service.cases() == before


async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(service: Service) -> None:
    reader, writer = await connect(service.port)
    await send(writer, HEALTH_REQUEST)
    assert (await read_response(reader))[0] == 200
    answered = time.monotonic()
    assert await read_until_closed(reader) == b""
    assert IDLE_TIMEOUT - EARLY <= time.monotonic() - answered <= IDLE_TIMEOUT + MARGIN
    writer.close()


async def test_a_next_request_on_a_kept_alive_connection_must_complete_its_head_within_the_header_timeout(
    service: Service,
) -> None:
    reader, writer = await connect(service.port)
    await send(writer, HEALTH_REQUEST)
    assert (await read_response(reader))[0] == 200
    # Bytes of a next head, closer together than the idle timeout: only the head's own deadline ends it.
    first_byte = time.monotonic()
    for byte in b"GET /health HTTP/1.1\r\nX-Slow: " + b"s" * 100:
        if not await send(writer, bytes([byte])):
            break
        await asyncio.sleep(IDLE_TIMEOUT / 3)
        if reader.at_eof():
            break
    assert await read_until_closed(reader) == b""
    assert HEADER_TIMEOUT - EARLY <= time.monotonic() - first_byte <= HEADER_TIMEOUT + MARGIN
    writer.close()


# --- oversized bodies ----------------------------------------------------------------------------------


def oversized_report() -> Iterator[bytes]:
    """A report whose narrative alone is twice the body limit, sent in 8 KiB parts."""
    text = json.dumps(report(narrative="x" * (2 * MAX_BODY_BYTES))).encode()
    yield from (text[start : start + 8192] for start in range(0, len(text), 8192))


def test_a_body_over_the_limit_is_413_problem_json_with_or_without_content_length_and_nothing_is_written(
    service: Service,
) -> None:
    before = service.cases()
    length = sum(len(part) for part in oversized_report())
    headers = service.headers("prescriber", **{"Content-Type": "application/json"})
    with httpx.Client(base_url=service.process.base_url, timeout=MARGIN) as client:
        announced = client.post(REPORTS, content=oversized_report(), headers={**headers, "Content-Length": str(length)})
        chunked = client.post(REPORTS, content=oversized_report(), headers=headers)
        assert service.cases() == before
        written = client.post(REPORTS, json=report(), headers=headers)
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in chunked.request.headers
    for response in (announced, chunked):
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/payload-too-large")
    # The same report within the limit is written: the refusal above was the size's alone.
    assert written.status_code == 201, written.text
    assert service.cases() == before + 1


# --- deep, huge, oddly encoded ---------------------------------------------------------------------------


def report_with(path: str, literal: str) -> bytes:
    """The JSON of a valid report with the value at ``path`` written as ``literal``, verbatim."""
    body = report()
    *parents, name = path.split(".")
    where: dict[str, Any] = body
    for parent in parents:
        where = where[parent]
    where[name] = "@value@"
    return json.dumps(body).replace('"@value@"', literal).encode()


HUGE_INTEGER = "1" + "0" * 400
NUMBERS = {"1e400": 400, HUGE_INTEGER: 400, "-" + HUGE_INTEGER: 400, "-1e400": 400}


@pytest.mark.parametrize(
    ("path", "literal", "status"),
    [
        *(("patient.weight_kg", literal, status) for literal, status in NUMBERS.items()),
        *(("suspect_product.daily_thc_mg", literal, status) for literal, status in NUMBERS.items()),
        # Zero and what rounds to it: below the weight's bound, a possible THC dose.
        ("patient.weight_kg", "-0", 400),
        ("patient.weight_kg", "1e-400", 400),
        ("suspect_product.daily_thc_mg", "-0", 201),
        ("suspect_product.daily_thc_mg", "1e-400", 201),
    ],
    ids=lambda value: value[:12] if isinstance(value, str) else value,
)
def test_huge_and_vanishing_numbers_in_a_body_are_read_or_refused_never_a_500(
    service: Service, path: str, literal: str, status: int
) -> None:
    headers = service.headers("prescriber", **{"Content-Type": "application/json"})
    response = httpx.post(
        service.process.base_url + REPORTS, content=report_with(path, literal), headers=headers, timeout=MARGIN
    )
    assert response.status_code == status, response.text


@pytest.mark.parametrize("number", ["1e400", HUGE_INTEGER, "-" + HUGE_INTEGER, "-0", "1e-400", str(2**63)])
def test_huge_numbers_as_ids_are_404_and_as_query_parameters_400(service: Service, number: str) -> None:
    with httpx.Client(base_url=service.process.base_url, timeout=MARGIN) as client:
        for path in (f"{REPORTS}/{number}", f"{REPORTS}/1/versions/{number}", f"/api/v1/patients/{number}"):
            assert client.get(path, headers=service.headers("pv_staff")).status_code == 404, path
        for path in (f"/api/v1/queue?limit={number}", f"/api/v1/anomalies?since={number}", f"/api/v1/digests/{number}"):
            response = client.get(path, headers=service.headers("pv_staff"))
            assert response.status_code == 400, (path, response.text)


def test_a_deeply_nested_body_is_400_through_the_server(service: Service) -> None:
    headers = service.headers("prescriber", **{"Content-Type": "application/json"})
    response = httpx.post(
        service.process.base_url + REPORTS, content=b"[" * 3000 + b"]" * 3000, headers=headers, timeout=MARGIN
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "body"


def test_invalid_utf8_in_a_json_body_is_400(service: Service) -> None:
    body = json.dumps(report(narrative="@")).encode().replace(b"@", b"\xff\xfe\xc3(")
    headers = service.headers("prescriber", **{"Content-Type": "application/json"})
    response = httpx.post(service.process.base_url + REPORTS, content=body, headers=headers, timeout=MARGIN)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "body"


async def test_invalid_utf8_in_a_request_target_or_a_header_is_never_a_500(service: Service) -> None:
    signed_in = b"Authorization: Bearer " + service.tokens["prescriber"].encode()
    # (request line, one more header, body, status)
    requests = [
        # Raw bytes are not allowed in a request target: uvicorn refuses the request before the service sees it.
        (b"GET /api/v1/reports?patient=\xff\xfe", signed_in, b"", 400),
        # Percent-encoded, they decode to U+FFFD: a registry id no patient has (an empty list), no cursor issued.
        (b"GET /api/v1/reports?patient=%FF%FE", signed_in, b"", 200),
        (b"GET /api/v1/reports?cursor=%FF%C3%28", signed_in, b"", 400),
        (b"GET /api/v1/patients/%FF%FE", signed_in, b"", 404),
        # Headers are read as Latin-1: such a token is unknown, such a language is not one the service speaks,
        # such a session cookie opens no session (the page sends to the sign-in page).
        (b"GET /api/v1/reports", b"Authorization: Bearer \xff\xfe\xc3(", b"", 401),
        (b"GET /api/v1/reports", signed_in + b"\r\nAccept-Language: \xff\xfe", b"", 200),
        (b"GET /reports", b"Cookie: session=\xff\xfe\xc3(", b"", 303),
    ]
    for line, header, body, status in requests:
        reader, writer = await connect(service.port)
        head = line + b" HTTP/1.1\r\nHost: pv\r\nConnection: close\r\n" + header
        await send(writer, head + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        response = await read_until_closed(reader)
        writer.close()
        assert status_of(response) == status, (line, header, response[:400])


# --- the connection limit -------------------------------------------------------------------------------


async def test_requests_beyond_the_connection_limit_are_503_and_health_answers_once_connections_go(
    tmp_path: Path,
) -> None:
    limit = 20
    env = service_env(tmp_path / "data", MAX_CONNECTIONS=str(limit), HEADER_TIMEOUT_SECONDS="60")
    process = ServiceProcess(env, tmp_path / "service.log").start()
    try:
        held = [await connect(process.port) for _ in range(limit + 5)]
        reader, writer = await connect(process.port)
        await send(writer, b"GET /health HTTP/1.1\r\nHost: pv\r\nConnection: close\r\n\r\n")
        refused = await read_until_closed(reader)
        writer.close()
        for _, held_writer in held:
            held_writer.close()
            await held_writer.wait_closed()
        # The server learns of the closed connections as its loop gets to them: asked again until then.
        statuses = []
        for _ in range(int(MARGIN / 0.1)):
            statuses.append(await health_status(process))
            if statuses[-1] == 200:
                break
            await asyncio.sleep(0.1)
    finally:
        process.stop()
    assert status_of(refused) == 503, refused[:300]
    assert statuses[-1] == 200, statuses


def test_the_access_log_gives_an_identifier_or_token_in_a_path_or_query_as_its_kind(service: Service) -> None:
    email, nir, token = "jean.dupont@example.fr", "1 70 05 44 109 123 70", service.tokens["pv_staff"]
    with httpx.Client(base_url=service.process.base_url, headers=service.headers("pv_staff")) as client:
        assert client.get(f"/api/v1/patients/{email}").status_code == 404
        assert client.get("/api/v1/queue", params={"term": nir, "assignee": "06 12 34 56 78"}).status_code == 200
        assert client.get("/login", params={"token": token}).status_code == 200
    deadline = time.monotonic() + MARGIN
    while "/login?token=" not in service.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = service.log()
    assert "/api/v1/patients/[email]" in log and "term=[nir]&assignee=[phone]" in log and "token=[token]" in log
    for value in (email, nir, token, "06 12 34 56 78", quote(email), quote(nir)):
        assert value not in log
