"""Webhook secrets: whsec_ + base64 of 32 CSPRNG bytes, sealed at rest by KMS
in AWS (moto's KMS here, in-process), bound to their endpoint."""

from __future__ import annotations

import base64

import boto3
import pytest
from moto import mock_aws

from chalicelib import config
from chalicelib.webhooks import keys


def test_a_new_secret_is_32_random_bytes():
    made = {keys.new_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32


def test_kms_seals_a_secret_for_its_endpoint_only():
    with mock_aws():
        kms = boto3.client("kms", region_name="ap-southeast-1")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        sealer = keys.KmsSealer(key_id, client=kms)
        secret = keys.new_secret()
        sealed = sealer.seal(secret, "wh_1")
        assert sealed.startswith("kms:") and secret not in sealed
        assert sealer.open(sealed, "wh_1") == secret
        with pytest.raises(Exception, match=r"InvalidCiphertext|AccessDenied"):
            sealer.open(sealed, "wh_2")  # another endpoint's context


def test_lambda_refuses_plain_secrets(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "diem-dev")
    monkeypatch.delenv("DIEM_WEBHOOK_KMS_KEY_ID", raising=False)
    config.reset()
    monkeypatch.setattr(keys, "_sealer", None)
    try:
        with pytest.raises(RuntimeError, match="DIEM_WEBHOOK_KMS_KEY_ID"):
            keys.sealer()
        monkeypatch.setenv("DIEM_WEBHOOK_KMS_KEY_ID", "alias/diem-dev-webhook-secrets")
        config.reset()
        assert isinstance(keys.sealer(), keys.KmsSealer)
        assert config.settings().webhooks_allow_local is False  # never local endpoints inside Lambda
    finally:
        monkeypatch.undo()
        config.reset()
        keys._sealer = None
