r"""Every Numba compile option of the package, in one place.

Every kernel of the package (``cwrnn_np/models/<family>/kernels.py`` and the shared helpers in
:mod:`cwrnn_np.kernels`) is decorated with ``numba.njit(**JIT_OPTIONS)``; nothing else passes
options to Numba. A kernel compiles lazily, at its first call with a given signature, and with
``cache=True`` later processes load the machine code from disk instead. Change a default here
(or set the matching environment variable before the package's kernels are first imported) and
every kernel follows.

Environment overrides (read once, when this module is imported): ``CWRNN_NUMBA_CACHE``, ``CWRNN_NUMBA_FASTMATH``,
``CWRNN_NUMBA_BOUNDSCHECK``, ``CWRNN_NUMBA_NOGIL`` (``0``/``1``) and ``CWRNN_NUMBA_ERROR_MODEL``
(``numpy``/``python``). Numba's own ``NUMBA_DISABLE_JIT=1`` runs the kernels as plain Python
(the test suite does so for every family, so coverage sees the kernel source); ``NUMBA_CACHE_DIR`` moves the
on-disk cache.
"""
from __future__ import annotations

import dataclasses
import os

__all__ = ["NumbaConfig", "CONFIG", "JIT_OPTIONS", "HELPER_OPTIONS"]


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value not in ("0", "1"):
        raise ValueError(f"environment variable {name} must be 0 or 1, got {value!r}")
    return value == "1"


@dataclasses.dataclass(frozen=True)
class NumbaConfig:
    """Compile options shared by every kernel (passed to ``numba.njit``)."""

    # Keep the compiled machine code on disk (next to the source, or in NUMBA_CACHE_DIR), so a
    # fresh process loads the kernels instead of compiling them again. A convenience only: the
    # tests never depend on it.
    cache: bool = True
    # IEEE arithmetic: no reassociation, no FMA contraction, NaN/inf honoured. Finite-difference
    # audits (cwrnn_np.gradcheck) and the 1e-12 agreement with the NumPy reference rely on it.
    fastmath: bool = False
    # Bounds-checked indexing: a debugging aid (IndexError instead of reading past an array);
    # it slows every array access and blocks SIMD code, so off by default.
    boundscheck: bool = False
    # Release the GIL inside kernels, so callers may run several sequences in threads.
    nogil: bool = True
    # "numpy": no ZeroDivisionError checks (the kernels never divide); "python" adds them.
    error_model: str = "numpy"

    def __post_init__(self):
        if self.error_model not in ("numpy", "python"):
            raise ValueError(f"error_model must be 'numpy' or 'python', got {self.error_model!r}")

    def jit_options(self) -> dict:
        """The keyword arguments for ``numba.njit``."""
        return dataclasses.asdict(self)


#: The configuration in force (defaults, then environment overrides).
CONFIG = NumbaConfig(
    cache=_env_flag("CWRNN_NUMBA_CACHE", True),
    fastmath=_env_flag("CWRNN_NUMBA_FASTMATH", False),
    boundscheck=_env_flag("CWRNN_NUMBA_BOUNDSCHECK", False),
    nogil=_env_flag("CWRNN_NUMBA_NOGIL", True),
    error_model=os.environ.get("CWRNN_NUMBA_ERROR_MODEL", "numpy") or "numpy",
)

#: ``numba.njit(**JIT_OPTIONS)`` compiles every kernel of the package.
JIT_OPTIONS = CONFIG.jit_options()

#: Compile options of the kernels' helpers that allocate nothing: JIT_OPTIONS without Numba's
#: reference counting (NRT). With NRT on, a helper that binds arrays (or named tuples of
#: arrays) and has a loop or a branch pays an atomic increment and decrement per array at every
#: call, even when ``inline="always"`` inlines it: about 10 ns per array, more than the work of
#: a helper called per module and step for a single short sequence. Without NRT the arguments
#: are borrowed from the caller, which holds them for the whole call, and LLVM inlines the
#: small helpers. (Reading a field of a named tuple inside a loop costs the same update, so
#: the kernels bind the fields their time loop reads once, before it.)
HELPER_OPTIONS = dict(JIT_OPTIONS, _nrt=False)  # _nrt: a Numba option without public docs
