"""Render benchmark results as markdown tables (figures with units, goals beside them)."""

from __future__ import annotations

from typing import Any


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str, str]]) -> None:
    """Nested results → (figure, value with unit, goal) rows; ``{"value", "unit", "goal"}`` dicts
    (the figures' own records) become one row each."""
    if isinstance(value, dict) and "value" in value and "unit" in value:
        rows.append((prefix, f"{_fmt(value['value'])} {value['unit']}".strip(), _goal(value)))
    elif isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, rows)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, rows)
    else:
        rows.append((prefix, _fmt(value), ""))


def _goal(figure: dict[str, Any]) -> str:
    goal = figure.get("goal") or ""
    met = figure.get("met")
    return f"{goal} ({'met' if met else 'not met'})" if goal and met is not None else goal


def _figures_table(result: dict[str, Any]) -> list[str]:
    """A bench's table: its ``figures`` list (name, value, unit, goal, met) when it has one —
    per-case details stay in latest.json — else every figure of its nested result."""
    if isinstance(result.get("figures"), list):
        rows = [(f["name"], f"{_fmt(f['value'])} {f.get('unit', '')}".strip(), _goal(f)) for f in result["figures"]]
    else:
        rows = []
        _flatten("", result, rows)
    return ["| figure | value | goal |", "|---|---|---|", *[f"| {n} | {v} | {g} |" for n, v, g in rows], ""]


def _nb_section(r: dict[str, Any]) -> list[str]:
    s = r["sizes"]
    out = [f"### NB training: {s['entities']} entities × {s['obs']:,} observations, "
           f"{s['chains']} chains × {s['tune']} tune + {s['draws']} draws", "",
           "| path | wall (s, compile included) | min ESS bulk | ESS/s | max R-hat | divergences |",
           "|---|---|---|---|---|---|"]
    for name, t in r["training"].items():
        out.append(f"| {name} | {t['wall_s']:.1f} | {t['ess_bulk_min']:.0f} | {t['ess_per_s']:.1f} | "
                   f"{t['r_hat_max']:.3f} | {t['divergences']} |")
    goal = r["ess_per_s_speedup_vs_best_stock"]
    out += ["", f"ESS/s of the project path ÷ best stock path: **{goal:.1f}×** (goal ≥ 10×: "
            f"{'met' if goal >= 10 else 'not met'}). Posterior means of μ, α, φ agree across paths within 4 MCSE: "
            f"{r['means_agree_within_4_mcse']}.", ""]
    sc = r["scaling"]
    out += [f"### Scaling in N (project path, {s['big_entities']} entities)", "",
            "| N | wall (s) | reduced gradient (ms) | plain gradient (ms) |", "|---|---|---|---|",
            f"| {sc['n_small']:,} | {sc['wall_small_s']:.1f} | {sc['gradient_small']['reduced_gradient_ms']:.3f} | "
            f"{sc['gradient_small']['plain_gradient_ms']:.3f} |",
            f"| {sc['n_big']:,} | {sc['wall_big_s']:.1f} | {sc['gradient_big']['reduced_gradient_ms']:.3f} | "
            f"{sc['gradient_big']['plain_gradient_ms']:.3f} |", "",
            f"Wall-time ratio big/small: **{sc['wall_ratio']:.2f}×** (goal ≤ 1.5×: "
            f"{'met' if sc['wall_ratio'] <= 1.5 else 'not met'}).", ""]
    return out


def to_markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"# Benchmark results ({results['mode']} mode)", "",
             f"Run {results['started_at']} on {m['platform']} ({m['processor']}), {m['cpu_count']} CPUs, "
             f"Python {m['python']}.", "",
             "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v), "",
             f"GPU: {results['gpu']}", ""]
    for name, bench in results["benches"].items():
        lines.append(f"## {name}")
        lines.append("")
        if "error" in bench or "skipped" in bench:
            lines += [f"**{'error' if 'error' in bench else 'skipped'}**: {bench.get('error') or bench.get('skipped')}", ""]
            continue
        result = bench["result"]
        if name == "nb_training":
            lines += _nb_section(result)
        else:
            lines += _figures_table(result)
        ran = f", run {bench['started_at']} ({bench.get('mode')} mode)" if bench.get("started_at") else ""
        note = f". {bench['note']}" if bench.get("note") else ""
        lines += [f"_elapsed: {bench['elapsed_s']:.1f} s{ran}{note}_", ""]
    return "\n".join(lines)
