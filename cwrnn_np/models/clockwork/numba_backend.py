r"""The Numba backend: :func:`forward_numba` and :func:`backward_numba` (``backend="numba"``).

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §3: a module computes only
when its clock fires. These wrappers prepare arrays and work lists, gather them into the
kernels' named tuples and make one kernel call per sequence (chunk) in each direction, so the
Python interpreter never sits in the time loop; the kernels
(:mod:`cwrnn_np.models.clockwork.kernels`) compute only active modules and only the blocks of
:math:`W_H` and :math:`W_I` that the wiring C and routing R allow.

Same signatures, cache and results as :func:`cwrnn_np.models.clockwork.reference.forward_numpy`
and :func:`cwrnn_np.models.clockwork.reference.backward_numpy` (to rounding: relative
:math:`10^{-12}` in float64); inactive modules are held bitwise and structurally masked
gradient entries are exactly zero, as in the reference. The public entry points are
:func:`cwrnn_np.forward` and :func:`cwrnn_np.backward`, which validate and then call these.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, A (step, active module)
entries, P wired module pairs.

Numba is imported on the first call (or by :func:`warmup`), not by ``import cwrnn_np``.
"""
from __future__ import annotations

import functools
import time
from typing import NamedTuple

import numpy as np

from ...params import fold_h0
from ...spec import ClockworkSpec
from ..family import contiguous, load_kernels
from .reference import ForwardCache, reset_state

