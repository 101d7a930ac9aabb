"""Filters for paths in a user's home that the mcp_workstation role works on as that user.

Python 3.9 compatible (runs wherever the filters run).
"""

from __future__ import annotations

import posixpath
from typing import Any


def below_link(path: Any, home: Any, linked: Any) -> bool:
    """Whether `path` lies below one of the folders `linked` (paths relative to `home`) that are
    symbolic links: a removal there would act wherever the link points, so the role leaves it.

    A path outside `home` is never below a link of the home. `linked` folders are compared
    as normalised relative paths (`.config`, `.local/share`).
    """
    path, home = posixpath.normpath(str(path)), posixpath.normpath(str(home))
    if not isinstance(linked, (list, tuple)) or not path.startswith(home.rstrip("/") + "/"):
        return False
    rel = posixpath.relpath(path, home)
    return any(rel.startswith(posixpath.normpath(str(d)) + "/") for d in linked)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"below_link": below_link}
