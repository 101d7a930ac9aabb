"""Security integrations: CREATE/ALTER/DROP/DESCRIBE SECURITY INTEGRATION and the client secrets."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.external_oauth import ExternalOAuthHandler, is_external
from snowmcp.emulator.engine.integration_create import created, name_in_use
from snowmcp.emulator.engine.properties import PropertySpec, property_values, unset_values
from snowmcp.emulator.engine.results import (
    StatementResult,
    bool_text,
    columns,
    quote_display,
    status,
)
from snowmcp.emulator.model import (
    OAuthIntegration,
    qualified,
)
from snowmcp.emulator.sql_parser import (
    INTEGRATION_UNSETTABLE,
    AlterIntegration,
    CreateIntegration,
    DescribeIntegration,
    DropIntegration,
    Prop,
    Statement,
)


def new_client_id() -> str:
    # 20 random bytes in base64: 28 characters ending in "=", like Snowflake's ids.
    return base64.b64encode(secrets.token_bytes(20)).decode()


def new_client_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


# ---------------------------------------------------------------------------
# Integration properties: SQL name -> (field, kind, default); the kinds are
# properties.py's: bool, (lo, hi) integer range, str, roles, or a tuple of allowed words.
# ---------------------------------------------------------------------------
_SECONDARY = ("IMPLICIT", "NONE")
_CLIENT_TYPES = ("CONFIDENTIAL", "PUBLIC")
INTEGRATION_PROPS: dict[str, tuple[str, object, object]] = {
    "OAUTH_CLIENT_TYPE": ("client_type", _CLIENT_TYPES, None),
    "OAUTH_REDIRECT_URI": ("redirect_uri", str, None),
    "ENABLED": ("enabled", bool, True),
    "OAUTH_ALLOW_NON_TLS_REDIRECT_URI": ("allow_non_tls_redirect_uri", bool, False),
    "OAUTH_ENFORCE_PKCE": ("enforce_pkce", bool, False),
    "OAUTH_USE_SECONDARY_ROLES": ("use_secondary_roles", _SECONDARY, "NONE"),
    "PRE_AUTHORIZED_ROLES_LIST": ("pre_authorized_roles", "roles", []),
    "BLOCKED_ROLES_LIST": ("blocked_roles", "roles", []),
    "ALLOWED_ROLES_LIST": ("allowed_roles", "roles", []),
    "OAUTH_ISSUE_REFRESH_TOKENS": ("issue_refresh_tokens", bool, True),
    "OAUTH_REFRESH_TOKEN_VALIDITY": ("refresh_token_validity", (86400, 7776000), 7776000),
    "OAUTH_ACCESS_TOKEN_VALIDITY": ("access_token_validity", (60, 3600), 600),
    "OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED": ("single_use_refresh_tokens", bool, False),
    "NETWORK_POLICY": ("network_policy", str, ""),
    "COMMENT": ("comment", str, ""),
}
INTEGRATION_SPEC = PropertySpec(
    INTEGRATION_PROPS,
    required=("OAUTH_CLIENT_TYPE", "OAUTH_REDIRECT_URI", "TYPE", "OAUTH_CLIENT"),
    create_only=("OAUTH_CLIENT_TYPE",),
    fixed={"TYPE": "OAUTH", "OAUTH_CLIENT": "CUSTOM"},
)


class IntegrationHandler(Handler):
    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        return {
            CreateIntegration: self.create_integration,
            AlterIntegration: self.alter_integration,
            DropIntegration: self.drop_integration,
            DescribeIntegration: self.describe_integration,
        }

    def integration_values(self, props: list[Prop], *, create: bool) -> dict[str, object]:
        """Validate `NAME = value` pairs; returns model field -> value. Nothing is changed here."""
        return property_values(props, INTEGRATION_SPEC, create=create, roles=self.acct.roles)

    @staticmethod
    def check_integration(integ: OAuthIntegration) -> None:
        """Cross-property rules, checked on the would-be result before anything is stored."""
        if integ.allowed_roles and integ.use_secondary_roles != "NONE":
            raise errors.invalid_options(
                "ALLOWED_ROLES_LIST can only be set when OAUTH_USE_SECONDARY_ROLES = NONE."
            )
        if integ.pre_authorized_roles and integ.client_type != "CONFIDENTIAL":
            raise errors.invalid_options(
                "PRE_AUTHORIZED_ROLES_LIST is only supported for OAUTH_CLIENT_TYPE = 'CONFIDENTIAL'."
            )
        privileged = set(integ.effective_blocked_roles())
        bad = [r for r in integ.pre_authorized_roles if r in privileged]
        if bad:
            raise errors.invalid_value(
                f"Blocked role(s) cannot be pre-authorized: {', '.join(bad)}"
            )
        uri = integ.redirect_uri
        if not uri or any(ch.isspace() for ch in uri):
            raise errors.invalid_value(
                f"invalid value ['{uri}'] for parameter 'OAUTH_REDIRECT_URI'"
            )
        if uri.lower().startswith("http://") and not integ.allow_non_tls_redirect_uri:
            raise errors.invalid_value(
                "OAUTH_REDIRECT_URI must use https unless OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE."
            )

    def create_integration(self, stmt: CreateIntegration) -> StatementResult:
        if stmt.or_replace and stmt.if_not_exists:
            raise errors.invalid_options("Options IF NOT EXISTS and OR REPLACE are incompatible.")
        if is_external(stmt.props):
            return ExternalOAuthHandler(self.access).create(stmt)
        values = self.integration_values(stmt.props, create=True)
        self.access.require_role("ACCOUNTADMIN")
        # The name is taken by an integration of either kind: the same rules for both (IF NOT
        # EXISTS, OR REPLACE only by its owner), and the old one goes only once the new one is valid.
        replacing = stmt.name in self.acct.integration_names()
        if replacing:
            done = name_in_use(self.access, stmt)
            if done is not None:
                return done
        client_type = str(values.pop("client_type"))
        # A PUBLIC client has no secret: it proves itself with PKCE alone.
        public = client_type == "PUBLIC"
        integ = OAuthIntegration(
            name=stmt.name,
            client_type=client_type,
            redirect_uri=str(values.pop("redirect_uri")),
            client_id=new_client_id(),
            client_secret="" if public else new_client_secret(),
            client_secret_2="" if public else new_client_secret(),
            owner=self.access.current_role(),
            **values,  # type: ignore[arg-type]
        )
        self.check_integration(integ)
        if replacing:
            # OR REPLACE: a new client id and secrets; every consent (and so every token) is gone.
            ExternalOAuthHandler(self.access).drop_any(stmt.name)
        self.acct.integrations[stmt.name] = integ
        return created(self.access, stmt.name)

    def remove_integration(self, name: str) -> None:
        self.acct.integrations.pop(name, None)
        self.acct.delegations = [d for d in self.acct.delegations if d.integration != name]
        self.access.drop_grants_on("INTEGRATION", qualified(name))

    def alter_integration(self, stmt: AlterIntegration) -> StatementResult:
        if stmt.name in self.acct.external_integrations:
            if stmt.if_exists and not self.access.integration_visible(stmt.name):
                return status("")
            return ExternalOAuthHandler(self.access).alter(stmt)
        values = self.integration_values(stmt.set_props, create=False) if stmt.set_props else {}
        # IF EXISTS: an integration this role cannot see counts as missing, as in Snowflake.
        if stmt.if_exists and not self.access.integration_visible(stmt.name):
            return status("")
        integ = self.access.integration_or_error(stmt.name, owner=True)
        bad_unset = [p for p in stmt.unset if p not in INTEGRATION_UNSETTABLE]
        if bad_unset:
            raise errors.invalid_options(f"property '{bad_unset[0]}' cannot be unset")
        if stmt.refresh and integ.client_type == "PUBLIC":
            raise errors.invalid_options(
                f"REFRESH {stmt.refresh} is not supported: a PUBLIC client has no secret."
            )
        if stmt.refresh:
            if stmt.refresh == "OAUTH_CLIENT_SECRET":
                integ.client_secret = new_client_secret()
            else:
                integ.client_secret_2 = new_client_secret()
            self.access.mutated = True
            return status("")
        # The parser admits only INTEGRATION_UNSETTABLE.
        values.update(unset_values(INTEGRATION_SPEC, stmt.unset))
        updated = replace(integ, **values)  # type: ignore[arg-type]
        self.check_integration(updated)
        self.acct.integrations[stmt.name] = updated
        self.access.mutated = True
        return status("")

    def drop_integration(self, stmt: DropIntegration) -> StatementResult:
        if stmt.name in self.acct.external_integrations:
            return ExternalOAuthHandler(self.access).drop(stmt)
        # IF EXISTS: an integration this role cannot see counts as missing, as in Snowflake.
        if stmt.if_exists and not self.access.integration_visible(stmt.name):
            return status(
                "", f"Drop statement executed successfully ({stmt.name} already dropped)."
            )
        self.access.integration_or_error(stmt.name, owner=True)
        self.remove_integration(stmt.name)
        self.access.mutated = True
        return status("", f"{stmt.name} successfully dropped.")

    def describe_integration(self, stmt: DescribeIntegration) -> StatementResult:
        if stmt.name in self.acct.external_integrations:
            return ExternalOAuthHandler(self.access).describe(stmt)
        integ = self.access.integration_or_error(stmt.name)
        base = self.access.ctx.base_url.rstrip("/")

        def row(prop: str, ptype: str, value: str, default: str) -> list[object]:
            return [prop, ptype, value, default]

        # The *_ROLES_LIST values print comma-separated, no spaces.
        rows = [
            row("ENABLED", "Boolean", bool_text(integ.enabled), "true"),
            row("OAUTH_ISSUE_REFRESH_TOKENS", "Boolean", bool_text(integ.issue_refresh_tokens), "true"),
            row("OAUTH_REFRESH_TOKEN_VALIDITY", "Long", str(integ.refresh_token_validity), "7776000"),
            row("OAUTH_ACCESS_TOKEN_VALIDITY", "Long", str(integ.access_token_validity), "600"),
            row("OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED", "Boolean",
                bool_text(integ.single_use_refresh_tokens), "false"),
            row("OAUTH_USE_SECONDARY_ROLES", "String", integ.use_secondary_roles, "NONE"),
            row("PRE_AUTHORIZED_ROLES_LIST", "List", ",".join(integ.pre_authorized_roles), "[]"),
            row("BLOCKED_ROLES_LIST", "List", ",".join(integ.effective_blocked_roles()), "[]"),
            row("ALLOWED_ROLES_LIST", "List", ",".join(integ.allowed_roles), "[]"),
            row("NETWORK_POLICY", "String", integ.network_policy, ""),
            row("OAUTH_ALLOW_NON_TLS_REDIRECT_URI", "Boolean", bool_text(integ.allow_non_tls_redirect_uri), "false"),
            row("OAUTH_CLIENT_TYPE", "String", integ.client_type, "CONFIDENTIAL"),
            row("OAUTH_ENFORCE_PKCE", "Boolean", bool_text(integ.enforce_pkce), "false"),
            row("OAUTH_REDIRECT_URI", "String", integ.redirect_uri, ""),
            row("OAUTH_CLIENT_ID", "String", integ.client_id, ""),
            row("OAUTH_AUTHORIZATION_ENDPOINT", "String", base + "/oauth/authorize", ""),
            row("OAUTH_TOKEN_ENDPOINT", "String", base + "/oauth/token-request", ""),
            row("COMMENT", "String", integ.comment, ""),
        ]  # fmt: skip
        return StatementResult(
            "", columns("property property_type property_value property_default"), rows
        )

    def show_client_secrets(self, name: str) -> str:
        # Only ACCOUNTADMIN (or the integration's owner) may read secrets; the name is as stored.
        if not (
            self.access.inherits("ACCOUNTADMIN") or self.access.owns("INTEGRATION", qualified(name))
        ):
            raise errors.insufficient_privileges("integration", quote_display(name))
        integ = self.acct.integrations.get(name)
        if integ is None:
            raise errors.does_not_exist("Integration", quote_display(name))
        if integ.client_type == "PUBLIC":
            # No secret slots to show: only the (public) client id.
            return json.dumps({"OAUTH_CLIENT_ID": integ.client_id}, separators=(",", ":"))
        return json.dumps(
            {
                "OAUTH_CLIENT_SECRET_2": integ.client_secret_2,
                "OAUTH_CLIENT_SECRET": integ.client_secret,
                "OAUTH_CLIENT_ID": integ.client_id,
            },
            separators=(",", ":"),
        )
