"""``python -m bayes_core check sbc|sensitivity|list``: model checks from the command line.

``add_parser(subparsers, common)`` mounts the ``check`` group on the main CLI. Each subcommand is
one function in ``COMMANDS`` that adds its parser to the group (and sets ``func``, a handler taking
``(args, extra)`` and returning an exit code); a new check is one more such function. With
``--json`` every command prints exactly one JSON object: ``sbc`` →
``{"parameters": [{"name", "p_value", "verdict", "ranks_ok"}], "fits_failed", "n_sims", "check_id",
"verdict", ...}``, ``sensitivity`` → ``{"run_id", "parameters": [{"name", "prior", "likelihood",
"diagnosis"}], "verdict", ...}``, ``list`` → ``{"model_id", "checks": [...]}``. ``sbc`` runs in this process (as
``train`` does) and exits with code 3 when a parameter fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from bayes_core.cli_args import no_extra_arguments, whole_number

EXIT_OK, EXIT_FAILED = 0, 3
AddCommand = Callable[[Any, list], None]


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, default=str) if args.json else text)


# -- sbc ---------------------------------------------------------------------------------------------
def add_sbc(sub, parents: list) -> None:
    from bayes_core.checks.sbc import DEFAULTS, SIMS_BOUNDS

    text = "simulation-based calibration: do the model's fits recover parameters drawn from its own prior?"
    p = sub.add_parser("sbc", parents=parents, help=text, description=text)
    p.add_argument("model_id")
    p.add_argument("--sims", type=whole_number(*SIMS_BOUNDS), default=DEFAULTS["sims"],
                   help=f"simulated data sets, each fitted once ({SIMS_BOUNDS[0]}–{SIMS_BOUNDS[1]}; "
                        f"default {DEFAULTS['sims']})")
    for name in ("draws", "tune", "chains", "seed"):  # bounded as settings.SamplerSettings bounds them
        p.add_argument(f"--{name}", type=int, help=f"per fit (default {DEFAULTS[name]})")
    p.add_argument("--data", type=Path,
                   help="CSV whose size and covariates the simulations keep (default: the example data)")
    p.set_defaults(func=cmd_sbc)


def cmd_sbc(args: argparse.Namespace, extra: list[str]) -> int:
    from bayes_core.checks import sbc, store
    from bayes_core.cli_args import readable_file
    from bayes_core.registry import get_registry

    no_extra_arguments(extra)
    if args.data is not None:
        readable_file(args.data, "--data")
    model = get_registry().load_model_instance(args.model_id)
    result = sbc.run_sbc(model, args.data, sims=args.sims, draws=args.draws, tune=args.tune, chains=args.chains,
                         seed=args.seed, progress=None if args.json else _print_progress)
    saved = store.write_check(model.model_id, sbc.KIND, result)
    payload = {"check_id": saved["check_id"], "model_id": model.model_id, "n_sims": saved["n_sims"],
               "fits_failed": saved["fits_failed"], "fits_errored": saved["fits_errored"],
               "verdict": saved["verdict"], "settings": saved["settings"],
               "parameters": [{k: p[k] for k in ("name", "p_value", "verdict", "ranks_ok")} for p in saved["parameters"]]}
    lines = [f"\nSBC check {saved['check_id']} of {model.model_id}: {saved['n_sims']} simulations, "
             f"{saved['fits_failed']} fit(s) failed ({saved['fits_errored']} raised)", f"{'PARAMETER':28} P-VALUE  BAND  VERDICT"]
    for p in payload["parameters"]:
        shown = "–" if p["p_value"] is None else f"{p['p_value']:.3f}"
        lines.append(f"{p['name']:28} {shown:8} {'ok' if p['ranks_ok'] else 'out':5} {p['verdict']}")
    lines.append(f"verdict: {saved['verdict']}")
    _emit(args, payload, "\n".join(lines))
    return EXIT_FAILED if saved["verdict"] == "fail" else EXIT_OK


def _print_progress(p) -> None:
    print(f"\r{p.phase:12} {p.message[:40]:40}", end="", file=sys.stderr, flush=True)


# -- sensitivity -------------------------------------------------------------------------------------
def add_sensitivity(sub, parents: list) -> None:
    text = ("prior sensitivity of a run: does power-scaling the prior or the likelihood move each parameter's "
            "posterior? (computed once from the run's draws, stored in the run)")
    p = sub.add_parser("sensitivity", parents=parents, help=text, description=text)
    p.add_argument("model_id")
    p.add_argument("--run", default="latest", metavar="REF",
                   help="a run id, latest, latest-converged, an alias or v<model version> (default latest)")
    p.add_argument("--force", action="store_true", help="compute again even if stored")
    p.set_defaults(func=cmd_sensitivity)


def cmd_sensitivity(args: argparse.Namespace, extra: list[str]) -> int:
    from bayes_core.checks import sensitivity
    from bayes_core.registry import get_registry

    no_extra_arguments(extra)
    model_id = get_registry().get_model_metadata(args.model_id).model_id  # an unknown model is named
    result = sensitivity.load(model_id, args.run, force=args.force)
    payload = {"run_id": result["run_id"], "model_id": model_id, "threshold": result["threshold"],
               "verdict": result["verdict"], "power_scaled_priors": result["power_scaled_priors"],
               "draws_used": result["draws_used"], "pareto_k": result["pareto_k"], "caveat": result.get("caveat"),
               "unreliable": result.get("unreliable"), "recomputed_because": result.get("recomputed_because"),
               "scope": result.get("scope"),
               "parameters": [{k: p[k] for k in ("name", "prior", "likelihood", "diagnosis")}
                              for p in result["parameters"]]}
    lines = [f"prior sensitivity of run {result['run_id']} ({model_id}); priors power-scaled: "
             f"{', '.join(result['power_scaled_priors'])}", f"{'PARAMETER':28} {'PRIOR':>8} {'LIKELIHOOD':>10}  DIAGNOSIS"]
    for p in payload["parameters"]:
        shown = [("–" if v is None else f"{v:.3f}") for v in (p["prior"], p["likelihood"])]
        lines.append(f"{p['name']:28} {shown[0]:>8} {shown[1]:>10}  {p['diagnosis']}")
    lines += [f"threshold {result['threshold']}: {result['verdict']}"] + [
        f"note: {payload[k]}" for k in ("scope", "unreliable", "caveat", "recomputed_because") if payload[k]]
    _emit(args, payload, "\n".join(lines))
    return EXIT_OK


# -- list --------------------------------------------------------------------------------------------
def add_list(sub, parents: list) -> None:
    from bayes_core.checks.store import KINDS

    p = sub.add_parser("list", parents=parents, help="the model's stored checks, newest first")
    p.add_argument("model_id")
    p.add_argument("--kind", choices=KINDS, help="only checks of this kind")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    from bayes_core.checks import store
    from bayes_core.registry import get_registry

    no_extra_arguments(extra)
    model_id = get_registry().get_model_metadata(args.model_id).model_id  # an unknown model is named
    rows = store.list_checks(model_id, args.kind)
    lines = [f"{'CHECK':30} {'KIND':6} {'SIMS':>5} {'FAILED':>6} VERDICT"]
    for r in rows:
        if r["status"] == store.UNREADABLE:
            lines.append(f"{r['check_id']:30} {r['kind']:6} unreadable: {r['problem']}")
        else:
            lines.append(f"{r['check_id']:30} {r['kind']:6} {r['n_sims']:>5} {r['fits_failed']:>6} {r['verdict']}")
    _emit(args, {"model_id": model_id, "checks": rows}, "\n".join(lines) if rows else f"no checks of {model_id} yet")
    return EXIT_OK


#: The ``check`` group's subcommands: each adds its parser to the group. A new check is one entry.
COMMANDS: list[AddCommand] = [add_sbc, add_sensitivity, add_list]


def add_parser(subparsers, common: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parents = [common] if common is not None else []
    group = subparsers.add_parser("check", parents=parents, help="model checks: SBC, prior sensitivity, listing stored checks",
                                  description="Checks of a model that need many fits, stored beside its runs.")
    sub = group.add_subparsers(dest="check_command", required=True)
    for add in COMMANDS:
        add(sub, parents)
    return group