__all__ = ["forward_numba", "backward_numba", "warmup", "KernelPlan", "kernel_plan"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class KernelPlan(NamedTuple):
    r"""The spec's part of the kernels' work lists (see :mod:`cwrnn_np.models.clockwork.kernels`).

    Attributes
    ----------
    periods, phases : (n,) int64, the clock: :math:`T_i`, :math:`\phi_i`.
    offsets : (n + 1,) int64, module i owns hidden units ``offsets[i]:offsets[i+1]``.
    routed : (n,) bool, the input routing R.
    pair_ptr : (n + 1,) int64, the wired pairs of target module i are ``pair_ptr[i]:pair_ptr[i+1]``.
    pair_src, pair_dst : (P,) int64, source j and target i of pair p (:math:`C_{ij} = 1`).
    pair_col : (P + 1,) int64, pair p owns columns ``pair_col[p]:pair_col[p+1]`` (:math:`k_i`) of
        the kernels' (B, Z) work buffers.
    src_pair_ptr : (n + 1,) int64, the pairs whose source is module j are
        ``src_pair[src_pair_ptr[j]:src_pair_ptr[j+1]]``.
    src_pair : (P,) int64
    """

    periods: np.ndarray
    phases: np.ndarray
    offsets: np.ndarray
    routed: np.ndarray
    pair_ptr: np.ndarray
    pair_src: np.ndarray
    pair_dst: np.ndarray
    pair_col: np.ndarray
    src_pair_ptr: np.ndarray
    src_pair: np.ndarray


@functools.lru_cache(maxsize=256)
def kernel_plan(spec: ClockworkSpec) -> KernelPlan:
    """The work lists that depend only on the spec (memoised: specs are immutable; the arrays
    are read-only)."""
    n = spec.n_modules
    dst, src = np.nonzero(spec.C)                              # (P,) row-major: grouped by i
    sizes = np.asarray(spec.module_sizes, dtype=np.int64)
    pair_ptr = np.zeros(n + 1, dtype=np.int64)                 # (n + 1,)
    np.cumsum(np.bincount(dst, minlength=n), out=pair_ptr[1:])
    pair_col = np.zeros(len(dst) + 1, dtype=np.int64)          # (P + 1,)
    np.cumsum(sizes[dst], out=pair_col[1:])
    src_pair = np.argsort(src, kind="stable").astype(np.int64)  # (P,) grouped by j
    src_pair_ptr = np.zeros(n + 1, dtype=np.int64)             # (n + 1,)
    np.cumsum(np.bincount(src, minlength=n), out=src_pair_ptr[1:])
    return KernelPlan(
        periods=_readonly(np.array(spec.periods, dtype=np.int64)),
        phases=_readonly(np.array(spec.phases, dtype=np.int64)),
        offsets=_readonly(np.array(spec.offsets, dtype=np.int64)),
        routed=_readonly(np.array(spec.R, dtype=np.bool_)),
        pair_ptr=_readonly(pair_ptr),
        pair_src=_readonly(src.astype(np.int64)),
        pair_dst=_readonly(dst.astype(np.int64)),
        pair_col=_readonly(pair_col),
        src_pair_ptr=_readonly(src_pair_ptr),
        src_pair=_readonly(src_pair),
    )


def forward_numba(params: dict, spec: ClockworkSpec, x: np.ndarray, h_init, t0: int,
                  reset: np.ndarray):
    r"""Clockwork RNN forward pass in one Numba call; wraps
    :func:`cwrnn_np.models.clockwork.kernels.clockwork_forward_kernel`.

    Parameters
    ----------
    params : dict of arrays (see :mod:`cwrnn_np.params`)
    spec : ClockworkSpec
    x : (L, B, D) inputs
    h_init : (B, H) carried-in state, or None for r
    t0 : int clock offset
    reset : (L,) bool; ``reset[s]`` replaces the state entering step s by r

    Returns
    -------
    y : (L, B, O) outputs
    cache : ForwardCache (``backend="numba"``), with the same fields as the reference's.

    Notes
    -----
    Equations M1–M6 of ``docs/model.md``, as
    :func:`cwrnn_np.models.clockwork.reference.forward_numpy`; the kernel does M2–M4 for all
    steps (M1 by reading only wired blocks, M5 here), and M6 too unless O >= 16, where one
    BLAS product over all steps here is faster.
    """
    L, B, _ = x.shape
    H = spec.hidden_size
    dtype = params["W_H"].dtype
    plan = kernel_plan(spec)
    r = reset_state(params, spec, dtype)                           # (M5) (H,)
    h_in = np.broadcast_to(r, (B, H)) if h_init is None else h_init
    h_in = np.array(h_in, dtype=dtype, order="C")                  # (B, H) own copy
    kernels = load_kernels("clockwork")
    clock = kernels.clock_lists(plan.periods, plan.phases, plan.offsets, L, t0)   # chi_t
    W_O, b_O = params["W_O"], params["b_O"]
    O = W_O.shape[0]
    # (M6) in the kernel for small O, step by step; for O >= 16 one BLAS product over all L B
    # rows here is faster (the output layer is most of the char-LM step's work). Chunked runs
    # then equal whole runs to rounding, not bitwise: BLAS may group a sum differently for a
    # different number of rows.
    blas_out = O >= 16
    W_O_k = np.empty((0, H), dtype) if blas_out else contiguous(W_O)       # (O, H) or (0, H)
    seq = kernels.Sequence(x=contiguous(x), h_init=h_in, r=contiguous(r),
                           reset=contiguous(reset, np.bool_))
    weights = kernels.ForwardWeights(
        W_HT=np.ascontiguousarray(params["W_H"].T),                # (H, H)
        W_IT=np.ascontiguousarray(params["W_I"].T),                # (D, H)
        b_H=contiguous(params["b_H"]),
        W_O=W_O_k, W_OT=np.ascontiguousarray(W_O_k.T),             # (O, H), (H, O)
        b_O=np.empty(0, dtype) if blas_out else contiguous(b_O))
    out = kernels.clockwork_forward_kernel(seq, weights, plan, clock)   # (M2-M4, M6)
    h, y = out.h, out.y                                            # (L, B, H), (L, B, O)
    if blas_out:
        y = (h.reshape(L * B, H) @ W_O.T).reshape(L, B, O)        # (M6) (L, B, O)
        y += b_O
    cache = ForwardCache(x=x, h_init=h_in, r=r, h=h, active=clock.active, reset=reset, t0=t0,
                         h_init_given=h_init is not None, backend="numba")
    return y, cache


def backward_numba(params: dict, spec: ClockworkSpec, dy: np.ndarray, cache: ForwardCache,
                   dh_last=None) -> dict:
    r"""Hand-derived BPTT in one Numba call; wraps
    :func:`cwrnn_np.models.clockwork.kernels.clockwork_backward_kernel`.

    Parameters
    ----------
    params, spec : as for the forward pass
    dy : (L, B, O) upstream gradient :math:`\partial \ell / \partial y_t`
    cache : ForwardCache from either backend's forward pass
    dh_last : (B, H) or None, upstream gradient on the last state :math:`h_{L-1}`

    Returns
    -------
    grads : dict with the keys of ``params`` plus ``"x"`` (L, B, D) and ``"h_init"`` (B, H);
        structurally masked entries of ``"W_H"`` and ``"W_I"`` are exactly zero.

    Notes
    -----
    Equations B1–B10 of ``docs/bptt.md``, as
    :func:`cwrnn_np.models.clockwork.reference.backward_numpy`: the output-layer gradients
    (B1) are matrix products here, the recurrence (B2–B9) is the kernel (:math:`W_O^\top \bar
    y_t` too, unless O >= 16, where one BLAS product here is faster), and B10 folds the
    initial-state gradient into :math:`h_0`.
    """
    x, h = cache.x, cache.h
    L, B, _ = x.shape
    H, O = spec.hidden_size, spec.output_size
    dtype = params["W_H"].dtype
    plan = kernel_plan(spec)
    kernels = load_kernels("clockwork")
    clock = kernels.active_lists(contiguous(cache.active, np.bool_), plan.offsets)  # chi_t
    W_O = params["W_O"]
    dy2 = dy.reshape(L * B, O)                                     # (L B, O)
    h2 = contiguous(h, dtype)
    # output layer (B1): y_t = W_O h_t + b_O
    dW_O = dy2.T @ h2.reshape(L * B, H)                            # (O, H)
    db_O = dy2.sum(axis=0)                                         # (O,)
    if O >= 16:
        # W_O^T ybar_t for all t in one BLAS product (B2); small O: the kernel does it per step
        dh_out = (dy2 @ W_O).reshape(L, B, H)                      # (L, B, H)
    else:
        dh_out = np.empty((0, B, H), dtype)
    seq = kernels.Sequence(x=contiguous(x, dtype), h_init=contiguous(cache.h_init, dtype),
                           r=contiguous(cache.r, dtype), reset=contiguous(cache.reset, np.bool_))
    upstream = kernels.Upstream(
        dy=contiguous(dy, dtype), dh_out=dh_out,
        dh_last=np.zeros((B, H), dtype) if dh_last is None else contiguous(dh_last, dtype))
    weights = kernels.BackwardWeights(
        W_H=contiguous(params["W_H"]), W_I=contiguous(params["W_I"]),
        W_IT=np.ascontiguousarray(params["W_I"].T), W_O=contiguous(W_O))   # (H,H) (H,D) (D,H) (O,H)
    result = kernels.clockwork_backward_kernel(seq, h2, upstream, weights, plan, clock)  # (B2-B9)
    grads = {
        "W_I": np.ascontiguousarray(result.dW_IT.T),              # (H, D)
        "W_H": result.dW_H,
        "b_H": result.db_H,
        "W_O": dW_O,
        "b_O": db_O,
        "x": result.dx,
        "h_init": result.dh_init,
    }
    if spec.learn_h0:
        # h_0 is the reset state, and also the initial state when no h_init was passed (B10)
        grads["h_0"] = fold_h0(result.dr, result.dh_init, cache.h_init_given)
    return grads


def warmup(dtypes=(np.float64, np.float32)) -> dict:
    """Compile (or load from the on-disk cache) the kernels' common signatures.

    Runs one forward and one backward pass on a tiny spec for each dtype. The wrappers always
    pass the same array types (C-contiguous; writeable, except the read-only work lists of
    :func:`kernel_plan`), so one signature per dtype is all the backend ever compiles. Numba
    keeps them on disk (``cache=True``): the first process pays the compile (about 20 s for
    both dtypes), later processes load them (well under a second).

    Parameters
    ----------
    dtypes : iterable of float64 and/or float32

    Returns
    -------
    dict mapping each dtype's name to the seconds it took (compile or cache load, plus the tiny
    run).
    """
    from ...params import init_params

    spec = ClockworkSpec(input_size=1, output_size=1, module_sizes=(1, 2), periods=(1, 2),
                         learn_h0=True)
    seconds = {}
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        start = time.perf_counter()
        params = init_params(spec, np.random.default_rng(0), dtype=dtype)
        x = np.zeros((3, 1, 1), dtype)
        reset = np.array([False, True, False])
        y, cache = forward_numba(params, spec, x, None, 0, reset)
        backward_numba(params, spec, np.ones_like(y), cache, None)
        seconds[dtype.name] = time.perf_counter() - start
    return seconds
