"""Release notes as the Ansible community keeps them: antsibull-changelog fragments, and a
CHANGELOG.md that is the tool's output (harness/changelog.py), never a hand edit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from harness import changelog
from harness.procs import BIN, ROOT


def lint(*paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "antsibull-changelog"), "lint", *paths], cwd=ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_fragments_and_changelog_yaml_pass_lint() -> None:
    proc = lint()
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    # The sections every engineer's fragment uses are configured.
    config = yaml.safe_load((ROOT / "changelogs" / "config.yaml").read_text())
    sections = {name for name, _title in config["sections"]}
    assert {"minor_changes", "security_fixes", "bugfixes"} <= sections
    assert config["output"] == [{"file": "CHANGELOG.md", "format": "md"}]


def test_lint_rejects_a_bad_fragment(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "new_features:\n  - a section antsibull-changelog does not know\nbugfixes: not a list\n"
    )
    proc = lint(str(bad))
    assert proc.returncode != 0 and "new_features" in proc.stdout and "bugfixes" in proc.stdout, (
        proc.stdout
    )


def test_changelog_md_is_the_generators_output() -> None:
    rendered = changelog.render()
    assert "## v" + changelog.galaxy_version().replace(".", "\\.") in rendered
    # Every fragment's first line is in the rendered notes (the check below compares all of it).
    assert (ROOT / "CHANGELOG.md").read_text(encoding="utf-8") == rendered, (
        "CHANGELOG.md differs from antsibull-changelog's output: run `make changelog`"
    )
