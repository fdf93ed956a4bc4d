"""The kernel source, run as plain Python (``NUMBA_DISABLE_JIT=1``), passes the same tests.

Coverage tools and debuggers see the kernels only this way, and it guards against code that
compiles under Numba but is wrong as Python (or the reverse). A subprocess is needed because
Numba reads the variable at import; example counts are scaled down (``CWRNN_TEST_SCALE``) since
interpreted kernels are slow.
"""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_kernels_pass_the_backend_tests_with_the_jit_disabled(tmp_path):
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", CWRNN_TEST_SCALE="0.05")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "test_numba_backend.py"),
           str(ROOT / "tests" / "test_invariants.py"),
           str(ROOT / "tests" / "test_gradients.py"),
           "-k", "numba", "--deselect",
           "tests/test_nojit.py::test_kernels_pass_the_backend_tests_with_the_jit_disabled"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    tail = "\n".join(res.stdout.splitlines()[-15:])
    assert res.returncode == 0, f"NUMBA_DISABLE_JIT=1 run failed:\n{tail}\n{res.stderr[-2000:]}"
    assert " passed" in tail and "failed" not in tail, tail
