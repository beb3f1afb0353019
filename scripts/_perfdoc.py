"""Helper for the benchmark scripts: replace one marked section of docs/performance.md."""

from __future__ import annotations

import pathlib

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "performance.md"
HEADER = """# Performance

Every figure here is written by a benchmark script in `scripts/` (raw numbers in `results/`)
on this project's reference machine: 2 CPU cores, 24 GiB, no GPU, Python 3.11. Rerun the
script to refresh its section. Tests never assert wall-clock time.
"""


def update_section(name: str, body: str) -> None:
    text = DOC.read_text() if DOC.exists() else HEADER
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text:
        before = text.split(start)[0]
        after = text.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
