"""The token service's AWS ECS (Fargate) deployment as AWS API requests.

`token_service_ecs_requests` builds the bodies of RegisterTaskDefinition,
CreateService and Secrets Manager's PutSecretValue from the service's
environment, the role's settings and the `ecs` settings. The role writes them
to files an operator (or a pipeline) sends with `aws ... --cli-input-json`;
tests/deploy/test_ecs.py checks them against botocore's model of the real API.
Documented in token_service_ecs_requests.yml next to this file.
"""

from __future__ import annotations

import json
from typing import Any

CONTAINER = "token-service"
PORT = 8080
UID = "10001:10001"  # the Dockerfile's non-root user
# The image is slim (no curl or wget): the container's own Python asks /readyz. In Vault mode it
# asks /healthz: /readyz turns 503 while Vault is unusable although the task still serves cached
# tokens, and ECS would replace every task during a Vault outage (a task starts only once it has
# read Vault).
PROBE = ("import sys, urllib.request; sys.exit(0 if urllib.request.urlopen("
         f"'http://127.0.0.1:{PORT}%s', timeout=3).status == 200 else 1)")
READY_PROBE = PROBE % "/readyz"


def _tags(tags: Any) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in sorted((tags or {}).items())]


def task_definition(env: dict[str, str], cfg: dict[str, Any], ecs: dict[str, Any],
                    secret_keys: list[str]) -> dict[str, Any]:
    secret_names = sorted(secret_keys)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": cfg["image"],
        "essential": True,
        "command": ["serve"],
        "user": UID,
        "readonlyRootFilesystem": True,
        "portMappings": [{"name": "http", "containerPort": PORT, "protocol": "tcp", "appProtocol": "http"}],
        "environment": [{"name": k, "value": str(v)} for k, v in sorted(env.items()) if k not in secret_names],
        # ECS resolves each from a JSON key of the secret when a task starts: no value in this request.
        "secrets": [{"name": k, "valueFrom": f"{ecs['secret_arn']}:{k}::"} for k in secret_names],
        "healthCheck": {"command": ["CMD", "python", "-c",
                                    PROBE % "/healthz" if env.get("SNOWMCP_VAULT_ADDR") else READY_PROBE],
                        "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 20},
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": ecs["log_group"], "awslogs-region": ecs["region"],
            "awslogs-stream-prefix": "snowmcp",
            # A slow log pipeline must not block the service (the buffer drops lines instead).
            "mode": "non-blocking", "max-buffer-size": "4m"}},
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        # The root filesystem is read-only; /tmp is the task's own scratch space.
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],  # noqa: S108
        "stopTimeout": 40,
    }
    request: dict[str, Any] = {
        "family": ecs["family"],
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": str(ecs["cpu"]),
        "memory": str(ecs["memory"]),
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": ecs["cpu_architecture"]},
        "executionRoleArn": ecs["execution_role_arn"],
        "volumes": [{"name": "tmp"}],
        "containerDefinitions": [container],
    }
    token_file = env.get("SNOWMCP_VAULT_TOKEN_FILE", "")
    if token_file:
        # Vault mode on ECS: a Vault Agent container of the task (AWS IAM auth with the task role)
        # writes the service's token into this shared task volume; the service only reads it.
        request["volumes"].append({"name": "vault-token"})
        container["mountPoints"].append({"sourceVolume": "vault-token", "containerPath": token_file.rsplit("/", 1)[0],
                                         "readOnly": True})
    if ecs.get("task_role_arn"):
        request["taskRoleArn"] = ecs["task_role_arn"]
    if ecs.get("tags"):
        request["tags"] = _tags(ecs["tags"])
    return request


def service(cfg: dict[str, Any], ecs: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {
        "cluster": ecs["cluster"],
        "serviceName": ecs["service_name"],
        "taskDefinition": ecs["family"],  # the family's latest ACTIVE revision
        "desiredCount": max(int(cfg["replicas"]), 2),
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        # New tasks must be healthy before old ones stop; a rollout that fails rolls back.
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": list(ecs["subnets"]), "securityGroups": list(ecs["security_groups"]),
            "assignPublicIp": "ENABLED" if ecs.get("assign_public_ip") else "DISABLED"}},
        "enableExecuteCommand": False,
        "enableECSManagedTags": True,
        "propagateTags": "SERVICE",
    }
    if ecs.get("target_group_arn"):
        request["loadBalancers"] = [{"targetGroupArn": ecs["target_group_arn"], "containerName": CONTAINER,
                                     "containerPort": PORT}]
        request["healthCheckGracePeriodSeconds"] = 30
    if ecs.get("tags"):
        request["tags"] = _tags(ecs["tags"])
    return request


def secret_value(env: dict[str, str], ecs: dict[str, Any], secret_keys: list[str]) -> dict[str, Any]:
    values = {k: str(env[k]) for k in sorted(secret_keys) if k in env}
    return {"SecretId": ecs["secret_arn"], "SecretString": json.dumps(values, sort_keys=True)}


def token_service_ecs_requests(env: Any, cfg: Any, ecs: Any, secret_keys: Any) -> dict[str, Any]:
    return {
        "task_definition": task_definition(dict(env), dict(cfg), dict(ecs), list(secret_keys)),
        "service": service(dict(cfg), dict(ecs)),
        "secret_value": secret_value(dict(env), dict(ecs), list(secret_keys)),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"token_service_ecs_requests": token_service_ecs_requests}
