"""``python -m bayes_core list | train | predict | jobs ... | runs ... | check ...``

Every command takes ``--json`` and then prints exactly one JSON object on stdout; on failure
``{"error": "..."}`` with exit code 2 — argument errors included. A model's ``model_options``
become flags of ``train`` (an option ``train_start`` is ``--train-start``), parsed once the model
id is known; flags are never abbreviated. An unexpected exception is one clear line too: its
traceback goes to a log file (printed as well with ``BAYES_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bayes_core.cli_args import (Parser, UsageError, add_training_arguments, check_artifacts_root, check_output,
                                 no_extra_arguments, parse_model_options, readable_file, training_settings)
from bayes_core.errors import BayesCoreError

EXIT_OK, EXIT_ERROR, EXIT_NOT_CONVERGED = 0, 2, 3
ERROR_LOG = Path(tempfile.gettempdir()) / "bayes_core-cli-errors.log"


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, default=str) if args.json else text)


def cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    from bayes_core.registry import get_registry

    no_extra_arguments(extra)
    registry = get_registry()
    models = []
    for status in registry.get_all_models_with_status():  # a damaged last run: last_status "unreadable" + why
        meta = status.pop("metadata")
        models.append({**status, "tags": meta.tags})
    errors = [e.to_dict() for e in registry.errors]
    lines = [f"{'MODEL':28} {'STATUS':10} {'VERSION':8} {'TRAINED':8} LAST RUN"]
    for m in models:
        last = f"{m['last_run_id'] or ''} ({m['last_verdict'] or 'unreadable: ' + str(m['last_problem'])})" \
            if m["last_status"] else "-"
        lines.append(f"{m['model_id']:28} {m['status']:10} {m['version']:8} {'yes' if m['is_trained'] else 'no':8} {last}")
    for e in errors:
        lines.append(f"\nBROKEN CONFIG {e['path']}:\n" + "\n".join(f"  - {msg}" for msg in e["messages"]))
    _emit(args, {"models": models, "errors": errors}, "\n".join(lines))
    return EXIT_OK


def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    from bayes_core.diagnostics import verdict_sentence
    from bayes_core.registry import get_registry
    from bayes_core.runs import evaluation
    from bayes_core.samplers import Progress

    options = parse_model_options(args.model_id, extra)
    if args.data is not None:
        readable_file(args.data, "--data")
    model = get_registry().load_model_instance(args.model_id, options=options)
    progress = None if args.json else _print_progress
    run = model.train(args.data, progress=progress, **training_settings(args))
    if progress:
        progress(Progress("evaluating", message="PSIS-LOO, LOO-PIT"))
    evaluated = evaluation.ensure_after_training(run, model)
    headline = evaluated["headline"] if evaluated else "not evaluated (see `runs evaluate`)"
    diag = run.diagnostics
    text = f"\nrun {run.run_id} written to {run.path}\n{verdict_sentence(diag)}\nevaluation: {headline}"
    _emit(args, {"run_id": run.run_id, "model_id": run.model_id, "run_dir": str(run.path), "diagnostics": diag,
                 "evaluation": headline}, text)
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

    from bayes_core.csvio import write_csv
    from bayes_core.data import read_csv
    from bayes_core.errors import InvalidParametersError
    from bayes_core.registry import get_registry

    no_extra_arguments(extra)
    check_output(args.out)  # path problems first: nothing is computed (or created) for a command that cannot finish
    if args.input:
        readable_file(args.input, "--input")
    params = _parse_params(args.param or [])
    model = get_registry().load_model_instance(args.model_id)
    run = model.load_run(args.run).check()  # a damaged run: why, and how to delete it
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
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)  # a missing folder is created, as always
        write_csv(table, args.out)  # formula cells escaped: the file is opened in spreadsheets
    except OSError as exc:
        raise BayesCoreError(f"--out {args.out} cannot be written ({exc.strerror or exc}).") from exc
    preview = table.to_string(index=False, max_rows=20) if isinstance(table, pd.DataFrame) else ""
    _emit(args, {"out": str(args.out), "rows": int(len(table))}, f"{preview}\n\n{len(table)} row(s) written to {args.out}")
    return EXIT_OK


Command = Callable[[argparse.Namespace, list[str]], int]


def build_parser() -> argparse.ArgumentParser:
    # --json before or after the command: a sub-command's parser sets it only when given (SUPPRESS), or
    # its default would undo the main parser's `--json list` (the main parser's own flag: parents share
    # their action objects, defaults included)
    json_help = "print exactly one JSON object on stdout"
    common = Parser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=json_help)
    parser = Parser(prog="python -m bayes_core", description="Bayesian model workbench")
    parser.add_argument("--json", action="store_true", help=json_help)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", parents=[common], help="models, their status and last run; broken configs")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", parents=[common], help="train synchronously and write a run",
                       epilog="Model options are flags too, e.g. --non-centered true; see `list`.")
    add_training_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", parents=[common], help="predict from a run into a CSV")
    p.add_argument("model_id")
    p.add_argument("--run", metavar="REF", help="a run id, latest, latest-converged, an alias or v<model version> "
                                                "(default: the latest run)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="an inference parameter; repeatable")
    p.add_argument("--input", type=Path, help="CSV of requests, one per row, columns = parameter names")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_predict)

    from bayes_core.jobs.cli import add_parser as add_jobs_parser  # the jobs commands live with the job system

    add_jobs_parser(sub, common)
    from bayes_core.runs.cli import add_parser as add_runs_parser  # the runs commands live with the run registry

    add_runs_parser(sub, common)
    from bayes_core.checks.cli import add_parser as add_check_parser  # the check commands live with the checks

    add_check_parser(sub, common)
    return parser


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Parse a command line without running it: ``(args, leftover model-option flags)``."""
    return build_parser().parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = any(a == "--json" or a.startswith("--json=") for a in argv)  # known even when parsing fails
    args = None
    try:
        args, extra = _parse_json_help(argv) if as_json else parse(argv)
        as_json = args.json
        check_artifacts_root()
        return args.func(args, extra)
    except UsageError as exc:
        exc = exc.of_command(getattr(args, "command_parser", None))
        if as_json:
            print(json.dumps({"error": str(exc)}))
        else:
            print(f"{exc.usage}\nerror: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BayesCoreError as exc:
        _report(str(exc), as_json)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen fault: one clear line, the traceback in a log
        _report(_unexpected(exc), as_json)
        return EXIT_ERROR


def _parse_json_help(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """``parse`` under ``--json``: ``--help`` prints ``{"help": text}``, one JSON object like every command."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            return parse(argv)
    except SystemExit as exc:
        if exc.code in (0, None):
            print(json.dumps({"help": buffer.getvalue()}))
        raise


def _report(message: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": message}))
    else:
        print(f"error: {message}", file=sys.stderr)


def _unexpected(exc: Exception) -> str:
    if os.environ.get("BAYES_DEBUG") == "1":
        traceback.print_exc(file=sys.stderr)
    if isinstance(exc, OSError) and exc.strerror:
        what = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    else:
        what = f"{type(exc).__name__}: {exc}"
    try:
        with ERROR_LOG.open("a", encoding="utf-8") as log:
            log.write(f"--- {datetime.now(timezone.utc).isoformat()} python -m bayes_core {' '.join(sys.argv[1:])}\n")
            log.write("".join(traceback.format_exception(exc)))
        where = f"the traceback is in {ERROR_LOG}"
    except OSError:
        where = "set BAYES_DEBUG=1 to see the traceback"
    return f"unexpected error ({what}); {where} (BAYES_DEBUG=1 prints it). If it persists, please report it."
