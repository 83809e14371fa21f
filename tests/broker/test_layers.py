"""Services stand below the web and the command line: they import neither."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted((ROOT / "broker" / "services").rglob("*.py"))
# The template layer (Jinja filters) and the command line sit above the services.
ABOVE_SERVICES = ("broker.templating", "broker.cli", "jobs")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_import_no_template_filter_and_no_command(path):
    above = sorted(
        name
        for name in _imports(path)
        if any(name == top or name.startswith(f"{top}.") for top in ABOVE_SERVICES)
    )
    assert above == [], f"{path.relative_to(ROOT)} imports {above}"


def test_schools_are_loaded_by_a_service():
    from broker.services.schools import load_schools

    assert load_schools.__module__ == "broker.services.schools"
