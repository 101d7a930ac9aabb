"""Snowflake-style errors raised by the emulator's SQL engine.

The HTTP side turns a SnowflakeError into the connector's error response
(`code` as a zero-padded six-digit string, `data.sqlState`), so the real
connector raises ProgrammingError with the same errno/sqlstate as Snowflake.

Codes used (docs/emulator.md, "SQL supported", lists them too):
  001003 / 42000  syntax error (also: any statement the emulator does not support)
  000900 / 42000  empty SQL statement
  002003 / 02000  object does not exist or not authorized
  002002 / 42710  object already exists
  003001 / 42501  insufficient privileges
  001008 / 22023  invalid value for a property (range, type, MCP spec)
  002029 / 42601  invalid combination of options / operation not allowed
  090105 / 22000  no current database / schema for an unqualified name
"""

from __future__ import annotations

SYNTAX_ERROR = 1003
EMPTY_STATEMENT = 900
DOES_NOT_EXIST = 2003
ALREADY_EXISTS = 2002
INSUFFICIENT_PRIVILEGES = 3001
INVALID_VALUE = 1008
INVALID_OPTIONS = 2029
NO_CURRENT_NAMESPACE = 90105


class SnowflakeError(Exception):
    """An error the way Snowflake reports it: numeric code, SQL state, message."""

    def __init__(self, code: int, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.sqlstate = sqlstate
        self.message = message

    @property
    def errno_text(self) -> str:
        """The code as Snowflake prints it, e.g. "001003"."""
        return f"{self.code:06d}"

    def __str__(self) -> str:
        return f"{self.errno_text} ({self.sqlstate}): {self.message}"


def _shown(token: str) -> str:
    # Snowflake shows at most a short prefix of the unexpected token.
    return token if len(token) <= 40 else token[:40]


def syntax_error(line: int, position: int, unexpected: str) -> SnowflakeError:
    """`syntax error line 1 at position 7 unexpected 'FOO'.` (position is 0-based, per line)."""
    return SnowflakeError(
        SYNTAX_ERROR,
        "42000",
        f"SQL compilation error:\nsyntax error line {line} at position {position} "
        f"unexpected '{_shown(unexpected)}'.",
    )


def empty_statement() -> SnowflakeError:
    return SnowflakeError(EMPTY_STATEMENT, "42000", "Empty SQL statement.")


def does_not_exist(kind: str | None = None, name: str | None = None) -> SnowflakeError:
    """`Role 'X' does not exist or not authorized.`; without a kind, Snowflake's generic text."""
    if kind is None or name is None:
        text = "Object does not exist, or operation cannot be performed."
    else:
        text = f"{kind} '{name}' does not exist or not authorized."
    return SnowflakeError(DOES_NOT_EXIST, "02000", "SQL compilation error:\n" + text)


def already_exists(kind: str, name: str) -> SnowflakeError:
    return SnowflakeError(
        ALREADY_EXISTS, "42710", f"SQL compilation error:\n{kind} '{name}' already exists."
    )


def insufficient_privileges(kind: str, name: str) -> SnowflakeError:
    return SnowflakeError(
        INSUFFICIENT_PRIVILEGES,
        "42501",
        f"SQL access control error:\nInsufficient privileges to operate on {kind} '{name}'",
    )


def invalid_value(text: str) -> SnowflakeError:
    return SnowflakeError(INVALID_VALUE, "22023", "SQL compilation error:\n" + text)


def invalid_options(text: str) -> SnowflakeError:
    return SnowflakeError(INVALID_OPTIONS, "42601", "SQL compilation error:\n" + text)


def no_current_namespace(what: str) -> SnowflakeError:
    return SnowflakeError(
        NO_CURRENT_NAMESPACE,
        "22000",
        f"Cannot perform {what}. This session does not have a current database. "
        "Call 'USE DATABASE', or use a qualified name.",
    )
