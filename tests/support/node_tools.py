"""The standards' own JavaScript tools (package.json), run by small committed scripts in this
folder: each prints JSON on stdout, and a failure to run is a failed test, never a skip."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
SUPPORT = Path(__file__).parent


def run_script(script: str, *args: str, stdin: str | None = None) -> Any:
    """`node tests/support/<script> args…`, its stdout read as JSON."""
    node = shutil.which("node")
    assert node is not None, "node is not installed: the standards' checkers need it"
    assert (ROOT / "node_modules" / ".installed-stamp").exists(), "the checkers are not installed: run `make checkers`"
    done = subprocess.run([node, str(SUPPORT / script), *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, f"{script} failed:\n{done.stderr}"
    return json.loads(done.stdout)
