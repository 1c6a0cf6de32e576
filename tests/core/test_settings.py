"""Sampler settings in one place: every bad value named with its field, the config's old key names,
and the trace-size check that refuses up front (estimate and limit in the message, nothing staged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bayes_core import artifacts, samplers
from bayes_core.config import TrainingSettings
from bayes_core.errors import InvalidParametersError, SamplerError, TraceTooLargeError
from bayes_core.settings import (DEVICES, METHODS, SAMPLE_STATS_PER_DRAW, SAMPLERS, SamplerSettings, check_trace_size,
                                 trace_bytes)

ROOT = Path(__file__).resolve().parent.parent.parent
MODEL = "hierarchical_negbinom"


@pytest.mark.parametrize("field, value, message", [
    ("draws", 0, "whole number from 1 to 100000 (got 0)"),
    ("draws", 10_000_000_000, "whole number from 1 to 100000 (got 10000000000)"),
    ("draws", 1e308, "whole number from 1 to 100000 (got 1e+308)"),
    ("draws", True, "whole number"),
    ("draws", "100", "whole number"),
    ("tune", -1, "whole number from 0 to 100000"),
    ("chains", 0, "whole number from 1 to 64"),
    ("chains", 100_000, "whole number from 1 to 64 (got 100000)"),
    ("seed", -1, "whole number from 0 to 4294967295"),
    ("seed", 2**70, "whole number from 0 to 4294967295 (got 1180591620717411303424)"),
    ("target_accept", 0.5, "between 0.5 and 1 (exclusive)"),
    ("target_accept", 1.0, "between 0.5 and 1 (exclusive)"),
    ("target_accept", float("nan"), "between 0.5 and 1"),
    ("target_accept", float("inf"), "between 0.5 and 1"),
    ("target_accept", 1e308, "between 0.5 and 1"),
    ("target_accept", True, "between 0.5 and 1"),
    ("sampler", "stan", "must be one of auto, nutpie, numpyro, pymc"),
    ("device", "tpu", "must be one of auto, cpu, gpu"),
    ("method", "vi", "must be one of mcmc, approximate"),
    ("thin", 2, "unknown training setting"),
])
def test_each_bad_value_gets_a_message_naming_its_field(nb_model, field, value, message):
    for parse in (lambda: SamplerSettings.parse({field: value}), lambda: nb_model.training_settings(**{field: value})):
        with pytest.raises(InvalidParametersError) as info:
            parse()
        assert list(info.value.errors) == [field] and message in info.value.errors[field]


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(InvalidParametersError) as info:
        SamplerSettings.parse({"draws": 0, "chains": 65, "seed": 2**40, "bogus": 1})
    assert set(info.value.errors) == {"draws", "chains", "seed", "bogus"}


def test_the_names_are_one_list_and_settings_are_frozen():
    assert SAMPLERS == ("auto", "nutpie", "numpyro", "pymc") and DEVICES == ("auto", "cpu", "gpu")
    assert METHODS == ("mcmc", "approximate")
    settings = SamplerSettings.parse({"draws": 10})
    assert settings.method == "mcmc" and settings.to_dict()["draws"] == 10
    with pytest.raises(Exception):
        settings.draws = 20  # type: ignore[misc]


def test_asking_for_a_gpu_starts_no_jax_in_the_asking_process():
    """The app and the CLI ask whether there is a GPU before they queue a job. JAX started in the asking
    process would keep a GPU client (75 % of the GPU's memory) that the job's own process then lacks:
    the question goes to a child process (here, with the CUDA plugin taken as installed, it finds none)."""
    script = ("import sys; from bayes_core import samplers; samplers.cuda_plugin_installed = lambda: True; "
              "print(samplers.gpu_available(), len(samplers.jax_gpus()), 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "0", "False"]


def test_the_approximate_method_is_advi_on_the_cpu_and_refuses_the_gpu_clearly():
    assert samplers.resolve(SamplerSettings.parse({"method": "approximate"}), gpu=True) == ("advi", "cpu")
    with pytest.raises(SamplerError, match="approximate method .ADVI. runs on the CPU only"):
        samplers.resolve(SamplerSettings.parse({"method": "approximate", "device": "gpu"}))


def test_config_accepts_the_new_names_and_the_old_ones_as_aliases():
    assert TrainingSettings.model_validate({"draws": 300, "tune": 200}).draws == 300
    old = TrainingSettings.model_validate({"default_iterations": 300, "warmup": 200})
    assert (old.draws, old.tune) == (300, 200)
    assert old.sampler_settings() == {**SamplerSettings().to_dict(), "draws": 300, "tune": 200}
    with pytest.raises(ValueError, match="not both"):
        TrainingSettings.model_validate({"draws": 300, "default_iterations": 200})
    with pytest.raises(ValueError, match="whole number from 1 to 64"):
        TrainingSettings.model_validate({"chains": 100})


# -- trace size ------------------------------------------------------------------------------------------
def test_the_estimate_counts_chains_draws_values_and_the_predictive():
    settings = SamplerSettings.parse({"draws": 1000, "chains": 4})
    assert trace_bytes(10, settings) < trace_bytes(11, settings) < trace_bytes(11, settings, 1000)
    assert trace_bytes(10, settings, 500) - trace_bytes(10, settings) == 500 * 8
    assert check_trace_size(10, settings) == trace_bytes(10, settings)


def test_a_trace_over_the_limit_is_refused_with_estimate_and_limit(monkeypatch):
    settings = SamplerSettings.parse({"draws": 100_000, "chains": 64})
    with pytest.raises(TraceTooLargeError) as info:
        check_trace_size(1_000_000, settings)
    text = str(info.value)
    estimate_mb = 64 * 100_000 * (1_000_000 + SAMPLE_STATS_PER_DRAW) * 8 / 2**20  # chains × draws × values × 8 B
    assert f"about {estimate_mb:,.0f} MB" in text and "64 chains × 100,000 draws × 1,000,000 values" in text and "over the limit of 4,096 MB (BAYES_MAX_TRACE_MB)" in text
    monkeypatch.setenv("BAYES_MAX_TRACE_MB", "100000000")
    assert check_trace_size(1_000_000, settings) > 0


@pytest.mark.parametrize("raw", ["abc", "-5", "0", "nan", "inf"])
def test_an_unusable_limit_says_how_to_fix_it(monkeypatch, raw):
    monkeypatch.setenv("BAYES_MAX_TRACE_MB", raw)
    with pytest.raises(InvalidParametersError, match="BAYES_MAX_TRACE_MB.*not a positive number of megabytes"):
        check_trace_size(1, SamplerSettings())


def test_check_resources_counts_the_built_model_without_sampling(nb_model, monkeypatch):
    monkeypatch.setattr(samplers, "sample", lambda *a, **k: pytest.fail("sampled"))
    data = nb_model.load_data()
    n_entities = data["entity"].nunique()
    estimate = nb_model.check_resources(data, {"draws": 100, "chains": 2})
    values = 3 + n_entities  # mu, alpha, phi and one rate per entity
    ppc = min(nb_model.metadata.training.posterior_predictive_draws, 200) * len(data)
    assert estimate == trace_bytes(values, SamplerSettings.parse({"draws": 100, "chains": 2}), ppc)
    monkeypatch.setenv("BAYES_MAX_TRACE_MB", "0.01")
    with pytest.raises(TraceTooLargeError, match="MB of memory"):
        nb_model.check_resources(data, {"draws": 100, "chains": 2})


def test_fit_and_train_refuse_before_sampling_and_leave_nothing_staged(nb_model, monkeypatch):
    monkeypatch.setattr(samplers, "sample", lambda *a, **k: pytest.fail("sampled"))
    monkeypatch.setenv("BAYES_MAX_TRACE_MB", "1")
    before = artifacts.list_run_ids(MODEL)
    for call in (lambda: nb_model.fit(draws=100_000, chains=4), lambda: nb_model.train(draws=100_000, chains=4)):
        with pytest.raises(TraceTooLargeError, match="over the limit of 1 MB"):
            call()
    assert artifacts.list_run_ids(MODEL) == before
    assert not list(artifacts.runs_dir(MODEL).glob(".tmp-*"))


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bayes_core", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=300)


@pytest.mark.parametrize("args, env, message", [
    (("train", MODEL, "--draws", "10000000000"), {}, "draws: must be a whole number from 1 to 100000"),
    (("train", MODEL, "--seed", str(2**70)), {}, "seed: must be a whole number from 0 to 4294967295"),
    (("train", MODEL, "--draws", "100000", "--chains", "8"), {"BAYES_MAX_TRACE_MB": "50"},
     "over the limit of 50 MB"),
    (("jobs", "submit", MODEL, "--chains", "100000"), {}, "chains: must be a whole number from 1 to 64"),
])
def test_cli_sizes_end_in_a_clear_message_and_nothing_staged(args, env, message):
    out = cli(*args, "--json", **env)
    assert out.returncode == 2, out.stderr
    assert message in json.loads(out.stdout)["error"]
    assert "Traceback" not in out.stderr
    assert not list(artifacts.runs_dir(MODEL).glob(".tmp-*"))
