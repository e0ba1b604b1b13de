"""dev/local_server.py on the real server (`python -m dev.serve`, as `make run`
starts it): the gateway's refusals in the API's error shape, HEAD without a
body, keep-alive, chunked request bodies, and Ctrl-C stopping everything."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import local_api
import pytest
from local_api import LocalApi

from dev.local_server import ERROR_TYPES, gateway_refusal
from infra.build import GATEWAY_RESPONSES


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    running = local_api.start()
    yield running
    left = local_api.stop(running)
    assert not left, f"dev.serve left processes behind: {left}"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.port), timeout=5).close()
    with socket.socket() as s:  # the port is free for the next `make run` (TIME_WAIT aside)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", running.port))


def _error(response: object, raw: bytes, status: int, code: str) -> dict[str, str]:
    assert response.status == status, raw  # type: ignore[attr-defined]
    assert response.getheader("Content-Type") == "application/json"  # type: ignore[attr-defined]
    assert response.getheader("X-Correlation-Id")  # type: ignore[attr-defined]
    body = json.loads(raw)
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


def test_no_credentials_is_401_unauthenticated_in_the_error_shape(api: LocalApi) -> None:
    msisdn = api.ids["subscribers"][0]
    conn = api.connection()
    conn.request("GET", f"/v1/subscribers/{msisdn}/points")
    response = conn.getresponse()
    _error(response, response.read(), 401, "UNAUTHENTICATED")
    # the caller's correlation id comes back, as on every other response
    conn.request("GET", f"/v1/subscribers/{msisdn}/points", headers={"X-Correlation-Id": "corr-401"})
    response = conn.getresponse()
    _error(response, response.read(), 401, "UNAUTHENTICATED")
    assert response.getheader("X-Correlation-Id") == "corr-401"
    conn.close()


def test_a_bad_token_is_still_the_apps_401(api: LocalApi) -> None:
    msisdn = api.ids["subscribers"][0]
    conn = api.connection()
    conn.request("GET", f"/v1/subscribers/{msisdn}/points", headers={"Authorization": "Bearer not-a-jwt"})
    response = conn.getresponse()
    assert _error(response, response.read(), 401, "UNAUTHENTICATED")["message"] == "Invalid token."
    conn.close()


def test_the_same_call_with_a_token_is_answered(api: LocalApi) -> None:
    msisdn = api.ids["subscribers"][0]
    headers = {"Authorization": f"Bearer {api.token('subscriber', msisdn)}"}
    status, body = api.call("GET", f"/v1/subscribers/{msisdn}/points", headers)
    assert status == 200 and body["msisdn"] == msisdn


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer x"}], ids=["no-token", "token"])
def test_an_unknown_route_is_404_not_found_as_api_gateway_answers_it(api: LocalApi, headers: dict[str, str]) -> None:
    conn = api.connection()
    conn.request("GET", "/v1/no-such-route", headers=headers)
    response = conn.getresponse()
    _error(response, response.read(), 404, "NOT_FOUND")
    conn.close()


def test_every_gateway_refusal_uses_infras_status_and_code() -> None:
    from chalice.local import ForbiddenError, InvalidAuthorizerError, NotAuthorizedError

    for error, kind in (
        (NotAuthorizedError({}), "UNAUTHORIZED"),
        (ForbiddenError({"x-amzn-ErrorType": "AccessDeniedException"}), "ACCESS_DENIED"),
        (ForbiddenError({"x-amzn-ErrorType": "UnauthorizedException"}), "MISSING_AUTHENTICATION_TOKEN"),
        (InvalidAuthorizerError({}), "DEFAULT_5XX"),
    ):
        got_kind, status, code, message = gateway_refusal(error)
        want_status, want_code = GATEWAY_RESPONSES[kind]
        assert (got_kind, code) == (kind, want_code) and message
        assert status == (want_status if want_status is not None else error.CODE)
    assert set(ERROR_TYPES) <= set(GATEWAY_RESPONSES)


def test_head_then_get_on_one_connection(api: LocalApi) -> None:
    conn = api.connection()
    conn.request("HEAD", "/v1/health")
    head = conn.getresponse()
    assert head.read() == b""
    assert head.status < 500
    assert head.getheader("Content-Type") == "application/json"
    assert head.getheader("X-Correlation-Id")
    sock = conn.sock
    assert sock is not None, "the server closed the connection after HEAD"
    conn.request("GET", "/v1/health")
    get = conn.getresponse()
    assert (get.status, json.loads(get.read())) == (200, {"status": "ok"})
    assert conn.sock is sock, "the GET went on a new connection"
    conn.close()


def _pipelined(api: LocalApi, first: str) -> bytes:
    """`first` then a GET of /v1/health in one write on one socket, the server's
    bytes until it closes (the GET asks it to); deterministic, unlike reading
    HEAD with http.client, whose buffer may swallow a stray body."""
    requests = (
        f"{first}\r\nHost: 127.0.0.1\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    chunks = []
    with socket.create_connection(("127.0.0.1", api.port), timeout=30) as sock:
        sock.sendall(requests.encode())
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("path", ["/v1/health", "/v1/no-such-route", "/v1/subscribers/84961234567/points"])
def test_head_writes_no_body_before_the_next_response(api: LocalApi, path: str) -> None:
    received = _pipelined(api, f"HEAD {path} HTTP/1.1")
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), received
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n"), f"bytes after HEAD's headers: {rest[:120]!r}"
    assert rest.endswith(b'{"status":"ok"}')


def test_head_of_a_refusal_has_no_body_either(api: LocalApi) -> None:
    conn = api.connection()
    conn.request("HEAD", "/v1/no-such-route")
    head = conn.getresponse()
    assert (head.status, head.read()) == (404, b"")
    assert int(head.getheader("Content-Length")) > 0  # the length of the body a GET gets
    sock = conn.sock
    conn.request("GET", "/v1/health")
    get = conn.getresponse()
    assert (get.status, json.loads(get.read())) == (200, {"status": "ok"})
    assert conn.sock is sock
    conn.close()


def test_one_connection_carries_many_requests(api: LocalApi) -> None:
    msisdn = api.ids["subscribers"][0]
    headers = {"Authorization": f"Bearer {api.token('subscriber', msisdn)}"}
    conn = api.connection()
    conn.connect()
    sock = conn.sock
    for path in ("/v1/health", f"/v1/subscribers/{msisdn}/points", f"/v1/subscribers/{msisdn}/ledger") * 5:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        assert response.status == 200, response.read()
        json.loads(response.read())
    assert conn.sock is sock
    conn.close()


def test_a_chunked_request_body_is_read_whole(api: LocalApi) -> None:
    msisdn = api.ids["subscribers"][1]
    event = {
        "event_id": "chunked-1",
        "msisdn": msisdn,
        "amount_vnd": 100_000,
        "service": "data",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    data = json.dumps(event).encode()
    conn = api.connection()
    headers = {"Authorization": f"Bearer {api.token('operator', 'test-crm')}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/spend-events", body=iter([data[:10], data[10:]]), headers=headers, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 201, response.read()
    assert json.loads(response.read())["event_id"] == "chunked-1"
    sock = conn.sock
    conn.request("GET", "/v1/health")
    assert conn.getresponse().status == 200
    assert conn.sock is sock
    conn.close()


# -- households: the demo household `make run` seeds -----------------------------


def test_the_demo_household_is_served_with_its_pool(api: LocalApi) -> None:
    owner, member = api.ids["subscribers"][:2]
    token = api.token("subscriber", member)
    status, body = api.call("GET", f"/v1/households/{api.ids['household_id']}", {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    assert body["owner"] == owner and {m["msisdn"] for m in body["members"]} == {owner, member}
    assert body["pool_balance"] > 0 and all(m["contributed_points"] > 0 for m in body["members"])
    status, shown = api.call("GET", f"/v1/subscribers/{member}/points", {"Authorization": f"Bearer {token}"})
    assert status == 200 and shown["household"]["can_spend"] is True, shown
    assert f"/v1/households/{api.ids['household_id']}" in api.log()
