"""What every Snowflake module shares: argument spec merge, runner set-up, error handling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_connection import (
    connection_argument_spec,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import (
    Runner,
    SnowflakeError,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import IdentifierError


def snowflake_module(argument_spec: dict[str, Any], **kwargs: Any) -> AnsibleModule:
    spec = connection_argument_spec()
    spec.update(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    return AnsibleModule(argument_spec=spec, **kwargs)


def run_module(module: AnsibleModule, body: Callable[[Runner], dict[str, Any]]) -> None:
    """Run `body` with a Runner; failures become fail_json with the queries so far."""
    runner = Runner(module.params, check_mode=module.check_mode, secrets=module.no_log_values)
    try:
        result = body(runner)
    except (SnowflakeError, IdentifierError, ValueError, RuntimeError) as exc:
        runner.close()
        module.fail_json(msg=runner.mask(str(exc)), queries=runner.queries)
    runner.close()
    result.setdefault("queries", runner.queries)
    result.setdefault("changed", False)
    module.exit_json(**result)
