"""Tokenizer for the emulator's SQL dialect (the subset of Snowflake SQL this project uses).

One left-to-right scan, no regular expression over the whole text, so quotes,
`$$` blocks and comments nest correctly: a `;` or `--` inside a string is text,
not syntax. Rules follow Snowflake:

- unquoted identifiers `[A-Za-z_][A-Za-z0-9_$]*` are upper-cased
  (`SYSTEM$SHOW_OAUTH_CLIENT_SECRETS` is one identifier);
- `"quoted identifiers"` keep their case, `""` is a literal quote, and they may
  not be empty;
- `'string literals'` with `''` and backslash escapes (`\\'`, `\\n`, ...);
- `$$dollar-quoted text$$` (no escapes, may span lines);
- `-- ...`, `// ...` and `/* ... */` comments;
- a lone `$` is a symbol token, which no statement accepts, so the seed guide's
  `FROM SPECIFICATION $ ... $` typo is a syntax error, as in Snowflake.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from snowmcp.emulator.errors import SnowflakeError, syntax_error


class Kind(Enum):
    IDENT = "ident"  # unquoted identifier or keyword; value upper-cased
    QIDENT = "qident"  # double-quoted identifier; value verbatim
    STRING = "string"  # '...' or $$...$$; value unescaped
    NUMBER = "number"
    SYMBOL = "symbol"  # ( ) , ; = . * and anything else single-character
    EOF = "eof"


@dataclass(frozen=True)
class Token:
    kind: Kind
    value: str
    raw: str  # the source text, for error messages
    line: int  # 1-based
    col: int  # 0-based position in the line, as Snowflake reports it
    offset: int  # 0-based offset in the whole text

    def is_kw(self, *words: str) -> bool:
        return self.kind is Kind.IDENT and self.value in words

    def is_sym(self, symbol: str) -> bool:
        return self.kind is Kind.SYMBOL and self.value == symbol


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}


def _ident_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch == "_")


def _ident_part(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "_$")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def error_at(self, offset: int, unexpected: str) -> SnowflakeError:
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1)
        return syntax_error(line, col, unexpected)

    def advance_to(self, offset: int) -> None:
        newlines = self.text.count("\n", self.pos, offset)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rfind("\n", self.pos, offset) + 1
        self.pos = offset

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        text, n = self.text, len(self.text)
        while True:
            self._skip_space_and_comments()
            start = self.pos
            line, col = self.line, start - self.line_start
            if start >= n:
                out.append(Token(Kind.EOF, "", "<EOF>", line, col, start))
                return out
            ch = text[start]
            if _ident_start(ch):
                end = start + 1
                while end < n and _ident_part(text[end]):
                    end += 1
                raw = text[start:end]
                out.append(Token(Kind.IDENT, raw.upper(), raw, line, col, start))
            elif ch == '"':
                value, end = self._quoted(start, '"', escapes=False)
                if value == "":
                    raise self.error_at(start, '""')
                out.append(Token(Kind.QIDENT, value, text[start:end], line, col, start))
            elif ch == "'":
                value, end = self._quoted(start, "'", escapes=True)
                out.append(Token(Kind.STRING, value, text[start:end], line, col, start))
            elif text.startswith("$$", start):
                close = text.find("$$", start + 2)
                if close < 0:
                    raise self.error_at(start, text[start : start + 20])
                end = close + 2
                out.append(
                    Token(Kind.STRING, text[start + 2 : close], text[start:end], line, col, start)
                )
            elif ch.isdigit():
                end = start
                while end < n and text[end].isdigit():
                    end += 1
                if end < n and text[end] == "." and end + 1 < n and text[end + 1].isdigit():
                    end += 1
                    while end < n and text[end].isdigit():
                        end += 1
                if end < n and _ident_start(text[end]):
                    # `12abc` is neither a number nor an identifier.
                    raise self.error_at(start, text[start : end + 1])
                raw = text[start:end]
                out.append(Token(Kind.NUMBER, raw, raw, line, col, start))
            else:
                end = start + 1
                out.append(Token(Kind.SYMBOL, ch, ch, line, col, start))
            self.advance_to(end)

    def _quoted(self, start: int, quote: str, *, escapes: bool) -> tuple[str, int]:
        text, n = self.text, len(self.text)
        parts: list[str] = []
        i = start + 1
        while i < n:
            ch = text[i]
            if ch == quote:
                if i + 1 < n and text[i + 1] == quote:  # doubled quote
                    parts.append(quote)
                    i += 2
                    continue
                return "".join(parts), i + 1
            if escapes and ch == "\\" and i + 1 < n:
                nxt = text[i + 1]
                parts.append(_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            parts.append(ch)
            i += 1
        raise self.error_at(start, text[start : start + 20])

    def _skip_space_and_comments(self) -> None:
        text, n = self.text, len(self.text)
        i = self.pos
        while i < n:
            if text[i].isspace():
                i += 1
            elif text.startswith("--", i) or text.startswith("//", i):
                nl = text.find("\n", i)
                i = n if nl < 0 else nl + 1
            elif text.startswith("/*", i):
                close = text.find("*/", i + 2)
                if close < 0:
                    self.advance_to(i)
                    raise self.error_at(i, "/*")
                i = close + 2
            else:
                break
        self.advance_to(i)


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`, ending with one EOF token. Raises SnowflakeError (001003)."""
    return _Scanner(text).tokens()


def split_statements(tokens: list[Token]) -> list[list[Token]]:
    """Split at top-level `;` (strings were already consumed by the tokenizer).

    Each piece ends with an EOF token positioned at its `;` (or the end), so a
    parser error at the end of a statement points where Snowflake points.
    Empty pieces (`;;`, trailing `;`, comment-only text) are dropped.
    """
    out: list[list[Token]] = []
    current: list[Token] = []
    for tok in tokens:
        if tok.kind is Kind.EOF or tok.is_sym(";"):
            if current:
                current.append(Token(Kind.EOF, "", "<EOF>", tok.line, tok.col, tok.offset))
                out.append(current)
            current = []
        else:
            current.append(tok)
    return out
