"""The one place that reads environment variables and holds the business defaults.

Everything is read lazily, on first use: Chalice's test client sets stage
variables only while a request runs, and Lambda sets them before import.
`reset()` forgets what was read (tests change the environment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from functools import lru_cache

# the development default only; every deployed stage sets DIEM_JWT_SECRET or a JWKS URL
DEV_JWT_SECRET = "diem-dev-secret-change-me-0123456789abcdef"  # noqa: S105


@dataclass(frozen=True)
class Settings:
    """Deployment settings, from environment variables."""

    stage: str
    region: str
    table_prefix: str
    dynamodb_endpoint: str | None
    jwt_secret: str | None
    jwt_jwks_url: str | None
    jwt_issuer: str | None
    jwt_audience: str | None
    log_level: str
    api_key_cache_seconds: float
    # how long the commit kernel keeps retrying contention and throttling before a 503
    commit_budget_seconds: float
    in_lambda: bool
    tracing: bool
    # a bearer token living longer than this (exp - iat) is refused, however it was signed
    jwt_max_lifetime_seconds: int = 12 * 3600
    # how far in the future a caller's timestamp (a spend event's occurred_at) may be
    max_clock_skew_seconds: int = 300
    # channels: where outbound SMS go (an HTTP endpoint taking {to, text, ref});
    # unset = recorded in the function only (chalicelib.notify.sms)
    sms_url: str | None = None
    # how long a warm function caches a gateway key look-up
    gateway_key_cache_seconds: float = 60.0
    # -- jobs fan-out (chalicelib/jobs/fanout.py): the queue the schedules put one task per
    # due partition on (unset: the schedule works its tasks itself, in parallel threads)
    jobs_queue_url: str | None = None
    # -- events, webhooks, notifications (chalicelib/events, webhooks, notify) --
    # the SQS queue of webhook deliveries and SMS notifications; unset: the local queue `make run` registers
    deliveries_queue_url: str | None = None
    # the KMS key sealing webhook secrets at rest; unset: stored plain (development only, refused in Lambda)
    webhook_kms_key_id: str | None = None
    # webhooks to http://127.0.0.1 / localhost: only on a development stage outside Lambda
    webhooks_allow_local: bool = False
    # -- network products (chalicelib/products): the operator's charging system, an HTTP
    # service speaking docs/charging.md (locally dev/charging_sim.py); unset = no answer,
    # every order stays pending until one is configured. `charging_adapter`: another
    # implementation of chalicelib.products.charging.Charging, as "package.module:factory"
    charging_url: str | None = None
    charging_timeout_seconds: float = 3.0
    charging_adapter: str | None = None
    # -- people's surfaces: the web console's sign-in for a deployed stage, OpenID Connect
    # with PKCE (DIEM_CONSOLE_OIDC_*; docs/console.md). Unset: no OIDC sign-in offered
    console_oidc_authorization_url: str | None = None
    console_oidc_token_url: str | None = None
    console_oidc_client_id: str | None = None
    console_oidc_scope: str = "openid"
    # which token of the provider's answer the console sends as its bearer token
    console_oidc_bearer: str = "id_token"

    @property
    def dev_sign_in(self) -> bool:
        """The console's development sign-in (a token for any role and subject) exists
        only locally: the dev stage, outside Lambda, with an HS256 secret and no JWKS."""
        return self.stage == "dev" and not self.in_lambda and bool(self.jwt_secret) and not self.jwt_jwks_url

    @property
    def console_oidc(self) -> bool:
        """Whether the console's OpenID Connect sign-in is configured."""
        return bool(self.console_oidc_authorization_url and self.console_oidc_token_url and self.console_oidc_client_id)


