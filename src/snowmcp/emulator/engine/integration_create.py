"""What CREATE SECURITY INTEGRATION does the same way for both kinds (OAUTH, EXTERNAL_OAUTH)."""

from __future__ import annotations

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Access
from snowmcp.emulator.engine.results import StatementResult, quote_display, status
from snowmcp.emulator.model import qualified
from snowmcp.emulator.sql_parser import CreateIntegration


def name_in_use(access: Access, stmt: CreateIntegration) -> StatementResult | None:
    """The name is taken: IF NOT EXISTS succeeds doing nothing, else only OR REPLACE goes on.

    Returns the result to give back, or None to go on (replacing)."""
    if stmt.if_not_exists:
        return status("", f"{stmt.name} already exists, statement succeeded.")
    if not stmt.or_replace:
        raise errors.already_exists("Object", quote_display(stmt.name))
    if not access.owns("INTEGRATION", qualified(stmt.name)):
        raise errors.insufficient_privileges("integration", quote_display(stmt.name))
    return None


def created(access: Access, name: str) -> StatementResult:
    """After the new integration is stored: the current role owns it."""
    access.set_owner("INTEGRATION", qualified(name), access.current_role())
    access.mutated = True
    return status("", f"Integration {name} successfully created.")
