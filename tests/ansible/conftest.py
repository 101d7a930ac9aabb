"""The Ansible suites run their plays against one emulator per test module."""

from __future__ import annotations

import pytest

from harness.procs import Emulator


@pytest.fixture(scope="module")
def emu(shared_emulator: Emulator) -> Emulator:
    """The module's emulator (tests/conftest.py's shared_emulator) under the short name these tests use.

    Its ADMIN user (the plays' automation user) signs in with a key pair.
    """
    shared_emulator.enable_key_pair()
    return shared_emulator
