"""Shared pytest configuration: the Hypothesis profile and the backend fixture.

Example counts are set per test and scaled by ``CWRNN_TEST_SCALE`` (``tests/strategies.py``):
``CWRNN_TEST_SCALE=10 python -m pytest`` is a ten times longer audit. There is no deadline,
because the first example on the numba backend may pay the kernels' compile.
"""
import pytest
from hypothesis import HealthCheck, settings

import cwrnn_np as cw

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
