"""The one place that turns names and values into Snowflake SQL text.

Rules (Snowflake's identifiers; docs/inventory.md, "Identifier rules"):
- An unquoted identifier is stored upper-case; a double-quoted one keeps its
  case and may hold any character, with `"` doubled. We normalise every name
  given to a module the same way Snowflake would store it: a plain name
  (`mcp_users`) becomes `MCP_USERS`; a name written with quotes (`"Mixed"`)
  or one that cannot be unquoted (`alice@example.com`) is kept verbatim.
- SQL renders stored names unquoted only when that round-trips exactly
  (upper-case, plain, not a keyword); everything else is double-quoted. This
  matches how SHOW GRANTS prints qualified names, so read-back compares
  directly.
- String literals are single-quoted with `'` doubled and `\\` escaped
  (Snowflake treats backslash as an escape inside '...').

Nothing else in the collection builds SQL from input: modules call these
helpers, so hostile input (`X; DROP ROLE Y`) becomes a harmless quoted name.
"""

from __future__ import annotations

import re

PLAIN_STORED = re.compile(r"^[A-Z_][A-Z0-9_$]*$")
PLAIN_INPUT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")

# Words that cannot be used unquoted as identifiers (Snowflake's reserved list,
# the ones a role or object name could plausibly collide with). Quoting them is
# always correct, so the list only needs to err on the side of inclusion.
RESERVED = frozenset(
    """
    ACCOUNT ALL ALTER AND ANY AS BETWEEN BY CASE CAST CHECK COLUMN CONNECT CONNECTION
    CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP
    CURRENT_USER DATABASE DELETE DISTINCT DROP ELSE EXISTS FALSE FOLLOWING FOR FROM
    FULL GRANT GROUP GSCLUSTER HAVING ILIKE IN INCREMENT INNER INSERT INTERSECT INTO IS
    ISSUE JOIN LATERAL LEFT LIKE LOCALTIME LOCALTIMESTAMP MINUS NATURAL NOT NULL OF ON
    OR ORDER ORGANIZATION QUALIFY REGEXP REVOKE RIGHT RLIKE ROW ROWS SAMPLE SCHEMA
    SELECT SET SOME START TABLE TABLESAMPLE THEN TO TRIGGER TRUE TRY_CAST UNION UNIQUE
    UPDATE USING VALUES VIEW WHEN WHENEVER WHERE WITH ROLE USER USERS ROLES WAREHOUSE
    """.split()
)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def login_key(login: str) -> str:
    """A login name as Snowflake compares it: ASCII letters case-insensitively, nothing else
    folded (`str.casefold()` would make the Kelvin sign U+212A equal to `k`)."""
    return login.translate(_ASCII_LOWER)


class IdentifierError(ValueError):
    """A name that cannot be a Snowflake identifier (empty, too long, control characters)."""


def normalize(name: str) -> str:
    """The name as Snowflake stores it.

    `mcp_users` -> `MCP_USERS`; `"Mixed Case"` -> `Mixed Case`;
    `alice@example.com` -> `alice@example.com` (cannot be unquoted, so it is
    taken literally, which is what SCIM-created users need).
    """
    if not isinstance(name, str):
        raise IdentifierError(f"identifier must be a string, got {type(name).__name__}")
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        inner = name[1:-1]
        if '"' in inner.replace('""', ""):
            raise IdentifierError(f"badly quoted identifier {name!r}: a quote inside must be doubled")
        stored = inner.replace('""', '"')
    elif PLAIN_INPUT.match(name):
        stored = name.upper()
    else:
        stored = name
    check_stored(stored)
    return stored


def check_stored(stored: str) -> None:
    if stored == "":
        raise IdentifierError("identifier must not be empty")
    if len(stored) > 255:
        raise IdentifierError(f"identifier longer than 255 characters: {stored[:40]!r}...")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in stored):
        raise IdentifierError(f"identifier contains a control character: {stored!r}")


def ident(stored: str) -> str:
    """Render a stored name for SQL: bare when that is exact, else double-quoted."""
    check_stored(stored)
    if PLAIN_STORED.match(stored) and stored not in RESERVED:
        return stored
    return '"' + stored.replace('"', '""') + '"'


def display(stored: str) -> str:
    """How SHOW output prints a stored name inside a qualified name (no keyword rule)."""
    if PLAIN_STORED.match(stored):
        return stored
    return '"' + stored.replace('"', '""') + '"'


