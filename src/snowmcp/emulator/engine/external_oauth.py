"""EXTERNAL_OAUTH security integrations: CREATE / ALTER SET | UNSET / DESCRIBE / DROP.

Snowflake's grammar (docs/emulator.md, "External OAuth"):

    CREATE [ OR REPLACE ] SECURITY INTEGRATION [ IF NOT EXISTS ] <name>
      TYPE = EXTERNAL_OAUTH
      ENABLED = TRUE | FALSE
      EXTERNAL_OAUTH_TYPE = OKTA | AZURE | PING_FEDERATE | CUSTOM
      EXTERNAL_OAUTH_ISSUER = '<string>'
      EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM = '<string>' | ('<string>' [ , ... ])
      EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE = 'LOGIN_NAME' | 'EMAIL_ADDRESS'
      EXTERNAL_OAUTH_JWS_KEYS_URL = '<string>' | ('<string>' [ , ... ])
      [ EXTERNAL_OAUTH_AUDIENCE_LIST = ('<string>' [ , ... ]) ]
      [ EXTERNAL_OAUTH_BLOCKED_ROLES_LIST = ('<role>' [ , ... ]) ]
      [ EXTERNAL_OAUTH_ALLOWED_ROLES_LIST = ('<role>' [ , ... ]) ]
      [ EXTERNAL_OAUTH_ANY_ROLE_MODE = DISABLE | ENABLE | ENABLE_FOR_PRIVILEGE ]
      [ EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE = 'scp' | 'scope' ]
      [ EXTERNAL_OAUTH_SCOPE_DELIMITER = '<char>' ]       -- CUSTOM only
      [ NETWORK_POLICY = '<policy>' ] [ COMMENT = '<text>' ]

The emulator verifies tokens only against a JWS keys URL (no
EXTERNAL_OAUTH_RSA_PUBLIC_KEY): every IdP the project targets publishes a JWKS.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.integration_create import created, name_in_use
from snowmcp.emulator.engine.properties import PropertySpec, property_values, unset_values
from snowmcp.emulator.engine.results import (
    StatementResult,
    bool_text,
    columns,
    quote_display,
    status,
)
from snowmcp.emulator.model import ExternalOAuthIntegration, qualified
from snowmcp.emulator.sql_parser import (
    AlterIntegration,
    CreateIntegration,
    DescribeIntegration,
    DropIntegration,
    Prop,
)

TYPES = ("OKTA", "AZURE", "PING_FEDERATE", "CUSTOM")
ANY_ROLE_MODES = ("DISABLE", "ENABLE", "ENABLE_FOR_PRIVILEGE")
MAPPING_ATTRIBUTES = ("LOGIN_NAME", "EMAIL_ADDRESS")

# SQL property -> (model field, kind, default); the kinds are properties.py's.
PROPS: dict[str, tuple[str, object, object]] = {
    "ENABLED": ("enabled", bool, True),
    "EXTERNAL_OAUTH_TYPE": ("oauth_type", TYPES, None),
    "EXTERNAL_OAUTH_ISSUER": ("issuer", str, None),
    "EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM": ("user_mapping_claim", "strings", None),
    "EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE": ("user_mapping_attribute", MAPPING_ATTRIBUTES, None),
    "EXTERNAL_OAUTH_JWS_KEYS_URL": ("jws_keys_url", "strings", []),
    "EXTERNAL_OAUTH_AUDIENCE_LIST": ("audience_list", "list", []),
    "EXTERNAL_OAUTH_BLOCKED_ROLES_LIST": ("blocked_roles", "roles", []),
    "EXTERNAL_OAUTH_ALLOWED_ROLES_LIST": ("allowed_roles", "roles", []),
    "EXTERNAL_OAUTH_ANY_ROLE_MODE": ("any_role_mode", ANY_ROLE_MODES, "DISABLE"),
    "EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE": ("scope_mapping_attribute", "scope", "scp"),
    "EXTERNAL_OAUTH_SCOPE_DELIMITER": ("scope_delimiter", str, ","),
    "NETWORK_POLICY": ("network_policy", str, ""),
    "COMMENT": ("comment", str, ""),
}  # fmt: skip
REQUIRED = (
    "ENABLED", "EXTERNAL_OAUTH_TYPE", "EXTERNAL_OAUTH_ISSUER",
    "EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM", "EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE",
)  # fmt: skip
# TYPE = EXTERNAL_OAUTH is how IntegrationHandler chose this handler: nothing to check at CREATE.
SPEC = PropertySpec(
    PROPS, required=REQUIRED, create_only=("EXTERNAL_OAUTH_TYPE",), fixed={"TYPE": None}
)
UNSETTABLE = (
    "ENABLED", "NETWORK_POLICY", "COMMENT", "EXTERNAL_OAUTH_AUDIENCE_LIST",
    "EXTERNAL_OAUTH_BLOCKED_ROLES_LIST", "EXTERNAL_OAUTH_ALLOWED_ROLES_LIST",
    "EXTERNAL_OAUTH_ANY_ROLE_MODE", "EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE",
)  # fmt: skip


def is_external(props: list[Prop]) -> bool:
    return any(p.name == "TYPE" and str(p.value).upper() == "EXTERNAL_OAUTH" for p in props)


def type_label(integ: ExternalOAuthIntegration) -> str:
    """SHOW SECURITY INTEGRATIONS' `type`, e.g. `EXTERNAL_OAUTH - OKTA`."""
    return f"EXTERNAL_OAUTH - {integ.oauth_type}"


