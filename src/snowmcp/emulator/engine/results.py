"""What every statement handler returns and shares: sessions, result sets, LIKE, value texts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from snowmcp.emulator.model import qualified
from snowmcp.emulator.sql_parser import Prop

SUCCESS = "Statement executed successfully."


@dataclass
class Session:
    """One per connector session; the HTTP side creates and keeps it."""

    user: str  # model.User.name
    role: str | None  # current role (None if the user has no usable role)
    warehouse: str | None = None
    database: str | None = None
    schema: str | None = None


@dataclass
class Column:
    name: str
    type: str  # Snowflake rowtype type: text, fixed, boolean, timestamp_ltz, variant
    nullable: bool = True


@dataclass
class StatementResult:
    kind: str
    columns: list[Column]
    rows: list[list[object]]


def status(kind: str, message: str = SUCCESS) -> StatementResult:
    return StatementResult(kind, [Column("status", "text", False)], [[message]])


def columns(spec: str) -> list[Column]:
    """Columns from "name:type name2 ..." (type defaults to text)."""
    out = []
    for item in spec.split():
        name, _colon, kind = item.partition(":")
        out.append(Column(name, kind or "text"))
    return out


def like_matcher(pattern: str | None) -> Callable[[str], bool]:
    """SHOW ... LIKE: case-insensitive, `%` any run, `_` one character, `\\` escapes."""
    if pattern is None:
        return lambda _name: True
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    regex = re.compile("".join(out), re.IGNORECASE | re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


def bool_text(value: bool) -> str:
    return "true" if value else "false"


def quote_display(name: str) -> str:
    """A single name as Snowflake prints it in messages (quoted only when it must be)."""
    return qualified(name)


def shown_value(prop: Prop) -> str:
    """A property's value as Snowflake echoes it in an 'invalid value' message."""
    if prop.kind == "list":
        return "(" + ", ".join(f"'{v}'" for v in prop.value) + ")"  # type: ignore[attr-defined]
    if prop.kind == "string":
        return f"'{prop.value}'"
    if prop.kind == "bool":
        return "TRUE" if prop.value else "FALSE"
    return str(prop.value)
