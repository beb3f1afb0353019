"""`boute predict --bench` and `boute calibrate --from-bench` on synthetic files in vLLM's format."""

import importlib.util
import json
import re

import numpy as np
import pytest

from boute.engine.cli import main
from boute.engine.cli_bench import BenchRun, predict_bench

# The keys `vllm bench serve --save-result` writes (vllm/benchmarks/serve.py @ 009e6d4a:
# main() adds date/backend/model_id/...; benchmark() the metrics; percentiles default 99).
VLLM_KEYS = (
    "date",
    "backend",
    "model_id",
    "tokenizer_id",
    "num_prompts",
    "request_rate",
    "burstiness",
    "max_concurrency",
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "request_goodput",
    "output_throughput",
    "total_token_throughput",
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "generated_texts",
    "errors",
    "mean_ttft_ms",
    "median_ttft_ms",
    "std_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "std_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "median_itl_ms",
    "std_itl_ms",
    "p99_itl_ms",
)


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _vllm_file(path, catalog, *, gpu="RTX-4090", slow=1.25, n=40, rate="inf", mc=None, metadata=True):
    """A synthetic `--save-result` file: boute's own prediction with every latency times
    ``slow`` (and throughputs divided by it), written with exactly vLLM's keys."""
    rng = np.random.default_rng(3)
    ins, outs = rng.integers(200, 600, n).tolist(), rng.integers(20, 80, n).tolist()
    pred = predict_bench(
        BenchRun(
            name="x",
            model="Llama-3.1-8B",
            gpu=gpu,
            tp=1,
            weight_dtype="bf16",
            engine="vllm-v1",
            prompt_tokens=tuple(ins),
            output_tokens=tuple(outs),
            max_concurrency=mc,
            request_rate=float(rate),
        ),
        catalog,
    )
    doc = {k: None for k in VLLM_KEYS}
    doc.update(
        {
            "date": "20261128-120000",
            "backend": "vllm",
            "model_id": "meta-llama/Llama-3.1-8B-Instruct",
            "tokenizer_id": "meta-llama/Llama-3.1-8B-Instruct",
            "num_prompts": n,
            "request_rate": rate,
            "burstiness": 1.0,
            "max_concurrency": mc,
            "input_lens": ins,
            "output_lens": outs,
            "ttfts": [0.1] * n,
            "itls": [[0.01]] * n,
            "generated_texts": [""] * n,
            "errors": [""] * n,
        }
    )
    for k in VLLM_KEYS:
        if k.endswith("_ms") and k in pred:
            doc[k] = pred[k] * slow
    for k in ("request_throughput", "output_throughput", "total_token_throughput"):
        doc[k] = pred[k] / slow
    doc["duration"] = pred["duration"] * slow
    if metadata:
        doc.update({"gpu": gpu, "tp": 1, "dtype": "bf16", "engine": "vllm-v1"})  # `--metadata gpu=... tp=...`
    path.write_text(json.dumps(doc))
    return path


def test_predict_bench_writes_vllms_keys(capsys, tmp_path):
    out = tmp_path / "pred.json"
    rc, txt, err = run(
        capsys,
        "predict",
        "--model",
        "Llama-3.1-8B",
        "--gpu",
        "H100",
        "--bench",
        "--num-prompts",
        "200",
        "--input-len",
        "800",
        "--output-len",
        "100",
        "--range-ratio",
        "0.5",
        "--save-result",
        str(out),
    )
    assert rc == 0, err
    assert "median_ttft_ms" in txt and "engine vllm-v1" in txt
    doc = json.loads(out.read_text())
    for k in (
        "duration",
        "completed",
        "request_throughput",
        "output_throughput",
        "total_token_throughput",
        "mean_ttft_ms",
        "median_ttft_ms",
        "p99_ttft_ms",
        "mean_tpot_ms",
        "median_tpot_ms",
        "p99_tpot_ms",
        "mean_itl_ms",
        "median_itl_ms",
        "p99_itl_ms",
        "input_lens",
        "output_lens",
    ):
        assert k in doc, k
    assert doc["completed"] == 200 and len(doc["input_lens"]) == 200
    # All at once: the median request waits behind others, so TTFT exceeds one prompt's prefill.
    assert doc["median_ttft_ms"] > 50
    # Mean ITL equals total decode time over total gaps: the token-weighted TPOT.
    lat, ttft, o = (np.array(doc[k], dtype=float) for k in ("latencies", "ttfts", "output_lens"))
    assert doc["mean_itl_ms"] == pytest.approx(np.sum(lat - ttft) / np.sum(o - 1) * 1e3, rel=1e-6)


