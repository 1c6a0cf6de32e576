"""``python -m bayes_core runs list|show|alias|unalias|note|tag|compare|evaluate|delete|export|reproduce``.

``add_parser(subparsers, common)`` mounts the ``runs`` command on the main CLI (``bayes_core.cli``).
Each handler takes ``(args, extra)`` and returns an exit code; core errors propagate to the main CLI,
which prints them (``{"error": ...}``, exit 2, with ``--json``). With ``--json`` every command prints
exactly one JSON object: ``list`` → ``{"model_id", "runs": [...], "labels_error"}``, ``show`` → the
run, ``compare`` → ``{"runs", "settings_diff", "parameters", "elpd", "elpd_reason", ...}``,
``evaluate`` → the evaluation, ``reproduce`` → ``{"run_id", "identical", "agrees", "max_z", ...}``.
A RUN or REF is anything ``runs.refs`` resolves: a run id, latest, latest-converged, an alias, v1.0.0
(``delete`` takes a run id only).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from bayes_core.cli_args import check_output, readable_file
from bayes_core.errors import BayesCoreError

REF_HELP = "a run id, latest, latest-converged, an alias or v<model version>"


def add_parser(subparsers, common: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parents = [common] if common is not None else []
    runs = subparsers.add_parser("runs", parents=parents, help="run history: list, show, aliases, compare, bundles",
                                 description="A model's runs as a registry: history, aliases, tags and notes, "
                                             "comparison with PSIS-LOO, evaluation, reproducible bundles.")
    sub = runs.add_subparsers(dest="runs_command", required=True,
                              metavar="{list,show,alias,unalias,note,tag,compare,evaluate,delete,export,reproduce}")

    def command(name: str, func, text: str, model: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=parents, help=text, description=text)
        if model:
            p.add_argument("model_id")
        p.set_defaults(func=func)
        return p

    command("list", cmd_list, "the model's runs, newest first")
    command("show", cmd_show, "one run in full").add_argument("ref", nargs="?", default="latest", help=REF_HELP)
    p = command("alias", cmd_alias, "point an alias (production, candidate, ...) at a run (moving it is recorded)")
    p.add_argument("run", help=REF_HELP)
    p.add_argument("name", help="the alias: [a-z][a-z0-9_-]{0,31}")
    command("unalias", cmd_unalias, "remove an alias").add_argument("name")
    p = command("note", cmd_note, "set a run's note (empty text removes it)")
    p.add_argument("run", help=REF_HELP)
    p.add_argument("text")
    p = command("tag", cmd_tag, "set a run's tag KEY=VALUE (KEY= removes it)")
    p.add_argument("run", help=REF_HELP)
    p.add_argument("tag", metavar="KEY=VALUE")
    p = command("compare", cmd_compare, "compare two or more runs: settings, diagnostics, parameters, PSIS-LOO")
    p.add_argument("refs", nargs="+", metavar="REF", help=REF_HELP)
    p.add_argument("--var", action="append", dest="var_names", metavar="NAME", help="only this parameter; repeatable")
    p.add_argument("--hdi-prob", type=float, default=0.94)
    p = command("evaluate", cmd_evaluate, "PSIS-LOO, LOO-PIT and held-out metrics of a run (computed once)")
    p.add_argument("ref", nargs="?", default="latest", help=REF_HELP)
    p.add_argument("--force", action="store_true", help="compute again even if stored")
    p = command("delete", cmd_delete, "delete a run (refused while it holds an alias or a job uses its data)")
    p.add_argument("run_id")
    p.add_argument("--force", action="store_true", help="delete even so (its aliases, tags and note go too)")
    p = command("export", cmd_export, "export a run as a reproducible zip")
    p.add_argument("ref", help=REF_HELP)
    p.add_argument("--out", type=Path, required=True, metavar="FILE.zip")
    command("reproduce", cmd_reproduce, "train a new run from a bundle and check it against the bundle's draws",
            model=False).add_argument("bundle", type=Path, metavar="FILE.zip")
    return runs


# -- output ------------------------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """JSON-safe: NaN and ±inf become null (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _out(args: argparse.Namespace, payload: dict[str, Any], text: str) -> int:
    print(json.dumps(_clean(payload), default=str) if args.json else text)
    return 0


def _no_extra(extra: list[str] | None) -> None:
    if extra:
        raise BayesCoreError(f"Unknown argument(s): {' '.join(extra)}")


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec) if isinstance(value, (int, float)) else str(value)


def _resolve(model_id: str, ref: str) -> str:
    from bayes_core.runs import refs

    return refs.resolve(model_id, ref)


# -- handlers -------------------------------------------------------------------------------------------
def cmd_list(args, extra=None) -> int:
    from bayes_core.runs import history

    _no_extra(extra)
    payload = history.list_rows(args.model_id)
    lines = [f"{'RUN':30} {'VERDICT':10} {'VERSION':8} {'SAMPLER':8} {'DRAWS':>6} {'CH':>3} {'SECS':>7}  "
             "ALIASES / TAGS / EVALUATION"]
    for r in payload["runs"]:
        labels = ", ".join(r.get("aliases") or []) + " " + " ".join(f"{k}={v}" for k, v in (r.get("tags") or {}).items())
        lines.append(f"{r['run_id']:30} {r['verdict']:10} {_fmt(r.get('model_version')):8} {_fmt(r.get('sampler')):8} "
                     f"{_fmt(r.get('draws'), 'd'):>6} {_fmt(r.get('chains'), 'd'):>3} {_fmt(r.get('duration_s')):>7}  "
                     f"{labels.strip()} {r.get('evaluation') or ''}".rstrip())
        if r.get("note"):
            lines.append(f"{'':30} note: {r['note']}")
    if payload["labels_error"]:
        lines.append(f"\nwarning: {payload['labels_error']}")
    return _out(args, payload, "\n".join(lines) if payload["runs"] else f"{args.model_id} has no runs")


