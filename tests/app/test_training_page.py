"""AppTest of the training page: submitting adds a job row; invalid values are reported, not queued."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bayes_core.jobs import get_runner
from ui.training import validate_upload

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "training.py")
MODEL = "hierarchical_negbinom"
KEY = f"train_{MODEL}_"


@pytest.fixture
def page(monkeypatch):
    monkeypatch.setenv("BAYES_MAX_JOBS", "4")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["model"] = MODEL
    yield at
    runner = get_runner()
    for job in runner.list():
        if job.is_active:
            runner.cancel(job.job_id)


@pytest.fixture
def own_store(tmp_path, monkeypatch):
    """An artifacts folder of the test's own: the jobs panel then lists no other test's (failed)
    jobs, so the page's messages are this test's alone."""
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.markdown, *at.caption, *at.success, *at.error, *at.info])


def test_page_shows_the_form_with_config_defaults(page, registry):
    page.run()
    assert not page.exception
    assert page.selectbox(key="training_model").value == MODEL
    training = registry.get_model_metadata(MODEL).training
    assert page.number_input(key=KEY + "draws").value == training.draws
    assert page.number_input(key=KEY + "target_accept").value == pytest.approx(training.target_accept)
    assert page.checkbox(key=KEY + "opt__non_centered").value is False  # the model option, from config


def test_unknown_model_in_the_url_is_reported(page):
    page.query_params["model"] = "../etc"
    page.run()
    assert not page.exception
    assert any("model “\\.\\.\\/etc”: no such model" in w.value for w in page.warning)  # shown Markdown-escaped


def test_submitting_adds_a_job_row(page):
    page.run()
    before = {j.job_id for j in get_runner().list(MODEL)}
    for name, value in (("draws", 60), ("tune", 60), ("chains", 1)):
        page.number_input(key=KEY + name).set_value(value)
    page.checkbox(key=KEY + "opt__non_centered").check()
    page.button(key="train_submit").click().run()
    assert not page.exception
    new = [j for j in get_runner().list(MODEL) if j.job_id not in before]
    assert len(new) == 1, [e.value for e in page.error]
    job = new[0]
    assert job.settings["draws"] == 60 and job.settings["chains"] == 1 and job.options == {"non_centered": True, "likelihood": "negative_binomial"}
    assert any(job.job_id in s.value for s in page.success)
    assert job.job_id in texts(page)  # its row in the jobs table
    assert f"{MODEL} · 60 draws + 60 warm-up × 1 chains" in texts(page).replace("\\", "")  # shown escaped
    assert any(b.label == "Cancel" for b in page.button) or not get_runner().status(job.job_id).is_active


def test_number_inputs_carry_the_settings_bounds(page):
    from bayes_core.settings import TARGET_ACCEPT_BOUNDS, WHOLE_BOUNDS

    page.run()
    for name, (lo, hi) in WHOLE_BOUNDS.items():
        widget = page.number_input(key=KEY + name)
        assert (widget.min, widget.max) == (lo, hi), name
    widget = page.number_input(key=KEY + "target_accept")
    assert (widget.min, widget.max) == TARGET_ACCEPT_BOUNDS


def test_invalid_form_value_is_reported_and_nothing_queued(page):
    """The inputs stop values outside the bounds; an end the core excludes (target_accept 1.0) is
    reported with the core's message, and nothing is queued."""
    page.run()
    before = len(get_runner().list(limit=10_000))
    page.number_input(key=KEY + "target_accept").set_value(1.0)
    page.button(key="train_submit").click().run()
    assert not page.exception
    errors = re.sub(r"\\(.)", r"\1", "\n".join(e.value for e in page.error))  # shown Markdown-escaped
    assert "target_accept: must be between 0.5 and 1 (exclusive), got 1.0" in errors
    assert len(get_runner().list(limit=10_000)) == before


def test_gpu_without_a_gpu_is_refused_on_the_page(page):
    page.run()
    page.selectbox(key=KEY + "device").set_value("gpu")
    page.button(key="train_submit").click().run()
    assert any("no GPU" in e.value for e in page.error)


