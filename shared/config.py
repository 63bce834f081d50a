"""Configuration from environment variables, declared in one table.

Every variable the suite reads is a `Setting` here, so `python -m ops env` can print the
table the README documents and a typo in a name fails loudly instead of using a default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SERVICES: tuple[str, ...] = (
    "identity",
    "billing",
    "metering",
    "payments",
    "support",
    "notifications",
)

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/cvt"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str

    def get(self) -> str:
        return os.environ.get(self.name, self.default)


AMQP_URI = Setting(
    "AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URI (vhost included)"
)
DATABASE_URL = Setting(
    "DATABASE_URL",
    DEFAULT_DATABASE_URL,
    "Default database for every service; each service keeps its own schema in it",
)
GATEWAY_ADDRESS = Setting("GATEWAY_ADDRESS", "127.0.0.1:8000", "host:port the gateway listens on")
CORS_ORIGINS = Setting(
    "CORS_ORIGINS", "", "Comma-separated frontend origins allowed by CORS (none by default)"
)
TRUSTED_PROXIES = Setting(
    "TRUSTED_PROXIES",
    "",
    "Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For "
    "the gateway believes (none by default: the TCP peer is the client)",
)
MAX_BODY_BYTES = Setting("MAX_BODY_BYTES", "1048576", "Largest request body the gateway accepts")
READY_TIMEOUT_SECONDS = Setting(
    "READY_TIMEOUT_SECONDS", "2.0", "How long /v1/ready waits for each service's health RPC"
)
MAX_WORKERS = Setting("MAX_WORKERS", "50", "Concurrent workers (and AMQP prefetch) per process")
DB_POOL_SIZE = Setting(
    "DB_POOL_SIZE", "5", "Database connections each process keeps open (up to twice that busy)"
)
LOG_LEVEL = Setting("LOG_LEVEL", "INFO", "Python log level of every process")
LOG_FORMAT = Setting(
    "LOG_FORMAT",
    "text",
    "text: readable lines; json: one JSON object a line (service, entrypoint, request id, "
    "organization, actor, level, message, exception) for a log collector",
)
METRICS_PORT = Setting(
    "METRICS_PORT",
    "9100",
    "Port each process serves Prometheus metrics on (/metrics, all interfaces); 0 = off. "
    "`python -m ops` runs everything on one machine, so it gives each service and the "
    "gateway a port of its own from here up (`python -m ops status` lists them)",
)
OTEL_EXPORTER_OTLP_ENDPOINT = Setting(
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "",
    "OpenTelemetry collector base URL (OTLP/HTTP; spans go to <url>/v1/traces); empty = "
    "no tracing. The SDK's other OTEL_* variables (sampler, headers) apply",
)
MIGRATE_ON_START = Setting(
    "MIGRATE_ON_START", "true", "Apply the service's migrations when its process starts"
)
OUTBOX_INTERVAL_SECONDS = Setting(
    "OUTBOX_INTERVAL_SECONDS", "1.0", "How often each service re-sends unpublished events"
)
BILLING_RUN_BATCH_SIZE = Setting(
    "BILLING_RUN_BATCH_SIZE", "100", "Billing accounts a billing-run batch claims and invoices"
)
BILLING_RUN_WORKERS = Setting(
    "BILLING_RUN_WORKERS", "2", "Batches each billing process works on at once in a billing run"
)
BILLING_RUN_POLL_SECONDS = Setting(
    "BILLING_RUN_POLL_SECONDS",
    "5",
    "How often each billing process looks for unfinished billing runs to join or resume",
)
RETRY_DELAYS_SECONDS = Setting(
    "RETRY_DELAYS_SECONDS",
    "2,10,60,300,900",
    "Pauses before each retry of a failed message; after the last, it is parked as a dead letter",
)
EMAIL_REQUESTS_PER_ADDRESS = Setting(
    "EMAIL_REQUESTS_PER_ADDRESS",
    "20",
    "Sign-ups, verification resends and password-reset requests accepted from one client "
    "address per 15 minutes (429 beyond)",
)
CVT_ADMIN_EMAIL = Setting("CVT_ADMIN_EMAIL", "admin@cvt.co.zw", "Seeded CVT staff user's email")
CVT_ADMIN_PASSWORD = Setting(
    "CVT_ADMIN_PASSWORD", "", "Seeded staff password; empty = generate one and print it once"
)
CVT_ADMIN_NAME = Setting("CVT_ADMIN_NAME", "CVT Administrator", "Seeded staff user's name")
REDIS_URL = Setting(
    "REDIS_URL", "redis://127.0.0.1:6379/0", "Redis for API-key rate limits shared by gateways"
)
REDIS_NAMESPACE = Setting("REDIS_NAMESPACE", "cvt", "Prefix of every Redis key the suite writes")
SMTP_HOST = Setting("SMTP_HOST", "127.0.0.1", "SMTP server notifications sends mail through")
SMTP_PORT = Setting("SMTP_PORT", "1025", "Its port (`make up` runs a local sink on 1025)")
SMTP_USERNAME = Setting("SMTP_USERNAME", "", "SMTP login, if the server wants one")
SMTP_PASSWORD = Setting("SMTP_PASSWORD", "", "SMTP password, if the server wants one")
SMTP_STARTTLS = Setting("SMTP_STARTTLS", "false", "Upgrade the SMTP connection with STARTTLS")
MAIL_FROM = Setting("MAIL_FROM", "CVT <no-reply@cvt.co.zw>", "Sender of every email")
APP_URL = Setting("APP_URL", "http://localhost:3000", "Web frontend base URL, for links in emails")
PUBLIC_URL = Setting(
    "PUBLIC_URL",
    "",
    "The gateway's public base URL: pay links in emails, Paynow's return and result URLs "
    "(empty: http://GATEWAY_ADDRESS)",
)
CVT_VAR_DIR = Setting("CVT_VAR_DIR", "var", "Where `make up` keeps pid files and logs")
CONTEXT_SIGNING_KEY = Setting(
    "CONTEXT_SIGNING_KEY",
    "",
    "Secret every process signs and checks call contexts with (at least 32 characters); "
    "comma-separated to rotate: the first signs, all verify. Required: processes refuse to "
    "start without it; `make up` creates one in CVT_VAR_DIR if unset",
)
PAYNOW_URL = Setting(
    "PAYNOW_URL",
    "http://127.0.0.1:8010",
    "Base URL where the payments service reaches Paynow: the local simulator by default, "
    "https://www.paynow.co.zw in production",
)
PAYNOW_INTEGRATION_ID = Setting(
    "PAYNOW_INTEGRATION_ID",
    "",
    "Paynow integration id of the suite; `make up` creates a local id and key for the "
    "simulator in CVT_VAR_DIR when neither is set",
)
PAYNOW_INTEGRATION_KEY = Setting(
    "PAYNOW_INTEGRATION_KEY",
    "",
    "Paynow integration key (a GUID) that signs every message to and from Paynow",
)
SUPPORT_TEAM_EMAIL = Setting(
    "SUPPORT_TEAM_EMAIL",
    "support@cvt.co.zw",
    "CVT's support inbox: new and reopened tickets and the daily summary are emailed here",
)
SUPPORT_RESPONSE_TARGETS = Setting(
    "SUPPORT_RESPONSE_TARGETS",
    "URGENT=1h,HIGH=4h,NORMAL=1bd,LOW=3bd",
    "Time to a ticket's first staff response, per priority: hours (h) or business days "
    "(bd, Monday to Friday, UTC)",
)
SUPPORT_SUMMARY_HOUR_UTC = Setting(
    "SUPPORT_SUMMARY_HOUR_UTC",
    "6",
    "Hour of the day (UTC) after which support sends staff the daily summary",
)
PAYNOW_AUTH_EMAIL = Setting(
    "PAYNOW_AUTH_EMAIL",
    "payments@cvt.co.zw",
    "Payer email sent to Paynow (authemail) when the payer gives none; in Paynow's test "
    "mode it must be the merchant account's own email",
)
PAYNOW_POLL_INTERVAL_SECONDS = Setting(
    "PAYNOW_POLL_INTERVAL_SECONDS",
    "30",
    "How often payments polls Paynow for pending payments (a lost status post still settles)",
)
PAYNOW_PAYMENT_EXPIRY_MINUTES = Setting(
    "PAYNOW_PAYMENT_EXPIRY_MINUTES",
    "60",
    "A Paynow payment still pending after this long is cancelled as expired",
)
PAYNOW_SIMULATOR_ADDRESS = Setting(
    "PAYNOW_SIMULATOR_ADDRESS", "127.0.0.1:8010", "host:port the Paynow simulator listens on"
)
PAYNOW_SIMULATOR_MERCHANTS = Setting(
    "PAYNOW_SIMULATOR_MERCHANTS",
    "",
    "More merchants the simulator knows, as id:key,id:key (it always knows "
    "PAYNOW_INTEGRATION_ID/PAYNOW_INTEGRATION_KEY)",
)
PAYNOW_SIMULATOR_DELAY_SCALE = Setting(
    "PAYNOW_SIMULATOR_DELAY_SCALE",
    "1.0",
    "Multiplies the simulator's test-mode delays (5 s, 30 s) and status-post retry pauses",
)
PAYNOW_SIMULATOR_JOURNAL = Setting(
    "PAYNOW_SIMULATOR_JOURNAL",
    "",
    "File where the simulator keeps its transactions across restarts (empty: "
    "CVT_VAR_DIR/paynow-simulator-transactions.jsonl; '-': in memory only)",
)
PAYNOW_SIMULATOR_BROWSER_URL = Setting(
    "PAYNOW_SIMULATOR_BROWSER_URL",
    "",
    "Base URL browsers reach the simulator at, for its browserurl (empty: the URL the "
    "merchant called)",
)


def database_setting(service: str) -> Setting:
    return Setting(
        f"{service.upper()}_DATABASE_URL",
        "",
        f"Database of the {service} service (falls back to DATABASE_URL)",
    )


def database_url(service: str) -> str:
    return database_setting(service).get() or DATABASE_URL.get()


def all_settings() -> list[Setting]:
    plain = [value for value in globals().values() if isinstance(value, Setting)]
    return plain + [database_setting(service) for service in SERVICES]


def cors_origins() -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in CORS_ORIGINS.get().split(",") if o.strip())


def public_url() -> str:
    """The gateway's base URL as the outside world reaches it, without a trailing slash."""
    return (PUBLIC_URL.get() or f"http://{GATEWAY_ADDRESS.get()}").rstrip("/")


def flag(setting: Setting) -> bool:
    return setting.get().strip().lower() in {"1", "true", "yes", "on"}


def nameko_config() -> dict[str, object]:
    return {
        "AMQP_URI": AMQP_URI.get(),
        "WEB_SERVER_ADDRESS": GATEWAY_ADDRESS.get(),
        "max_workers": int(MAX_WORKERS.get()),
        "serializer": "json",
        # nameko's own call-id stack: enough to trace gateway -> service -> service.
        "PARENT_CALLS_TRACKED": 5,
    }
