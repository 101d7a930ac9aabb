"""Service settings: a TOML file and SNOWMCP_* environment variables (the environment wins).

Every setting is validated at start with an error that names the setting but never
echoes a secret value, so a typo in a vault-provided value cannot leak it to a log.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "SNOWMCP_"

SECRET_FIELDS = frozenset({"client_id", "client_secret", "client_secret_next", "encryption_keys", "admin_keys"})
_ROLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it, never its secret value."""


@dataclass(frozen=True)
class Settings:
    listen: str = "127.0.0.1:8080"
    public_url: str = ""
    snowflake_url: str = ""
    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    client_secret_next: str = field(default="", repr=False)
    role: str = ""
    store: str = "sqlite:///./snowmcp-tokens.db"
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    admin_keys: tuple[str, ...] = field(default=(), repr=False)
    allowed_users: tuple[str, ...] = ()
    allow_any_user: bool = False  # an empty allow-list is a configuration error unless this is set
    refresh_token_validity: int = 7776000
    token_margin: int = 60
    rate_limit: float = 10.0
    rate_burst: int = 60
    auth_fail_rate: float = 1.0
    auth_fail_burst: int = 20
    audit_log: str = "-"
    http_timeout: float = 10.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    lock_ttl: float = 15.0
    login_ttl: int = 600
    code_ttl: int = 120
    log_level: str = "info"
    # Limits for what unauthenticated clients can make the service do (docs/service.md, Security).
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For is believed
    signin_rate: float = 1.0  # /v1/login + /v1/oauth/callback per client address, per second
    signin_burst: int = 20
    signin_rate_global: float = 20.0  # the same, all addresses together
    signin_burst_global: int = 100
    max_pending_signins: int = 10_000  # started and not finished sign-ins held in the store
    max_body_bytes: int = 4096  # request body of the JSON endpoints
    max_header_bytes: int = 16384  # request line excluded: all header names and values together
    max_headers: int = 64
    read_timeout: float = 10.0  # seconds to receive a request head (new connection) or a whole body
    refresh_timeout: float = 60.0  # a refresh sent to Snowflake is waited for this long, whatever the caller does
    # Vault / OpenBao mode (on when vault_addr is set): secrets from KV v2, tokens sealed
    # through Transit. Names and meaning: docs/service.md, "Vault mode".
    vault_addr: str = ""
    vault_auth: str = "approle"  # approle, kubernetes or token_file
    vault_namespace: str = ""
    vault_ca_cert: str = ""
    vault_approle_mount: str = "approle"
    vault_role_id: str = ""
    vault_secret_id_file: str = ""
    vault_kubernetes_mount: str = "kubernetes"
    vault_kubernetes_role: str = ""
    vault_kubernetes_jwt_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    vault_token_file: str = ""
    vault_kv_mount: str = "secret"
    vault_kv_path: str = "snowmcp/token-service"
    vault_transit_mount: str = "transit"
    vault_transit_key: str = "snowmcp-token-service"

    @property
    def vault_mode(self) -> bool:
        return bool(self.vault_addr)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/v1/oauth/callback"

    @property
    def client_secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.client_secret, self.client_secret_next) if s)

    @property
    def allowed_logins(self) -> frozenset[str]:
        return frozenset(normalise_login(u) for u in self.allowed_users)

    def describe(self) -> dict[str, Any]:
        """The settings with secrets replaced by what `config check` may show."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                out[name] = f"<{len(value)} set>" if isinstance(value, tuple) else ("<set>" if value else "")
            elif name == "store":
                out[name] = redact_url(value)
            else:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out


def redact_url(url: str) -> str:
    """`url` without the password of its user-info part (`redis://:secret@host` holds one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:<set>@{host}").geturl()


# Setting name -> how it is parsed from a string (environment) or a TOML value,
# derived from the Settings annotations so the two cannot drift apart.
_KIND_OF_TYPE = {"str": "str", "int": "int", "float": "float", "bool": "bool", "tuple[str, ...]": "list"}
_FIELDS: dict[str, str] = {f.name: _KIND_OF_TYPE[str(f.type)] for f in fields(Settings)}


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise_login(login: str) -> str:
    """The key of a login name: one per person, compared the way Snowflake compares them.

    Snowflake folds ASCII letters only. `str.lower()` would also fold e.g. the Kelvin sign
    (U+212A) to `k`, letting `\u212aate@example.com` pass an allow-list entry for
    `kate@example.com` and land under that user's key.
    """
    return login.strip(" \t").translate(_ASCII_LOWER)


def _parse(name: str, kind: str, raw: Any, source: str) -> Any:
    where = f"{source} setting {name!r}"
    try:
        if kind == "str":
            if not isinstance(raw, str):
                raise ConfigError(f"{where} must be a string")
            return raw.strip()
        if kind == "int":
            if isinstance(raw, bool):
                raise ConfigError(f"{where} must be an integer")
            return int(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ConfigError(f"{where} must be a number")
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            word = raw.strip().lower() if isinstance(raw, str) else None
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off", ""):
                return False
            raise ConfigError(f"{where} must be true or false")
        if kind == "list":
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{where} must be a list of strings or a comma-separated string")
            return tuple(i.strip() for i in items if i.strip())
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where} must be {'an integer' if kind == 'int' else 'a number'}") from None
    raise AssertionError(kind)


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None,
                  *, store_only: bool = False) -> Settings:  # fmt: skip
    """Read the TOML file (optional) and the environment, validate, return Settings.

    `store_only`: for the admin and key commands, which touch only the store - the
    Snowflake and URL settings may then be absent.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        # Accept a top-level table or a [service] table.
        section = data.get("service", data) if isinstance(data.get("service"), dict) else data
        for key, raw in section.items():
            if key not in _FIELDS:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = _parse(key, _FIELDS[key], raw, "config file")
    for key, kind in _FIELDS.items():
        env_name = ENV_PREFIX + key.upper()
        if env_name in env:
            values[key] = _parse(env_name, kind, env[env_name], "environment")
    settings = Settings(**values)
    validate(settings, store_only=store_only)
    if settings.vault_mode and env.get("VAULT_TOKEN"):
        # The service logs in itself (SNOWMCP_VAULT_AUTH); a token in its environment is
        # exactly the secret Vault mode keeps out of it.
        raise ConfigError("VAULT_TOKEN is set in the environment: in Vault mode the service logs in with "
                          "SNOWMCP_VAULT_AUTH (approle, kubernetes or token_file); unset it")  # fmt: skip
    return settings


def read_env_file(path: str | Path) -> dict[str, str]:
    """KEY=VALUE lines of a systemd EnvironmentFile (no quoting; blank lines and # comments skipped).

    The token_service role writes the service's settings in this form (service.env,
    mode 0600); Gunicorn workers read it when they start, so a reload (SIGHUP)
    applies new settings without the master's environment ever holding them.
    """
    env: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read environment file {path}: {exc.strerror}") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key.strip()] = value.strip()
    return env


def environ_with_file(env_file: str | Path | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment with the env file's settings; the file replaces every SNOWMCP_* variable.

    Stale SNOWMCP_* values inherited from whoever started the server must not win over
    (or survive the removal of) a line in the file.
    """
    env = dict(os.environ if environ is None else environ)
    if env_file is None:
        return env
    base = {k: v for k, v in env.items() if not k.startswith(ENV_PREFIX)}
    return {**base, **read_env_file(env_file)}


