"""The snowmcp CLI without a token service: PKCE, settings precedence, key storage, failure modes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.procs import ROOT
from snowmcp.client import config, credentials, login
from snowmcp.client.errors import ClientError
from tests.workstation.localusers import LocalUser, as_user, unprivileged


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SNOWMCP_SERVICE_URL", "SNOWMCP_CONFIG_DIR", "SNOWMCP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SNOWMCP_KEYRING", "0")
    return tmp_path


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SNOWMCP_")}
    full.update({"HOME": str(home), "SNOWMCP_KEYRING": "0", **env})
    return subprocess.run([sys.executable, "-m", "snowmcp.client.cli", *args], env=full, cwd=home,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_pkce_challenge_is_the_unpadded_base64url_sha256_of_the_verifier() -> None:
    verifier, challenge = login.pkce_pair()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == expected and "=" not in challenge
    assert login.pkce_pair()[0] != verifier


def test_callback_with_another_state_is_ignored() -> None:
    result = login._Result(state="right")
    assert not result.accept("code=stolen&state=wrong") and not result.done.is_set()
    assert result.accept("code=abc&state=right") and result.code == "abc"
    failed = login._Result(state="s")
    assert failed.accept("error=access_denied&message=nope&state=s") and failed.error == "nope"


def test_service_url_precedence_flag_then_env_then_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg_dir = home / ".config" / "snowmcp"
    cfg_dir.mkdir(parents=True)
    (cfg_dir / "config.toml").write_text('service_url = "https://file.example/"\nlogin = "a@b.c"\n')
    assert config.load().service_url == "https://file.example"
    monkeypatch.setenv("SNOWMCP_SERVICE_URL", "https://env.example")
    assert config.load().service_url == "https://env.example"
    assert config.load("https://flag.example:8443/").service_url == "https://flag.example:8443"
    assert config.load("http://127.0.0.1:8080/").service_url == "http://127.0.0.1:8080"
    assert config.load("http://localhost:8080").service_url == "http://localhost:8080"
    with pytest.raises(ClientError, match="must be http"):
        config.load("file:///etc/passwd")
    (cfg_dir / "config.toml").write_text("service_url = [")
    with pytest.raises(ClientError, match="not valid TOML"):
        config.load()


def test_config_dir_override_and_no_xdg(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    assert credentials.paths.config_file() == home / ".config" / "snowmcp" / "config.toml"
    monkeypatch.setenv("SNOWMCP_CONFIG_DIR", str(home / "elsewhere"))
    assert credentials.paths.credentials_file() == home / "elsewhere" / "credentials"


def test_machine_config_applies_only_without_a_users_own(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Managed mode: /etc/snowmcp/config.toml (here SNOWMCP_SYSTEM_CONFIG) for users with no config.
    system = home / "etc-snowmcp.toml"
    monkeypatch.setenv("SNOWMCP_SYSTEM_CONFIG", str(system))
    assert config.load().service_url is None
    system.write_text('service_url = "https://machine.example/"\n')
    assert config.load().service_url == "https://machine.example"
    own = home / ".config" / "snowmcp" / "config.toml"
    own.parent.mkdir(parents=True)
    own.write_text('timeout = 3\n')  # the user's own file wins whole: the two are never merged
    assert config.load() == config.Config(service_url=None, timeout=3.0)
    monkeypatch.delenv("SNOWMCP_SYSTEM_CONFIG")
    assert config.paths.system_config_file() == Path("/etc/snowmcp/config.toml")


def test_key_file_is_0600_in_a_0700_folder_and_logout_removes_it(home: Path) -> None:
    saved = credentials.save("key-123", "alice@example.com", "https://svc.example")
    path = home / ".config" / "snowmcp" / "credentials"
    assert saved.storage == "file"
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert credentials.load().api_key == "key-123"
    assert "api_key" not in (credentials.peek() or {})
    proc = cli(home, "logout")
    assert proc.returncode == 0 and not path.exists()


def test_an_existing_open_config_folder_is_made_private(home: Path) -> None:
    folder = home / ".config" / "snowmcp"
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    credentials.save("key-123", "alice@example.com", "https://svc.example")
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct((folder / "credentials").stat().st_mode & 0o777) == "0o600"


def test_readable_key_file_is_used_with_a_warning(home: Path) -> None:
    credentials.save("key-123", "alice@example.com", "http://127.0.0.1:9")
    path = home / ".config" / "snowmcp" / "credentials"
    path.chmod(0o644)
    proc = cli(home, "headers")
    assert "readable by others; run: chmod 600" in proc.stderr
    assert "key-123" not in proc.stderr + proc.stdout


def test_insisting_on_a_keyring_without_one_is_a_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWMCP_KEYRING", "1")
    with pytest.raises(ClientError, match="keyring"):
        credentials.save("k", "u", "https://s")
    assert not (home / ".config" / "snowmcp" / "credentials").exists()


def test_headers_when_not_signed_in_prints_nothing_on_stdout(home: Path) -> None:
    proc = cli(home, "headers", SNOWMCP_SERVICE_URL="http://127.0.0.1:9")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "snowmcp: not signed in: run `snowmcp login`"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A real TCP listener that accepts connections and never answers (a hung service)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def test_headers_for_another_service_than_the_key_asks_to_sign_in(home: Path) -> None:
    credentials.save("key-123", "alice@example.com", "https://old.example")
    proc = cli(home, "headers", SNOWMCP_SERVICE_URL="https://new.example")
    assert proc.returncode == 1 and proc.stdout == "" and "run `snowmcp login`" in proc.stderr


def test_headers_path_imports_only_the_standard_library(home: Path) -> None:
    """With the key in the file, `headers` never imports keyring nor the login machinery."""
    credentials.save("key-123", "alice@example.com", "http://127.0.0.1:9")
    code = (
        "import sys\nfrom snowmcp.client import cli\nrc = cli.main(['headers'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keyring', 'webbrowser', 'jaraco', 'snowmcp') and m not in "
        "('snowmcp', 'snowmcp.client', 'snowmcp.client.cli', 'snowmcp.client.errors', 'snowmcp.client.config', "
        "'snowmcp.client.paths', 'snowmcp.client.credentials', 'snowmcp.client.service_api', "
        "'snowmcp.client.keyring_backends'))\n"
        "print(json.dumps(heavy))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWMCP_")}
    env.update(HOME=str(home), SNOWMCP_KEYRING="auto")
    proc = subprocess.run([sys.executable, "-c", "import json\n" + code], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [], proc.stderr


def test_no_console_browser_takeover_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert not login.can_open_browser()
    monkeypatch.setenv("DISPLAY", ":0")
    assert login.can_open_browser()
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("BROWSER", "/usr/bin/true")
    assert login.can_open_browser()


@pytest.fixture(scope="module")
def ring_user() -> Iterator[LocalUser | None]:
    """Whom the keyring tests run the client as: run as root, the client ignores PYTHON_KEYRING_BACKEND
    (keyring_backends), so under root (CI) a throwaway account stands in for the workstation's user."""
    with unprivileged() as user:
        yield user


