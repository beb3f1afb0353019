#!/usr/bin/env python3
"""Derive the routing data boute ships (engine/data/) from RouteLLM's published files.

Reads ../shared/data/routellm/ (lm-sys/RouteLLM at 0b64fdaf) and writes only derived facts,
no prompt or response text:

* routellm_gsm8k.csv: one row per GSM8K test question in RouteLLM's file order
  (``question``: 0-based row index; ``prompt_sha256``: first 16 hex digits of the SHA-256 of
  the question text, so a row can be matched to GSM8K without shipping the text), then one
  0/1 correctness column per model.
* routellm_mt_bench.csv: ``question_id, turn, model, score`` (GPT-4 judge, 1-10).

Usage: python scripts/make_package_data.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "engine" / "data"


def gsm8k(src: pathlib.Path, out: pathlib.Path) -> int:
    with src.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    models = [c for c in rows[0] if c != "prompt" and not c.endswith("_response")]
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["question", "prompt_sha256", *models])
        for i, r in enumerate(rows):
            digest = hashlib.sha256(r["prompt"].encode("utf-8")).hexdigest()[:16]
            w.writerow([i, digest, *(1 if r[m] == "True" else 0 for m in models)])
    return len(rows)


def mt_bench(src: pathlib.Path, out: pathlib.Path) -> int:
    recs = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
    recs.sort(key=lambda r: (r["question_id"], r["turn"], r["model"]))
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["question_id", "turn", "model", "score"])
        for r in recs:
            w.writerow([r["question_id"], r["turn"], r["model"], f"{float(r['score']):g}"])
    return len(recs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"), help="the reference data folder")
    args = ap.parse_args()
    src = pathlib.Path(args.shared) / "routellm"
    OUT.mkdir(exist_ok=True)
    n1 = gsm8k(src / "gsm8k_responses.csv", OUT / "routellm_gsm8k.csv")
    n2 = mt_bench(src / "mt_bench_judgements.jsonl", OUT / "routellm_mt_bench.csv")
    print(f"wrote {OUT / 'routellm_gsm8k.csv'} ({n1} questions), {OUT / 'routellm_mt_bench.csv'} ({n2} judgements)")


if __name__ == "__main__":
    main()
