"""Configuration: one TOML file plus IDP_<SECTION>_<KEY> environment overrides, strictly validated."""
from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "IDP_"
REQUIRED = dataclasses.MISSING


class ConfigError(Exception):
    """A configuration problem: names the file, the key and the reason."""


@dataclass(frozen=True)
class SecretsConfig:
    session_key: str                       # signs browser cookies; 32+ random bytes
    key_encryption_key: str                # Fernet key encrypting signing keys and TOTP secrets


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///instance/idp.db"
    pool_size: int = 5
    max_overflow: int = 5
    echo: bool = False


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    worker_class: str = "sync"
    threads: int = 1
    timeout: int = 30
    trusted_proxies: int = 0


@dataclass(frozen=True)
class PasswordsConfig:
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    min_length: int = 8
    min_length_single_factor: int = 15     # when the password is the account's only factor (NIST SP 800-63B)


# The most work one argon2 check may take: the configured parameters, and any stored hash's (a crafted or corrupt
# imported hash must not hold a worker for hours: t = 2^32 - 1 would; idp.security.passwords)
ARGON2_MAX_MEMORY_KIB = 1024 * 1024   # 1 GiB
ARGON2_MAX_TIME_COST = 100
ARGON2_MAX_PARALLELISM = 64


def argon2_limits_problem(memory_kib: int, time_cost: int, parallelism: int) -> str | None:
    """Why these argon2 parameters are beyond what this server verifies, or None."""
    if memory_kib > ARGON2_MAX_MEMORY_KIB or time_cost > ARGON2_MAX_TIME_COST or parallelism > ARGON2_MAX_PARALLELISM:
        return (f"argon2 parameters beyond the limits (m <= {ARGON2_MAX_MEMORY_KIB} KiB, t <= {ARGON2_MAX_TIME_COST}, "
                f"p <= {ARGON2_MAX_PARALLELISM})")
    return None


@dataclass(frozen=True)
class TokensConfig:
    authorization_code_ttl: int = 60
    access_token_ttl: int = 3600
    id_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 86400
    refresh_for_all_clients: bool = False
    signing_alg: str = "RS256"


@dataclass(frozen=True)
class LoginConfig:
    transaction_ttl_minutes: int = 10
    session_ttl_hours: int = 12
    session_idle_minutes: int = 30         # a browser session unused this long is over (idp.browser.sessions)
    max_second_factor_failures: int = 5


@dataclass(frozen=True)
class PolicyConfig:
    dir: str = "policies"
    default_flow: str = "browser"
    upstream_flow: str = "upstream"
    acr_password: str = "urn:fentu:acr:password"
    acr_mfa: str = "urn:fentu:acr:mfa"
    clients: dict[str, str] = field(default_factory=dict)
    organisations: dict[str, str] = field(default_factory=dict)
    reload_interval_seconds: float = 2.0


@dataclass(frozen=True)
class TotpConfig:
    issuer: str = "Fentu FSM"
    digits: int = 6
    period: int = 30
    algorithm: str = "SHA1"
    window: int = 1
    drift_detection_steps: int = 10
    max_learned_offset_steps: int = 4


@dataclass(frozen=True)
class OtpDeliveryConfig:
    code_ttl_minutes: int = 10
    max_attempts: int = 5
    resend_interval_seconds: int = 30
    max_sends_per_hour: int = 5


@dataclass(frozen=True)
class EmailConfig:
    enabled: bool = False
    provider: str = "smtp"                 # smtp | outbox (development only: the /dev/outbox page)
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"                 # none | starttls | tls
    username: str = ""
    password: str = ""
    from_address: str = "Fentu IdP <no-reply@localhost>"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class SmsConfig:
    provider: str = "none"                 # none | webhook | twilio | console | outbox (the last two: development)
    webhook_url: str = ""
    webhook_token: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class OutboxConfig:
    """The outbound job queue (idp.outbox): mail and other deliveries leave after the request."""

    max_attempts: int = 8                  # then the job is dead (logged, audited, `idp outbox list`)
    retry_base_seconds: int = 30           # back-off: base * 2^(attempt-1), at most retry_max_seconds
    retry_max_seconds: int = 3600
    lease_seconds: int = 120               # a claimed job another worker may take over after this
    sweep_interval_seconds: float = 15.0   # every worker also looks for due jobs this often
    keep_done_days: int = 7                # sent jobs (their payload already erased) are removed after


