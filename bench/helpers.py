"""What the benchmarks share: the checkout's root and the statistics they print.

The processes they start (emulator, redis-server, token service, sign-in) come from the
`harness` package, as in the tests. Run a benchmark from the repository root as a module:
`.venv/bin/python -m bench.<name>` (what `make bench` does).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def p95(values: list[float]) -> float:
    """The 95th percentile by nearest rank (no interpolation between samples)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
