"""Helpers for the native sign-in tests: the real Claude Code CLI, non-interactive and in tmux.

Claude Code reads the machine's /etc/claude-code/managed-mcp.json whatever HOME says, and with that file
present a user's own servers do not exist for it. test_managed.py (and test_native_managed.py) put one
there for a while under an exclusive lock on LOCK; the tests that run the CLI in user scope hold the same
lock shared, so they never see another test's managed file.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.workstation.test_e2e_claude import claude_cli

LOCK = Path("/tmp/snowmcp-tests-etc-claude-code.lock")
ETC = Path("/etc/claude-code")


@contextmanager
def etc_claude_code_holding(mcp_text: str, settings_text: str) -> Iterator[Path]:
    """/etc/claude-code holding only these two files (IT's, 0644) under the exclusive lock; the
    machine's own folder is moved aside first and put back afterwards."""
    backup = ETC.with_name("claude-code.snowmcp-test-backup")
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ETC.exists():
            ETC.rename(backup)
        try:
            ETC.mkdir(mode=0o755)
            (ETC / "managed-mcp.json").write_text(mcp_text)
            (ETC / "managed-settings.json").write_text(settings_text)
            for f in ETC.iterdir():
                f.chmod(0o644)
            yield ETC
        finally:
            shutil.rmtree(ETC, ignore_errors=True)
            if backup.exists():
                backup.rename(ETC)


@contextmanager
def no_managed_config_meanwhile() -> Iterator[None]:
    """Hold the /etc/claude-code lock shared (see the module docstring)."""
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def claude_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "MCP_", "SNOWMCP_"))}
    env.update(HOME=str(home), DISABLE_TELEMETRY="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
               MCP_TIMEOUT="20000", **extra)  # fmt: skip
    return env


def claude(home: Path, *argv: str, cwd: Path | None = None) -> str:
    """stdout + stderr of one non-interactive `claude` command run with HOME=home."""
    proc = subprocess.run([str(claude_cli()), *argv], env=claude_env(home), cwd=cwd or home, capture_output=True,
                          text=True, timeout=180)  # fmt: skip
    return proc.stdout + proc.stderr


class TmuxClaude:
    """Interactive Claude Code in a detached tmux session of its own server (socket), driven by keys."""

    def __init__(self, home: Path, env: dict[str, str], cwd: Path) -> None:
        self.socket = f"snowmcp-test-{uuid.uuid4().hex[:12]}"
        self.home, self.env, self.cwd = home, env, cwd

    def _tmux(self, *argv: str, check: bool = True) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *argv], capture_output=True, text=True, timeout=30,
                              check=check)  # fmt: skip
        return proc.stdout

    def start(self) -> TmuxClaude:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        # `exec env ...`: the pane's process is Claude Code itself; it ends with the tmux server (stop()).
        command = f"cd {shlex.quote(str(self.cwd))} && exec env -i {env} {shlex.quote(str(claude_cli()))}"
        self._tmux("new-session", "-d", "-s", "cc", "-x", "200", "-y", "50", command)
        return self

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "cc", check=False)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        """The screen once it shows `text`; fails with the last screen after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"Claude Code never showed {text!r}; last screen:\n{screen}")
            time.sleep(0.5)

    def send(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "cc", key)
            time.sleep(0.3)  # the TUI reads keys in batches: one at a time, as a person types

    def stop(self) -> None:
        self._tmux("kill-server", check=False)
