"""Options shared by the security-integration modules (snowflake_oauth_integration, snowflake_external_oauth_integration)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  name:
    description: Integration name (plain names are stored upper-case).
    type: str
    required: true
  network_policy:
    description: C(NETWORK_POLICY); an empty string unsets it.
    type: str
  comment:
    description: C(COMMENT).
    type: str
"""
