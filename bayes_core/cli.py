"""``python -m bayes_core list | train | predict | jobs ...``

Every command takes ``--json`` and then prints exactly one JSON object on stdout; on failure
``{"error": "..."}`` with a non-zero exit code. A model's ``model_options`` become flags of
``train`` (an option ``train_start`` is ``--train-start``), parsed once the model id is known.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from bayes_core.errors import BayesCoreError
from bayes_core.settings import SAMPLERS

EXIT_OK, EXIT_ERROR, EXIT_NOT_CONVERGED = 0, 2, 3


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, default=str) if args.json else text)


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``jobs submit``."""
    p.add_argument("model_id")
    p.add_argument("--data", type=Path, help="CSV with the model's columns (default: example data)")
    p.add_argument("--draws", type=int)
    p.add_argument("--tune", type=int)
    p.add_argument("--chains", type=int)
    p.add_argument("--target-accept", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--sampler", choices=SAMPLERS)
    device = p.add_mutually_exclusive_group()
    device.add_argument("--gpu", dest="device", action="store_const", const="gpu")
    device.add_argument("--cpu", dest="device", action="store_const", const="cpu")


def training_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in dict(draws=args.draws, tune=args.tune, chains=args.chains,
                                  target_accept=args.target_accept, seed=args.seed,
                                  sampler=args.sampler, device=args.device).items() if v is not None}


def parse_model_options(model_id: str, extra: list[str]) -> dict[str, Any]:
    """Turn leftover ``--option-name value`` flags into the model's options (validated later)."""
    from bayes_core.registry import get_registry

    meta = get_registry().get_model_metadata(model_id)
    parser = argparse.ArgumentParser(prog=f"train {model_id}", add_help=False)
    for spec in meta.model_options:
        parser.add_argument(f"--{spec.name.replace('_', '-')}", dest=spec.name, help=spec.help_text)
    ns, unknown = parser.parse_known_args(extra)
    if unknown:
        names = ", ".join(f"--{s.name.replace('_', '-')}" for s in meta.model_options) or "none"
        raise BayesCoreError(f"Unknown argument(s) {' '.join(unknown)}; options of {model_id}: {names}.")
    return {k: v for k, v in vars(ns).items() if v is not None}


def cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    from bayes_core import artifacts
    from bayes_core.registry import get_registry

    registry = get_registry()
    models = []
    for status in registry.get_all_models_with_status():
        meta = status.pop("metadata")
        verdict = None
        if status["last_run_id"]:
            try:
                verdict = artifacts.Run(meta.model_id, status["last_run_id"]).verdict
            except BayesCoreError:
                verdict = "unreadable"
        models.append({**status, "tags": meta.tags, "last_verdict": verdict})
    errors = [e.to_dict() for e in registry.errors]
    lines = [f"{'MODEL':28} {'STATUS':10} {'VERSION':8} {'TRAINED':8} LAST RUN"]
    for m in models:
        last = f"{m['last_run_id']} ({m['last_verdict']})" if m["last_run_id"] else "-"
        lines.append(f"{m['model_id']:28} {m['status']:10} {m['version']:8} {'yes' if m['is_trained'] else 'no':8} {last}")
    for e in errors:
        lines.append(f"\nBROKEN CONFIG {e['path']}:\n" + "\n".join(f"  - {msg}" for msg in e["messages"]))
    _emit(args, {"models": models, "errors": errors}, "\n".join(lines))
    return EXIT_OK


def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    from bayes_core.diagnostics import verdict_sentence
    from bayes_core.registry import get_registry

    options = parse_model_options(args.model_id, extra)
    model = get_registry().load_model_instance(args.model_id, options=options)
    progress = None if args.json else _print_progress
    run = model.train(args.data, progress=progress, **training_settings(args))
    diag = run.diagnostics
    text = f"\nrun {run.run_id} written to {run.path}\n{verdict_sentence(diag)}"
    _emit(args, {"run_id": run.run_id, "model_id": run.model_id, "run_dir": str(run.path), "diagnostics": diag}, text)
    if diag["verdict"] == "problem":
        print("The run did not converge (verdict 'problem'): try more draws (--draws, --tune) or a higher "
              "--target-accept before trusting its predictions.", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _print_progress(p) -> None:
    total = f"{p.draws_done}/{p.draws_total}" if p.draws_total else ""
    print(f"\r{p.phase:22} {total:>15} divergences {p.divergences:<5} {p.message[:40]}", end="",
          file=sys.stderr, flush=True)


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BayesCoreError(f"--param expects name=value, got {pair!r}.")
        params[name.strip()] = value
    return params


def cmd_predict(args: argparse.Namespace, extra: list[str]) -> int:
    import pandas as pd

    from bayes_core.data import read_csv
    from bayes_core.errors import InvalidParametersError
    from bayes_core.registry import get_registry

    if extra:
        raise BayesCoreError(f"Unknown argument(s): {' '.join(extra)}")
    model = get_registry().load_model_instance(args.model_id)
    run = model.load_run(args.run)
    params = _parse_params(args.param or [])
    if args.input:
        requests = read_csv(args.input)
        for name, value in params.items():  # --param gives a value to every row
            requests[name] = value
        table, problems = model.predict_batch(requests, run)
        if problems:
            detail = "; ".join(f"row {p['row']} {p['field']}: {p['message']}" for p in problems)
            raise InvalidParametersError({"input": f"{len(problems)} problem(s): {detail}"})
    else:
        table = model.predict(params, run)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    preview = table.to_string(index=False, max_rows=20) if isinstance(table, pd.DataFrame) else ""
    _emit(args, {"out": str(args.out), "rows": int(len(table))}, f"{preview}\n\n{len(table)} row(s) written to {args.out}")
    return EXIT_OK


Command = Callable[[argparse.Namespace, list[str]], int]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    parser = argparse.ArgumentParser(prog="python -m bayes_core", description="Bayesian model workbench",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", parents=[common], help="models, their status and last run; broken configs")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", parents=[common], help="train synchronously and write a run",
                       epilog="Model options are flags too, e.g. --non-centered true; see `list`.")
    add_training_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", parents=[common], help="predict from a run into a CSV")
    p.add_argument("model_id")
    p.add_argument("--run", help="run id (default: the latest run)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="an inference parameter; repeatable")
    p.add_argument("--input", type=Path, help="CSV of requests, one per row, columns = parameter names")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_predict)

    _register_jobs(sub, common)
    return parser


def _register_jobs(sub, common) -> None:
    """The ``jobs`` commands live with the job system (bayes_core.jobs.cli)."""
    try:
        from bayes_core.jobs.cli import add_parser
    except ImportError:
        return
    add_parser(sub, common)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        return args.func(args, extra)
    except BayesCoreError as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
