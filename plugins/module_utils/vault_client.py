"""One connection helper for the modules that talk to HashiCorp Vault / OpenBao (through hvac).

hvac is the Python client community.hashi_vault itself is built on; it is imported lazily so
that a missing install is one clear error (with how to install it), not a traceback.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

try:
    import hvac
    import hvac.exceptions
    import requests.exceptions

    HVAC_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    HVAC_IMPORT_ERROR = exc

LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?/?$")


def vault_argument_spec() -> dict[str, Any]:
    return {
        "url": {"type": "str", "required": True, "fallback": (env_fallback, ["VAULT_ADDR"])},
        "token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["VAULT_TOKEN"])},
        "namespace": {"type": "str", "default": "", "fallback": (env_fallback, ["VAULT_NAMESPACE"])},
        "ca_cert": {"type": "str", "default": "", "fallback": (env_fallback, ["VAULT_CACERT"])},
        "timeout": {"type": "int", "default": 30},
    }


def vault_client(module: AnsibleModule) -> Any:
    """An authenticated hvac client, or the task fails with one message that holds no secret."""
    if HVAC_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("hvac", url="https://pypi.org/project/hvac/"))
    params = module.params
    url = str(params["url"] or "").rstrip("/")
    if not (url.startswith("https://") or LOOPBACK.match(url)):
        module.fail_json(msg=f"the Vault address must be https (http only on loopback), got {url!r}")
    if not params["token"]:
        module.fail_json(msg="no Vault token: set the module's token (the role: token_service_vault_token) or VAULT_TOKEN")
    client = hvac.Client(url=url, token=params["token"], namespace=params["namespace"] or None,
                         verify=params["ca_cert"] or True, timeout=params["timeout"])
    try:
        authenticated = client.is_authenticated()
    except requests.exceptions.RequestException as exc:
        module.fail_json(msg=f"cannot reach Vault at {url}: {type(exc).__name__}")
    if not authenticated:
        module.fail_json(msg=f"Vault at {url} refused the token (expired or revoked?)")
    return client


def vault_errors() -> tuple[type[BaseException], ...]:
    """What a Vault call may raise: its message is Vault's own, which never echoes a value sent."""
    return (hvac.exceptions.VaultError, requests.exceptions.RequestException)
