"""Every public definition (module, class, function, method, property) of the audited
modules (every module of engine, solvers, models and gpus) has a docstring (STYLE.md:
Google-style docstrings on public definitions).

A name is public when it and its enclosing class do not start with ``_``; nested functions
are implementation detail. ``python -m tests.test_docstrings`` prints every gap.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

from tests.conftest import ROOT

PACKAGES = ("engine", "solvers", "models", "gpus")
AUDITED = tuple(sorted(str(f.relative_to(ROOT)) for pkg in PACKAGES for f in (ROOT / pkg).glob("*.py")))
"""Every module of the four packages (all audited as of 2026-11-29)."""


def undocumented(path: pathlib.Path) -> list[str]:
    """The public definitions of ``path`` without a docstring (``<module>`` for the module)."""
    tree = ast.parse(path.read_text())
    out = [] if ast.get_docstring(tree) else ["<module>"]

    def walk(body, prefix: str) -> None:
        for node in body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name.startswith("_"):
                continue
            if any(isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in node.decorator_list):
                continue  # the property's getter carries the docstring
            if not ast.get_docstring(node):
                out.append(prefix + node.name)
            if isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}.")

    walk(tree.body, "")
    return out


@pytest.mark.parametrize("rel", AUDITED)
def test_audited_module_documents_every_public_definition(rel):
    assert undocumented(ROOT / rel) == [], f"{rel}: public definitions without a docstring"


def test_the_checker_finds_a_missing_docstring(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        '"""Doc."""\n\ndef f():\n    """Doc."""\n\nclass C:\n    def m(self):\n        pass\n\n    def _p(self):\n        pass\n\ndef _h():\n    pass\n'
    )
    assert undocumented(f) == ["C", "C.m"]


def test_audited_list_names_existing_files():
    assert all((ROOT / rel).is_file() for rel in AUDITED)


if __name__ == "__main__":
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).glob("*.py")):
            gaps = undocumented(f)
            if gaps:
                print(f"{f.relative_to(ROOT)}: {len(gaps)}: {', '.join(gaps)}")
