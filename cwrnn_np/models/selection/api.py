r"""Soft selection's public, validating entry points: :func:`forward_select`,
:func:`backward_select`.

They validate every argument, then dispatch through :data:`SELECT_BACKENDS`: ``"numpy"`` is the
readable reference (:mod:`cwrnn_np.models.selection.reference`), ``"numba"`` the compiled kernels
(:mod:`cwrnn_np.models.selection.numba_backend`). :func:`cwrnn_np.gradcheck` audits either
backend (``gradcheck_select`` is the same function).

Shape letters: L time, B batch, D input, H hidden, O output, S selection rows.
"""
from __future__ import annotations

import numpy as np

from ...gradcheck import gradcheck
from ..family import Family
from .numba_backend import backward_select_numba, forward_select_numba
from .reference import SelectionCache, backward_select_numpy, forward_select_numpy
from .spec import SelectionSpec, init_select_params

__all__ = ["forward_select", "backward_select", "gradcheck_select", "SELECT_BACKENDS",
           "SELECTION"]

#: backend name -> (forward, backward), with the signatures of the numpy reference.
SELECT_BACKENDS = {"numpy": (forward_select_numpy, backward_select_numpy),
                   "numba": (forward_select_numba, backward_select_numba)}


def _check_selection_width(spec: SelectionSpec, cache: SelectionCache) -> None:
    if cache.g.shape[2] != len(spec.select_modules):
        raise ValueError(f"cache was made for {cache.g.shape[2]} selection rows, but spec has "
                         f"{len(spec.select_modules)}")


#: the soft-selection family (its temperature is annealed by the trainer)
SELECTION = Family(name="select", spec_type=SelectionSpec, cache_type=SelectionCache,
                   backends=SELECT_BACKENDS, init=init_select_params,
                   spec_from_dict=SelectionSpec.from_dict, forward_name="forward_select",
                   tempered=True, check_cache=_check_selection_width)

#: :func:`cwrnn_np.gradcheck`, which audits any family (the spec's type picks it)
gradcheck_select = gradcheck


def forward_select(params: dict, spec: SelectionSpec, x: np.ndarray, h_init=None, t0: int = 0,
                   resets=None, backend: str = "numba"):
    r"""Run a CW-RNN with soft selection over a sequence (chunk); the API of
    :func:`cwrnn_np.forward` (``h_init`` (B, H), ``t0``, ``resets``, ``cache.h_last``).

    Equations S1–S6 (module docstring, ``docs/variants.md``).
    """
    return SELECTION.forward(params, spec, x, h_init, t0, resets, backend)


def backward_select(params: dict, spec: SelectionSpec, dy: np.ndarray, cache: SelectionCache,
                    dh_last=None, backend: str = "numba") -> dict:
    r"""BPTT through :func:`forward_select` (SB1–SB9); the API of :func:`cwrnn_np.backward`.
    Either backend's cache works with either backward."""
    return SELECTION.backward(params, spec, dy, cache, dh_last, backend)
