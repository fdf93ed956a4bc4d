r"""The CW-RNN's public, validating entry points: :func:`forward` and :func:`backward`.

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, with the design note's
wiring, routing, reset and schedule variants. Each function checks every argument (raising
``ValueError`` that names the field and the bad value), then calls a backend: ``"numba"`` (the
default) runs the compiled kernels through :mod:`cwrnn_np.models.clockwork.numba_backend`, which
do only the work the clock requires; ``"numpy"`` is the readable reference in
:mod:`cwrnn_np.models.clockwork.reference`. Both give the same results (relative 1e-12 in
float64; inactive modules held bitwise and structural zeros exact either way).

Shape letters: L time, B batch, D input, H hidden, O output.
"""
from __future__ import annotations

import numpy as np

from ...params import init_params
from ...spec import ClockworkSpec
from ..family import DEFAULT_BACKEND, Family
from .numba_backend import backward_numba, forward_numba
from .reference import ForwardCache, backward_numpy, forward_numpy

__all__ = ["forward", "backward", "BACKENDS", "DEFAULT_BACKEND", "CLOCKWORK"]

#: backend name -> (forward, backward); every backend has the signatures of the numpy reference.
#: ``"numba"`` imports Numba on its first call, not at ``import cwrnn_np``.
BACKENDS = {"numpy": (forward_numpy, backward_numpy),
            "numba": (forward_numba, backward_numba)}

#: the CW-RNN family (the SRN is its one-module case)
CLOCKWORK = Family(name="cwrnn", spec_type=ClockworkSpec, cache_type=ForwardCache,
                   backends=BACKENDS, init=init_params,
                   spec_from_dict=lambda d: ClockworkSpec(**d), forward_name="forward")


def forward(params: dict, spec: ClockworkSpec, x: np.ndarray, h_init=None, t0: int = 0,
            resets=None, backend: str = DEFAULT_BACKEND):
    r"""Run a Clockwork RNN over a sequence (or one chunk of it).

    Parameters
    ----------
    params : dict
        ``W_I`` (H, D), ``W_H`` (H, H), ``b_H`` (H,), ``W_O`` (O, H), ``b_O`` (O,) and, if
        ``spec.learn_h0``, ``h_0`` (H,); all float64 or all float32.
    spec : ClockworkSpec
    x : (L, B, D) array of the parameters' dtype, finite, L >= 1.
    h_init : (B, H) array or None
        The carried-in state :math:`h_{-1}`; default the reset state r (:math:`h_0` or zeros).
    t0 : int >= 0
        Clock offset: step t of this call is global step t0 + t.
    resets : list of int or None
        Steps s (0 <= s < L) at which the state entering step s is replaced by r.
    backend : ``"numba"`` (default) or ``"numpy"``
        ``"numpy"`` is the readable reference (:mod:`cwrnn_np.models.clockwork.reference`); ``"numba"`` runs the
        same equations in one compiled call per sequence, computing only the modules the clock
        activates and the blocks the wiring allows (:mod:`cwrnn_np.models.clockwork.numba_backend`). Same API and
        results (to rounding; inactive modules held bitwise either way).

    Returns
    -------
    y : (L, B, O) outputs.
    cache : ForwardCache
        Pass it to :func:`backward`. ``cache.h_last`` (B, H) is the last state: to continue the
        sequence, call ``forward(params, spec, x_next, h_init=cache.h_last, t0=t0 + L)``, which
        gives exactly what one call over the whole sequence gives.

    Notes
    -----
    Equations M1–M6 of ``docs/model.md``; see :func:`cwrnn_np.models.clockwork.reference.forward_numpy`.
    """
    return CLOCKWORK.forward(params, spec, x, h_init, t0, resets, backend)


def backward(params: dict, spec: ClockworkSpec, dy: np.ndarray, cache: ForwardCache,
             dh_last=None, backend: str = DEFAULT_BACKEND) -> dict:
    r"""Gradients of a scalar loss through the forward call that made ``cache`` (BPTT).

    Parameters
    ----------
    params, spec : the same as for :func:`forward`
    dy : (L, B, O) upstream gradient :math:`\partial\ell/\partial y_t` (e.g. from a loss in
        :mod:`cwrnn_np.losses`).
    cache : ForwardCache from :func:`forward`
    dh_last : (B, H) or None
        Extra upstream gradient on ``cache.h_last``: pass the next chunk's ``grads["h_init"]`` to
        backpropagate across chunks exactly.
    backend : ``"numba"`` (default) or ``"numpy"``
        As for :func:`forward`; either backend's cache works with either backward.

    Returns
    -------
    grads : dict
        One entry per parameter (same shapes; structurally masked entries exactly 0), plus
        ``"x"`` (L, B, D) and ``"h_init"`` (B, H), the gradient on the carried-in state (zero if
        step 0 is a reset). When ``spec.learn_h0`` and no ``h_init`` was passed, ``"h_0"``
        already includes the batch sum of ``"h_init"``: do not add it twice.

    Notes
    -----
    Equations B1–B10 of ``docs/bptt.md``; see :func:`cwrnn_np.models.clockwork.reference.backward_numpy`.
    """
    return CLOCKWORK.backward(params, spec, dy, cache, dh_last, backend)
