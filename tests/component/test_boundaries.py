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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_at_load(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports when it is loaded: top-level imports only (one inside a
    function or under TYPE_CHECKING runs later, or never), `from a import b` counting a.b if b is a module."""
    found = set()
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {m for m in (node.module, *(f"{node.module}.{a.name}" for a in node.names)) if m in known}
    return found


def test_no_module_imports_itself_round_a_circle():
    paths = [p for folder in ("shared", "services", "oia") for p in (ROOT / folder).rglob("*.py")
             if "migrations" not in p.parts]
    known = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports_at_load(p, known) - {_module_name(p)} for p in paths}
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                cycles.append(" → ".join(trail[trail.index(imported):] + [imported]))
            elif imported not in state:
                visit(imported, [*trail, imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_board_imports_no_service_and_owns_no_tables():
    """The board reaches the services over their public APIs only: it imports none of them, nor
    anything that would give it a database of its own."""
    offending = [f"{p.relative_to(ROOT)} imports {n}" for p, n in imports_of(ROOT / "board")
                 if n.split(".")[0] in ("services", "oia", "sqlmodel", "sqlalchemy", *SERVICES)
                 or n in ("shared.db", "shared.uow", "shared.tables", "shared.runtime")]
    assert offending == []
