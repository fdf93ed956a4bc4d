"""Preparing a run's kernels: the backward kernel compiles in a helper process on a first run,
never when the cache holds it, and a failing helper changes nothing but the time it takes."""
import subprocess
import sys

import numpy as np

import cwrnn_np as cw
from cwrnn_np.models.readout import Net
from cwrnn_np.training import prepare


def _small_net():
    spec = cw.ClockworkSpec(2, 3, [3, 2], [1, 2], connectivity="clockwork")
    net = Net("cwrnn", spec)
    params = net.init(np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 1, 2))
    return net, params, x


def test_no_helper_when_the_backward_kernel_is_cached(monkeypatch):
    net, params, x = _small_net()
    prepare.prepare_kernels(net, params, x)          # compiles or loads; now it is cached
    assert prepare.backward_kernel_cached(net.family, np.float64)

    def refuse(*args):
        raise AssertionError("a helper was started although the kernel is cached")

    monkeypatch.setattr(prepare, "_start_helper", refuse)
    prepare.prepare_kernels(net, params, x)


def test_a_failing_helper_changes_nothing(monkeypatch, tmp_path):
    net, params, x = _small_net()
    started = []

    def failing_helper(*args):
        path = tmp_path / "input.pkl"
        path.write_bytes(b"")
        started.append(path)
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"]), str(path)

    monkeypatch.setattr(prepare, "backward_kernel_cached", lambda family, dtype: False)
    monkeypatch.setattr(prepare, "_start_helper", failing_helper)
    prepare.prepare_kernels(net, params, x)          # compiles or loads the backward itself
    assert started and not started[0].exists()       # the helper ran, its input is removed


def test_the_helper_compiles_the_backward_pass(tmp_path):
    """What the helper process runs: the NumPy forward pass and the Numba backward pass, from
    the pickled net, parameters and input."""
    import pickle
    net, params, x = _small_net()
    path = tmp_path / "input.pkl"
    path.write_bytes(pickle.dumps((net, params, x, 0)))
    prepare._helper_main(str(path))
    assert prepare.backward_kernel_cached(net.family, np.float64)