def test_upload_validation_lists_every_problem(nb_model):
    problems = validate_upload(nb_model, b"entity,count\nA,-1\nB,x\nC,2.5\n")
    assert len(problems) == 3 and any("negative" in p for p in problems) and any("row 3" in p for p in problems)
    assert validate_upload(nb_model, b"entity,count\nA,1\nB,2\n") == []


def test_uploaded_csv_is_validated_on_upload(own_store, page):
    page.run()
    page.radio(key=KEY + "data").set_value("Upload a CSV").run()
    page.file_uploader(key=KEY + "upload").upload("counts.csv", b"entity,count\nA,-1\nB,x\n", "text/csv").run()
    assert not page.exception
    errors = [e.value for e in page.error]
    assert len(errors) == 1, "the heading and its problems in one box"
    assert "`counts.csv` cannot be used" in errors[0] and "header = row 1" in errors[0]
    assert "negative value in row 2" in errors[0] and "not a number in row 3" in errors[0]
    assert errors[0].count("\n- ") == 2, "one bullet per problem"
    page.file_uploader(key=KEY + "upload").upload("good.csv", b"entity,count\nA,1\nB,2\n", "text/csv").run()
    assert any("`good.csv`: 2 valid rows" in s.value for s in page.success)
    assert not page.error, "the previous file's error is gone"
    page.file_uploader(key=KEY + "upload").upload("notes.txt", b"entity,count\nA,1\n", "text/plain").run()
    assert not page.success, "a rejected file leaves no earlier success on screen"
    assert [e.value for e in page.error][0].startswith("`notes.txt` is not a CSV file")


def test_damaged_job_store_is_reported_and_the_page_keeps_serving(page, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path))
    store = tmp_path / "jobs.sqlite3"
    store.write_bytes(b"not a database " * 100)
    page.run()
    assert not page.exception
    errors = [e.value for e in page.error]
    assert any("Cannot read the jobs" in e and "is damaged" in e and "Move it aside" in e for e in errors), errors
    page.button(key="train_submit").click().run()  # the form still works, and says why nothing was queued
    assert not page.exception
    assert any("The job was not submitted" in e.value and "is damaged" in e.value for e in page.error)
    store.unlink()  # recovered as the message says: a new store on next use
    page.run()
    assert not page.exception and not any("is damaged" in e.value for e in page.error)


def test_bad_job_setting_is_reported_in_the_jobs_panel(page, monkeypatch):
    monkeypatch.setenv("BAYES_MAX_JOBS", "-3")
    page.run()
    assert not page.exception
    assert any("BAYES_MAX_JOBS='-3' is not a whole number" in re.sub(r"\\(.)", r"\1", e.value) for e in page.error)
    assert page.button(key="train_submit")
    monkeypatch.setenv("BAYES_MAX_JOBS", "4")


# -- issue #12.1: the data is checked with the model options the analyst chose ---------------------------
LR = "bayesian_linear_regression"
LR_KEY = f"train_{LR}_"


def _wait_until_finished(job_id: str, timeout_s: float = 300) -> "Job":  # noqa: F821
    import time

    deadline = time.monotonic() + timeout_s
    while (job := get_runner().status(job_id)).is_active:
        assert time.monotonic() < deadline, f"job {job_id} still {job.state} after {timeout_s} s"
        time.sleep(1)
    return job


def _upload_lr_csv(at: AppTest) -> None:
    from tests.conftest import lr_sales_csv

    at.radio(key=LR_KEY + "data").set_value("Upload a CSV").run()
    at.file_uploader(key=LR_KEY + "upload").upload("lr.csv", lr_sales_csv(), "text/csv").run()


