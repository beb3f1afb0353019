"""Quality files and deployed thresholds: bad files are one-line errors; deployed
thresholds never fall below the quality the plan reports."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boute.engine.errors import InputError
from boute.engine.quality import QualityTable, calibrated_gsm8k, load_quality_file
from boute.engine.routing import make_router

M = ("Llama-3.1-8B", "Llama-3.1-70B")


def _csv(tmp_path, lines, name="q.csv"):
    f = tmp_path / name
    f.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
    return f


def test_good_files(tmp_path):
    t = load_quality_file(_csv(tmp_path, ["Llama-3.1-8B,Llama-3.1-70B,score", "1,1,0.2", "0,1,0.9", "1,0,0.1"]))
    assert t.unit == "accuracy %" and t.quality.max() == 100 and t.scores.tolist() == [0.2, 0.9, 0.1]
    j = tmp_path / "q.jsonl"
    j.write_text("\n".join(json.dumps({M[0]: a, M[1]: b}) for a, b in [(7, 9), (5, 8)]) + "\n\n")
    assert load_quality_file(j).unit == "judge score (1-10)"


@pytest.mark.parametrize(
    "lines,name,match",
    [
        (["Llama-3.1-8B,Llama-3.1-70B", "1e308,1", "0,1"], "q.csv", r"row 1 column 'Llama-3.1-8B' = '1e308' is not a finite number"),
        (["Llama-3.1-8B,Llama-3.1-70B", "nan,1", "0,1"], "q.csv", r"row 1 column 'Llama-3.1-8B' = 'nan' is not a finite number"),
        (["Llama-3.1-8B,Llama-3.1-70B", "1,inf", "0,1"], "q.csv", r"column 'Llama-3.1-70B' = 'inf'"),
        (["Llama-3.1-8B,Llama-3.1-70B,score", "1,1,nan", "0,1,0.5"], "q.csv", r"row 1 column 'score' = 'nan' is not a finite number"),
        (["Llama-3.1-8B,Llama-3.1-70B,score", "1,1,1e300", "0,1,0.5"], "q.csv", r"column 'score' = '1e300'"),
        (["Llama-3.1-8B,Llama-3.1-70B", "1", "0,1"], "q.csv", r"row 1 column 'Llama-3.1-70B' = None"),
        (["Llama-3.1-8B,Llama-3.1-70B", "yes,1", "0,1"], "q.csv", r"= 'yes' is not a finite number"),
        (b"Llama-3.1-8B,Llama-3.1-70B\n1,1\n\xfe\xff,1\n", "q.csv", r"q.csv is not UTF-8 text \(byte 0xfe at offset"),
        (["Llama-3.1-8B,Llama-3.1-70B"], "q.csv", r"has no rows"),
        (['{"Llama-3.1-8B": 1, "Llama-3.1-70B": 0}', "{not json"], "q.jsonl", r"q.jsonl line 2 is not valid JSON"),
        (["[1, 0]", "[0, 1]"], "q.jsonl", r"q.jsonl line 1 is a list, not a JSON object"),
        (['"text"'], "q.jsonl", r"line 1 is a str, not a JSON object"),
        (['{"Llama-3.1-8B": 1, "Llama-3.1-70B": 0}', '{"Llama-3.1-8B": 1}'], "q.jsonl", r"has no column 'Llama-3.1-70B' in some row"),
        (
            ['{"Llama-3.1-8B": [1], "Llama-3.1-70B": 0}', '{"Llama-3.1-8B": 1, "Llama-3.1-70B": 0}'],
            "q.jsonl",
            r"= \[1\] is not a finite number",
        ),
        (
            ['{"Llama-3.1-8B": 1e999, "Llama-3.1-70B": 0}', '{"Llama-3.1-8B": 1, "Llama-3.1-70B": 0}'],
            "q.jsonl",
            r"= inf is not a finite number",
        ),
        (b"\xff\xfe{}\n", "q.jsonl", r"is not UTF-8 text"),
    ],
)
def test_bad_quality_files_one_line(tmp_path, lines, name, match):
    with pytest.raises(InputError, match=match) as exc:
        load_quality_file(_csv(tmp_path, lines, name))
    assert "\n" not in exc.value.one_line() and exc.value.message.startswith("quality.data: ")


def test_quality_table_refuses_non_finite_values():
    with pytest.raises(InputError, match="every quality figure must be a finite number"):
        QualityTable(models=M, quality=np.array([[1.0, np.nan], [0.0, 1.0]]), unit="accuracy %")
    with pytest.raises(InputError, match="every router score must be a finite number"):
        QualityTable(models=M, quality=np.ones((2, 2)), unit="accuracy %", scores=np.array([0.0, np.inf]))


TABLE = calibrated_gsm8k(M, (84.5, 95.1), n=500, seed=3)
ROUTERS = {kind: make_router(TABLE, kind, seed=1) for kind in ("oracle", "random", "noisy")}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(ROUTERS)), st.floats(0.0, 1.0))
def test_deployed_thresholds_reach_the_reported_quality(kind, strong):
    """Rounded toward the safe side: routing by the thresholds, as deployed, gives at
    least the quality the plan reports for its shares (so it meets quality_min)."""
    r = ROUTERS[kind]
    shares = (1.0 - strong, strong)
    t = r.thresholds(shares)
    assert r.quality_at_thresholds(t) >= r.quality(shares) - 1e-9
    # and the deployed split differs from the planned one by less than one query
    deployed_weak = np.searchsorted(r.sorted_scores, t[0], side="left") / r.n
    assert abs(deployed_weak - shares[0]) <= 1.0 / r.n + 1e-12


def test_plan_thresholds_meet_quality_min(small_planner):
    p = small_planner.plan(strategy="random", baselines=False, verify=False)
    assert small_planner.router.quality_at_thresholds(p.thresholds) >= p.quality_min