def test_predict_bench_rate_and_concurrency_lower_ttft(capsys, tmp_path):
    res = {}
    for extra in ((), ("--max-concurrency", "8"), ("--request-rate", "2")):
        rc, txt, err = run(
            capsys,
            "predict",
            "--model",
            "Llama-3.1-8B",
            "--gpu",
            "H100",
            "--bench",
            "--num-prompts",
            "100",
            "--input-len",
            "500",
            "--output-len",
            "50",
            "--json",
            *extra,
        )
        assert rc == 0, err
        res[extra[:1]] = json.loads(txt)
    assert res[("--max-concurrency",)]["mean_ttft_ms"] < res[()]["mean_ttft_ms"]
    assert res[("--request-rate",)]["mean_ttft_ms"] < res[()]["mean_ttft_ms"]
    assert res[("--request-rate",)]["request_throughput"] == pytest.approx(2.0, rel=0.3)


def test_predict_bench_lengths_from_a_dataset_file(capsys, tmp_path, catalog):
    f = _vllm_file(tmp_path / "run.json", catalog, gpu="H100-SXM", n=30)
    rc, txt, err = run(
        capsys, "predict", "--model", "Llama-3.1-8B", "--gpu", "H100", "--bench", "--num-prompts", "30", "--dataset", str(f), "--json"
    )
    assert rc == 0, err
    assert json.loads(txt)["total_input_tokens"] == sum(json.loads(f.read_text())["input_lens"])
    csvf = tmp_path / "lens.csv"
    csvf.write_text("prompt_tokens,output_tokens\n100,10\n200,20\n")
    rc, txt, err = run(
        capsys, "predict", "--model", "Llama-3.1-8B", "--gpu", "H100", "--bench", "--num-prompts", "4", "--dataset", str(csvf), "--json"
    )
    assert rc == 0, err and json.loads(txt)["total_input_tokens"] == 600


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (("--request-rate", "0"), r"--request-rate: 0.0 must be > 0"),
        (("--num-prompts", "0"), r"--num-prompts: 0 must be >= 1"),
        (("--max-concurrency", "0"), r"--max-concurrency: 0 must be >= 1"),
        (("--range-ratio", "1.5"), r"--range-ratio: 1.5 must be in \[0, 1\)"),
        (("--engine", "vllm-07"), r"--engine: unknown engine profile 'vllm-07'"),
        (("--dataset", "/nonexistent.json"), r"--dataset: file '/nonexistent.json' does not exist"),
    ],
)
def test_predict_bench_bad_input_is_one_line(capsys, argv, match):
    rc, out, err = run(capsys, "predict", "--model", "Llama-3.1-8B", "--gpu", "H100", "--bench", *argv)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(match, err), err


def test_calibrate_reports_error_per_file_and_metric(capsys, tmp_path, catalog):
    f = _vllm_file(tmp_path / "a.json", catalog, slow=1.25)
    rc, out, err = run(capsys, "calibrate", "--from-bench", str(f), "--json")
    assert rc == 0, err
    rows = json.loads(out)
    assert rows[0]["gpu"] == "RTX-4090" and rows[0]["model"] == "Llama-3.1-8B"
    assert rows[0]["mean_tpot_ms"]["error_pct"] == pytest.approx(-20.0, abs=0.5)
    assert rows[0]["request_throughput"]["error_pct"] == pytest.approx(25.0, abs=0.5)
    rc, out, err = run(capsys, "calibrate", "--from-bench", str(f))
    assert rc == 0 and "mean_tpot_ms: median |error| 20.0 %" in out


