r"""Learned periods' public, validating entry points: :func:`forward_periods`,
:func:`backward_periods`.

They validate every argument, then dispatch through :data:`PERIOD_BACKENDS`: ``"numpy"`` is the
readable reference (:mod:`cwrnn_np.models.learned_periods.reference`), ``"numba"`` the compiled
kernels (:mod:`cwrnn_np.models.learned_periods.numba_backend`). :func:`cwrnn_np.gradcheck`
audits either backend (``gradcheck_periods`` is the same function).

Shape letters: L time, B batch, D input, H hidden, O output, n modules, P candidate periods.
"""
from __future__ import annotations

import numpy as np

from ...gradcheck import gradcheck
from ..family import Family
from .numba_backend import backward_periods_numba, forward_periods_numba
from .reference import PeriodCache, backward_periods_numpy, forward_periods_numpy
from .spec import LearnedPeriodSpec, init_period_params

__all__ = ["forward_periods", "backward_periods", "gradcheck_periods", "PERIOD_BACKENDS",
           "LEARNED_PERIODS"]

#: backend name -> (forward, backward), with the signatures of the numpy reference.
PERIOD_BACKENDS = {"numpy": (forward_periods_numpy, backward_periods_numpy),
                   "numba": (forward_periods_numba, backward_periods_numba)}

#: the learned-periods family, both forms (its temperature is annealed by the trainer)
LEARNED_PERIODS = Family(name="learned", spec_type=LearnedPeriodSpec, cache_type=PeriodCache,
                         backends=PERIOD_BACKENDS, init=init_period_params,
                         spec_from_dict=LearnedPeriodSpec.from_dict,
                         forward_name="forward_periods", tempered=True)

#: :func:`cwrnn_np.gradcheck`, which audits any family (the spec's type picks it)
gradcheck_periods = gradcheck


def forward_periods(params: dict, spec: LearnedPeriodSpec, x: np.ndarray, h_init=None,
                    t0: int = 0, resets=None, backend: str = "numba"):
    r"""Run a CW-RNN with learned periods over a sequence (chunk); the API of
    :func:`cwrnn_np.forward`. Equations P1–P7 (module docstring, ``docs/variants.md``)."""
    return LEARNED_PERIODS.forward(params, spec, x, h_init, t0, resets, backend)


def backward_periods(params: dict, spec: LearnedPeriodSpec, dy: np.ndarray,
                     cache: PeriodCache, dh_last=None, backend: str = "numba") -> dict:
    r"""BPTT through :func:`forward_periods` (PB1–PB10); the API of :func:`cwrnn_np.backward`.
    Either backend's cache works with either backward."""
    return LEARNED_PERIODS.backward(params, spec, dy, cache, dh_last, backend)
