"""Errors the CLI turns into one stderr line and an exit code."""

from __future__ import annotations

# Exit codes, documented in docs/workstation.md.
EXIT_ERROR = 1  # anything unexpected, bad config
EXIT_NOT_SIGNED_IN = 2  # no API key on this machine: run `snowmcp login`
EXIT_REAUTH = 3  # the service says the Snowflake sign-in must be renewed
EXIT_UNAVAILABLE = 4  # the service did not answer in time / 5xx


class ClientError(Exception):
    """An error with a message fit for the user and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code