def cmd_show(args, extra=None) -> int:
    from bayes_core.runs import history

    _no_extra(extra)
    payload = history.show(args.model_id, args.ref)
    text = "\n".join(f"{k}: {v}" for k, v in payload.items() if k not in ("metadata", "diagnostics", "evaluation_detail"))
    return _out(args, payload, text)


def cmd_alias(args, extra=None) -> int:
    from bayes_core.runs import labels

    _no_extra(extra)
    entry = labels.set_alias(args.model_id, args.name, _resolve(args.model_id, args.run))
    moved = f" (moved from {entry['previous']})" if entry["action"] == "moved" else ""
    return _out(args, {"model_id": args.model_id, **entry}, f"{args.name} → {entry['run_id']}{moved}")


def cmd_unalias(args, extra=None) -> int:
    from bayes_core.runs import labels

    _no_extra(extra)
    entry = labels.remove_alias(args.model_id, args.name)
    return _out(args, {"model_id": args.model_id, **entry}, f"{args.name} removed (it named {entry['previous']})")


def cmd_note(args, extra=None) -> int:
    from bayes_core.runs import labels

    _no_extra(extra)
    run_id = _resolve(args.model_id, args.run)
    note = labels.set_note(args.model_id, run_id, args.text)
    return _out(args, {"model_id": args.model_id, "run_id": run_id, "note": note},
                f"note of {run_id}: {note}" if note else f"note of {run_id} removed")


def cmd_tag(args, extra=None) -> int:
    from bayes_core.runs import labels

    _no_extra(extra)
    key, sep, value = args.tag.partition("=")
    if not sep:
        raise BayesCoreError(f"A tag is KEY=VALUE (KEY= removes it), got {args.tag!r}.")
    run_id = _resolve(args.model_id, args.run)
    tags = labels.set_tag(args.model_id, run_id, key.strip(), value)
    return _out(args, {"model_id": args.model_id, "run_id": run_id, "tags": tags},
                f"tags of {run_id}: " + (" ".join(f"{k}={v}" for k, v in tags.items()) or "none"))


def cmd_compare(args, extra=None) -> int:
    from bayes_core.runs.compare import compare_runs

    _no_extra(extra)
    if len(args.refs) < 2:
        raise BayesCoreError("Name at least two runs to compare (REF REF [REF...]).")
    payload = compare_runs(args.model_id, args.refs, var_names=args.var_names, hdi_prob=args.hdi_prob)
    return _out(args, payload, _compare_text(payload))


def _compare_text(c: dict[str, Any]) -> str:
    lines = ["RUNS"] + [f"  {r['label']}: {r['verdict']}, {r.get('evaluation') or 'not evaluated'}" for r in c["runs"]]
    lines.append("SETTINGS THAT DIFFER")
    lines += [f"  {k}: " + ", ".join(f"{rid[-6:]}={v}" for rid, v in per.items())
              for k, per in c["settings_diff"]["differs"].items()] or ["  none"]
    lines.append("PARAMETERS (mean ± sd per run)")
    for p in c["parameters"][:30]:
        lines.append(f"  {p['parameter']:24} " + "  ".join(f"{s['mean']:.3g} ± {s['sd']:.2g}" for s in p["runs"].values()))
    if c["elpd"]:
        lines.append("ELPD (PSIS-LOO, best first)")
        for r in c["elpd"]:
            lines.append(f"  {r['run_id']}  elpd {r['elpd_loo']:.1f} ± {r['se']:.1f}  Δ {r['elpd_diff']:.1f} ± "
                         f"{r['dse']:.1f}  weight {r['weight']:.2f}  k̂max {_fmt(r['pareto_k_max'], '.2f')}")
        lines.append(c["elpd_verdict"])
    else:
        lines.append(c["elpd_reason"])
    return "\n".join(lines)


def cmd_evaluate(args, extra=None) -> int:
    from bayes_core.runs import evaluation, store

    _no_extra(extra)
    run = store.load_run(args.model_id, args.ref)
    payload = evaluation.evaluate(run, force=args.force)
    reasons = [payload.get(k) for k in ("loo_reason", "loo_pit_reason") if payload.get(k)]
    return _out(args, payload, "\n".join([f"{run.run_id}: {payload['headline']}", *reasons]))


def cmd_delete(args, extra=None) -> int:
    from bayes_core.runs import history

    _no_extra(extra)
    payload = history.delete(args.model_id, args.run_id, force=args.force)
    text = f"run {args.run_id} deleted" + (f" (aliases removed: {', '.join(payload['aliases_removed'])})"
                                           if payload["aliases_removed"] else "")
    return _out(args, payload, text + (f"\nwarning: {payload['warning']}" if payload["warning"] else ""))


def cmd_export(args, extra=None) -> int:
    from bayes_core.runs import bundle

    _no_extra(extra)
    check_output(args.out)
    payload = bundle.export(args.model_id, args.ref, args.out)
    return _out(args, payload, f"run {payload['run_id']} exported to {payload['path']} ({payload['bytes']:,} bytes); "
                               f"reproduce with `python -m bayes_core runs reproduce {payload['path']}`")


def cmd_reproduce(args, extra=None) -> int:
    from bayes_core.runs import bundle

    _no_extra(extra)
    readable_file(args.bundle, "bundle")
    payload = bundle.reproduce(args.bundle)
    return _out(args, payload, f"new run {payload['run_id']} of {payload['model_id']}: {payload['statement']}")
