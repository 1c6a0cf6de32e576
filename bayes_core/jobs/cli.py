"""``python -m bayes_core jobs submit|list|status|cancel|logs`` — background training from a shell.

``add_parser(subparsers)`` adds the ``jobs`` command to the main CLI; each subcommand's handler
takes the parsed ``args`` and returns an exit code. ``--json`` prints machine-readable output:
``submit`` → ``{"job_id", "state"}``, ``status``/``cancel`` → the job row, ``list`` → ``{"jobs": [...]}``,
``logs`` → ``{"job_id", "log"}``. Model options become flags (``train_start`` → ``--train-start``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bayes_core.errors import BayesCoreError, DataValidationError, InvalidParametersError, UnknownModelError

_SETTINGS = ("draws", "tune", "chains", "target_accept", "seed", "sampler", "device")
_OPTION_PREFIX = "model_option__"


def add_parser(subparsers) -> argparse.ArgumentParser:
    jobs = subparsers.add_parser("jobs", help="background training jobs (submit, list, status, cancel, logs)",
                                 description="Train models in the background and follow the jobs.")
    sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="{submit,list,status,cancel,logs}")

    submit = sub.add_parser("submit", help="queue a training job for a model")
    submit.add_argument("model_id")
    add_training_flags(submit)
    submit.add_argument("--data", type=Path, metavar="CSV", help="train on this CSV (validated now) instead of the example data")
    submit.add_argument("--data-run", metavar="RUN_ID", help="train on the data snapshot of an earlier run of the model")
    _add_json(submit)
    submit.set_defaults(func=cmd_submit)

    listing = sub.add_parser("list", help="list jobs, newest first")
    listing.add_argument("--model", dest="model_id", help="only jobs of this model")
    listing.add_argument("--limit", type=int, default=100)
    _add_json(listing)
    listing.set_defaults(func=cmd_list)

    for name, func, text in (("status", cmd_status, "show one job"), ("cancel", cmd_cancel, "cancel a job")):
        p = sub.add_parser(name, help=text)
        p.add_argument("job_id")
        _add_json(p)
        p.set_defaults(func=func)

    logs = sub.add_parser("logs", help="print the end of a job's log")
    logs.add_argument("job_id")
    logs.add_argument("--tail", type=int, default=200, help="number of lines (default 200)")
    _add_json(logs)
    logs.set_defaults(func=cmd_logs)
    return jobs


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """Sampler settings, ``--gpu`` and one flag per model option declared by any registered model."""
    parser.add_argument("--draws", type=int, help="posterior draws per chain")
    parser.add_argument("--tune", type=int, help="warm-up draws per chain")
    parser.add_argument("--chains", type=int)
    parser.add_argument("--target-accept", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--sampler", choices=["auto", "nutpie", "numpyro", "pymc"])
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--gpu", action="store_true", help="same as --device gpu (NumPyro on JAX's CUDA backend)")
    for name, help_text in sorted(_all_model_options().items()):
        try:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=_OPTION_PREFIX + name, metavar="VALUE",
                                help=f"model option {name}: {help_text}".rstrip(": "))
        except argparse.ArgumentError:  # an option named like a built-in flag keeps the built-in
            continue


def _all_model_options() -> dict[str, str]:
    from bayes_core.registry import get_registry

    options: dict[str, str] = {}
    for meta in get_registry().get_all_models().values():
        for spec in meta.model_options:
            options.setdefault(spec.name, spec.help_text)
    return options


def training_settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    settings = {k: getattr(args, k, None) for k in _SETTINGS}
    if getattr(args, "gpu", False):
        settings["device"] = "gpu"
    return {k: v for k, v in settings.items() if v is not None}


def model_options_from_args(args: argparse.Namespace, model_id: str) -> dict[str, Any]:
    """The option flags that were given; a flag the chosen model does not declare is an error."""
    from bayes_core.registry import get_registry

    given = {k[len(_OPTION_PREFIX):]: v for k, v in vars(args).items() if k.startswith(_OPTION_PREFIX) and v is not None}
    declared = {p.name for p in get_registry().get_model_metadata(model_id).model_options}
    foreign = sorted(set(given) - declared)
    if foreign:
        raise InvalidParametersError({f"--{n.replace('_', '-')}": f"not an option of model {model_id!r}" for n in foreign})
    return given


# -- handlers ------------------------------------------------------------------------------------
def _runner():
    from bayes_core.jobs import get_runner

    return get_runner()


def _fail(args: argparse.Namespace, exc: BayesCoreError) -> int:
    if getattr(args, "json", False):
        payload: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
        if isinstance(exc, DataValidationError):
            payload["problems"] = exc.problems
        elif isinstance(exc, InvalidParametersError):
            payload["errors"] = exc.errors
        elif isinstance(exc, UnknownModelError):
            payload["known_models"] = exc.known
        print(json.dumps(payload))
    else:
        print(f"error: {exc}", file=sys.stderr)
    return 1


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def cmd_submit(args: argparse.Namespace) -> int:
    try:
        options = model_options_from_args(args, args.model_id)
        data_csv = None
        if args.data is not None:
            try:
                data_csv = args.data.read_bytes()
            except OSError as exc:
                raise DataValidationError([f"cannot read {args.data}: {exc.strerror}"]) from exc
        job = _runner().submit(args.model_id, training_settings_from_args(args), options, data_csv=data_csv,
                               data_run_id=args.data_run)
    except BayesCoreError as exc:
        return _fail(args, exc)
    if args.json:
        _print_json({"job_id": job.job_id, "state": job.state})
    else:
        print(f"job {job.job_id} {job.state} ({job.model_id}); follow it with "
              f"`python -m bayes_core jobs status {job.job_id}`")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    try:
        jobs = _runner().list(args.model_id, limit=args.limit)
    except BayesCoreError as exc:
        return _fail(args, exc)
    if args.json:
        _print_json({"jobs": [j.to_dict() for j in jobs]})
        return 0
    if not jobs:
        print("no jobs")
        return 0
    print(f"{'JOB':<25} {'MODEL':<24} {'STATE':<10} {'PROGRESS':>8}  {'PHASE':<20} RUN")
    for j in jobs:
        print(f"{j.job_id:<25} {j.model_id:<24} {j.state:<10} {j.fraction:>8.0%}  "
              f"{str(j.progress.get('phase', '')):<20} {j.run_id or ''}")
    return 0


def _show(args: argparse.Namespace, job) -> int:
    if args.json:
        _print_json(job.to_dict())
        return 0
    p = job.progress
    print(f"job {job.job_id}: {job.model_id}, {job.state}")
    print(f"  phase {p.get('phase')}, draws {p.get('draws_done')}/{p.get('draws_total')}, "
          f"divergences {p.get('divergences')}, elapsed {p.get('elapsed_s')} s, ETA {p.get('eta_s')} s")
    for label, value in (("created", job.created_at), ("started", job.started_at), ("finished", job.finished_at),
                         ("pid", job.pid), ("sampler", job.sampler), ("device", job.device), ("run", job.run_id),
                         ("log", job.log_path)):
        if value is not None:
            print(f"  {label}: {value}")
    if job.error:
        print(f"  error: {job.error}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        return _show(args, _runner().status(args.job_id))
    except BayesCoreError as exc:
        return _fail(args, exc)


def cmd_cancel(args: argparse.Namespace) -> int:
    try:
        return _show(args, _runner().cancel(args.job_id))
    except BayesCoreError as exc:
        return _fail(args, exc)


def cmd_logs(args: argparse.Namespace) -> int:
    try:
        text = _runner().logs(args.job_id, tail_lines=args.tail)
    except BayesCoreError as exc:
        return _fail(args, exc)
    if args.json:
        _print_json({"job_id": args.job_id, "log": text})
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m bayes_core.jobs.cli ...``); the main CLI mounts ``add_parser``."""
    parser = argparse.ArgumentParser(prog="python -m bayes_core.jobs.cli")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
