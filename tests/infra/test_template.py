"""The deployable definition: the committed merge template is what the models
generate, the packaged SAM template passes cfn-lint, IAM is least privilege,
the queue is wired safely, the lean zip runs, and moto's CloudFormation builds
tables the app works against.

`chalice package` (and the slimming) runs once per session; the tests share it.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib import clock, config, store
from chalicelib.auth.api_keys import forget_cached_keys
from chalicelib.store import schema
from chalicelib.store.models import MODELS
from conftest import OPERATOR
from infra import build, package

pytestmark = pytest.mark.xdist_group("infra")  # one worker packages once

REGION = "ap-southeast-1"
PREFIX = "diem-dev-"


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> package.Result:
    """`python -m infra.package --stage dev` into a temporary directory."""
    return package.package("dev", tmp_path_factory.mktemp("infra") / "dev", check=False)


@pytest.fixture(scope="session")
def sam(packaged: package.Result) -> dict[str, Any]:
    return json.loads(Path(packaged.template).read_text())


@pytest.fixture(scope="session")
def committed() -> dict[str, Any]:
    return json.loads(build.TEMPLATES["dev"].read_text())


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- (a) drift ----------------------------------------------------------------------


def test_committed_files_are_what_the_models_generate() -> None:
    for path, content in build.committed_files().items():
        assert path.exists(), f"{path} is missing: run `python -m infra.build`"
        assert path.read_text() == content, f"{path} drifted from the models: run `python -m infra.build`"


# -- (b) tables -----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["committed", "sam"])
def test_each_table_is_its_model(which: str, request: pytest.FixtureRequest) -> None:
    template = request.getfixturevalue(which)
    tables = {t["Properties"]["TableName"]: t for t in of_type(template, "AWS::DynamoDB::Table").values()}
    assert len(tables) == len(MODELS)
    for model in MODELS:
        expected = schema.table_definition(model, PREFIX)
        table = tables[expected["TableName"]]
        props = table["Properties"]
        for key in ("KeySchema", "AttributeDefinitions", "BillingMode"):
            assert props[key] == expected[key], (expected["TableName"], key)
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            assert props.get(key) == expected.get(key), (expected["TableName"], key)
        ttl = schema.ttl_attribute(model)
        wanted_ttl = {"AttributeName": ttl, "Enabled": True} if ttl else None
        assert props.get("TimeToLiveSpecification") == wanted_ttl, expected["TableName"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_functions_use_the_tables_the_template_creates(sam: dict[str, Any]) -> None:
    functions = of_type(sam, "AWS::Serverless::Function")
    assert {f.logical_id for f in build.functions()} == set(functions)
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props["Environment"]["Variables"]["DIEM_TABLE_PREFIX"] == PREFIX, logical_id
        assert props["Layers"] == [{"Ref": "DepsLayer"}]
        assert props["FunctionName"].startswith("diem-dev")
        assert function["DependsOn"] == [f"{logical_id}LogGroup"]
    for table in of_type(sam, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["TableName"].startswith(PREFIX)


# -- (c) IAM ------------------------------------------------------------------------------


def policy_documents(sam: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, role in of_type(sam, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            yield logical_id, policy["PolicyDocument"]
    for logical_id, policy in of_type(sam, "AWS::IAM::Policy").items():
        yield logical_id, policy["Properties"]["PolicyDocument"]
    for stage in build.STAGES:
        path = build.ROOT / ".chalice" / f"policy-{stage}.json"
        yield path.name, json.loads(path.read_text())


def test_iam_is_least_privilege(sam: dict[str, Any]) -> None:
    documents = list(policy_documents(sam))
    assert len(documents) >= len(build.functions()) + len(build.STAGES)
    for where, document in documents:
        for statement in document["Statement"]:
            actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
            assert "*" not in resources, (where, statement)
            assert all(isinstance(r, dict) or r.split(":")[5:] != ["*"] for r in resources), (where, statement)
            if statement["Effect"] == "Allow":
                assert not [a for a in actions if "*" in a], (where, statement)
            dynamodb = [a for a in actions if a.startswith("dynamodb:")]
            assert set(dynamodb) <= set(build.DYNAMODB_ACTIONS) | set(build.STREAM_ACTIONS), (where, dynamodb)
            if dynamodb:
                assert all("table/diem-dev-" in r or "table/diem-prod-" in r or isinstance(r, dict) for r in resources)


def test_each_role_gets_only_what_its_function_needs(sam: dict[str, Any]) -> None:
    tables = set(of_type(sam, "AWS::DynamoDB::Table"))
    for fn in build.functions():
        role = sam["Resources"][fn.role_id]["Properties"]
        assert sam["Resources"][fn.logical_id]["Properties"]["Role"] == {"Fn::GetAtt": [fn.role_id, "Arn"]}
        (policy,) = role["Policies"]  # Chalice's policy file is replaced, not appended to
        statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
        assert set(statements) == (
            {"WriteOwnLogs"}
            | ({"DiemTables"} if fn.kind != "authorizer" else set())
            | ({"ConsumeSpendEvents"} if fn.name == build.CONSUMER else set())
            | ({"ConsumeJobs", "EnqueueJobs"} if fn.name == build.JOB_WORKER else set())
            | ({"EnqueueJobs"} if fn.name in build.schedules() else set())
            | ({"SealWebhookSecrets"} if fn.kind == "api" else set())
            | (
                {"ReadChangeStreams", "SendDeliveries", "ParkFailedRecords"}
                if fn.name == build.EVENTS_FUNCTION
                else set()
            )
            | (
                {"ConsumeDeliveries", "SendDeliveries", "OpenWebhookSecrets"}
                if fn.name == build.DELIVERIES_CONSUMER
                else set()
            )
        ), fn.name
        for sid in ("ConsumeJobs", "EnqueueJobs"):
            if sid in statements:
                assert statements[sid]["Resource"] == [{"Fn::GetAtt": ["JobsQueue", "Arn"]}], (fn.name, sid)
        (log_arn,) = statements["WriteOwnLogs"]["Resource"]
        assert log_arn["Fn::Sub"].endswith(f"log-group:/aws/lambda/{fn.function_name('dev')}:*")
        if "DiemTables" in statements:
            referenced = {
                r["Fn::GetAtt"][0] if "Fn::GetAtt" in r else r["Fn::Sub"].split(".")[0].strip("${")
                for r in statements["DiemTables"]["Resource"]
            }
            assert referenced == tables


# -- (d) the queue ----------------------------------------------------------------------


def test_queue_dead_letter_and_event_source_rules(sam: dict[str, Any]) -> None:
    on_disk = json.loads((build.ROOT / ".chalice" / "config.json").read_text())
    consumer_timeout = on_disk["stages"]["dev"]["lambda_functions"][build.CONSUMER]["lambda_timeout"]
    queue = sam["Resources"]["SpendEventsQueue"]["Properties"]
    dlq = sam["Resources"]["SpendEventsDeadLetterQueue"]["Properties"]
    mapping = sam["Resources"]["SpendEventsConsumerEventSourceMapping"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * consumer_timeout + mapping["MaximumBatchingWindowInSeconds"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SpendEventsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]  # a parked message outlives its source
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["SpendEventsQueue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": "SpendEventsConsumer"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= mapping["BatchSize"] <= 10_000


def test_jobs_queue_worker_and_schedules(sam: dict[str, Any]) -> None:
    """The jobs fan-out: schedules and the worker know the queue; the worker takes one
    task a message from the stage's queue, reports failures per message, runs at most
    `job_workers` at once; a task failing every receive is parked in the DLQ; the queue
    hides a taken task for 6x the worker's timeout (AWS's advice), then redelivers it."""
    on_disk = json.loads((build.ROOT / ".chalice" / "config.json").read_text())
    worker_timeout = on_disk["stages"]["dev"]["lambda_functions"][build.JOB_WORKER]["lambda_timeout"]
    resources = sam["Resources"]
    queue = resources["JobsQueue"]["Properties"]
    assert queue["QueueName"] == "diem-dev-jobs" and queue["VisibilityTimeout"] >= 6 * worker_timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    assert resources["JobsDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    worker = resources["JobWorker"]["Properties"]
    (event,) = worker["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {
        "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:diem-dev-jobs"
    }
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["BatchSize"] == 1
    reserved = worker["ReservedConcurrentExecutions"]
    assert (
        reserved == build.STAGES["dev"].job_workers and event["Properties"]["ScalingConfig"]["MaximumConcurrency"] >= 2
    )
    assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= max(2, reserved)
    for name in {*build.schedules(), build.JOB_WORKER}:
        env = resources[build.cfn_name(name)]["Properties"]["Environment"]["Variables"]
        assert env["DIEM_JOBS_QUEUE_URL"] == {"Ref": "JobsQueue"}, name
    assert len(build.schedules()) == 6  # the nightly jobs, the expiry notices, the settlement of product orders
    alarms = of_type(sam, "AWS::CloudWatch::Alarm")
    assert alarms["JobsDeadLetterAlarm"]["Properties"]["Threshold"] == 0
    assert alarms["JobsQueueAgeAlarm"]["Properties"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    lag = alarms["JobLagAlarm"]["Properties"]
    assert (lag["Namespace"], lag["MetricName"]) == ("Diem", "JobLagSeconds")
    assert {"Name": "stage", "Value": "dev"} in lag["Dimensions"]


# -- API Gateway and alarms ------------------------------------------------------------------


def test_gateway_responses_use_the_api_error_shape(sam: dict[str, Any]) -> None:
    api = sam["Resources"]["RestAPI"]["Properties"]
    responses = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    wanted = {"UNAUTHORIZED": "UNAUTHENTICATED", "ACCESS_DENIED": "FORBIDDEN", "DEFAULT_4XX": None, "DEFAULT_5XX": None}
    for kind, code in wanted.items():
        template = responses[kind]["responseTemplates"]["application/json"]
        body = json.loads(template.replace("$context.error.messageString", '"Unauthorized"'))
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        assert code is None or body["error"]["code"] == code
    assert responses["UNAUTHORIZED"]["statusCode"] == "401"
    (settings,) = api["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0


def test_alarms_cover_dlq_5xx_throttles_and_errors(sam: dict[str, Any]) -> None:
    alarms = of_type(sam, "AWS::CloudWatch::Alarm")
    dlq = alarms["SpendEventsDeadLetterAlarm"]["Properties"]
    assert dlq["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["SpendEventsDeadLetterQueue", "QueueName"]}
    assert dlq["Threshold"] == 0 and dlq["ComparisonOperator"] == "GreaterThanThreshold"
    api_name = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"]
    assert {"Name": "ApiName", "Value": api_name} in alarms["Api5xxRateAlarm"]["Properties"]["Dimensions"]
    for logical_id in of_type(sam, "AWS::DynamoDB::Table"):
        assert f"{logical_id}ThrottleAlarm" in alarms
    for fn in build.functions():
        assert alarms[f"{fn.logical_id}ErrorsAlarm"]["Properties"]["MetricName"] == "Errors"


# -- (e) cfn-lint --------------------------------------------------------------------------


def test_packaged_template_passes_cfn_lint(packaged: package.Result) -> None:
    from cfnlint.api import lint

    matches = lint(Path(packaged.template).read_text(), regions=[REGION])
    errors = [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.id.startswith("E")]
    others = [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if not m.rule.id.startswith("E")]
    for message in others:
        warnings.warn(f"cfn-lint: {message}", stacklevel=1)
    assert not errors, "\n".join(errors)


# -- the lean package ------------------------------------------------------------------------


def test_function_zip_is_lean_and_compiled(packaged: package.Result, sam: dict[str, Any]) -> None:
    assert packaged.function_zip_bytes <= package.FUNCTION_ZIP_BUDGET, packaged
    runtime = {f["Properties"]["Runtime"] for f in of_type(sam, "AWS::Serverless::Function").values()}
    (tag,) = {"cpython-" + r.removeprefix("python").replace(".", "") for r in runtime}
    with zipfile.ZipFile(packaged.function_zip) as zf:
        names = set(zf.namelist())
        tops = {name.split("/")[0].split(".")[0] for name in names}
        assert not tops & set(package.RUNTIME_PROVIDED), tops & set(package.RUNTIME_PROVIDED)
        assert not tops & set(package.LAYER_MODULES)
        assert not [n for n in names if ".dist-info/" in n or n.endswith(".pyi")]
        sources = [n for n in names if n.endswith(".py")]
        assert "app.py" in sources and "chalicelib/wiring.py" in sources
        for source in sources:
            folder, _, file = source.rpartition("/")
            pyc = f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc".lstrip("/")
            assert pyc in names, f"{source} has no {tag} bytecode"
            assert int.from_bytes(zf.read(pyc)[4:8], "little") == 1, f"{pyc} is not unchecked-hash"
        assert not [n for n in names if n.endswith(".pyc") and f".{tag}." not in n]
    with zipfile.ZipFile(packaged.layer_zip) as zf:
        layer = {name.split("/")[1] for name in zf.namelist()}
        assert all(name.startswith("python/") for name in zf.namelist())
        assert {"pydantic_core", "pydantic", "cryptography"} <= layer


def test_lean_package_runs_every_kind_of_handler(packaged: package.Result) -> None:
    checks = package.verify(Path(packaged.function_zip), Path(packaged.layer_zip), packaged.python)
    assert checks["health"] == 200 and checks["authorizer"] == "crm-1" and checks["rs256"] == "x"
    assert checks["outside"] == [] and checks["without_bytecode"] == []
    assert checks["job_worker"] and "ImportError" not in checks["job_worker"]


# -- (f) moto's CloudFormation ---------------------------------------------------------------


def _forget_binding() -> None:
    """Settings and DynamoDB clients are made afresh on the next bind: the ones
    made inside the mock must not outlive it, nor older ones be used in it."""
    config.reset()
    forget_cached_keys()
    store.binding._bound = None


def _indexes(described: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not described:
        return None
    return sorted(
        ({"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]} for i in described),
        key=lambda i: i["IndexName"],
    )


def test_stack_tables_and_queues_serve_the_app(sam: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """moto cannot create Serverless functions: the stack here is the packaged
    template's tables and queues, and the app runs in-process against them."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    import app as app_module

    kinds = ("AWS::DynamoDB::Table", "AWS::SQS::Queue")
    resources = {k: v for k, v in sam["Resources"].items() if v["Type"] in kinds}
    body = json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources})
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(StackName="diem-dev", TemplateBody=body)
        (stack,) = cfn.describe_stacks(StackName="diem-dev")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for model in MODELS:
            expected = schema.table_definition(model, PREFIX)
            table = dynamodb.describe_table(TableName=expected["TableName"])["Table"]
            assert table["KeySchema"] == expected["KeySchema"]
            assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
            assert _indexes(table.get("GlobalSecondaryIndexes")) == expected.get("GlobalSecondaryIndexes")
            assert _indexes(table.get("LocalSecondaryIndexes")) == expected.get("LocalSecondaryIndexes")

        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.get_queue_url(QueueName="diem-dev-spend-events")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 5

        now = datetime.fromisoformat("2026-11-10T03:00:00+00:00")
        clock.set_now(lambda: now)
        msisdn = "84961234567"
        event = {
            "msisdn": "0961234567",
            "amount_vnd": 100_000,
            "service": "mobile",
            "occurred_at": "2026-11-09T10:00:00Z",
        }
        monkeypatch.setenv("DIEM_TABLE_PREFIX", PREFIX)
        monkeypatch.delenv("DIEM_DYNAMODB_ENDPOINT", raising=False)
        _forget_binding()
        store.bind()
        try:
            with Client(app_module.app) as client:
                r = client.http.put(
                    f"/v1/subscribers/{msisdn}",
                    headers={**OPERATOR, "Content-Type": "application/json"},
                    body=json.dumps({"activated_on": "2020-03-15", "plan": "prepaid"}),
                )
                assert r.status_code == 201, r.body
                r = client.http.post(
                    "/v1/spend-events",
                    headers={**OPERATOR, "Content-Type": "application/json"},
                    body=json.dumps({"event_id": "infra-1", **event}),
                )
                assert r.status_code == 201, r.body
                earned = json.loads(r.body)["earned"]["spendable_points"]
                assert earned > 0

                # the second event arrives the way billing sends it: through the stack's queue
                sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"event_id": "infra-2", **event}))
                (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1)["Messages"]
                record = {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": attributes["QueueArn"],
                    "awsRegion": REGION,
                }
                result = client.lambda_.invoke(build.CONSUMER, {"Records": [record]}).payload
                assert result == {"batchItemFailures": []}

                r = client.http.get(f"/v1/subscribers/{msisdn}/points", headers=OPERATOR)
                assert r.status_code == 200, r.body
                assert json.loads(r.body)["balance"] == 2 * earned
        finally:
            monkeypatch.undo()
            _forget_binding()


