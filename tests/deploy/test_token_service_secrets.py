"""token_service_secrets: the token service's secret store, judged by reading the file back.

Most cases execute the module file as Ansible's local connection does (a Python process
with an args file: AnsibleModule, its no_log masking and check/diff flags are the real
ones); one goes through pytest-ansible's host manager; one runs the module under
Python 3.9, the oldest interpreter a service host may have.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "plugins" / "modules" / "token_service_secrets.py"
PYTHON39 = Path.home() / ".pyenv/versions/3.9.18/bin/python3"
VAULT_ADMIN_KEY = "vault-admin-key-0123456789abcdefghijklmnop"


def run(tmp: Path, *, python: str = sys.executable, check: bool = False, diff: bool = False,
        env: dict[str, str] | None = None, **args: Any) -> dict[str, Any]:  # fmt: skip
    args_file = tmp / "module-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"_ansible_check_mode": check, "_ansible_diff": diff, **args}}))
    # The module imports the collection's module_utils by their FQCN, as Ansible ships them.
    full = dict(os.environ if env is None else env)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [full.get("PYTHONPATH"), str(ROOT / "collections")]))
    proc = subprocess.run([python, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60,
                          env=full, check=False)  # fmt: skip
    args_file.unlink()
    try:
        return dict(json.loads(proc.stdout))
    except ValueError:
        raise AssertionError(f"no JSON: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None


def stored(path: Path) -> dict[str, Any]:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return dict(json.loads(path.read_text()))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "conf"
    folder.mkdir(mode=0o700)
    return folder / "credentials.json"


def test_first_run_generates_private_keys_and_a_rerun_changes_nothing(store: Path, tmp_path: Path) -> None:
    first = run(tmp_path, path=str(store))
    assert first["changed"] is True
    data = stored(store)
    assert len(data["encryption_keys"]) == 1 and len(data["admin_keys"]) == 1
    assert data["client_secret_slot"] == 1 and data["client_secret_rotation"] is None
    assert first["secrets"]["encryption_keys"] == data["encryption_keys"]
    assert first["secrets"]["admin_keys"] == data["admin_keys"]
    assert first["secrets"]["admin_key_hashes"][0].startswith("sha256:")
    written = store.read_text()
    again = run(tmp_path, path=str(store))
    assert again["changed"] is False and store.read_text() == written


def test_check_mode_writes_nothing(store: Path, tmp_path: Path) -> None:
    result = run(tmp_path, path=str(store), check=True)
    assert result["changed"] is True
    assert not store.exists()
    assert [p.name for p in store.parent.iterdir()] == []  # no temporary file left either


def test_diff_shows_progress_but_no_key(store: Path, tmp_path: Path) -> None:
    run(tmp_path, path=str(store))
    keys = stored(store)["encryption_keys"]
    result = run(tmp_path, path=str(store), action="encryption_key_begin", diff=True)
    assert result["diff"]["before"]["encryption_keys"] == ["********"]
    assert result["diff"]["after"]["encryption_keys"] == ["********", "********"]
    assert result["diff"]["after"]["encryption_rotation"] == "reencrypting"
    text = json.dumps(result["diff"])
    for key in stored(store)["encryption_keys"] + stored(store)["admin_keys"] + keys:
        assert key not in text


def test_encryption_and_admin_key_rotations_resume_and_finish(store: Path, tmp_path: Path) -> None:
    run(tmp_path, path=str(store))
    old = stored(store)
    run(tmp_path, path=str(store), action="encryption_key_begin")
    begun = stored(store)
    assert begun["encryption_keys"][1] == old["encryption_keys"][0] and begun["encryption_rotation"] == "reencrypting"
    # A re-run after an interruption resumes with the same new key.
    assert run(tmp_path, path=str(store), action="encryption_key_begin")["changed"] is False
    assert stored(store)["encryption_keys"] == begun["encryption_keys"]
    run(tmp_path, path=str(store), action="encryption_key_finish")
    assert stored(store)["encryption_keys"] == begun["encryption_keys"][:1]
    assert stored(store)["encryption_rotation"] is None

    issued = run(tmp_path, path=str(store), action="admin_key_begin")
    assert stored(store)["admin_keys"][1] == old["admin_keys"][0]
    assert issued["rotation_state"]["admin_rotation"] == "issued" and issued["rotation_state"]["admin_key_count"] == 2
    run(tmp_path, path=str(store), action="admin_key_finish")
    assert stored(store)["admin_keys"] == issued["secrets"]["admin_keys"][:1] != old["admin_keys"]


def test_client_secret_rotation_moves_the_current_slot_in_three_recorded_steps(store: Path, tmp_path: Path) -> None:
    run(tmp_path, path=str(store))
    begun = run(tmp_path, path=str(store), action="client_secret_begin")
    assert stored(store)["client_secret_rotation"] == {"target_slot": 2, "phase": "refreshing"}
    assert begun["rotation_state"]["client_secret_current_slot"] == 1  # the new secret does not exist yet
    refreshed = run(tmp_path, path=str(store), action="client_secret_refreshed")
    assert refreshed["rotation_state"]["client_secret_current_slot"] == 2 and stored(store)["client_secret_slot"] == 1
    run(tmp_path, path=str(store), action="client_secret_commit")
    assert stored(store)["client_secret_slot"] == 2 and stored(store)["client_secret_rotation"] is None
    # The next rotation takes the other slot.
    run(tmp_path, path=str(store), action="client_secret_begin")
    assert stored(store)["client_secret_rotation"]["target_slot"] == 1


def test_inventory_keys_are_used_not_stored_and_not_rotated(store: Path, tmp_path: Path) -> None:
    vault = {"inventory_encryption_keys": ["A" * 43], "inventory_admin_keys": [VAULT_ADMIN_KEY]}
    result = run(tmp_path, path=str(store), **vault)
    data = stored(store)
    assert "encryption_keys" not in data and "admin_keys" not in data
    assert result["secrets"]["encryption_keys"] == [] and result["secrets"]["admin_keys"] == []
    assert result["rotation_state"]["admin_keys_from_inventory"] is True
    import hashlib

    assert result["secrets"]["admin_key_hashes"] == ["sha256:" + hashlib.sha256(VAULT_ADMIN_KEY.encode()).hexdigest()]
    before = store.read_text()
    refused = run(tmp_path, path=str(store), action="admin_key_begin", **vault)
    assert refused["failed"] is True and "rotate it there" in refused["msg"]
    assert store.read_text() == before
    assert VAULT_ADMIN_KEY not in json.dumps(refused)


def test_bad_input_fails_before_anything_is_written(store: Path, tmp_path: Path) -> None:
    short = run(tmp_path, path=str(store), inventory_admin_keys=["too-short"])
    assert short["failed"] is True and "32 characters" in short["msg"] and "too-short" not in json.dumps(short)
    assert not store.exists()
    store.write_text("{not json")
    broken = run(tmp_path, path=str(store))
    assert broken["failed"] is True and "cannot read the secret store" in broken["msg"]
    assert store.read_text() == "{not json"
    missing = run(tmp_path, path=str(tmp_path / "absent" / "credentials.json"))
    assert missing["failed"] is True and "does not exist" in missing["msg"]


def test_a_store_readable_by_others_is_made_private(store: Path, tmp_path: Path) -> None:
    run(tmp_path, path=str(store))
    os.chmod(store, 0o644)
    content = store.read_text()
    assert run(tmp_path, path=str(store))["changed"] is True
    assert stat.S_IMODE(store.stat().st_mode) == 0o600 and store.read_text() == content


def test_through_pytest_ansible(localhost: Any, store: Path) -> None:
    first = dict(localhost.token_service_secrets(path=str(store))["localhost"])
    assert first["changed"] is True
    assert first["secrets"]["encryption_keys"] == stored(store)["encryption_keys"]
    assert dict(localhost.token_service_secrets(path=str(store))["localhost"])["changed"] is False


@pytest.mark.skipif(not PYTHON39.exists(), reason="pyenv's Python 3.9 is not installed")
def test_runs_on_python_3_9(store: Path, tmp_path: Path) -> None:
    # ansible-core's module_utils (what a module ships to its target) on the 3.9 path, nothing else.
    import ansible

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "ansible").symlink_to(Path(ansible.__file__).parent)
    result = run(tmp_path, python=str(PYTHON39), env={"PYTHONPATH": str(lib), "PATH": os.environ["PATH"]},
                 path=str(store), action="admin_key_begin")  # fmt: skip
    assert result["changed"] is True, result
    assert len(stored(store)["admin_keys"]) == 2
