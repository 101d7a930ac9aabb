"""Vault mode with Kubernetes auth (SNOWMCP_VAULT_AUTH=kubernetes) against a real OpenBao.

There is no Kubernetes cluster here. The one mock is harness/kubeapi.py: a stand-in for the
Kubernetes API server that issues projected service-account JWTs and answers their TokenReview
(`POST /apis/authentication.k8s.io/v1/tokenreviews`) as the real API server does. Everything else
is real: OpenBao's own `kubernetes` auth method (it checks each JWT's signature against the
stand-in's public key, its issuer and the role's bound service account and namespace, then asks
the stand-in's TokenReview over HTTPS with a reviewer account's token), the token_service role's
module `token_service_vault` (run as Ansible runs it: it enables the auth method and writes the
KV secret, the Transit key, the policy and the Kubernetes role the role's tasks ask it for), the
service (`snowmcp-service serve`) and the Snowflake emulator.

What the test does by hand is what docs/operations.md leaves to the operator once per cluster
(`auth/kubernetes/config`: the API server, its CA, the reviewer token, the signing key and issuer),
plus a 4 s `token_max_ttl` on the role so the service's 2 s tokens run out and it logs in again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.flow import login
from harness.kubeapi import KubeAPI, claims_of
from harness.procs import BIN, ROOT, Emulator, OpenBao, VaultError, free_port
from harness.svc import ADMIN_KEY, ServiceProc, service_env, setup_integration
from tests.service.test_api import token_works
from tests.service.vaultkit import SECRET_SETTINGS

MODULE = ROOT / "plugins" / "modules" / "token_service_vault.py"
NAMESPACE = "snowmcp"  # token_service's default `namespace`
ACCOUNT = "snowmcp-token-service"  # the ServiceAccount the role's manifests create
ROLE = "snowmcp-token-service"  # token_service.vault.kubernetes_role's default
POLICY = "snowmcp-token-service"
LOGIN_PATH = "auth/kubernetes/login"
USER = "alice@example.com"


def run_module(tmp: Path, **args: Any) -> dict[str, Any]:
    """token_service_vault as Ansible's local connection runs it (an args file, the real AnsibleModule)."""
    args_file = tmp / "module-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT / "collections")])))
    proc = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60,
                          env=env, check=False)  # fmt: skip
    args_file.unlink()
    result = dict(json.loads(proc.stdout))
    assert not result.get("failed"), result.get("msg")
    return result


def write_token(path: Path, token: str) -> None:
    """Replace the token file in one step, as the kubelet swaps a projected volume's files."""
    part = path.with_suffix(".new")
    part.write_text(token)
    part.chmod(0o600)
    part.replace(path)


def logins(svc: ServiceProc) -> int:
    return svc.log.read_text().count("vault: logged in with kubernetes")


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeAPI]:
    api = KubeAPI(tmp_path_factory.mktemp("kubeapi")).start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="module")
