"""No service imports another service; shared/ imports no service."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["partners", "travel", "grants", "notifications"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def imports_of(folder: Path) -> list[tuple[Path, str]]:
    return [(path, name) for path in sorted(folder.rglob("*.py")) for name in imported_modules(path)]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service):
    others = [s for s in SERVICES if s != service]
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, name in imports_of(ROOT / "services" / service)
        if any(name == f"services.{o}" or name.startswith(f"services.{o}.") or name.split(".")[0] == o for o in others)
    ]
    assert offending == []


def test_shared_imports_no_service():
    offending = [f"{p.relative_to(ROOT)} imports {n}" for p, n in imports_of(ROOT / "shared")
                 if n.split(".")[0] in ("services", "oia", *SERVICES)]
    assert offending == []


def test_the_check_catches_a_cross_service_import(tmp_path):
    bad = tmp_path / "handlers.py"
    bad.write_text("from services.travel.models import Trip\nimport services.grants\n")
    assert imported_modules(bad) == {"services.travel.models", "services.grants"}