@dataclass(frozen=True)
class LockoutConfig:
    """Second-factor lock (idp.factors.lockout), then the wrong-password limits (idp.attempts.counters)."""

    max_failures: int = 20
    base_lock_minutes: int = 15
    max_lock_minutes: int = 24 * 60
    password_free_failures: int = 5        # per account and per client, before a growing wait
    password_max_failures: int = 100       # account-wide: then untrusted clients are locked out (NIST: <= 100)
    password_max_wait_seconds: int = 900
    trusted_max_failures: int = 10         # a device cookie / known address with this many loses its trust
    device_cookie_days: int = 365
    trust_known_addresses: bool = True     # an address that signed in to the account before is trusted too
    known_address_days: int = 90


@dataclass(frozen=True)
class ProviderClaimsConfig:
    """Which upstream ID token claims hold the person's details (`[providers.claims]`)."""

    email: str = "email"
    email_verified: str = "email_verified"   # Entra ID: "xms_edov" (an optional claim)
    name: str = "name"
    groups: str = ""                         # empty: groups are not taken from the provider


@dataclass(frozen=True)
class ProviderConfig:
    """An upstream OpenID provider (Entra ID, Okta, ...) people of one organisation sign in through
    (`[[providers]]`); rules beyond the types are in idp.federation.providers.provider_problems."""

    organisation: str                        # slug: its users are provisioned there
    name: str                                # stable id: [a-z0-9-], used in URLs and links to accounts
    display_name: str                        # "Sign in with <display_name>"
    issuer: str                              # discovery at <issuer>/.well-known/openid-configuration
    client_id: str
    client_secret: str = ""
    token_endpoint_auth_method: str = "client_secret_basic"  # | client_secret_post | private_key_jwt
    private_key_file: str = ""               # private_key_jwt: a PEM or JWK file
    scopes: list[str] = field(default_factory=lambda: ["openid", "profile", "email"])
    domains: list[str] = field(default_factory=list)
    claims: ProviderClaimsConfig = field(default_factory=ProviderClaimsConfig)
    link_existing_by_email: bool = False
    second_factor: str = "upstream-or-local"  # upstream | stack | upstream-or-local
    mfa_acr_values: list[str] = field(default_factory=list)
    sso_only: bool = False
    multi_tenant: bool = False               # Entra ID `organizations`/`common`: issuer has {tenantid}
    allowed_tenants: list[str] = field(default_factory=list)
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class RateLimitConfig:
    """Limits as "N/second|minute|hour|day" (or "N/<k>minutes"); "" switches that one off (idp.ratelimit)."""

    enabled: bool = True
    redis_url: str = ""                    # "" keeps the counters in the database
    login_per_ip: str = "100/minute"
    login_per_account: str = "20/minute"
    second_factor_per_ip: str = "100/minute"
    second_factor_per_account: str = "20/minute"
    send_per_ip: str = "60/hour"
    send_per_account: str = "20/hour"
    token_per_ip: str = "1200/minute"
    token_per_client: str = "1200/minute"
    introspect_per_ip: str = "2400/minute"
    introspect_per_client: str = "2400/minute"
    scim_per_ip: str = "1200/minute"
    scim_per_token: str = "600/minute"
    adminapi_per_ip: str = "1200/minute"
    adminapi_per_client: str = "600/minute"
    authorize_per_ip: str = "300/minute"


@dataclass(frozen=True)
class PurgeConfig:
    """Deleting expired rows (idp.purge): by the server after a response, at most once per interval in the
    whole deployment, and by `idp db purge`."""

    interval_minutes: int = 15            # 0: the server never purges (run `idp db purge` from cron)
    retention_hours: int = 24             # expired rows are kept this long (reuse detection, investigations)


