"""runtime=systemd in Vault mode: the AppRole secret id as the unit's encrypted credential, with the
real `systemd-creds` and a real OpenBao, on a machine where systemd is not PID 1.

What runs for real: the token_service role's own task files facts.yml and secrets.yml (with
secrets_vault.yml) through ansible-playbook with `systemd_manage: true`, so the role's
`systemd-creds decrypt` (the credential the host holds) and `systemd-creds encrypt
--name=vault-secret-id` (a new one) tasks run, and its module token_service_vault against OpenBao;
then the service - Gunicorn with the gunicorn.conf.py and service.env rendered from the role's
templates, as the unit's ExecStart - logging in with that secret id. (systemd.yml itself is not run
here, to keep the test fast: it writes those same templates, which tests/deploy/test_systemd.py checks.)

What systemd would do and cannot here, and what stands in for it:
- At unit start systemd decrypts `LoadCredentialEncrypted=vault-secret-id:<file>` into
  `/run/credentials/<unit>.service/` (a 0700 tmpfs only the unit sees) and sets
  CREDENTIALS_DIRECTORY, StateDirectory= and LogsDirectory=. Here the service runs in a private
  mount namespace (unshare) where the real `systemd-creds decrypt --name=vault-secret-id` writes the
  credential into a 0700 tmpfs at that very path, and fresh tmpfs stand for /var/lib and /var/log,
  so the rendered settings are used unchanged; nothing is written to the machine's /run, /var or /etc.
- The host key: `SYSTEMD_CREDENTIAL_SECRET` (systemd's own override of
  /var/lib/systemd/credential.secret) points every systemd-creds call at a key in a temporary folder,
  which the role's first encrypt creates; the machine's key is neither read nor created.
- The role's files go below a temporary `systemd_root`; no unit is started, restarted or reloaded
  (the play sets `systemd_manage` false after the secret tasks, so the handlers do nothing); the
  service runs as root, not as the unit's `User=`; Gunicorn binds a free port and finds service.env
  below the temporary root (the unit has a fixed port and /etc/<unit>/service.env).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.procs import BIN, ROOT, OpenBao, VaultError, free_port, stop
from harness.svc import ADMIN_KEY

UNIT = "snowmcp-token-service"
OAUTH = {"client_id": "sd-cred-client-id-0123456789", "client_secret": "sd-cred-secret-one-AAAA",
         "client_secret_2": "sd-cred-secret-two-BBBB"}  # fmt: skip
SECRET_TASKS = """\
- name: The token_service role's secret task files for runtime systemd, below a temporary root
  hosts: token_service
  gather_facts: false
  tasks:
    - name: Compute and validate the settings
      ansible.builtin.include_role: {name: snowmcp.core.token_service, tasks_from: facts.yml}
    - name: Keep the secrets in Vault; the secret id is the unit's encrypted credential
      ansible.builtin.include_role: {name: snowmcp.core.token_service, tasks_from: secrets.yml}
"""
NO_SYSTEMD = """\
    - name: No systemd runs here - from now on the role only writes files below systemd_root (no unit to reload)
      ansible.builtin.set_fact:
        token_service__cfg: "{{ token_service__cfg | combine({'systemd_manage': false}) }}"
"""
RENDER = """\
    - name: The unit's files from the role's templates, as systemd.yml writes them (tests/deploy/test_systemd.py)
      ansible.builtin.copy:
        dest: "{{ rendered_json }}"
        mode: "0600"
        content: >-
          {{ {'service.env': lookup('ansible.builtin.template', templates ~ '/service.env.j2'),
              'gunicorn.conf.py': lookup('ansible.builtin.template', templates ~ '/gunicorn.conf.py.j2'),
              'unit': lookup('ansible.builtin.template', templates ~ '/snowmcp-token-service.service.j2')} | to_json }}
      vars:
        templates: "@TEMPLATES@"
