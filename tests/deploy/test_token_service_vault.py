"""token_service_vault against a real OpenBao (harness.procs.OpenBao, dev mode), judged by reading Vault back.

The module file runs as Ansible's local connection runs it (a Python process with an args file:
AnsibleModule, its no_log masking and check/diff flags are the real ones). What it wrote is read
back through OpenBao's HTTP API, and the policy it wrote is proven with a token that carries it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.procs import ROOT, OpenBao, VaultError

MODULE = ROOT / "plugins" / "modules" / "token_service_vault.py"
OAUTH = {"client_id": "vault-test-client-id", "client_secret": "vault-test-secret-one-AAAA",
         "client_secret_2": "vault-test-secret-two-BBBB"}  # fmt: skip


def run(tmp: Path, bao: OpenBao, *, check: bool = False, diff: bool = False, **args: Any) -> dict[str, Any]:
    args_file = tmp / "module-args.json"
    body = {"url": bao.url, "token": bao.root_token, **OAUTH, **args}
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"_ansible_check_mode": check, "_ansible_diff": diff, **body}}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT / "collections")])))
    proc = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60,
                          env=env, check=False)  # fmt: skip
    args_file.unlink()
    try:
        result = dict(json.loads(proc.stdout))
    except ValueError:
        raise AssertionError(f"no JSON: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None
    # Whatever the outcome, no secret sent to the module comes back in its output but where asked for.
    shown = json.dumps({k: v for k, v in result.items() if k not in ("secrets", "secret_id", "secret_ids", "token")})
    for secret in (OAUTH["client_secret"], OAUTH["client_secret_2"]):
        assert secret not in shown + proc.stderr
    return result


def kv(bao: OpenBao, path: str) -> dict[str, Any]:
    return dict(bao.api("GET", f"secret/data/{path}")["data"]["data"])


@pytest.fixture(scope="module")
def first(openbao: OpenBao, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("vault-module")
    planned = run(tmp, openbao, check=True)
    assert planned["changed"] and openbao.api("GET", "sys/mounts").get("transit/") is None  # check mode wrote nothing
    result = run(tmp, openbao, issue_secret_id=True, diff=True)
    result["_planned"] = planned
    result["_tmp"] = tmp
    return result


def test_first_run_writes_secret_key_policy_and_role(openbao: OpenBao, first: dict[str, Any]) -> None:
    assert first["changed"] and first["requests"] == first["_planned"]["requests"] + [
        "POST auth/approle/role/snowmcp-token-service/secret-id"]
    secret = kv(openbao, "snowmcp/token-service")
    assert secret == {"client_id": OAUTH["client_id"], "client_secret": OAUTH["client_secret"],
                      "client_secret_next": OAUTH["client_secret_2"],
                      "admin_keys": first["secrets"]["admin_key_hashes"][0]}  # fmt: skip
    assert secret["admin_keys"].startswith("sha256:") and len(first["secrets"]["admin_keys"]) == 1
    # The admin key itself is only in the controller's secret.
    state = json.loads(kv(openbao, "snowmcp/token-service-controller")["state"])
    assert state["admin_keys"] == first["secrets"]["admin_keys"] and state["client_secret_slot"] == 1
    key = openbao.api("GET", "transit/keys/snowmcp-token-service")["data"]
    assert key["type"] == "aes256-gcm96" and key["latest_version"] == 1 and first["transit"]["latest_version"] == 1
    role = openbao.api("GET", "auth/approle/role/snowmcp-token-service")["data"]
    assert role["token_policies"] == ["snowmcp-token-service"]
    assert first["role_id"] == openbao.api("GET", "auth/approle/role/snowmcp-token-service/role-id")["data"]["role_id"]
    # The diff shows the change with both client secrets masked.
    after = first["diff"]["after"]["service_secret"]
    assert after["client_secret"] == "********" and after["client_id"] == OAUTH["client_id"]


def test_the_policy_is_least_privilege(openbao: OpenBao, first: dict[str, Any]) -> None:
    # Log in as the service does (AppRole) and try what it may and may not do.
    login = openbao.api("POST", "auth/approle/login", {"role_id": first["role_id"], "secret_id": first["secret_id"]},
                        token="")  # fmt: skip
    token = login["auth"]["client_token"]
    assert openbao.api("GET", "secret/data/snowmcp/token-service", token=token)["data"]["data"]["client_id"]
    wrapped = openbao.api("POST", "transit/datakey/wrapped/snowmcp-token-service", {}, token=token)
    assert wrapped["data"]["ciphertext"].startswith("vault:v1:")
    for method, path in [("GET", "secret/data/snowmcp/token-service-controller"),
                         ("POST", "secret/data/snowmcp/token-service"),
                         ("POST", "transit/keys/snowmcp-token-service/rotate"),
                         ("GET", "sys/policies/acl/snowmcp-token-service")]:  # fmt: skip
        with pytest.raises(VaultError) as denied:
            openbao.api(method, path, {"data": {}} if method == "POST" else None, token=token)
        assert denied.value.status == 403, (method, path)


def test_a_second_run_changes_nothing_and_keeps_the_secret_id(openbao: OpenBao, first: dict[str, Any]) -> None:
    version = openbao.api("GET", "secret/data/snowmcp/token-service")["data"]["metadata"]["version"]
    again = run(first["_tmp"], openbao, issue_secret_id=True, secret_id=first["secret_id"])
    assert again["changed"] is False and again["requests"] == [] and again["secret_id"] == ""
    assert openbao.api("GET", "secret/data/snowmcp/token-service")["data"]["metadata"]["version"] == version
    # An unknown secret id (the host lost it, or it was revoked) gets a new one.
    renewed = run(first["_tmp"], openbao, issue_secret_id=True, secret_id="00000000-0000-0000-0000-000000000000")
    assert renewed["changed"] and renewed["secret_id"] not in ("", first["secret_id"])


def test_transit_rotation_resumes_and_raises_min_decryption_version(openbao: OpenBao, first: dict[str, Any]) -> None:
    tmp = first["_tmp"]
    begun = run(tmp, openbao, action="encryption_key_begin")
    assert begun["transit"] == {"latest_version": 2, "min_decryption_version": 1}
    assert begun["rotation_state"]["encryption_rotation"] == {"phase": "rewrapping", "version": 2}
    # Interrupted and re-run: no second rotation.
    assert run(tmp, openbao, action="encryption_key_begin")["requests"] == []
    finished = run(tmp, openbao, action="encryption_key_finish")
    key = openbao.api("GET", "transit/keys/snowmcp-token-service")["data"]
    assert key["latest_version"] == 2 and key["min_decryption_version"] == 2 == finished["transit"]["min_decryption_version"]
    assert finished["rotation_state"]["encryption_rotation"] is None


def test_client_secret_rotation_swaps_the_slots(openbao: OpenBao, first: dict[str, Any]) -> None:
    tmp = first["_tmp"]
    for action in ("client_secret_begin", "client_secret_refreshed"):
        run(tmp, openbao, action=action)
    # Once the new secret exists (slot 2) the service uses it as current and keeps the old as next.
    assert kv(openbao, "snowmcp/token-service")["client_secret"] == OAUTH["client_secret_2"]
    assert kv(openbao, "snowmcp/token-service")["client_secret_next"] == OAUTH["client_secret"]
    done = run(tmp, openbao, action="client_secret_commit")
    assert done["rotation_state"]["client_secret_slot"] == 2 and done["rotation_state"]["client_secret_rotation"] is None


def test_bad_input_fails_before_any_write(openbao: OpenBao, first: dict[str, Any]) -> None:
    before = openbao.api("GET", "secret/data/snowmcp/token-service")["data"]["metadata"]["version"]
    short = run(first["_tmp"], openbao, inventory_admin_keys=["too-short"])
    assert short.get("failed") and "fewer than 32 characters" in short["msg"]
    wrong = run(first["_tmp"], openbao, token="not-a-token")
    assert wrong.get("failed") and "refused the token" in wrong["msg"]
    assert openbao.api("GET", "secret/data/snowmcp/token-service")["data"]["metadata"]["version"] == before


def _holder(bao: OpenBao, secret_id: str) -> str | None:
    """The host a secret id was issued for (its metadata), or None once it no longer exists."""
    try:
        found = bao.api("POST", "auth/approle/role/snowmcp-token-service/secret-id/lookup", {"secret_id": secret_id})
    except VaultError as exc:
        assert exc.status == 404
        return None
    return None if not found else str((found["data"].get("metadata") or {}).get("snowmcp_host", ""))


# Last in the file: it retires the secret id the fixture issued (untagged, as before per-host ids).
def test_each_host_holds_its_own_secret_id_and_a_host_that_leaves_loses_it(openbao: OpenBao, first: dict[str, Any]) -> None:
    tmp = first["_tmp"]
    # svc-1 holds the fixture's untagged secret id (a deployment from before per-host ids); svc-2 holds none.
    got = run(tmp, openbao, issue_secret_id=True, host_secret_ids={"svc-1": first["secret_id"], "svc-2": ""})
    ids = got["secret_ids"]
    assert set(ids) == {"svc-1", "svc-2"} and len(set(ids.values())) == 2 and first["secret_id"] not in ids.values()
    assert {_holder(openbao, ids[h]) for h in ids} == {"svc-1", "svc-2"} and _holder(openbao, ids["svc-1"]) == "svc-1"
    assert _holder(openbao, first["secret_id"]) is None  # the untagged one is destroyed once svc-1 has its own
    for secret_id in ids.values():
        login = openbao.api("POST", "auth/approle/login", {"role_id": first["role_id"], "secret_id": secret_id}, token="")
        assert login["auth"]["policies"] == ["default", "snowmcp-token-service"]
    # A re-run with what the hosts hold issues nothing and destroys nothing.
    again = run(tmp, openbao, issue_secret_id=True, host_secret_ids=ids)
    assert again["secret_ids"] == {} and again["requests"] == [] and again["changed"] is False
    # svc-1's secret id copied to a new host svc-3 is not svc-3's; svc-2 left the inventory.
    moved = run(tmp, openbao, issue_secret_id=True, host_secret_ids={"svc-1": ids["svc-1"], "svc-3": ids["svc-1"]})
    assert set(moved["secret_ids"]) == {"svc-3"} and _holder(openbao, moved["secret_ids"]["svc-3"]) == "svc-3"
    assert _holder(openbao, ids["svc-1"]) == "svc-1"  # still svc-1's, still valid
    assert _holder(openbao, ids["svc-2"]) is None  # destroyed: svc-2 can no longer log in
    with pytest.raises(VaultError):
        openbao.api("POST", "auth/approle/login", {"role_id": first["role_id"], "secret_id": ids["svc-2"]}, token="")
    # A limited run (svc-3 only) leaves svc-1, another host of the group, its secret id. svc-3 lost its one
    # (a reboot emptied its tmpfs): it gets a new one and the lost one is destroyed.
    lost = moved["secret_ids"]["svc-3"]
    limited = run(tmp, openbao, issue_secret_id=True, host_secret_ids={"svc-3": ""}, keep_hosts=["svc-1", "svc-3"])
    assert set(limited["secret_ids"]) == {"svc-3"} and _holder(openbao, limited["secret_ids"]["svc-3"]) == "svc-3"
    assert _holder(openbao, lost) is None and _holder(openbao, ids["svc-1"]) == "svc-1"
