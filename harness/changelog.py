"""`make changelog`: CHANGELOG.md as antsibull-changelog renders the pending release.

0.1.0 is not released, so in antsibull-changelog's model its changes are fragments
(changelogs/fragments/*.yml) and changelogs/changelog.yaml records no release yet; the tool's
`generate` refuses to render a changelog without a release. So this runs the tool's own
`release` for the version in galaxy.yml on a scratch copy (galaxy.yml, meta/, plugins/ for the
"New Modules" list, changelogs/) and keeps only the CHANGELOG.md it writes: the repository's
fragments and changelog.yaml stay as they are until the real release, when a maintainer runs
`antsibull-changelog release` in the checkout itself. The Markdown does not show the release
date, so the output depends only on the checked-in files.

    python -m harness.changelog          # rewrite CHANGELOG.md
    python -m harness.changelog --check  # exit 1 if CHANGELOG.md is not the tool's output
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from harness.procs import BIN, ROOT

TOOL = BIN / "antsibull-changelog"


def galaxy_version() -> str:
    return str(yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"])


def render() -> str:
    """The CHANGELOG.md antsibull-changelog writes for the pending release."""
    with tempfile.TemporaryDirectory(prefix="snowmcp-changelog-") as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "galaxy.yml", work / "galaxy.yml")
        for folder in ("meta", "plugins", "changelogs"):
            shutil.copytree(
                ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
        env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")  # ansible-doc
        proc = subprocess.run([str(TOOL), "release", "--version", galaxy_version(), "--date", "2000-01-01"],
                              cwd=work, env=env, capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(
                f"antsibull-changelog release failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return (work / "CHANGELOG.md").read_text(encoding="utf-8")


def main(argv: list[str]) -> int:
    text = render()
    target = ROOT / "CHANGELOG.md"
    if "--check" in argv:
        if target.read_text(encoding="utf-8") != text:
            print("CHANGELOG.md is not antsibull-changelog's output for changelogs/: run `make changelog` "
                  "(never edit CHANGELOG.md by hand; add a fragment to changelogs/fragments/)", file=sys.stderr)  # fmt: skip
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
