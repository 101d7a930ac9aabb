"""`NAME = value` properties of CREATE / ALTER SECURITY INTEGRATION, checked against a table.

Both integration kinds (OAUTH and EXTERNAL_OAUTH) share these rules and error texts, so
they live here once: duplicate and unknown properties, properties only CREATE may set,
required options, and the value parser by kind.

Kinds in a table (SQL name -> (model field, kind, default)):
  bool, str               a boolean / a quoted string
  (lo, hi)                an integer in that range
  ("WORD", ...)           one of these keywords (word or string, compared upper-case)
  "strings"               one string or a non-empty list of strings, stored as a list
  "list"                  a list of strings
  "roles"                 a list of role names that must exist
  "scope"                 'scp' or 'scope', case-sensitive (a claim name in the token)
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from snowmcp.emulator import errors
from snowmcp.emulator.engine.results import quote_display, shown_value
from snowmcp.emulator.sql_parser import Prop

SCOPE_ATTRIBUTES = ("scp", "scope")


@dataclass(frozen=True)
class PropertySpec:
    props: dict[str, tuple[str, object, object]]
    # Checked in this order when CREATE leaves them out ("Missing option(s): [...]").
    required: tuple[str, ...]
    # Properties of the table only CREATE may set.
    create_only: tuple[str, ...] = ()
    # Outside the table, CREATE only: name -> the one value the emulator accepts, or None
    # when the caller has already read it (TYPE = EXTERNAL_OAUTH chose the handler).
    fixed: dict[str, str | None] = field(default_factory=dict)


def property_values(
    props: list[Prop], spec: PropertySpec, *, create: bool, roles: Collection[str]
) -> dict[str, object]:
    """Validate `NAME = value` pairs; returns model field -> value. Nothing is changed here."""
    seen: set[str] = set()
    values: dict[str, object] = {}
    for prop in props:
        if prop.name in seen:
            raise errors.invalid_options(f"duplicate property '{prop.name}'")
        seen.add(prop.name)
        if prop.name in spec.fixed:
            if not create:
                raise errors.invalid_options(f"property '{prop.name}' cannot be altered")
            expected = spec.fixed[prop.name]
            if expected is not None and (
                str(prop.value).upper() != expected or prop.kind not in ("word", "string")
            ):
                raise errors.invalid_value(
                    f"invalid value [{prop.value}] for property '{prop.name}'; "
                    f"the emulator supports only {prop.name} = {expected}"
                )
            continue
        if prop.name not in spec.props:
            raise errors.invalid_value(f"invalid property '{prop.name}' for 'INTEGRATION'")
        if not create and prop.name in spec.create_only:
            raise errors.invalid_options(f"property '{prop.name}' cannot be altered")
        fld, kind, _default = spec.props[prop.name]
        values[fld] = property_value(prop, kind, lambda name: role_in_list(roles, name))
    if create:
        missing = [p for p in spec.required if p not in seen]
        if missing:
            raise errors.invalid_options(f"Missing option(s): [{', '.join(missing)}]")
    return values


def property_value(prop: Prop, kind: object, role: Callable[[str], str]) -> object:
    bad = errors.invalid_value(f"invalid value [{shown_value(prop)}] for parameter '{prop.name}'")
    if kind is bool:
        if prop.kind != "bool":
            raise bad
        return prop.value
    if kind is str:
        if prop.kind != "string":
            raise bad
        return prop.value
    if kind == "strings":
        if prop.kind == "string":
            return [prop.value]
        if prop.kind == "list" and prop.value:
            return list(prop.value)  # type: ignore[call-overload]
        raise bad
    if kind == "list":
        if prop.kind != "list":
            raise bad
        return list(prop.value)  # type: ignore[call-overload]
    if kind == "roles":
        if prop.kind != "list":
            raise bad
        return [role(str(r)) for r in prop.value]  # type: ignore[attr-defined]
    if kind == "scope":
        # The claim name is case-sensitive in the token: taken as written.
        if prop.kind != "string" or prop.value not in SCOPE_ATTRIBUTES:
            raise bad
        return prop.value
    if isinstance(kind, tuple) and len(kind) == 2 and isinstance(kind[0], int):
        lo, hi = kind
        if prop.kind != "number" or not (lo <= int(prop.value) <= hi):  # type: ignore[call-overload]
            raise errors.invalid_value(
                f"invalid value [{shown_value(prop)}] for parameter '{prop.name}': "
                f"must be an integer between {lo} and {hi}"
            )
        return int(prop.value)  # type: ignore[call-overload]
    assert isinstance(kind, tuple)  # allowed words
    word = str(prop.value).upper() if prop.kind in ("word", "string") else None
    if word not in kind:
        raise bad
    return word


def role_in_list(roles: Collection[str], name: str) -> str:
    # Role lists hold strings naming roles; an unquoted-style name matches upper-cased.
    for candidate in (name, name.upper()):
        if candidate in roles:
            return candidate
    raise errors.does_not_exist("Role", quote_display(name))


def unset_values(spec: PropertySpec, prop_names: list[str]) -> dict[str, object]:
    """UNSET: model field -> its default (a fresh list, never the table's own)."""
    values: dict[str, object] = {}
    for prop_name in prop_names:
        fld, _kind, default = spec.props[prop_name]
        values[fld] = list(default) if isinstance(default, list) else default
    return values