def test_calibrate_fit_writes_a_plugin_with_provenance(capsys, tmp_path, catalog):
    files = [str(_vllm_file(tmp_path / f"r{i}.json", catalog, slow=1.25, mc=mc)) for i, mc in enumerate((4, 16))]
    plugin = tmp_path / "rtx4090_fit.py"
    rc, out, err = run(capsys, "calibrate", "--from-bench", *files, "--fit", "RTX-4090", "--out", str(plugin))
    assert rc == 0, err
    assert "fitted RTX-4090: memory x" in out
    spec = importlib.util.spec_from_file_location("rtx4090_fit", plugin)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (gpu,) = mod.gpus()
    assert gpu.name == "RTX-4090-fitted" and gpu.calibration.measured
    assert "r0.json sha256:" in gpu.calibration.source and "boute calibrate --from-bench" in gpu.calibration.source
    base = catalog.gpu("RTX-4090").calibration
    assert gpu.calibration.gemm_memory_efficiency < base.gemm_memory_efficiency  # the runs were slower
    # The fitted GPU predicts the files better than the spec-only one.
    from boute.engine.cli_bench import _errors, _mal, load_bench_file

    runs = [r for f in files for r in load_bench_file(f, catalog)]
    assert _mal(_errors(runs, catalog, gpu_override=attrs_evolve_name(gpu, "RTX-4090")), ("mean_tpot_ms",)) < _mal(
        _errors(runs, catalog), ("mean_tpot_ms",)
    )


def attrs_evolve_name(gpu, name):
    import attrs

    return attrs.evolve(gpu, name=name)


def test_calibrate_reads_aiconfigurator_csv(capsys, tmp_path):
    f = tmp_path / "aic.csv"
    f.write_text(
        "id,model_path,system,backend,mode,isl,osl,batch_size,tp_size,pp_size,gemm_quant_mode,silicon_ttft_ms,silicon_tpot_ms\n"
        "a,meta-llama/Llama-3.1-8B-Instruct,h100_sxm,trtllm,agg,1024,128,8,1,1,,190.9,7.94\n"
        "b,meta-llama/Llama-3.1-70B,h200_sxm,vllm,agg,1024,1024,16,4,1,fp8,121.4,13.19\n"
        "c,meta-llama/Llama-3.1-8B-Instruct,h100_sxm,trtllm,disagg,1024,128,8,1,1,,190.9,7.94\n"
    )
    rc, out, err = run(capsys, "calibrate", "--from-bench", str(f), "--json")
    assert rc == 0, err
    rows = json.loads(out)
    assert [(r["gpu"], r["engine"], r["dtype"]) for r in rows] == [("H100-SXM", "trtllm", "bf16"), ("H200", "vllm-v1", "fp8")]
    assert all("mean_tpot_ms" in r and "mean_ttft_ms" in r for r in rows)


@pytest.mark.parametrize(
    ("content", "extra", "match"),
    [
        ("{not json", (), r"--from-bench: bad.json is not valid JSON"),
        ("[1, 2]", (), r"--from-bench: bad.json is not a JSON object"),
        ('{"input_lens": [1]}', (), r"--from-bench: bad.json lacks output_lens, mean_ttft_ms"),
        (None, (), r"--from-bench: bad.json does not say which GPU ran it"),
        (None, ("--gpu", "H100", "--fit", "H100"), r"--fit: needs --out FILE.py"),
        (None, ("--gpu", "H100", "--fit", "L4", "--out", "x.py"), r"--fit: no run in the files is on L4"),
        (None, ("--gpu", "H100", "--engine", "tgi"), r"--engine: unknown engine profile 'tgi'"),
    ],
)
def test_calibrate_bad_input_is_one_line(capsys, tmp_path, catalog, content, extra, match):
    import re

    f = tmp_path / "bad.json"
    if content is None:
        _vllm_file(f, catalog, gpu="H100-SXM", n=10, metadata=False)
    else:
        f.write_text(content)
    rc, out, err = run(capsys, "calibrate", "--from-bench", str(f), *extra)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert re.search(match, err), err