def split_qualified(text: str) -> list[str]:
    """Split `DB.SCHEMA."my obj"` into stored parts, honouring quotes.

    Used both for input (`identifier: aicollege.public.gong`) and for the
    `name` column of SHOW GRANTS, so the two compare as stored names.
    """
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            j = i + 1
            buf = []
            while True:
                if j >= n:
                    raise IdentifierError(f"unterminated quote in {text!r}")
                if text[j] == '"':
                    if j + 1 < n and text[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            stored = "".join(buf)
            check_stored(stored)
            parts.append(stored)
            i = j + 1
        else:
            j = text.find(".", i)
            raw = text[i:] if j < 0 else text[i:j]
            if not PLAIN_INPUT.match(raw):
                raise IdentifierError(
                    f"{text!r}: part {raw!r} must be a plain identifier or double-quoted"
                )
            parts.append(raw.upper())
            i = n if j < 0 else j
        if i >= n:
            return parts
        if text[i] != ".":
            raise IdentifierError(f"unexpected {text[i]!r} in qualified name {text!r}")
        i += 1
        if i >= n:
            raise IdentifierError(f"qualified name {text!r} ends with a dot")


def qualified(parts: list[str] | tuple[str, ...]) -> str:
    """Render stored parts as SQL: `AICOLLEGE.PUBLIC."my obj"`."""
    return ".".join(ident(p) for p in parts)


def qualified_display(parts: list[str] | tuple[str, ...]) -> str:
    """Canonical text used as a comparison key (SHOW GRANTS style)."""
    return ".".join(display(p) for p in parts)


def canonical_qualified(text: str) -> str:
    """Re-render a qualified name (input or SHOW output) canonically, for comparisons."""
    return qualified_display(split_qualified(text))


def literal(value: str) -> str:
    """A single-quoted string literal: `'` doubled, backslash escaped."""
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        raise ValueError("string literal must not contain NUL")
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def like(stored: str) -> str:
    """A LIKE pattern literal matching `stored` (case-insensitively, as SHOW does).

    `_` and `%` are wildcards in LIKE; callers always filter the rows for an
    exact name afterwards, so a wider match is harmless.
    """
    return literal(stored)


def boolean(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def name_list(stored_names: list[str]) -> str:
    """`('R1', 'R2')`: the quoted-string list form used by *_ROLES_LIST parameters."""
    return "(" + ", ".join(literal(n) for n in stored_names) + ")"


def dollar_quoted(text: str) -> str:
    """`$$text$$`; refuses text containing `$$`, which would end the body early."""
    if "$$" in text:
        raise ValueError("text must not contain '$$'")
    return "$$\n" + text + "\n$$"


# ---- functions and procedures: identified by name AND argument types ------------
# Type names that denote the same Snowflake type, so signatures compare as Snowflake does.
_TYPE_SYNONYMS = {
    "STRING": "VARCHAR", "TEXT": "VARCHAR", "CHAR": "VARCHAR", "CHARACTER": "VARCHAR",
    "INT": "NUMBER", "INTEGER": "NUMBER", "BIGINT": "NUMBER", "SMALLINT": "NUMBER",
    "TINYINT": "NUMBER", "BYTEINT": "NUMBER", "DECIMAL": "NUMBER", "NUMERIC": "NUMBER",
    "DOUBLE": "FLOAT", "DOUBLE PRECISION": "FLOAT", "REAL": "FLOAT", "FLOAT4": "FLOAT", "FLOAT8": "FLOAT",
}  # fmt: skip
_TYPE_WORDS = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*$")


def canonical_type(text: str) -> str:
    """`number(38,0)` -> NUMBER, `string` -> VARCHAR; precision and length are not part of a signature."""
    base = " ".join(str(text).split("(", 1)[0].upper().split())
    if not _TYPE_WORDS.match(base):
        raise IdentifierError(f"{text!r} is not a type name")
    return _TYPE_SYNONYMS.get(base, base)


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses: `A NUMBER(38,0), B VARCHAR` -> two items."""
    items, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        items.append(current)
    return [i.strip() for i in items]


def _closing(rest: str) -> int:
    """Index of the `)` closing the `(` just before `rest` (len(rest) if there is none)."""
    depth = 0
    for i, ch in enumerate(rest):
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return i
            depth -= 1
    return len(rest)


def routine_signature(name: str, arg_types: list[str]) -> str:
    """Canonical key of a function or procedure: `DB.S.F(NUMBER, VARCHAR)` (name canonical, types canonical)."""
    return canonical_qualified(name) + "(" + ", ".join(canonical_type(t) for t in arg_types) + ")"


def parse_routine(text: str) -> str:
    """A routine's canonical key from any of the forms Snowflake and the inventory use.

    - input / GRANT form: `db.s.f(NUMBER, VARCHAR)`;
    - SHOW GRANTS `name`: `DB.S."F(X NUMBER, Y VARCHAR):VARCHAR(16777216)"` (argument
      names and the return type included; the last part quoted).
    """
    text = str(text).strip()
    if text.endswith('"'):
        parts = split_qualified(text)
        inner = parts[-1]
        base, _paren, rest = inner.partition("(")
        args_text = rest[: _closing(rest)]
        prefix = qualified_display([*parts[:-1], base])
    else:
        base, _paren, rest = text.partition("(")
        if not rest.endswith(")") or _closing(rest) != len(rest) - 1:
            raise IdentifierError(f"{text!r} needs its argument types: name(TYPE, ...)")
        args_text = rest[:-1]
        prefix = canonical_qualified(base)
    types = []
    for arg in _split_top(args_text):
        words = arg.split("(")[0].split()
        # `X NUMBER` (argument name then type) or `NUMBER` alone; DOUBLE PRECISION stays one type.
        if len(words) >= 2 and " ".join(words).upper() not in _TYPE_SYNONYMS:
            arg = arg.split(None, 1)[1]
        types.append(canonical_type(arg))
    return prefix + "(" + ", ".join(types) + ")"


def routine_sql(key: str) -> str:
    """SQL for a canonical routine key: `DB.S.F(NUMBER, VARCHAR)` with the name parts quoted as needed."""
    base, _paren, rest = key.partition("(")
    return qualified(split_qualified(base)) + "(" + rest