@pytest.mark.slow
def test_walk_through_lr_csv_with_target_sales_validates_trains_and_the_run_records_it(own_store, page):
    """The analyst's walk-through: upload sales,price,ads,region; the page says which option to set;
    set Target column = sales, Features = price,ads; the file is usable, Train submits a job, and the
    job succeeds with a run whose options say target sales."""
    from bayes_core import artifacts
    from tests.conftest import TINY

    page.query_params["model"] = LR
    page.run()
    _upload_lr_csv(page)
    assert not page.exception
    assert any("What the data must hold depends on the model options below (Target column, Feature columns)" in c.value
               for c in page.caption)
    errors = [e.value for e in page.error]
    assert len(errors) == 1 and "lr.csv" in errors[0], errors
    assert "no column 'y': set the Target column option (target) to one of sales, price, ads" in errors[0].replace("\\", "")

    page.text_input(key=LR_KEY + "opt__target").set_value("sales")
    page.text_input(key=LR_KEY + "opt__features").set_value("price,ads").run()
    assert not page.error, [e.value for e in page.error]
    valid = [s.value.replace("\\", "") for s in page.success]
    assert valid == ["`lr.csv`: 40 valid rows, checked with Target column = sales, Feature columns = price,ads."]

    before = {j.job_id for j in get_runner().list(LR)}
    for name in ("draws", "tune", "chains", "seed"):
        page.number_input(key=LR_KEY + name).set_value(TINY[name])
    page.button(key="train_submit").click().run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    new = [j for j in get_runner().list(LR) if j.job_id not in before]
    assert len(new) == 1 and any(new[0].job_id in s.value for s in page.success)
    assert new[0].options == {"target": "sales", "features": "price,ads"}
    assert new[0].data_ref["filename"] == "lr.csv"

    job = _wait_until_finished(new[0].job_id)
    assert job.state == "succeeded", (job.state, job.error)
    run = artifacts.Run(LR, job.run_id)
    assert run.metadata["options"] == {"target": "sales", "features": "price,ads"}
    assert run.metadata["settings"]["draws"] == TINY["draws"]
    assert list(run.data.columns) == ["price", "ads", "sales"]


def test_an_option_change_revalidates_the_upload_and_names_the_option(own_store, page):
    """A schema that declares option dependence is checked again when the options change: a good
    file turns bad when the target names a missing column (the message names the option), and
    Train refuses it; the example data is checked the same way."""
    page.query_params["model"] = LR
    page.run()
    page.text_input(key=LR_KEY + "opt__target").set_value("sales").run()
    _upload_lr_csv(page)
    assert not page.error and [s.value for s in page.success][0].startswith("`lr.csv`: 40 valid rows")

    page.text_input(key=LR_KEY + "opt__target").set_value("revenue").run()
    errors = [e.value.replace("\\", "") for e in page.error]
    assert len(errors) == 1 and not page.success, errors
    assert "no column 'revenue': set the Target column option (target) to one of sales, price, ads" in errors[0]
    before = len(get_runner().list(limit=10_000))
    page.button(key="train_submit").click().run()
    assert any("Choose usable training data first" in e.value for e in page.error)
    assert len(get_runner().list(limit=10_000)) == before, "nothing was queued"

    page.text_input(key=LR_KEY + "opt__features").set_value("price,tv")
    page.text_input(key=LR_KEY + "opt__target").set_value("sales").run()
    errors = [e.value.replace("\\", "") for e in page.error]
    assert len(errors) == 1 and "no column 'tv': the Feature columns option (features) lists it" in errors[0]

    page.radio(key=LR_KEY + "data").set_value("Example data").run()  # x1, x2, x3, y: no 'sales'
    errors = [e.value.replace("\\", "") for e in page.error]
    assert len(errors) == 1 and errors[0].startswith("The example data cannot be used with these model options")
    assert "no column 'sales': set the Target column option (target) to one of x1, x2, x3, y" in errors[0]


def test_options_that_cannot_be_used_together_hold_the_data_check_and_the_job(own_store, page):
    page.query_params["model"] = "player_props"
    page.run()
    page.text_input(key="train_player_props_opt__val_end").set_value("2025-12-01").run()
    assert any("Validation window end: needs train_end" in e.value.replace("\\", "") for e in page.error)
    assert any("checked once the model options below are valid" in i.value for i in page.info)
    page.button(key="train_submit").click().run()
    assert any("fix the model options marked above" in e.value for e in page.error)


@pytest.mark.ray
def test_training_through_ray_shows_the_runner_and_rays_job_id(ray_env, page):
    """The page does not know its runner: with BAYES_JOB_RUNNER=ray the same form trains on the Ray
    cluster, and the job's row names the runner and Ray's job id, then its run."""
    import time

    page.run()
    for name, value in (("draws", 60), ("tune", 60), ("chains", 1)):
        page.number_input(key=KEY + name).set_value(value)
    page.button(key="train_submit").click().run()
    assert not page.exception, page.exception
    job = get_runner().list(MODEL, limit=1)[0]
    assert job.runner == "ray" and job.external_id == job.job_id
    assert f"ray `{job.external_id}`" in texts(page)
    deadline = time.monotonic() + 180
    while get_runner().status(job.job_id).is_active:
        assert time.monotonic() < deadline, get_runner().logs(job.job_id, 30)
        time.sleep(0.5)
    job = get_runner().status(job.job_id)
    assert job.state == "succeeded", job.error
    page.run()
    assert not page.exception
    assert f"**succeeded** · `{job.job_id}`" in texts(page) and f"ray `{job.job_id}`" in texts(page)
    assert job.run_id in texts(page)


