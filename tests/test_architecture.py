"""Dependencies flow one way: webapp → core ← actors ← scheduler.py."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


def loaded_after(statement: str, env: dict[str, str] | None = None) -> set[str]:
    """Return the top-level modules loaded by running *statement* in a fresh interpreter."""
    code = f"{statement}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "BROKER_URL": "stub://", "DATABASE_URL": "sqlite://", **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_actors_never_import_flask_or_webapp():
    modules = loaded_after("import actors")
    assert "flask" not in modules and "webapp" not in modules and "werkzeug" not in modules


def test_web_process_never_imports_profanity_or_translation_libraries():
    modules = loaded_after("from webapp import create_app\napp = create_app()\napp.test_client().get('/healthz')")
    assert "better_profanity" not in modules and "deep_translator" not in modules
    assert "actors" not in modules and "ahocorasick" not in modules


def test_core_imports_neither_flask_nor_actors():
    modules = loaded_after("import core.comments, core.translation.workflow, core.messaging.dispatch, "
                           "core.profanity.engine, core.translation.adapter")
    assert not {"flask", "webapp", "actors", "better_profanity", "deep_translator"} & modules


def imports_of(path: Path) -> set[str]:
    """Return the top-level package names *path* imports anywhere (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("core", {"flask", "werkzeug", "webapp", "actors", "scheduler"}),
        ("actors", {"flask", "werkzeug", "webapp", "scheduler"}),
        ("webapp", {"actors", "scheduler", "better_profanity", "deep_translator"}),
    ],
)
def test_source_imports_respect_the_layers(package, forbidden):
    for path in sorted((ROOT / package).rglob("*.py")):
        assert not imports_of(path) & forbidden, f"{path.relative_to(ROOT)} imports {imports_of(path) & forbidden}"


def test_scheduler_imports_only_actors_and_core():
    assert not imports_of(ROOT / "scheduler.py") & {"flask", "webapp", "werkzeug"}


def test_no_print_calls_in_application_code():
    for package in ("core", "actors", "webapp"):
        for path in (ROOT / package).rglob("*.py"):
            calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Name) and n.func.id == "print"]
            assert not calls, f"print() in {path}"
