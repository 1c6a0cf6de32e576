"""Posterior draws of a run cached as plain numpy arrays, for fast predictions.

Loading a trace (NetCDF → xarray) costs far more than predicting from it, so a run's draws are
read once per process and kept as numpy arrays with lookup tables for their coordinates.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from bayes_core.artifacts import Run

DEFAULT_MAX_DRAWS = 2000


@lru_cache(maxsize=16)
def _load_draws(run_dir: str, max_draws: int) -> dict[str, Any]:
    run = Run.from_path(run_dir)
    posterior = run.idata["posterior"].to_dataset()
    draws: dict[str, Any] = {name: arr for name, arr in run.posterior_arrays(max_draws=max_draws).items()}
    coords = {dim: [str(v) for v in posterior[dim].values] for dim in posterior.dims if dim not in ("chain", "draw")}
    draws["coords"] = coords
    for dim, values in coords.items():
        draws[f"{dim}_index"] = {v: i for i, v in enumerate(values)}
    draws["n_draws"] = next((a.shape[0] for a in draws.values() if isinstance(a, np.ndarray)), 0)
    return draws


def draws_for_run(run: Run, max_draws: int = DEFAULT_MAX_DRAWS) -> dict[str, Any]:
    """``{var: (draws, ...) ndarray, "coords": {dim: [labels]}, "<dim>_index": {label: i}}``."""
    return _load_draws(str(run.path), max_draws)




# -- player props ---------------------------------------------------------------------------------
# The serving side of ``bayes_core.models.player_props``: posterior draws as numpy arrays laid out
# (prop, entity, draw) so that gathering the requested players gives contiguous (request, draw)
# blocks, and exact Poisson / Negative-Binomial tails per draw (no simulation noise).

PROPS: tuple[str, ...] = ("goals", "shots", "cards")
PROP_FAMILY: dict[str, str] = {"goals": "poisson", "shots": "negbinom", "cards": "poisson"}
DEFAULT_LINES: dict[str, tuple[float, ...]] = {"goals": (0.5,), "shots": (0.5, 1.5, 2.5), "cards": (0.5,)}
PROPS_INPUTS_REPORT = "model_inputs"  # reports/model_inputs.json: features and their scaling
_POSTERIOR_VARS = ("intercept", "home", "player_z", "player_chol", "opponent_effect", "shots_phi", "beta")
_CHUNK = 2048  # requests per vectorised block: keeps the (request × draw) temporaries in cache


def count_pmf(k_max: int, rate: np.ndarray, family: str, phi: np.ndarray | None = None) -> np.ndarray:
    """P(y = k) for k = 0..k_max, stacked on a new first axis (exact; ``phi`` broadcasts).

    The pmf recursion p(k+1) = p(k)·r(k) needs no special functions: for the small counts of
    props it is a handful of vector operations.
    """
    out = np.empty((k_max + 1, *np.shape(rate)))
    if family == "poisson":
        out[0] = np.exp(-rate)
        for j in range(k_max):
            out[j + 1] = out[j] * rate / (j + 1)
    elif family == "negbinom":
        q = rate / (phi + rate)  # p(k+1) = p(k)·(k+φ)/(k+1)·μ/(φ+μ); p(0) = (φ/(φ+μ))^φ
        out[0] = np.exp(phi * np.log1p(-q))
        for j in range(k_max):
            out[j + 1] = out[j] * (j + phi) / (j + 1) * q
    else:
        raise ValueError(f"unknown count family {family!r}")
    return out


def count_sf(line: float, rate: np.ndarray, family: str, phi: np.ndarray | None = None) -> np.ndarray:
    """P(y > line) for each element of ``rate``: 1 − Σ_{k ≤ floor(line)} pmf(k), exact.

    The same recursion as ``count_pmf``, accumulated in place (no (k, ...) stack in the hot path).
    """
    k_max = int(np.floor(line))
    if k_max < 0:
        return np.ones_like(rate)
    if family == "poisson":
        pmf = np.exp(-rate)
        cdf = pmf.copy()
        for j in range(k_max):
            pmf *= rate / (j + 1)
            cdf += pmf
    elif family == "negbinom":
        q = rate / (phi + rate)
        pmf = np.exp(phi * np.log1p(-q))
        cdf = pmf.copy()
        for j in range(k_max):
            pmf *= (j + phi) / (j + 1) * q
            cdf += pmf
    else:
        raise ValueError(f"unknown count family {family!r}")
    return np.clip(1.0 - cdf, 0.0, 1.0)


class PropsDraws:
    """Posterior draws of the player-props model as plain numpy arrays (no xarray after init)."""

    def __init__(self, arrays: dict[str, np.ndarray], players: list[str], opponents: list[str],
                 features: list[str], feature_center: list[float], feature_scale: list[float]):
        self.players, self.opponents, self.features = list(players), list(opponents), list(features)
        self.n_draws = int(arrays["intercept"].shape[0])
        z, chol = arrays["player_z"], arrays["player_chol"]           # (D, P, K), (D, K, K)
        effect = np.einsum("dpj,dkj->kpd", z, chol)                     # player effects, (K, P, D)
        zeros = np.zeros((len(PROPS), 1, self.n_draws))
        # One extra all-zero row: the league-average player / opponent for unknown ids.
        self.player = np.ascontiguousarray(np.concatenate([effect, zeros], axis=1))
        opp = np.moveaxis(arrays["opponent_effect"], 0, -1)            # (O, K, D) → (K, O, D) below
        self.opponent = np.ascontiguousarray(np.concatenate([np.moveaxis(opp, 1, 0), zeros], axis=1))
        self.intercept = np.ascontiguousarray(arrays["intercept"].T)    # (K, D)
        self.home = np.ascontiguousarray(arrays["home"].T)              # (K, D)
        self.phi = np.asarray(arrays["shots_phi"], dtype=float).reshape(-1)  # (D,)
        beta = arrays.get("beta")
        self.beta = (np.ascontiguousarray(np.moveaxis(beta, 0, -1)) if features      # (F, K, D)
                     else np.zeros((0, len(PROPS), self.n_draws)))
        self.center = np.asarray(feature_center, dtype=float)
        self.scale = np.asarray(feature_scale, dtype=float)
        import pandas as pd

        self._player_index = pd.Index(self.players)
        self._opponent_index = pd.Index(self.opponents)

    @classmethod
    def from_posterior(cls, posterior, inputs: dict[str, Any], n_samples: int | None = None) -> "PropsDraws":
        """From an ``xarray.Dataset`` posterior (chains stacked, thinned evenly to ``n_samples``)."""
        arrays = {}
        for name in _POSTERIOR_VARS:
            if name not in posterior.data_vars:
                continue
            arr = np.asarray(posterior[name].values, dtype=float)
            arr = arr.reshape((-1, *arr.shape[2:]))
            if n_samples is not None and arr.shape[0] > n_samples:
                arr = arr[np.linspace(0, arr.shape[0] - 1, n_samples).round().astype(int)]
            arrays[name] = arr
        return cls(arrays, [str(v) for v in posterior["player"].values],
                   [str(v) for v in posterior["opponent"].values], inputs.get("features", []),
                   inputs.get("feature_center", []), inputs.get("feature_scale", []))

    # -- the vectorised core -----------------------------------------------------------------------
    def encode(self, player_ids, opponent_ids) -> tuple[np.ndarray, np.ndarray]:
        """Row indices into the effect tables; unknown ids map to the extra all-zero row (−1)."""
        p = self._player_index.get_indexer(np.asarray(player_ids, dtype=object).astype(str))
        o = self._opponent_index.get_indexer(np.asarray(opponent_ids, dtype=object).astype(str))
        return p, o

    def expected_counts(self, p_idx: np.ndarray, o_idx: np.ndarray, home: np.ndarray, x: np.ndarray,
                        minutes: np.ndarray) -> np.ndarray:
        """E[y | draw] for each prop, request and draw: (K, R, D). Unknown indices are −1 (= zeros)."""
        xs = (x - self.center) / self.scale if self.features else x
        exposure = (np.asarray(minutes, dtype=float) / 90.0)[:, None]
        home = np.asarray(home, dtype=float)[:, None]
        out = np.empty((len(PROPS), len(p_idx), self.n_draws))
        for k in range(len(PROPS)):
            eta = self.player[k][p_idx] + self.opponent[k][o_idx]
            eta += self.intercept[k] + home * self.home[k]
            if self.features:
                eta += xs @ self.beta[:, k, :]
            np.exp(eta, out=eta)
            out[k] = eta * exposure
        return out

    def summarise(self, rates: np.ndarray, lines: dict[str, tuple[float, ...]], credible_level: float
                  ) -> dict[str, dict[str, np.ndarray]]:
        """Per prop: mean and credible interval of the expected count, P(y > line) per line (R,)."""
        lo, hi = (1 - credible_level) / 2, 1 - (1 - credible_level) / 2
        out = {}
        for k, prop in enumerate(PROPS):
            lam = rates[k]
            q = np.quantile(lam, [lo, hi], axis=1)
            phi = self.phi[None, :] if PROP_FAMILY[prop] == "negbinom" else None
            out[prop] = {
                "mean": lam.mean(axis=1), "ci_low": q[0], "ci_high": q[1],
                "p_over": {line: count_sf(line, lam, PROP_FAMILY[prop], phi).mean(axis=1) for line in lines[prop]},
            }
        return out


def _inputs_report(run_dir: str) -> dict[str, Any]:
    import json
    from pathlib import Path

    from bayes_core.artifacts import REPORTS_DIR
    from bayes_core.errors import CorruptRunError

    path = Path(run_dir) / REPORTS_DIR / f"{PROPS_INPUTS_REPORT}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptRunError(f"Run {Path(run_dir).name} has no readable {path.name} ({exc}); train again.") from exc


def _open_posterior(run_dir: str):
    """Only the posterior group of the trace (the predictive groups are not read)."""
    import xarray as xr

    from bayes_core.artifacts import TRACE_FILE
    from bayes_core.errors import CorruptRunError

    path = f"{run_dir}/{TRACE_FILE}"
    try:
        with xr.open_dataset(path, group="posterior") as ds:
            return ds[[v for v in _POSTERIOR_VARS if v in ds.data_vars]].load()
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptRunError(f"cannot read the posterior of {path} ({type(exc).__name__}: {exc}); train again.") from exc


class BayesianPredictor:
    """Fast player-props predictions from a saved ``player_props`` run.

    Loads the run once and keeps at most ``n_samples`` evenly spaced posterior draws as numpy
    arrays. ``mean``/``ci_low``/``ci_high`` describe the expected count over the given minutes
    (parameter uncertainty); ``p_over[line]`` is the posterior predictive P(y > line), averaged
    exactly over draws. Unknown players/opponents get the league average (effect 0) and a warning.
    """

    def __init__(self, run_dir, n_samples: int = 1000):
        run = Run.from_path(run_dir)
        self.run_id, self.model_id, self.path = run.run_id, run.model_id, str(run.path)
        inputs = _inputs_report(self.path)
        self.draws = PropsDraws.from_posterior(_open_posterior(self.path), inputs, n_samples)
        self.lines = {p: tuple(inputs.get("lines", {}).get(p, DEFAULT_LINES[p])) for p in PROPS}

    @property
    def players(self) -> list[str]:
        return self.draws.players

    @property
    def opponents(self) -> list[str]:
        return self.draws.opponents

    @property
    def features(self) -> list[str]:
        return self.draws.features

    def predict_player(self, player_id, opponent_id, was_home: bool, features: dict[str, float] | None = None,
                       minutes: float = 90, credible_level: float = 0.9,
                       lines: dict[str, tuple[float, ...]] | None = None) -> dict[str, Any]:
        request = {"player_id": player_id, "opponent_id": opponent_id, "was_home": was_home,
                   "features": features, "minutes": minutes}
        return self.predict_batch([request], credible_level, lines)[0]

    def predict_batch(self, requests, credible_level: float = 0.9,
                      lines: dict[str, tuple[float, ...]] | None = None) -> list[dict[str, Any]]:
        """Requests as a list of dicts (``player_id, opponent_id, was_home, features, minutes``) or
        a DataFrame (feature values as columns); results in the shape of ``predict_player``."""
        arrays, warnings, lines = self._predict_arrays(requests, credible_level, lines)
        n = len(warnings)
        results: list[dict[str, Any]] = [{"warnings": w} for w in warnings]
        for prop in PROPS:
            a = arrays[prop]
            mean, lo, hi = a["mean"].tolist(), a["ci_low"].tolist(), a["ci_high"].tolist()
            over = {line: v.tolist() for line, v in a["p_over"].items()}
            for i in range(n):
                results[i][prop] = {"mean": mean[i], "ci_low": lo[i], "ci_high": hi[i],
                                    "p_over": {line: over[line][i] for line in lines[prop]}}
        return results

    def predict_frame(self, requests, credible_level: float = 0.9,
                      lines: dict[str, tuple[float, ...]] | None = None) -> "pd.DataFrame":
        """Flattened: one row per request, ``<prop>_mean``, ``_ci_low``, ``_ci_high``,
        ``<prop>_p_over_<line>`` and ``warnings`` (messages joined by "; ")."""
        import pandas as pd

        arrays, warnings, lines = self._predict_arrays(requests, credible_level, lines)
        cols: dict[str, Any] = {}
        for prop in PROPS:
            a = arrays[prop]
            cols.update({f"{prop}_mean": a["mean"], f"{prop}_ci_low": a["ci_low"], f"{prop}_ci_high": a["ci_high"]})
            cols.update({f"{prop}_p_over_{line:g}": v for line, v in a["p_over"].items()})
        cols["warnings"] = ["; ".join(w) for w in warnings]
        return pd.DataFrame(cols)

    def predictive_pmf(self, player_id, opponent_id, was_home: bool, features: dict[str, float] | None = None,
                       minutes: float = 90, k_max: int = 10) -> dict[str, np.ndarray]:
        """Posterior predictive P(y = k), k = 0..k_max, per prop (exact mixture over the draws)."""
        request = {"player_id": player_id, "opponent_id": opponent_id, "was_home": was_home,
                   "features": features, "minutes": minutes}
        players, opponents, home, mins, x = self._columns([request])
        p_idx, o_idx = self.draws.encode(players, opponents)
        rates = self.draws.expected_counts(p_idx, o_idx, home, x, mins)[:, 0, :]  # (K, D)
        return {prop: count_pmf(k_max, rates[k], PROP_FAMILY[prop],
                                self.draws.phi if PROP_FAMILY[prop] == "negbinom" else None).mean(axis=1)
                for k, prop in enumerate(PROPS)}

    # -- internals ---------------------------------------------------------------------------------
    def _predict_arrays(self, requests, credible_level: float, lines):
        if not 0 < credible_level < 1:
            raise ValueError(f"credible_level must be between 0 and 1 (got {credible_level})")
        lines = self._check_lines(lines)
        players, opponents, home, minutes, x = self._columns(requests)
        if np.any(~np.isfinite(minutes)) or np.any((minutes < 0) | (minutes > 120)):
            raise ValueError("minutes must lie between 0 and 120")
        p_idx, o_idx = self.draws.encode(players, opponents)
        warnings = self._warnings(players, opponents, p_idx, o_idx)
        parts = []
        for start in range(0, len(p_idx), _CHUNK):
            s = slice(start, start + _CHUNK)
            rates = self.draws.expected_counts(p_idx[s], o_idx[s], home[s], x[s], minutes[s])
            parts.append(self.draws.summarise(rates, lines, credible_level))
        merged = {prop: {"mean": np.concatenate([p[prop]["mean"] for p in parts]),
                         "ci_low": np.concatenate([p[prop]["ci_low"] for p in parts]),
                         "ci_high": np.concatenate([p[prop]["ci_high"] for p in parts]),
                         "p_over": {line: np.concatenate([p[prop]["p_over"][line] for p in parts])
                                    for line in lines[prop]}}
                  for prop in PROPS}
        return merged, warnings, lines

    def _check_lines(self, lines) -> dict[str, tuple[float, ...]]:
        out = dict(self.lines)
        for prop, values in (lines or {}).items():
            if prop not in PROPS:
                raise ValueError(f"unknown prop {prop!r} in lines (props: {', '.join(PROPS)})")
            values = tuple(float(v) for v in values)
            if any(not np.isfinite(v) or v < 0 or v > 100 for v in values):
                raise ValueError(f"lines for {prop} must be numbers between 0 and 100 (got {values})")
            out[prop] = values
        return out

    def _columns(self, requests):
        """(players, opponents, was_home, minutes, features matrix) as arrays, features checked."""
        import pandas as pd

        if isinstance(requests, pd.DataFrame):
            frame = requests
            missing = [f for f in self.features if f not in frame.columns]
            x = frame[[f for f in self.features if f in frame.columns]].to_numpy(dtype=float)
        else:
            requests = list(requests)
            frame = pd.DataFrame({key: [r.get(key) for r in requests]
                                  for key in ("player_id", "opponent_id", "was_home", "minutes")})
            feats = [r.get("features") or {} for r in requests]
            missing = sorted({f for fv in feats for f in self.features if fv.get(f) is None})
            x = np.array([[fv.get(f) for f in self.features] for fv in feats], dtype=float) if not missing \
                else np.zeros((len(requests), 0))
        if missing:
            raise ValueError(f"missing feature value(s): {', '.join(missing)} "
                             f"(this run was trained with features: {', '.join(self.features)})")
        if self.features and not np.all(np.isfinite(x)):
            raise ValueError(f"feature values must be finite numbers ({', '.join(self.features)})")
        x = x.reshape(len(frame), len(self.features))
        minutes = frame["minutes"].fillna(90).to_numpy(dtype=float) if "minutes" in frame else np.full(len(frame), 90.0)
        home = frame["was_home"].to_numpy().astype(bool)
        return frame["player_id"].to_numpy(), frame["opponent_id"].to_numpy(), home, minutes, x

    def _warnings(self, players, opponents, p_idx, o_idx) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in range(len(p_idx))]
        for i in np.flatnonzero(p_idx < 0):
            out[i].append(f"unknown player {players[i]!s}: league-average player used")
        for i in np.flatnonzero(o_idx < 0):
            out[i].append(f"unknown opponent {opponents[i]!s}: average opponent used")
        return out


@lru_cache(maxsize=8)
def _props_predictor(run_dir: str, n_samples: int) -> BayesianPredictor:
    return BayesianPredictor(run_dir, n_samples)


def props_predictor_for_run(run: Run, n_samples: int = 1000) -> BayesianPredictor:
    """The cached ``BayesianPredictor`` of a run (loaded once per process)."""
    return _props_predictor(str(run.path), n_samples)


def clear_cache() -> None:
    _load_draws.cache_clear()
    _props_predictor.cache_clear()
