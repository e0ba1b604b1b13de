"""Every authentication and authorisation failure mode, through the routes."""

import http.server
import json
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import config
from chalicelib.auth import authenticate_bearer, new_api_key, partner_for_key
from chalicelib.errors import Unauthenticated
from conftest import OPERATOR, auth, token

ME = "84961234567"
OTHER = "84971112233"


@pytest.fixture
def subscribers(api):
    for msisdn in (ME, OTHER):
        r = api.put(f"/v1/subscribers/{msisdn}", {"activated_on": "2021-01-01", "plan": "prepaid"}, headers=OPERATOR)
        assert r.status_code == 201
    return api


def _error(r, status, code):
    assert r.status_code == status, r.data
    assert r.data["error"]["code"] == code
    assert r.data["error"]["message"]


def test_no_token_is_401(subscribers):
    # with no Authorization header the gateway answers before any code runs;
    # in AWS infra/ maps that response to the API's error shape
    r = subscribers.get(f"/v1/subscribers/{ME}/points")
    assert r.status_code == 401


def test_empty_bearer_is_401(subscribers):
    _error(
        subscribers.get(f"/v1/subscribers/{ME}/points", headers={"Authorization": "Bearer "}), 401, "UNAUTHENTICATED"
    )


def test_not_a_bearer_header_is_401(subscribers):
    _error(
        subscribers.get(f"/v1/subscribers/{ME}/points", headers={"Authorization": "Basic abc"}), 401, "UNAUTHENTICATED"
    )


def test_expired_token_is_401(subscribers):
    now = int(time.time())
    expired = jwt.encode(
        {"sub": ME, "role": "subscriber", "iat": now - 120, "exp": now - 60},
        config.settings().jwt_secret,
        algorithm="HS256",
    )
    r = subscribers.get(f"/v1/subscribers/{ME}/points", headers={"Authorization": f"Bearer {expired}"})
    _error(r, 401, "UNAUTHENTICATED")
    assert "expired" in r.data["error"]["message"]


def test_forged_token_is_401(subscribers):
    forged = jwt.encode(
        {"sub": ME, "role": "operator", "exp": int(time.time()) + 60}, "not-the-secret-" * 3, algorithm="HS256"
    )
    _error(
        subscribers.get(f"/v1/subscribers/{ME}/points", headers={"Authorization": f"Bearer {forged}"}),
        401,
        "UNAUTHENTICATED",
    )


def test_alg_none_token_is_401(subscribers):
    unsigned = jwt.encode({"sub": ME, "role": "operator", "exp": int(time.time()) + 60}, None, algorithm="none")
    _error(
        subscribers.get(f"/v1/subscribers/{ME}/points", headers={"Authorization": f"Bearer {unsigned}"}),
        401,
        "UNAUTHENTICATED",
    )


def test_token_without_role_is_401(subscribers):
    claims = {"sub": ME, "exp": int(time.time()) + 60}
    no_role = jwt.encode(claims, config.settings().jwt_secret, algorithm="HS256")
    _error(
        subscribers.get(f"/v1/subscribers/{ME}/points", headers={"Authorization": f"Bearer {no_role}"}),
        401,
        "UNAUTHENTICATED",
    )


def test_wrong_role_is_403_and_changes_nothing(subscribers):
    before = subscribers.get(f"/v1/subscribers/{ME}/points", headers=OPERATOR).data
    r = subscribers.post(
        f"/v1/subscribers/{ME}/adjustments", {"points": 500, "reason": "gift"}, headers=auth("subscriber", ME)
    )
    _error(r, 403, "FORBIDDEN")
    r = subscribers.post(
        f"/v1/subscribers/{ME}/adjustments", {"points": 500, "reason": "gift"}, headers=auth("marketer")
    )
    _error(r, 403, "FORBIDDEN")
    assert subscribers.get(f"/v1/subscribers/{ME}/points", headers=OPERATOR).data == before


def test_another_subscribers_msisdn_is_not_found(subscribers):
    for path in ("", "/points", "/ledger"):
        _error(subscribers.get(f"/v1/subscribers/{OTHER}{path}", headers=auth("subscriber", ME)), 404, "NOT_FOUND")
    # the same caller reads its own number, in any accepted spelling
    assert subscribers.get("/v1/subscribers/0961234567/points", headers=auth("subscriber", ME)).status_code == 200


def test_marketer_cannot_read_subscriber_points(subscribers):
    _error(subscribers.get(f"/v1/subscribers/{ME}/points", headers=auth("marketer")), 403, "FORBIDDEN")


def test_unknown_partner_key_is_rejected(api):
    with pytest.raises(Unauthenticated):
        partner_for_key("dk_unknown")
    with pytest.raises(Unauthenticated):
        partner_for_key(None)
    key, digest = new_api_key()
    assert key.startswith("dk_") and len(key) > 40 and digest != key


def test_partner_key_stored_as_hash_authenticates(api):
    from chalicelib.store import ApiKey

    key, digest = new_api_key()
    ApiKey(digest, partner_id="p-1", created_at="2026-01-01T00:00:00Z").save()
    assert partner_for_key(key).subject == "p-1"
    assert all(item.key_hash != key for item in ApiKey.scan())


def test_rs256_tokens_verified_against_a_jwks_url(tmp_path, monkeypatch):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DIEM_JWT_JWKS_URL", f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json")
    config.reset()
    try:
        claims = {"sub": "crm-7", "role": "operator", "iat": int(time.time()), "exp": int(time.time()) + 60}
        good = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k1"})
        assert authenticate_bearer(f"Bearer {good}").subject == "crm-7"
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(Unauthenticated):
            authenticate_bearer(f"Bearer {jwt.encode(claims, other, algorithm='RS256', headers={'kid': 'k1'})}")
        # an HS256 token signed with the dev secret is refused once RS256 is configured
        with pytest.raises(Unauthenticated):
            authenticate_bearer(f"Bearer {token('operator', 'x')}")
    finally:
        server.shutdown()
        monkeypatch.delenv("DIEM_JWT_JWKS_URL")
        config.reset()
