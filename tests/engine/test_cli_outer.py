"""The CLI's outer-loop choices: one model needs no routing, every strategy runs, the
default (auto) plans exactly and prints its wall time; failures are one line."""

import pytest

from boute.engine.cli import main


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("strategy", ["auto", "grid", "bo", "random", "exact"])
def test_one_model_every_strategy(capsys, tmp_path, strategy):
    rc, out, err = run(
        capsys,
        "solve",
        "--models",
        "Llama-3.1-8B",
        "--quality-min",
        "0",
        "--gpus",
        "RTX4090=8",
        "--budget",
        "10",
        "--strategy",
        strategy,
        "--no-baselines",
        "--out",
        str(tmp_path),
    )
    assert rc == 0, err
    assert "internal error" not in err
    assert "planned and verified in" in out
    assert "nothing to route" in out or "nothing to search" in out


def test_default_strategy_is_exact_for_two_models(capsys, tmp_path):
    rc, out, err = run(capsys, "solve", "--gpus", "H100=8,RTX4090=8", "--rate", "3", "--no-baselines", "--out", str(tmp_path))
    assert rc == 0, err
    assert "(exact, best at trial" in out and "exact: 1 quality interval(s) searched" in out


def test_exact_for_three_models_is_one_line(capsys, tmp_path):
    rc, out, err = run(
        capsys,
        "solve",
        "--models",
        "Qwen2.5-7B,Llama-3.1-8B,Llama-3.1-70B",
        "--gpus",
        "RTX4090=8",
        "--strategy",
        "exact",
        "--quality-min",
        "0",
        "--out",
        str(tmp_path),
    )
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "strategy: 'exact' searches at most one routing dimension; 3 models have 2" in err
