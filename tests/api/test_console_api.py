"""The console's server side: how it signs people in (`GET /v1/console/config`)
and the development sign-in (`POST /v1/dev/sign-in`), which exists only in the
local dev stage: in prod, in Lambda or with a JWKS it is not found (404)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from chalicelib import config

SIGN_IN = "/v1/dev/sign-in"


def _settings(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """The deployment settings with `changes`, as a stage configured so would read them."""
    config.reset()
    real = config.settings()
    changed = dataclasses.replace(real, **changes)
    monkeypatch.setattr(config, "settings", lambda: changed)


def test_locally_the_dev_sign_in_mints_a_token_the_api_takes(api):
    options = api.get("/v1/console/config", expect=200).data
    assert options == {"stage": "dev", "dev_sign_in": True, "oidc": None}
    signed = api.post(SIGN_IN, {"role": "marketer", "subject": "alice"}, expect=201).data
    assert (signed["role"], signed["subject"]) == ("marketer", "alice")
    listed = api.get("/v1/campaigns", headers={"Authorization": f"Bearer {signed['token']}"})
    assert listed.status_code == 200, listed.data
    # a subscriber's subject is its normalised MSISDN, as `make token` makes it
    me = api.post(SIGN_IN, {"role": "subscriber", "subject": "0961234567"}, expect=201).data
    assert me["subject"] == "84961234567"


@pytest.mark.parametrize(
    "body",
    [
        {"role": "partner", "subject": "p_1"},
        {"role": "subscriber", "subject": "not-a-number"},
        {"role": "marketer", "subject": ""},
        {"role": "marketer", "subject": "alice", "ttl": 10**9},
    ],
    ids=["partner-role", "bad-msisdn", "empty-subject", "unknown-field"],
)
def test_a_bad_sign_in_is_a_400(api, body):
    r = api.post(SIGN_IN, body, expect=400)
    assert r.data["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "changes",
    [{"stage": "prod"}, {"in_lambda": True}, {"jwt_jwks_url": "https://idp.example/jwks"}, {"jwt_secret": None}],
    ids=["prod", "dev-in-lambda", "jwks", "no-hs256-secret"],
)
def test_the_dev_sign_in_is_absent_outside_local_dev(api, monkeypatch, changes):
    _settings(monkeypatch, **changes)
    r = api.post(SIGN_IN, {"role": "marketer", "subject": "alice"}, expect=404)
    assert r.data["error"]["code"] == "NOT_FOUND"
    assert "token" not in r.body.decode()
    assert api.get("/v1/console/config", expect=200).data["dev_sign_in"] is False


def test_a_deployed_stage_offers_openid_connect(api, monkeypatch):
    _settings(
        monkeypatch,
        stage="prod",
        console_oidc_authorization_url="https://idp.example/oauth2/authorize",
        console_oidc_token_url="https://idp.example/oauth2/token",
        console_oidc_client_id="console-client",
        console_oidc_scope="openid profile",
        console_oidc_bearer="access_token",
    )
    assert api.get("/v1/console/config", expect=200).data == {
        "stage": "prod",
        "dev_sign_in": False,
        "oidc": {
            "authorization_url": "https://idp.example/oauth2/authorize",
            "token_url": "https://idp.example/oauth2/token",
            "client_id": "console-client",
            "scope": "openid profile",
            "bearer": "access_token",
        },
    }


def test_the_console_settings_are_read_from_the_environment(monkeypatch):
    oidc = [f"DIEM_CONSOLE_OIDC_{n}" for n in ("AUTHORIZATION_URL", "TOKEN_URL", "CLIENT_ID", "SCOPE", "BEARER")]
    for name in oidc:  # whatever the shell running the tests has set
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "DIEM_CONSOLE_OIDC_AUTHORIZATION_URL": "https://idp.example/authorize",
        "DIEM_CONSOLE_OIDC_TOKEN_URL": "https://idp.example/token",
        "DIEM_CONSOLE_OIDC_CLIENT_ID": "abc",
    }.items():
        monkeypatch.setenv(name, value)
    config.reset()
    try:
        s = config.settings()
        assert s.console_oidc and (s.console_oidc_scope, s.console_oidc_bearer) == ("openid", "id_token")
        for name in oidc:
            monkeypatch.delenv(name, raising=False)
        config.reset()
        assert not config.settings().console_oidc
    finally:
        monkeypatch.undo()
        config.reset()
