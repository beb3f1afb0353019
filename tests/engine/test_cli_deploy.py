"""``boute deploy`` regenerates deploy files from plan.json alone; ``boute sweep`` writes a
cost/latency-versus-load curve; ``--version``; help shows choices and defaults."""

import json

import pytest
import yaml

from boute.engine.cli import main
from tests.conftest import SMALL
from tests.engine.plan_factory import plan_4090_x13


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def plan_file(tmp_path):
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(plan_4090_x13().to_dict()))
    return f


def test_deploy_every_target_from_plan_json(capsys, tmp_path, plan_file):
    rc, out, err = run(capsys, "deploy", str(plan_file))
    assert rc == 0, err
    for t in ("shell", "skypilot", "k8s", "litellm"):
        assert f"{t}: wrote" in out and (tmp_path / "deploy" / t).is_dir()
    assert (tmp_path / "deploy" / "shell" / "launch-rtx-4090-1.sh").read_text().count("vllm serve") == 5
    rc, out, _ = run(capsys, "deploy", str(plan_file), "--target", "skypilot", "--out", str(tmp_path / "sky"))
    assert rc == 0 and f"under {tmp_path / 'sky'}/" in out
    (doc,) = [yaml.safe_load(f.read_text()) for f in (tmp_path / "sky").glob("*.yaml")]
    assert doc["resources"]["accelerators"] == {"RTX4090": 1} and doc["service"]["replica_policy"]["min_replicas"] == 13


@pytest.mark.parametrize(
    "setup,argv,match",
    [
        (None, ["deploy", "/nonexistent/plan.json"], "plan: '/nonexistent/plan.json' not found"),
        ("{not json", ["deploy", "{f}"], "is not valid JSON"),
        ('{"schema_version": "1.0"}', ["deploy", "{f}"], "schema_version '1.0' is not '2.0'"),
        (None, ["deploy", "{plan}", "--target", "helm"], "invalid choice: 'helm'"),
        (None, ["sweep", "--values", "2,x"], "--values: 'x' is not a number"),
        (None, ["sweep", "--values", "2,-1"], "--values: -1 must be a positive number"),
        (None, ["sweep", "--values", "2", "--over", "gpus"], "invalid choice: 'gpus'"),
        (None, ["sweep", "--values", "2", "--strategy", "anneal"], "is not a strategy"),
    ],
)
def test_deploy_and_sweep_errors_one_line_exit_2(capsys, tmp_path, plan_file, setup, argv, match):
    f = tmp_path / "bad.json"
    if setup is not None:
        f.write_text(setup)
    argv = [a.replace("{f}", str(f)).replace("{plan}", str(plan_file)) for a in argv]
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: ") and match in err, err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    out, _ = capsys.readouterr()
    assert e.value.code == 0 and out.startswith("boute ")


def test_help_shows_choices_and_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["solve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "{latency,cost}" in out and "{auto,exact,bo,random,grid}" in out and "(default: auto)" in out and "(default: out)" in out


@pytest.mark.slow
def test_sweep_over_rate(capsys, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(SMALL, max_trials=3, stall_trials=2)))
    rc, out, err = run(
        capsys,
        "sweep",
        "--scenario",
        str(f),
        "--over",
        "rate",
        "--values",
        "1,3,400",
        "--strategy",
        "random",
        "--out",
        str(tmp_path / "sw"),
    )
    assert rc == 0, err
    rows = json.loads((tmp_path / "sw" / "sweep.json").read_text())["points"]
    assert [r["rate"] for r in rows] == [1.0, 3.0, 400.0]
    assert rows[0]["feasible"] and rows[1]["feasible"] and not rows[2]["feasible"] and rows[2]["reason"]
    assert (tmp_path / "sw" / "sweep.png").stat().st_size > 1000 and (tmp_path / "sw" / "sweep.csv").read_text().count("\n") == 4
    assert "infeasible" in out
