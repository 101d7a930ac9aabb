"""runtime=kubernetes: every manifest validates against the Kubernetes schemas (kubernetes-validate, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness.procs import OpenBao

from .render import FAKE_OAUTH, render

KINDS = {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("k8s")
    render(tmp, {"runtime": "kubernetes", "url": "https://snowmcp.example.com", "store": "redis",
                 "redis_url": "redis://:vault-redis-pass@redis.snowmcp.svc:6380/0", "replicas": 3,
                 "dir": str(tmp / "secret-store"), "manifests_dir": str(tmp / "manifests"),
                 "ingress_from_namespaces": ["ingress-nginx"]})  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((tmp / "manifests").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        out[doc["kind"]] = doc
        out[doc["kind"]]["_path"] = str(path)
    return out


def test_every_manifest_validates_against_the_schemas(manifests: dict[str, dict[str, Any]]) -> None:
    assert set(manifests) == KINDS
    for _kind, doc in manifests.items():
        body = {k: v for k, v in doc.items() if k != "_path"}
        kubernetes_validate.validate(body, "1.30.0", strict=True)  # raises ValidationError


def test_a_broken_manifest_is_rejected(manifests: dict[str, dict[str, Any]]) -> None:
    # The validator really checks: a wrong type in the Deployment fails.
    body = {k: v for k, v in manifests["Deployment"].items() if k != "_path"}
    body = yaml.safe_load(yaml.safe_dump(body))
    body["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(body, "1.30.0", strict=True)


def test_deployment_is_hardened_and_health_checked(manifests: dict[str, dict[str, Any]]) -> None:
    dep = manifests["Deployment"]["spec"]
    assert dep["replicas"] == 3 and dep["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = dep["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["limits"]["memory"]
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    egress_ports = {p["port"] for rule in manifests["NetworkPolicy"]["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443, 6380} <= egress_ports


def test_secrets_only_in_the_secret(manifests: dict[str, dict[str, Any]]) -> None:
    secret = manifests["Secret"]["stringData"]
    config = manifests["ConfigMap"]["data"]
    assert secret["SNOWMCP_CLIENT_SECRET"] == FAKE_OAUTH["client_secret"]
    assert "vault-redis-pass" in secret["SNOWMCP_STORE"]
    assert secret["SNOWMCP_ADMIN_KEYS"].startswith("sha256:")
    for value in [*FAKE_OAUTH.values(), "vault-redis-pass"]:
        assert value not in yaml.safe_dump(config)
    assert config["SNOWMCP_PUBLIC_URL"] == "https://snowmcp.example.com"
    assert Path(manifests["Secret"]["_path"]).stat().st_mode & 0o077 == 0


# Vault mode: the role writes the secrets to a real OpenBao (from the controller) and the manifests
# carry only where to find them; the service logs in with its own Kubernetes auth.
@pytest.fixture(scope="module")
def vault_manifests(tmp_path_factory: pytest.TempPathFactory, openbao: OpenBao) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("k8s-vault")
    render(tmp, {"runtime": "kubernetes", "url": "https://snowmcp.example.com", "store": "redis",
                 "redis_url": "redis://:vault-redis-pass@redis.snowmcp.svc:6380/0", "replicas": 2,
                 "dir": str(tmp / "secret-store"), "manifests_dir": str(tmp / "manifests"),
                 "vault": {"addr": openbao.url, "auth": "kubernetes"}},
           "-e", f"token_service_vault_token={openbao.root_token}")  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((tmp / "manifests").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        out[doc["kind"]] = doc
    return out


def test_vault_manifests_validate_and_hold_no_secret_but_the_store(vault_manifests: dict[str, dict[str, Any]],
                                                                   openbao: OpenBao) -> None:  # fmt: skip
    assert set(vault_manifests) == KINDS | {"ServiceAccount"}
    for doc in vault_manifests.values():
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    config = vault_manifests["ConfigMap"]["data"]
    assert config["SNOWMCP_VAULT_ADDR"] == openbao.url and config["SNOWMCP_VAULT_AUTH"] == "kubernetes"
    assert config["SNOWMCP_VAULT_KUBERNETES_ROLE"] == "snowmcp-token-service"
    assert config["SNOWMCP_VAULT_KV_PATH"] == "snowmcp/token-service"
    assert config["SNOWMCP_VAULT_TRANSIT_KEY"] == "snowmcp-token-service"
    assert not {"SNOWMCP_CLIENT_ID", "SNOWMCP_CLIENT_SECRET", "SNOWMCP_ENCRYPTION_KEYS", "SNOWMCP_ADMIN_KEYS"} & set(config)
    assert set(vault_manifests["Secret"]["stringData"]) == {"SNOWMCP_STORE"}
    for value in FAKE_OAUTH.values():
        assert value not in yaml.safe_dump(vault_manifests)
    pod = vault_manifests["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "snowmcp-token-service" and pod["automountServiceAccountToken"] is True
    # /readyz is 503 while Vault is down though cached tokens are served: routing follows /healthz.
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/healthz"
    port = int(openbao.url.rsplit(":", 1)[1])
    egress = {p["port"] for rule in vault_manifests["NetworkPolicy"]["spec"]["egress"] for p in rule["ports"]}
    assert port in egress
    # What the role wrote to Vault: the credentials, and a Kubernetes role bound to the pod's account.
    secret = openbao.api("GET", "secret/data/snowmcp/token-service")["data"]["data"]
    assert secret["client_id"] == FAKE_OAUTH["client_id"] and secret["client_secret"] == FAKE_OAUTH["client_secret"]
    role = openbao.api("GET", "auth/kubernetes/role/snowmcp-token-service")["data"]
    assert role["bound_service_account_names"] == ["snowmcp-token-service"]
    assert role["bound_service_account_namespaces"] == ["snowmcp"] and role["token_policies"] == ["snowmcp-token-service"]