@dataclass(frozen=True)
class LoggingConfig:
    format: str = "text"                   # text | json (one JSON object per line)
    level: str = "INFO"


@dataclass(frozen=True)
class AppConfig:
    issuer: str
    secrets: SecretsConfig
    development: bool = False
    instance_dir: str = "instance"
    support_contact: str = ""
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    passwords: PasswordsConfig = field(default_factory=PasswordsConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)
    login: LoginConfig = field(default_factory=LoginConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    totp: TotpConfig = field(default_factory=TotpConfig)
    otp: OtpDeliveryConfig = field(default_factory=OtpDeliveryConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    lockout: LockoutConfig = field(default_factory=LockoutConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    purge: PurgeConfig = field(default_factory=PurgeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    providers: list[ProviderConfig] = field(default_factory=list)

    @property
    def is_https(self) -> bool:
        return self.issuer.startswith("https://")


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> AppConfig:
    """Read PATH (or $IDP_CONFIG), apply IDP_* overrides, validate; raise ConfigError on any problem."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("IDP_CONFIG")
    where = str(path) if path else "environment"
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"{where}: file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    _apply_env(data, env, where)
    config = _build(AppConfig, data, where, prefix="")
    _check(config, where)
    return config


def config_from_dict(data: dict[str, Any], where: str = "<dict>") -> AppConfig:
    """Build a validated config from a plain dict (tests, `idp init`)."""
    config = _build(AppConfig, data, where, prefix="")
    _check(config, where)
    return config


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _apply_env(data: dict[str, Any], env: dict[str, str], where: str) -> None:
    """IDP_ISSUER sets `issuer`; IDP_DATABASE_URL sets `[database] url`."""
    hints = _hints(AppConfig)
    for name, hint in hints.items():
        if dataclasses.is_dataclass(hint):
            for sub, sub_hint in _hints(hint).items():
                key = f"{ENV_PREFIX}{name}_{sub}".upper()
                if key in env:
                    data.setdefault(name, {})[sub] = _from_env(env[key], sub_hint, key)
        else:
            key = f"{ENV_PREFIX}{name}".upper()
            if key in env:
                data[name] = _from_env(env[key], hint, key)


def _from_env(raw: str, hint: Any, key: str) -> Any:
    if hint is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"environment: {key}: expected true or false, got {raw!r}")
    if hint in (int, float):
        try:
            return hint(raw)
        except ValueError:
            raise ConfigError(f"environment: {key}: expected {hint.__name__}, got {raw!r}") from None
    if typing.get_origin(hint) is dict:
        raise ConfigError(f"environment: {key}: tables can only be set in the config file")
    if typing.get_origin(hint) is list:
        raise ConfigError(f"environment: {key}: arrays can only be set in the config file")
    return raw


def _build(cls: type, data: Any, where: str, prefix: str) -> Any:
    section = prefix.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{section}]: expected a table")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{where}: {prefix}{key}: unknown key (known: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        hint = hints[name]
        if name in data:
            values[name] = _value(hint, data[name], where, f"{prefix}{name}")
        elif dataclasses.is_dataclass(hint) and f.default_factory is not REQUIRED:
            values[name] = _build(hint, {}, where, f"{prefix}{name}.")
        elif f.default is REQUIRED and f.default_factory is REQUIRED:
            raise ConfigError(f"{where}: {prefix}{name}: required value is missing")
    return cls(**values)


def _value(hint: Any, value: Any, where: str, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, f"{key}.")
    if typing.get_origin(hint) is list:
        return _list(typing.get_args(hint)[0], value, where, key)
    if typing.get_origin(hint) is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: {key}: expected a table of strings")
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = hint if isinstance(hint, type) else None
    if expected is None or isinstance(hint, types.UnionType):
        return value
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        got = type(value).__name__
        raise ConfigError(f"{where}: {key}: expected {_type_name(expected)}, got {got} {value!r}")
    return value


def _list(item: Any, value: Any, where: str, key: str) -> list[Any]:
    """An array: of tables (`[[key]]`, each checked like a section, `key[2].name` in errors) or of values."""
    if not isinstance(value, list):
        expected = f"an array of tables ([[{key}]])" if dataclasses.is_dataclass(item) else "an array"
        raise ConfigError(f"{where}: {key}: expected {expected}, got {type(value).__name__} {value!r}")
    return [_value(item, element, where, f"{key}[{index}]") for index, element in enumerate(value)]


def _type_name(t: type) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", float: "a number"}.get(t, t.__name__)


def _check(config: AppConfig, where: str) -> None:
    """Cross-field rules that a type alone cannot say."""
    if not config.issuer.startswith(("https://", "http://")):
        raise ConfigError(f"{where}: issuer: must be an http(s) URL")
    if config.issuer.endswith("/"):
        raise ConfigError(f"{where}: issuer: must not end with '/'")
    for key in ("session_key", "key_encryption_key"):
        if getattr(config.secrets, key).startswith("REPLACE-ME"):
            raise ConfigError(f"{where}: secrets.{key}: still the example placeholder; run `idp init`")
    if len(config.secrets.session_key) < 32:
        raise ConfigError(f"{where}: secrets.session_key: too short (at least 32 characters)")
    _check_choice(where, "email.security", config.email.security, ("none", "starttls", "tls"))
    _check_choice(where, "sms.provider", config.sms.provider, ("none", "webhook", "twilio", "console", "outbox"))
    _check_choice(where, "email.provider", config.email.provider, ("smtp", "outbox"))
    _check_choice(where, "tokens.signing_alg", config.tokens.signing_alg, ("RS256", "ES256"))
    _check_choice(where, "totp.algorithm", config.totp.algorithm, ("SHA1", "SHA256", "SHA512"))
    _check_choice(where, "server.worker_class", config.server.worker_class, ("sync", "gthread"))
    if config.sms.provider == "console" and not config.development:
        raise ConfigError(f"{where}: sms.provider: 'console' prints codes to the log and is refused "
                          "unless development = true")
    for key, provider in (("email.provider", config.email.provider), ("sms.provider", config.sms.provider)):
        if provider == "outbox" and not config.development:
            raise ConfigError(f"{where}: {key}: 'outbox' keeps messages (codes included) readable on /dev/outbox "
                              "and is refused unless development = true")
    _check_outbox(config, where)
    if config.lockout.max_failures > 100:
        raise ConfigError(f"{where}: lockout.max_failures: at most 100 (NIST SP 800-63B)")
    _check_password_lockout(config, where)
    if config.totp.digits not in (6, 7, 8):
        raise ConfigError(f"{where}: totp.digits: must be 6, 7 or 8")
    _check_kek(config.secrets.key_encryption_key, where)
    _check_hardening(config, where)
    _check_providers(config, where)


def _check_outbox(config: AppConfig, where: str) -> None:
    o = config.outbox
    if not 1 <= o.max_attempts <= 50:
        raise ConfigError(f"{where}: outbox.max_attempts: must be between 1 and 50")
    if not 1 <= o.retry_base_seconds <= o.retry_max_seconds:
        raise ConfigError(f"{where}: outbox.retry_base_seconds: must be at least 1 and at most retry_max_seconds")
    slowest = 6 * max(config.email.timeout_seconds, config.sms.timeout_seconds)   # SMTP: a timeout per command
    if o.lease_seconds < max(10, slowest):
        raise ConfigError(f"{where}: outbox.lease_seconds: at least {max(10, slowest):g} (six times the longest "
                          "[email]/[sms] timeout_seconds): a job must not be taken over while it is being sent")
    if not 0.5 <= o.sweep_interval_seconds <= 3600:
        raise ConfigError(f"{where}: outbox.sweep_interval_seconds: must be between 0.5 and 3600")
    if o.keep_done_days < 0:
        raise ConfigError(f"{where}: outbox.keep_done_days: must not be negative")


def _check_password_lockout(config: AppConfig, where: str) -> None:
    """[lockout] password_* and trust settings, and [login] session_idle_minutes."""
    lo = config.lockout
    if not 1 <= lo.password_max_failures <= 100:
        raise ConfigError(f"{where}: lockout.password_max_failures: must be between 1 and 100 (NIST SP 800-63B)")
    if not 1 <= lo.password_free_failures <= lo.password_max_failures:
        raise ConfigError(f"{where}: lockout.password_free_failures: must be between 1 and password_max_failures")
    if not 1 <= lo.trusted_max_failures <= lo.password_max_failures:
        raise ConfigError(f"{where}: lockout.trusted_max_failures: must be between 1 and password_max_failures")
    for key in ("password_max_wait_seconds", "device_cookie_days", "known_address_days"):
        if getattr(lo, key) < 1:
            raise ConfigError(f"{where}: lockout.{key}: must be at least 1")
    login = config.login
    if not 1 <= login.session_idle_minutes <= login.session_ttl_hours * 60:
        raise ConfigError(f"{where}: login.session_idle_minutes: must be between 1 and session_ttl_hours x 60")


def _check_providers(config: AppConfig, where: str) -> None:
    """The rules of idp.federation.providers (shared with Administration > Settings > Single Sign-On)."""
    from idp.provider_rules import config_problems

    problems = config_problems(config.providers)
    if problems:
        key, reason = problems[0]
        raise ConfigError(f"{where}: {key}: {reason}")


def _check_hardening(config: AppConfig, where: str) -> None:
    """[rate_limit], [logging], password lengths and the connection pool (production hardening)."""
    from idp.rate_limit_rules import LIMIT_FIELDS, LimitError, parse_limit

    for name in LIMIT_FIELDS:
        try:
            parse_limit(getattr(config.rate_limit, name))
        except LimitError as exc:
            raise ConfigError(f"{where}: rate_limit.{name}: {exc}") from None
    url = config.rate_limit.redis_url
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{where}: rate_limit.redis_url: must start with redis://, rediss:// or unix:// (got {url!r})")
    if not 0 <= config.purge.interval_minutes <= 24 * 60:
        raise ConfigError(f"{where}: purge.interval_minutes: must be between 0 (off) and 1440")
    if not 1 <= config.purge.retention_hours <= 24 * 366:
        raise ConfigError(f"{where}: purge.retention_hours: must be between 1 and 8784 (a year)")
    _check_choice(where, "logging.format", config.logging.format, ("text", "json"))
    _check_choice(where, "logging.level", config.logging.level, ("DEBUG", "INFO", "WARNING", "ERROR"))
    pw = config.passwords
    if problem := argon2_limits_problem(pw.argon2_memory_kib, pw.argon2_time_cost, pw.argon2_parallelism):
        raise ConfigError(f"{where}: passwords.argon2_*: {problem}")
    if not 8 <= pw.min_length <= 64:
        raise ConfigError(f"{where}: passwords.min_length: must be between 8 and 64 (NIST SP 800-63B)")
    if not pw.min_length <= pw.min_length_single_factor <= 64:
        raise ConfigError(f"{where}: passwords.min_length_single_factor: must be between min_length and 64")
    db, server = config.database, config.server
    threads = server.threads if server.worker_class == "gthread" else 1
    if threads < 1 or server.workers < 1:
        raise ConfigError(f"{where}: server.workers and server.threads: must be at least 1")
    if db.pool_size < 1 or db.pool_size + db.max_overflow < threads:
        raise ConfigError(f"{where}: database.pool_size + database.max_overflow: must be at least server.threads "
                          f"({threads}): every thread of a worker may hold a connection")


def _check_choice(where: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: {key}: must be one of {', '.join(choices)} (got {value!r})")


def _check_kek(value: str, where: str) -> None:
    from cryptography.fernet import Fernet

    try:
        Fernet(value.encode())
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: secrets.key_encryption_key: not a valid key "
                          "(32 url-safe base64-encoded bytes; `idp init` generates one)") from None


def instance_path(config: AppConfig) -> Path:
    return Path(config.instance_dir)
