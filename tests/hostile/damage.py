"""Ways a run folder gets damaged (#11.5), for the damaged-run battery: each a function of the run's
folder and the words every message about the run must contain (``says``); ``listed`` says whether
the cheap checks of a listing find it, or only opening the run does."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

DROP = object()  # a key to remove


@dataclass(frozen=True)
class Damage:
    id: str
    apply: Callable[[Path], None]
    says: str  # what every message about the damaged run must contain
    listed: bool = True  # False: the listing's cheap checks pass; only opening the run finds it
    graph_only: bool = False  # only the model graph is affected: the run itself stays usable

    def __str__(self) -> str:
        return self.id


def write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        path = run / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return apply


def edit_json(name: str, **changes: Any) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        data = json.loads((run / name).read_text())
        for key, value in changes.items():
            if value is DROP:
                data.pop(key, None)
            else:
                data[key] = value
        (run / name).write_text(json.dumps(data))
    return apply


def cut(name: str, keep: float | int) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        raw = (run / name).read_bytes()
        (run / name).write_bytes(raw[: keep if isinstance(keep, int) else int(len(raw) * keep)])
    return apply


def remove(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).unlink()


def folder_instead(name: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        (run / name).unlink()
        (run / name).mkdir()
        (run / name / "x").write_text("x")
    return apply


def link_outside(name: str) -> Callable[[Path], None]:
    """``name`` a link to a copy of itself outside the run folder (as a crafted bundle could hold)."""
    def apply(run: Path) -> None:
        outside = run.parents[2] / f"outside-{name}"
        shutil.copy(run / name, outside)
        (run / name).unlink()
        (run / name).symlink_to(outside)
    return apply


def broken_link(name: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        (run / name).unlink()
        (run / name).symlink_to(run / "no-such-file")
    return apply


def fifo(name: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        (run / name).unlink()
        os.mkfifo(run / name)
    return apply


def replace_folder(kind: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        shutil.rmtree(run)
        if kind == "file":
            run.write_text("not a run")
        elif kind == "empty":
            run.mkdir()
        else:
            run.symlink_to(run.parent / "gone")
    return apply


def foreign_trace(run: Path) -> None:
    """The neighbour's trace copied in: its attributes name another run."""
    from tests.hostile.conftest import NEIGHBOUR

    shutil.copy(run.parent / NEIGHBOUR / "trace.nc", run / "trace.nc")


def trace_without_posterior(run: Path) -> None:
    import xarray as xr

    with xr.open_datatree(run / "trace.nc") as tree:
        loaded = tree.load()
    kept = xr.DataTree.from_dict({name: child.to_dataset() for name, child in loaded.children.items()
                                  if name != "posterior"})
    kept.attrs.update(loaded.attrs)
    (run / "trace.nc").unlink()
    kept.to_netcdf(run / "trace.nc")


