"""The benchmark harness runs end to end at tiny sizes and writes its report (no timing asserts)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains or compiles models: `make test` runs it, `make test-fast` does not

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_writes_markdown_and_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--only", "nb_training,prediction,app,evaluation",
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["machine"]["cpu_count"] >= 1
    nb = results["benches"]["nb_training"]["result"]
    assert set(nb["training"]) == {"project (reduced + nutpie)", "stock PyMC (nutpie, plain)", "stock NumPyro CPU (plain)"}
    assert nb["scaling"]["gradient_big"]["reduced_gradient_ms"] > 0
    pred = results["benches"]["prediction"]["result"]
    p50, p95 = (pred[f"predict_one (cached draws → dict) {q}"] for q in ("p50", "p95"))
    assert p95["value"] >= p50["value"] > 0 and p95["goal"] == "< 2 ms" and isinstance(p95["met"], bool)
    app = results["benches"]["app"]["result"]
    assert app["`streamlit run` → health endpoint answers"]["value"] > 0
    assert app["heavy modules that import pulled in"]["value"] == "none"
    evaluation = results["benches"]["evaluation"]["result"]
    assert evaluation["observations"]["value"] == 2000 > evaluation["distinct (entity, count) cells"]["value"]
    assert evaluation["evaluation peak memory (whole process, largest)"]["value"] > 0
    markdown = (tmp_path / "latest.md").read_text()
    assert "ESS/s of the project path" in markdown and "## prediction" in markdown
    assert "| predict_one (cached draws → dict) p95 |" in markdown and "< 2 ms (" in markdown


def test_gpu_bench_says_why_a_path_was_not_measured(monkeypatch):
    """Without a GPU (CI) the GPU path is reported as not measured, with the reason, and nothing trains."""
    from bench import bench_gpu

    monkeypatch.setenv("BAYES_FORCE_NO_GPU", "1")
    unnamed = bench_gpu.run(quick=False)  # `make bench` on a machine without a GPU: no CPU path runs either
    assert unnamed["paths"] == {name: {"not_measured": bench_gpu.NO_GPU} for name in bench_gpu.PATHS}
    monkeypatch.setenv("BENCH_GPU_PATHS", "numpyro gpu")
    monkeypatch.setenv("BENCH_GPU_SETTINGS", "draws=300, tune=300")
    result = bench_gpu.run(quick=True)
    assert result["paths"] == {"numpyro gpu": {"not_measured": "not measured: JAX sees no GPU on this machine"}}
    assert result["gpu"] is None and result["sizes"] == {"players": 250, "rounds": 20, "rows": 250 * 20,
                                                         "chains": 4, "tune": 300, "draws": 300}
    assert [f["name"] for f in result["figures"]] == ["numpyro gpu: training wall"]
    for bad in ("samples=300", "draws=many", "draws"):
        monkeypatch.setenv("BENCH_GPU_SETTINGS", bad)
        with pytest.raises(ValueError, match="expected e.g. 'draws=300,tune=300'"):
            bench_gpu.run(quick=True)
    monkeypatch.setenv("BENCH_GPU_SETTINGS", "")
    monkeypatch.setenv("BENCH_GPU_PATHS", "numpyro tpu")
    with pytest.raises(ValueError, match="BENCH_GPU_PATHS names numpyro tpu; the paths are numpyro gpu"):
        bench_gpu.run(quick=True)


def test_a_merge_keeps_the_benches_not_rerun_and_the_gpu_line_they_were_measured_with(tmp_path, monkeypatch):
    """`--merge` reruns the named benches only; the GPU line belongs to the kept gpu bench and stays."""
    import types

    import bench.__main__ as bench_main

    fake = types.ModuleType("bench_fake")
    fake.run = lambda mode: {"mode_seen": mode}
    monkeypatch.setitem(sys.modules, "bench_fake", fake)
    monkeypatch.setitem(bench_main.BENCHES, "fake", "bench_fake")
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    earlier = {"mode": "full", "started_at": "2026-12-01T00:00:00+00:00", "machine": {"cpu_count": 16},
               "gpu": "NVIDIA H200 (NumPyro on JAX's CUDA backend)",
               "benches": {"gpu": {"result": {"gpu": "NVIDIA H200"}, "elapsed_s": 1.0},
                           "fake": {"result": {"mode_seen": "old"}, "elapsed_s": 1.0}}}
    (tmp_path / "latest.json").write_text(json.dumps(earlier))
    assert bench_main.main(["--smoke", "--only", "fake", "--merge", "--out", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "latest.json").read_text())
    assert merged["gpu"] == earlier["gpu"]
    assert merged["benches"]["gpu"]["result"] == {"gpu": "NVIDIA H200"}
    assert merged["benches"]["gpu"]["started_at"] == earlier["started_at"]
    assert merged["benches"]["fake"]["result"] == {"mode_seen": "smoke"}
    assert "GPU: NVIDIA H200 (NumPyro on JAX's CUDA backend)" in (tmp_path / "latest.md").read_text()
    assert bench_main.main(["--smoke", "--only", "fake", "--out", str(tmp_path)]) == 0  # no merge: a run of its own
    assert json.loads((tmp_path / "latest.json").read_text())["gpu"].startswith("not measured")
