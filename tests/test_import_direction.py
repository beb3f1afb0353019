"""The dependency direction of ../shared/DESIGN.md, enforced on the source."""

import ast
import pathlib

from tests.conftest import ROOT

RULES = {
    # folder: allowed boute.* import prefixes
    "gpus": ("boute.engine.catalog", "boute.gpus"),
    "models": ("boute.engine.catalog", "boute.models"),
    "solvers": ("boute.engine.problem", "boute.solvers"),
    "engine": ("boute.engine",),
    "scripts": ("boute.engine",),
}
# user-facing scripts use the public API only (the top-level names of boute.engine);
# benchmarks and reproduction scripts measure components, so they may use engine modules,
# but never the plugin packages (gpus, models, solvers) directly
SCRIPT_PUBLIC = {"boute.engine"}
USER_SCRIPTS = {"solve.py", "predict.py"}


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield arg.value


def test_import_direction():
    bad = []
    for folder, allowed in RULES.items():
        for f in (ROOT / folder).rglob("*.py"):
            for mod in _imports(f):
                if not mod.startswith("boute"):
                    continue
                if folder == "scripts" and f.name in USER_SCRIPTS:
                    if mod not in SCRIPT_PUBLIC:
                        bad.append(f"{f.relative_to(ROOT)} imports {mod} (user scripts use the public API 'boute.engine')")
                elif not mod.startswith(allowed):
                    bad.append(f"{f.relative_to(ROOT)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_engine_never_imports_catalog_or_solver_plugins_directly():
    for f in (ROOT / "engine").rglob("*.py"):
        for mod in _imports(f):
            assert not mod.startswith(("boute.gpus", "boute.models", "boute.solvers")), f"{f.name} imports {mod}"


def test_only_one_module_imports_ax_and_one_pyomo():
    ax_users, pyomo_users = set(), set()
    for folder in ("engine", "solvers"):
        for f in (ROOT / folder).rglob("*.py"):
            mods = set(_imports(f))
            if any(m == "ax" or m.startswith("ax.") for m in mods):
                ax_users.add(f.name)
            if any(m.startswith("pyomo") for m in mods):
                pyomo_users.add(f.name)
    assert ax_users == {"optimizer.py"}
    assert pyomo_users == {"milp.py"}


ENGINE_LAYERS = {
    # docs/design.md "Layer map": a module imports only its own layer or below
    "errors": 0,
    **dict.fromkeys(("catalog", "plan", "problem", "engines", "workload", "steady", "optimizer"), 1),
    **dict.fromkeys(("plugins", "solvers", "scenario", "quality", "cluster", "checkpoints"), 2),
    **dict.fromkeys(("replica", "simulator", "perfdb", "routing", "infeasible"), 3),
    **dict.fromkeys(("verify", "assembly", "baselines", "planner", "artifacts", "cli_bench"), 4),
    **dict.fromkeys(("cli", "cli_deploy", "__init__"), 5),
}


def _engine_modules(path: pathlib.Path):
    """The boute.engine modules a file imports (``from boute.engine import x`` names x)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("boute.engine"):
            parts = node.module.split(".")
            if len(parts) > 2:
                yield parts[2]
            else:
                yield from (a.name for a in node.names if a.name in ENGINE_LAYERS)
        elif isinstance(node, ast.Import):
            yield from (a.name.split(".")[2] for a in node.names if a.name.startswith("boute.engine."))


def test_engine_layer_map():
    files = sorted((ROOT / "engine").glob("*.py"))
    unmapped = [f.stem for f in files if f.stem not in ENGINE_LAYERS]
    assert not unmapped, f"engine modules missing from the layer map (docs/design.md, ENGINE_LAYERS): {unmapped}"
    upward = [
        f"engine/{f.name} (layer {ENGINE_LAYERS[f.stem]}) imports {m} (layer {ENGINE_LAYERS[m]})"
        for f in files
        for m in _engine_modules(f)
        if m in ENGINE_LAYERS and ENGINE_LAYERS[m] > ENGINE_LAYERS[f.stem]
    ]
    assert not upward, "upward imports against docs/design.md's layer map:\n" + "\n".join(upward)
