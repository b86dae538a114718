"""Make scripts/devdb.py importable as ``devdb`` for the tooling tests."""

from __future__ import annotations

import sys
from pathlib import Path

# scripts/ is a folder of executables, not a package: expose it explicitly.
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))
