"""Run references (every form), labels (aliases with history, tags, notes; atomic, concurrent,
damaged), the run history rows, deletion rules and a model bound to a run. Runs of the session are
copied into a private artifacts root; nothing here samples."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from bayes_core import artifacts, load_model
from bayes_core.errors import BayesCoreError, InvalidParametersError, NotTrainedError, RunNotFoundError
from bayes_core.runs import history, labels, refs

MODEL = "hierarchical_negbinom"


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "art"
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(path))
    return path


def copy_run(run, root, *, verdict: str | None = None, version: str | None = None, fit_path: str | None = None):
    """A copy of ``run`` under ``root`` (same id, not evaluated yet), its verdict / version / fit path
    edited if asked."""
    target = root / run.model_id / "runs" / run.run_id
    shutil.copytree(run.path, target, ignore=shutil.ignore_patterns("evaluation.json", "loo_pointwise.npz"))
    if verdict:
        path = target / artifacts.DIAGNOSTICS_FILE
        path.write_text(json.dumps({**json.loads(path.read_text()), "verdict": verdict}))
    if version or fit_path:
        path = target / artifacts.METADATA_FILE
        meta = json.loads(path.read_text())
        meta.update({k: v for k, v in (("model_version", version), ("fit_path", fit_path)) if v})
        path.write_text(json.dumps(meta))
    return artifacts.Run(run.model_id, run.run_id)


@pytest.fixture
def two_runs(nb_run, poisson_run, root):
    """(older, newer) copies: the older converged ('warning'), the newer not ('problem')."""
    return copy_run(nb_run, root, verdict="warning"), copy_run(poisson_run, root, verdict="problem", version="1.1.0")


# -- references -----------------------------------------------------------------------------------
def test_every_form_of_reference_resolves(two_runs):
    old, new = two_runs
    assert refs.resolve(MODEL, old.run_id) == old.run_id
    assert refs.resolve(MODEL, None) == refs.resolve(MODEL, "latest") == new.run_id
    assert refs.resolve(MODEL, "latest-converged") == old.run_id  # 'warning' counts as converged
    assert refs.resolve(MODEL, "v1.0.0") == old.run_id and refs.resolve(MODEL, "v1.1.0") == new.run_id
    labels.set_alias(MODEL, "production", old.run_id)
    assert refs.resolve(MODEL, "production") == old.run_id
    assert artifacts.load_run(MODEL, "production").run_id == old.run_id


def test_converged_means_good_or_warning_from_mcmc(nb_run, root):
    run = copy_run(nb_run, root, verdict="good")
    assert refs.is_converged(run)
    for verdict, path in (("problem", None), ("good", "fallback"), ("good", "approximate")):
        shutil.rmtree(run.path)
        run = copy_run(nb_run, root, verdict=verdict, fit_path=path)
        assert not refs.is_converged(run), (verdict, path)
        with pytest.raises(RunNotFoundError, match="no converged run"):
            refs.resolve(MODEL, "latest-converged")


def test_an_unknown_reference_lists_the_references_that_exist(two_runs):
    old, new = two_runs
    labels.set_alias(MODEL, "candidate", new.run_id)
    with pytest.raises(RunNotFoundError) as info:
        refs.resolve(MODEL, "prodution")
    message = str(info.value)
    assert "'prodution' names no run" in message
    for expected in (f"latest ({new.run_id})", f"latest-converged ({old.run_id})", f"candidate ({new.run_id})",
                     "versions v1.0.0, v1.1.0", "2 run id(s)"):
        assert expected in message, expected
    with pytest.raises(RunNotFoundError, match="no run trained from version 9.9.9.*Known references"):
        refs.resolve(MODEL, "v9.9.9")
    with pytest.raises(RunNotFoundError, match="No run 20990101-000000-000000-abcdef"):
        refs.resolve(MODEL, "20990101-000000-000000-abcdef")


def test_a_picker_defaults_to_production_then_the_newest_converged_then_the_newest(two_runs, nb_run, root):
    old, new = two_runs  # old converged ('warning'), new not
    assert history.picker(MODEL)["default"] == old.run_id
    assert "newest converged" in refs.default_run(MODEL)[1]
    labels.set_alias(MODEL, "production", new.run_id)
    chosen = history.picker(MODEL)
    assert chosen["default"] == new.run_id and chosen["why"] == "the alias 'production'"
    assert [o["run_id"] for o in chosen["options"]] == [new.run_id, old.run_id]
    assert chosen["options"][0]["label"] == f"{new.run_id} · problem · production"
    labels.remove_alias(MODEL, "production")
    shutil.rmtree(old.path)
    copy_run(nb_run, root, verdict="problem")
    assert refs.default_run(MODEL) == (new.run_id, "the newest run (none has converged and none is aliased "
                                                   "'production')")


def test_a_model_without_runs_says_how_to_train(root):
    with pytest.raises(NotTrainedError, match="python -m bayes_core train hierarchical_negbinom"):
        refs.resolve(MODEL, "latest-converged")


# -- labels ---------------------------------------------------------------------------------------
def test_moving_an_alias_is_recorded_with_time(two_runs):
    old, new = two_runs
    first = labels.set_alias(MODEL, "production", old.run_id)
    moved = labels.set_alias(MODEL, "production", new.run_id)
    assert first["action"] == "set" and moved == {**moved, "action": "moved", "previous": old.run_id,
                                                  "run_id": new.run_id}
    assert moved["at"] >= first["at"]
    assert labels.read(MODEL).aliases == {"production": new.run_id}  # one run per alias
    removed = labels.remove_alias(MODEL, "production")
    assert removed["action"] == "removed" and removed["previous"] == new.run_id
    assert [h["action"] for h in labels.read(MODEL).alias_history] == ["set", "moved", "removed"]
    with pytest.raises(InvalidParametersError, match="has no alias 'production'"):
        labels.remove_alias(MODEL, "production")


@pytest.mark.parametrize("name", ["latest", "latest-converged", "v1", "Production", "9lives", "a" * 33, "pro duction"])
def test_alias_names_are_checked(two_runs, name):
    with pytest.raises(InvalidParametersError, match="alias"):
        labels.set_alias(MODEL, name, two_runs[0].run_id)


def test_tags_and_notes(two_runs):
    run = two_runs[0]
    assert labels.set_tag(MODEL, run.run_id, "purpose", "baseline") == {"purpose": "baseline"}
    assert labels.set_tag(MODEL, run.run_id, "purpose", "") == {}  # KEY= removes it
    assert labels.set_note(MODEL, run.run_id, "  first try\nwith two lines ") == "first try\nwith two lines"
    with pytest.raises(InvalidParametersError, match="line breaks"):
        labels.set_tag(MODEL, run.run_id, "k", "a\nb")
    with pytest.raises(InvalidParametersError, match="not a tag key"):
        labels.set_tag(MODEL, run.run_id, "bad key", "x")
    with pytest.raises(RunNotFoundError):
        labels.set_note(MODEL, "20990101-000000-000000-abcdef", "ghost")


def test_the_registry_file_is_replaced_atomically_and_concurrent_writers_lose_nothing(two_runs):
    run = two_runs[0]

    def writer(i: int) -> None:
        for j in range(5):
            labels.set_tag(MODEL, run.run_id, f"w{i}_{j}", str(j))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = labels.registry_path(MODEL)
    assert len(json.loads(path.read_text())["tags"][run.run_id]) == 20
    assert path.with_name("registry.json.bak").is_file()
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_damaged_registry_is_reported_and_the_runs_stay_readable(two_runs):
    old, new = two_runs
    labels.set_alias(MODEL, "production", old.run_id)
    labels.set_note(MODEL, old.run_id, "kept in the backup")
    path = labels.registry_path(MODEL)
    path.write_text('{"aliases": {"production": ')
    with pytest.raises(labels.RegistryDamagedError) as info:
        labels.read(MODEL)
    assert str(path) in str(info.value) and "registry.json.bak" in str(info.value)
    listing = history.list_rows(MODEL)
    assert [r["run_id"] for r in listing["runs"]] == [new.run_id, old.run_id]  # newest first, still listed
    assert listing["labels_error"] and listing["runs"][0]["aliases"] is None  # shown as unavailable
    assert refs.resolve(MODEL, "latest") == new.run_id
    with pytest.raises(labels.RegistryDamagedError):
        refs.resolve(MODEL, "production")
    with pytest.raises(labels.RegistryDamagedError):
        labels.set_note(MODEL, old.run_id, "lost?")  # never overwrites a damaged file
    path.write_text(json.dumps({"aliases": ["not", "a", "mapping"]}))
    with pytest.raises(labels.RegistryDamagedError, match="'aliases' must map"):
        labels.read(MODEL)


# -- history rows, show, load_model ---------------------------------------------------------------
def test_list_rows_carry_what_a_runs_page_shows(two_runs):
    old, new = two_runs
    labels.set_alias(MODEL, "production", old.run_id)
    labels.set_tag(MODEL, old.run_id, "purpose", "baseline")
    labels.set_note(MODEL, old.run_id, "the reference run")
    rows = history.list_rows(MODEL)["runs"]
    assert [r["run_id"] for r in rows] == [new.run_id, old.run_id]
    row = rows[1]
    assert row["aliases"] == ["production"] and row["tags"] == {"purpose": "baseline"}
    assert row["note"] == "the reference run" and row["verdict"] == "warning" and row["converged"]
    for key in ("created_at", "model_version", "sampler", "device", "draws", "chains", "duration_s", "data_hash",
                "fit_path", "evaluation"):
        assert key in row, key
    assert row["draws"] == 60 and row["chains"] == 2 and row["duration_s"] > 0 and row["evaluation"] is None
    shown = history.show(MODEL, "production")
    assert shown["run_id"] == old.run_id and shown["alias_history"][0]["alias"] == "production"
    assert shown["metadata"]["run_id"] == old.run_id and "r_hat_max" in shown["diagnostics"]


def test_load_model_binds_the_model_to_the_named_run(nb_run, poisson_run, root):
    old, new = copy_run(nb_run, root), copy_run(poisson_run, root)  # traces intact: predictions read them
    labels.set_alias(MODEL, "production", old.run_id)
    model = load_model(MODEL, ref="production")
    assert model.bound_run.run_id == old.run_id and model.load_run().run_id == old.run_id
    table = model.predict({"entity": "E001", "windows": 1, "threshold": 3, "credible_level": 0.9})
    assert table["run_id"].iloc[0] == old.run_id
    poisson = load_model(MODEL, version="1.0.0")  # the newest run of that version
    assert poisson.options["likelihood"] == "poisson" and poisson.load_run().run_id == new.run_id
    assert poisson.predict({"entity": "E001", "windows": 2, "threshold": 3, "credible_level": 0.9})[
        "p_total_at_least_threshold"].iloc[0] > 0


# -- deletion -------------------------------------------------------------------------------------
def test_a_run_holding_an_alias_is_deleted_only_when_forced(two_runs):
    old, _ = two_runs
    labels.set_alias(MODEL, "production", old.run_id)
    labels.set_tag(MODEL, old.run_id, "k", "v")
    with pytest.raises(BayesCoreError, match="holds the alias\\(es\\) production.*--force"):
        history.delete(MODEL, old.run_id)
    assert old.path.is_dir()
    result = history.delete(MODEL, old.run_id, force=True)
    assert result["aliases_removed"] == ["production"] and not old.path.exists()
    found = labels.read(MODEL)
    assert found.aliases == {} and old.run_id not in found.tags
    assert found.alias_history[-1] == {**found.alias_history[-1], "action": "removed", "reason": "run deleted"}
    assert not [p for p in old.path.parent.iterdir() if p.name.startswith(".del-")]  # nothing half-deleted


def test_a_run_whose_data_a_queued_or_running_job_uses_is_not_deleted(two_runs):
    from bayes_core.jobs import get_runner
    from bayes_core.jobs.api import Job, JobState
    from bayes_core.jobs.store import now_iso

    old, new = two_runs
    runner = get_runner()
    runner.store.insert(Job(job_id="20260101-000000-0000abcd", model_id=MODEL, state=JobState.RUNNING, settings={},
                            options={}, data_ref={"kind": "run", "run_id": new.run_id}, created_at=now_iso(),
                            started_at=now_iso(), heartbeat_at=now_iso(), host="another-host", pid=1))
    with pytest.raises(BayesCoreError, match="job\\(s\\) 20260101-000000-0000abcd will train on its data"):
        history.delete(MODEL, new.run_id)
    assert history.delete(MODEL, old.run_id)["deleted"]  # another run is free to go
    assert history.delete(MODEL, new.run_id, force=True)["forced"]


def test_delete_takes_a_run_id_only(two_runs):
    with pytest.raises(RunNotFoundError, match="not a valid run id"):
        history.delete(MODEL, "latest")


def test_the_default_run_passes_over_a_damaged_newest_run(two_runs):
    """A picker never opens a run it lists as unreadable while a readable one exists."""
    old, new = two_runs
    diagnostics = old.path / artifacts.DIAGNOSTICS_FILE
    diagnostics.write_text(json.dumps({**json.loads(diagnostics.read_text()), "verdict": "problem"}))
    (new.path / artifacts.METADATA_FILE).write_text("{")
    assert refs.default_run(MODEL) == (old.run_id, "the newest readable run (none has converged and none is "
                                                   "aliased 'production')")
