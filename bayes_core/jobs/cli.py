"""``python -m bayes_core jobs submit|list|status|cancel|logs|workers`` — background training from a shell.

``add_parser(subparsers, common)`` mounts the ``jobs`` command on the main CLI (``bayes_core.cli``);
each handler takes ``(args, extra)`` and returns an exit code, and core errors propagate to the main
CLI, which prints them (``{"error": ...}`` with ``--json``). ``--json`` output: ``submit`` →
``{"job_id", "state"}``, ``status``/``cancel`` → the job row, ``list`` → ``{"jobs": [...]}``,
``logs`` → ``{"job_id", "log"}``, ``workers`` → ``{"workers": [...], "stopped": n}``. Model options are
flags as on ``train`` (``--non-centered true``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from bayes_core.cli_args import (add_training_arguments, no_extra_arguments, parse_model_options, read_file_bytes,
                                 training_settings, whole_number)
from bayes_core.errors import BayesCoreError


def add_parser(subparsers, common: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parents = [common] if common is not None else []
    jobs = subparsers.add_parser("jobs", parents=parents, help="background training jobs (submit, list, status, cancel, logs)",
                                 description="Train models in the background and follow the jobs.")
    sub = jobs.add_subparsers(dest="jobs_command", required=True,
                              metavar="{submit,list,status,cancel,logs,workers}")

    submit = sub.add_parser("submit", parents=parents, help="queue a training job (same options as train)",
                            epilog="Model options are flags too, e.g. --non-centered true.")
    add_training_arguments(submit)
    submit.add_argument("--data-run", metavar="REF", help="train on the data snapshot of an earlier run of the model (a "
                                                          "run id, latest, latest-converged, an alias or v<version>)")
    submit.set_defaults(func=cmd_submit)

    listing = sub.add_parser("list", parents=parents, help="list jobs, newest first")
    listing.add_argument("--model", dest="model_id", help="only jobs of this model")
    listing.add_argument("--limit", type=whole_number(1, 100_000), default=100)
    listing.set_defaults(func=cmd_list)

    for name, func, text in (("status", cmd_status, "show one job"), ("cancel", cmd_cancel, "cancel a job")):
        p = sub.add_parser(name, parents=parents, help=text)
        p.add_argument("job_id")
        p.set_defaults(func=func)

    logs = sub.add_parser("logs", parents=parents, help="print the end of a job's log")
    logs.add_argument("job_id")
    logs.add_argument("--tail", type=whole_number(0, 1_000_000), default=200, help="number of lines (default 200)")
    logs.set_defaults(func=cmd_logs)

    workers = sub.add_parser("workers", parents=parents, help="list the local runner's warm workers (or stop them)")
    workers.add_argument("--stop", action="store_true",
                         help="stop them by their recorded pids (a job they run fails; the next job starts a new one)")
    workers.set_defaults(func=cmd_workers)
    return jobs


# -- handlers ------------------------------------------------------------------------------------
def _runner():
    from bayes_core.jobs import get_runner

    return get_runner()


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, default=str))


_no_extra = no_extra_arguments


def submit_request(args: argparse.Namespace, extra: list[str] | None = None):
    """The ``JobRequest`` a ``jobs submit`` command line asks for (nothing is submitted)."""
    from bayes_core.jobs.api import JobRequest, example_data, run_data, uploaded_data

    options = parse_model_options(args.model_id, extra or [])
    if args.data is not None and args.data_run is not None:
        raise BayesCoreError("Give either --data or --data-run, not both.")
    if args.data is not None:
        data = uploaded_data(read_file_bytes(args.data, "--data"), args.data.name)
    elif args.data_run is not None:
        data = run_data(args.data_run, args.model_id)
    else:
        data = example_data()
    return JobRequest(model_id=args.model_id, settings=training_settings(args), options=options, data=data)


def cmd_submit(args: argparse.Namespace, extra: list[str] | None = None) -> int:
    job = _runner().submit(submit_request(args, extra))
    if args.json:
        _print_json({"job_id": job.job_id, "state": job.state})
    else:
        print(f"job {job.job_id} {job.state} ({job.model_id}); follow it with "
              f"`python -m bayes_core jobs status {job.job_id}`")
    return 0


def cmd_list(args: argparse.Namespace, extra: list[str] | None = None) -> int:
    _no_extra(extra)
    jobs = _runner().list(args.model_id, limit=args.limit)
    if args.json:
        _print_json({"jobs": [j.to_dict() for j in jobs]})
        return 0
    if not jobs:
        print("no jobs")
        return 0
    print(f"{'JOB':<25} {'MODEL':<24} {'RUNNER':<7} {'STATE':<10} {'PROGRESS':>8}  {'PHASE':<20} RUN")
    for j in jobs:
        print(f"{j.job_id:<25} {j.model_id:<24} {j.runner:<7} {j.state:<10} {j.fraction:>8.0%}  "
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
                         ("runner", job.runner), ("external id", job.external_id), ("pid", job.pid),
                         ("sampler", job.sampler), ("device", job.device), ("run", job.run_id), ("log", job.log_path)):
        if value is not None:
            print(f"  {label}: {value}")
    if job.error:
        print(f"  error: {job.error}")
    return 0


def cmd_status(args: argparse.Namespace, extra: list[str] | None = None) -> int:
    _no_extra(extra)
    return _show(args, _runner().status(args.job_id))


def cmd_cancel(args: argparse.Namespace, extra: list[str] | None = None) -> int:
    _no_extra(extra)
    return _show(args, _runner().cancel(args.job_id))


def cmd_logs(args: argparse.Namespace, extra: list[str] | None = None) -> int:
    _no_extra(extra)
    text = _runner().logs(args.job_id, tail_lines=args.tail)
    if args.json:
        _print_json({"job_id": args.job_id, "log": text})
    else:
        print(text)
    return 0


def cmd_workers(args: argparse.Namespace, extra: list[str] | None = None) -> int:
    _no_extra(extra)
    runner = _runner()
    if not hasattr(runner, "pool"):
        raise BayesCoreError(f"The {runner.name} runner has no warm workers on this machine.")
    stopped = runner.stop_warm_workers() if args.stop else 0
    workers = runner.pool.workers()
    if args.json:
        _print_json({"workers": [dataclasses.asdict(w) for w in workers], "stopped": stopped})
        return 0
    if args.stop:
        print(f"stopped {stopped} warm worker(s)")
    if not workers:
        print("no warm workers")
    for w in workers:
        memory = f"{w.rss_mb:.0f} MB" if w.rss_mb is not None else "–"
        print(f"pid {w.pid} on {w.host}: {w.state}{' ' + w.job_id if w.job_id else ''}, {w.jobs_done} job(s), "
              f"memory {memory}, since {w.started_at}")
    return 0
