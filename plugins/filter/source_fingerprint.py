"""Filter snowmcp.core.source_fingerprint: a digest of the package sources a wheel is built from."""

from __future__ import annotations

DOCUMENTATION = r"""
name: source_fingerprint
short_description: Digest of the snowmcp package sources shipped in the collection
description:
  - Returns the SHA-256 of the sorted list of (relative path, SHA-256 of the contents) of C(pyproject.toml),
    C(README.md) and every package file under C(src/) (C(*.py), C(*.typed), C(*.html), C(*.yml), C(*.yaml),
    C(*.json), C(*.toml)); caches and build leftovers are not package files and are left out.
  - The C(snowmcp.core.snowmcp_wheel) role names its cache folder after it, so a wheel is rebuilt exactly when
    the sources change.
  - It reads the files on the controller, in the play's own process (a C(find) with checksums on each run
    costs two module executions).
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
options:
  _input:
    description: The collection's root folder (the one holding C(pyproject.toml) and C(src/)).
    type: path
    required: true
"""

EXAMPLES = r"""
fingerprint: "{{ (role_path ~ '/../..') | realpath | snowmcp.core.source_fingerprint }}"
# => 64 hexadecimal digits
"""

RETURN = r"""
_value:
  description: The hexadecimal SHA-256 digest.
  type: str
"""

import hashlib
import json
import os
from typing import Any

from ansible.errors import AnsibleFilterError

PACKAGE_SUFFIXES = (".py", ".typed", ".html", ".yml", ".yaml", ".json", ".toml")
PROJECT_FILES = ("pyproject.toml", "README.md")


def _digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def source_fingerprint(root: str) -> str:
    root = os.path.realpath(str(root))
    if not os.path.isdir(os.path.join(root, "src")):
        raise AnsibleFilterError(f"source_fingerprint: {root} has no src/ folder (not a snowmcp collection root)")
    files = [name for name in PROJECT_FILES if os.path.isfile(os.path.join(root, name))]
    for folder, dirs, names in os.walk(os.path.join(root, "src")):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info")]
        files.extend(os.path.relpath(os.path.join(folder, n), root) for n in names if n.endswith(PACKAGE_SUFFIXES))
    listing = sorted((rel, _digest(os.path.join(root, rel))) for rel in files)
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"source_fingerprint": source_fingerprint}
