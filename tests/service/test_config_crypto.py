"""Settings validation and the key ring: clear errors that never echo a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.svc import ENCRYPTION_KEY
from snowmcp.service.config import ConfigError, load_settings, normalise_login
from snowmcp.service.crypto import DecryptError, KeyRing, generate_key
from snowmcp.service.ratelimit import AuthFailLimiter, RateLimiter, RecentKeys

BASE = {
    "SNOWMCP_PUBLIC_URL": "https://tokens.example.com",
    "SNOWMCP_SNOWFLAKE_URL": "https://acme-prod.snowflakecomputing.com",
    "SNOWMCP_CLIENT_ID": "client-id-123",
    "SNOWMCP_CLIENT_SECRET": "very-secret-value-1",
    "SNOWMCP_ROLE": "MCP_USERS",
    "SNOWMCP_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    "SNOWMCP_ALLOW_ANY_USER": "true",
}


def test_environment_alone_is_enough_and_wins_over_the_file(tmp_path: Path) -> None:
    s = load_settings(None, BASE)
    assert s.redirect_uri == "https://tokens.example.com/v1/oauth/callback"
    assert s.client_secrets == ("very-secret-value-1",)
    cfg = tmp_path / "svc.toml"
    cfg.write_text('role = "FROM_FILE"\ntoken_margin = 30\nallowed_users = ["A@x.com", "b@x.com"]\n')
    s = load_settings(cfg, BASE)
    assert s.role == "MCP_USERS" and s.token_margin == 30
    assert s.allowed_logins == {"a@x.com", "b@x.com"}


@pytest.mark.parametrize(("change", "message"), [
    ({"SNOWMCP_CLIENT_SECRET": ""}, "SNOWMCP_CLIENT_SECRET"),
    ({"SNOWMCP_PUBLIC_URL": "http://tokens.example.com"}, "https"),
    ({"SNOWMCP_ROLE": "MCP USERS; DROP"}, "SNOWMCP_ROLE"),
    ({"SNOWMCP_STORE": "postgres://x"}, "SNOWMCP_STORE"),
    ({"SNOWMCP_ENCRYPTION_KEYS": "c2hvcnQ"}, "32 bytes"),
    ({"SNOWMCP_ADMIN_KEYS": "short-admin-key"}, "at least 32"),
    ({"SNOWMCP_ADMIN_KEYS": "sha256:XYZ"}, "64 lower-case hex"),
    ({"SNOWMCP_TOKEN_MARGIN": "soon"}, "integer"),
    ({"SNOWMCP_LISTEN": "nope"}, "host:port"),
    ({"SNOWMCP_AUTH_FAIL_RATE": "-1"}, "SNOWMCP_AUTH_FAIL_RATE"),
    ({"SNOWMCP_AUTH_FAIL_BURST": "0"}, "SNOWMCP_AUTH_FAIL_BURST"),
    ({"SNOWMCP_ALLOW_ANY_USER": "false"}, "SNOWMCP_ALLOWED_USERS is empty"),
    ({"SNOWMCP_ALLOW_ANY_USER": "maybe"}, "true or false"),
    ({"SNOWMCP_TRUSTED_PROXIES": "10.0.0.1,proxy.local"}, "'proxy.local' is not an IP"),
    ({"SNOWMCP_REFRESH_TIMEOUT": "5", "SNOWMCP_HTTP_TIMEOUT": "10"}, "SNOWMCP_REFRESH_TIMEOUT"),
    ({"SNOWMCP_MAX_BODY_BYTES": "10"}, "SNOWMCP_MAX_BODY_BYTES"),
    ({"SNOWMCP_SIGNIN_RATE": "-1"}, "SNOWMCP_SIGNIN_RATE"),
])  # fmt: skip
def test_bad_settings_name_the_setting_and_hide_secrets(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {**BASE, **change})
    text = str(err.value)
    assert message in text
    for secret in ("very-secret-value-1", ENCRYPTION_KEY, "short-admin-key", "c2hvcnQ"):
        assert secret not in text


def test_logins_fold_ascii_only_like_snowflake() -> None:
    s = load_settings(None, {**BASE, "SNOWMCP_ALLOWED_USERS": "kate@example.com, ALICE@Example.COM"})
    assert s.allowed_logins == {"kate@example.com", "alice@example.com"}
    # U+212A KELVIN SIGN: str.lower() and casefold() make it "k"; Snowflake does not.
    assert normalise_login("\u212aate@example.com") not in s.allowed_logins
    assert normalise_login("\u212aATE@example.com") == "\u212aate@example.com"
    assert normalise_login("\u00c9mile@x.com") == "\u00c9mile@x.com", "no Unicode case folding at all"


def test_unknown_file_setting_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "svc.toml"
    cfg.write_text('rol = "typo"\n')
    with pytest.raises(ConfigError, match="unknown setting 'rol'"):
        load_settings(cfg, BASE)


def test_key_ring_binds_user_and_field_and_rotates() -> None:
    old, new = KeyRing.from_strings([ENCRYPTION_KEY]), generate_key()
    ct = old.encrypt("refresh-token-plaintext", "snowmcp:refresh:alice")
    assert "refresh-token-plaintext" not in ct
    assert old.decrypt(ct, "snowmcp:refresh:alice") == "refresh-token-plaintext"
    for aad in ("snowmcp:refresh:bob", "snowmcp:access:alice"):
        with pytest.raises(DecryptError):
            old.decrypt(ct, aad)
    ring = KeyRing.from_strings([new, ENCRYPTION_KEY])
    assert ring.decrypt(ct, "snowmcp:refresh:alice") == "refresh-token-plaintext"
    assert ring.needs_rotation(ct) and not ring.needs_rotation(ring.encrypt("x", "a"))
    with pytest.raises(DecryptError, match="not in the ring"):
        KeyRing.from_strings([new]).decrypt(ct, "snowmcp:refresh:alice")
    tampered = ct[:-2] + ("A" if ct[-2] != "A" else "B") + ct[-1]
    with pytest.raises(DecryptError):
        old.decrypt(tampered, "snowmcp:refresh:alice")


def test_rate_limiter_is_per_key_token_bucket() -> None:
    limiter = RateLimiter(rate=0.001, burst=3)  # refills one request per ~17 minutes
    assert [limiter.allow("key-a") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow("key-b"), "another key has its own bucket"
    assert RateLimiter(rate=0, burst=1).allow("x") and RateLimiter(rate=0, burst=1).allow("x")


def test_auth_fail_limiter_counts_failures_per_address_and_stays_bounded() -> None:
    limiter = AuthFailLimiter(rate=0.001, burst=3, max_clients=100)
    assert not limiter.blocked("10.0.0.1"), "peeking takes nothing"
    assert [limiter.fail("10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert limiter.blocked("10.0.0.1") and not limiter.blocked("10.0.0.2")
    assert limiter.retry_after("10.0.0.1") >= 1
    # Refusals collapse: the first is reported, the next ones only counted until the interval passes.
    assert [limiter.refused("10.0.0.1") for _ in range(3)] == [1, 0, 0]
    limiter.report_every = 0.0
    assert limiter.refused("10.0.0.1") == 3, "the collapsed count comes with the next line"
    for i in range(10_000):
        limiter.fail(f"198.51.{i // 256}.{i % 256}")
        assert len(limiter) <= 100
    assert AuthFailLimiter(rate=0, burst=1).fail("x") and not AuthFailLimiter(rate=0, burst=1).blocked("x")
    recent = RecentKeys(max_keys=10)
    for i in range(50):
        recent.add(f"h{i}")
    assert len(recent) == 10 and "h49" in recent and "h0" not in recent
