"""Every family's kernel source, run as plain Python (``NUMBA_DISABLE_JIT=1``), passes the
same tests as the compiled kernels.

Coverage tools and debuggers see the kernels only this way, and it guards against code that
compiles under Numba but is wrong as Python (or the reverse). A subprocess is needed because
Numba reads the variable at import. Interpreted kernels are slow, so the subprocess sets
``CWRNN_TEST_SCALE=0.05``: every Hypothesis example count, which the tests take from
``tests/strategies.py:examples``, is scaled by it (at least 3 examples each).
"""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: family -> (test files, pytest -k expression selecting the tests that run the kernels)
KERNEL_TESTS = {
    "clockwork": (["test_numba_backend.py", "test_invariants.py", "test_gradients.py"], "numba"),
    "lstm": (["test_lstm.py"], "numba or sigmoid"),
    "selection": (["test_selection.py"], "numba"),
    "learned_periods": (["test_learned_periods.py"], "numba or softplus"),
}


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already without the JIT")
@pytest.mark.parametrize("family", sorted(KERNEL_TESTS))
def test_kernels_pass_their_tests_with_the_jit_disabled(family, tmp_path):
    files, keyword = KERNEL_TESTS[family]
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", CWRNN_TEST_SCALE="0.05")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           *(str(ROOT / "tests" / f) for f in files), "-k", keyword]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    tail = "\n".join(res.stdout.splitlines()[-15:])
    assert res.returncode == 0, f"NUMBA_DISABLE_JIT=1 run failed:\n{tail}\n{res.stderr[-2000:]}"
    assert " passed" in tail and "failed" not in tail, tail
