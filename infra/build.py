"""Generate the CloudFormation merge template and IAM policy files.

Everything is derived: the tables from `chalicelib.store` (the PynamoDB models),
the functions and their logical ids from the Chalice app and
`.chalice/config.json`. `chalice package --merge-template` deep-merges the
result into Chalice's SAM template, so it also overrides Chalice's resources
(function names, layers, environment, role policies, API stage settings).

    python -m infra.build                         # regenerate the committed files
    python -m infra.build --stage prod --out out/ # write out/resources.json for one stage
    python -m infra.build --check                 # exit 1 if a committed file drifted
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "diem"
CONSUMER = "spend_events_consumer"
"""The Chalice function that drains the spend-events queue."""

TEMPLATES = {"dev": ROOT / "infra" / "resources.json", "prod": ROOT / "infra" / "resources-prod.json"}
"""The committed merge template of each stage (`infra/resources.json` is dev)."""

# what the functions do to DynamoDB. A transaction needs the item-level action of
# each of its parts (TransactWriteItems -> Put/Update/Delete/ConditionCheckItem,
# TransactGetItems -> GetItem): IAM has no dynamodb:Transact* actions.
DYNAMODB_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
SQS_CONSUMER_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")

# -- events, webhooks, notifications (chalicelib/events, webhooks, notify) ----------
EVENTS_FUNCTION = "events"
"""The Chalice function reading every change stream (app.events)."""
DELIVERIES_CONSUMER = "deliveries_consumer"
"""The Chalice function draining the deliveries queue (webhook attempts, SMS)."""
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
"""What the events function's mapping reads a stream with (on the streams' own ARNs)."""
SQS_SEND_ACTIONS = ("sqs:SendMessage",)
EVENTS_BATCH_SIZE = 100
EVENTS_MAX_RETRIES = 10
DELIVERIES_BATCH_SIZE = 5  # each attempt waits up to 10 s for its receiver
DELIVERIES_MAX_RECEIVE_COUNT = 5

CONSUMER_MAX_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6
"""AWS: the queue's visibility timeout >= 6x the function timeout (+ batching window)."""


# -- jobs fan-out (chalicelib/jobs/fanout.py) -----------------------------------------
JOB_WORKER = "job_worker"
"""The Chalice function (on_sqs_message) that works the jobs queue's tasks."""
JOB_WORKERS_PROD = 50
"""70 M subscribers due in one night: see docs/data-model.md ("Jobs fanned out")."""
JOB_MAX_RECEIVE_COUNT = 3
JOB_LAG_ALARM_SECONDS = 6 * 3600
"""A task still checkpointing this long after its schedule: the night is not enough."""
JOB_QUEUE_AGE_ALARM_SECONDS = 3 * 3600


@dataclass(frozen=True)
class Stage:
    """What differs between stages besides names."""

    rate_limit: int  # API Gateway stage-wide steady requests/s
    burst_limit: int
    log_retention_days: int
    consumer_batch_size: int
    consumer_batching_window: int  # seconds
    consumer_max_concurrency: int  # caps the SQS pollers' parallel invocations
    jwks_required: bool  # prod verifies RS256 against the IdP's JWKS, nothing else
    # -- jobs fan-out: job_worker invocations at once (reserved concurrency, and the
    # SQS pollers' maximum concurrency); docs/data-model.md derives prod's from the bench
    job_workers: int = 4


STAGES = {
    "dev": Stage(50, 100, 14, 25, 1, 5, jwks_required=False),
    # a flash sale takes 5,000 claims/s (TARGETS.md); the account default is 10,000 rps / 5,000 burst
    "prod": Stage(6_000, 5_000, 90, 25, 1, 100, jwks_required=True, job_workers=JOB_WORKERS_PROD),
}


@dataclass(frozen=True)
class Function:
    """One Lambda function of the Chalice app, as Chalice names it."""

    name: str  # Chalice's name: api_handler, bearer, spend_events_consumer...
    logical_id: str  # in Chalice's SAM template: APIHandler, Bearer, SpendEventsConsumer...
    role_id: str  # ApiHandlerRole, BearerRole... (autogen_policy false: one role per function)
    kind: str  # api | authorizer | function | event

    @property
    def uses_dynamodb(self) -> bool:
        # the authorizer only verifies JWTs; partner keys are checked by the API handler
        return self.kind != "authorizer"

    def function_name(self, stage: str) -> str:
        """As `chalice deploy` names it, so logs and dashboards match either way."""
        return f"{APP_NAME}-{stage}" if self.kind == "api" else f"{APP_NAME}-{stage}-{self.name}"


def cfn_name(name: str) -> str:
    from chalice.utils import to_cfn_resource_name

    return to_cfn_resource_name(name)


@cache
def functions() -> tuple[Function, ...]:
    """The app's functions, in the order Chalice creates them."""
    import app as app_module

    chalice_app = app_module.app
    found: list[Function] = []
    if chalice_app.routes:
        found.append(Function("api_handler", "APIHandler", cfn_name("api_handler_role"), "api"))
    for auth in chalice_app.builtin_auth_handlers:
        found.append(Function(auth.name, cfn_name(auth.name), cfn_name(f"{auth.name}_role"), "authorizer"))
    for fn in chalice_app.pure_lambda_functions:
        found.append(Function(fn.name, cfn_name(fn.name), cfn_name(f"{fn.name}_role"), "function"))
    for source in chalice_app.event_sources:
        found.append(Function(source.name, cfn_name(source.name), cfn_name(f"{source.name}_role"), "event"))
    if CONSUMER not in {f.name for f in found}:
        raise RuntimeError(f"app.py has no function {CONSUMER!r} for the spend-events queue")
    if JOB_WORKER not in {f.name for f in found}:
        raise RuntimeError(f"app.py has no function {JOB_WORKER!r} for the jobs queue")
    return tuple(found)