# -- the events pipeline (issue 8) ----------------------------------------------------------


def test_streamed_tables_and_the_events_function_read_every_stream(sam: dict[str, Any]) -> None:
    """Streams are declared from the models (NEW_AND_OLD_IMAGES); the events
    function has one event source per stream, each with bisect on error,
    partial batch failures, bounded retries and the dead-letter destination."""
    streamed = schema.streamed_models()
    assert {m.Meta.base_name for m in streamed} >= {"subscribers", "ledger", "vouchers", "campaigns", "events"}
    for model in MODELS:
        props = sam["Resources"][build.table_id(model.Meta.base_name)]["Properties"]
        wanted = {"StreamViewType": "NEW_AND_OLD_IMAGES"} if model in streamed else None
        assert props.get("StreamSpecification") == wanted, model.Meta.base_name
    function = sam["Resources"]["Events"]["Properties"]
    sources = function["Events"]
    streams = sorted(source["Properties"]["Stream"]["Fn::GetAtt"][0] for source in sources.values())
    assert streams == sorted(build.streamed_table_ids())
    for source in sources.values():
        props = source["Properties"]
        assert source["Type"] == "DynamoDB"
        assert props["BisectBatchOnFunctionError"] is True
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["StartingPosition"] == "TRIM_HORIZON"
        assert 0 < props["MaximumRetryAttempts"] <= 10_000
        assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]
        }
    assert "set-by-infra" not in json.dumps(sources)  # the decorator's placeholder stream is replaced


