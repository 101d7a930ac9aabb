"""snowmcp.emulator: the Snowflake emulator (Python 3.11+).

This file must still parse on 3.9 (workstations may install the same wheel): it stops an
import on an older Python with one line instead of a SyntaxError from a submodule.
"""

import sys

if sys.version_info < (3, 11):
    raise SystemExit("snowmcp-emulator needs Python 3.11+ (this is Python {}.{})".format(*sys.version_info[:2]))