@cache
def schedules() -> frozenset[str]:
    """The app's scheduled functions: they put the jobs' tasks on the jobs queue."""
    import app as app_module

    return frozenset(s.name for s in app_module.app.event_sources if hasattr(s, "schedule_expression"))


def chalice_config(stage: str, function: str = "api_handler") -> Any:
    """Chalice's own view of `.chalice/config.json` for one stage and function."""
    from chalice.config import Config

    on_disk = json.loads((ROOT / ".chalice" / "config.json").read_text())
    if stage not in on_disk.get("stages", {}):
        raise SystemExit(f"stage {stage!r} is not in .chalice/config.json")
    return Config(chalice_stage=stage, function_name=function, config_from_disk=on_disk)


def lambda_timeout(stage: str, function: str) -> int:
    return int(chalice_config(stage, function).lambda_timeout or 60)


# -- DynamoDB -------------------------------------------------------------------


def table_id(base_name: str) -> str:
    return f"{cfn_name(base_name)}Table"


def tables(stage: str) -> dict[str, dict[str, Any]]:
    """One AWS::DynamoDB::Table per model, exactly as `store.schema` defines it."""
    from chalicelib.store import schema
    from chalicelib.store.models import MODELS

    resources: dict[str, dict[str, Any]] = {}
    for model in MODELS:
        props = schema.table_definition(model, f"{APP_NAME}-{stage}-")
        props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
        props["SSESpecification"] = {"SSEEnabled": True}
        props["DeletionProtectionEnabled"] = True
        ttl = schema.ttl_attribute(model)
        if ttl:
            props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
        if "StreamSpecification" in props:  # CloudFormation names only the view (the stream is on)
            props["StreamSpecification"] = {"StreamViewType": props["StreamSpecification"]["StreamViewType"]}
        resources[table_id(model.Meta.base_name)] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": props,
        }
    return resources


def _table_arns(table_resources: dict[str, dict[str, Any]]) -> list[Any]:
    arns: list[Any] = []
    for logical_id, resource in table_resources.items():
        arns.append({"Fn::GetAtt": [logical_id, "Arn"]})
        props = resource["Properties"]
        if props.get("GlobalSecondaryIndexes") or props.get("LocalSecondaryIndexes"):
            arns.append({"Fn::Sub": f"${{{logical_id}.Arn}}/index/*"})
    return arns


# -- the spend-events queue -------------------------------------------------------


def queue_names(stage: str) -> tuple[str, str]:
    return f"{APP_NAME}-{stage}-spend-events", f"{APP_NAME}-{stage}-spend-events-dlq"


def queues(stage: str) -> dict[str, dict[str, Any]]:
    settings = STAGES[stage]
    name, dlq_name = queue_names(stage)
    queue_arn = f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{name}"  # no cycle with the DLQ
    visibility = VISIBILITY_FACTOR * lambda_timeout(stage, CONSUMER) + settings.consumer_batching_window
    return {
        # both hold spend events not yet applied (points owed): kept if the stack goes
        "SpendEventsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "QueueName": dlq_name,
                "MessageRetentionPeriod": 1_209_600,  # 14 days, longer than the source queue's
                "SqsManagedSseEnabled": True,
                "RedriveAllowPolicy": {
                    "redrivePermission": "byQueue",
                    "sourceQueueArns": [{"Fn::Sub": queue_arn}],
                },
            },
        },
        "SpendEventsQueue": {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "QueueName": name,
                "VisibilityTimeout": visibility,
                "MessageRetentionPeriod": 345_600,  # 4 days
                "ReceiveMessageWaitTimeSeconds": 20,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["SpendEventsDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": CONSUMER_MAX_RECEIVE_COUNT,
                },
            },
        },
    }


def event_source_mapping(stage: str, consumer: Function) -> dict[str, Any]:
    settings = STAGES[stage]
    return {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["SpendEventsQueue", "Arn"]},
            "FunctionName": {"Ref": consumer.logical_id},
            "BatchSize": settings.consumer_batch_size,
            "MaximumBatchingWindowInSeconds": settings.consumer_batching_window,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": settings.consumer_max_concurrency},
            "Enabled": True,
        },
    }


# -- IAM ------------------------------------------------------------------------


def _statement(sid: str, actions: tuple[str, ...], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources}


