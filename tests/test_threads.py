"""``cwrnn_np.threads.set_threads`` sets Numba's and every loaded OpenBLAS's thread count
together, and ``--threads`` on the command line rejects what is not a positive integer."""
import subprocess
import sys

import pytest

numba = pytest.importorskip("numba")

from cwrnn_np import cli  # noqa: E402
from cwrnn_np.threads import (available_cores, blas_threads, kernel_blas_library,  # noqa: E402
                              openblas_libraries, set_threads)


@pytest.fixture
def restore_threads():
    """Put the process back to all cores whatever the test did."""
    yield
    set_threads(None)


def _assert_all(n):
    """Every OpenBLAS has n threads, except the kernels' own (SciPy's copy), which has 1."""
    counts = blas_threads()
    kernels_only = kernel_blas_library()
    wrong = {path: c for path, c in counts.items()
             if c != (1 if path == kernels_only else n)}
    assert not wrong, f"after set_threads({n}) these OpenBLAS libraries report {wrong}"
    assert numba.get_num_threads() == min(n, numba.config.NUMBA_NUM_THREADS), \
        f"after set_threads({n}) numba.get_num_threads() is {numba.get_num_threads()}"


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="OpenBLAS libraries are found through /proc/self/maps, Linux only")
def test_openblas_is_found_on_linux():
    paths = openblas_libraries()
    assert paths, "no OpenBLAS library found in /proc/self/maps after importing NumPy and SciPy"
    counts = blas_threads()
    assert counts, f"none of {paths} exports a known *openblas_get_num_threads* symbol"
    assert all(c >= 1 for c in counts.values()), counts


def test_one_thread_sets_numba_and_every_blas(restore_threads):
    assert set_threads(1) == 1
    _assert_all(1)


def test_two_threads_or_all_cores(restore_threads):
    n = min(2, available_cores())
    assert set_threads(n) == n
    _assert_all(n)


def test_none_means_all_cores(restore_threads):
    set_threads(1)
    assert set_threads(None) == available_cores()
    _assert_all(available_cores())


@pytest.mark.parametrize("bad", [0, -1, "x", 1.5, True, "2"])
def test_bad_values_name_threads(bad, restore_threads):
    with pytest.raises(ValueError, match=r"threads.*" + repr(bad).replace(".", r"\.")):
        set_threads(bad)


@pytest.mark.parametrize("command", [["train", "adding"], ["evaluate", "RUN"],
                                     ["sample", "RUN"], ["experiment", "generation"]])
@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_cli_rejects_bad_threads(command, bad, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(command + ["--threads", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--threads" in err and repr(bad) in err, err


def test_cli_rejects_threads_zero_in_a_fresh_process():
    res = subprocess.run([sys.executable, "-m", "cwrnn_np", "train", "adding", "--threads", "0"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "--threads" in res.stderr and "'0'" in res.stderr, res.stderr


def test_importing_cwrnn_np_does_not_import_numba():
    res = subprocess.run([sys.executable, "-c", "import sys, cwrnn_np, cwrnn_np.threads; "
                          "print('numba' in sys.modules)"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False", "importing cwrnn_np imported numba"


def test_cli_sets_threads_before_work(monkeypatch, tmp_path, capsys):
    import cwrnn_np.threads as threads_module
    seen = []
    monkeypatch.setattr(threads_module, "set_threads", seen.append)
    missing = str(tmp_path / "no-such-run")
    assert cli.main(["evaluate", missing, "--threads", "1"]) == 2   # fails after set_threads
    assert cli.main(["evaluate", missing]) == 2
    assert seen == [1, None], f"set_threads was called with {seen}, expected [1, None]"
    capsys.readouterr()