def test_a_jobs_progress_counts_warm_up_and_says_so(own_store, monkeypatch):
    """The sampler's count runs through warm-up and draws of every chain; the bar says so (a job of
    200 draws × 2 chains ended at '800/800 draws'), and an approximate fit counts ADVI iterations."""
    from bayes_core.jobs import Job
    from ui import training

    drawn = {}
    monkeypatch.setattr(training, "get_runner", lambda: type("Runner", (), {"logs": lambda self, *a, **k: ""})())
    monkeypatch.setattr(training.st, "columns", lambda *a, **k: [_Recorder(drawn, "head"), _Recorder(drawn, "bar"),
                                                                _Recorder(drawn, "action")])
    base = dict(job_id="20260101-000000-00000000", model_id=MODEL, state="running", options={}, data_ref={},
                created_at="2026-01-01T00:00:00")
    mcmc = Job(**base, settings={"draws": 200, "tune": 200, "chains": 2, "method": "mcmc"},
               progress={"phase": "tuning", "draws_done": 300, "draws_total": 800})
    training.render_job(mcmc)
    assert "200 draws + 200 warm-up × 2 chains" in drawn["head"]
    assert drawn["bar"] == "tuning 300/800 iterations (warm-up included)"
    advi = Job(**base, settings={"draws": 1000, "tune": 1000, "chains": 2, "method": "approximate"},
               progress={"phase": "fitting", "draws_done": 1500, "draws_total": 20000})
    training.render_job(advi)
    assert "1000 draws × 2 chains" in drawn["head"] and "warm-up" not in drawn["head"]
    assert drawn["bar"] == "fitting ADVI iteration 1500 of at most 20000"


class _Recorder:
    """A column that keeps what the job row draws in it (markdown text, the progress bar's text)."""

    def __init__(self, drawn: dict, name: str):
        self.drawn, self.name = drawn, name

    def markdown(self, text, **_):
        self.drawn[self.name] = text

    def progress(self, _value, text=""):
        self.drawn[self.name] = text

    def caption(self, *_a, **_k):
        pass

    def button(self, *_a, **_k):
        return False

    def __getattr__(self, _name):
        return lambda *a, **k: None


def test_priors_moved_on_the_prior_page_are_offered_and_the_job_trains_with_them(own_store):
    """'Move a prior … before spending time on training': the moved value reaches the job (it was
    silently dropped — the run kept the config's prior), and unticking it trains with the config's."""
    from tests.app.conftest import new_app
    from tests.app.test_pages import open_page

    at = open_page(new_app(), "pages/prior_predictive.py", model=MODEL)
    at.slider(key=f"prior_{MODEL}_mu_rate").set_value(0.3).run()
    assert not at.exception
    at.switch_page("pages/training.py").run()
    assert not at.exception
    offer = at.checkbox(key=f"train_{MODEL}_moved_priors")
    assert offer.value is True and "mu\\_rate = 0.3 (config 0.1)" in offer.label
    for name, value in (("draws", 20), ("tune", 20), ("chains", 1)):
        at.number_input(key=KEY + name).set_value(value)
    at.button(key="train_submit").click().run()
    jobs = get_runner().list(MODEL)
    assert len(jobs) == 1 and jobs[0].priors == {"mu_rate": 0.3}, [e.value for e in at.error]
    at.checkbox(key=f"train_{MODEL}_moved_priors").uncheck().run()
    at.button(key="train_submit").click().run()
    (newest,) = [j for j in get_runner().list(MODEL) if j.job_id != jobs[0].job_id]
    assert newest.priors == {}
    for job in get_runner().list(MODEL):
        if job.is_active:
            get_runner().cancel(job.job_id)
