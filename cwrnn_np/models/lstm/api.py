r"""The LSTM's public, validating entry points: :func:`forward_lstm`, :func:`backward_lstm`.

They validate every argument (``ValueError`` naming the field and the value), then dispatch
through :data:`LSTM_BACKENDS`: ``"numpy"`` is the readable reference
(:mod:`cwrnn_np.models.lstm.reference`), ``"numba"`` the compiled kernels
(:mod:`cwrnn_np.models.lstm.numba_backend`). :func:`cwrnn_np.gradcheck` audits either backend
against float64 finite differences (``gradcheck_lstm`` is the same function).

Shape letters: L time, B batch, D input, H hidden (cells), O output; 2H the state [h; c].
"""
from __future__ import annotations

import numpy as np

from ...gradcheck import gradcheck
from ..family import Family
from .numba_backend import backward_lstm_numba, forward_lstm_numba
from .reference import LSTMCache, backward_lstm_numpy, forward_lstm_numpy
from .spec import LSTMSpec, init_lstm_params

__all__ = ["forward_lstm", "backward_lstm", "gradcheck_lstm", "LSTM_BACKENDS", "LSTM"]

#: backend name -> (forward, backward); both have the signatures of the numpy reference.
LSTM_BACKENDS = {"numpy": (forward_lstm_numpy, backward_lstm_numpy),
                 "numba": (forward_lstm_numba, backward_lstm_numba)}

#: the LSTM family; its carried state is [h; c], of width 2H
LSTM = Family(name="lstm", spec_type=LSTMSpec, cache_type=LSTMCache, backends=LSTM_BACKENDS,
              init=init_lstm_params, spec_from_dict=lambda d: LSTMSpec(**d),
              forward_name="forward_lstm", state_size=lambda spec: spec.state_size)

#: :func:`cwrnn_np.gradcheck`, which audits any family (the spec's type picks it)
gradcheck_lstm = gradcheck


def forward_lstm(params: dict, spec: LSTMSpec, x: np.ndarray, h_init=None, t0: int = 0,
                 resets=None, backend: str = "numba"):
    r"""Run the LSTM over a sequence (or one chunk of it); the analogue of :func:`cwrnn_np.forward`.

    Parameters
    ----------
    params : dict
        See :func:`init_lstm_params`; all float64 or all float32.
    spec : LSTMSpec
    x : (L, B, D) array of the parameters' dtype, finite, L >= 1.
    h_init : (B, 2H) array or None
        The carried-in state :math:`[h_{-1}; c_{-1}]`; default the reset state r.
    t0 : int >= 0
        Accepted for the CW-RNN's API and ignored (an LSTM has no clock).
    resets : list of int or None
        Steps s (0 <= s < L) at which the state entering step s is replaced by r.
    backend : ``"numba"`` (default) or ``"numpy"``
        ``"numpy"`` is the readable reference (:func:`forward_lstm_numpy`); ``"numba"`` runs the
        same equations in one compiled call per sequence (:func:`forward_lstm_numba`).

    Returns
    -------
    y : (L, B, O) outputs.
    cache : LSTMCache
        Pass it to :func:`backward_lstm`. ``cache.h_last`` (B, 2H) is the last state: passing
        it as ``h_init`` to the next chunk continues the sequence.

    Notes
    -----
    Equations L0–L7 of ``docs/lstm.md``; see :func:`forward_lstm_numpy`.
    """
    return LSTM.forward(params, spec, x, h_init, t0, resets, backend)


def backward_lstm(params: dict, spec: LSTMSpec, dy: np.ndarray, cache: LSTMCache,
                  dh_last=None, backend: str = "numba") -> dict:
    r"""Gradients of a scalar loss through the forward call that made ``cache`` (BPTT).

    Parameters
    ----------
    params, spec : the same as for :func:`forward_lstm`
    dy : (L, B, O) upstream gradient :math:`\partial\ell/\partial y_t`.
    cache : LSTMCache from :func:`forward_lstm` (either backend)
    dh_last : (B, 2H) or None
        Extra upstream gradient on ``cache.h_last``: pass the next chunk's ``grads["h_init"]``.
    backend : ``"numba"`` (default) or ``"numpy"``

    Returns
    -------
    grads : dict
        One entry per parameter (same shapes), plus ``"x"`` (L, B, D) and ``"h_init"`` (B, 2H).
        When ``spec.learn_h0`` and no ``h_init`` was passed, ``"h_0"`` already includes the
        batch sum of ``"h_init"``: do not add it twice.

    Notes
    -----
    Equations LB1–LB10 of ``docs/lstm.md``; see :func:`backward_lstm_numpy`.
    """
    return LSTM.backward(params, spec, dy, cache, dh_last, backend)
