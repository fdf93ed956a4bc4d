r"""Prepare a run's Numba kernels before training: load them from the on-disk cache, or compile
them, the forward and the backward kernels side by side.

A family's forward and backward kernels are two large, independent compilations (each a
dozen seconds or more), and Numba compiles one function at a time per process. On a first run
(an empty cache) :func:`prepare_kernels` therefore compiles the backward kernel in a helper
process while this process compiles the forward kernel; the helper writes it to Numba's cache,
and this process then loads it. Both processes compile exactly what the run uses, its family
and dtype (a kernel has one signature per dtype, whatever the spec's sizes). When the cache
already holds the backward kernel, or caching is off, no helper is started.

The helper runs the forward pass on the NumPy backend, whose cache has the same fields, and
the backward pass on the Numba backend, so it compiles the backward kernel only. It runs
``python -m cwrnn_np.training.prepare FILE`` on a pickled ``(net, params, x, t0)`` at one thread.
If it fails, this process compiles the backward kernel itself, as it would without a helper:
the helper is a speed-up, never a requirement.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np

__all__ = ["prepare_kernels", "backward_kernel_cached"]


def backward_kernel_cached(family, dtype) -> bool:
    """Whether Numba's on-disk cache holds the backward kernel of ``family`` (a
    :class:`~cwrnn_np.models.family.Family`) for ``dtype``, compiled from the present source
    (False when caching is off or it cannot tell)."""
    from ..models.family import load_kernels
    package = family.backends["numba"][1].__module__.rsplit(".", 1)[0]   # models.<folder>
    kernels = load_kernels(package.rsplit(".", 1)[1])     # (drops a stale cache first)
    name = np.dtype(dtype).name
    for attr in dir(kernels):
        if not attr.endswith("backward_kernel"):
            continue
        cache = getattr(getattr(kernels, attr), "_cache", None)
        try:
            # Numba's index of the cached signatures; empty when the source changed since
            index = cache._cache_file._load_index()
        except Exception:   # no cache, or a Numba without these internals: assume not cached
            return False
        return any(name in str(key) for key in index)
    return False


def prepare_kernels(net, params: dict, x: np.ndarray, t0: int = 0) -> None:
    """Compile (first run) or load (later runs) the Numba kernels of ``net`` for the dtype of
    ``params``, by one forward and one backward pass over ``x`` (a step or two of one
    sequence); the backward kernel compiles in a helper process when it is not cached."""
    from ..kernels.config import CONFIG
    helper = None
    dtype = next(iter(params.values())).dtype
    if CONFIG.cache and not backward_kernel_cached(net.family, dtype):
        helper = _start_helper(net, params, x, t0)
    try:
        y, cache = net.forward(params, x, t0=t0, backend="numba")
    finally:
        if helper is not None:
            process, path = helper
            process.wait()
            os.unlink(path)
    net.backward(params, np.zeros_like(y), cache, backend="numba")


def _start_helper(net, params, x, t0):
    """Start ``python -m cwrnn_np.training.prepare FILE``: (process, FILE)."""
    fd, path = tempfile.mkstemp(prefix="cwrnn_np-prepare-", suffix=".pkl")
    with os.fdopen(fd, "wb") as fh:
        pickle.dump((net, params, x, t0), fh)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "cwrnn_np.training.prepare", path],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, path


def _helper_main(path: str) -> None:
    """The helper process: the NumPy forward pass, then the Numba backward pass (compiling and
    caching the backward kernel)."""
    with open(path, "rb") as fh:
        net, params, x, t0 = pickle.load(fh)
    y, cache = net.forward(params, x, t0=t0, backend="numpy")
    net.backward(params, np.zeros_like(y), cache, backend="numba")


if __name__ == "__main__":
    _helper_main(sys.argv[1])
