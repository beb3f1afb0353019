"""Routing data ships inside the package (derived, no text), equals RouteLLM's originals,
and nothing in the package reads ../shared at run time."""

import csv

import numpy as np

from boute.engine.quality import load_routellm_gsm8k, load_routellm_mt_bench
from tests.conftest import ROOT, need_shared

DATA = ROOT / "engine" / "data"


def test_package_data_equals_routellm_originals():
    for loader, name in ((load_routellm_gsm8k, "gsm8k_responses.csv"), (load_routellm_mt_bench, "mt_bench_judgements.jsonl")):
        original = loader(need_shared("routellm", name))
        shipped = loader()
        assert shipped.models == original.models and shipped.unit == original.unit
        assert np.array_equal(shipped.quality, original.quality)
        assert "0b64fdaf" in shipped.source


def test_package_data_has_no_text_and_names_its_licence():
    for f in DATA.glob("*.csv"):
        for row in csv.DictReader(f.open()):
            for k, v in row.items():
                assert len(v) <= 40 and " " not in v, (f.name, k)  # ids, hashes, labels, numbers only
    readme = (DATA / "README.md").read_text()
    assert "Apache-2.0" in readme and "MIT" in readme and "lm-sys/RouteLLM" in readme and "0b64fdaf" in readme


def test_nothing_in_the_package_reads_shared():
    for folder in ("engine", "gpus", "models", "solvers"):
        for f in (ROOT / folder).rglob("*.py"):
            text = f.read_text()
            assert '"shared"' not in text and "'shared'" not in text and "../shared" not in text.replace("# ", ""), f
