#!/usr/bin/env python3
"""Install cost of the ``artifacts-test`` extra (the real tools the artifact tests load
deploy files with): for each package, and for all together, a fresh virtual environment,
``pip install --no-cache-dir`` (wheels downloaded, nothing cached), wall time and the size
the install adds. Writes results/test_extras.json.

Usage: python scripts/bench_test_extras.py   (a few minutes; needs the package index)
"""

from __future__ import annotations

import json
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _size_mb(path: pathlib.Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def measure(reqs: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        venv = pathlib.Path(tmp) / "v"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = venv / "bin" / "python"
        base = _size_mb(venv)
        t0 = time.perf_counter()
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--no-cache-dir", *reqs],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        secs = time.perf_counter() - t0
        n = len(
            subprocess.run(
                [str(py), "-m", "pip", "list", "--format=freeze"], check=True, capture_output=True, text=True
            ).stdout.splitlines()
        )
        return {"requirements": reqs, "install_s": round(secs, 1), "added_mb": round(_size_mb(venv) - base, 1), "packages": n}


def main() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["artifacts-test"]
    rows = [measure([r]) for r in extra]
    rows.append(measure(list(extra)))
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, "
        f"{shutil.os.cpu_count()} cores (shared with other jobs while measured: wall times are upper bounds)",
        "runs": rows,
    }
    path = ROOT / "results" / "test_extras.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    for r in rows:
        print(f"{' + '.join(r['requirements'])}: {r['install_s']} s, {r['added_mb']} MB, {r['packages']} packages")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