def summary_text_in_numbers(run: Path) -> None:
    lines = (run / "summary.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[2] = "lots"
    (run / "summary.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")


def cut_to_header(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_text((run / name).read_text().splitlines()[0] + "\n")


def scramble(name: str) -> Callable[[Path], None]:
    """Zeros over the middle of the file: its header and length are right, its content is not."""
    def apply(run: Path) -> None:
        raw = bytearray((run / name).read_bytes())
        middle = len(raw) // 2
        raw[middle - len(raw) // 4: middle + len(raw) // 4] = bytes(len(raw) // 4 * 2)
        (run / name).write_bytes(bytes(raw))
    return apply


def summary_without(column_prefix: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        import pandas as pd

        table = pd.read_csv(run / "summary.csv", index_col=0)
        table.drop(columns=[c for c in table.columns if c.startswith(column_prefix)][:1]).to_csv(run / "summary.csv")
    return apply


HUGE_JSON = b"{" + b" " * (17 * 2**20) + b"}"
M, D, T, S, G = "metadata.json", "diagnostics.json", "trace.nc", "summary.csv", "model.dot"
DELETE = "python -m bayes_core runs delete"

DAMAGES = [
    # metadata.json: wrong shape, wrong types, another run's, unreadable bytes, not a file
    Damage("meta_list", write(M, "[1]"), "metadata.json holds [1] instead of an object"),
    Damage("meta_null", write(M, "null"), "metadata.json holds null instead of an object"),
    Damage("meta_empty_object", write(M, "{}"), "metadata.json has no 'created_at'"),
    Damage("meta_text", write(M, '"hello"'), "metadata.json holds 'hello'"),
    Damage("meta_created_at_5", edit_json(M, created_at=5), "metadata.json 'created_at' is 5, not text"),
    Damage("meta_created_at_null", edit_json(M, created_at=None), "'created_at' is null, not text"),
    Damage("meta_created_at_words", edit_json(M, created_at="yesterday"), "'created_at' is 'yesterday', not a date"),
    Damage("meta_created_at_nan", edit_json(M, created_at=float("nan")), "'created_at' is NaN, not text"),
    Damage("meta_created_at_missing", edit_json(M, created_at=DROP), "metadata.json has no 'created_at'"),
    Damage("meta_settings_text", edit_json(M, settings="fast"), "'settings' is 'fast', not an object"),
    Damage("meta_options_list", edit_json(M, options=[1]), "'options' is [1], not an object"),
    Damage("meta_seed_text", edit_json(M, seed="1"), "'seed' is '1', not a whole number"),
    Damage("meta_seed_fraction", edit_json(M, seed=1.5), "'seed' is 1.5, not a whole number"),
    Damage("meta_rows_bool", edit_json(M, data_rows=True), "'data_rows' is true, not a whole number"),
    Damage("meta_version_number", edit_json(M, model_version=1), "'model_version' is 1, not text"),
    Damage("meta_timings_list", edit_json(M, timings=[]), "'timings' is [], not an object"),
    Damage("meta_other_run", edit_json(M, run_id="20000101-000000-000000-0a0a0a"),
           "names run_id '20000101-000000-000000-0a0a0a' (it was written for another run)"),
    Damage("meta_other_model", edit_json(M, model_id="bayesian_sharpe"),
           "names model_id 'bayesian_sharpe' (it was written for another run)"),
    Damage("meta_huge", write(M, HUGE_JSON), "metadata.json is 17 MB, larger than any run writes"),
    Damage("meta_not_utf8", write(M, b'{"created_at": "\xff\xfe"}'), "metadata.json is not UTF-8 text"),
    Damage("meta_deep", write(M, "[" * 100_000 + "]" * 100_000), "metadata.json is nested too deeply"),
    Damage("meta_huge_integer", write(M, '{"created_at": "2026-01-01", "seed": 1' + "0" * 5000 + "}"),
           "metadata.json is not valid JSON"),
    Damage("meta_truncated", cut(M, 0.5), "metadata.json is not valid JSON"),
    Damage("meta_empty_file", write(M, b""), "metadata.json is not valid JSON"),
    Damage("meta_nul_bytes", write(M, b"\x00" * 64), "metadata.json is not valid JSON"),
    Damage("meta_missing", remove(M), "metadata.json is missing"),
    Damage("meta_folder", folder_instead(M), "metadata.json is a folder, not a file"),
    Damage("meta_link_outside", link_outside(M), "metadata.json is a link to a file outside the run folder"),
    Damage("meta_broken_link", broken_link(M), "metadata.json is a broken link"),
    Damage("meta_fifo", fifo(M), "metadata.json is not a regular file"),
    # diagnostics.json
    Damage("diag_list", write(D, "[1]"), "diagnostics.json holds [1] instead of an object"),
    Damage("diag_null", write(D, "null"), "diagnostics.json holds null"),
    Damage("diag_empty_object", write(D, "{}"), "diagnostics.json has no 'verdict'"),
    Damage("diag_verdict_unknown", edit_json(D, verdict="excellent"), "'verdict' is 'excellent', not one of good"),
    Damage("diag_verdict_number", edit_json(D, verdict=3), "'verdict' is 3, not text"),
    Damage("diag_rhat_text", edit_json(D, r_hat_max="high"), "'r_hat_max' is 'high', not a number or null"),
    Damage("diag_divergences_fraction", edit_json(D, divergences=1.5), "'divergences' is 1.5, not a whole number"),
    Damage("diag_divergences_bool", edit_json(D, divergences=True), "'divergences' is true"),
    Damage("diag_per_variable_number", edit_json(D, per_variable={"mu": 1}), "'per_variable.mu' is 1"),
    Damage("diag_per_variable_text", edit_json(D, per_variable={"mu": {"verdict": "good", "r_hat_max": "x"}}),
           "'per_variable.mu' is"),
    Damage("diag_verdicts_unknown", edit_json(D, verdicts={"r_hat": "meh"}), "'verdicts.r_hat' is 'meh'"),
    Damage("diag_worst_elements_numbers", edit_json(D, worst_elements=[1]), "'worst_elements' holds 1"),
    Damage("diag_fallback_list", edit_json(D, fallback=[1]), "'fallback' is [1], not an object or null"),
    Damage("diag_truncated", cut(D, 0.5), "diagnostics.json is not valid JSON"),
    Damage("diag_not_utf8", write(D, b"\xff" * 10), "diagnostics.json is not UTF-8"),
    Damage("diag_huge", write(D, HUGE_JSON), "diagnostics.json is 17 MB, larger than any run writes"),
    Damage("diag_missing", remove(D), "diagnostics.json is missing"),
    # trace.nc
    Damage("trace_truncated_third", cut(T, 1 / 3), "trace.nc is cut short"),
    Damage("trace_truncated_100_bytes", cut(T, 100), "trace.nc is cut short"),
    Damage("trace_empty", write(T, b""), "trace.nc is not a NetCDF-4 file"),
    Damage("trace_random_bytes", write(T, os.urandom(4096)), "trace.nc is not a NetCDF-4 file"),
    Damage("trace_csv_renamed", write(T, b"entity,count\nA,1\n"), "trace.nc is not a NetCDF-4 file"),
    Damage("trace_scrambled_inside", scramble(T), "trace.nc is corrupt or truncated", listed=False),
    Damage("trace_of_another_run", foreign_trace,
           "was written for another run (run_id '20000101-000000-000000-0a0a0a'", listed=False),
    Damage("trace_without_posterior", trace_without_posterior, "trace.nc has no posterior draws", listed=False),
    Damage("trace_missing", remove(T), "trace.nc is missing"),
    Damage("trace_folder", folder_instead(T), "trace.nc is a folder, not a file"),
    Damage("trace_link_outside", link_outside(T), "trace.nc is a link to a file outside the run folder"),
    Damage("trace_fifo", fifo(T), "trace.nc is not a regular file"),
    # summary.csv and data.csv
    Damage("summary_missing", remove(S), "summary.csv is missing"),
    Damage("summary_garbage", write(S, "a,b\n1,2\n"), "summary.csv has no column mean, r_hat, ess_bulk, ess_tail"),
    Damage("summary_empty", write(S, b""), "summary.csv has no column mean"),
    Damage("summary_binary", write(S, b"\x89PNG\r\n\x1a\n" + bytes(range(256))), "summary.csv is not UTF-8"),
    Damage("summary_text_in_numbers", summary_text_in_numbers, "summary.csv has text where numbers belong",
           listed=False),
    Damage("summary_rows_removed", cut_to_header(S), "summary.csv has no rows", listed=False),
    Damage("summary_one_interval_column", summary_without("hdi"), "summary.csv has 1 interval columns", listed=False),
    Damage("data_missing", remove("data.csv"), "data.csv is missing"),
    # the run folder itself
    Damage("run_is_a_file", replace_folder("file"), "is a file, not a folder"),
    Damage("run_empty_folder", replace_folder("empty"), "metadata.json is missing"),
    Damage("run_broken_link", replace_folder("link"), "is a broken link"),
    # model.dot: the run stays usable; its graph is refused
    Damage("dot_url", write(G, 'digraph {\n\ta [URL="javascript:alert(1)" label=a]\n}\n'),
           "model.dot sets the attribute 'URL'", listed=False, graph_only=True),
    Damage("dot_href", write(G, 'digraph { a [href="https://evil.example" tooltip=x] }'),
           "model.dot sets the attribute 'href'", listed=False, graph_only=True),
    Damage("dot_quoted_attribute", write(G, 'digraph { a ["URL"="https://evil.example"] }'),
           "model.dot sets the attribute 'URL'", listed=False, graph_only=True),
    Damage("dot_graph_url", write(G, 'digraph { URL="https://evil.example"; a -> b }'),
           "model.dot sets the attribute 'URL'", listed=False, graph_only=True),
    Damage("dot_html_label", write(G, "digraph { a [label=<<b>x</b>>] }"), "model.dot holds an HTML label",
           listed=False, graph_only=True),
    Damage("dot_image", write(G, 'digraph { a [image="/etc/passwd"] }'), "model.dot sets the attribute 'image'",
           listed=False, graph_only=True),
    Damage("dot_not_dot", write(G, "<svg onload=alert(1)>"), "model.dot holds an HTML label", listed=False,
           graph_only=True),
    Damage("dot_huge", write(G, "digraph {" + " " * (2 * 2**20) + "}"), "model.dot is 2 MB, larger than any run",
           listed=False, graph_only=True),
    Damage("dot_not_utf8", write(G, b"digraph { \xff }"), "model.dot is not UTF-8", listed=False, graph_only=True),
    Damage("dot_words", write(G, "hello world"), "model.dot is not a DOT graph", listed=False, graph_only=True),
]
GRAPH_ONLY = [d for d in DAMAGES if d.graph_only]
RUN_DAMAGES = [d for d in DAMAGES if not d.graph_only]
BY_ID = {d.id: d for d in DAMAGES}


def pick(*ids: str) -> list[Damage]:
    return [BY_ID[i] for i in ids]