class ExternalOAuthHandler(Handler):
    """Called by IntegrationHandler once it knows the statement is about an external integration."""

    def values(self, props: list[Prop], *, create: bool) -> dict[str, object]:
        return property_values(props, SPEC, create=create, roles=self.acct.roles)

    @staticmethod
    def check(integ: ExternalOAuthIntegration) -> None:
        if not integ.jws_keys_url:
            raise errors.invalid_options(
                "One of EXTERNAL_OAUTH_JWS_KEYS_URL or EXTERNAL_OAUTH_RSA_PUBLIC_KEY is required."
            )
        for url in integ.jws_keys_url:
            if urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).netloc:
                raise errors.invalid_value(
                    f"invalid value ['{url}'] for parameter 'EXTERNAL_OAUTH_JWS_KEYS_URL'"
                )
        if integ.scope_delimiter != "," and integ.oauth_type != "CUSTOM":
            raise errors.invalid_options(
                "EXTERNAL_OAUTH_SCOPE_DELIMITER is only supported for EXTERNAL_OAUTH_TYPE = CUSTOM."
            )
        if integ.allowed_roles and integ.blocked_roles:
            raise errors.invalid_options(
                "EXTERNAL_OAUTH_ALLOWED_ROLES_LIST and EXTERNAL_OAUTH_BLOCKED_ROLES_LIST "
                "cannot both be set."
            )

    def create(self, stmt: CreateIntegration) -> StatementResult:
        values = self.values(stmt.props, create=True)
        self.access.require_role("ACCOUNTADMIN")
        if stmt.name in self.acct.integration_names():
            done = name_in_use(self.access, stmt)
            if done is not None:
                return done
        integ = ExternalOAuthIntegration(
            name=stmt.name,
            owner=self.access.current_role(),
            **values,  # type: ignore[arg-type]
        )
        self.check(integ)
        self.drop_any(stmt.name)
        self.acct.external_integrations[stmt.name] = integ
        return created(self.access, stmt.name)

    def drop_any(self, name: str) -> None:
        """OR REPLACE over an integration of either kind."""
        self.acct.external_integrations.pop(name, None)
        if name in self.acct.integrations:
            self.acct.integrations.pop(name)
            self.acct.delegations = [d for d in self.acct.delegations if d.integration != name]
        self.access.drop_grants_on("INTEGRATION", qualified(name))

    def visible(self, name: str, *, owner: bool) -> ExternalOAuthIntegration | None:
        found = self.acct.external_integrations.get(name)
        if found is None:
            return None
        full = qualified(name)
        ok = (
            self.access.owns("INTEGRATION", full)
            if owner
            else self.access.any_privilege("INTEGRATION", full)
        )
        return found if ok else None

    def alter(self, stmt: AlterIntegration) -> StatementResult:
        values = self.values(stmt.set_props, create=False) if stmt.set_props else {}
        integ = self.visible(stmt.name, owner=True)
        if integ is None:
            raise errors.does_not_exist("Integration", quote_display(stmt.name))
        if stmt.refresh:
            raise errors.invalid_options(
                f"REFRESH {stmt.refresh} is not supported for EXTERNAL_OAUTH integrations."
            )
        bad_unset = [p for p in stmt.unset if p not in UNSETTABLE]
        if bad_unset:
            raise errors.invalid_options(
                f"property '{bad_unset[0]}' cannot be unset for EXTERNAL_OAUTH integrations"
            )
        values.update(unset_values(SPEC, stmt.unset))
        updated = replace(integ, **values)  # type: ignore[arg-type]
        self.check(updated)
        self.acct.external_integrations[stmt.name] = updated
        self.access.mutated = True
        return status("")

    def drop(self, stmt: DropIntegration) -> StatementResult:
        if self.visible(stmt.name, owner=False) is None:
            if stmt.if_exists:
                return status(
                    "", f"Drop statement executed successfully ({stmt.name} already dropped)."
                )
            raise errors.does_not_exist("Integration", quote_display(stmt.name))
        if not self.access.owns("INTEGRATION", qualified(stmt.name)):
            raise errors.insufficient_privileges("integration", quote_display(stmt.name))
        self.drop_any(stmt.name)
        self.access.mutated = True
        return status("", f"{stmt.name} successfully dropped.")

    def describe(self, stmt: DescribeIntegration) -> StatementResult:
        integ = self.visible(stmt.name, owner=False)
        if integ is None:
            raise errors.does_not_exist("Integration", quote_display(stmt.name))

        def quoted_list(items: list[str]) -> str:
            # Properties that take one string or a list print as a list of quoted strings.
            return "[" + ", ".join(f"'{i}'" for i in items) + "]"

        rows = [
            ["ENABLED", "Boolean", bool_text(integ.enabled), "false"],
            ["EXTERNAL_OAUTH_TYPE", "String", integ.oauth_type, ""],
            ["EXTERNAL_OAUTH_ISSUER", "String", integ.issuer, ""],
            ["EXTERNAL_OAUTH_JWS_KEYS_URL", "Object", quoted_list(integ.jws_keys_url), ""],
            ["EXTERNAL_OAUTH_ANY_ROLE_MODE", "String", integ.any_role_mode, "DISABLE"],
            ["EXTERNAL_OAUTH_RSA_PUBLIC_KEY", "String", "", ""],
            ["EXTERNAL_OAUTH_RSA_PUBLIC_KEY_2", "String", "", ""],
            ["EXTERNAL_OAUTH_BLOCKED_ROLES_LIST", "List", ",".join(integ.effective_blocked_roles()), "[]"],
            ["EXTERNAL_OAUTH_ALLOWED_ROLES_LIST", "List", ",".join(integ.allowed_roles), "[]"],
            ["EXTERNAL_OAUTH_AUDIENCE_LIST", "List", ",".join(integ.audience_list), "[]"],
            ["EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM", "Object", quoted_list(integ.user_mapping_claim), "[]"],
            ["EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE", "String", integ.user_mapping_attribute, "LOGIN_NAME"],
            ["EXTERNAL_OAUTH_SCOPE_DELIMITER", "String", integ.scope_delimiter, ","],
            ["EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE", "String", integ.scope_mapping_attribute, "scp"],
            ["NETWORK_POLICY", "String", integ.network_policy, ""],
            ["COMMENT", "String", integ.comment, ""],
        ]  # fmt: skip
        return StatementResult(
            "",
            columns("property property_type property_value property_default"),
            rows,  # type: ignore[arg-type]
        )
