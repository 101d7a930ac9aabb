"""Offline stand-in for the get-pip.py that ansible-test downloads to bootstrap its venvs.

ansible-test fetches get-pip.py from a host that is unreachable here, and runs it
as `python get_pip_<version>.py [pip options] pip==<version> [--no-setuptools]
[--no-wheel]`. This script gives the same result from what Python ships:
`ensurepip` installs the bundled pip, then pip installs the pinned version.
`make sanity` copies it into the cache path ansible-test looks in first.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main() -> int:
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True,
                   stdout=subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