def env(shared_emulator: Emulator, openbao: OpenBao, kube: KubeAPI,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # fmt: skip
    workdir = tmp_path_factory.mktemp("vault-k8s")
    port = free_port()
    integ = setup_integration(shared_emulator, f"http://127.0.0.1:{port}/v1/oauth/callback")
    # The Vault side, by the role's module with the arguments secrets_vault.yml gives it for
    # `runtime: kubernetes` + `vault.auth: kubernetes` (service account and namespace as rendered).
    module_args = {"url": openbao.url, "token": openbao.root_token, "auth": "kubernetes", "kubernetes_mount": "kubernetes",
                   "kubernetes_role": ROLE, "kubernetes_service_account": ACCOUNT, "kubernetes_namespace": NAMESPACE,
                   "policy_name": POLICY, "token_ttl": 2, "client_id": integ.client_id, "client_secret": integ.secret,
                   "client_secret_2": integ.secret_2, "inventory_admin_keys": [ADMIN_KEY]}  # fmt: skip
    first = run_module(workdir, **module_args)
    # Once per cluster, by the operator (docs/operations.md): where the API server is, its CA, a
    # reviewer account's token (system:auth-delegator), the service-account signing key and issuer.
    kube.service_account("openbao", "token-reviewer", reviewer=True)
    openbao.api("POST", "auth/kubernetes/config", {
        "kubernetes_host": kube.url, "kubernetes_ca_cert": kube.ca_pem, "disable_local_ca_jwt": True,
        "token_reviewer_jwt": kube.issue("openbao", "token-reviewer", ttl=86400),
        "pem_keys": [kube.public_pem], "issuer": kube.issuer})  # fmt: skip
    # 2 s tokens (the module's token_ttl) renewable up to 4 s: the service renews, then logs in again.
    openbao.api("POST", f"auth/kubernetes/role/{ROLE}", {"token_max_ttl": 4})
    again = run_module(workdir, **module_args)

    jwt_file = workdir / "serviceaccount-token"
    jwt = kube.issue(NAMESPACE, ACCOUNT, pod="snowmcp-token-service-7d9f8-abcde")
    write_token(jwt_file, jwt)
    base = {k: v for k, v in service_env(shared_emulator, integ, f"sqlite:///{workdir / 'tokens.db'}").items()
            if k not in SECRET_SETTINGS}  # fmt: skip
    base.update({"SNOWMCP_VAULT_ADDR": openbao.url, "SNOWMCP_VAULT_AUTH": "kubernetes",
                 "SNOWMCP_VAULT_KUBERNETES_ROLE": ROLE, "SNOWMCP_VAULT_KUBERNETES_JWT_FILE": str(jwt_file)})  # fmt: skip
    svc = ServiceProc(workdir, base, port=port)
    svc.start()  # /healthz answers only once the service has logged in and read its KV secret
    try:
        started = openbao.login_tokens(LOGIN_PATH)
        # The kubelet rotates the projected token; the old one expires. The service must read
        # the file again at its next login (a cached JWT would now be refused).
        write_token(jwt_file, kube.issue(NAMESPACE, ACCOUNT, pod="snowmcp-token-service-7d9f8-abcde"))
        kube.expire(jwt)
        yield {"svc": svc, "emu": shared_emulator, "bao": openbao, "kube": kube, "integ": integ, "first": first,
               "again": again, "jwt": jwt, "jwt_file": jwt_file, "started": started, "workdir": workdir}  # fmt: skip
    finally:
        svc.stop()


def test_the_module_writes_the_kubernetes_role_and_openbao_checks_the_jwt(env: dict[str, Any]) -> None:
    bao, kube = env["bao"], env["kube"]
    assert "POST sys/auth/kubernetes" in env["first"]["requests"]
    assert f"POST auth/kubernetes/role/{ROLE}" in env["first"]["requests"]
    assert env["again"]["changed"] is False and env["again"]["requests"] == []  # converged: a re-run writes nothing
    assert bao.api("GET", "sys/auth")["data"]["kubernetes/"]["type"] == "kubernetes"
    role = bao.api("GET", f"auth/kubernetes/role/{ROLE}")["data"]
    assert role["bound_service_account_names"] == [ACCOUNT] and role["bound_service_account_namespaces"] == [NAMESPACE]
    assert role["token_policies"] == [POLICY] and role["token_ttl"] == 2
    # OpenBao verifies the signature itself (pem_keys): a token signed with another key is
    # refused before any TokenReview.
    forged = kube.issue(NAMESPACE, ACCOUNT, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(VaultError) as refused:
        bao.api("POST", LOGIN_PATH, {"role": ROLE, "jwt": forged}, token="")
    assert refused.value.status == 403
    assert claims_of(forged)["jti"] not in {review.jti for review in kube.reviews}


def test_the_service_logs_in_reads_kv_and_serves_a_token(env: dict[str, Any]) -> None:
    svc, emu, kube = env["svc"], env["emu"], env["kube"]
    # The service's login reached the TokenReview, for the pod's token, which it authenticated.
    first = next(review for review in kube.reviews if review.jti == claims_of(env["jwt"])["jti"])
    assert first.authenticated and first.username == f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
    # OpenBao issued the service a token of the role's policy, for that service account.
    assert env["started"]
    for token in env["started"]:
        assert token["policies"] == ["default", POLICY]
        assert {"role": ROLE, "service_account_name": ACCOUNT,
                "service_account_namespace": NAMESPACE}.items() <= token["meta"].items()  # fmt: skip
    # The KV secret the module wrote is what the service runs with: the admin key's digest...
    assert svc.request("GET", "/v1/admin/users", ADMIN_KEY)[0] == 200
    # ...and the OAuth client: a sign-in at Snowflake, and a token that works there.
    key = login(svc, USER)
    status, body = svc.request("GET", "/v1/token", key)
    assert status == 200 and token_works(emu, body["access_token"], USER)


def test_the_service_logs_in_again_with_the_rotated_jwt(env: dict[str, Any]) -> None:
    """Its token (2 s, renewable to 4 s) runs out: the service logs in again, reading the token
    file again (the first JWT has expired meanwhile), and keeps working."""
    svc, kube, bao = env["svc"], env["kube"], env["bao"]
    rotated = claims_of(env["jwt_file"].read_text())["jti"]

    def relogged() -> bool:  # the TokenReview comes first, the service's log line once OpenBao answered
        return any(r.jti == rotated and r.authenticated for r in kube.reviews) and logins(svc) >= 2

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not relogged():
        time.sleep(0.2)
    assert any(r.jti == rotated and r.authenticated for r in kube.reviews), "no login with the rotated token"
    assert logins(svc) >= 2
    while svc.request("GET", "/readyz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)  # a call racing the old token's end logs in once more
    assert svc.request("GET", "/readyz")[0] == 200
    assert login(svc, "bob@example.com")  # a new Transit data key, with the new Vault token
    newest = bao.login_tokens(LOGIN_PATH)[-1]
    assert newest["creation_time"] > env["started"][0]["creation_time"] and newest["policies"] == ["default", POLICY]


@pytest.mark.parametrize(("case", "reason"), [("another service account", "service account name not authorized"),
                                              ("a token the API server rejects", "permission denied")])  # fmt: skip
def test_a_jwt_the_role_does_not_accept_stops_the_start(env: dict[str, Any], tmp_path: Path, case: str, reason: str) -> None:
    """`default` of the same namespace: OpenBao refuses it from its claims (the role is bound to
    snowmcp-token-service). A token of the right account whose pod is gone: OpenBao asks the
    TokenReview, which answers not authenticated. Either way the service does not start, and
    says why without a secret."""
    svc, kube, integ = env["svc"], env["kube"], env["integ"]
    if case == "another service account":
        jwt = kube.issue(NAMESPACE, "default")
    else:
        jwt = kube.issue(NAMESPACE, ACCOUNT, pod="snowmcp-token-service-7d9f8-gone0")
        kube.delete_pod(NAMESPACE, "snowmcp-token-service-7d9f8-gone0")
    write_token(tmp_path / "token", jwt)
    port = free_port()
    environ = {**os.environ, **svc.env, "SNOWMCP_VAULT_KUBERNETES_JWT_FILE": str(tmp_path / "token"),
               "SNOWMCP_LISTEN": f"127.0.0.1:{port}", "SNOWMCP_PUBLIC_URL": f"http://127.0.0.1:{port}",
               "SNOWMCP_AUDIT_LOG": str(tmp_path / "audit.jsonl")}  # fmt: skip
    done = subprocess.run([str(BIN / "snowmcp-service"), "serve"], env=environ, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"vault kubernetes login failed: {reason}" in output, output[-2000:]
    for secret in (jwt, jwt.split(".")[2], integ.secret, integ.secret_2, ADMIN_KEY):
        assert secret not in output, "a secret is in the service's output"
    reviewed = [r for r in kube.reviews if r.jti == claims_of(jwt)["jti"]]
    if case == "another service account":
        assert reviewed == []  # refused from the JWT's claims, before any TokenReview
    else:
        assert [r.authenticated for r in reviewed] == [False] and "pod" in reviewed[0].error
