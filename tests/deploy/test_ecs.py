"""runtime=ecs: the AWS API requests the role writes, validated offline against botocore's model of the API.

botocore ships the service models of ECS and Secrets Manager and the parameter
validator the AWS SDK runs before sending a request; nothing here reaches AWS.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from harness.procs import OpenBao

from .render import FAKE_OAUTH, render

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:snowmcp/token-service-AbCdEf"
REDIS_PASSWORD = "vault-redis-pass"
ECS = {
    "region": "eu-west-1",
    "cluster": "snowmcp",
    "execution_role_arn": "arn:aws:iam::123456789012:role/snowmcp-token-service-execution",
    "secret_arn": SECRET_ARN,
    "subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
    "security_groups": ["sg-0123456789abcdef0"],
    "target_group_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/snowmcp/0123456789abcdef",
    "tags": {"team": "data-platform"},
}


def settings(tmp: Path, **ecs: Any) -> dict[str, Any]:
    return {"runtime": "ecs", "url": "https://snowmcp.example.com", "store": "redis",
            "redis_url": f"redis://:{REDIS_PASSWORD}@redis.internal:6380/0",
            "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/snowmcp-service:0.1.0",
            "dir": str(tmp / "secret-store"), "ecs": {**ECS, "files_dir": str(tmp / "ecs"), **ecs}}  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ecs")
    render(tmp, settings(tmp), secrets=(REDIS_PASSWORD,))
    return tmp / "ecs"


def load(files: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((files / name).read_text()))


def input_shape(service: str, operation: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def test_every_request_validates_against_the_api_model(files: Path) -> None:
    validate_parameters(load(files, "task-definition.json"), input_shape("ecs", "RegisterTaskDefinition"))
    validate_parameters(load(files, "service.json"), input_shape("ecs", "CreateService"))
    validate_parameters(load(files, "secret-value.json"), input_shape("secretsmanager", "PutSecretValue"))


def test_a_broken_request_is_rejected(files: Path) -> None:
    # The validator really checks: a number where the API wants a string, and an unknown key.
    task = load(files, "task-definition.json")
    task["cpu"] = 256
    with pytest.raises(ParamValidationError):
        validate_parameters(task, input_shape("ecs", "RegisterTaskDefinition"))
    svc = load(files, "service.json")
    svc["replicas"] = 2
    with pytest.raises(ParamValidationError):
        validate_parameters(svc, input_shape("ecs", "CreateService"))


def test_task_is_fargate_hardened_health_checked_and_logged(files: Path) -> None:
    task = load(files, "task-definition.json")
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    container = task["containerDefinitions"][0]
    assert container["user"] == "10001:10001" and container["readonlyRootFilesystem"] is True
    assert container["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    probe = container["healthCheck"]["command"]
    assert probe[:3] == ["CMD", "python", "-c"] and "/readyz" in probe[3]
    compile(probe[3], "healthcheck", "exec")  # the probe is valid Python for the image's interpreter
    logs = container["logConfiguration"]
    assert logs["logDriver"] == "awslogs" and logs["options"]["awslogs-region"] == "eu-west-1"
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["SNOWMCP_PUBLIC_URL"] == "https://snowmcp.example.com" and env["SNOWMCP_LISTEN"] == "0.0.0.0:8080"
    assert env["SNOWMCP_AUDIT_LOG"] == "-"


def test_secrets_come_from_secrets_manager_never_from_plain_environment(files: Path) -> None:
    task_text = (files / "task-definition.json").read_text()
    service_text = (files / "service.json").read_text()
    for value in [*FAKE_OAUTH.values(), REDIS_PASSWORD]:
        assert value not in task_text and value not in service_text
    container = json.loads(task_text)["containerDefinitions"][0]
    names = {s["name"] for s in container["secrets"]}
    assert {"SNOWMCP_CLIENT_SECRET", "SNOWMCP_CLIENT_SECRET_NEXT", "SNOWMCP_ENCRYPTION_KEYS", "SNOWMCP_STORE",
            "SNOWMCP_ADMIN_KEYS", "SNOWMCP_CLIENT_ID"} <= names  # fmt: skip
    assert not names & {e["name"] for e in container["environment"]}
    assert all(s["valueFrom"] == f"{SECRET_ARN}:{s['name']}::" for s in container["secrets"])
    # The value to store in that secret: one JSON key per secret, in the only 0600 file.
    value = json.loads(load(files, "secret-value.json")["SecretString"])
    assert set(value) == names
    assert value["SNOWMCP_CLIENT_SECRET"] in (FAKE_OAUTH["client_secret"], FAKE_OAUTH["client_secret_2"])
    assert REDIS_PASSWORD in value["SNOWMCP_STORE"] and value["SNOWMCP_ADMIN_KEYS"].startswith("sha256:")
    assert stat.S_IMODE((files / "secret-value.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(files.stat().st_mode) == 0o700


def test_service_runs_two_tasks_and_replaces_them_healthy_first(files: Path) -> None:
    svc = load(files, "service.json")
    assert svc["desiredCount"] == 2 and svc["launchType"] == "FARGATE"
    assert svc["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert svc["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert svc["loadBalancers"][0]["containerName"] == "token-service"
    assert svc["taskDefinition"] == load(files, "task-definition.json")["family"]


def test_missing_ecs_settings_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = render(tmp_path, settings(tmp_path, region="", secret_arn="snowmcp/token-service"), succeed=False)
    assert "token_service.ecs is invalid" in out and "Nothing was changed" in out
    assert not (tmp_path / "ecs").exists() and not (tmp_path / "secret-store").exists()


def test_ecs_needs_the_redis_store(tmp_path: Path) -> None:
    out = render(tmp_path, {**settings(tmp_path), "store": "sqlite", "redis_url": ""}, succeed=False)
    assert "token_service is invalid" in out
    assert not (tmp_path / "ecs").exists()


def test_vault_mode_keeps_only_the_store_in_secrets_manager(tmp_path: Path, openbao: OpenBao) -> None:
    # AWS Secrets Manager stays the ECS default; in Vault mode it holds only the store URL, and a
    # Vault Agent of the task writes the service's token into a shared volume (auth token_file).
    vault = {"addr": openbao.url, "auth": "token_file", "token_file": "/vault/token/service-token"}
    render(tmp_path, {**settings(tmp_path), "vault": vault}, "-e", f"token_service_vault_token={openbao.root_token}",
           secrets=(REDIS_PASSWORD,))  # fmt: skip
    files = tmp_path / "ecs"
    task = load(files, "task-definition.json")
    validate_parameters(task, input_shape("ecs", "RegisterTaskDefinition"))
    container = task["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["SNOWMCP_VAULT_AUTH"] == "token_file" and env["SNOWMCP_VAULT_TOKEN_FILE"] == vault["token_file"]
    assert env["SNOWMCP_VAULT_ADDR"] == openbao.url and "SNOWMCP_CLIENT_ID" not in env
    assert [s["name"] for s in container["secrets"]] == ["SNOWMCP_STORE"]
    assert set(json.loads(load(files, "secret-value.json")["SecretString"])) == {"SNOWMCP_STORE"}
    assert {"sourceVolume": "vault-token", "containerPath": "/vault/token", "readOnly": True} in container["mountPoints"]
    assert {"name": "vault-token"} in task["volumes"]
    assert "/healthz" in container["healthCheck"]["command"][3]  # ECS must not replace tasks in a Vault outage
    for value in FAKE_OAUTH.values():
        assert value not in (files / "task-definition.json").read_text() + (files / "secret-value.json").read_text()
    # The credentials went to Vault instead, where the policy lets the service read them.
    assert openbao.api("GET", "secret/data/snowmcp/token-service")["data"]["data"]["client_id"] == FAKE_OAUTH["client_id"]
