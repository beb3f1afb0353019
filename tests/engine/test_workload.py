"""Trace loading: every bad file or row is one line naming the line and the fix."""

import pytest

from boute.engine.errors import InputError
from boute.engine.workload import load_azure_trace

HEAD = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
ROWS = ["2023-11-16 18:15:46.0,100,10", "2023-11-16 18:15:47.0,200,20", "2023-11-16 18:15:49.0,50,5"]


def _trace(tmp_path, rows, head=HEAD, name="t.csv"):
    f = tmp_path / name
    f.write_bytes((head + "\n".join(rows) + "\n").encode("utf-8") if isinstance(rows, list) else rows)
    return f


def test_good_trace(tmp_path):
    w = load_azure_trace(_trace(tmp_path, ROWS))
    assert w.arrival == "trace" and w.max_model_len == 200 + 20
    s = w.stream(2.0, 50, seed=0)
    assert (s.prompt_tokens >= 1).all() and (s.output_tokens >= 1).all()


@pytest.mark.parametrize(
    "rows,match",
    [
        (
            [r.replace(",100,10", ",0,0") for r in ROWS] + [ROWS[1].replace("200,20", "0,0")],
            r"line 2 ContextTokens = 0 must be between 1 and",
        ),
        (["2023-11-16 18:15:46.0,0,0", "2023-11-16 18:15:47.0,0,0", "2023-11-16 18:15:49.0,0,0"], r"line 2 ContextTokens = 0"),
        ([ROWS[0], "2023-11-16 18:15:47.0,-200,20", ROWS[2]], r"line 3 ContextTokens = -200 must be between 1 and"),
        ([ROWS[0], "2023-11-16 18:15:47.0,200,-20", ROWS[2]], r"line 3 GeneratedTokens = -20"),
        ([ROWS[0], "2023-11-16 18:15:47.0,20000000,20", ROWS[2]], r"ContextTokens = 20000000 must be between 1 and 10,000,000"),
        ([ROWS[0], "2023-11-16 18:15:47.0,2.5,20", ROWS[2]], r"line 3 is not a timestamp and two whole token counts"),
        ([ROWS[0], "2023-11-16 18:15:47.0,1e3,20", ROWS[2]], r"line 3 is not a timestamp"),
        ([ROWS[0], "yesterday,200,20", ROWS[2]], r"line 3 is not a timestamp"),
        ([ROWS[0], "2023-11-16 18:15:47.0,200", ROWS[2]], r"line 3 is not a timestamp"),
        (ROWS[:2], r"has 2 rows; need at least 3"),
        (b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,100,10\xff\n", r"is not UTF-8 text \(byte 0xff at offset"),
        (b"a,b\n1,2\n", r"has columns \['a', 'b'\], not TIMESTAMP"),
        (b"", r"has columns None"),
    ],
)
def test_bad_traces_one_line(tmp_path, rows, match):
    with pytest.raises(InputError, match=match) as exc:
        load_azure_trace(_trace(tmp_path, rows))
    assert "\n" not in exc.value.one_line() and exc.value.message.startswith("workload.trace: ")
