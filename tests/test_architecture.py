"""Dependencies flow one way: webapp → core ← actors, core ← scheduler.py; inside core, packages in layers."""

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


def test_scheduler_imports_only_core():
    # It sends through core's dispatcher with a broker of its own ("scheduler" role), not the workers' one.
    assert not imports_of(ROOT / "scheduler.py") & {"flask", "webapp", "werkzeug", "actors", "dramatiq", "pika"}


def core_imports_of(path: Path) -> set[str]:
    """Return the ``core`` packages and modules *path* imports (``core.storage.db`` counts as ``storage``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "core":
                names.update([parts[1]] if len(parts) > 1 else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("core."))
    return names


FOUNDATION = {"config", "errors", "languages", "logs"}
#: What each package of core may import from core besides itself: the layers of its docstring.
ALLOWED = {
    "config": {"errors", "languages"},
    "storage": {"config", "errors"},
    "profanity": set(),
    "comments": FOUNDATION | {"storage", "ratelimit"},
    # Right above comments: moderation writes its outbox rows; comments' delete goes through notifications.events.
    "notifications": FOUNDATION | {"storage", "comments"},
    # The second stage's signals: called by moderation's check and classifier.
    "signals": FOUNDATION | {"storage", "comments"},
    "moderation": FOUNDATION | {"storage", "ratelimit", "comments", "notifications", "profanity", "signals"},
    "translation": FOUNDATION | {"storage", "comments", "moderation", "notifications", "profanity", "signals"},
    "messaging": FOUNDATION | {"storage"},
    "scheduling": FOUNDATION | {"storage", "ratelimit", "comments", "moderation", "notifications", "profanity",
                                "translation", "signals"},
}


def test_core_packages_exist_and_say_what_they_may_import():
    packages = {p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)
    for name in packages:
        doc = ast.get_docstring(ast.parse((ROOT / "core" / name / "__init__.py").read_text())) or ""
        assert "import" in doc, f"core/{name}/__init__.py does not say what it may import"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_core_packages_import_only_the_layers_below(package):
    for path in sorted((ROOT / "core" / package).rglob("*.py")):
        extra = core_imports_of(path) - ALLOWED[package] - {package}
        assert not extra, f"{path.relative_to(ROOT)} imports core.{extra}"


def test_only_messaging_talks_to_the_broker():
    for path in sorted((ROOT / "core").rglob("*.py")):
        if "messaging" not in path.parts:
            assert not imports_of(path) & {"dramatiq", "pika"}, f"{path.relative_to(ROOT)} talks to the broker"
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        assert "pika" not in imports_of(path), f"{path.relative_to(ROOT)} imports pika"


def test_the_provider_layer_of_translation_needs_no_database():
    for name in ("adapter.py", "provider_http.py"):
        imported = core_imports_of(ROOT / "core" / "translation" / name)
        assert not imported & {"storage", "messaging", "moderation", "comments"}, f"{name} imports {imported}"


def test_actor_modules_do_not_import_each_other():
    # Actors send follow-up work through the dispatcher by name; importing another actor module made a cycle.
    actor_modules = {p.stem for p in (ROOT / "actors").glob("*.py")} - {"__init__", "batches", "broker", "envelope",
                                                                          "middleware"}
    for name in actor_modules:
        imported = {n.module.split(".")[1] for n in ast.walk(ast.parse((ROOT / "actors" / f"{name}.py").read_text()))
                    if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("actors.")}
        assert not imported & actor_modules, f"actors/{name}.py imports actors.{imported & actor_modules}"


def test_product_modules_stay_small():
    for package in ("core", "actors", "webapp"):
        for path in (ROOT / package).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            assert lines <= 300, f"{path.relative_to(ROOT)} has {lines} lines"
    assert len((ROOT / "scheduler.py").read_text().splitlines()) <= 300


def test_no_print_calls_in_application_code():
    for package in ("core", "actors", "webapp"):
        for path in (ROOT / package).rglob("*.py"):
            calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Name) and n.func.id == "print"]
            assert not calls, f"print() in {path}"


def test_blueprints_build_no_sql_and_choose_no_dialect():
    # Queries live in core, named after what they do; webapp may only catch SQLAlchemy's errors and type sessions.
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        sqlalchemy = {m for m in modules if m.split(".")[0] == "sqlalchemy"} - {"sqlalchemy.exc", "sqlalchemy.orm"}
        assert not sqlalchemy, f"{path.relative_to(ROOT)} imports {sqlalchemy}"
        assert "is_postgresql" not in path.read_text() and "dialect" not in path.read_text(), path