def test_deliveries_queue_key_and_alarms(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    on_disk = json.loads((build.ROOT / ".chalice" / "config.json").read_text())
    timeout = on_disk["stages"]["dev"]["lambda_functions"][build.DELIVERIES_CONSUMER]["lambda_timeout"]
    queue = resources["DeliveriesQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeliveriesDeadLetterQueue", "Arn"]}
    mapping = resources["DeliveriesConsumerEventSourceMapping"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "DeliveriesConsumer"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # every attempt of a batch may wait 10 s for its receiver, within the function's timeout
    assert mapping["BatchSize"] * 10 < timeout
    key = resources["WebhookSecretsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    env = {name: resources[name]["Properties"]["Environment"]["Variables"] for name in ("APIHandler", "Events")}
    assert env["APIHandler"]["DIEM_WEBHOOK_KMS_KEY_ID"] == {"Ref": "WebhookSecretsKey"}
    assert env["Events"]["DIEM_DELIVERIES_QUEUE_URL"] == {"Ref": "DeliveriesQueue"}
    alarms = of_type(sam, "AWS::CloudWatch::Alarm")
    failed = alarms["WebhookDeliveriesFailedAlarm"]["Properties"]
    assert failed["MetricName"] == "WebhookDeliveriesFailed" and failed["Threshold"] == 0
    assert {"Name": "stage", "Value": "dev"} in failed["Dimensions"]
    for name in ("EventsDeadLetterAlarm", "DeliveriesDeadLetterAlarm"):
        assert alarms[name]["Properties"]["Threshold"] == 0


# -- people's surfaces: the console on S3 behind CloudFront, the API on the same origin ------


@pytest.mark.parametrize("stage", sorted(build.TEMPLATES))
def test_the_console_and_the_api_share_one_distribution(stage: str) -> None:
    from chalicelib.console import content_security_policy

    template = json.loads(build.TEMPLATES[stage].read_text())
    resources = template["Resources"]
    config = resources["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    # /v1/* to API Gateway's stage, uncached, with the caller's headers (Authorization, X-Api-Key, Idempotency-Key)
    (api,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/v1/*"]
    assert api["TargetOriginId"] == build.CONSOLE_API_ORIGIN and api["CachePolicyId"] == build.CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == build.ALL_VIEWER_EXCEPT_HOST
    assert {"POST", "PUT", "PATCH", "DELETE"} <= set(api["AllowedMethods"])
    gateway = origins[build.CONSOLE_API_ORIGIN]
    assert gateway["DomainName"] == {"Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert gateway["OriginPath"] == "/" + build.chalice_config(stage).api_gateway_stage
    assert gateway["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    # everything else from the private bucket, read only by this distribution, with the console's headers
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == build.CONSOLE_BUCKET_ORIGIN and config["DefaultRootObject"] == "index.html"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert origins[build.CONSOLE_BUCKET_ORIGIN]["OriginAccessControlId"] == {
        "Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]
    }
    block = resources["ConsoleBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    (read,) = [
        s
        for s in resources["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"} and read["Action"] == "s3:GetObject"
    assert "${ConsoleDistribution}" in read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    headers = resources["ConsoleResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    csp = headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::If"]
    assert csp[0] == "ConsoleHasOidc" and csp[2] == content_security_policy(None)
    assert default["ResponseHeadersPolicyId"] == {"Ref": "ConsoleResponseHeadersPolicy"}
    # the API handler tells the console how to sign in
    env = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert env["DIEM_CONSOLE_OIDC_TOKEN_URL"] == {"Ref": "ConsoleOidcTokenUrl"}
    assert template["Outputs"]["ConsoleUrl"] == {"Value": {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/"}}
