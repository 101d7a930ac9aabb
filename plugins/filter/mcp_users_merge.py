"""Filter snowmcp.core.mcp_users_merge: the hand-written mcp_users merged with the users read from the directory."""

from __future__ import annotations

DOCUMENTATION = r"""
name: mcp_users_merge
short_description: Merge the hand-written mcp_users with the entries of the snowflake_users inventory source
description:
  - Returns the effective C(mcp_users). A hand-written entry wins where both name a user (logins compare
    case-insensitively for ASCII letters, as Snowflake compares them).
  - A hand-written entry with C(roles) is taken as written (a user managed by hand).
  - One without C(roles) overlays the directory's entry for that login - its C(host), C(shell), C(servers) and
    C(state) win. When the directory does not list the login the entry becomes C(state=absent), so a user removed
    from the identity provider's group is offboarded from their workstation too.
  - Directory entries that no hand-written entry names follow.
  - With no directory (V(none)) the hand-written list is returned unchanged.
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
options:
  _input:
    description: The hand-written C(mcp_users).
    type: list
    elements: dict
    required: true
  directory:
    description: C(mcp_directory_users), set by the C(snowmcp.core.snowflake_users) inventory source.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: The effective mcp_users of this run
  ansible.builtin.set_fact:
    mcp_users: "{{ mcp_users | default([]) | snowmcp.core.mcp_users_merge(mcp_directory_users) }}"
  when: mcp_directory_users is defined
"""

RETURN = r"""
_value:
  description: The effective C(mcp_users) list.
  type: list
  elements: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_directory import (
    DirectoryError,
    merge_users,
)


def mcp_users_merge(hand: Any, directory: Any) -> list[dict[str, Any]]:
    try:
        return merge_users(hand, directory)
    except DirectoryError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"mcp_users_merge": mcp_users_merge}
