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