def role_policy(stage: str, fn: Function, table_resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Exactly what one function needs: its own log group, the tables, the queue."""
    log_group = f"/aws/lambda/{fn.function_name(stage)}"
    statements = [
        _statement(
            "WriteOwnLogs",
            LOG_ACTIONS,
            [{"Fn::Sub": f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{log_group}:*"}],
        )
    ]
    if fn.uses_dynamodb:
        statements.append(_statement("DiemTables", DYNAMODB_ACTIONS, _table_arns(table_resources)))
    if fn.name == CONSUMER:
        statements.append(
            _statement("ConsumeSpendEvents", SQS_CONSUMER_ACTIONS, [{"Fn::GetAtt": ["SpendEventsQueue", "Arn"]}])
        )
    statements += job_statements(fn.name, [{"Fn::GetAtt": ["JobsQueue", "Arn"]}])
    statements += events_statements(fn)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_file(stage: str) -> dict[str, Any]:
    """`.chalice/policy-<stage>.json`: Chalice requires it (autogen_policy is false) and
    `chalice deploy` uses it for every role. A policy file has no intrinsic functions,
    so account and region are wildcards; the names are exact. The packaged stack
    replaces it with `role_policy` (exact ARNs, one function each)."""
    from chalicelib.store.models import MODELS

    prefix = f"{APP_NAME}-{stage}"
    table_arns: list[str] = []
    for model in MODELS:
        arn = f"arn:aws:dynamodb:*:*:table/{prefix}-{model.Meta.base_name}"
        table_arns += [arn, f"{arn}/index/*"]
    queue, _ = queue_names(stage)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", *LOG_ACTIONS],
                "Resource": [
                    f"arn:aws:logs:*:*:log-group:/aws/lambda/{prefix}:*",
                    f"arn:aws:logs:*:*:log-group:/aws/lambda/{prefix}-*:*",
                ],
            },
            _statement("DiemTables", DYNAMODB_ACTIONS, table_arns),  # type: ignore[arg-type]
            _statement("ConsumeSpendEvents", SQS_CONSUMER_ACTIONS, [f"arn:aws:sqs:*:*:{queue}"]),  # type: ignore[list-item]
            *job_statements(JOB_WORKER, [f"arn:aws:sqs:*:*:{job_queue_names(stage)[0]}"]),
            *events_policy_file_statements(stage),
        ],
    }


# -- API Gateway ----------------------------------------------------------------

# API Gateway's own refusals in the API's error shape (API.md). `messageString` is
# already a quoted JSON string; API Gateway adds its x-amzn-RequestId header itself.
GATEWAY_RESPONSES = {
    "UNAUTHORIZED": (401, "UNAUTHENTICATED"),
    "ACCESS_DENIED": (403, "FORBIDDEN"),
    "MISSING_AUTHENTICATION_TOKEN": (404, "NOT_FOUND"),  # API Gateway's answer to an unknown route
    "RESOURCE_NOT_FOUND": (404, "NOT_FOUND"),
    "BAD_REQUEST_BODY": (400, "VALIDATION_ERROR"),
    "BAD_REQUEST_PARAMETERS": (400, "VALIDATION_ERROR"),
    "REQUEST_TOO_LARGE": (413, "VALIDATION_ERROR"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "VALIDATION_ERROR"),
    "THROTTLED": (429, "TOO_MANY_ATTEMPTS"),
    "QUOTA_EXCEEDED": (429, "TOO_MANY_ATTEMPTS"),
    # what DEFAULT_4XX still covers is 403s: WAF_FILTERED, INVALID_API_KEY, EXPIRED_TOKEN, INVALID_SIGNATURE
    "DEFAULT_4XX": (None, "FORBIDDEN"),
    "DEFAULT_5XX": (None, "INTERNAL"),
}


def gateway_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for kind, (status, code) in GATEWAY_RESPONSES.items():
        body = '{"error": {"code": "%s", "message": $context.error.messageString}}' % code  # noqa: UP031
        response: dict[str, Any] = {"responseTemplates": {"application/json": body}}
        if status is not None:
            response["statusCode"] = str(status)
        responses[kind] = response
    return responses


def rest_api(stage: str) -> dict[str, Any]:
    settings = STAGES[stage]
    return {
        "Properties": {
            # named per stage, so the two stages' metrics (dimension ApiName) differ
            "Name": f"{APP_NAME}-{stage}",
            "MethodSettings": [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": settings.rate_limit,
                    "ThrottlingBurstLimit": settings.burst_limit,
                }
            ],
            "DefinitionBody": {
                "info": {"title": f"{APP_NAME}-{stage}"},
                "x-amazon-apigateway-gateway-responses": gateway_responses(),
            },
        }
    }


# -- alarms ---------------------------------------------------------------------


def _alarm(description: str, **props: Any) -> dict[str, Any]:
    base = {
        "AlarmDescription": description,
        "AlarmActions": [{"Ref": "AlarmTopic"}],
        "OKActions": [{"Ref": "AlarmTopic"}],
        "TreatMissingData": "notBreaching",
        "ComparisonOperator": "GreaterThanThreshold",
    }
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {**base, **props}}


def _metric(metric_id: str, name: str, dimensions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": name, "Dimensions": dimensions},
            "Period": 60,
            "Stat": "Sum",
        },
    }


def _dead_letter_alarm(description: str, queue: str) -> dict[str, Any]:
    """An alarm as soon as one message is parked in the dead-letter queue `queue` (a resource name)."""
    return _alarm(
        description,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
    )


def alarms(stage: str, fns: tuple[Function, ...], table_resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{APP_NAME}-{stage}-alarms"}},
        "SpendEventsDeadLetterAlarm": _dead_letter_alarm(
            "Spend events were parked in the dead-letter queue: inspect, fix, redrive.", "SpendEventsDeadLetterQueue"
        ),
        "Api5xxRateAlarm": _alarm(
            "More than 1% of API requests answered 5xx.",
            Namespace="AWS/ApiGateway",
            MetricName="5XXError",  # 0 or 1 per request: its average is the rate
            Dimensions=[
                {"Name": "ApiName", "Value": f"{APP_NAME}-{stage}"},
                {"Name": "Stage", "Value": chalice_config(stage).api_gateway_stage},
            ],
            Statistic="Average",
            Period=60,
            EvaluationPeriods=5,
            DatapointsToAlarm=3,
            Threshold=0.01,
        ),
        "DynamoDBUserErrorsAlarm": _alarm(
            "DynamoDB refused requests as client errors (AccessDenied, validation): an IAM or code defect. "
            "The metric is per account and region.",
            Namespace="AWS/DynamoDB",
            MetricName="UserErrors",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=10,
        ),
    }
    for fn in fns:
        result[f"{fn.logical_id}ErrorsAlarm"] = _alarm(
            f"{fn.function_name(stage)} failed invocations (crash, timeout, out of memory).",
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": {"Ref": fn.logical_id}}],
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
        )
    for logical_id, resource in table_resources.items():
        table = [{"Name": "TableName", "Value": {"Ref": logical_id}}]
        metrics = [_metric("reads", "ReadThrottleEvents", table), _metric("writes", "WriteThrottleEvents", table)]
        for n, index in enumerate(resource["Properties"].get("GlobalSecondaryIndexes", [])):
            dims = [*table, {"Name": "GlobalSecondaryIndexName", "Value": index["IndexName"]}]
            metrics.append(_metric(f"gsir{n}", "ReadThrottleEvents", dims))
            metrics.append(_metric(f"gsiw{n}", "WriteThrottleEvents", dims))
        expression = " + ".join(f"FILL({m['Id']}, 0)" for m in metrics)
        metrics.append({"Id": "throttled", "Expression": expression, "Label": "throttle events", "ReturnData": True})
        result[f"{logical_id}ThrottleAlarm"] = _alarm(
            f"{resource['Properties']['TableName']} (or one of its indexes) throttled requests.",
            Metrics=metrics,
            EvaluationPeriods=5,
            DatapointsToAlarm=2,
            Threshold=0,
        )
    return result


# -- functions ------------------------------------------------------------------


def parameters(stage: str) -> dict[str, Any]:
    settings = STAGES[stage]
    jwks: dict[str, Any] = {"Type": "String", "Description": "The identity provider's JWKS URL (RS256 tokens)."}
    if settings.jwks_required:
        jwks["AllowedPattern"] = "^https://\\S+$"
    else:
        jwks["Default"] = ""
    params: dict[str, Any] = {
        "JwtJwksUrl": jwks,
        "JwtIssuer": {"Type": "String", "Default": "", "Description": "Required `iss` claim, if any."},
        "JwtAudience": {"Type": "String", "Default": "", "Description": "Required `aud` claim, if any."},
    }
    if not settings.jwks_required:
        params["JwtSecret"] = {
            "Type": "String",
            "Default": "",
            "NoEcho": True,
            "Description": "Development only: HS256 secret, when there is no JWKS URL.",
        }
    return params


def function_overrides(stage: str, fn: Function) -> dict[str, Any]:
    env: dict[str, Any] = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}  # no entry-point scan at cold start
    if fn.kind in ("api", "authorizer"):
        env.update(
            DIEM_JWT_JWKS_URL={"Ref": "JwtJwksUrl"},
            DIEM_JWT_ISSUER={"Ref": "JwtIssuer"},
            DIEM_JWT_AUDIENCE={"Ref": "JwtAudience"},
        )
        if not STAGES[stage].jwks_required:
            env["DIEM_JWT_SECRET"] = {"Ref": "JwtSecret"}
    env.update(events_environment(fn))
    return {
        "DependsOn": [f"{fn.logical_id}LogGroup"],
        "Properties": {
            "FunctionName": fn.function_name(stage),
            "Layers": [{"Ref": "DepsLayer"}],
            "Environment": {"Variables": env},
        },
    }


def template(stage: str) -> dict[str, Any]:
    """The merge template of one stage."""
    if stage not in STAGES:
        raise SystemExit(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    fns = functions()
    consumer = next(f for f in fns if f.name == CONSUMER)
    table_resources = tables(stage)
    resources: dict[str, Any] = {**table_resources, **queues(stage)}
    resources["SpendEventsConsumerEventSourceMapping"] = event_source_mapping(stage, consumer)
    resources["DepsLayer"] = {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {
            "LayerName": f"{APP_NAME}-{stage}-deps",
            "Description": "pydantic + pydantic-core and cryptography + cffi, built by infra.package",
            "ContentUri": "./deps-layer.zip",
            "CompatibleRuntimes": ["python3.11"],
            "CompatibleArchitectures": ["x86_64"],
            "RetentionPolicy": "Delete",
        },
    }
    for fn in fns:
        resources[f"{fn.logical_id}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",  # logs expire anyway (RetentionInDays)
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": f"/aws/lambda/{fn.function_name(stage)}",
                "RetentionInDays": STAGES[stage].log_retention_days,
            },
        }
        resources[fn.logical_id] = function_overrides(stage, fn)
        resources[fn.role_id] = {
            "Properties": {
                "Policies": [
                    {"PolicyName": f"{fn.role_id}Policy", "PolicyDocument": role_policy(stage, fn, table_resources)}
                ]
            }
        }
    resources["RestAPI"] = rest_api(stage)
    resources.update(alarms(stage, fns, table_resources))
    resources.update(job_queues(stage))
    resources.update(job_alarms(stage))
    for fn in fns:
        merge(resources[fn.logical_id], job_function_overrides(stage, fn))
    events_resources(stage, fns, resources)
    resources.update(product_alarms(stage))
    for fn in fns:
        merge(resources[fn.logical_id], product_function_overrides(stage, fn))
    resources.update(console_resources(stage))
    for fn in fns:
        merge(resources[fn.logical_id], console_function_overrides(fn))
    return {
        "Parameters": {**parameters(stage), **events_parameters(), **product_parameters(stage), **CONSOLE_PARAMETERS},
        "Conditions": CONSOLE_CONDITIONS,
        "Resources": resources,
        "Outputs": {
            "SpendEventsQueueUrl": {"Value": {"Ref": "SpendEventsQueue"}},
            "JobsQueueUrl": {"Value": {"Ref": "JobsQueue"}},
            "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
            "DeliveriesQueueUrl": {"Value": {"Ref": "DeliveriesQueue"}},
            **CONSOLE_OUTPUTS,
        },
    }


# -- jobs fan-out: the queue, its DLQ, the worker's event source and concurrency, alarms --


def job_queue_names(stage: str) -> tuple[str, str]:
    return f"{APP_NAME}-{stage}-jobs", f"{APP_NAME}-{stage}-jobs-dlq"


def job_statements(function: str, queue: list[Any]) -> list[dict[str, Any]]:
    """The schedules put tasks on the jobs queue; the worker takes them and puts continuations."""
    if function == JOB_WORKER:
        return [
            _statement("ConsumeJobs", SQS_CONSUMER_ACTIONS, queue),
            _statement("EnqueueJobs", SQS_SEND_ACTIONS, queue),
        ]
    if function in schedules():
        return [_statement("EnqueueJobs", SQS_SEND_ACTIONS, queue)]
    return []


def job_queues(stage: str) -> dict[str, dict[str, Any]]:
    name, dlq_name = job_queue_names(stage)
    queue_arn = f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{name}"
    return {
        "JobsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": dlq_name,
                "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": True,
                "RedriveAllowPolicy": {"redrivePermission": "byQueue", "sourceQueueArns": [{"Fn::Sub": queue_arn}]},
            },
        },
        "JobsQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": name,
                # a killed worker's task comes back after this, to resume from its checkpoint
                "VisibilityTimeout": VISIBILITY_FACTOR * lambda_timeout(stage, JOB_WORKER),
                "MessageRetentionPeriod": 345_600,  # 4 days: the next nights catch up anyway
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": JOB_MAX_RECEIVE_COUNT,
                },
            },
        },
    }


def job_function_overrides(stage: str, fn: Function) -> dict[str, Any]:
    """The worker: its event source on the stage's queue (Chalice names the queue
    `diem-jobs`; the merge replaces the name), partial batch responses, at most
    `job_workers` invocations at once; every job function gets the queue's URL
    (whose `Ref` also orders the queue before the worker and its event source)."""
    if fn.name != JOB_WORKER and fn.name not in schedules():
        return {}
    overrides: dict[str, Any] = {
        "Properties": {"Environment": {"Variables": {"DIEM_JOBS_QUEUE_URL": {"Ref": "JobsQueue"}}}}
    }
    if fn.name == JOB_WORKER:
        name, _ = job_queue_names(stage)
        workers = STAGES[stage].job_workers
        overrides["Properties"]["ReservedConcurrentExecutions"] = workers
        overrides["Properties"]["Events"] = {
            f"{cfn_name(fn.name)}SqsEventSource": {
                "Properties": {
                    "Queue": {"Fn::Sub": f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{name}"},
                    "BatchSize": 1,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "ScalingConfig": {"MaximumConcurrency": max(2, workers)},
                }
            }
        }
    return overrides


def job_alarms(stage: str) -> dict[str, Any]:
    queue = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["JobsQueue", "QueueName"]}}]
    return {
        "JobsDeadLetterAlarm": _dead_letter_alarm(
            "Job tasks failed on every receive and were parked: inspect, fix, redrive (the work is idempotent).",
            "JobsDeadLetterQueue",
        ),
        "JobsQueueAgeAlarm": _alarm(
            "A job task has waited for a worker for hours: the workers are too few or failing.",
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=queue,
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=JOB_QUEUE_AGE_ALARM_SECONDS,
        ),
        "JobLagAlarm": _alarm(
            "Job tasks still checkpoint hours after their schedule: the night's jobs will not finish in the night.",
            Namespace="Diem",
            MetricName="JobLagSeconds",
            Dimensions=[{"Name": "service", "Value": APP_NAME}, {"Name": "stage", "Value": stage}],
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=JOB_LAG_ALARM_SECONDS,
        ),
    }


# -- network products (chalicelib/products): the charging system's URL, the settlement's alarms --

SETTLEMENT = "settle_product_orders"
"""The schedule that settles pending product orders (its tasks run on the job worker)."""


def product_parameters(stage: str) -> dict[str, Any]:
    """The operator's charging system (docs/charging.md): https only where JWKS is
    required (prod); elsewhere empty is allowed (orders stay pending until it is set)."""
    url: dict[str, Any] = {"Type": "String", "Description": "The charging system's base URL (docs/charging.md)."}
    if STAGES[stage].jwks_required:
        url["AllowedPattern"] = "^https://\\S+$"
    else:
        url["Default"] = ""
    return {"ChargingUrl": url}


def product_function_overrides(stage: str, fn: Function) -> dict[str, Any]:
    """Who calls the charging system: the API (orders) and the settlement (its schedule, and
    the job worker that works its tasks when a queue is configured)."""
    if fn.kind != "api" and fn.name not in (SETTLEMENT, JOB_WORKER):
        return {}
    return {"Properties": {"Environment": {"Variables": {"DIEM_CHARGING_URL": {"Ref": "ChargingUrl"}}}}}


def product_alarms(stage: str) -> dict[str, Any]:
    dimensions = [{"Name": "service", "Value": APP_NAME}, {"Name": "stage", "Value": stage}]

    def on_count(description: str, metric: str) -> dict[str, Any]:
        return _alarm(
            description,
            Namespace="Diem",
            MetricName=metric,
            Dimensions=dimensions,
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
        )

    return {
        "ProductOrdersOverdueAlarm": on_count(
            "Product orders still pending after the settlement's bounded attempts: the charging system gives no "
            "definite answer. The order ids are in the settlement's error logs; they stay pending (points held).",
            "ProductOrdersOverdue",
        ),
        "ChargingContradictionsAlarm": on_count(
            "The charging system's answer contradicts a settled product order (provisioned but refunded, or "
            "refused but fulfilled): reconcile that order with the operator by hand.",
            "ChargingContradictions",
        ),
    }


# -- people's surfaces: the web console on S3 behind CloudFront, the API on the same
# distribution (docs/console.md). /v1/* goes to API Gateway's stage (no cache, every
# viewer header but Host), everything else to the private bucket through an origin
# access control; one origin, so no CORS and no preflight. The console's sign-in
# (OpenID Connect with PKCE) is configured by the Console* parameters.

# CloudFront's managed policies (AWS documents their ids as fixed)
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CONSOLE_BUCKET_ORIGIN = "ConsoleBucket"
CONSOLE_API_ORIGIN = "Api"

CONSOLE_PARAMETERS: dict[str, Any] = {
    "ConsoleOidcAuthorizationUrl": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^(https://\\S+)?$",
        "Description": "The identity provider's authorization endpoint for the console's sign-in (empty: none).",
    },
    "ConsoleOidcTokenUrl": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^(https://[^/\\s]+/\\S*)?$",
        "Description": "Its token endpoint (the console's CSP allows requests to its origin).",
    },
    "ConsoleOidcClientId": {"Type": "String", "Default": "", "Description": "The console's public client id."},
    "ConsoleOidcScope": {"Type": "String", "Default": "openid", "Description": "Scopes the console asks for."},
    "ConsoleOidcBearer": {
        "Type": "String",
        "Default": "id_token",
        "AllowedValues": ["id_token", "access_token"],
        "Description": "Which token of the provider's answer the console sends to the API (with sub and role).",
    },
}
CONSOLE_CONDITIONS: dict[str, Any] = {
    "ConsoleHasOidc": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ConsoleOidcTokenUrl"}, ""]}]}
}
CONSOLE_OUTPUTS: dict[str, Any] = {
    "ConsoleUrl": {"Value": {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/"}},
    "ConsoleBucketName": {"Value": {"Ref": "ConsoleBucket"}},
    "ConsoleDistributionId": {"Value": {"Ref": "ConsoleDistribution"}},
}


def _console_csp() -> dict[str, Any]:
    """chalicelib.console's policy, with the token endpoint's origin when there is one."""
    from chalicelib.console import content_security_policy

    origin = {"Fn::Join": ["", ["https://", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "ConsoleOidcTokenUrl"}]}]}]]}
    marker = "https://console-oidc-origin.invalid"
    with_origin = content_security_policy(marker + "/token").split(marker)
    return {
        "Fn::If": [
            "ConsoleHasOidc",
            {"Fn::Join": ["", [with_origin[0], origin, with_origin[1]]]},
            content_security_policy(None),
        ]
    }


def console_resources(stage: str) -> dict[str, Any]:
    api_domain = {"Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    return {
        "ConsoleBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Delete",  # built files only: make console rebuilds them
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        },
        "ConsoleBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "ConsoleBucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ReadByThisDistributionOnly",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "s3:GetObject",
                            "Resource": {"Fn::Sub": "${ConsoleBucket.Arn}/*"},
                            "Condition": {
                                "StringEquals": {
                                    "AWS:SourceArn": {
                                        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:"
                                        "distribution/${ConsoleDistribution}"
                                    }
                                }
                            },
                        },
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                {"Fn::GetAtt": ["ConsoleBucket", "Arn"]},
                                {"Fn::Sub": "${ConsoleBucket.Arn}/*"},
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
        },
        "ConsoleOriginAccessControl": {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {
                "OriginAccessControlConfig": {
                    "Name": f"{APP_NAME}-{stage}-console",
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }
            },
        },
        "ConsoleResponseHeadersPolicy": {
            "Type": "AWS::CloudFront::ResponseHeadersPolicy",
            "Properties": {
                "ResponseHeadersPolicyConfig": {
                    "Name": f"{APP_NAME}-{stage}-console",
                    "SecurityHeadersConfig": {
                        "ContentSecurityPolicy": {"ContentSecurityPolicy": _console_csp(), "Override": True},
                        "ContentTypeOptions": {"Override": True},
                        "FrameOptions": {"FrameOption": "DENY", "Override": True},
                        "ReferrerPolicy": {"ReferrerPolicy": "no-referrer", "Override": True},
                        "StrictTransportSecurity": {
                            "AccessControlMaxAgeSec": 31_536_000,
                            "IncludeSubdomains": True,
                            "Override": True,
                        },
                    },
                }
            },
        },
        "ConsoleDistribution": {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {
                "DistributionConfig": {
                    "Comment": f"{APP_NAME}-{stage}: the web console and, under /v1/, the API",
                    "Enabled": True,
                    "HttpVersion": "http2and3",
                    "IPV6Enabled": True,
                    "PriceClass": "PriceClass_200",  # includes Asia's edge locations
                    "DefaultRootObject": "index.html",
                    "Origins": [
                        {
                            "Id": CONSOLE_BUCKET_ORIGIN,
                            "DomainName": {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]},
                            "OriginAccessControlId": {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]},
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        },
                        {
                            "Id": CONSOLE_API_ORIGIN,
                            "DomainName": api_domain,
                            # /v1/... at the edge is /<stage>/v1/... at API Gateway
                            "OriginPath": "/" + chalice_config(stage).api_gateway_stage,
                            "CustomOriginConfig": {
                                "OriginProtocolPolicy": "https-only",
                                "OriginSSLProtocols": ["TLSv1.2"],
                            },
                        },
                    ],
                    "DefaultCacheBehavior": {
                        "TargetOriginId": CONSOLE_BUCKET_ORIGIN,
                        "ViewerProtocolPolicy": "redirect-to-https",
                        "AllowedMethods": ["GET", "HEAD"],
                        "CachedMethods": ["GET", "HEAD"],
                        "Compress": True,
                        "CachePolicyId": CACHING_OPTIMIZED,
                        "ResponseHeadersPolicyId": {"Ref": "ConsoleResponseHeadersPolicy"},
                    },
                    "CacheBehaviors": [
                        {
                            "PathPattern": "/v1/*",
                            "TargetOriginId": CONSOLE_API_ORIGIN,
                            "ViewerProtocolPolicy": "https-only",
                            "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                            "CachedMethods": ["GET", "HEAD"],
                            "Compress": True,
                            "CachePolicyId": CACHING_DISABLED,
                            "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
                        }
                    ],
                }
            },
        },
    }


def console_function_overrides(fn: Function) -> dict[str, Any]:
    """The API handler tells the console how to sign people in (GET /v1/console/config)."""
    if fn.kind != "api":
        return {}
    env = {
        "DIEM_CONSOLE_OIDC_AUTHORIZATION_URL": {"Ref": "ConsoleOidcAuthorizationUrl"},
        "DIEM_CONSOLE_OIDC_TOKEN_URL": {"Ref": "ConsoleOidcTokenUrl"},
        "DIEM_CONSOLE_OIDC_CLIENT_ID": {"Ref": "ConsoleOidcClientId"},
        "DIEM_CONSOLE_OIDC_SCOPE": {"Ref": "ConsoleOidcScope"},
        "DIEM_CONSOLE_OIDC_BEARER": {"Ref": "ConsoleOidcBearer"},
    }
    return {"Properties": {"Environment": {"Variables": env}}}


def merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    """Deep-merge `extra` into `target` (dicts merged, other values replaced)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


