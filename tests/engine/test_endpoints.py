"""Running the suites on another endpoint (`DIEM_TEST_DYNAMODB_ENDPOINT`): the
clients must sign with real credentials there. Builds clients only: no request
is sent anywhere."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from chalicelib import config
from chalicelib.store import binding

pytestmark = pytest.mark.engine

SANDBOX = "https://dynamodb.ap-southeast-1.amazonaws.com"


@pytest.fixture
def sandbox_credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSANDBOXEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sandbox-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-1")
    return "AKIDSANDBOXEXAMPLE"


def _root_conftest(request: pytest.FixtureRequest) -> Any:
    """tests/conftest.py (`import conftest` here finds this folder's)."""
    root = Path(__file__).resolve().parents[1] / "conftest.py"
    for plugin in request.config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "/").resolve() == root:
            return plugin
    raise LookupError(root)


def _access_key(client: object) -> str:
    return client._request_signer._credentials.get_frozen_credentials().access_key  # type: ignore[attr-defined]


def test_the_test_clients_use_dummy_keys_on_loopback_only(
    request: pytest.FixtureRequest, sandbox_credentials: str
) -> None:
    engine_client = _root_conftest(request).engine_client
    assert _access_key(engine_client("http://127.0.0.1:8001")) == "test"
    assert _access_key(engine_client(SANDBOX)) == sandbox_credentials


def test_the_store_signs_with_the_environments_credentials_on_a_sandbox(sandbox_credentials: str) -> None:
    settings = dataclasses.replace(config.settings(), dynamodb_endpoint=SANDBOX)
    assert _access_key(binding._new_client(settings)) == sandbox_credentials