"""

pytestmark = pytest.mark.skipif(shutil.which("systemd-creds") is None or shutil.which("unshare") is None,
                                reason="needs systemd-creds (systemd 250+) and unshare")  # fmt: skip


def creds(key: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SYSTEMD_CREDENTIAL_SECRET=str(key))
    return subprocess.run(["systemd-creds", *args], env=env, input=stdin, capture_output=True, text=True, timeout=30,
                          check=False)  # fmt: skip


def secret_id_accessors(bao: OpenBao) -> list[str]:
    try:
        return list(bao.api("GET", f"auth/approle/role/{UNIT}/secret-id?list=true")["data"]["keys"])
    except VaultError:  # 404 while there is none
        return []


class Deploy:
    def __init__(self, tmp: Path, bao: OpenBao) -> None:
        self.tmp, self.bao = tmp, bao
        self.root = tmp / "root"
        self.key = tmp / "host-key" / "credential.secret"
        self.key.parent.mkdir(mode=0o700)
        self.cred = self.root / f"etc/{UNIT}/vault-secret-id.cred"
        templates = str(ROOT / "roles" / "token_service" / "templates")
        (tmp / "deploy.yml").write_text(SECRET_TASKS + NO_SYSTEMD + RENDER.replace("@TEMPLATES@", templates))
        (tmp / "secrets.yml").write_text(SECRET_TASKS + NO_SYSTEMD)
        inventory = {"all": {"children": {"token_service": {"hosts": {"svc": {}}}}, "vars": {
            "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "snowflake_connection": {"account": "ACME-PROD", "user": "ANSIBLE", "role": "ACCOUNTADMIN"},
            "snowflake_mcp_roles": [{"name": "MCP_USERS"}],
            "mcp_users": [{"login": "alice@example.com", "roles": ["MCP_USERS"]}],
            "token_service_oauth_credentials": OAUTH,
            "token_service": {"runtime": "systemd", "url": "https://snowmcp.example.com", "listen": "127.0.0.1:8080",
                              "systemd_root": str(self.root), "systemd_manage": True, "install": False,
                              "admin_keys": [ADMIN_KEY], "vault": {"addr": bao.url}}}}}  # fmt: skip
        (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory))

    def run(self, playbook: str, *, token: str = "", succeed: bool = True) -> str:
        """One run of deploy.yml (the secret tasks, then the unit's files) or secrets.yml (the secret
        tasks only) with the controller's VAULT_TOKEN (OpenBao's root token unless `token`); its
        output, in which no secret may be."""
        env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), VAULT_TOKEN=token or self.bao.root_token,
                   SYSTEMD_CREDENTIAL_SECRET=str(self.key), ANSIBLE_PIPELINING="True")  # fmt: skip
        proc = subprocess.run([str(BIN / "ansible-playbook"), str(self.tmp / playbook), "-i", str(self.tmp / "inventory.yml"),
                               "-e", f"rendered_json={self.tmp / 'rendered.json'}"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        output = proc.stdout + proc.stderr
        assert (proc.returncode == 0) == succeed, output[-5000:]
        for secret in (*OAUTH.values(), ADMIN_KEY, self.bao.root_token):
            assert secret not in output, "a secret is in the play's output"
        return output

    def write_unit_files(self) -> None:
        """Where systemd.yml puts them below systemd_root."""
        rendered = json.loads((self.tmp / "rendered.json").read_text())
        (self.root / f"etc/{UNIT}/service.env").write_text(rendered["service.env"])
        (self.root / f"etc/{UNIT}/gunicorn.conf.py").write_text(rendered["gunicorn.conf.py"])
        (self.root / "etc/systemd/system").mkdir(parents=True)
        (self.root / f"etc/systemd/system/{UNIT}.service").write_text(rendered["unit"])

    def rendered_env(self) -> dict[str, str]:
        lines = (self.root / f"etc/{UNIT}/service.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def recap_changed(output: str) -> int:
    found = re.search(r"svc\s*:\s*ok=\d+\s+changed=(\d+)", output)
    assert found, output[-2000:]
    return int(found.group(1))


@pytest.fixture(scope="module")
def deploy(openbao: OpenBao, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = Deploy(tmp_path_factory.mktemp("systemd-cred"), openbao)
    # A controller token OpenBao refuses: the play stops with the module's reason, nothing written.
    refused = d.run("secrets.yml", token="s.not-a-token", succeed=False)
    assert "refused the token" in refused, refused[-3000:]
    assert not d.cred.exists() and secret_id_accessors(openbao) == []
    first = d.run("deploy.yml")
    d.write_unit_files()
    issued = creds(d.key, "decrypt", "--name=vault-secret-id", str(d.cred), "-")
    assert issued.returncode == 0, issued.stderr
    yield {"d": d, "bao": openbao, "first": first, "secret_id": issued.stdout.strip(),
           "cred_sha": hashlib.sha256(d.cred.read_bytes()).hexdigest()}  # fmt: skip


def test_the_role_encrypts_the_secret_id_openbao_issued(deploy: dict[str, Any]) -> None:
    d, bao, secret_id = deploy["d"], deploy["bao"], deploy["secret_id"]
    # systemd-creds decrypt opened it with the unit's credential name to the one secret id of the role...
    assert secret_id_accessors(bao) and len(secret_id_accessors(bao)) == 1
    lookup = bao.api("POST", f"auth/approle/role/{UNIT}/secret-id/lookup", {"secret_id": secret_id})["data"]
    assert lookup["secret_id_accessor"] == secret_id_accessors(bao)[0] and lookup["metadata"] == {"snowmcp_host": "svc"}
    # ...which is on disk only as ciphertext, in the 0700 folder the unit's LoadCredentialEncrypted= names.
    assert secret_id.encode() not in d.cred.read_bytes()
    assert d.cred.parent.stat().st_mode & 0o777 == 0o700
    unit = (d.root / f"etc/systemd/system/{UNIT}.service").read_text().splitlines()
    assert f"LoadCredentialEncrypted=vault-secret-id:/etc/{UNIT}/vault-secret-id.cred" in unit
    # It opens only under that name and only with this host's key.
    assert creds(d.key, "decrypt", "--name=another-name", str(d.cred), "-").returncode != 0
    other_host = d.tmp / "other-host" / "credential.secret"
    other_host.parent.mkdir(mode=0o700)
    assert creds(other_host, "encrypt", "--name=x", "-", str(d.tmp / "other-host" / "x.cred"), stdin="x").returncode == 0
    assert creds(other_host, "decrypt", "--name=vault-secret-id", str(d.cred), "-").returncode != 0


def test_a_rerun_with_a_valid_credential_issues_no_secret_id(deploy: dict[str, Any]) -> None:
    d, bao = deploy["d"], deploy["bao"]
    again = d.run("secrets.yml")  # the tasks that decide on the secret id and the credential
    assert recap_changed(again) == 0, again[-3000:]
    assert hashlib.sha256(d.cred.read_bytes()).hexdigest() == deploy["cred_sha"]
    assert len(secret_id_accessors(bao)) == 1


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, setup_err: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            time.sleep(0.1)
    said = setup_err.read_text()[-2000:] + (log.read_text()[-3000:] if log.exists() else "")
    raise AssertionError(f"the service did not answer (exit {proc.poll()}):\n{said}")


def test_the_service_started_as_the_unit_starts_it_logs_in_with_the_credential(deploy: dict[str, Any]) -> None:
    d, bao, secret_id = deploy["d"], deploy["bao"], deploy["secret_id"]
    env = d.rendered_env()
    cred_dir = f"/run/credentials/{UNIT}.service"
    assert env["SNOWMCP_VAULT_SECRET_ID_FILE"] == f"{cred_dir}/vault-secret-id" and env["SNOWMCP_VAULT_AUTH"] == "approle"
    assert bao.login_tokens("auth/approle/login") == []  # no login before the service's
    port, log = free_port(), d.tmp / "service.log"
    # systemd's part at unit start, reproduced: the credential decrypted into a 0700 tmpfs, the
    # state and logs folders created; then the unit's ExecStart in the unit's (clean) environment.
    setup = " && ".join([
        "mount -t tmpfs -o mode=0755 tmpfs /run", f"mkdir -p {cred_dir}",
        f"mount -t tmpfs -o mode=0700,size=1m tmpfs {cred_dir}",
        f"systemd-creds decrypt --name=vault-secret-id {shlex.quote(str(d.cred))} {cred_dir}/vault-secret-id",
        f"chmod 0400 {cred_dir}/vault-secret-id",
        "mount -t tmpfs -o mode=0755 tmpfs /var/lib", f"mkdir -m 0700 /var/lib/{UNIT}",
        "mount -t tmpfs -o mode=0755 tmpfs /var/log", f"mkdir -m 0700 /var/log/{UNIT}",
    ])  # fmt: skip
    exec_start = [str(BIN / "gunicorn"), "--config", str(d.root / f"etc/{UNIT}/gunicorn.conf.py"),
                  "--bind", f"127.0.0.1:{port}", "--error-logfile", str(log),
                  "--env", f"SNOWMCP_ENV_FILE={d.root / f'etc/{UNIT}/service.env'}"]  # fmt: skip
    unit_env = {"PATH": f"{BIN}:/usr/bin:/bin", "SYSTEMD_CREDENTIAL_SECRET": str(d.key), "CREDENTIALS_DIRECTORY": cred_dir,
                "STATE_DIRECTORY": f"/var/lib/{UNIT}", "LOGS_DIRECTORY": f"/var/log/{UNIT}"}  # fmt: skip
    script = f'{setup} && unset SYSTEMD_CREDENTIAL_SECRET && exec "$@"'
    with (d.tmp / "unit.err").open("wb") as unit_err:  # what the setup says if it fails
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "unit", *exec_start],
                                env=unit_env, stdout=subprocess.DEVNULL, stderr=unit_err)  # fmt: skip
    try:
        status = wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log, d.tmp / "unit.err")
        assert status == 200, log.read_text()[-3000:]
        # It logged in with the AppRole secret id from the credential: OpenBao holds its token (one
        # per Gunicorn worker)...
        tokens = bao.login_tokens("auth/approle/login")
        assert tokens and all(token["policies"] == ["default", "snowmcp-token-service"] for token in tokens)
        assert all(token["meta"] == {"role_name": UNIT, "snowmcp_host": "svc"} for token in tokens)  # this host's id
        # ...and read the KV secret the role wrote (the admin key's digest).
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/admin/users", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            assert resp.status == 200
        # The secret id is in no process environment or argument list, nor in the log.
        for pid in [str(proc.pid), *subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True,
                                                    check=False).stdout.split()]:  # fmt: skip
            for part in ("environ", "cmdline"):
                assert secret_id.encode() not in Path(f"/proc/{pid}/{part}").read_bytes()
        assert secret_id not in log.read_text()
    finally:
        stop(proc, signal.SIGTERM)
