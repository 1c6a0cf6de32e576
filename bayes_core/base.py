"""``BaseBayesianModel``: the whole lifecycle of a model, once.

A model subclass fills hooks and nothing more:

- ``data_schema()``          the columns its data must have (validated on every load)
- ``example_data()``         synthetic data with known truth (``true_parameters``)
- ``build_model(data)``      the PyMC model that is sampled (the only hook that touches PyMC)
- ``build_predictive_model`` the plain per-observation model for prior/posterior predictive
                             (defaults to ``build_model``)
- ``predict_rows(run, reqs)`` posterior draws → one output row per validated request
- ``run_options(run)``       options for ``select`` fields that come from a trained run
- ``inference_params_for(run)`` the inference form's fields when they depend on the run
- ``build_reports(...)``     optional extra JSON reports saved with the run

The base class owns loading and validating data, sampling (``samplers``), diagnostics, the
thinned posterior predictive, writing runs atomically (``artifacts``) and validated prediction.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from bayes_core import artifacts, diagnostics, samplers
from bayes_core.config import InferenceParameter, ModelMetadata
from bayes_core.data import DataSchema, read_csv
from bayes_core.errors import BayesCoreError, InvalidParametersError, NotTrainedError
from bayes_core.forms import validate_fields

log = logging.getLogger("bayes_core")

PPC_MAX_VALUES = 5_000_000  # replicated values kept in a run's posterior predictive group

_VERSIONED_PACKAGES = ("pymc", "pytensor", "nutpie", "numpyro", "jax", "arviz", "arviz-stats",
                       "numpy", "pandas", "xarray", "scipy")


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in _VERSIONED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


class FitResult:
    """An in-memory fit: the trace with its summary, diagnostics and sampler information."""

    def __init__(self, idata, summary: pd.DataFrame, diagnostics: dict, info: dict, data: pd.DataFrame,
                 settings: samplers.SamplerSettings, options: dict, priors: dict):
        self.idata, self.summary, self.diagnostics = idata, summary, diagnostics
        self.info, self.data, self.settings, self.options, self.priors = info, data, settings, options, priors


class BaseBayesianModel:
    #: Free variables shown by default (hyper-parameters); vectors beyond these are collapsed in the UI.
    headline_vars: ClassVar[list[str]] = []
    #: Names of the true parameters of ``example_data`` (for recovery tests and the catalogue).
    true_parameters: ClassVar[dict[str, float]] = {}
    #: What is observed: "count" | "continuous" | "binary" (picks the predictive check's statistics).
    outcome_kind: ClassVar[str]
    #: The model for analysts: Markdown with $…$/$$…$$ math, shown by the catalogue (the docstring is for developers).
    definition: ClassVar[str] = ""

    #: The model id whose config a notebook-style ``Model()`` (no metadata given) loads.
    config_id: ClassVar[str | None] = None

    def __init__(self, metadata: ModelMetadata | None = None, options: Mapping[str, Any] | None = None,
                 priors: Mapping[str, float] | None = None):
        if metadata is None:
            if self.config_id is None:
                raise BayesCoreError(f"{type(self).__name__} needs its ModelMetadata (it names no config_id).")
            from bayes_core.registry import get_registry

            metadata = get_registry().get_model_metadata(self.config_id)
        self.metadata = metadata
        self.options = self.validate_options(options or {})
        self.priors = {**metadata.priors, **(priors or {})}
        self._fit: FitResult | None = None
        self._options_memo: dict[str, dict[str, list[Any]]] = {}

    # -- hooks -----------------------------------------------------------------------------
    def data_schema(self) -> DataSchema:
        raise NotImplementedError

    def example_data(self) -> pd.DataFrame:
        raise NotImplementedError

    def prepare_data(self, data: pd.DataFrame) -> pd.DataFrame:
        """Checks beyond the column schema (e.g. windows, minimum length). Default: none."""
        return data

    def build_model(self, data: pd.DataFrame):
        raise NotImplementedError

    def build_predictive_model(self, data: pd.DataFrame):
        return self.build_model(data)

    def predict_rows(self, run: artifacts.Run, requests: list[dict[str, Any]]) -> pd.DataFrame:
        raise NotImplementedError

    def run_options(self, run: artifacts.Run | None) -> dict[str, list[Any]]:
        return {}

    def build_reports(self, fit: FitResult) -> dict[str, dict]:
        return {}

    def inference_params_for(self, run: artifacts.Run | None) -> list[InferenceParameter]:
        """The inference form's fields. Default: the config's. Override when the fields themselves
        depend on the trained run (e.g. one input per feature the run was trained on)."""
        return list(self.metadata.inference_params)

    # -- identity ----------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.metadata.model_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r}, version={self.metadata.version!r})"

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        clean, errors = validate_fields(self.metadata.model_options, options)
        if errors:
            raise InvalidParametersError(errors)
        return clean

    # -- data --------------------------------------------------------------------------------
    def load_data(self, source: str | Path | bytes | pd.DataFrame | None = None) -> pd.DataFrame:
        """Example data when ``source`` is None; else a CSV path/bytes or a DataFrame, validated."""
        if source is None:
            df = self.example_data()
        elif isinstance(source, pd.DataFrame):
            df = source.copy()
        else:
            df = read_csv(source)
        return self.prepare_data(self.data_schema().validate(df))

    # -- sampling ----------------------------------------------------------------------------
    def sample_prior_predictive(self, data: pd.DataFrame | None = None, draws: int = 500, seed: int = 0):
        """Prior and prior predictive draws (``DataTree`` with ``prior``/``prior_predictive``)."""
        import pymc as pm

        data = self.load_data(data) if not isinstance(data, pd.DataFrame) else data
        with self.build_predictive_model(data):
            return pm.sample_prior_predictive(draws=draws, random_seed=seed)

    def training_settings(self, **overrides: Any) -> samplers.SamplerSettings:
        t = self.metadata.training
        base = dict(draws=t.default_iterations, tune=t.warmup, chains=t.chains, target_accept=t.target_accept,
                    seed=t.seed, sampler=t.sampler, device=t.device)
        unknown = set(overrides) - set(base)
        if unknown:
            raise InvalidParametersError({k: "unknown training setting" for k in unknown})
        merged = {**base, **{k: v for k, v in overrides.items() if v is not None}}
        errors = _check_settings(merged)
        if errors:
            raise InvalidParametersError(errors)
        return samplers.SamplerSettings(**merged)

    def fit(self, data: pd.DataFrame | str | Path | None = None, progress: samplers.ProgressCallback | None = None,
            **settings: Any) -> FitResult:
        """Sample the posterior in memory (no run written): trace, summary, diagnostics."""
        progress = progress or samplers._noop
        settings_obj = self.training_settings(**settings)
        samplers.resolve(settings_obj)  # a device error before any data or compile work
        data = self.load_data(data)
        model = self.build_model(data)
        idata, info = samplers.sample(model, settings_obj, progress)
        progress(samplers.Progress("posterior predictive", message="thinned posterior predictive"))
        t0 = time.perf_counter()
        self._add_posterior_predictive(idata, data, settings_obj)
        info["timings"]["posterior_predictive_s"] = time.perf_counter() - t0
        return self._fit_result(idata, info, data, settings_obj)

    def fit_from_draws(self, draws: Mapping[str, np.ndarray], data: pd.DataFrame,
                       settings: samplers.SamplerSettings, *, method: str, dims: Mapping[str, list[str]] | None = None,
                       coords: Mapping[str, Any] | None = None, timings: dict[str, float] | None = None,
                       fallback: Mapping[str, Any] | None = None) -> FitResult:
        """A ``FitResult`` from (chain, draw, ...) arrays computed without MCMC (a closed form or a
        fallback estimate), with the same predictive group, summary and diagnostics as a sampled fit.
        A ``fallback`` record marks the verdict 'warning' so the run says it is not MCMC."""
        from arviz_base import from_dict

        idata = from_dict({"posterior": dict(draws)}, dims=dict(dims or {}), coords=dict(coords or {}))
        info = {"sampler": method, "device": "cpu", "timings": dict(timings or {})}
        try:
            self._add_posterior_predictive(idata, data, settings)
        except Exception as exc:  # a fallback must not fail on the optional predictive group
            info["posterior_predictive_error"] = str(exc)
        fit = self._fit_result(idata, info, data, settings)
        if fallback is not None:
            diag = fit.diagnostics
            diag["verdicts"]["fallback"] = diagnostics.WARNING
            diag["verdict"] = diagnostics.worst(*diag["verdicts"].values())
            diag["fallback"] = dict(fallback)
        return fit

    def _fit_result(self, idata, info: dict, data: pd.DataFrame, settings: samplers.SamplerSettings) -> FitResult:
        """Summary and diagnostics of a trace, kept as the model's current fit."""
        summary = diagnostics.summary_table(idata)
        diag = diagnostics.compute_diagnostics(idata, summary)
        self._fit = FitResult(idata, summary, diag, info, data, settings, dict(self.options), dict(self.priors))
        return self._fit

    def _add_posterior_predictive(self, idata, data: pd.DataFrame, settings: samplers.SamplerSettings) -> None:
        import pymc as pm

        if self.metadata.training.posterior_predictive_draws == 0:
            return
        # Thinned, and capped by size: 500 draws of a million observations would be 4 GB.
        keep = min(self.metadata.training.posterior_predictive_draws, max(1, PPC_MAX_VALUES // max(len(data), 1)))
        posterior = idata["posterior"].to_dataset()
        n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
        step = max(1, int(np.ceil(n_chain * n_draw / keep)))
        thinned = posterior.isel(draw=slice(None, None, step))
        with self.build_predictive_model(data):
            pp = pm.sample_posterior_predictive(thinned, random_seed=settings.seed, progressbar=False)
        for group in ("posterior_predictive", "observed_data"):
            if group in pp.children:
                idata[group] = pp[group]

    def train(self, data: pd.DataFrame | str | Path | None = None, progress: samplers.ProgressCallback | None = None,
              run_id: str | None = None, **settings: Any) -> artifacts.Run:
        """Fit and write a run atomically; returns the saved run."""
        progress = progress or samplers._noop
        created = datetime.now(timezone.utc)
        with artifacts.staged_run_dir(self.model_id, run_id) as (new_id, tmp):
            handler = logging.FileHandler(tmp / artifacts.LOG_FILE)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            watched = [logging.getLogger(n) for n in ("bayes_core", "pymc", "nutpie")]
            for lg in watched:
                lg.addHandler(handler)
            log.setLevel(logging.INFO)
            try:
                log.info("training %s (run %s) with settings %s, options %s", self.model_id, new_id, settings, self.options)
                fit = self.fit(data, progress=progress, **settings)
                progress(samplers.Progress("saving"))
                self._write_run(tmp, new_id, fit, created)
                log.info("run %s written: %s", new_id, diagnostics.verdict_sentence(fit.diagnostics))
            finally:
                for lg in watched:
                    lg.removeHandler(handler)
                handler.close()
        return artifacts.Run(self.model_id, new_id)

    def _write_run(self, folder: Path, run_id: str, fit: FitResult, created: datetime) -> None:
        t0 = time.perf_counter()
        fit.idata.to_netcdf(folder / artifacts.TRACE_FILE)
        fit.summary.to_csv(folder / artifacts.SUMMARY_FILE)
        artifacts.write_json(folder / artifacts.DIAGNOSTICS_FILE, fit.diagnostics)
        snapshot = fit.data.to_csv(index=False, date_format="%Y-%m-%d")
        (folder / artifacts.DATA_FILE).write_text(snapshot)
        self._write_graph(folder, fit.data)
        reports = self.build_reports(fit)
        if reports:
            (folder / artifacts.REPORTS_DIR).mkdir()
            for name, payload in reports.items():
                artifacts.write_json(folder / artifacts.REPORTS_DIR / f"{name}.json", payload)
        fit.info["timings"]["save_s"] = time.perf_counter() - t0
        artifacts.write_json(folder / artifacts.METADATA_FILE, {
            "run_id": run_id,
            "model_id": self.model_id,
            "model_name": self.metadata.name,
            "model_version": self.metadata.version,
            "config_hash": self.metadata.config_hash,
            "data_hash": hashlib.sha256(snapshot.encode()).hexdigest()[:16],
            "data_rows": int(len(fit.data)),
            "settings": fit.settings.to_dict(),
            "seed": fit.settings.seed,
            "sampler": fit.info["sampler"],
            "device": fit.info["device"],
            "options": fit.options,
            "priors": fit.priors,
            "timings": fit.info["timings"],
            "package_versions": package_versions(),
            "python_version": platform.python_version(),
            "created_at": created.isoformat(),
            "verdict": fit.diagnostics["verdict"],
        })

    def _write_graph(self, folder: Path, data: pd.DataFrame) -> None:
        graph = self.graph(data)
        (folder / artifacts.DAG_DOT_FILE).write_text(graph.source)
        if shutil.which("dot"):
            try:
                (folder / artifacts.DAG_SVG_FILE).write_bytes(graph.pipe(format="svg"))
            except Exception as exc:  # SVG is a convenience; the DOT source is the record
                log.warning("could not render the DAG as SVG: %s", exc)

    def graph(self, data: pd.DataFrame | None = None):
        """The model's DAG (``graphviz.Digraph``) from the plain predictive model."""
        import pymc as pm

        data = self.load_data(data) if not isinstance(data, pd.DataFrame) else data
        return pm.model_to_graphviz(self.build_predictive_model(data))

    # -- runs ----------------------------------------------------------------------------------
    def ensure_output_dirs(self) -> Path:
        path = artifacts.runs_dir(self.model_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def get_output_paths(self, run_id: str | None = None) -> dict[str, Path]:
        run_id = run_id or artifacts.latest_run_id(self.model_id)
        paths = {"model_dir": artifacts.model_dir(self.model_id), "runs_dir": artifacts.runs_dir(self.model_id)}
        if run_id:
            run_dir = artifacts.run_path(self.model_id, run_id)
            paths.update(run_dir=run_dir, trace=run_dir / artifacts.TRACE_FILE,
                         summary=run_dir / artifacts.SUMMARY_FILE, diagnostics=run_dir / artifacts.DIAGNOSTICS_FILE,
                         metadata=run_dir / artifacts.METADATA_FILE, data=run_dir / artifacts.DATA_FILE,
                         dag=run_dir / artifacts.DAG_DOT_FILE, log=run_dir / artifacts.LOG_FILE)
        return paths

    def has_trained_model(self) -> bool:
        return artifacts.latest_run_id(self.model_id) is not None

    def get_latest_trace(self):
        run_id = artifacts.latest_run_id(self.model_id)
        return artifacts.Run(self.model_id, run_id).idata if run_id else None

    def load_run(self, run: artifacts.Run | str | None = None) -> artifacts.Run:
        if isinstance(run, artifacts.Run):
            return run
        return artifacts.load_run(self.model_id, run)

    def sample_posterior_predictive(self, run: artifacts.Run | str | None = None):
        """The saved (thinned) posterior predictive of a run, with its observed data."""
        run = self.load_run(run)
        if "posterior_predictive" not in run.idata.children:
            raise BayesCoreError(f"Run {run.run_id} has no posterior predictive group.")
        return run.idata

    # -- prediction ----------------------------------------------------------------------------
    def get_inference_form_fields(self, run: artifacts.Run | None = None) -> list[dict[str, Any]]:
        dynamic = self.options_of_run(run) if run is not None else {}
        fields = []
        for p in self.inference_params_for(run):
            spec = p.model_dump()
            spec["label"] = p.display_label
            if p.name in dynamic:
                spec["options"] = dynamic[p.name]
                if spec["default"] is None and dynamic[p.name]:
                    spec["default"] = dynamic[p.name][0]
            fields.append(spec)
        return fields

    def options_of_run(self, run: artifacts.Run) -> dict[str, list[Any]]:
        """``run_options`` computed once per run: a saved run never changes, and a batch validates
        every row against the same options (reading them from the trace each time costs ~0.3 ms)."""
        key = str(run.path)
        if key not in self._options_memo:
            self._options_memo[key] = self.run_options(run)
        return self._options_memo[key]

    def coerce_inference_params(self, params: Mapping[str, Any], run: artifacts.Run | None = None) -> dict[str, Any]:
        clean, errors = validate_fields(self.inference_params_for(run), params,
                                        self.options_of_run(run) if run is not None else None)
        if errors:
            raise InvalidParametersError(errors)
        return clean

    def validate_inference_params(self, params: Mapping[str, Any], run: artifacts.Run | None = None
                                  ) -> tuple[bool, dict[str, str]]:
        try:
            self.coerce_inference_params(params, run)
        except InvalidParametersError as exc:
            return False, exc.errors
        return True, {}

    def predict(self, inference_params: Mapping[str, Any], run: artifacts.Run | str | None = None) -> pd.DataFrame:
        """One validated request → a one-row table of predictions (with the run's provenance)."""
        run = self.load_run(run)
        request = self.coerce_inference_params(inference_params, run)
        return self._with_provenance(self.predict_rows(run, [request]), run)

    def predict_batch(self, requests: pd.DataFrame, run: artifacts.Run | str | None = None
                      ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """Validate each row; predict the good ones. Returns ``(results, problems)`` where each
        problem is ``{"row": n, "field": name, "message": text}`` (rows numbered as in the CSV)."""
        run = self.load_run(run)
        good, problems = [], []
        for i, row in enumerate(requests.to_dict(orient="records")):
            try:
                good.append(self.coerce_inference_params(row, run))
            except InvalidParametersError as exc:
                problems.extend({"row": i + 2, "field": f, "message": m} for f, m in exc.errors.items())
        if not good:
            return pd.DataFrame(), problems
        return self._with_provenance(self.predict_rows(run, good), run), problems

    def _with_provenance(self, table: pd.DataFrame, run: artifacts.Run) -> pd.DataFrame:
        provenance = {"run_id": run.run_id, "model_id": self.model_id,
                      "model_version": run.metadata.get("model_version", self.metadata.version),
                      "convergence_verdict": run.verdict}
        # One concat, not four column inserts: a single prediction's table costs ~1 ms less.
        return pd.concat([table, pd.DataFrame(provenance, index=table.index)], axis=1)


def require_fit(obj: Any, attr: str = "_fit") -> Any:
    value = getattr(obj, attr, None)
    if value is None:
        raise NotTrainedError(f"{type(obj).__name__} has not been fitted yet: call fit(...) first.")
    return value


def _check_settings(s: dict[str, Any]) -> dict[str, str]:
    errors = {}
    for name, lo in (("draws", 1), ("tune", 0), ("chains", 1)):
        v = s.get(name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            errors[name] = f"must be a whole number ≥ {lo} (got {v!r})"
    ta = s.get("target_accept")
    if isinstance(ta, bool) or not isinstance(ta, (int, float)) or not 0.5 < ta < 1:
        errors["target_accept"] = f"must be between 0.5 and 1 (exclusive), got {ta!r}"
    seed = s.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        errors["seed"] = f"must be a whole number ≥ 0 (got {seed!r})"
    if s.get("sampler") not in ("auto", "nutpie", "numpyro", "pymc"):
        errors["sampler"] = f"must be one of auto, nutpie, numpyro, pymc (got {s.get('sampler')!r})"
    if s.get("device") not in ("auto", "cpu", "gpu"):
        errors["device"] = f"must be one of auto, cpu, gpu (got {s.get('device')!r})"
    return errors