def _check_url(name: str, value: str, *, allow_plain_http_loopback: bool = True) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL with a host, got {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not have a query or fragment")
    if parts.scheme == "http" and allow_plain_http_loopback and parts.hostname not in (
        "127.0.0.1", "localhost", "::1",
    ):  # fmt: skip
        raise ConfigError(f"{name} must use https unless it points at the loopback interface")


VAULT_AUTHS = ("approle", "kubernetes", "token_file")
# In Vault mode these come from the KV secret (client_*, admin_keys) or Transit (no keys).
VAULT_OWNED = ("client_id", "client_secret", "client_secret_next", "admin_keys", "encryption_keys")


def _validate_vault(s: Settings) -> None:
    for name in VAULT_OWNED:
        if getattr(s, name):
            where = "the KV secret" if name != "encryption_keys" else "Transit (no key on the host)"
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must not be set in Vault mode ({ENV_PREFIX}VAULT_ADDR "
                              f"is set): it comes from {where}")  # fmt: skip
    _check_url("SNOWMCP_VAULT_ADDR", s.vault_addr)
    if s.vault_auth not in VAULT_AUTHS:
        raise ConfigError(f"SNOWMCP_VAULT_AUTH must be one of {', '.join(VAULT_AUTHS)}, got {s.vault_auth!r}")
    needs = {"approle": ("vault_role_id", "vault_secret_id_file"),
             "kubernetes": ("vault_kubernetes_role", "vault_kubernetes_jwt_file"),
             "token_file": ("vault_token_file",)}[s.vault_auth]  # fmt: skip
    missing = [ENV_PREFIX + n.upper() for n in needs if not getattr(s, n)]
    if missing:
        raise ConfigError(f"SNOWMCP_VAULT_AUTH={s.vault_auth} needs {', '.join(missing)}")
    for name in ("vault_approle_mount", "vault_kubernetes_mount", "vault_kv_mount", "vault_kv_path",
                 "vault_transit_mount", "vault_transit_key"):  # fmt: skip
        value = getattr(s, name)
        if not value or not _VAULT_PATH_RE.match(value):
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be a Vault path (letters, digits, - _ . /), got {value!r}")
    if s.vault_ca_cert and not Path(s.vault_ca_cert).is_file():
        raise ConfigError("SNOWMCP_VAULT_CA_CERT must name a readable CA bundle file")


_VAULT_PATH_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def validate(s: Settings, *, store_only: bool = False, from_vault: bool = False) -> None:
    """`from_vault`: the settings with the KV secret applied (vault/secrets.py)."""
    from snowmcp.service.crypto import KeyRing  # local import: crypto needs `cryptography`

    if s.vault_mode and not from_vault:
        _validate_vault(s)
        required: tuple[str, ...] = () if store_only else ("public_url", "snowflake_url", "role")
    else:
        required = () if store_only else ("public_url", "snowflake_url", "client_id", "client_secret", "role")
    missing = [n for n in required if not getattr(s, n)]
    if not s.encryption_keys and not s.vault_mode:
        missing.append("encryption_keys")
    if missing:
        names = ", ".join(ENV_PREFIX + m.upper() for m in missing)
        raise ConfigError(f"missing required settings: {names}")
    # In Vault mode the allow-list may come from the KV secret: checked once it is read.
    if not store_only and not s.allowed_users and not s.allow_any_user and (from_vault or not s.vault_mode):
        # Fail closed: an inventory that lists no users must not open the service to everyone.
        raise ConfigError("SNOWMCP_ALLOWED_USERS is empty: list the logins allowed to sign in, "
                          "or set SNOWMCP_ALLOW_ANY_USER=true to allow anyone who can sign in to Snowflake")
    for entry in s.trusted_proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"SNOWMCP_TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
    try:
        host, port = s.host, s.port
    except (ValueError, IndexError):
        raise ConfigError(f"SNOWMCP_LISTEN must be host:port, got {s.listen!r}") from None
    if not host or not 0 < port < 65536:
        raise ConfigError(f"SNOWMCP_LISTEN must be host:port, got {s.listen!r}")
    if not store_only:
        _check_url("SNOWMCP_PUBLIC_URL", s.public_url)
        _check_url("SNOWMCP_SNOWFLAKE_URL", s.snowflake_url)
    if s.role and not _ROLE_RE.match(s.role):
        raise ConfigError(f"SNOWMCP_ROLE must be a plain Snowflake role name, got {s.role!r}")
    if not (s.store.startswith("sqlite:///") or s.store.startswith(("redis://", "rediss://", "unix://"))):
        raise ConfigError("SNOWMCP_STORE must be sqlite:///<path> or redis://host:port/db")
    try:
        if not s.vault_mode:
            KeyRing.from_strings(s.encryption_keys)
    except ValueError as exc:
        raise ConfigError(f"SNOWMCP_ENCRYPTION_KEYS: {exc}") from None
    for i, key in enumerate(s.admin_keys, 1):
        if key.startswith("sha256:"):
            if not _HEX64.match(key[7:]):
                raise ConfigError(f"SNOWMCP_ADMIN_KEYS entry {i}: sha256: must be followed by 64 lower-case hex digits")
        elif len(key) < 32:
            raise ConfigError(f"SNOWMCP_ADMIN_KEYS entry {i}: a plain admin key must have at least 32 characters")
    checks = {
        "SNOWMCP_REFRESH_TOKEN_VALIDITY": (s.refresh_token_validity, 60, 7776000),
        "SNOWMCP_TOKEN_MARGIN": (s.token_margin, 0, 3000),
        "SNOWMCP_RATE_BURST": (s.rate_burst, 1, 1_000_000),
        "SNOWMCP_AUTH_FAIL_BURST": (s.auth_fail_burst, 1, 1_000_000),
        "SNOWMCP_LOGIN_TTL": (s.login_ttl, 30, 3600),
        "SNOWMCP_CODE_TTL": (s.code_ttl, 5, 600),
        "SNOWMCP_SIGNIN_BURST": (s.signin_burst, 1, 1_000_000),
        "SNOWMCP_SIGNIN_BURST_GLOBAL": (s.signin_burst_global, 1, 1_000_000),
        "SNOWMCP_MAX_PENDING_SIGNINS": (s.max_pending_signins, 10, 10_000_000),
        "SNOWMCP_MAX_BODY_BYTES": (s.max_body_bytes, 1024, 1_048_576),
        "SNOWMCP_MAX_HEADER_BYTES": (s.max_header_bytes, 4096, 1_048_576),
        "SNOWMCP_MAX_HEADERS": (s.max_headers, 16, 1000),
    }
    for name, (value, lo, hi) in checks.items():
        if not lo <= value <= hi:
            raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    floats = {
        "SNOWMCP_RATE_LIMIT": (s.rate_limit, 0.0),
        "SNOWMCP_AUTH_FAIL_RATE": (s.auth_fail_rate, 0.0),
        "SNOWMCP_HTTP_TIMEOUT": (s.http_timeout, 0.1),
        "SNOWMCP_BACKOFF_BASE": (s.backoff_base, 0.01),
        "SNOWMCP_BACKOFF_MAX": (s.backoff_max, 0.01),
        "SNOWMCP_LOCK_TTL": (s.lock_ttl, 1.0),
        "SNOWMCP_SIGNIN_RATE": (s.signin_rate, 0.0),
        "SNOWMCP_SIGNIN_RATE_GLOBAL": (s.signin_rate_global, 0.0),
        "SNOWMCP_READ_TIMEOUT": (s.read_timeout, 0.1),
        "SNOWMCP_REFRESH_TIMEOUT": (s.refresh_timeout, 1.0),
    }
    for name, (fvalue, flo) in floats.items():
        if fvalue < flo:
            raise ConfigError(f"{name} must be at least {flo}, got {fvalue}")
    if s.lock_ttl < 1.5 * s.http_timeout:
        # The lock must outlive one token call even if a renewal is late.
        raise ConfigError("SNOWMCP_LOCK_TTL must be at least 1.5 x SNOWMCP_HTTP_TIMEOUT")
    if s.refresh_timeout < s.http_timeout:
        # A refresh already sent must be waited for at least as long as any other call.
        raise ConfigError("SNOWMCP_REFRESH_TIMEOUT must be at least SNOWMCP_HTTP_TIMEOUT")
    if s.log_level.lower() not in ("critical", "error", "warning", "info", "debug"):
        raise ConfigError("SNOWMCP_LOG_LEVEL must be one of critical, error, warning, info, debug")