@dataclass(frozen=True)
class Rules:
    """Business defaults from DOMAIN.md; an operator changes them here, not in code."""

    zone: timezone = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
    earn_rates_percent: dict[str, str] = field(
        default_factory=lambda: {
            "mobile": "5",
            "data": "5",
            "ftth": "0.5",
            "tv": "0.5",
            "digital": "0.3",
        }
    )
    # tier code -> (rank points needed in the trailing 12 months, spendable multiplier)
    tiers: tuple[tuple[str, int, str], ...] = (
        ("potential", 0, "1.0"),
        ("loyal", 10_000, "1.0"),
        ("silver", 30_000, "1.1"),
        ("gold", 80_000, "1.2"),
        ("diamond", 150_000, "1.5"),
    )
    tenure_gate_months: int = 12
    tenure_gate_max_tier: str = "loyal"
    tier_cycle_months: int = 12
    rank_window_months: int = 12
    spendable_expiry_months: int = 12
    short_expiry_services: tuple[str, ...] = ("data",)
    short_expiry_months: int = 1
    # (minimum whole years of tenure, bonus points), highest first
    tenure_bonus: tuple[tuple[int, int], ...] = ((5, 5_000), (3, 3_000), (1, 1_000))
    idempotency_ttl_hours: int = 24
    old_api_key_grace_hours: int = 24
    reversal_window_days: int = 30
    unknown_code_limit_per_hour: int = 100
    grant_max_msisdns: int = 1_000
    default_per_subscriber_limit: int = 1
    # scheduled jobs read sparse "due" indexes spread over this many partitions
    due_index_shards: int = 16
    # a flash-sale campaign takes this many claims per second per inventory shard
    claims_per_shard_per_second: int = 250
    max_inventory_shards: int = 64
    claim_max_attempts: int = 6
    # -- households (DOMAIN.md "Households")
    household_max_members: int = 5
    household_invitation_days: int = 7
    household_rejoin_wait_days: int = 30
    # open invitations one household holds at once (they live on its item)
    household_max_invitations: int = 20
    # channels for basic phones (DOMAIN.md "Channels and notifications"): one USSD
    # page, two SMS segments, in GSM 03.38 characters
    ussd_screen_chars: int = 182
    # what subscribers dial (SMS replies point to it)
    ussd_short_code: str = "*098#"
    sms_reply_chars: int = 306
    # a USSD session's state is kept this long (gateways end a session within minutes)
    ussd_session_seconds: int = 900
    # the newest active offers a USSD session lists (numbered 1..n, below 98 "next")
    ussd_max_offers: int = 30
    # the wallet and history screens look at this many of the newest items
    ussd_wallet_items: int = 50
    ussd_history_entries: int = 5
    # -- events, webhooks, notifications (API.md "Events and webhooks", DOMAIN.md) --
    event_retention_days: int = 30
    # the operator's feed is spread over this many index partitions (a flash sale's
    # 10,000 events/s over ~1,000 writes/s per partition); a partner's is one
    event_feed_shards: int = 16
    # the feed shows an event once it is this old: events written a moment
    # earlier by another invocation (or still reaching the index) cannot then
    # appear behind a cursor already handed out
    event_feed_settle_seconds: int = 3
    # Standard Webhooks: after the first attempt, retried after these delays, then `failed`
    webhook_retry_seconds: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    webhook_timeout_seconds: float = 10.0
    webhook_secret_grace_hours: int = 24
    max_webhooks_per_owner: int = 20
    webhook_url_max_length: int = 2048
    # points expiring within this many days get one notice per subscriber and date
    expiry_notice_days: int = 7
    # no notification SMS from 21:00 to 08:00 local time: held until 08:00
    quiet_hours: tuple[int, int] = (21, 8)
    sms_max_attempts: int = 5
    # network products (DOMAIN.md "Points for network products"): the settlement job
    # leaves an order this young to its own request (still waiting on the charging
    # system), then asks about it with a backoff from base doubling to cap between
    # attempts; past `alarm_after` attempts without an answer it alarms (and goes on asking)
    product_settle_grace_seconds: int = 60
    product_settle_backoff_base_seconds: int = 60
    product_settle_backoff_cap_seconds: int = 3600
    product_settle_alarm_after: int = 8


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Read the deployment settings once."""
    stage = _env("DIEM_STAGE", "dev") or "dev"
    return Settings(
        stage=stage,
        region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION", "ap-southeast-1")) or "ap-southeast-1",
        table_prefix=_env("DIEM_TABLE_PREFIX", f"diem-{stage}-") or "",
        dynamodb_endpoint=_env("DIEM_DYNAMODB_ENDPOINT"),
        jwt_secret=_env("DIEM_JWT_SECRET"),
        jwt_jwks_url=_env("DIEM_JWT_JWKS_URL"),
        jwt_issuer=_env("DIEM_JWT_ISSUER"),
        jwt_audience=_env("DIEM_JWT_AUDIENCE"),
        log_level=_env("DIEM_LOG_LEVEL", "INFO") or "INFO",
        api_key_cache_seconds=float(_env("DIEM_API_KEY_CACHE_SECONDS", "60") or 60),
        # well inside the API function's 10 s timeout at DynamoDB's latency
        commit_budget_seconds=float(_env("DIEM_COMMIT_BUDGET_SECONDS", "6") or 6),
        in_lambda=_env("AWS_LAMBDA_FUNCTION_NAME") is not None,
        # X-Ray needs the aws-xray-sdk (a layer) and xray:PutTraceSegments on "*"
        tracing=(_env("DIEM_TRACING", "false") or "").lower() == "true",
        jwt_max_lifetime_seconds=int(_env("DIEM_JWT_MAX_LIFETIME_SECONDS", "43200") or 43200),
        max_clock_skew_seconds=int(_env("DIEM_MAX_CLOCK_SKEW_SECONDS", "300") or 300),
        sms_url=_env("DIEM_SMS_URL"),
        gateway_key_cache_seconds=float(_env("DIEM_GATEWAY_KEY_CACHE_SECONDS", "60") or 60),
        jobs_queue_url=_env("DIEM_JOBS_QUEUE_URL"),
        deliveries_queue_url=_env("DIEM_DELIVERIES_QUEUE_URL"),
        webhook_kms_key_id=_env("DIEM_WEBHOOK_KMS_KEY_ID"),
        webhooks_allow_local=_allow_local_webhooks(stage),
        charging_url=_env("DIEM_CHARGING_URL"),
        charging_timeout_seconds=float(_env("DIEM_CHARGING_TIMEOUT_SECONDS", "3") or 3),
        charging_adapter=_env("DIEM_CHARGING_ADAPTER"),
        console_oidc_authorization_url=_env("DIEM_CONSOLE_OIDC_AUTHORIZATION_URL"),
        console_oidc_token_url=_env("DIEM_CONSOLE_OIDC_TOKEN_URL"),
        console_oidc_client_id=_env("DIEM_CONSOLE_OIDC_CLIENT_ID"),
        console_oidc_scope=_env("DIEM_CONSOLE_OIDC_SCOPE", "openid") or "openid",
        console_oidc_bearer=_env("DIEM_CONSOLE_OIDC_BEARER", "id_token") or "id_token",
    )


def _allow_local_webhooks(stage: str) -> bool:
    """DIEM_WEBHOOKS_ALLOW_LOCAL=true|false; by default only the dev stage off
    Lambda (inside Lambda, 127.0.0.1 is the runtime's own API: never a target)."""
    if _env("AWS_LAMBDA_FUNCTION_NAME") is not None:
        return False
    given = (_env("DIEM_WEBHOOKS_ALLOW_LOCAL") or "").lower()
    if given in ("true", "false"):
        return given == "true"
    return stage == "dev"


_rules = Rules()


def rules() -> Rules:
    """The business defaults."""
    return _rules


def reset() -> None:
    """Forget cached settings (the environment changed)."""
    settings.cache_clear()
