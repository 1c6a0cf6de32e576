"""``BaseBayesianModel``: the whole lifecycle of a model, once.

A model subclass fills hooks and nothing more:

- ``data_schema()``          the columns its data must have (validated on every load); a schema
                             that depends on options declares them (``depends_on_options``)
- ``example_data()``         synthetic data with known truth (``true_parameters``)
- ``build_model(data)``      the PyMC model that is sampled (the only hook that touches PyMC)
- ``build_predictive_model`` the plain per-observation model for prior/posterior predictive
                             (defaults to ``build_model``)
- ``predict_rows(run, reqs)`` posterior draws → one output row per validated request
- ``run_options(run)``       options for ``select`` fields that come from a trained run
- ``inference_params_for(run)`` the inference form's fields when they depend on the run
- ``build_reports(fit)``     optional extra JSON reports saved with the run
- evaluation hooks (``loglik.LikelihoodHooks``): ``pointwise_log_likelihood``, ``log_prior``,
  ``complete_posterior``, ``held_out_metrics``
- SBC hooks (``checks.hooks.SBCHooks``): ``sbc_simulate``, ``sbc_parameters``, ``sbc_data_from``,
  ``sbc_fit``, ``sbc_unavailable``
- ``fallback_fit(data, settings, reason)`` with ``fallback_method``: a simpler estimate used when
                             sampling raises or fails badly (``keep_failed_trace`` keeps a badly
                             converged trace instead, flagged)

The base class owns loading and validating data, ONE fit path (``fit``: sample with ``samplers``,
judge convergence, fall back where the model has a fallback; ``FitResult.path`` says which ran),
diagnostics and the thinned posterior predictive; validated prediction from a run is
``prediction.PredictionHooks``. It writes no files: the run writer (``bayes_core.runs.writer``)
writes what the model returns; ``train`` is ``fit`` plus the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

import bayes_core.fallback as fallback_rules
from bayes_core import diagnostics, draws, forward, samplers
from bayes_core.checks.hooks import SBCHooks
from bayes_core.config import InferenceParameter, ModelMetadata, load_config_of
from bayes_core.data import DataSchema, OptionRef, read_csv
from bayes_core.errors import (BayesCoreError, DataValidationError, DeviceUnavailableError, InvalidParametersError,
                               NotTrainedError)
from bayes_core.fallback import NO_FALLBACK, Fallback
from bayes_core.forms import validate_fields
from bayes_core.loglik import LikelihoodHooks
from bayes_core.prediction import PredictionHooks
from bayes_core.priors import prior_problems
from bayes_core.runs import store, writer
from bayes_core.settings import SamplerSettings, check_trace_size

log = logging.getLogger("bayes_core")

PPC_MAX_VALUES = 5_000_000  # replicated values kept in a run's posterior predictive group
FIT_PATHS = ("mcmc", "fallback", "closed_form", "approximate")
#: The fit method recorded for the ``approximate`` settings method (``samplers._fit_advi``).
APPROXIMATE_METHOD = "ADVI"
#: The user's errors: never a reason to fall back (they propagate so the user can fix them).
_USER_ERRORS = (DataValidationError, InvalidParametersError, DeviceUnavailableError)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class FitResult:
    """An in-memory fit: the trace with its summary, diagnostics and sampler information.

    ``path`` says which way the estimate came (one of ``FIT_PATHS``), ``method`` by what (the
    sampler, or the fallback / closed-form method). ``idata`` is None only for a fallback that has
    no posterior draws; such a fit cannot be saved as a run.
    """

    idata: Any
    summary: pd.DataFrame
    diagnostics: dict
    info: dict
    data: pd.DataFrame
    settings: SamplerSettings
    options: dict
    priors: dict
    path: str = "mcmc"
    method: str = ""
    created_at: datetime = field(default_factory=_now)

    @property
    def fallback(self) -> Fallback:
        return Fallback.from_dict(self.diagnostics.get("fallback"))


class BaseBayesianModel(LikelihoodHooks, SBCHooks, PredictionHooks):
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
    #: Every prior hyper-parameter the model reads and its kind ("positive", "real", ... see
    #: ``bayes_core.priors``); configs and priors given at construction are checked against it.
    prior_constraints: ClassVar[dict[str, str]] = {}

    #: The fallback's name ("OLS", ...) when the model defines ``fallback_fit``; None: no fallback,
    #: sampling errors propagate and a badly converged fit is returned as it is (its verdict says so).
    fallback_method: ClassVar[str | None] = None
    #: With a fallback: keep a sampled but badly converged trace (flagged; its diagnostics show why)
    #: instead of calling ``fallback_fit``. A sampling error always calls ``fallback_fit``.
    keep_failed_trace: ClassVar[bool] = False
    #: Whether the last fit came from the fallback, and why (set by every ``fit`` of such a model).
    fallback: Fallback = NO_FALLBACK
    #: The run ``load_run(None)`` returns (set by ``bayes_core.load_model(name, ref)``); None: latest.
    bound_run: "store.Run | None" = None

    def __init__(self, metadata: ModelMetadata | None = None, options: Mapping[str, Any] | None = None,
                 priors: Mapping[str, float] | None = None):
        if metadata is None:
            if self.config_id is None:
                raise BayesCoreError(f"{type(self).__name__} needs its ModelMetadata (it names no config_id).")
            metadata = load_config_of(self.config_id)
        self.metadata = metadata
        self.options = self.validate_options(options or {})
        self.priors = {**metadata.priors, **(priors or {})}
        bad_priors = prior_problems(self.prior_constraints, priors or {}, require_all=False)
        if bad_priors:
            raise InvalidParametersError({f"priors.{k}": v for k, v in bad_priors.items()})
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

    def predict_rows(self, run: store.Run, requests: list[dict[str, Any]]) -> pd.DataFrame:
        raise NotImplementedError

    def run_options(self, run: store.Run | None) -> dict[str, list[Any]]:
        return {}

    def build_reports(self, fit: FitResult) -> dict[str, dict]:
        return {}

    def inference_params_for(self, run: store.Run | None) -> list[InferenceParameter]:
        """The inference form's fields. Default: the config's. Override when the fields themselves
        depend on the trained run (e.g. one input per feature the run was trained on)."""
        return list(self.metadata.inference_params)

    def fallback_fit(self, data: pd.DataFrame, settings: SamplerSettings, reason: str) -> FitResult:
        """The simpler estimate used when sampling raised or failed badly (``reason`` says which);
        ``self.fallback`` already holds the flag. Models with a ``fallback_method`` override it."""
        raise NotImplementedError(f"{type(self).__name__} names a fallback_method but defines no fallback_fit")

    def priors_as_data(self) -> dict[str, Any]:
        """The prior hyper-parameters as PyMC data containers of the model being built (call inside
        ``with pm.Model()``): a warm worker then binds other priors to an already compiled model
        instead of compiling it again (``bayes_core.compiled``)."""
        import pymc as pm

        return {name: pm.Data(name, float(value)) for name, value in self.priors.items()}

    def compile_context(self) -> tuple:
        """What a compiled model is kept under besides its graph's structure: model id, config hash
        and options. A process keeping compiled models never reuses one across a change of these."""
        return (self.model_id, self.metadata.config_hash, tuple(sorted((k, repr(v)) for k, v in self.options.items())))

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

    def with_options(self, options: Mapping[str, Any]) -> "BaseBayesianModel":
        """The same model (metadata, priors) with other options, validated as the constructor does."""
        return type(self)(self.metadata, options=options, priors=self.priors)

    def option_ref(self, name: str, many: bool = False) -> OptionRef:
        """The model option ``name`` (with its label) for a schema column it names: a missing column
        is then reported as the option to set (``many``: the option lists several columns)."""
        spec = next((s for s in self.metadata.model_options if s.name == name), None)
        return OptionRef(name, spec.display_label if spec else "", many)

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

    def _loaded(self, data: Any) -> pd.DataFrame:
        """A DataFrame is taken as already loaded; anything else goes through ``load_data``."""
        return data if isinstance(data, pd.DataFrame) else self.load_data(data)

    # -- settings and resources ----------------------------------------------------------------
    def training_settings(self, **overrides: Any) -> SamplerSettings:
        """The config's training defaults with ``overrides`` (None = keep the default), validated:
        ``InvalidParametersError`` names every bad or unknown setting."""
        merged = {**self.metadata.training.sampler_settings(), **{k: v for k, v in overrides.items() if v is not None}}
        return SamplerSettings.parse(merged)

    def check_resources(self, data: Any = None, settings: SamplerSettings | Mapping[str, Any] | None = None) -> int:
        """Refuse (``TraceTooLargeError``) settings whose trace would not fit in memory, before any
        sampling; returns the estimated bytes. ``fit`` checks this itself; job submission calls it
        to refuse a job up front. ``data`` as for ``load_data`` (a DataFrame is taken as loaded)."""
        if not isinstance(settings, SamplerSettings):
            settings = self.training_settings(**(settings or {}))
        data = self._loaded(data)
        return self._check_trace_size(self.build_model(data), data, settings)

    def _ppc_draws(self, n_rows: int) -> int:
        """Draws kept for the posterior predictive group: thinned, and capped by size (500 draws
        of a million observations would be 4 GB)."""
        return min(self.metadata.training.posterior_predictive_draws, max(1, PPC_MAX_VALUES // max(n_rows, 1)))

    def _check_trace_size(self, model, data: pd.DataFrame, settings: SamplerSettings) -> int:
        values_per_draw, observed = samplers.value_counts(model)
        kept = min(self._ppc_draws(len(data)), settings.chains * settings.draws) \
            if self.metadata.training.posterior_predictive_draws else 0
        return check_trace_size(values_per_draw, settings, kept * max(observed, len(data)))

    # -- sampling ----------------------------------------------------------------------------
    def sample_prior_predictive(self, data: pd.DataFrame | None = None, draws: int = 500, seed: int = 0):
        """Prior and prior predictive draws (``DataTree`` with ``prior``/``prior_predictive``)."""
        data = self._loaded(data)
        return forward.sample_prior_predictive(self.build_predictive_model(data), draws, seed)

    def fit(self, data: pd.DataFrame | str | Path | bytes | None = None,
            progress: samplers.ProgressCallback | None = None, **settings: Any) -> FitResult:
        """The one fit path, in memory (no run written): sample, judge convergence and — for a model
        with a fallback — switch to ``fallback_fit`` when sampling raised or failed badly, flagged
        (``self.fallback``, ``FallbackWarning``). ``FitResult.path`` says which path ran.

        Settings, device, data and the trace's size are checked first: their errors are the user's
        to fix, never a reason to fall back.
        """
        if progress is not None and not callable(progress):  # e.g. the old fit(X, y) of a notebook
            raise InvalidParametersError({"progress": (
                f"must be a progress callback, not {type(progress).__name__}: fit takes the data (a frame or CSV) "
                "and keyword settings; other inputs have named conveniences (fit_xy(X, y), fit_returns(returns))")})
        progress = progress or samplers._noop
        started = _now()
        settings_obj = self.training_settings(**settings)
        samplers.resolve(settings_obj)  # a device error before any data or compile work
        data = self.load_data(data)
        if self.fallback_method is None:
            result = self._sample(data, settings_obj, progress)
        else:
            result = self._sample_or_fall_back(data, settings_obj, progress)
        result.created_at = started
        self._fit = result
        return result

    def _sample(self, data: pd.DataFrame, settings: SamplerSettings, progress: samplers.ProgressCallback) -> FitResult:
        model = self.build_model(data)
        self._check_trace_size(model, data, settings)
        idata, info = samplers.sample(model, settings, progress, cache_key=self.compile_context())
        progress(samplers.Progress("posterior predictive", message="thinned posterior predictive"))
        t0 = time.perf_counter()
        self._add_posterior_predictive(idata, data, settings)
        info["timings"]["posterior_predictive_s"] = time.perf_counter() - t0
        if settings.method == "approximate":
            return self._fit_result(idata, info, data, settings, path="approximate", method=APPROXIMATE_METHOD)
        return self._fit_result(idata, info, data, settings, path="mcmc", method=info["sampler"])

    def _sample_or_fall_back(self, data: pd.DataFrame, settings: SamplerSettings,
                             progress: samplers.ProgressCallback) -> FitResult:
        try:
            result, reason = self._sample(data, settings, progress), None
        except _USER_ERRORS:
            raise
        except Exception as exc:  # sampler, compile or numerical failure: the fallback takes over
            result, reason = None, f"sampling failed: {type(exc).__name__}: {exc}"
        else:
            reason = fallback_rules.convergence_failure(result.diagnostics)
        if reason is None:
            self.fallback = NO_FALLBACK
            result.diagnostics["fallback"] = NO_FALLBACK.to_dict()
            return result
        self.fallback = fallback_rules.announce(self, self.fallback_method, reason)
        if result is not None and self.keep_failed_trace:
            result.diagnostics["fallback"] = self.fallback.to_dict()
            result.path, result.method = "fallback", self.fallback_method
            return result
        return self.fallback_fit(data, settings, reason)

    def fit_from_draws(self, draws: Mapping[str, np.ndarray], data: pd.DataFrame,
                       settings: SamplerSettings, *, method: str, dims: Mapping[str, list[str]] | None = None,
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
        if fallback is None:
            return self._fit_result(idata, info, data, settings, path="closed_form", method=method)
        fit = self._fit_result(idata, info, data, settings, path="fallback", method=fallback.get("method") or method)
        self._flag_fallback(fit.diagnostics, fallback)
        return fit

    def fit_without_draws(self, data: pd.DataFrame, settings: SamplerSettings, *, method: str,
                          fallback: Mapping[str, Any]) -> FitResult:
        """A fallback's ``FitResult`` when it has no posterior draws (no trace: it cannot be saved
        as a run, and ``train`` fails with the reason)."""
        diag = {"verdict": diagnostics.GOOD, "verdicts": {}}
        self._flag_fallback(diag, fallback)
        self._fit = FitResult(None, pd.DataFrame(), diag, {"sampler": method, "device": "cpu", "timings": {}}, data,
                              settings, dict(self.options), dict(self.priors), path="fallback", method=method)
        return self._fit

    @staticmethod
    def _flag_fallback(diag: dict, fallback: Mapping[str, Any]) -> None:
        diag["verdicts"]["fallback"] = diagnostics.WARNING
        diag["verdict"] = diagnostics.worst(*diag["verdicts"].values())
        diag["fallback"] = dict(fallback)

    def _fit_result(self, idata, info: dict, data: pd.DataFrame, settings: SamplerSettings, *, path: str,
                    method: str) -> FitResult:
        """Summary and diagnostics of a trace, kept as the model's current fit."""
        summary = diagnostics.summary_table(idata)
        diag = diagnostics.compute_diagnostics(idata, summary)
        if path == "approximate":
            diagnostics.mark_approximate(diag, info.get("approximation"))
        self._fit = FitResult(idata, summary, diag, info, data, settings, dict(self.options), dict(self.priors),
                              path=path, method=method)
        return self._fit

    def _add_posterior_predictive(self, idata, data: pd.DataFrame, settings: SamplerSettings) -> None:
        if self.metadata.training.posterior_predictive_draws == 0:
            return
        posterior = idata["posterior"].to_dataset()
        step = draws.thinning_step(posterior.sizes["chain"] * posterior.sizes["draw"], self._ppc_draws(len(data)))
        thinned = posterior.isel(draw=slice(None, None, step))
        pp = forward.sample_posterior_predictive(self.build_predictive_model(data), thinned, random_seed=settings.seed)
        for group in ("posterior_predictive", "observed_data"):
            if group in pp.children:
                idata[group] = pp[group]

    def train(self, data: pd.DataFrame | str | Path | bytes | None = None,
              progress: samplers.ProgressCallback | None = None, run_id: str | None = None,
              **settings: Any) -> store.Run:
        """``fit`` and write the run atomically (``runs.writer``); returns the saved run. A fit without
        a trace (a fallback with no draws) fails: a run needs a trace."""
        progress = progress or samplers._noop
        self.training_settings(**settings)  # bad settings are refused before a staging directory exists
        with writer.staged_run(self.model_id, run_id) as staged:
            log.info("training %s (run %s) with settings %s, options %s", self.model_id, staged.run_id, settings,
                     self.options)
            fit = self.fit(data, progress=progress, **settings)
            progress(samplers.Progress("saving"))
            writer.write_run_files(staged.path, self, fit, staged.run_id)
            log.info("run %s written: %s", staged.run_id, diagnostics.verdict_sentence(fit.diagnostics))
        return staged.run()

    def graph(self, data: pd.DataFrame | None = None):
        """The model's DAG (``graphviz.Digraph``) from the plain predictive model."""
        import pymc as pm

        return pm.model_to_graphviz(self.build_predictive_model(self._loaded(data)))

    # -- runs ----------------------------------------------------------------------------------
    def ensure_output_dirs(self) -> Path:
        return store.ensure_runs_dir(self.model_id)

    def get_output_paths(self, run_id: str | None = None) -> dict[str, Path]:
        run_id = run_id or store.latest_run_id(self.model_id)
        paths = {"model_dir": store.model_dir(self.model_id), "runs_dir": store.runs_dir(self.model_id)}
        if run_id:
            run_dir = store.run_path(self.model_id, run_id)
            paths.update(run_dir=run_dir, trace=run_dir / store.TRACE_FILE,
                         summary=run_dir / store.SUMMARY_FILE, diagnostics=run_dir / store.DIAGNOSTICS_FILE,
                         metadata=run_dir / store.METADATA_FILE, data=run_dir / store.DATA_FILE,
                         dag=run_dir / store.DAG_DOT_FILE, log=run_dir / store.LOG_FILE)
        return paths

    def has_trained_model(self) -> bool:
        return store.latest_run_id(self.model_id) is not None

    def get_latest_trace(self):
        run_id = store.latest_run_id(self.model_id)
        return store.Run(self.model_id, run_id).idata if run_id else None

    def load_run(self, run: store.Run | str | None = None) -> store.Run:
        """A run object as it is, or the run a reference names (a run id, "latest", "latest-converged",
        an alias, "v<model version>"); None = the bound run (``bayes_core.load_model``) or the latest."""
        if isinstance(run, store.Run):
            return run
        if run is None and self.bound_run is not None:
            return self.bound_run
        return store.load_run(self.model_id, run)

    def sample_posterior_predictive(self, run: store.Run | str | None = None):
        """The saved (thinned) posterior predictive of a run, with its observed data."""
        run = self.load_run(run)
        if "posterior_predictive" not in run.idata.children:
            raise BayesCoreError(f"Run {run.run_id} has no posterior predictive group.")
        return run.idata


def require_fit(obj: Any, attr: str = "_fit") -> Any:
    value = getattr(obj, attr, None)
    if value is None:
        raise NotTrainedError(f"{type(obj).__name__} has not been fitted yet: call fit(...) first.")
    return value
