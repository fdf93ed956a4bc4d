r"""Learned clock periods, the design note's variant (static and emitted forms): spec, NumPy
reference, Numba kernels, API and :func:`harden`. ``docs/variants.md`` derives P1–P7 and PB1–PB10.
"""
from ...activations import sigmoid, softplus
from .api import (LEARNED_PERIODS, PERIOD_BACKENDS, backward_periods, forward_periods,
                  gradcheck_periods)
from .harden import harden, module_periods
from .numba_backend import backward_periods_numba, forward_periods_numba
from .reference import PeriodCache, backward_periods_numpy, forward_periods_numpy, period_weights
from .spec import FORMS, LearnedPeriodSpec, default_candidates, init_period_params

__all__ = ["LearnedPeriodSpec", "PeriodCache", "FORMS", "default_candidates",
           "init_period_params", "period_weights", "forward_periods_numpy",
           "backward_periods_numpy", "forward_periods_numba", "backward_periods_numba",
           "forward_periods", "backward_periods", "PERIOD_BACKENDS", "LEARNED_PERIODS",
           "gradcheck_periods", "harden", "module_periods", "softplus", "sigmoid"]
