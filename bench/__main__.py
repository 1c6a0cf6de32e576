"""Run the benchmarks and write bench/results/latest.{md,json}.

    python -m bench            full sizes (the figures in the README)
    python -m bench --quick    same comparisons at smaller sizes (< 5 minutes)
    python -m bench --smoke    tiny sizes: checks the harness itself (used by the test suite)
    python -m bench --only warm_start --merge --note "..."
                               run some benches and keep the others' last results in latest.*
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from bench.common import machine
from bench.report import to_markdown

# name → module; each module has run(mode) -> dict. Contributed benches take run(quick: bool).
BENCHES = {
    "nb_training": "bench.bench_nb",
    "prediction": "bench.bench_prediction",
    "player_props": "bench.bench_player_props",
    "finance_a": "bench.bench_finance_a",
    "finance_b": "bench.bench_finance_b",
    "app": "bench.bench_app",
    "warm_start": "bench.bench_warm",
    "evaluation": "bench.bench_evaluation",
    "browser": "bench.bench_browser",
    "sbc": "bench.bench_sbc",
    "gpu": "bench.bench_gpu",
}
SMOKE = ("nb_training", "prediction", "app", "evaluation")


def _call(module_name: str, mode: str) -> dict:
    module = importlib.import_module(module_name)
    if "quick" in inspect.signature(module.run).parameters:  # benches written as run(quick: bool)
        return module.run(quick=mode != "full")
    return module.run(mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true")
    group.add_argument("--smoke", action="store_true")
    parser.add_argument("--only", help="comma-separated bench names: " + ", ".join(BENCHES))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--merge", action="store_true",
                        help="keep the results of benches not run now from the existing latest.json")
    parser.add_argument("--note", default="", help="a remark stored with each bench run now (e.g. a shared machine)")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    names = args.only.split(",") if args.only else list(SMOKE if mode == "smoke" else BENCHES)
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")

    # Benchmarks train into a scratch artifacts directory, never the user's.
    os.environ.setdefault("BAYES_ARTIFACTS_DIR", tempfile.mkdtemp(prefix="bench-artifacts-"))
    results = {"mode": mode, "started_at": datetime.now(timezone.utc).isoformat(), "machine": machine(),
               "gpu": "not measured: no GPU machine was available to this run", "benches": {}}
    previous = args.out / "latest.json"
    if args.merge and previous.is_file():  # each kept bench still says when and in which mode it ran
        earlier = json.loads(previous.read_text())
        for name, bench in earlier.get("benches", {}).items():
            if name not in names:
                results["benches"][name] = {"started_at": earlier.get("started_at"), "mode": earlier.get("mode"),
                                            **bench}
        if "gpu" not in names and earlier.get("gpu"):  # the report's GPU line is the kept gpu bench's
            results["gpu"] = earlier["gpu"]
    for name in names:
        t0 = time.perf_counter()
        print(f"[bench] {name} ({mode}) ...", file=sys.stderr, flush=True)
        stamp = {"started_at": datetime.now(timezone.utc).isoformat(), "mode": mode,
                 **({"note": args.note} if args.note else {})}
        try:
            results["benches"][name] = {"result": _call(BENCHES[name], mode), "elapsed_s": time.perf_counter() - t0,
                                        **stamp}
        except ModuleNotFoundError as exc:
            results["benches"][name] = {"skipped": f"not available: {exc}"}
        except Exception as exc:  # one failing bench must not hide the others' figures
            results["benches"][name] = {"error": f"{type(exc).__name__}: {exc}",
                                        "traceback": traceback.format_exc()[-2000:]}
        if name == "gpu" and (results["benches"][name].get("result") or {}).get("gpu"):  # the GPU it measured
            results["gpu"] = results["benches"][name]["result"]["gpu"]
        print(f"[bench] {name} done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "latest.md").write_text(to_markdown(results))
    print(f"[bench] wrote {args.out / 'latest.md'} and latest.json", file=sys.stderr)
    return 1 if any("error" in b for b in results["benches"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
