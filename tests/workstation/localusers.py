"""Throwaway local accounts for the shared-machine tests (root only: CI runs as root).

The accounts themselves come from harness/localusers.py (also used by bench.headers_helper);
here they skip a test when it does not run as root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.localusers import LocalUser, as_user, local_account

__all__ = ["LocalUser", "as_user", "local_user", "unprivileged"]


@contextmanager
def local_user() -> Iterator[LocalUser]:
    """A new unprivileged account, removed afterwards; skips the test when not root."""
    if os.geteuid() != 0:
        pytest.skip("creates a real local account with useradd (needs root; CI runs as root)")
    with local_account() as user:
        yield user


@contextmanager
def unprivileged() -> Iterator[LocalUser | None]:
    """An account to run the client as when the tests run as root (CI), else None (we are not root)."""
    if os.geteuid() != 0:
        yield None
        return
    with local_account() as user:
        yield user
