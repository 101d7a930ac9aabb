"""Connection options shared by the snowmcp.core modules that talk to HashiCorp Vault / OpenBao."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Address of the Vault (or OpenBao) server, e.g. C(https://vault.example.com:8200). Falls back to E(VAULT_ADDR).
      - https, or http on the loopback address only.
    type: str
    required: true
  token:
    description:
      - The controller's Vault token for the writes. Falls back to E(VAULT_TOKEN). Never logged.
      - Needs the capabilities listed in the token_service role's documentation (docs/operations.md, "Vault").
    type: str
  namespace:
    description: Vault Enterprise namespace (empty for OpenBao and Vault Community). Falls back to E(VAULT_NAMESPACE).
    type: str
    default: ""
  ca_cert:
    description:
      - CA bundle that signed the server's certificate; empty uses the system's. Falls back to E(VAULT_CACERT).
    type: str
    default: ""
  timeout:
    description: Seconds to wait for each answer.
    type: int
    default: 30
requirements:
  - hvac (the Python client for Vault's API) on the host that runs the module
"""
