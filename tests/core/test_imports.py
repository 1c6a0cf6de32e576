"""``import bayes_core`` (and the registry the catalogue needs) stays light."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_import_bayes_core_pulls_in_neither_streamlit_nor_jax_nor_pymc():
    code = ("import sys, json, bayes_core; from bayes_core.registry import get_registry; r = get_registry(); "
            "r.get_all_models_with_status(); "
            "print(json.dumps({m: m in sys.modules for m in ('streamlit', 'jax', 'pymc', 'pytensor')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "streamlit": False, "jax": False, "pymc": False, "pytensor": False}


def test_pytensor_compiles_no_c_after_bayes_core_unless_the_caller_chose_a_compiler():
    import os

    code = "import bayes_core, pytensor; print(repr(pytensor.config.cxx))"
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}

    def run(**extra) -> str:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                             env={**env, **extra})
        return out.stdout.strip().splitlines()[-1]

    assert run() == "''"
    assert run(PYTENSOR_FLAGS="floatX=float64") == "''"
    assert run(PYTENSOR_FLAGS="gcc__cxxflags=-O2") == "''"  # compiler options name no compiler
    chosen = subprocess.run([sys.executable, "-c", "import pytensor; print(pytensor.config.cxx)"], capture_output=True,
                            text=True, env=env, check=True).stdout.strip().splitlines()[-1]
    if chosen:  # a machine with a C++ compiler: a caller who names it keeps it
        assert run(PYTENSOR_FLAGS=f"cxx={chosen}") == repr(chosen)


def _imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (function-level imports included)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_the_model_lifecycle_and_the_run_store_do_not_import_the_registry():
    """No base ↔ registry circle: the registry imports models; base reads its config via config.py."""
    for name in ("base.py", "runs/store.py", "runs/refs.py", "settings.py", "draws.py", "fallback.py"):
        imported = _imported_modules(ROOT / "bayes_core" / name)
        assert not any("registry" in m for m in imported), (name, sorted(m for m in imported if "registry" in m))


def test_psis_does_not_import_jax_through_scipys_array_api_check():
    """nutpie's arviz leaves a lazy ``jax`` module in ``sys.modules``; scipy's ``logsumexp`` probes it
    and so imported all of JAX (0.6 s) in every fresh training process's evaluation."""
    code = ("import sys, numpy as np, nutpie; from bayes_core.runs.psis import psis_loo; "
            "assert 'jax' in sys.modules, 'no lazy jax: this test no longer exercises the trap'; "
            "psis_loo(np.random.default_rng(0).normal(-1, 0.3, size=(300, 400)), 0.9); "
            "print('jax.numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
