#!/usr/bin/env python3
"""Write engine/plan.schema.json from the Plan types (tests/engine/test_plan.py keeps them equal)."""

import json
import pathlib

from boute.engine.plan import json_schema

if __name__ == "__main__":
    out = pathlib.Path(__file__).resolve().parents[1] / "engine" / "plan.schema.json"
    out.write_text(json.dumps(json_schema(), indent=2) + "\n")
    print(f"wrote {out}")
