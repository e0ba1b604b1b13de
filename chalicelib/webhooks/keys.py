"""Webhook signing secrets: `whsec_` + base64 of 32 random bytes (CSPRNG),
shown once; stored sealed so they can still sign. In AWS a KMS key seals
them (`DIEM_WEBHOOK_KMS_KEY_ID`, bound to the endpoint by an encryption
context); elsewhere they are kept plain, which Lambda refuses."""

from __future__ import annotations

import base64
import secrets
from typing import Any, Protocol

from chalicelib import config
from chalicelib.webhooks import aws

PREFIX = "whsec_"
SECRET_BYTES = 32
_PLAIN, _KMS = "plain:", "kms:"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class Sealer(Protocol):
    def seal(self, secret: str, webhook_id: str) -> str: ...

    def open(self, sealed: str, webhook_id: str) -> str: ...


class PlainSealer:
    """Development only: the secret as it is."""

    def seal(self, secret: str, webhook_id: str) -> str:
        return _PLAIN + secret

    def open(self, sealed: str, webhook_id: str) -> str:
        if not sealed.startswith(_PLAIN):
            raise ValueError("not a plain secret")
        return sealed[len(_PLAIN) :]


class KmsSealer:
    """KMS Encrypt/Decrypt under one key, the endpoint's id as encryption context."""

    def __init__(self, key_id: str, client: Any = None) -> None:
        self.key_id = key_id
        self._client = client

    def _kms(self) -> Any:
        return self._client or aws.client("kms")

    def seal(self, secret: str, webhook_id: str) -> str:
        answer = self._kms().encrypt(
            KeyId=self.key_id, Plaintext=secret.encode(), EncryptionContext={"webhook_id": webhook_id}
        )
        return _KMS + base64.b64encode(answer["CiphertextBlob"]).decode()

    def open(self, sealed: str, webhook_id: str) -> str:
        if sealed.startswith(_PLAIN):
            return PlainSealer().open(sealed, webhook_id)
        if not sealed.startswith(_KMS):
            raise ValueError("not a sealed secret")
        answer = self._kms().decrypt(
            KeyId=self.key_id,
            CiphertextBlob=base64.b64decode(sealed[len(_KMS) :]),
            EncryptionContext={"webhook_id": webhook_id},
        )
        plaintext: bytes = answer["Plaintext"]
        return plaintext.decode()


_sealer: Sealer | None = None
_sealer_for: str | None = None


def sealer() -> Sealer:
    """KMS when a key is configured; plain outside Lambda; refused inside it."""
    global _sealer, _sealer_for
    s = config.settings()
    wanted = s.webhook_kms_key_id or ""
    if _sealer is None or _sealer_for != wanted:
        if s.webhook_kms_key_id:
            _sealer = KmsSealer(s.webhook_kms_key_id)
        elif s.in_lambda:
            raise RuntimeError("DIEM_WEBHOOK_KMS_KEY_ID must be set in Lambda: webhook secrets are sealed by KMS")
        else:
            _sealer = PlainSealer()
        _sealer_for = wanted
    return _sealer
