"""Process configuration: one frozen `Settings`, parsed once in the entry point.

Every knob is an environment variable (`BILTEN_*`); command-line flags override
them. Nothing else in Bilten reads `os.environ`: the entry point parses the
environment here and hands the result down. A bad value fails fast with a
`SettingsError` that names the variable (or the flag, for a flag's value).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bilten.protocol.errors import BadRequest, BiltenError
from bilten.protocol.mail import parse_email

LogFormat = Literal["text", "json"]
_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class SettingsError(BiltenError):
    """A configuration value is missing or malformed."""

    code = "bad_config"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a Bilten process needs to know about its surroundings.

    A URL left as None means "start that server embedded" for `bilten up` and
    "not configured" for everything else.
    """

    nats_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Bilten <noreply@bilten.localhost>"
    secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".bilten")
    log_format: LogFormat = "text"
    log_level: str = "INFO"
    namespace: str = "bilten"
    allowed_origins: tuple[str, ...] = ()
    public_url: str = "http://127.0.0.1:8080"
    history_size: int = 1000
    history_ttl_s: float = 86400.0
    stream_replicas: int = 1
    max_frame_bytes: int = 512 * 1024
    send_buffer_bytes: int = 1 << 20
    slow_consumer_grace_s: float = 2.0
    rate_limit_per_s: float = 100.0
    rate_limit_burst: int = 200
    ping_interval_s: float = 25.0
    ping_timeout_s: float = 10.0
    request_timeout_s: float = 5.0
    batch_max: int = 256
    restart_count: int = 0
    clickhouse_url: str | None = None
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    webhook_ca_file: Path | None = None
    webhook_timeout_s: float = 10.0
    webhook_retry_base_s: float = 30.0
    webhook_retry_max_s: float = 3600.0
    webhook_retry_window_s: float = 86400.0
    webhook_pause_after: int = 20
    webhook_concurrency: int = 64
    webhook_endpoint_concurrency: int = 4

    def require_secret(self) -> str:
        """The token signing key; raises when the entry point did not resolve one."""
        if not self.secret:
            raise SettingsError("BILTEN_SECRET", "not set and no development secret was resolved")
        return self.secret

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (after the same validation as parsing)."""
        return dataclasses.replace(self, **changes)


def _url(schemes: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or (not parts.hostname and not parts.path):
            raise SettingsError(name, f"expected a {'/'.join(schemes)} URL, got {raw!r}")
        return raw

    return parse


def _urls(schemes: tuple[str, ...]) -> Callable[[str, str], str]:
    """Comma-separated URLs of one cluster's servers, each checked like `_url`'s."""
    one = _url(schemes)

    def parse(name: str, raw: str) -> str:
        for part in raw.split(","):
            one(name, part)
        return raw

    return parse


def _int(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name, f"expected an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(name, f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _float(low: float, high: float) -> Callable[[str, str], float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(name, f"expected a number, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(name, f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _choice(*choices: str) -> Callable[[str, str], str]:
    by_folded = {choice.casefold(): choice for choice in choices}  # `info` means `INFO`

    def parse(name: str, raw: str) -> str:
        value = by_folded.get(raw.strip().casefold())
        if value is None:
            raise SettingsError(name, f"expected one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().casefold()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, f"expected true or false, got {raw!r}")


def _file(name: str, raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise SettingsError(name, f"no such file: {raw!r}")
    return path


def _smtp(name: str, raw: str) -> str:
    # Never echoes the value: it may hold the mail server's password.
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
        raise SettingsError(name, "expected smtp://[user:password@]host[:port] (smtps:// for TLS)")
    return raw


def _clickhouse(name: str, raw: str) -> str:
    # Never echoes the value: it may hold the server's password.
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise SettingsError(
            name, "expected http(s)://[user:password@]host[:port] (the HTTP interface)"
        )
    return raw


def _sender(name: str, raw: str) -> str:
    _display, address = parseaddr(raw)
    try:
        parse_email(address)
    except BadRequest:
        raise SettingsError(name, f"expected an address or `Name <address>`, got {raw!r}") from None
    return raw


def _secret(name: str, raw: str) -> str:
    if len(raw) < 32:  # RFC 7518 §3.2: an HS256 key of at least 256 bits
        raise SettingsError(name, "must be at least 32 characters")
    return raw


def _host(name: str, raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise SettingsError(name, f"not a host name or address: {raw!r}")
    return raw


def _namespace(name: str, raw: str) -> str:
    if not _NAMESPACE_RE.match(raw):
        raise SettingsError(name, "lowercase letters, digits and _, starting with a letter, ≤ 32")
    return raw


def _public_url(name: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, f"not an http(s) URL: {raw!r}")
    return raw.strip().rstrip("/")


def _origins(name: str, raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and urlsplit(origin).scheme not in ("http", "https"):
            raise SettingsError(name, f"not an http(s) origin: {origin!r}")
    return origins


# field name -> (environment variable, parser)
_FIELDS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    # Several servers of one cluster comma-separated: a client tries each (infra/deps.py).
    "nats_url": ("BILTEN_NATS_URL", _urls(("nats", "tls"))),
    "database_url": ("BILTEN_DATABASE_URL", _url(("postgres", "postgresql"))),
    "redis_url": ("BILTEN_REDIS_URL", _url(("redis", "rediss", "unix"))),
    "smtp_url": ("BILTEN_SMTP_URL", _smtp),
    "mail_from": ("BILTEN_MAIL_FROM", _sender),
    "secret": ("BILTEN_SECRET", _secret),
    "host": ("BILTEN_HOST", _host),
    "port": ("BILTEN_PORT", _int(0, 65535)),
    "data_dir": ("BILTEN_DATA_DIR", lambda _n, raw: Path(raw)),
    "log_format": ("BILTEN_LOG_FORMAT", _choice("text", "json")),
    "log_level": ("BILTEN_LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR")),
    "namespace": ("BILTEN_NAMESPACE", _namespace),
    "allowed_origins": ("BILTEN_ALLOWED_ORIGINS", _origins),
    # Where people reach the web pages: the base of the links in e-mails (docs/accounts.md).
    "public_url": ("BILTEN_PUBLIC_URL", _public_url),
    "history_size": ("BILTEN_HISTORY_SIZE", _int(1, 1_000_000)),
    "history_ttl_s": ("BILTEN_HISTORY_TTL", _float(1, 365 * 86400)),
    # Copies JetStream keeps of every stream: 3 on a three-server cluster (docs/deploy.md).
    "stream_replicas": ("BILTEN_STREAM_REPLICAS", _int(1, 5)),
    "max_frame_bytes": ("BILTEN_MAX_FRAME_BYTES", _int(1024, 64 << 20)),
    "send_buffer_bytes": ("BILTEN_SEND_BUFFER_BYTES", _int(4096, 1 << 30)),
    "slow_consumer_grace_s": ("BILTEN_SLOW_CONSUMER_GRACE", _float(0, 600)),
    "rate_limit_per_s": ("BILTEN_RATE_LIMIT", _float(0.1, 1e6)),
    "rate_limit_burst": ("BILTEN_RATE_BURST", _int(1, 1_000_000)),
    "ping_interval_s": ("BILTEN_PING_INTERVAL", _float(0.1, 3600)),
    "ping_timeout_s": ("BILTEN_PING_TIMEOUT", _float(0.1, 3600)),
    "request_timeout_s": ("BILTEN_REQUEST_TIMEOUT", _float(0.05, 600)),
    # Requests a worker decides in one transaction (workers/batching.py); 1: each alone.
    "batch_max": ("BILTEN_BATCH_MAX", _int(1, 10_000)),
    # Set by `bilten up` on a child it restarted; exported as bilten_process_restarts_total.
    "restart_count": ("BILTEN_RESTART_COUNT", _int(0, 1_000_000_000)),
    # Analytics in a ClickHouse server; unset: embedded (chdb) in the analytics worker.
    "clickhouse_url": ("BILTEN_CLICKHOUSE_URL", _clickhouse),
    # Webhooks (docs/webhooks.md §Settings). Plain http:// URLs and loopback, private or
    # link-local addresses are refused unless allowed (development, tests).
    "webhook_allow_http": ("BILTEN_WEBHOOK_ALLOW_HTTP", _bool),
    "webhook_allow_private": ("BILTEN_WEBHOOK_ALLOW_PRIVATE", _bool),
    # PEM certificates the webhooks worker trusts besides the system's (a private CA).
    "webhook_ca_file": ("BILTEN_WEBHOOK_CA_FILE", _file),
    "webhook_timeout_s": ("BILTEN_WEBHOOK_TIMEOUT", _float(0.1, 60)),
    # Backoff after a failed attempt: base doubling up to max, within the window.
    "webhook_retry_base_s": ("BILTEN_WEBHOOK_RETRY_BASE", _float(0.001, 3600)),
    "webhook_retry_max_s": ("BILTEN_WEBHOOK_RETRY_MAX", _float(0.001, 86400)),
    "webhook_retry_window_s": ("BILTEN_WEBHOOK_RETRY_WINDOW", _float(1, 7 * 86400)),
    # Consecutive failed attempts that pause an endpoint until it is resumed.
    "webhook_pause_after": ("BILTEN_WEBHOOK_PAUSE_AFTER", _int(1, 1_000_000)),
    "webhook_concurrency": ("BILTEN_WEBHOOK_CONCURRENCY", _int(1, 10_000)),
    "webhook_endpoint_concurrency": ("BILTEN_WEBHOOK_ENDPOINT_CONCURRENCY", _int(1, 1_000)),
}


def variable_for(field: str) -> str:
    """The environment variable that sets `field`."""
    return _FIELDS[field][0]


def flag_for(field: str) -> str:
    """The command-line flag that overrides `field` (`port` -> `--port`)."""
    return "--" + field.replace("_", "-")


def default_help(field: str) -> str:
    """`(BILTEN_PORT, default: 8080)`: where a flag's value comes from when it is not given."""
    default = getattr(Settings(), field)
    if default is None:
        return f"({variable_for(field)}; unset: embedded by `bilten up`)"
    return f"({variable_for(field)}, default: {default})"


def load_settings(env: Mapping[str, str], **overrides: Any) -> Settings:
    """Parse `env` (usually os.environ) into Settings; non-None overrides win.

    Overrides come from command-line flags, as raw strings or typed values;
    strings go through the same parser as the environment, and an error names
    the flag (`--port`) the user typed rather than the variable.
    """
    values: dict[str, Any] = {}
    for field, (variable, parse) in _FIELDS.items():
        raw = env.get(variable)
        if raw is not None and raw != "":
            values[field] = parse(variable, raw)
    for field, value in overrides.items():
        if value is None:
            continue
        if field not in _FIELDS:
            raise SettingsError(field, "unknown setting")
        parse = _FIELDS[field][1]
        values[field] = parse(flag_for(field), value) if isinstance(value, str) else value
    settings = Settings(**values)
    if settings.rate_limit_burst < settings.rate_limit_per_s / 10:
        raise SettingsError("BILTEN_RATE_BURST", "must allow at least 0.1 s of BILTEN_RATE_LIMIT")
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process parse exactly these settings."""
    env: dict[str, str] = {}
    for field, (variable, _parse) in _FIELDS.items():
        value = getattr(settings, field)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ",".join(value)
        env[variable] = str(value)
    return env
