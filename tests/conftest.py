"""Shared pytest configuration: Hypothesis profiles and the backend fixture.

Profiles: ``ci`` (default; bounded example counts, no deadline because the first example of a
Numba backend pays the compile) and ``thorough`` (``HYPOTHESIS_PROFILE=thorough``, 10x more).
"""
import os
import pytest
from hypothesis import HealthCheck, settings

import cwrnn_np as cw

settings.register_profile(
    "ci", deadline=None, max_examples=50, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", deadline=None, max_examples=500, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: every registered backend runs the same property tests
BACKEND_NAMES = sorted(cw.BACKENDS)


@pytest.fixture(params=BACKEND_NAMES, scope="session")
def backend(request):
    """Each backend in turn (``numpy`` reference, ``numba`` kernels when registered)."""
    return request.param