# -- events, webhooks, notifications ------------------------------------------------
# The events function reads every streamed table's change stream (the tables
# whose models say `stream=True`, store.schema.streamed_models()): bisect on
# error, failures reported per record, a dead-letter queue as the on-failure
# destination. The deliveries queue carries webhook attempts and SMS; a KMS key
# seals webhook secrets; alarms watch failed deliveries and both dead letters.


def streamed_table_ids() -> list[str]:
    from chalicelib.store import schema

    return [table_id(m.Meta.base_name) for m in schema.streamed_models()]


def stream_events(stage: str) -> dict[str, Any]:
    """The events function's event sources (SAM `Events`): one per change stream.
    The first takes the name Chalice gives its decorator's, so it replaces it."""
    from chalicelib.store import schema

    chalice_name = cfn_name(f"{EVENTS_FUNCTION}-dynamodb-event-source")
    found: dict[str, Any] = {}
    for n, model in enumerate(schema.streamed_models()):
        logical = table_id(model.Meta.base_name)
        properties: dict[str, Any] = {
            "Stream": {"Fn::GetAtt": [logical, "StreamArn"]},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": EVENTS_BATCH_SIZE,
            "MaximumBatchingWindowInSeconds": 1,
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": EVENTS_MAX_RETRIES,
            "DestinationConfig": {
                "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}}
            },
        }
        if model.Meta.base_name == "counters":
            # only an inventory shard running out can be an event (campaign.sold_out)
            pattern = {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"stock": {"N": ["0"]}}}}
            properties["FilterCriteria"] = {"Filters": [{"Pattern": json.dumps(pattern, separators=(",", ":"))}]}
        found[chalice_name if n == 0 else f"{logical}Stream"] = {"Type": "DynamoDB", "Properties": properties}
    return found


