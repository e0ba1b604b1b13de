"""Run each kind of diem handler from an unzipped lean package, as Lambda would.

    python -S -I infra/lambda_smoke.py <task dir> <layer python dir> <runtime dir>

Run by `infra.package.verify` in an interpreter without site-packages: the only
importable code is the function zip, the layer and the runtime's packages. DynamoDB
is unreachable on purpose: each handler still imports everything its path needs
before the first call fails. Prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

ACCOUNT = "123456789012"
REGION = "ap-southeast-1"


class Context:
    """The attributes of the Lambda context object the handlers may read."""

    function_name = "diem-verify"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:diem-verify"
    memory_limit_in_mb = 512
    aws_request_id = "verify-request"
    log_group_name = "/aws/lambda/diem-verify"
    log_stream_name = "verify"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def http(app: Any, method: str, path: str, resource: str, **kw: Any) -> int:
    """Status code of one API Gateway proxy event through the Chalice handler."""
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "body": kw.get("body"),
        "headers": {"Content-Type": "application/json", **kw.get("headers", {})},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": kw.get("params"),
        "stageVariables": None,
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "requestId": "verify", "path": path},
    }
    return int(app.app(event, Context())["statusCode"])


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:spend-events",
        "awsRegion": REGION,
    }


def unchecked_bytecode_missing(roots: tuple[str, ...]) -> list[str]:
    """Modules loaded from `roots` without shipped bytecode of this Python that is
    hash-based and unchecked (pyc flags == 1)."""
    import importlib.util

    missing = []
    for name, module in list(sys.modules.items()):
        cached = getattr(module, "__cached__", None)
        if not cached or not (module.__file__ or "").startswith(roots):
            continue
        try:
            with open(cached, "rb") as f:
                header = f.read(8)
        except OSError:
            header = b""
        if header[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(header[4:8], "little") != 1:
            missing.append(name)
    return sorted(missing)


def main() -> None:
    function_dir, layer_dir, runtime_dir = sys.argv[1:4]
    sys.path[:0] = [function_dir, layer_dir, runtime_dir]
    sys.dont_write_bytecode = True

    import jwt
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
    from cryptography.hazmat.primitives.asymmetric import rsa

    import app

    checks: dict[str, Any] = {}
    checks["health"] = http(app, "GET", "/v1/health", "/v1/health")
    checks["openapi"] = http(app, "GET", "/v1/openapi.json", "/v1/openapi.json")

    claims = {"sub": "crm-1", "role": "operator", "iat": int(time.time()), "exp": int(time.time()) + 60}
    token = jwt.encode(claims, os.environ["DIEM_JWT_SECRET"], algorithm="HS256")
    method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:x/api/GET/v1/health"
    verdict = app.bearer({"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": method_arn}, Context())
    checks["authorizer"] = verdict["principalId"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    checks["rs256"] = jwt.decode(
        jwt.encode({"sub": "x"}, key, algorithm="RS256"), key.public_key(), algorithms=["RS256"]
    )["sub"]

    msisdn = "84961234567"
    checks["points"] = http(
        app,
        "GET",
        f"/v1/subscribers/{msisdn}/points",
        "/v1/subscribers/{msisdn}/points",
        params={"msisdn": msisdn},
        headers={"Authorization": f"Bearer {token}"},
    )

    event = {"event_id": "e1", "msisdn": msisdn, "amount_vnd": 1000, "service": "mobile"}
    good = sqs_record("m2", json.dumps({**event, "occurred_at": "2026-01-01T00:00:00Z"}))
    try:
        app.spend_events_consumer({"Records": [sqs_record("m1", "not json"), good]}, Context())
        checks["consumer"] = []
    except BatchProcessingError as exc:  # both fail (bad JSON; no database): the batch is retried whole
        if any(issubclass(kind, ImportError) for kind, _, _ in exc.child_exceptions):
            raise
        checks["consumer"] = sorted({kind.__name__ for kind, _, _ in exc.child_exceptions})

    # the jobs queue's worker: a task it cannot read fails alone (here: the whole batch, so Powertools raises)
    task = json.dumps({"job": "expire_points", "partition": "2026-01-01#0", "run": "r", "at": "2026-01-01T00:05:00Z"})
    try:
        app.job_worker({"Records": [sqs_record("j1", "not a task"), sqs_record("j2", task)]}, Context())
        checks["job_worker"] = []
    except BatchProcessingError as exc:  # j1 is no task; j2 cannot reach its database
        if any(issubclass(kind, ImportError) for kind, _, _ in exc.child_exceptions):
            raise
        checks["job_worker"] = sorted({kind.__name__ for kind, _, _ in exc.child_exceptions})

    scheduled = {"id": "e", "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT}
    scheduled |= {"time": "2026-01-01T00:05:00Z", "region": REGION, "resources": [], "detail": {}, "version": "0"}
    try:
        app.expire_points(scheduled, Context())
        checks["job"] = "ran"
    except ImportError:
        raise
    except Exception as exc:  # the database is unreachable
        checks["job"] = type(exc).__name__

    # the events function: a change-stream record of a table of another stage (nothing to derive)
    # goes through Chalice's DynamoDB event and Powertools' stream batch processor
    stream = {
        "eventID": "1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/elsewhere-ledger/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1767225600,
            "Keys": {"owner_id": {"S": "o"}, "entry_id": {"S": "e"}},
            "NewImage": {"owner_id": {"S": "o"}, "entry_id": {"S": "e"}},
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    checks["events"] = app.events({"Records": [stream]}, Context())
    # the deliveries consumer refuses a message that is none of its kinds; signing ships
    try:
        app.deliveries_consumer({"Records": [sqs_record("d1", '{"kind": "none"}')]}, Context())
        checks["deliveries"] = []
    except BatchProcessingError as exc:
        if any(issubclass(kind, ImportError) for kind, _, _ in exc.child_exceptions):
            raise
        checks["deliveries"] = sorted({kind.__name__ for kind, _, _ in exc.child_exceptions})
    from chalicelib.webhooks import signing

    checks["signature"] = signing.signature("evt_1", 1767225600, "{}", ["whsec_" + "A" * 43 + "="])[:3]

    allowed = (function_dir, layer_dir, runtime_dir, sys.base_prefix)
    checks["outside"] = sorted(
        name
        for name, module in list(sys.modules.items())
        if name != "__main__" and getattr(module, "__file__", None) and not module.__file__.startswith(allowed)
    )
    checks["without_bytecode"] = unchecked_bytecode_missing((function_dir, layer_dir))
    print(json.dumps(checks))


if __name__ == "__main__":
    main()
