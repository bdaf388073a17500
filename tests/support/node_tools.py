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


def _installed() -> str:
    node = shutil.which("node")
    assert node is not None, "node is not installed: the standards' checkers need it"
    assert (ROOT / "node_modules" / ".installed-stamp").exists(), "the checkers are not installed: run `make checkers`"
    return node


def run_script(script: str, *args: str, stdin: str | None = None) -> Any:
    """`node tests/support/<script> args…`, its stdout read as JSON."""
    done = subprocess.run([_installed(), str(SUPPORT / script), *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, f"{script} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def type_check(folder: Path, source: str) -> None:
    """TypeScript's compiler (strict, no output) over `source`, written to `folder` as index.ts;
    its imports resolve to the packages in node_modules."""
    (folder / "index.ts").write_text(source)
    (folder / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {"strict": True, "noEmit": True, "module": "esnext", "moduleResolution": "bundler",
                            "types": [], "typeRoots": [], "paths": {"*": [str(ROOT / "node_modules" / "*")]}},
        "files": ["index.ts"]}))
    done = subprocess.run([_installed(), str(ROOT / "node_modules" / "typescript" / "bin" / "tsc"), "-p",
                           str(folder / "tsconfig.json")], capture_output=True, text=True, cwd=folder, timeout=120)
    assert done.returncode == 0, f"tsc found errors:\n{done.stdout}{done.stderr}"