def ring_home(tmp_path: Path, user: LocalUser | None) -> tuple[Path, dict[str, str]]:
    """A HOME the user owns, and the environment that selects the test's file-backed keyring."""
    home = tmp_path / "ring-home"
    home.mkdir()
    if user is not None:
        user.own(home)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SNOWMCP_")}, "HOME": str(home),
           "SNOWMCP_KEYRING": "auto", "TEST_KEYRING_FILE": str(home / "keyring.json"),
           "PYTHON_KEYRING_BACKEND": "harness.filekeyring.FileKeyring", "PYTHONPATH": str(ROOT)}  # fmt: skip
    return home, env


def client_py(user: LocalUser | None, code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*as_user(user), sys.executable, "-c", code, *args], env=env, cwd=env["HOME"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_key_goes_to_a_usable_keyring_and_logout_clears_it(tmp_path: Path, ring_user: LocalUser | None) -> None:
    home, env = ring_home(tmp_path, ring_user)
    store = home / "keyring.json"
    proc = client_py(ring_user, "import sys\nfrom snowmcp.client import credentials\n"
                     "print(credentials.save('key-in-ring', 'alice@example.com', 'https://svc.example').storage)", env)  # fmt: skip
    assert proc.stdout.strip() == "keyring", proc.stderr
    record = json.loads((home / ".config" / "snowmcp" / "credentials").read_text())
    assert record["storage"] == "keyring" and "api_key" not in record
    # Only keyring's own backends are recorded (any other name is refused when read back):
    # the test's backend is found again through keyring's discovery, the user's own choice.
    assert "keyring_backend" not in record
    assert json.loads(store.read_text()) == {"snowmcp\0https://svc.example": "key-in-ring"}
    proc = client_py(ring_user, "from snowmcp.client import credentials; print(credentials.load().api_key)", env)
    assert proc.stdout.strip() == "key-in-ring", proc.stderr
    proc = subprocess.run([*as_user(ring_user), sys.executable, "-m", "snowmcp.client.cli", "logout"], env=env,
                          cwd=home, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(store.read_text()) == {} and not (home / ".config" / "snowmcp" / "credentials").exists()


@pytest.fixture
def dripping_server() -> Iterator[int]:
    """A real HTTP listener that sends its response one byte every 0.3 s, forever."""
    import threading

    stop = threading.Event()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(4096)
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    while not stop.wait(0.3):
                        conn.sendall(b"X")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join(5)
    sock.close()


@pytest.mark.parametrize("server", ["silent_server", "dripping_server"])
def test_headers_gives_up_on_a_stuck_service_with_a_clear_message(
    home: Path, server: str, request: pytest.FixtureRequest
) -> None:
    # Hung: nothing ever arrives. Dripping: every read gets a byte within the 1 s socket
    # timeout, so only the total deadline stops it.
    url = f"http://127.0.0.1:{request.getfixturevalue(server)}"
    credentials.save("key-123", "alice@example.com", url)
    proc = cli(home, "headers", SNOWMCP_TIMEOUT="1", SNOWMCP_SERVICE_URL=url)
    assert proc.returncode == 4 and proc.stdout == ""
    assert proc.stderr.strip() == f"snowmcp: token service {url} did not answer within 1s"


@pytest.mark.parametrize(("env", "config", "message"), [
    ({"SNOWMCP_TIMEOUT": "0"}, "", "SNOWMCP_TIMEOUT must be a number of seconds above 0"),
    ({"SNOWMCP_TIMEOUT": "-1"}, "", "SNOWMCP_TIMEOUT must be a number of seconds above 0"),
    ({}, 'timeout = "soon"\n', "timeout must be a number of seconds above 0"),
    ({}, "timeout = 0\n", "timeout must be a number of seconds above 0"),
    ({}, "service_url = 8080\n", "service_url must be a string"),
])  # fmt: skip
def test_bad_client_settings_get_one_clear_line(home: Path, env: dict[str, str], config: str, message: str) -> None:
    """A zero timeout would switch the total deadline off; a bad value must not be a traceback."""
    cfg = home / ".config" / "snowmcp" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(config)
    credentials.save("key-123", "alice@example.com", "http://127.0.0.1:9")
    for command in ("headers", "token"):
        proc = cli(home, command, SNOWMCP_SERVICE_URL="http://127.0.0.1:9", **env)
        assert proc.returncode == 1 and proc.stdout == "", proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr


def test_headers_deadline_covers_a_stuck_keyring(tmp_path: Path, ring_user: LocalUser | None) -> None:
    """An OS keyring waiting on an unlock prompt must not keep Claude Code's helper past its limit."""
    home, env = ring_home(tmp_path, ring_user)
    code = "from snowmcp.client import credentials; credentials.save('key-in-ring', 'a@b.c', 'http://127.0.0.1:9')"
    proc = client_py(ring_user, code, env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((home / ".config" / "snowmcp" / "credentials").read_text())["storage"] == "keyring"
    proc = subprocess.run([*as_user(ring_user), sys.executable, "-m", "snowmcp.client.cli", "headers"],
                          env={**env, "SNOWMCP_TIMEOUT": "1", "TEST_KEYRING_HANG": "1"}, cwd=home,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 4 and proc.stdout == "", proc.stderr
    assert proc.stderr.strip() == "snowmcp: the OS keyring did not answer within 1s"


def test_plain_http_to_another_host_is_refused_before_the_key_is_sent(home: Path) -> None:
    """The API key is a bearer credential: over plain http only to this machine."""
    credentials.save("key-123", "alice@example.com", "http://tokens.example.com")
    for args in (("headers",), ("token",), ("login", "--no-browser", "--service", "http://tokens.example.com")):
        proc = cli(home, *args, SNOWMCP_SERVICE_URL="http://tokens.example.com")
        assert proc.returncode == 1 and proc.stdout == "", proc.stderr
        assert proc.stderr.strip() == ("snowmcp: service URL must use https (plain http only on this machine), "
                                       "got 'http://tokens.example.com'")  # fmt: skip


@pytest.mark.parametrize(("module", "command"), [("snowmcp.service.cli", "snowmcp-service"),
                                                 ("snowmcp.emulator.cli", "snowmcp-emulator")])  # fmt: skip
def test_service_and_emulator_stop_on_python_39_with_one_line(python39: Path, module: str, command: str) -> None:
    """A workstation's 3.9 can install the same wheel; the 3.11-only parts must say so, not crash."""
    src = Path(__file__).resolve().parents[2] / "src"
    proc = subprocess.run([str(python39), "-m", module, "serve"], env={**os.environ, "PYTHONPATH": str(src)},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"{command} needs Python 3.11+ (this is Python 3.9)\n"
