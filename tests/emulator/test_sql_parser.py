"""Tokenizer and parser of the emulator's SQL: pure Python, no processes."""

from __future__ import annotations

import pytest

from snowmcp.emulator.errors import SnowflakeError
from snowmcp.emulator.sql_parser import (
    AlterIntegration,
    AlterUser,
    CreateIntegration,
    CreateMcpServer,
    GrantPrivileges,
    GrantRole,
    Name,
    Select,
    Show,
    ShowDelegations,
    ShowGrants,
    Use,
    parse,
)
from snowmcp.emulator.sql_tokens import Kind, split_statements, tokenize


def syntax(sql: str) -> SnowflakeError:
    with pytest.raises(SnowflakeError) as info:
        parse(sql)
    assert info.value.code == 1003 and info.value.sqlstate == "42000"
    return info.value


# ---- tokenizer -------------------------------------------------------------


def test_unquoted_identifiers_are_upper_cased_quoted_keep_case_and_doubled_quotes():
    toks = tokenize('role_1 "Mixed Case" "say ""hi""" SYSTEM$SHOW_OAUTH_CLIENT_SECRETS')
    assert [(t.kind, t.value) for t in toks[:-1]] == [
        (Kind.IDENT, "ROLE_1"),
        (Kind.QIDENT, "Mixed Case"),
        (Kind.QIDENT, 'say "hi"'),
        (Kind.IDENT, "SYSTEM$SHOW_OAUTH_CLIENT_SECRETS"),
    ]
    assert toks[-1].kind is Kind.EOF


def test_string_literals_doubled_quotes_backslash_escapes_and_dollar_blocks():
    toks = tokenize("'o''brien' 'a\\'b\\n' $$x; -- not a comment\n'y'$$")
    assert [t.value for t in toks[:-1]] == ["o'brien", "a'b\n", "x; -- not a comment\n'y'"]
    assert all(t.kind is Kind.STRING for t in toks[:-1])


def test_comments_are_skipped_and_positions_are_per_line():
    toks = tokenize("-- first\n/* block\n comment */ SHOW // tail\n  ROLES")
    assert [t.value for t in toks[:-1]] == ["SHOW", "ROLES"]
    assert (toks[0].line, toks[0].col) == (3, 12)
    assert (toks[1].line, toks[1].col) == (4, 2)


@pytest.mark.parametrize("text", ["'open", '"open', "$$open", "/* open", '""', "12abc"])
def test_unterminated_or_invalid_tokens_are_syntax_errors(text):
    with pytest.raises(SnowflakeError) as info:
        tokenize(text)
    assert info.value.code == 1003


def test_split_statements_ignores_semicolons_inside_strings_and_empty_pieces():
    pieces = split_statements(tokenize("SHOW ROLES; ; SELECT 'a;b'; -- done\n;"))
    assert len(pieces) == 2
    assert [t.value for t in pieces[1]][:2] == ["SELECT", "a;b"]
    assert split_statements(tokenize("-- only a comment")) == []


# ---- parser ----------------------------------------------------------------


def test_create_integration_properties_keep_their_kinds():
    (stmt,) = parse(
        "create or replace security integration my_int type = oauth oauth_client = custom "
        "oauth_client_type = 'CONFIDENTIAL' oauth_redirect_uri = 'https://x/cb' enabled = false "
        "oauth_refresh_token_validity = 86400 blocked_roles_list = ('A', 'b') comment = 'it''s';"
    )
    assert isinstance(stmt, CreateIntegration)
    assert stmt.name == "MY_INT" and stmt.or_replace and not stmt.if_not_exists
    props = {p.name: (p.kind, p.value) for p in stmt.props}
    assert props == {
        "TYPE": ("word", "OAUTH"),
        "OAUTH_CLIENT": ("word", "CUSTOM"),
        "OAUTH_CLIENT_TYPE": ("string", "CONFIDENTIAL"),
        "OAUTH_REDIRECT_URI": ("string", "https://x/cb"),
        "ENABLED": ("bool", False),
        "OAUTH_REFRESH_TOKEN_VALIDITY": ("number", 86400),
        "BLOCKED_ROLES_LIST": ("list", ["A", "b"]),
        "COMMENT": ("string", "it's"),
    }


def test_alter_integration_set_unset_refresh():
    set_, unset, refresh = parse(
        "ALTER SECURITY INTEGRATION i SET ENABLED = TRUE, COMMENT = 'c';"
        "ALTER SECURITY INTEGRATION IF EXISTS i UNSET NETWORK_POLICY, COMMENT;"
        "ALTER SECURITY INTEGRATION i REFRESH OAUTH_CLIENT_SECRET_2"
    )
    assert isinstance(set_, AlterIntegration) and [p.name for p in set_.set_props] == [
        "ENABLED",
        "COMMENT",
    ]
    assert (
        isinstance(unset, AlterIntegration)
        and unset.if_exists
        and unset.unset == ["NETWORK_POLICY", "COMMENT"]
    )
    assert isinstance(refresh, AlterIntegration) and refresh.refresh == "OAUTH_CLIENT_SECRET_2"


def test_mcp_server_with_dollar_spec_and_qualified_name():
    (stmt,) = parse(
        "CREATE MCP SERVER IF NOT EXISTS db.\"My Schema\".srv COMMENT = 'c' FROM SPECIFICATION $$tools: []$$"
    )
    assert isinstance(stmt, CreateMcpServer)
    assert (
        stmt.name == Name(("DB", "My Schema", "SRV")) and stmt.if_not_exists and stmt.comment == "c"
    )
    assert stmt.spec == "tools: []"


