"""Shared pytest configuration: the Hypothesis profile and the backend fixture.

Example counts are set per test and scaled by ``CWRNN_TEST_SCALE`` (``tests/strategies.py``):
``CWRNN_TEST_SCALE=10 python -m pytest`` is a ten times longer audit. There is no deadline,
because the first example on the numba backend may pay the kernels' compile.
"""
import hashlib
import os
import pathlib
import tempfile

import pytest
from hypothesis import HealthCheck, settings


def _kernel_cache_dir() -> str:
    """A Numba cache folder named by a hash of every kernel source file of the package.

    Numba invalidates a cached kernel only when the kernel's own file changes, not when a
    helper it inlines from another file (``cwrnn_np/kernels/*.py``) does; a cache keyed by all
    of them can never hand the tests a kernel compiled from older helpers. Set before Numba is
    imported (``import cwrnn_np`` does not import it); a ``NUMBA_CACHE_DIR`` given by the
    caller is kept.
    """
    package = pathlib.Path(__file__).resolve().parents[1] / "cwrnn_np"
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if path.parent.name == "kernels" or path.name == "kernels.py":
            digest.update(path.read_bytes())
    return os.path.join(tempfile.gettempdir(), f"cwrnn_np-numba-{digest.hexdigest()[:16]}")


os.environ.setdefault("NUMBA_CACHE_DIR", _kernel_cache_dir())

import cwrnn_np as cw  # noqa: E402

settings.register_profile(
    "cwrnn", deadline=None, max_examples=50, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("cwrnn")

#: every registered backend runs the same property tests
BACKEND_NAMES = sorted(cw.BACKENDS)


@pytest.fixture(params=BACKEND_NAMES, scope="session")
def backend(request):
    """Each backend in turn (``numpy`` reference, ``numba`` kernels)."""
    return request.param