def events_queues(stage: str) -> dict[str, dict[str, Any]]:
    name = f"{APP_NAME}-{stage}-deliveries"
    timeout = lambda_timeout(stage, DELIVERIES_CONSUMER)
    queue_arn = f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{name}"
    return {
        "DeliveriesDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{name}-dlq",
                "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": True,
                "RedriveAllowPolicy": {"redrivePermission": "byQueue", "sourceQueueArns": [{"Fn::Sub": queue_arn}]},
            },
        },
        "DeliveriesQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": name,
                "VisibilityTimeout": VISIBILITY_FACTOR * timeout,
                "MessageRetentionPeriod": 345_600,  # 4 days: longer than the retry schedule's steps
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["DeliveriesDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": DELIVERIES_MAX_RECEIVE_COUNT,
                },
            },
        },
        # stream records the events function gave up on (after its retries): their
        # events are missing until redriven (re-reading a record writes nothing twice)
        "EventsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "QueueName": f"{APP_NAME}-{stage}-events-dlq",
                "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": True,
            },
        },
    }


def webhook_key(stage: str) -> dict[str, dict[str, Any]]:
    """The KMS key sealing webhook signing secrets at rest (the account administers it)."""
    return {
        "WebhookSecretsKey": {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": f"{APP_NAME}-{stage}: seals webhook signing secrets",
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministers",
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ],
                },
            },
        },
        "WebhookSecretsKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": f"alias/{APP_NAME}-{stage}-webhook-secrets",
                "TargetKeyId": {"Ref": "WebhookSecretsKey"},
            },
        },
    }