def test_seed_guides_single_dollar_typo_is_a_syntax_error_at_the_dollar():
    err = syntax(
        "CREATE OR REPLACE MCP SERVER gong_mcp\n  FROM SPECIFICATION $\n    tools: []\n $;"
    )
    assert "line 2 at position 21 unexpected '$'" in err.message


def test_grants_privileges_roles_and_show_grants_forms():
    g, r, rr, gu = parse(
        "GRANT USAGE, CREATE MCP SERVER ON SCHEMA db.s TO ROLE r WITH GRANT OPTION;"
        "REVOKE USAGE ON CORTEX SEARCH SERVICE a.b.c FROM ROLE r;"
        'REVOKE ROLE r FROM USER "alice@example.com";'
        "GRANT ROLE r TO ROLE analyst"
    )
    assert (
        isinstance(g, GrantPrivileges)
        and g.privileges == ["USAGE", "CREATE MCP SERVER"]
        and g.grant_option
    )
    assert isinstance(r, GrantPrivileges) and r.revoke and r.object_type == "CORTEX SEARCH SERVICE"
    assert (
        isinstance(rr, GrantRole)
        and rr.revoke
        and rr.grantee == "alice@example.com"
        and rr.grantee_type == "USER"
    )
    assert isinstance(gu, GrantRole) and gu.grantee == "ANALYST"
    shows = parse(
        'SHOW GRANTS TO ROLE r; SHOW GRANTS OF ROLE r; SHOW GRANTS TO USER "u"; '
        "SHOW GRANTS ON MCP SERVER a.b.c; SHOW GRANTS ON ACCOUNT; SHOW GRANTS"
    )
    assert [(s.mode, s.object_type) for s in shows if isinstance(s, ShowGrants)] == [
        ("TO_ROLE", None), ("OF_ROLE", None), ("TO_USER", None),
        ("ON", "MCP SERVER"), ("ON", "ACCOUNT"), ("CURRENT_USER", None),
    ]  # fmt: skip


def test_show_like_and_scopes():
    a, b, c = parse(
        "SHOW MCP SERVERS LIKE 'g%' IN SCHEMA db.s; SHOW SCHEMAS IN DATABASE db; "
        "show security integrations like 'X'"
    )
    assert isinstance(a, Show) and (a.what, a.like, a.scope, a.scope_name) == (
        "MCP SERVERS",
        "g%",
        "SCHEMA",
        Name(("DB", "S")),
    )
    assert isinstance(b, Show) and (b.scope, b.scope_name) == ("DATABASE", Name(("DB",)))
    assert isinstance(c, Show) and c.what == "SECURITY INTEGRATIONS" and c.like == "X"
    syntax("SHOW ROLES IN ACCOUNT")  # roles are account objects: no IN clause


def test_users_delegations_use_and_select():
    a, b, c, d, u, s = parse(
        "ALTER USER \"alice@example.com\" SET DEFAULT_WAREHOUSE = COMPUTE_WH DEFAULT_ROLE = 'ANALYST';"
        "ALTER USER u REMOVE DELEGATED AUTHORIZATIONS FROM SECURITY INTEGRATION i;"
        "ALTER USER u REMOVE DELEGATED AUTHORIZATION OF ROLE r FROM SECURITY INTEGRATION i;"
        'SHOW DELEGATED AUTHORIZATIONS BY USER "alice@example.com";'
        "USE db.s;"
        "SELECT CURRENT_ROLE(), current_user() AS who, SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('I'), 1"
    )
    assert isinstance(a, AlterUser) and {p.name: p.value for p in a.set_props} == {
        "DEFAULT_WAREHOUSE": "COMPUTE_WH", "DEFAULT_ROLE": "ANALYST"}  # fmt: skip
    assert (
        isinstance(b, AlterUser)
        and b.remove_delegations_from == "I"
        and b.remove_delegation_role is None
    )
    assert isinstance(c, AlterUser) and c.remove_delegation_role == "R"
    assert isinstance(d, ShowDelegations) and d.by_user == "alice@example.com"
    assert isinstance(u, Use) and u.what == "SCHEMA" and u.name == Name(("DB", "S"))
    assert isinstance(s, Select)
    assert [i.label for i in s.items] == [
        "CURRENT_ROLE()", "WHO", "SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('I')", "1"]  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "unexpected"),
    [
        ("DELETE FROM t", "DELETE"),
        ("CREATE TABLE t (a int)", "TABLE"),
        ("SHOW TABLES", "TABLES"),
        ("GRANT USAGE ON DATABASE db TO ROLE r extra", "extra"),
        ("CREATE ROLE", "<EOF>"),
        ("SELECT CURRENT_ROLE(", "<EOF>"),
        ("ALTER SECURITY INTEGRATION i REFRESH OAUTH_CLIENT_SECRET_3", "OAUTH_CLIENT_SECRET_3"),
        ("ALTER SECURITY INTEGRATION i SET", "<EOF>"),
        ("DROP MCP SERVER a.b.c.d", "."),
    ],
)
def test_unsupported_or_malformed_statements_are_syntax_errors(sql, unexpected):
    err = syntax(sql)
    assert f"unexpected '{unexpected}'" in err.message
