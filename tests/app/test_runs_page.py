"""The Runs page, its comparison view and the run pickers of every page (issues #13 App, #12.5).

Each test works on copies of the session's runs in a private artifacts root (so aliases, deletions
and edited verdicts never reach other tests): ``old`` = the NB run (verdict edited to 'warning', so
it counts as converged), ``new`` = the Poisson variant on the same data ('problem'), and ``other`` =
an NB run trained on a subset of the data (so LOO must be withheld against it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st

from bayes_core import artifacts
from bayes_core.runs import evaluation, labels
from tests.app.conftest import NB
from tests.app.test_pages import open_page, texts
from tests.conftest import TINY

RUNS_PAGE = "pages/runs.py"


@dataclass(frozen=True)
class Runs:
    old: str
    new: str
    other: str
    root: Path


@pytest.fixture(scope="module")
def other_data_run(registry, nb_run, poisson_run, tmp_path_factory):
    """A tiny NB run on a subset of the example data, trained in its own root; the session's two runs
    evaluated once (their copies carry the evaluation)."""
    for run in (nb_run, poisson_run):
        evaluation.evaluate(run)
    scratch, previous = tmp_path_factory.mktemp("other_data"), os.environ["BAYES_ARTIFACTS_DIR"]
    os.environ["BAYES_ARTIFACTS_DIR"] = str(scratch)
    try:
        model = registry.load_model_instance(NB)
        run = model.train(data=model.load_data().iloc[:-7], **TINY)
        evaluation.evaluate(run)
    finally:
        os.environ["BAYES_ARTIFACTS_DIR"] = previous
    return run


def _copy(run, root: Path, verdict: str | None = None) -> str:
    target = root / NB / "runs" / run.run_id
    shutil.copytree(run.path, target)
    if verdict:
        path = target / artifacts.DIAGNOSTICS_FILE
        path.write_text(json.dumps({**json.loads(path.read_text()), "verdict": verdict}))
    return run.run_id


@pytest.fixture
def runs(nb_run, poisson_run, other_data_run, tmp_path, monkeypatch):
    root = tmp_path / "art"
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    made = Runs(old=_copy(nb_run, root, "warning"), new=_copy(poisson_run, root, "problem"),
                other=_copy(other_data_run, root, "problem"), root=root)
    st.cache_data.clear()  # the same run ids are cached from the session's root by other tests
    st.cache_resource.clear()
    yield made
    st.cache_data.clear()
    st.cache_resource.clear()


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


# -- run pickers ----------------------------------------------------------------------------------
def test_picker_defaults_to_the_newest_converged_run_then_production_and_says_why(app, runs):
    at = open_page(app, "pages/diagnostics.py", model=NB)
    assert_clean(at)
    picker = at.selectbox[1]
    assert picker.value == runs.old, "the newest run ('problem') is passed over for the newest converged one"
    options = {o.split(" · ")[1]: o for o in picker.options}
    assert options[runs.new].endswith(" · problem") and options[runs.old].endswith(" · warning")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d · ", options[runs.old]), "date · id · verdict"
    assert any(f"Run `{runs.old}` (warning): shown by default as the newest converged run (verdict good or "
               "warning" in c
               for c in texts(at, "caption"))

    labels.set_alias(NB, "production", runs.new)
    at = open_page(app, "pages/diagnostics.py", model=NB)
    assert at.selectbox[1].value == runs.new
    assert any(o.endswith(" · problem · production") for o in at.selectbox[1].options)
    assert any("shown by default as the alias 'production'" in c for c in texts(at, "caption"))


def test_picker_deep_links_accept_any_reference_and_name_the_known_ones_when_bad(app, runs):
    labels.set_alias(NB, "candidate", runs.new)
    at = open_page(app, "pages/diagnostics.py", model=NB, run="candidate")
    assert_clean(at)
    assert at.selectbox[1].value == runs.new and at.query_params["run"] in ("candidate", ["candidate"])
    assert any("the link's “candidate” names it" in c for c in texts(at, "caption"))
    at = open_page(app, "pages/diagnostics.py", model=NB, run="latest-converged")
    assert at.selectbox[1].value == runs.old

    at = open_page(app, "pages/predictions.py", model=NB, run="prodution")
    assert_clean(at)
    errors = texts(at, "error")
    assert any("Ignored the link's run “prodution”" in e and "Known references" in e and "candidate" in e
               for e in errors), errors
    assert at.selectbox[1].value == runs.old, "the default run is shown instead"


def test_predictions_warn_about_a_run_whose_verdict_is_warning(app, runs):
    at = open_page(app, "pages/predictions.py", model=NB, run=runs.old)
    assert_clean(at)
    assert any("diagnostics have **warnings**" in w for w in texts(at, "warning"))
    at = open_page(app, "pages/predictions.py", model=NB, run=runs.new)
    assert any("did **not** converge" in w for w in texts(at, "warning"))


# -- the Runs page --------------------------------------------------------------------------------
def test_runs_page_table_shows_verdict_chips_aliases_tags_notes_and_evaluation(app, runs):
    labels.set_alias(NB, "production", runs.old)
    labels.set_tag(NB, runs.new, "variant", "poisson")
    labels.set_note(NB, runs.new, "Is the extra-Poisson variation needed?")
    at = open_page(app, RUNS_PAGE, model=NB)
    assert_clean(at)
    assert at.title[0].value == "Runs"
    table = at.table[0].value
    assert len(table) == 3
    by_run = {re.search(r"`(\S+)`", cell).group(1): i for i, cell in enumerate(table["run"])}
    old, new = table.iloc[by_run[runs.old]], table.iloc[by_run[runs.new]]
    assert ":material/warning:" in old["verdict"] and ":material/error:" in new["verdict"]
    assert "production" in old["aliases"] and "variant=poisson" in new["tags"].replace("\\", "")
    assert "extra-Poisson" in new["note"].replace("\\", "")
    assert "elpd_loo" in old["evaluation"].replace("\\", "") and old["data hash"] == new["data hash"]

    at.multiselect(key=f"runs_{NB}_verdicts").set_value(["problem"]).run()
    assert len(at.table[0].value) == 2
    at.text_input(key=f"runs_{NB}_text").set_value("variant=pois").run()
    assert len(at.table[0].value) == 1


def test_edit_note_tags_and_alias_in_place_and_labels_errors_are_shown(app, runs):
    at = open_page(app, RUNS_PAGE, model=NB, run=runs.new)
    assert_clean(at)
    at.text_area(key=f"note_{runs.new}").input("Poisson variant for the LOO question")
    at.text_input(key=f"alias_{runs.new}").input("candidate")
    at.text_area(key=f"tags_{runs.new}").input("variant=poisson")
    at.button(key=f"save_labels_{runs.new}").click().run()
    assert_clean(at)
    found = labels.read(NB)
    assert found.notes[runs.new] == "Poisson variant for the LOO question"
    assert found.aliases["candidate"] == runs.new and found.tags[runs.new] == {"variant": "poisson"}
    assert any("saved" in s and "alias candidate" in s for s in texts(at, "success"))
    assert any("candidate" in cell for cell in at.table[0].value["aliases"]), "the table shows the change"

    at.text_input(key=f"alias_{runs.new}").input("Not An Alias!")
    at.text_area(key=f"tags_{runs.new}").input("variant=poisson\nno equals sign\n=x")
    at.button(key=f"save_labels_{runs.new}").click().run()
    errors = texts(at, "error")
    assert any("is not an alias name" in e for e in errors) and any("is not KEY=VALUE" in e for e in errors), errors
    assert "tag: =x is not KEY=VALUE" in errors, "escaped once, where shown (a stray backslash before)"
    assert "Not An Alias!" not in labels.read(NB).aliases


def test_delete_is_refused_while_aliased_and_done_when_forced(app, runs):
    labels.set_alias(NB, "candidate", runs.other)
    at = open_page(app, RUNS_PAGE, model=NB, run=runs.other)
    at.button(key=f"delete_{runs.other}").click().run()
    assert any("for good" in w for w in texts(at, "warning")), "a confirmation comes first"
    assert (runs.root / NB / "runs" / runs.other).is_dir()
    at.button(key=f"confirm_delete_{runs.other}").click().run()
    assert_clean(at)
    assert any("was not deleted" in e and "candidate" in e for e in texts(at, "error")), "the core's message"
    assert (runs.root / NB / "runs" / runs.other).is_dir()

    at.checkbox(key=f"force_{runs.other}").check().run()
    at.button(key=f"confirm_delete_{runs.other}").click().run()
    assert_clean(at)
    assert not (runs.root / NB / "runs" / runs.other).exists()
    assert any(f"Run {runs.other} deleted" in s and "candidate" in s for s in texts(at, "success"))
    assert len(at.table[0].value) == 2 and "candidate" not in labels.read(NB).aliases


def test_runs_page_bad_deep_link_names_the_known_references(app, runs):
    at = open_page(app, RUNS_PAGE, model=NB, run="../../etc", compare=f"{runs.old},nonsense")
    assert_clean(at)
    errors = texts(at, "error")
    assert any("Ignored the link's run" in e and "Known references" in e for e in errors), errors
    assert any("Ignored part of the link's comparison" in e and "nonsense" in e for e in errors), errors


# -- comparison -----------------------------------------------------------------------------------
def test_comparing_runs_on_the_same_data_shows_the_elpd_table_and_verdict(app, runs):
    at = open_page(app, RUNS_PAGE, model=NB, compare=f"{runs.old},{runs.new}")
    assert_clean(at)
    assert at.multiselect(key=f"compare_{NB}").value == [runs.old, runs.new]
    elpd = next(t.value for t in at.table if "elpd_diff" in t.value.columns)
    weights, diffs = elpd["weight"].astype(float), elpd["elpd_diff"].astype(float)
    assert len(elpd) == 2 and abs(weights.sum() - 1) < 0.02 and diffs.iloc[0] == 0 and diffs.iloc[1] <= 0
    assert elpd["decision"].iloc[0] == "best"
    verdict = " ".join(texts(at, "markdown"))
    assert "Δelpd" in verdict and ("indistinguishable" in verdict or "better" in verdict or "ahead" in verdict)
    settings = next(d.value for d in at.dataframe if "setting" in d.value.columns and runs.old in d.value.columns)
    assert "options.likelihood" in set(settings["setting"])
    forest = [c.proto.spec for c in at.get("plotly_chart") if "HDI:" in c.proto.spec]
    assert forest and "theta" in forest[0] and "likelihood=poisson" in forest[0], "one panel per variable, runs named"


def test_comparing_runs_on_different_data_withholds_elpd_and_says_why(app, runs):
    at = open_page(app, RUNS_PAGE, model=NB, compare=f"{runs.old},{runs.other}")
    assert_clean(at)
    assert any("ELPD is withheld" in i and "different data" in i for i in texts(at, "info"))
    assert not any("elpd_diff" in t.value.columns for t in at.table)
    settings = next(d.value for d in at.dataframe if "setting" in d.value.columns and runs.old in d.value.columns)
    assert "data_hash" in set(settings["setting"])


def test_catalogue_card_shows_the_production_run_and_its_headline(app, runs):
    labels.set_alias(NB, "production", runs.old)
    at = open_page(app, "pages/catalogue.py")
    assert_clean(at)
    line = next(c for c in texts(at, "caption") if "Production" in c)
    assert runs.old in line and "elpd_loo" in line