def _stream_arns() -> list[Any]:
    return [{"Fn::GetAtt": [logical, "StreamArn"]} for logical in streamed_table_ids()]


def events_statements(fn: Function) -> list[dict[str, Any]]:
    """What the events functions need beyond the tables."""
    key = [{"Fn::GetAtt": ["WebhookSecretsKey", "Arn"]}]
    deliveries = [{"Fn::GetAtt": ["DeliveriesQueue", "Arn"]}]
    if fn.kind == "api":
        return [_statement("SealWebhookSecrets", ("kms:Encrypt",), key)]
    if fn.name == EVENTS_FUNCTION:
        return [
            _statement("ReadChangeStreams", STREAM_ACTIONS, _stream_arns()),
            _statement("SendDeliveries", SQS_SEND_ACTIONS, deliveries),
            _statement("ParkFailedRecords", SQS_SEND_ACTIONS, [{"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}]),
        ]
    if fn.name == DELIVERIES_CONSUMER:
        return [
            _statement("ConsumeDeliveries", SQS_CONSUMER_ACTIONS, deliveries),
            _statement("SendDeliveries", SQS_SEND_ACTIONS, deliveries),
            _statement("OpenWebhookSecrets", ("kms:Decrypt",), key),
        ]
    return []


def events_policy_file_statements(stage: str) -> list[dict[str, Any]]:
    """The same for `chalice deploy`'s policy file (names exact, account and region wildcards)."""
    from chalicelib.store import schema

    prefix = f"{APP_NAME}-{stage}"
    streams = [f"arn:aws:dynamodb:*:*:table/{prefix}-{m.Meta.base_name}/stream/*" for m in schema.streamed_models()]
    return [
        _statement("ReadChangeStreams", STREAM_ACTIONS, streams),  # type: ignore[arg-type]
        _statement(
            "Deliveries",
            (*SQS_CONSUMER_ACTIONS, *SQS_SEND_ACTIONS),
            [f"arn:aws:sqs:*:*:{prefix}-deliveries", f"arn:aws:sqs:*:*:{prefix}-events-dlq"],  # type: ignore[list-item]
        ),
        {
            "Sid": "WebhookSecrets",
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": ["arn:aws:kms:*:*:key/*"],
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": f"alias/{prefix}-webhook-secrets"}},
        },
    ]


def events_parameters() -> dict[str, Any]:
    return {
        "SmsCentreUrl": {
            "Type": "String",
            "Default": "",
            "Description": (
                "The operator's SMS centre (HTTPS, taking {to, text, ref}) for SMS replies and notifications"
                " (empty: none are sent)."
            ),
        }
    }


def events_environment(fn: Function) -> dict[str, Any]:
    env: dict[str, Any] = {}
    if fn.kind == "api" or fn.name == DELIVERIES_CONSUMER:
        env["DIEM_WEBHOOK_KMS_KEY_ID"] = {"Ref": "WebhookSecretsKey"}
    if fn.name in (EVENTS_FUNCTION, DELIVERIES_CONSUMER):
        env["DIEM_DELIVERIES_QUEUE_URL"] = {"Ref": "DeliveriesQueue"}
    if fn.kind == "api" or fn.name == DELIVERIES_CONSUMER:  # the SMS keywords' replies, the notifications
        env["DIEM_SMS_URL"] = {"Ref": "SmsCentreUrl"}
    if fn.kind != "authorizer":
        env["DIEM_WEBHOOKS_ALLOW_LOCAL"] = "false"
    return env


def events_alarms(stage: str) -> dict[str, Any]:
    return {
        "WebhookDeliveriesFailedAlarm": _alarm(
            "Webhook deliveries failed after their last attempt (or their endpoint went away): see "
            "GET /v1/webhooks/{id}/deliveries.",
            Namespace="Diem",
            MetricName="WebhookDeliveriesFailed",
            # Powertools' EMF dimensions: service and the default stage
            Dimensions=[{"Name": "service", "Value": APP_NAME}, {"Name": "stage", "Value": stage}],
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
        ),
        "EventsDeadLetterAlarm": _dead_letter_alarm(
            "Change-stream records the events function gave up on: their events are missing until redriven.",
            "EventsDeadLetterQueue",
        ),
        "DeliveriesDeadLetterAlarm": _dead_letter_alarm(
            "Deliveries-queue messages that kept failing: inspect, fix, redrive.", "DeliveriesDeadLetterQueue"
        ),
    }


def events_resources(stage: str, fns: tuple[Function, ...], resources: dict[str, Any]) -> None:
    """Add the events pipeline to a stage's merge template."""
    names = {f.name: f for f in fns}
    if EVENTS_FUNCTION not in names or DELIVERIES_CONSUMER not in names:
        raise RuntimeError(f"app.py needs the functions {EVENTS_FUNCTION!r} and {DELIVERIES_CONSUMER!r}")
    resources.update(events_queues(stage))
    resources.update(webhook_key(stage))
    events_fn = names[EVENTS_FUNCTION]
    resources[events_fn.logical_id]["Properties"]["Events"] = stream_events(stage)
    consumer = names[DELIVERIES_CONSUMER]
    resources["DeliveriesConsumerEventSourceMapping"] = {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["DeliveriesQueue", "Arn"]},
            "FunctionName": {"Ref": consumer.logical_id},
            "BatchSize": DELIVERIES_BATCH_SIZE,
            "MaximumBatchingWindowInSeconds": 0,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": STAGES[stage].consumer_max_concurrency},
            "Enabled": True,
        },
    }
    resources.update(events_alarms(stage))


# -- files ----------------------------------------------------------------------


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def committed_files() -> dict[Path, str]:
    """Every generated file that is committed, with the content it must have."""
    files = {path: dumps(template(stage)) for stage, path in TEMPLATES.items()}
    for stage in STAGES:
        files[ROOT / ".chalice" / f"policy-{stage}.json"] = dumps(policy_file(stage))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.build", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=sorted(STAGES), help="write only this stage's template (needs --out)")
    parser.add_argument("--out", type=Path, help="directory for resources.json (default: regenerate committed files)")
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs from the models")
    args = parser.parse_args(argv)
    if args.out is not None:
        stage = args.stage or "dev"
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "resources.json"
        path.write_text(dumps(template(stage)))
        print(f"wrote {path} ({stage})")
        return 0
    if args.stage:
        parser.error("--stage needs --out (the committed files cover every stage)")
    stale = []
    for path, content in committed_files().items():
        current = path.read_text() if path.exists() else None
        if current == content:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(content)
    for path in stale:
        print(f"{'drifted' if args.check else 'wrote'} {path.relative_to(ROOT)}")
    if args.check and stale:
        print("run `python -m infra.build` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
