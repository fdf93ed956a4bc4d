r"""Numba kernels of the CW-RNN with soft selection among same-clock modules, one call per
sequence in each direction.

The design note's variant "multiple RNNs at same speed … blurry selection between them": a group
of K >= 2 modules sharing one period and phase is updated through a softmax over its modules
(Koutník et al., "A Clockwork RNN", ICML 2014, for the clockwork itself). The equations and
their tags (S1–S6 forward, SB1–SB9 backward) are those of ``docs/variants.md`` and of the
readable reference :mod:`cwrnn_np.models.selection.reference`, which these kernels reproduce to
rounding (relative :math:`10^{-12}` norm-wise in float64); each block of a kernel names the
equation it implements.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, S selection rows (one
per grouped module), Q groups, K modules of a group, P wired pairs.

Each kernel is a plain function compiled once per dtype, at its first call, with the options of
:mod:`cwrnn_np.kernels.config`, and takes and returns the named tuples defined here (every
array is an argument). The helpers allocate nothing and are compiled with
:data:`cwrnn_np.kernels.config.HELPER_OPTIONS` (no reference counting), so LLVM inlines them. The
wrappers that validate, prepare and call the kernels are
:func:`cwrnn_np.models.selection.forward_select_numba` and
:func:`cwrnn_np.models.selection.backward_select_numba`.

Only the clock's work is done: an inactive module is held bitwise (its state is copied, its
pre-activation and tanh are never computed, its gradient passes through unchanged), and the
selection logits and their softmax are computed only for the groups whose clock fires. Only the
wiring's work is done too: module i reads the state of module j only if :math:`C_{ij}`, and the
input only if :math:`R_i` (eq. M1), so the masked blocks of :math:`W_H` and :math:`W_I` are
never read (their values do not matter: M1 holds by construction) and their gradients never
written (exactly zero, SB9).

Blocks and wired pairs
----------------------
:func:`select_plan` groups the modules of the :class:`Layout` into *blocks*: maximal runs of
adjacent modules with the same clock, the same row of C and the same R (the copies of a module
made by :func:`cwrnn_np.models.selection.group_modules` form one block). A block's units are
contiguous, its modules fire together and read the same sources, so one product serves all of
them. Its *pairs* are the maximal runs of adjacent same-clock modules wired to it: pair p of
block I owns the block :math:`\tilde W_H[I, J_p]` and reads :math:`\tilde h[J_p]`, contiguous
units that change together. Held sources are not multiplied again
(:mod:`cwrnn_np.kernels.held`): the forward kernel reuses
:math:`\tilde W_H[I, J_p] \tilde h_{t-1}[J_p]` while :math:`\tilde h[J_p]` is held, and the
backward kernel applies :math:`\tilde W_H[I, J_p]^\top` and the outer product once per version
of that state.

How the products run
--------------------
Every product is one of :mod:`cwrnn_np.kernels.linalg` (all B rows of a step together: BLAS from
eight rows, a row loop or a register tile below that, fastmath off); the recurrent weight
gradient's rows are queued and applied as one BLAS product (:mod:`cwrnn_np.kernels.held`). tanh
is the vectorised :func:`~cwrnn_np.kernels.special.tanh_inplace`, once per active block and
batch row. The selection logits :math:`W_S^G [x_t; \tilde h_{t-1}]` (S3) read all of :math:`x_t`
and :math:`\tilde h_{t-1}` with only K rows per group: as dot products per batch row they would
be chains of D + H dependent additions (IEEE order), so the forward kernel computes
:math:`z^\top = W_S^G [x_t; \tilde h_{t-1}]^\top` with the batch as columns, writing
:math:`[x_t; \tilde h_{t-1}]^\top` (D + H, B) once per step in which a group fires; the
product's inner loop then runs over the B entries of a row. The backward selection path (SB7,
SB9) is a product and an outer product per active group with the K rows of :math:`W_S`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ...kernels.config import HELPER_OPTIONS, JIT_OPTIONS
from ...kernels.held import (HeldPairs, add_held_products, cut_at_reset, defer, flush,
                             flush_all, mark_fired, mark_reset, new_deferred_grads,
                             new_held_products, reset_rows)
from ...kernels.linalg import add_block_dots, add_block_product, add_outer_products
from ...kernels.special import tanh_inplace

__all__ = ["Layout", "SelectPlan", "Sequence", "ForwardWeights", "ForwardOutputs",
           "ForwardStates", "Upstream", "BackwardWeights", "Grads", "select_plan",
           "select_forward_kernel", "select_backward_kernel"]


# ----- the kernels' named inputs and outputs ---------------------------------------------------

class Layout(NamedTuple):
    r"""The spec as small arrays (the base CW-RNN's modules, wiring, routing and clock, and the
    groups).

    Attributes
    ----------
    offsets : (n + 1,) int64, module i owns hidden units ``offsets[i]:offsets[i+1]``.
    C : (n, n) bool, the wiring: ``C[i, j]`` iff module j feeds module i.
    R : (n,) bool, the routing: ``R[i]`` iff module i reads the input.
    periods, phases : (n,) int64, the clock :math:`T_i, \phi_i`, only compared (which modules
        always fire together).
    module_row : (n,) int64, the selection row s of module i (``select_modules[s] = i``), or
        -1 for a module in no group (its update gate is 1).
    group_ptr : (Q + 1,) int64, group q owns selection rows ``group_ptr[q]:group_ptr[q+1]``.
    group_clock : (Q,) int64, one module of group q, whose clock is the group's.
    """

    offsets: np.ndarray
    C: np.ndarray
    R: np.ndarray
    periods: np.ndarray
    phases: np.ndarray
    module_row: np.ndarray
    group_ptr: np.ndarray
    group_clock: np.ndarray


class SelectPlan(NamedTuple):
    r"""The blocks and wired pairs the kernels work on (module docstring).

    Attributes
    ----------
    blk : (nb + 1,) int64, block b is modules ``blk[b]:blk[b+1]``.
    pair_ptr : (nb + 1,) int64, the wired pairs of block b are ``pair_ptr[b]:pair_ptr[b+1]``.
    pairs : HeldPairs, where each pair's block of :math:`\tilde W_H` lies.
    """

    blk: np.ndarray
    pair_ptr: np.ndarray
    pairs: HeldPairs


class Sequence(NamedTuple):
    r"""The sequence (chunk) a kernel runs over.

    Attributes
    ----------
    x : (L, B, D) inputs.
    h_init : (B, H) the carried-in state :math:`h_{-1}`.
    r : (H,) the reset state.
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (S1).
    active_mod : (L, n) bool, the clock :math:`\chi_t` per module.
    """

    x: np.ndarray
    h_init: np.ndarray
    r: np.ndarray
    reset: np.ndarray
    active_mod: np.ndarray


class ForwardWeights(NamedTuple):
    r"""The weights the forward kernel reads; masked entries are never read (M1).

    Attributes
    ----------
    W_IT : (D, H), W_HT : (H, H) the input and recurrent weights, transposed; only routed
        columns of W_IT and wired blocks of W_HT are read.
    b_H : (H,) hidden biases.
    W_S : (S, D + H), b_S : (S,) the selection scores.
    W_O : (O, H) and W_OT : (H, O) the readout weights and their transpose (W_OT is read when
        O >= 8, W_O otherwise); b_O : (O,).
    """

    W_IT: np.ndarray
    W_HT: np.ndarray
    b_H: np.ndarray
    W_S: np.ndarray
    b_S: np.ndarray
    W_O: np.ndarray
    W_OT: np.ndarray
    b_O: np.ndarray


class ForwardOutputs(NamedTuple):
    r"""What the forward kernel returns.

    Attributes
    ----------
    h : (L, B, H) the states :math:`h_t`.
    th : (L, B, H) :math:`\tanh(a_t)`, zero where the module is inactive.
    g : (L, B, S) the selection :math:`g_t`, zero where the group is inactive.
    y : (L, B, O) outputs.
    """

    h: np.ndarray
    th: np.ndarray
    g: np.ndarray
    y: np.ndarray


class ForwardStates(NamedTuple):
    r"""What the backward kernel reads from the forward pass (either backend's cache): h, th
    (L, B, H) and g (L, B, S), as in :class:`ForwardOutputs`."""

    h: np.ndarray
    th: np.ndarray
    g: np.ndarray


class Upstream(NamedTuple):
    r"""The gradients arriving from outside the recurrence: dy (L, B, O) on the outputs and
    dh_last (B, H) on the last state (``dh_last``, or zeros)."""

    dy: np.ndarray
    dh_last: np.ndarray


class BackwardWeights(NamedTuple):
    r"""The weights the backward kernel reads; masked entries are never read.

    Attributes
    ----------
    W_I : (H, D) and W_IT : (D, H) the input weights and their transpose (W_I is read when
        D >= 8, W_IT otherwise); only routed rows are read.
    W_H : (H, H) the recurrent weights; only wired blocks are read.
    W_S : (S, D + H) the selection scores.
    W_O : (O, H) the readout weights.
    """

    W_I: np.ndarray
    W_IT: np.ndarray
    W_H: np.ndarray
    W_S: np.ndarray
    W_O: np.ndarray


class Grads(NamedTuple):
    r"""What the backward kernel returns.

    Attributes
    ----------
    dW_IT : (D, H) the gradient of W_I, transposed, and dW_H : (H, H): exactly zero outside the
        routed rows and wired blocks (SB9).
    db_H : (H,), dW_S : (S, D + H), db_S : (S,), dx : (L, B, D).
    dh_init : (B, H) the gradient on ``h_init``; dr : (H,) the gradient reaching r through
        resets.
    """

    dW_IT: np.ndarray
    dW_H: np.ndarray
    db_H: np.ndarray
    dW_S: np.ndarray
    db_S: np.ndarray
    dx: np.ndarray
    dh_init: np.ndarray
    dr: np.ndarray


# ----- blocks and pairs -----------------------------------------------------------------------

@njit(**JIT_OPTIONS)
def select_plan(layout):
    r"""The blocks and wired pairs of a :class:`Layout`, from the spec alone (module docstring).

    Returns
    -------
    SelectPlan: blocks are maximal runs of adjacent modules with the same clock, the same row
    of C and the same R; the pairs of a block are the maximal runs of adjacent modules wired to
    it (:math:`C_{ij}`) with one clock, each owning as many columns of the (B, ·) work buffers
    as its block has units. The blocks :math:`\tilde W_H[i, j]` with :math:`C_{ij} = 0` lie
    outside every pair (M1).
    """
    offsets, C, R = layout.offsets, layout.C, layout.R
    periods, phases = layout.periods, layout.phases
    n = offsets.shape[0] - 1
    blk = np.empty(n + 1, dtype=np.int64)
    nb = 0
    i = 0
    while i < n:
        blk[nb] = i
        nb += 1
        e = i + 1
        while e < n and periods[e] == periods[i] and phases[e] == phases[i] and R[e] == R[i]:
            same = True
            for j in range(n):
                if C[e, j] != C[i, j]:
                    same = False
                    break
            if not same:
                break
            e += 1
        i = e
    blk[nb] = n
    pair_ptr = np.zeros(nb + 1, dtype=np.int64)
    dst0 = np.empty(n * n, dtype=np.int64)
    src0 = np.empty(n * n, dtype=np.int64)
    src_len = np.empty(n * n, dtype=np.int64)
    src_module = np.empty(n * n, dtype=np.int64)
    col = np.zeros(n * n + 1, dtype=np.int64)
    n_pairs = 0
    for b in range(nb):
        i = blk[b]
        N = offsets[blk[b + 1]] - offsets[i]
        j = 0
        while j < n:
            if not C[i, j]:
                j += 1
                continue
            e = j + 1
            while e < n and C[i, e] and periods[e] == periods[j] and phases[e] == phases[j]:
                e += 1
            dst0[n_pairs] = offsets[i]
            src0[n_pairs] = offsets[j]
            src_len[n_pairs] = offsets[e] - offsets[j]
            src_module[n_pairs] = j
            col[n_pairs + 1] = col[n_pairs] + N
            n_pairs += 1
            j = e
        pair_ptr[b + 1] = n_pairs
    pairs = HeldPairs(dst0=dst0[:n_pairs].copy(), col=col[:n_pairs + 1].copy(),
                      src0=src0[:n_pairs].copy(), src_len=src_len[:n_pairs].copy(),
                      src_module=src_module[:n_pairs].copy())
    return SelectPlan(blk=blk[:nb + 1].copy(), pair_ptr=pair_ptr, pairs=pairs)


# ----- forward --------------------------------------------------------------------------------

@njit(**JIT_OPTIONS)
def select_forward_kernel(seq, weights, layout, temperature):
    r"""Forward pass with soft selection over a whole sequence (equations S1–S6).

    Parameters
    ----------
    seq : Sequence; weights : ForwardWeights; layout : Layout; temperature : float
    :math:`\tau > 0`.

    Returns
    -------
    ForwardOutputs.

    Notes
    -----
    Per step, for all B batch rows together: the reset (S1); for each active group, the logits
    :math:`W_S^G [x_t; \tilde h_{t-1}] + b_S^G` and their softmax at temperature :math:`\tau`
    (S3; they read only the entering state, so they come first); for each active block of
    modules (:func:`select_plan`), the pre-activations

    .. math::

        a_t[I] = b_H[I] + \tilde W_I[I] x_t + \sum_{p} z_p, \qquad
        z_p = \tilde W_H[I, J_p]\, \tilde h_{t-1}[J_p]                                 (S2)

    (the input term for routed blocks only, the sum over the block's wired pairs p, each
    reading a run :math:`J_p` of same-clock modules), where :math:`z_p` is recomputed only when
    :math:`\tilde h[J_p]` changed since it was last computed; their tanh, and the update of the
    block's modules by their gates (S4, S5); inactive blocks are held bitwise; then the readout
    (S6). A step's arithmetic does not depend on where the call starts (a reused :math:`z_p`
    is the same product of the same values), so chunked runs equal whole runs bitwise.
    """
    # the fields the time loop reads, bound once (a field read inside a loop costs a
    # reference-count update each time)
    x, h_init, reset, active_mod = seq.x, seq.h_init, seq.reset, seq.active_mod
    offsets, R, module_row = layout.offsets, layout.R, layout.module_row
    W_IT, W_HT, b_H = weights.W_IT, weights.W_HT, weights.b_H
    W_O, W_OT, b_O = weights.W_O, weights.W_OT, weights.b_O
    L, B, D = x.shape
    H = h_init.shape[1]
    n = offsets.shape[0] - 1
    n_rows = weights.W_S.shape[0]
    O = W_O.shape[0]
    dtype = h_init.dtype
    h = np.empty((L, B, H), dtype=dtype)              # (L, B, H)
    th = np.empty((L, B, H), dtype=dtype)             # (L, B, H) zeroed where inactive
    g = np.zeros((L, B, n_rows), dtype=dtype)         # (L, B, S)
    y = np.zeros((L, B, O), dtype=dtype)              # (L, B, O)
    h_r = reset_rows(seq.r, B)                        # (B, H)
    xhT = np.empty((D + H, B), dtype=dtype)           # (D + H, B) [x_t; h~_{t-1}]^T
    zT = np.zeros((n_rows, B), dtype=dtype)           # (S, B) logits W_S [x; h~] of a step
    plan = select_plan(layout)
    blk, pair_ptr, pairs = plan.blk, plan.pair_ptr, plan.pairs
    nb = blk.shape[0] - 1
    held = new_held_products(pairs, n, h_r)
    for t in range(L):
        # (S1) the state entering step t: r after a reset, else h_{t-1} (h_init at t = 0)
        if reset[t]:
            h_prev = h_r
            mark_reset(held, t)
        elif t == 0:
            h_prev = h_init
        else:
            h_prev = h[t - 1]
        th_t = th[t]                                   # (B, H) view
        h_t = h[t]                                     # (B, H) view
        active_t = active_mod[t]                       # (n,) view
        # (S3) the selection of each active group; it reads the entering state only
        _selection(g[t], xhT, zT, x[t], h_prev, active_t, layout, weights, temperature)
        for bk in range(nb):
            m0 = blk[bk]
            u0 = offsets[m0]
            N = offsets[blk[bk + 1]] - u0
            if not active_t[m0]:
                # (S5) an inactive module is held bitwise; its tanh is not computed
                _hold_block(h_t, th_t, h_prev, u0, N)
                continue
            # (S2) a_t = b_H + W_I x_t (routed modules only; M1) + the wired blocks of W_H (M1)
            # of the block, into th_t; held products are reused
            _input_pre_activation(th_t, x[t], u0, N, R[m0], W_IT, b_H)
            add_held_products(th_t, pairs, pair_ptr[bk], pair_ptr[bk + 1], held, h_prev, W_HT)
            # (S5) tanh(a_t) of the block, the target of its update
            for b in range(B):
                tanh_inplace(th_t[b, u0:u0 + N])
            # (S4, S5) the block's modules move toward tanh(a) by their gates
            _gate_update(h_t, th_t, g[t], h_prev, m0, blk[bk + 1], offsets, module_row)
        # the modules that fired hold new states from now on (after every product of the step)
        for i in range(n):
            if active_t[i]:
                mark_fired(held, i, t)
        if O > 0:
            # (S6) readout, step by step (a step's output does not depend on where the call
            # starts)
            _readout(y[t], h_t, W_O, W_OT, b_O)
    return ForwardOutputs(h=h, th=th, g=g, y=y)


@njit(**HELPER_OPTIONS)
def _selection(g_t, xhT, zT, x_t, h_prev, active_t, layout, weights, temperature):
    r"""(S3) :math:`g_t^G = \mathrm{softmax}((W_S^G [x_t; \tilde h_{t-1}] + b_S^G) / \tau)` of
    each group whose clock fires, into ``g_t`` (B, S) (zero on entry).

    The logits are computed as :math:`z^\top = W_S^G [x_t; \tilde h_{t-1}]^\top`, the batch as
    contiguous columns: ``xhT`` (D + H, B) is filled once, at the first active group; ``zT``
    (S, B) is scratch. x_t (B, D), h_prev (B, H), active_t (n,) bool.
    """
    group_ptr, group_clock = layout.group_ptr, layout.group_clock
    W_S, b_S = weights.W_S, weights.b_S
    B, D = x_t.shape
    H = h_prev.shape[1]
    filled = False
    for qg in range(group_clock.shape[0]):
        if not active_t[group_clock[qg]]:
            continue
        if not filled:
            for b in range(B):
                for d in range(D):
                    xhT[d, b] = x_t[b, d]
            for b in range(B):
                hb = h_prev[b]
                for k in range(H):
                    xhT[D + k, b] = hb[k]
            filled = True
        lo, hi = group_ptr[qg], group_ptr[qg + 1]
        z_q = zT[lo:hi]                                # (K, B) view
        z_q[:, :] = 0
        add_block_product(z_q, 0, W_S[lo:hi], 0, xhT, 0, 0, D + H, B)
        # softmax per batch row, shifted by the largest logit
        for b in range(B):
            zmax = (z_q[0, b] + b_S[lo]) / temperature
            for s in range(lo + 1, hi):
                z = (z_q[s - lo, b] + b_S[s]) / temperature
                if z > zmax:
                    zmax = z
            total = 0.0
            for s in range(lo, hi):
                ex = math.exp((z_q[s - lo, b] + b_S[s]) / temperature - zmax)
                g_t[b, s] = ex
                total += ex
            for s in range(lo, hi):
                g_t[b, s] = g_t[b, s] / total


@njit(**HELPER_OPTIONS)
def _hold_block(h_t, th_t, h_prev, u0, N):
    """(S5) units ``u0:u0+N`` of an inactive block: the state is held bitwise and tanh is not
    computed (``th_t`` is zero there); h_t, th_t, h_prev (B, H)."""
    for b in range(h_t.shape[0]):
        hv = h_t[b, u0:u0 + N]
        hp = h_prev[b, u0:u0 + N]
        tv = th_t[b, u0:u0 + N]
        for q in range(N):
            hv[q] = hp[q]
            tv[q] = 0


@njit(**HELPER_OPTIONS)
def _input_pre_activation(a_t, x_t, u0, N, routed, W_IT, b_H):
    r"""(S2) ``a_t[:, u0:u0+N] = b_H + W_I x_t`` on the units of one block (the input term only
    if the block is ``routed``); a_t (B, H), x_t (B, D), W_IT (D, H) :math:`W_I^\top`."""
    bias = b_H[u0:u0 + N]
    for b in range(a_t.shape[0]):
        tv = a_t[b, u0:u0 + N]
        for q in range(N):
            tv[q] = bias[q]
    if routed:
        add_block_product(a_t, u0, x_t, 0, W_IT, 0, u0, x_t.shape[1], N)


@njit(**HELPER_OPTIONS)
def _gate_update(h_t, th_t, g_t, h_prev, m0, m1, offsets, module_row):
    r"""(S4, S5) the active modules ``m0:m1`` move toward :math:`\tanh(a_t)` by their update
    gates: :math:`h_t = u_t \tanh(a_t) + (1 - u_t) \tilde h_{t-1}`, with :math:`u_t` the
    module's selection (``g_t`` (B, S)) or 1 if it is in no group; h_t, th_t, h_prev (B, H).
    """
    one = h_t.dtype.type(1.0)
    for i in range(m0, m1):
        lo, hi = offsets[i], offsets[i + 1]
        row = module_row[i]
        for b in range(h_t.shape[0]):
            hv = h_t[b, lo:hi]
            tv = th_t[b, lo:hi]
            if row < 0:
                for q in range(hi - lo):
                    hv[q] = tv[q]
            else:
                hp = h_prev[b, lo:hi]
                u = g_t[b, row]
                w = one - u
                for q in range(hi - lo):
                    hv[q] = u * tv[q] + w * hp[q]


@njit(**HELPER_OPTIONS)
def _readout(y_t, h_t, W_O, W_OT, b_O):
    """(S6) ``y_t += W_O h_t + b_O``, y_t (B, O) zero on entry, h_t (B, H), W_O (O, H), W_OT
    (H, O) (read when O >= 8), b_O (O,)."""
    O, H = W_O.shape
    if O < 8:
        add_block_dots(y_t, 0, h_t, 0, W_O, 0, 0, H, O)
    else:
        add_block_product(y_t, 0, h_t, 0, W_OT, 0, 0, H, O)
    for b in range(y_t.shape[0]):
        yb = y_t[b]
        for m in range(O):
            yb[m] += b_O[m]


# ----- backward -------------------------------------------------------------------------------

@njit(**JIT_OPTIONS)
def select_backward_kernel(seq, states, upstream, weights, layout, temperature):
    r"""Hand-derived BPTT of the soft selection over a whole sequence (equations SB2–SB9).

    Parameters
    ----------
    seq : Sequence, as given to the forward pass; states : ForwardStates from it (either
    backend's); upstream : Upstream; weights : BackwardWeights; layout : Layout;
    temperature : float.

    Returns
    -------
    Grads.

    Notes
    -----
    Per step, backwards, for all B batch rows together: :math:`\delta_t = W_O^\top \bar y_t
    + \epsilon_{t+1}` (SB2), in a (B, H) buffer that then becomes :math:`\epsilon_t` in place:
    inactive units keep :math:`\delta_t`, active ones the kept share
    :math:`(1 - u_t) \delta_t` (SB7, first term) once :math:`\bar a_t` (SB3) and the gate's
    gradient (SB4, SB5) are taken from it; then the softmax (SB6) of the active groups, the
    input and selection paths (SB7) with their weight gradients (SB9), and the bias gradient;
    a reset sends the result to r instead (SB8).

    The recurrent path (SB7, :math:`\tilde W_H^\top \bar a_t`) and :math:`\bar W_H` (SB9) are
    summed per version of the state each pair reads (:mod:`cwrnn_np.kernels.held`) and applied
    when that version's gradient is complete: at the step that computed it (before SB3 there),
    at a reset (the version is r, SB8) or at the end (``h_init``).
    """
    # the fields the time loop reads, bound once (a field read inside a loop costs a
    # reference-count update each time)
    x, h_init, reset, active_mod = seq.x, seq.h_init, seq.reset, seq.active_mod
    h, th, g = states.h, states.th, states.g
    dy = upstream.dy
    offsets, R, module_row = layout.offsets, layout.R, layout.module_row
    W_I, W_IT, W_H, W_S, W_O = (weights.W_I, weights.W_IT, weights.W_H, weights.W_S,
                                weights.W_O)
    L, B, D = x.shape
    H = h_init.shape[1]
    n = offsets.shape[0] - 1
    n_rows = W_S.shape[0]
    O = W_O.shape[0]
    dtype = h_init.dtype
    dW_IT = np.zeros((D, H), dtype=dtype)             # (D, H) transposed: rows contiguous
    dW_H = np.zeros((H, H), dtype=dtype)              # (H, H)
    db_H = np.zeros(H, dtype=dtype)                   # (H,)
    dW_S = np.zeros((n_rows, D + H), dtype=dtype)     # (S, D + H)
    db_S = np.zeros(n_rows, dtype=dtype)              # (S,)
    dr = np.zeros(H, dtype=dtype)                     # (H,)
    dx = np.zeros((L, B, D), dtype=dtype)             # (L, B, D)
    h_r = reset_rows(seq.r, B)                        # (B, H)
    eps = upstream.dh_last.copy()                     # (B, H) gradient on the state after t
    delta = np.empty((B, H), dtype=dtype)             # (B, H) delta_t, then epsilon_t
    da = np.zeros((B, H), dtype=dtype)                # (B, H) gradient on a_t (active units)
    dg = np.zeros((B, n_rows), dtype=dtype)           # (B, S) gradient on g_t (active groups)
    dz = np.zeros((B, n_rows), dtype=dtype)           # (B, S) gradient on the logits (active)
    plan = select_plan(layout)
    blk, pair_ptr, pairs = plan.blk, plan.pair_ptr, plan.pairs
    nb = blk.shape[0] - 1
    src_module = pairs.src_module
    deferred = new_deferred_grads(pairs, h_r)
    pending = deferred.pending
    for t in range(L - 1, -1, -1):
        if reset[t]:
            h_prev = h_r
        elif t == 0:
            h_prev = h_init
        else:
            h_prev = h[t - 1]
        h_t = h[t]                                    # (B, H) view
        th_t = th[t]                                  # (B, H) view
        g_t = g[t]                                    # (B, S) view
        active_t = active_mod[t]                      # (n,) view
        # (SB2) total gradient on h_t: from step t+1 and from y_t, W_O^T ybar_t
        delta[:, :] = eps
        add_block_product(delta, 0, dy[t], 0, W_O, 0, 0, O, H)
        # (SB7, recurrent term; SB9) states computed at step t are new versions: complete the
        # gradient that the later steps sent them through W_H
        for p in range(src_module.shape[0]):
            if pending[p] and active_t[src_module[p]]:
                flush(deferred, pairs, p, h_t, delta, dW_H, W_H)
        # (SB3-SB5; SB7, first term) the active modules; an inactive module's state and its
        # gradient pass through unchanged
        for i in range(n):
            if active_t[i]:
                _through_tanh_and_gate(da, dg, delta, th_t, g_t, h_prev, offsets[i],
                                       offsets[i + 1], module_row[i])
        # (SB6) back through the softmax and its temperature, active groups only
        _through_softmax(dz, dg, g_t, active_t, layout, temperature)
        dx_t = dx[t]                                  # (B, D) view
        for bk in range(nb):
            m0 = blk[bk]
            if not active_t[m0]:
                continue
            u0 = offsets[m0]
            N = offsets[blk[bk + 1]] - u0
            # (SB7, recurrent term; SB9) deferred: da of this step, summed per version of the
            # state each pair reads
            defer(deferred, pairs, pair_ptr[bk], pair_ptr[bk + 1], da)
            # (SB7, input term; SB9) input and bias gradients of the block
            _input_grads(dW_IT, db_H, dx_t, da, x[t], u0, N, R[m0], W_I, W_IT)
        # (SB7, selection term; SB9) the selection path of the active groups
        _selection_grads(dx_t, delta, dW_S, db_S, dz, x[t], h_prev, active_t, layout, W_S)
        if reset[t]:
            # (SB7-SB9) the state entering step t was r: flush every pending version as r's,
            # sum the gradient into r, cut the path to h_{t-1}
            cut_at_reset(deferred, pairs, h_r, delta, dW_H, W_H, dr, eps)
        else:
            # epsilon_t is the gradient on h~_{t-1}; the buffers swap roles
            eps, delta = delta, eps
    # (SB7, SB9) what is still pending read h_init; eps is now the gradient on h_init
    flush_all(deferred, pairs, h_init, eps, dW_H, W_H)
    return Grads(dW_IT=dW_IT, dW_H=dW_H, db_H=db_H, dW_S=dW_S, db_S=db_S, dx=dx, dh_init=eps,
                 dr=dr)


@njit(**HELPER_OPTIONS)
def _through_tanh_and_gate(da, dg, delta, th_t, g_t, h_prev, lo, hi, row):
    r"""One active module, units ``lo:hi``, selection row ``row`` (-1: in no group).

    (SB3) :math:`\bar a_t = \delta_t \odot u_t \odot (1 - \tanh^2 a_t)` into ``da``;
    (SB4, SB5) :math:`\bar g_t[\mathrm{row}] = \sum_k \delta_t[k] (\tanh a_t[k] - \tilde
    h_{t-1}[k])` into ``dg`` (B, S); (SB7, first term) ``delta`` keeps the share
    :math:`(1 - u_t) \delta_t` that reaches the old state. da, delta, th_t, h_prev (B, H).
    """
    one = da.dtype.type(1.0)
    zero = da.dtype.type(0.0)
    for b in range(da.shape[0]):
        d = delta[b, lo:hi]
        v = th_t[b, lo:hi]
        da_b = da[b, lo:hi]
        if row < 0:
            # ungrouped: u = 1, nothing of the old state is kept
            for q in range(hi - lo):
                # (SB3) backprop through tanh
                da_b[q] = d[q] * (one - v[q] * v[q])
                d[q] = 0
        else:
            u = g_t[b, row]
            w = one - u
            hp = h_prev[b, lo:hi]
            acc = zero
            for q in range(hi - lo):
                dq = d[q]
                # (SB3) backprop through tanh, scaled by the update gate
                da_b[q] = dq * u * (one - v[q] * v[q])
                # (SB4, SB5) the gate of a module is shared by its units
                acc += dq * (v[q] - hp[q])
                # (SB7, first term) the kept share (1 - u) of the old state
                d[q] = w * dq
            dg[b, row] = acc


@njit(**HELPER_OPTIONS)
def _through_softmax(dz, dg, g_t, active_t, layout, temperature):
    r"""(SB6) :math:`\bar z = \frac{1}{\tau} g \odot (\bar g - \langle g, \bar g \rangle)` of
    each active group, into ``dz`` (B, S); dg, g_t (B, S), active_t (n,) bool."""
    group_ptr, group_clock = layout.group_ptr, layout.group_clock
    zero = dz.dtype.type(0.0)
    for qg in range(group_clock.shape[0]):
        if not active_t[group_clock[qg]]:
            continue
        lo, hi = group_ptr[qg], group_ptr[qg + 1]
        for b in range(dz.shape[0]):
            dot = zero
            for s in range(lo, hi):
                dot += g_t[b, s] * dg[b, s]
            for s in range(lo, hi):
                dz[b, s] = g_t[b, s] * (dg[b, s] - dot) / temperature


@njit(**HELPER_OPTIONS)
def _input_grads(dW_IT, db_H, dx_t, da, x_t, u0, N, routed, W_I, W_IT):
    r"""The input path of one active block, units ``u0:u0+N``, from :math:`\bar a_t` (rows of
    ``da`` (B, H)): (SB9) :math:`\bar W_I` into dW_IT (D, H) and (SB7, input term)
    :math:`\bar a_t W_I` into dx_t (B, D), routed blocks only; (SB9) :math:`\bar b_H` into
    db_H (H,). x_t (B, D); W_I (H, D) is read when D >= 8, W_IT (D, H) otherwise."""
    D = x_t.shape[1]
    if routed:
        add_outer_products(dW_IT, 0, u0, x_t, 0, D, da, u0, N)
        if D < 8:
            add_block_dots(dx_t, 0, da, u0, W_IT, 0, u0, N, D)
        else:
            add_block_product(dx_t, 0, da, u0, W_I, u0, 0, N, D)
    db = db_H[u0:u0 + N]
    for b in range(da.shape[0]):
        da_b = da[b, u0:u0 + N]
        for q in range(N):
            db[q] += da_b[q]


@njit(**HELPER_OPTIONS)
def _selection_grads(dx_t, delta, dW_S, db_S, dz, x_t, h_prev, active_t, layout, W_S):
    r"""The selection path of each active group, from :math:`\bar z_t` (``dz`` (B, S)):
    (SB7, selection term) :math:`\bar z W_S^G` into dx_t (B, D) and delta (B, H); (SB9)
    :math:`\bar W_S^G \mathrel{+}= \bar z^\top [x_t; \tilde h_{t-1}]` and :math:`\bar b_S^G`.
    """
    group_ptr, group_clock = layout.group_ptr, layout.group_clock
    B, D = x_t.shape
    H = h_prev.shape[1]
    for qg in range(group_clock.shape[0]):
        if not active_t[group_clock[qg]]:
            continue
        lo, hi = group_ptr[qg], group_ptr[qg + 1]
        K = hi - lo
        add_block_product(dx_t, 0, dz, lo, W_S, lo, 0, K, D)
        add_block_product(delta, 0, dz, lo, W_S, lo, D, K, H)
        add_outer_products(dW_S, lo, 0, dz, lo, K, x_t, 0, D)
        add_outer_products(dW_S, lo, D, dz, lo, K, h_prev, 0, H)
        for b in range(B):
            for s in range(lo, hi):
                db_S[s] += dz[b, s]
