"""One thread count for Numba and BLAS together.

Two thread pools do the work of a run:

- **Numba threads** serve the ``prange`` loops of ``parallel=True`` kernels;
- **BLAS threads** serve the large products outside the kernels (the output and readout
  layers, ``x @ W`` in NumPy) and the BLAS calls inside kernels (direct
  ``scipy.linalg.cython_blas`` calls go to SciPy's OpenBLAS, which is a different library
  from NumPy's in the PyPI wheels).

The kernels' BLAS calls are blocks of 8 to a few hundred rows, called thousands of times per
pass: a second thread costs them more (waking it, and its spinning while the kernel's own code
runs) than it gives. So :func:`set_threads` gives SciPy's OpenBLAS one thread and NumPy's the
requested count, when they are two libraries (measured on 2 cores, char-LM step (d): 200 ms
with both at 2 threads, 134 ms with the kernels' BLAS at 1, 148 ms with everything at 1).

:func:`set_threads` sets both from one option, ``--threads`` on the command line
(``docs/usage.md``); the default is all cores. One thread is the right choice when many runs share
one machine (each process then gets a core of its own instead of all of them fighting over every
core); the benchmark compares 1 and 2 threads.

NumPy and SciPy wheels each bundle their own OpenBLAS with prefixed symbols
(``scipy_openblas_set_num_threads64_`` in NumPy's 64-bit-integer build,
``scipy_openblas_set_num_threads`` in SciPy's), so environment variables read at load time are
not enough once NumPy is imported: :func:`set_threads` finds every loaded OpenBLAS through
``/proc/self/maps`` and calls its setter through :mod:`ctypes`. Importing ``cwrnn_np`` does not
import Numba; this module imports it only when :func:`set_threads` is called.
"""
from __future__ import annotations

import ctypes
import os

__all__ = ["set_threads", "blas_threads", "available_cores", "openblas_libraries",
           "kernel_blas_library"]

#: C-API setter names, in the order tried. The names with an underscore before the suffix
#: (``scipy_openblas_set_num_threads_64_``, ``openblas_set_num_threads_``) are the Fortran
#: bindings, which take a pointer, and ``openblas_set_num_threads_local`` sets only the calling
#: thread's count; neither is in this list.
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
#: C-API getter names, in the order tried (same conventions as ``_SETTERS``).
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")
#: what non-Linux systems get instead: read by BLAS and OpenMP libraries when they load
_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_MAPS = "/proc/self/maps"


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system reports it
    (Linux), else ``os.cpu_count()``, and at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _check_threads(n) -> int:
    """``n`` as a positive int (None means all cores); ValueError naming ``threads`` if not."""
    if n is None:
        return available_cores()
    if isinstance(n, bool) or not isinstance(n, int):
        try:                                  # NumPy integers, but not floats or strings
            import numpy as np
            ok = isinstance(n, np.integer)
        except ImportError:
            ok = False
        if not ok:
            raise ValueError(f"threads must be a positive integer or None (all cores), "
                             f"got {n!r}")
        n = int(n)
    if n < 1:
        raise ValueError(f"threads must be a positive integer or None (all cores), got {n!r}")
    return n


def openblas_libraries() -> list[str]:
    """Paths of the OpenBLAS libraries loaded in this process, in load order: every mapped
    file whose name contains "openblas" (``/proc/self/maps``). Imports
    ``scipy.linalg.cython_blas`` first, so SciPy's OpenBLAS, the one Numba kernels call, is
    among them. Empty where ``/proc`` does not exist (macOS, Windows)."""
    if not os.path.exists(_MAPS):
        return []
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS)
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's OpenBLAS)
    except ImportError:
        pass
    paths = []
    with open(_MAPS) as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) < 6:
                continue                       # anonymous mapping
            path = fields[5].strip()
            if "openblas" in os.path.basename(path).lower() and path not in paths:
                paths.append(path)
    return paths


def _symbol(path: str, names: tuple[str, ...]):
    """The first of ``names`` exported by the loaded library at ``path``, or None."""
    mode = getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL   # never load a second copy
    try:
        lib = ctypes.CDLL(path, mode=mode)
    except OSError:
        return None
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            return fn
    return None


def blas_threads() -> dict[str, int]:
    """Thread count of every loaded OpenBLAS library, ``{library path: threads}``.

    Libraries that export none of the known getters are left out; empty where ``/proc`` does
    not exist. For tests and diagnostics.
    """
    out = {}
    for path in openblas_libraries():
        get = _symbol(path, _GETTERS)
        if get is not None:
            get.restype, get.argtypes = ctypes.c_int, []
            out[path] = int(get())
    return out


def set_threads(n: int | None = None) -> int:
    """Set the thread count of Numba and of every loaded OpenBLAS library.

    Parameters
    ----------
    n : int or None
        Threads to use, a positive integer; None means all cores this process may run on
        (:func:`available_cores`).

    Returns
    -------
    int
        The count applied to BLAS. Numba gets ``min(n, numba.config.NUMBA_NUM_THREADS)``,
        because its pool cannot grow past the size it was started with.

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer or None; the message names ``threads``.

    Notes
    -----
    On Linux every OpenBLAS found in ``/proc/self/maps`` (NumPy's and SciPy's) is set through
    its ``*openblas_set_num_threads*`` C function, so the change applies at once, to the whole
    process. Where ``/proc`` does not exist (macOS, Windows) BLAS libraries cannot be found
    this way, and the function instead sets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
    ``MKL_NUM_THREADS``, which only apply to libraries loaded later: call it before importing
    NumPy there, or set those variables in the shell.

    Numba's count is per calling thread: kernels launched from other Python threads use
    those threads' own counts.
    """
    n = _check_threads(n)
    import numba                              # lazily: importing cwrnn_np stays Numba-free

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    paths = openblas_libraries()
    if not os.path.exists(_MAPS):
        for var in _ENV_VARS:
            os.environ[var] = str(n)
        return n
    kernels_only = kernel_blas_library(paths)
    for path in paths:
        setter = _symbol(path, _SETTERS)
        if setter is not None:
            setter.restype, setter.argtypes = None, [ctypes.c_int]
            setter(1 if path == kernels_only else n)
    return n


def kernel_blas_library(paths: list[str] | None = None) -> str | None:
    """The loaded OpenBLAS that only the kernels use: SciPy's own copy (a path under
    ``scipy.libs``), or None when SciPy shares NumPy's BLAS or none is found."""
    paths = openblas_libraries() if paths is None else paths
    scipy_own = [p for p in paths if "scipy.libs" in p]
    others = [p for p in paths if "scipy.libs" not in p]
    return scipy_own[0] if len(scipy_own) == 1 and others else None
