"""Users, their sign-in credentials and delegated authorizations.

ALTER USER (properties, RSA public keys, programmatic access tokens, removing
delegated authorizations), DESCRIBE USER, SHOW DELEGATED AUTHORIZATIONS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snowmcp.emulator import errors, signin
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.results import (
    StatementResult,
    columns,
    quote_display,
    shown_value,
    status,
)
from snowmcp.emulator.model import (
    User,
    qualified,
)
from snowmcp.emulator.sql_parser import (
    AlterUser,
    DescribeUser,
    Prop,
    ShowDelegations,
    Statement,
)


class UserHandler(Handler):
    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        return {
            AlterUser: self.alter_user,
            DescribeUser: self.describe_user,
            ShowDelegations: self.show_delegations,
        }

    _USER_TEXT = {
        "DEFAULT_WAREHOUSE": "default_warehouse",
        "DEFAULT_ROLE": "default_role",
        "DEFAULT_NAMESPACE": "default_namespace",
        "COMMENT": "comment",
        "DISPLAY_NAME": "display_name",
        "FIRST_NAME": "first_name",
        "LAST_NAME": "last_name",
        "EMAIL": "email",
        "PASSWORD": "password",
        "RSA_PUBLIC_KEY": "rsa_public_key",
        "RSA_PUBLIC_KEY_2": "rsa_public_key_2",
    }
    # Properties whose UNSET means "none" rather than an empty string.
    _NULLABLE = ("password", "rsa_public_key", "rsa_public_key_2")

    _SELF_SERVICE = ("DEFAULT_WAREHOUSE", "DEFAULT_ROLE", "DEFAULT_NAMESPACE")

    def alter_user(self, stmt: AlterUser) -> StatementResult:
        user = self.acct.users.get(stmt.name)
        if user is None:
            if stmt.if_exists:
                return status("")
            raise errors.does_not_exist("User", quote_display(stmt.name))
        is_self = stmt.name == self.session.user
        admin = self.access.inherits(user.owner) or self.access.manage_grants()
        if stmt.remove_delegations_from is not None:
            return self.remove_delegations(stmt, user, is_self)
        if stmt.add_token is not None or stmt.remove_token is not None:
            # A user manages their own tokens; an admin of the user manages anyone's.
            if not (admin or is_self):
                raise errors.insufficient_privileges("user", quote_display(stmt.name))
            if stmt.add_token is not None:
                return self.add_access_token(user, stmt.add_token, stmt.token_props)
            return self.remove_access_token(user, str(stmt.remove_token))
        changes: dict[str, object] = {}
        touched = [p.name for p in stmt.set_props] + stmt.unset
        for prop_name in touched:
            if prop_name not in self._USER_TEXT and prop_name != "DISABLED":
                raise errors.invalid_value(f"invalid property '{prop_name}' for 'USER'")
        if not admin and not (is_self and all(p in self._SELF_SERVICE for p in touched)):
            raise errors.insufficient_privileges("user", quote_display(stmt.name))
        for prop in stmt.set_props:
            if prop.name == "DISABLED":
                if prop.kind != "bool":
                    raise errors.invalid_value(
                        f"invalid value [{shown_value(prop)}] for parameter 'DISABLED'"
                    )
                changes["disabled"] = prop.value
            elif prop.name.startswith("RSA_PUBLIC_KEY"):
                changes[self._USER_TEXT[prop.name]] = self.public_key(prop)
            elif prop.kind in ("string", "word", "ident"):
                changes[self._USER_TEXT[prop.name]] = prop.value
            else:
                raise errors.invalid_value(
                    f"invalid value [{shown_value(prop)}] for parameter '{prop.name}'"
                )
        for prop_name in stmt.unset:
            fld = "disabled" if prop_name == "DISABLED" else self._USER_TEXT[prop_name]
            changes[fld] = (
                False
                if fld == "disabled"
                else None
                if fld.startswith("default_") or fld in self._NULLABLE
                else ""
            )
        for fld, value in changes.items():
            setattr(user, fld, value)
        self.access.mutated = True
        return status("")

    @staticmethod
    def public_key(prop: Prop) -> str:
        """RSA_PUBLIC_KEY[_2] = '<base64 DER>': checked and stored as one base64 line."""
        if prop.kind != "string":
            raise errors.invalid_value(
                f"invalid value [{shown_value(prop)}] for parameter '{prop.name}'"
            )
        try:
            return signin.normalise_public_key(str(prop.value))
        except signin.InvalidPublicKey:
            # Snowflake names the property and never echoes the key material.
            raise errors.invalid_value(
                f"Invalid RSA public key for property '{prop.name}': expected the base64 "
                "DER body of an RSA public key."
            ) from None

    def add_access_token(self, user: User, name: str, props: list[Prop]) -> StatementResult:
        if any(t.user == user.name and t.name == name for t in self.acct.access_tokens):
            raise errors.already_exists("Programmatic access token", quote_display(name))
        role: str | None = None
        days = signin.PAT_DEFAULT_DAYS
        for prop in props:
            if prop.name == "ROLE_RESTRICTION" and prop.kind == "string":
                # A string naming a role: exact, or upper-cased as an unquoted name would be.
                wanted = str(prop.value)
                role = next((r for r in (wanted, wanted.upper()) if r in self.acct.roles), None)
                if role is None or not self.acct.user_has_role(user.name, role):
                    raise errors.does_not_exist("Role", quote_display(wanted))
            elif prop.name == "DAYS_TO_EXPIRY" and prop.kind == "number":
                days = int(prop.value)  # type: ignore[call-overload]
                if not 1 <= days <= signin.PAT_MAX_DAYS:
                    raise errors.invalid_value(
                        f"invalid value [{days}] for parameter 'DAYS_TO_EXPIRY': "
                        f"must be an integer between 1 and {signin.PAT_MAX_DAYS}"
                    )
            elif prop.name == "COMMENT" and prop.kind == "string":
                continue
            else:
                raise errors.invalid_value(
                    f"invalid value [{shown_value(prop)}] for parameter '{prop.name}'"
                )
        record, secret = signin.new_access_token(user, name, role, days)
        self.acct.access_tokens.append(record)
        self.access.mutated = True
        return StatementResult("", columns("token_name token_secret"), [[name, secret]])

    def remove_access_token(self, user: User, name: str) -> StatementResult:
        kept = [t for t in self.acct.access_tokens if not (t.user == user.name and t.name == name)]
        if len(kept) == len(self.acct.access_tokens):
            raise errors.does_not_exist("Programmatic access token", quote_display(name))
        self.acct.access_tokens = kept
        self.access.mutated = True
        return status("")

    def describe_user(self, stmt: DescribeUser) -> StatementResult:
        user = self.acct.users.get(stmt.name)
        if user is None or not (
            stmt.name == self.session.user
            or self.access.manage_grants()
            or self.access.inherits(user.owner)
        ):
            raise errors.does_not_exist("User", quote_display(stmt.name))

        def text(value: object) -> str:
            return "null" if value in (None, "") else str(value)

        def fp(key: str | None) -> str:
            return signin.fingerprint(key) if key else "null"

        props: list[tuple[str, str, str, str]] = [
            ("NAME", user.name, "null", "Name"),
            ("COMMENT", text(user.comment), "null", "user comment associated to an object in the dictionary"),
            ("DISPLAY_NAME", text(user.display_name or user.name), "null", "Display name of the associated object"),
            ("LOGIN_NAME", user.login_name.upper(), "null", "Login name of the user"),
            ("FIRST_NAME", text(user.first_name), "null", "First name of the user"),
            ("LAST_NAME", text(user.last_name), "null", "Last name of the user"),
            ("EMAIL", text(user.email), "null", "Email address of the user"),
            ("DISABLED", "true" if user.disabled else "false", "false", "Whether the user is disabled"),
            ("DEFAULT_WAREHOUSE", text(user.default_warehouse), "null", "Default warehouse for this user"),
            ("DEFAULT_NAMESPACE", text(user.default_namespace), "null", "Default database namespace prefix for this user"),
            ("DEFAULT_ROLE", text(user.default_role), "null", "Primary principal of user session will be set to this role"),
            ("RSA_PUBLIC_KEY", text(user.rsa_public_key), "null", "RSA public key of the user"),
            ("RSA_PUBLIC_KEY_FP", fp(user.rsa_public_key), "null", "Fingerprint of user's RSA public key."),
            ("RSA_PUBLIC_KEY_2", text(user.rsa_public_key_2), "null", "Second RSA public key of the user"),
            ("RSA_PUBLIC_KEY_2_FP", fp(user.rsa_public_key_2), "null", "Fingerprint of user's second RSA public key."),
            ("PASSWORD", "********" if user.password else "null", "null", "Password of the user"),
        ]  # fmt: skip
        return StatementResult(
            "", columns("property value default description"), [list(p) for p in props]
        )

    def remove_delegations(self, stmt: AlterUser, user: User, is_self: bool) -> StatementResult:
        name = str(stmt.remove_delegations_from)
        if name not in self.acct.integrations or not (
            is_self or self.access.any_privilege("INTEGRATION", qualified(name))
        ):
            raise errors.does_not_exist("Integration", quote_display(name))
        if not (is_self or self.access.owns("INTEGRATION", qualified(name))):
            raise errors.insufficient_privileges("integration", quote_display(name))
        self.acct.delegations = [
            d
            for d in self.acct.delegations
            if not (
                d.user == user.name
                and d.integration == name
                and (stmt.remove_delegation_role is None or d.role == stmt.remove_delegation_role)
            )
        ]
        self.access.mutated = True
        return status("")

    def show_delegations(self, stmt: ShowDelegations) -> StatementResult:
        cols = columns(
            "created_on:timestamp_ltz user_name role_name integration_name integration_status"
        )
        items = self.acct.delegations
        if stmt.by_user is not None:
            user = self.acct.users.get(stmt.by_user)
            if user is None:
                raise errors.does_not_exist("User", quote_display(stmt.by_user))
            if not (
                stmt.by_user == self.session.user
                or self.access.inherits("ACCOUNTADMIN")
                or self.access.inherits(user.owner)
            ):
                raise errors.insufficient_privileges("user", quote_display(stmt.by_user))
            items = [d for d in items if d.user == stmt.by_user]
        elif stmt.to_integration is not None:
            self.access.integration_or_error(stmt.to_integration, owner=True)
            items = [d for d in items if d.integration == stmt.to_integration]
        else:
            self.access.require_role("ACCOUNTADMIN")
        rows: list[list[object]] = []
        for d in sorted(items, key=lambda d: (d.created_on, d.user)):
            integ = self.acct.integrations.get(d.integration)
            state = "ENABLED" if integ is not None and integ.enabled else "DISABLED"
            rows.append([d.created_on, d.user, d.role, d.integration, state])
        return StatementResult("", cols, rows)
