"""The package boundaries the README's layout describes, pinned: what importing a package
brings in (each checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _imported(module: str) -> set[str]:
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('dsa110_contimg', "
        "'sqlalchemy', 'fastapi', 'dask')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize(
    "engine", ["dsa110_contimg.photometry.forced", "dsa110_contimg.photometry.adaptive"]
)
def test_the_measurement_engine_needs_neither_settings_nor_database(engine):
    imported = _imported(engine)
    assert "dsa110_contimg.config" not in imported
    assert not {
        m
        for m in imported
        if m.startswith(("dsa110_contimg.database", "sqlalchemy", "dsa110_contimg.variability"))
    }


def test_the_database_layer_does_not_import_the_science_packages():
    """(The settings it reads hold the engine's `FittingOptions`, a plain data model.)"""
    imported = _imported("dsa110_contimg.database.products") - {
        "dsa110_contimg.photometry",
        "dsa110_contimg.photometry.options",
    }
    assert not {
        m
        for m in imported
        if m.startswith(
            (
                "dsa110_contimg.catalog",
                "dsa110_contimg.photometry",
                "dsa110_contimg.variability",
                "dsa110_contimg.jobs",
            )
        )
    }


def _package_imports() -> dict[str, set[str]]:
    """For each first-level package (or module) of ``dsa110_contimg``, the others it imports
    anywhere in its source, lazily inside functions too (imports only for type checking aside).
    """
    import ast
    from pathlib import Path

    import dsa110_contimg

    root = Path(dsa110_contimg.__file__).parent
    edges: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        if "migrations" in parts:
            continue
        package = parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text())
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for stmt in block.body
            for node in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top, _, rest = name.partition(".")
                target = rest.split(".")[0]
                if top == "dsa110_contimg" and target and target != package:
                    edges.setdefault(package, set()).add(target)
    return edges


#: Known mutual imports, each with the reason it remains.
ALLOWED_MUTUAL = {
    # The application factory mounts the web pages; the pages use the API's dependencies.
    frozenset({"api", "web"}),
}


def test_no_two_packages_import_each_other():
    edges = _package_imports()
    assert "conversion" in edges and "imaging" in edges  # the walk saw the packages
    mutual = {
        frozenset({a, b})
        for a, targets in edges.items()
        for b in targets
        if a in edges.get(b, set())
    }
    assert mutual <= ALLOWED_MUTUAL, sorted(sorted(pair) for pair in mutual - ALLOWED_MUTUAL)
