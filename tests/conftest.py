"""Shared fixtures: every test writes into a temporary artifacts directory, never ./artifacts."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

# Tiny sampling settings: enough to exercise every code path, small enough for a 2-core CI.
TINY = dict(draws=60, tune=60, chains=2, seed=1)


def lr_sales_csv(n: int = 40, seed: int = 7) -> bytes:
    """The analyst's ``lr.csv`` of issue #12.1: ``sales`` explained by ``price`` and ``ads``, plus a
    text column ``region``; no column is named ``y`` (the linear regression's default target)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    price, ads = rng.uniform(5, 15, n).round(2), rng.integers(0, 10, n)
    sales = (50 - 2 * price + 3 * ads + rng.normal(0, 2, n)).round(2)
    region = rng.choice(["north", "south"], n)
    return pd.DataFrame({"sales": sales, "price": price, "ads": ads, "region": region}).to_csv(index=False).encode()


LONG_MARKERS = ("slow", "e2e", "ray")
# The longest files, longest first (seconds on 2 cores with pytensor's caches cold, as on CI): only an
# order hint, so a stale list costs balance, never a result.
LONGEST_FILES = ("test_player_props.py", "test_sbc.py", "test_contract.py", "test_sharpe.py", "test_jobs.py",
                 "test_runner_contract.py", "test_pairs_checks.py", "test_bench_smoke.py")


def pytest_collection_modifyitems(items):
    """Files that train, compile, drive a browser or use Ray run first, the longest of them first: under
    ``--dist loadfile --no-loadscope-reorder`` (the Makefile's) each worker takes the next file when it is
    free, and a long file taken last keeps one worker busy while the other waits; the short files then
    fill the end. Order within a file is kept (a stable sort by file)."""
    long_files = {item.path for item in items if any(item.get_closest_marker(m) for m in LONG_MARKERS)}

    def rank(item) -> tuple[bool, int]:
        name = item.path.name
        return item.path not in long_files, LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)


@pytest.fixture(scope="session", autouse=True)
def artifacts_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("artifacts")
    old = os.environ.get("BAYES_ARTIFACTS_DIR")
    os.environ["BAYES_ARTIFACTS_DIR"] = str(path)
    os.environ.setdefault("BAYES_FORCE_NO_GPU", "1")
    yield path
    stop_warm_workers(tmp_path_factory.getbasetemp())
    if old is None:
        os.environ.pop("BAYES_ARTIFACTS_DIR", None)
    else:
        os.environ["BAYES_ARTIFACTS_DIR"] = old


def stop_warm_workers(base: Path) -> None:
    """Stop every warm job worker this session's jobs started — in the session's artifacts and in any
    test's own (every job store under the session's temporary folder) — by the pids recorded in
    those stores, so a test run leaves no process behind; their idle exit is only the backstop."""
    from bayes_core.errors import BayesCoreError
    from bayes_core.jobs.local import LocalJobRunner

    for store in base.rglob("jobs.sqlite3"):
        if store.is_file():
            try:
                LocalJobRunner(store.parent).pool.stop_all()
            except BayesCoreError:  # a store a test damaged on purpose holds no workers
                pass


@pytest.fixture(scope="session", autouse=True)
def compiled_models():
    """Each test process keeps its compiled models, as the warm worker does: a test that trains a model
    structure this process has compiled before binds its data and priors instead of compiling again
    (exact: see bayes_core.compiled). The one-off compile path stays covered by every job, CLI and
    SBC subprocess, and by tests that open ``compiled.scoped(None)``; BAYES_TEST_FRESH_COMPILES=1
    turns the cache off for the whole run."""
    from bayes_core import compiled

    if os.environ.get("BAYES_TEST_FRESH_COMPILES") == "1":
        yield None
        return
    with compiled.scoped(compiled.CompiledModels(max_entries=16)) as cache:
        yield cache


@pytest.fixture(scope="session")
def registry():
    from bayes_core.registry import get_registry

    return get_registry(refresh=True)


@pytest.fixture(scope="session")
def nb_model(registry):
    return registry.load_model_instance("hierarchical_negbinom")


@pytest.fixture(scope="session")
def nb_run(nb_model):
    """A tiny trained run of the NB model, shared by the whole session."""
    return nb_model.train(**TINY)


@pytest.fixture(scope="session")
def poisson_run(registry, nb_run):
    """The NB model's Poisson variant on the same (overdispersed) example data, trained after nb_run."""
    return registry.load_model_instance("hierarchical_negbinom", options={"likelihood": "poisson"}).train(**TINY)


@pytest.fixture(scope="session")
def approximate_root(tmp_path_factory, nb_run) -> tuple[Path, str, str]:
    """``(root, approximate run id, nb_run id)``: a private artifacts root with a copy of nb_run and,
    newer, an approximate (ADVI) run of the NB model on the same data — never in the session's root,
    where it would become the model's latest run for every other test."""
    import shutil

    from bayes_core.registry import get_registry

    root = tmp_path_factory.mktemp("approximate")
    shutil.copytree(nb_run.path, root / nb_run.model_id / "runs" / nb_run.run_id)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BAYES_ARTIFACTS_DIR", str(root))
        run = get_registry().load_model_instance(nb_run.model_id).train(**TINY, method="approximate")
    return root, run.run_id, nb_run.run_id


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A Ray cluster for the Ray runner's tests: ``BAYES_TEST_RAY_ADDRESS`` when set (CI starts one with
    ``make ray-up``; its token is found as the app finds it), else ONE local head for the whole session
    (2 CPUs, no GPU, 127.0.0.1 only, usage statistics off, token authentication on), stopped at the end by
    its recorded pid — and by itself should this process die first. Yields ``(address, token_path)``."""
    external = os.environ.get("BAYES_TEST_RAY_ADDRESS", "").strip()
    if external:
        yield external, os.environ.get("RAY_AUTH_TOKEN_PATH") or None
        return
    from bayes_core.jobs import ray_local

    state = tmp_path_factory.mktemp("ray-head")
    head = ray_local.start(state, cpus=2, gpus=0, token_path=state / "auth_token", watch_pid=os.getpid(), hours=1)
    try:
        yield head["address"], head["token_path"]
    finally:
        ray_local.stop(state)


@pytest.fixture
def ray_env(ray_cluster, monkeypatch, tmp_path_factory):
    """This test talks to the session's Ray cluster through ``get_runner()`` — one Ray test at a time
    across test workers (pytest-xdist): the Ray tests fill a 2-CPU head on purpose (a job that blocks
    the queue, a queue limit), and under ``-n 2`` both workers share CI's one head."""
    address, token_path = ray_cluster
    monkeypatch.setenv("BAYES_JOB_RUNNER", "ray")
    monkeypatch.setenv("RAY_ADDRESS", address)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    if token_path:
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", token_path)
    # The workers' temporary folders (.../pytest-N/popen-gwK) share their parent.
    with open(tmp_path_factory.getbasetemp().parent / "ray-tests.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield address