def test_calibrate_missing_file(capsys):
    rc, out, err = run(capsys, "calibrate", "--from-bench", "/nope.json")
    assert rc == 2 and "--from-bench: file '/nope.json' does not exist" in err


def test_served_context_follows_vllms_default_launch(catalog):
    """A server started without --max-model-len serves the whole context when its KV cache
    holds it (vLLM refuses to start otherwise, so the operator lowered the flag)."""
    from boute.engine.cli_bench import served_context
    from boute.engine.replica import ReplicaConfig

    llm8, llm70, a100, h100 = (catalog.model("Llama-3.1-8B"), catalog.model("Llama-3.1-70B"), catalog.gpu("A100-SXM"), catalog.gpu("H100"))
    rm, served = served_context(llm8, a100, ReplicaConfig(model=llm8.name, gpu=a100.name, engine="vllm-0.6"), 2048)
    assert served == 131072 and rm.engine.chunked_prefill and rm.max_num_batched_tokens == 512
    cfg70 = ReplicaConfig(model=llm70.name, gpu=h100.name, tp=1, weight_dtype="fp8", engine="vllm-0.6")
    rm, served = served_context(llm70, h100, cfg70, 2048)
    assert served == 2048 and not rm.engine.chunked_prefill  # the whole context does not fit one H100
    rm, served = served_context(llm8, a100, ReplicaConfig(model=llm8.name, gpu=a100.name, engine="vllm-0.6"), 2048, 8192)
    assert served == 8192 and not rm.engine.chunked_prefill


def test_predict_bench_reports_the_modelled_server(capsys):
    argv = ("predict", "--model", "Llama-3.1-8B", "--gpu", "A100-SXM", "--bench", "--engine", "vllm-0.6", "--num-prompts", "20")
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err
    assert "--max-model-len 131072, chunked prefill (mixed), 512 batched tokens" in out
    rc, out, err = run(capsys, *argv, "--server-max-model-len", "8192")
    assert rc == 0, err
    assert "--max-model-len 8192, whole prompts (prefill-first), 8192 batched tokens" in out
    rc, out, err = run(capsys, *argv, "--server-max-model-len", "100")
    assert rc == 2 and re.search(r"--server-max-model-len: 100 is below the run's longest request", err), err


def test_predict_bench_hint_matches_why_it_does_not_fit(capsys):
    base = ("predict", "--bench", "--num-prompts", "10", "--model")
    rc, out, err = run(capsys, *base, "Llama-3.1-8B", "--gpu", "T4", "--dtype", "int4")
    assert rc == 2 and "no Marlin INT4 kernels" in err and "hint: another GPU, precision or --tp" in err, err
    rc, out, err = run(capsys, *base, "Llama-3.1-70B", "--gpu", "H100")
    assert rc == 2 and "exceed the usable" in err and "hint: a larger --tp or another GPU" in err, err


def test_server_max_model_len_must_fit_the_kv_cache(capsys):
    argv = ("predict", "--bench", "--num-prompts", "10", "--model", "Llama-3.1-70B", "--gpu", "H100", "--dtype", "fp8")
    rc, out, err = run(capsys, *argv, "--server-max-model-len", "131072")
    assert rc == 2 and re.search(r"--server-max-model-len: 131072 exceeds the \d+-token KV cache .* vLLM would not start", err), err
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err  # unset: the whole context does not fit, so the operator lowered it
