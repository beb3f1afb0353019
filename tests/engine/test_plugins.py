"""Entry-point plugins: duplicates, broken plugins, a real installed plugin package."""

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

from boute.engine.catalog import GPUType
from boute.engine.errors import PluginError
from boute.engine.plugins import Catalog, _assemble, _load_group
from tests.conftest import make_gpu


def test_builtins_load_through_entry_points(catalog):
    assert catalog.problems == ()
    assert catalog.sources["gpu:H100-SXM"].startswith("entry point 'builtin'")


def test_duplicate_name_is_an_error_naming_both_sources():
    a, b = make_gpu(name="X1"), make_gpu(name="X1")
    with pytest.raises(PluginError, match=r"duplicate gpu name 'X1': registered by pkgA and by pkgB"):
        _assemble([(a, "pkgA"), (b, "pkgB")], [], [], [])


def test_duplicate_alias_is_an_error():
    a, b = make_gpu(name="X1", aliases=("fast",)), make_gpu(name="X2", aliases=("FAST",))
    with pytest.raises(PluginError, match="duplicate gpu name"):
        Catalog.from_objects(gpus=[a, b])


def test_broken_plugin_is_reported_and_others_load():
    good = EntryPoint(name="good", value="tests.engine.test_plugins:_good_gpus", group="boute.gpus")
    bad = EntryPoint(name="bad", value="no_such_module_xyz:gpus", group="boute.gpus")
    problems: list[str] = []
    items = list(_load_group("boute.gpus", GPUType, problems, eps=[good, bad]))
    assert [g.name for g, _ in items] == ["PluginGPU"]
    assert len(problems) == 1 and "'bad'" in problems[0] and "failed to load" in problems[0]


def test_plugin_returning_wrong_type_is_skipped():
    ep = EntryPoint(name="odd", value="tests.engine.test_plugins:_not_gpus", group="boute.gpus")
    problems: list[str] = []
    assert list(_load_group("boute.gpus", GPUType, problems, eps=[ep])) == []
    assert "returned a str" in problems[0]


def _good_gpus():
    return [make_gpu(name="PluginGPU")]


def _not_gpus():
    return ["H100"]


@pytest.mark.slow
def test_installed_plugin_package_adds_a_gpu(tmp_path):
    """Build and install a tiny real plugin package; the catalog then lists its GPU."""
    pkg = tmp_path / "src"
    (pkg / "boute_testgpu").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "boute-testgpu"
        version = "0.0.1"
        [project.entry-points."boute.gpus"]
        testgpu = "boute_testgpu:gpus"
        [tool.setuptools]
        packages = ["boute_testgpu"]
    """)
    )
    (pkg / "boute_testgpu" / "__init__.py").write_text(
        textwrap.dedent("""
        from boute.engine.catalog import Calibration, GPUType
        def gpus():
            cal = Calibration(gemm_compute_efficiency=0.7, gemm_memory_efficiency=0.8, gemm_overhead_us=3.0,
                              attention_compute_efficiency=0.5, attention_memory_efficiency=0.8, attention_overhead_us=8.0,
                              allreduce_latency_us=10.0, allreduce_bandwidth_efficiency=0.5, measured=False,
                              source="spec-only: plugin test", source_date="2026-11-27")
            return [GPUType(name="MI300X-Test", architecture="cdna3", memory_gib=192.0, hbm_bandwidth_gb_per_s=5300.0,
                            bf16_tflops=1307.0, fp8_tflops=2615.0, intra_node_link="pcie", intra_node_bandwidth_gb_per_s=64.0,
                            inter_node_bandwidth_gb_per_s=50.0, gpus_per_node=8, calibration=cal,
                            source="plugin test", source_date="2026-11-27")]
    """)
    )
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(pkg)],
        check=True,
        capture_output=True,
    )
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(target)!r})
        from boute.engine.plugins import load_catalog
        c = load_catalog()
        print(c.gpu("MI300X-Test").name, c.sources["gpu:MI300X-Test"])
    """)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.startswith("MI300X-Test entry point 'testgpu'")
