r"""Numba kernels of the Clockwork RNN forward pass and its BPTT, doing only the clock's work.

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §3 (a module with period
:math:`T_i` computes only at the steps its clock fires, so a CW-RNN costs less than an SRN of the
same size), with the design note's wiring, routing and reset variants. The equations and their
tags (M1–M6 forward, B1–B10 backward) are those of ``docs/model.md`` and ``docs/bptt.md`` and
of the readable reference :mod:`cwrnn_np.models.clockwork.reference`, which these kernels
reproduce to rounding; each block of a kernel names the equation it implements.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, :math:`k_i` units of
module i, P the number of wired pairs (i, j) with :math:`C_{ij} = 1`, A the number of
(step, active module) entries of a call.

Each kernel is a plain function compiled once per dtype, at its first call, with the options of
:mod:`cwrnn_np.kernels.config`, and takes and returns the named tuples defined here (every
array is an argument: Numba would freeze globals as constants). The kernels' helpers allocate
nothing and are compiled with :data:`cwrnn_np.kernels.config.HELPER_OPTIONS` (no reference
counting), so LLVM inlines them and splitting a kernel into them costs nothing at run time.
The wrappers that prepare the arrays and call the kernels are in
:mod:`cwrnn_np.models.clockwork.numba_backend`.

The work lists
--------------
The kernels never look at a mask. They follow small integer arrays: the spec's
:class:`cwrnn_np.models.clockwork.numba_backend.KernelPlan` (module offsets, the routing R,
the wired pairs grouped by target and by source) and the call's :class:`ClockLists` (the
modules active at each step, a CSR list of the clock :math:`\chi_t`). Only active modules
compute, and only over the routed input block of :math:`W_I` and the wired blocks of
:math:`W_H`; so M1 holds by construction, masked weights are never read and their gradients
never written (exactly zero, B9), and an inactive module's state and gradient are copied
(held bitwise, M4 and B4).

Held sources are not multiplied again: :mod:`cwrnn_np.kernels.held` keeps the block product
that module i reads from a wired source j while j's state is held, and the backward kernel
applies :math:`W_H[i, j]^\top` and the outer product with :math:`\tilde h[j]` once per version
of that state.

All products are the plain loops of :mod:`cwrnn_np.kernels.linalg`, whose innermost loops run
over contiguous memory and compile to SIMD code with fastmath off. The wrappers pass
:math:`W_H^\top` and :math:`W_I^\top` C-contiguous, so the units of a module are contiguous in
a row. Cost of a step: one O(BH) copy of the state (forward) or of its gradient (backward),
plus :math:`B k_i (D R_i + k_j)` multiply-adds per active module i and wired source j whose
state changed: the cost follows the active work, not :math:`H^2`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ...kernels.config import HELPER_OPTIONS, JIT_OPTIONS
from ...kernels.held import (HeldPairs, add_held_products, cut_at_reset, defer, flush,
                             flush_all, mark_fired, mark_reset, new_deferred_grads,
                             new_held_products, reset_rows)
from ...kernels.linalg import (add_block_dots, add_block_product, drain_all_outer,
                               new_outer_queue, queue_outer)
from ...kernels.special import tanh_inplace

__all__ = ["ClockLists", "Sequence", "ForwardWeights", "ForwardOutputs", "BackwardWeights",
           "Upstream", "Grads", "clock_lists", "active_lists", "wired_pairs",
           "clockwork_forward_kernel", "clockwork_backward_kernel"]


# ----- the kernels' named inputs and outputs ---------------------------------------------------

class ClockLists(NamedTuple):
    r"""The clock :math:`\chi_t` of one call as work lists.

    Attributes
    ----------
    step_ptr : (L + 1,) int64 and module : (A,) int64, the modules active at step t are
        ``module[step_ptr[t]:step_ptr[t+1]]``, in increasing order.
    active : (L, H) bool, the clock expanded to units (the cache's ``active``).
    """

    step_ptr: np.ndarray
    module: np.ndarray
    active: np.ndarray


class Sequence(NamedTuple):
    r"""The sequence (chunk) a kernel runs over.

    Attributes
    ----------
    x : (L, B, D) inputs.
    h_init : (B, H) the carried-in state :math:`h_{-1}`.
    r : (H,) the reset state (M5).
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (M2).
    """

    x: np.ndarray
    h_init: np.ndarray
    r: np.ndarray
    reset: np.ndarray


class ForwardWeights(NamedTuple):
    r"""The weights the forward kernel reads; masked entries are never read (M1).

    Attributes
    ----------
    W_HT : (H, H) :math:`W_H^\top`, C-contiguous; only wired blocks are read.
    W_IT : (D, H) :math:`W_I^\top`; only routed columns are read.
    b_H : (H,) hidden bias.
    W_O : (O, H) output weights and W_OT : (H, O) the same transposed (read when O >= 8); or
        (0, H) and (H, 0), and the caller computes M6.
    b_O : (O,) output bias ((0,) when the caller computes M6).
    """

    W_HT: np.ndarray
    W_IT: np.ndarray
    b_H: np.ndarray
    W_O: np.ndarray
    W_OT: np.ndarray
    b_O: np.ndarray


class ForwardOutputs(NamedTuple):
    r"""What the forward kernel returns.

    Attributes
    ----------
    h : (L, B, H) the states :math:`h_t`.
    y : (L, B, O) the outputs :math:`y_t` (M6); (L, B, 0) if the caller computes them.
    """

    h: np.ndarray
    y: np.ndarray


class BackwardWeights(NamedTuple):
    r"""The weights the backward kernel reads; masked entries are never read.

    Attributes
    ----------
    W_H : (H, H) recurrent weights, C-contiguous; only wired blocks are read.
    W_I : (H, D) input weights and W_IT : (D, H) the same transposed (read instead of W_I
        when D < 8); only routed rows are read.
    W_O : (O, H) output weights.
    """

    W_H: np.ndarray
    W_I: np.ndarray
    W_IT: np.ndarray
    W_O: np.ndarray


class Upstream(NamedTuple):
    r"""The gradients arriving from outside the recurrence.

    Attributes
    ----------
    dy : (L, B, O) :math:`\bar y_t`.
    dh_out : (L, B, H) :math:`W_O^\top \bar y_t` (B2), precomputed by the caller with one BLAS
        product when O is large; or (0, B, H), and the kernel computes it step by step
        (cheaper for small O: no (L, B, H) temporary).
    dh_last : (B, H) the gradient on :math:`h_{L-1}` from after the call (zeros if none).
    """

    dy: np.ndarray
    dh_out: np.ndarray
    dh_last: np.ndarray


class Grads(NamedTuple):
    r"""What the backward kernel returns.

    Attributes
    ----------
    dW_H : (H, H) gradient of W_H; blocks with :math:`C_{ij} = 0` exactly zero (B9).
    dW_IT : (D, H) gradient of W_I, transposed; columns of unrouted modules exactly zero (B9).
    db_H : (H,) gradient of b_H.
    dx : (L, B, D) gradient of the inputs.
    dh_init : (B, H) gradient reaching :math:`h_{-1}` (zero if step 0 is a reset).
    dr : (H,) gradient reaching the reset state r through the resets (B10 adds the rest).
    """

    dW_H: np.ndarray
    dW_IT: np.ndarray
    db_H: np.ndarray
    dx: np.ndarray
    dh_init: np.ndarray
    dr: np.ndarray


# ----- work lists ---------------------------------------------------------------------------

@njit(**JIT_OPTIONS)
def clock_lists(periods, phases, offsets, L, t0):
    r"""The clock of one call as work lists: which modules fire at each step.

    Parameters
    ----------
    periods, phases : (n,) int64, :math:`T_i` and :math:`\phi_i`.
    offsets : (n + 1,) int64, module i owns hidden units ``offsets[i]:offsets[i+1]``.
    L : int, steps in the call; t0 : int, the call's clock offset.

    Returns
    -------
    ClockLists, where module i is active at step t iff
    :math:`\chi_t[i] = [(t_0 + t - \phi_i) \bmod T_i = 0]` (:func:`cwrnn_np.spec.clock`).
    """
    n = periods.shape[0]
    H = offsets[n]
    # module i fires at t = first_i, first_i + T_i, ... with first_i = (phi_i - t0) mod T_i
    first = np.empty(n, dtype=np.int64)
    for i in range(n):
        first[i] = (phases[i] - t0) % periods[i]
    step_ptr = np.zeros(L + 1, dtype=np.int64)
    for i in range(n):
        for t in range(first[i], L, periods[i]):
            step_ptr[t + 1] += 1
    for t in range(L):
        step_ptr[t + 1] += step_ptr[t]
    module = np.empty(step_ptr[L], dtype=np.int64)
    fill = step_ptr[:L].copy()
    active = np.zeros((L, H), dtype=np.bool_)
    for i in range(n):
        for t in range(first[i], L, periods[i]):
            module[fill[t]] = i
            fill[t] += 1
            active[t, offsets[i]:offsets[i + 1]] = True
    return ClockLists(step_ptr=step_ptr, module=module, active=active)


@njit(**JIT_OPTIONS)
def active_lists(active, offsets):
    r"""The work lists of a clock given per unit (``active`` (L, H) bool, e.g. a cache's):
    :class:`ClockLists` whose active modules at step t are the i with ``active[t, offsets[i]]``.
    """
    L = active.shape[0]
    n = offsets.shape[0] - 1
    step_ptr = np.zeros(L + 1, dtype=np.int64)
    count = 0
    for t in range(L):
        for i in range(n):
            if active[t, offsets[i]]:
                count += 1
        step_ptr[t + 1] = count
    module = np.empty(count, dtype=np.int64)
    slot = 0
    for t in range(L):
        for i in range(n):
            if active[t, offsets[i]]:
                module[slot] = i
                slot += 1
    return ClockLists(step_ptr=step_ptr, module=module, active=active)


@njit(**JIT_OPTIONS)
def wired_pairs(plan):
    """The plan's wired pairs (i, j) in units, for :mod:`cwrnn_np.kernels.held`: pair p reads
    module ``plan.pair_src[p]`` into module ``plan.pair_dst[p]``."""
    offsets = plan.offsets
    n_pairs = plan.pair_src.shape[0]
    dst0 = np.empty(n_pairs, dtype=np.int64)
    src0 = np.empty(n_pairs, dtype=np.int64)
    src_len = np.empty(n_pairs, dtype=np.int64)
    src_module = np.empty(n_pairs, dtype=np.int64)
    for p in range(n_pairs):
        i = plan.pair_dst[p]
        j = plan.pair_src[p]
        dst0[p] = offsets[i]
        src0[p] = offsets[j]
        src_len[p] = offsets[j + 1] - offsets[j]
        src_module[p] = j
    return HeldPairs(dst0=dst0, col=plan.pair_col.copy(), src0=src0, src_len=src_len,
                     src_module=src_module)


# ----- forward --------------------------------------------------------------------------------

@njit(**JIT_OPTIONS)
def clockwork_forward_kernel(seq, weights, plan, clock):
    r"""States and outputs of one sequence (chunk): equations M2–M4 and M6, one call for all L.

    Parameters
    ----------
    seq : Sequence; weights : ForwardWeights; plan : KernelPlan (the spec's work lists);
    clock : ClockLists of the call.

    Returns
    -------
    ForwardOutputs: h (L, B, H), and y (L, B, O) computed step by step, so that a step's output
    does not depend on where the call starts (chunked runs equal whole runs bitwise).

    Notes
    -----
    For each step t and each module :math:`i` active at t (:math:`\chi_t[i] = 1`, and only
    those):

    .. math::

        a_t[i] = b_H[i] + R_i W_I[i, :] x_t + \sum_{j : C_{ij} = 1} z_{ij}, \qquad
        z_{ij} = W_H[i, j]\, \tilde h_{t-1}[j], \qquad h_t[i] = \tanh(a_t[i]),

    where :math:`W_H[i, j]` is the :math:`k_i \times k_j` block and :math:`z_{ij}` is
    recomputed only when :math:`\tilde h[j]` changed since it was last computed
    (:func:`cwrnn_np.kernels.held.add_held_products`). Every other module's state is copied
    unchanged (held bitwise).
    """
    # the fields the time loop reads, bound once (a field read inside a loop costs a
    # reference-count update each time)
    x, h_init, reset = seq.x, seq.h_init, seq.reset
    step_ptr, module = clock.step_ptr, clock.module
    offsets, routed, pair_ptr = plan.offsets, plan.routed, plan.pair_ptr
    b_H, W_IT, W_HT = weights.b_H, weights.W_IT, weights.W_HT
    W_O, W_OT, b_O = weights.W_O, weights.W_OT, weights.b_O
    L, B, D = x.shape
    H = h_init.shape[1]
    O = W_O.shape[0]
    dtype = h_init.dtype
    h = np.empty((L, B, H), dtype=dtype)              # (L, B, H)
    y = np.empty((L, B, O), dtype=dtype)              # (L, B, O)
    h_r = reset_rows(seq.r, B)                        # (B, H)
    pairs = wired_pairs(plan)
    held = new_held_products(pairs, plan.offsets.shape[0] - 1, h_r)
    for t in range(L):
        # (M2) the state entering step t: r after a reset, else h_{t-1} (h_init at t = 0)
        if reset[t]:
            h_prev = h_r
            mark_reset(held, t)
        elif t == 0:
            h_prev = h_init
        else:
            h_prev = h[t - 1]
        h_t = h[t]                                     # (B, H) view
        # (M4) inactive modules: state passes through unchanged; active ones are overwritten
        h_t[:, :] = h_prev
        for slot in range(step_ptr[t], step_ptr[t + 1]):
            # (M3) a_t[i] of active module i, into its units of h_t
            i = module[slot]
            u0 = offsets[i]
            k_i = offsets[i + 1] - u0
            # (M3) bias
            b_i = b_H[u0:u0 + k_i]
            for b in range(B):
                a_i = h_t[b, u0:u0 + k_i]
                for q in range(k_i):
                    a_i[q] = b_i[q]
            # (M3) input block of W_I, routed modules only (M1: the others are zero)
            if routed[i]:
                add_block_product(h_t, u0, x[t], 0, W_IT, 0, u0, D, k_i)
            # (M3) recurrent blocks W_H[i, j], wired sources j only (M1); held products reused
            add_held_products(h_t, pairs, pair_ptr[i], pair_ptr[i + 1], held, h_prev, W_HT)
        # (M4) active modules: h_t = tanh(a_t)
        _tanh_active(h_t, module, step_ptr[t], step_ptr[t + 1], offsets)
        # the modules that fired hold new states from now on (after every product of the step)
        for slot in range(step_ptr[t], step_ptr[t + 1]):
            mark_fired(held, module[slot], t)
        if O > 0:
            # (M6) output layer, step by step
            _output_layer(y[t], h_t, W_O, W_OT, b_O)
    return ForwardOutputs(h=h, y=y)


@njit(**HELPER_OPTIONS)
def _tanh_active(h_t, module, first, end, offsets):
    """(M4) ``h_t = tanh(a_t)`` on the units of the active modules ``module[first:end]``
    (listed in increasing order), once per run of adjacent modules and batch row; h_t (B, H).
    """
    while first < end:
        last = first + 1
        while last < end and module[last] == module[last - 1] + 1:
            last += 1
        u0 = offsets[module[first]]
        u1 = offsets[module[last - 1] + 1]
        for b in range(h_t.shape[0]):
            tanh_inplace(h_t[b, u0:u1])
        first = last


@njit(**HELPER_OPTIONS)
def _output_layer(y_t, h_t, W_O, W_OT, b_O):
    """(M6) ``y_t = W_O h_t + b_O``: every module feeds y_t; y_t (B, O), h_t (B, H), W_O
    (O, H), W_OT (H, O) (read when O >= 8), b_O (O,)."""
    O, H = W_O.shape
    for b in range(y_t.shape[0]):
        y_b = y_t[b]
        for o in range(O):
            y_b[o] = b_O[o]
    if O < 8:
        add_block_dots(y_t, 0, h_t, 0, W_O, 0, 0, H, O)
    else:
        add_block_product(y_t, 0, h_t, 0, W_OT, 0, 0, H, O)


# ----- backward -------------------------------------------------------------------------------

@njit(**JIT_OPTIONS)
def clockwork_backward_kernel(seq, h, upstream, weights, plan, clock):
    r"""BPTT through :func:`clockwork_forward_kernel`: equations B2–B8, one call for all L steps.

    Parameters
    ----------
    seq : Sequence, as given to the forward kernel; h : (L, B, H) the states it returned;
    upstream : Upstream; weights : BackwardWeights; plan : KernelPlan; clock : ClockLists.

    Returns
    -------
    Grads.

    Notes
    -----
    With :math:`\delta_t` the total gradient on :math:`h_t` and :math:`\epsilon_t` the part that
    reaches :math:`h_{t-1}` from step t:

    .. math::

        \delta_t &= W_O^\top \bar y_t + \epsilon_{t+1}                                && (B2) \\
        \bar a_t[i] &= \delta_t[i] \odot (1 - h_t[i]^2) \quad (i \text{ active})       && (B3) \\
        \bar{\tilde h}_{t-1}[j] &= [j \text{ inactive}]\, \delta_t[j]
            + \sum_{i \text{ active}, C_{ij}} W_H[i, j]^\top \bar a_t[i]              && (B4) \\
        \epsilon_t &= 0 \text{ if } s_t \text{ else } \bar{\tilde h}_{t-1}              && (B5)

    and, for active i only, :math:`\bar W_H[i, j] \mathrel{+}= \bar a_t[i]^\top \tilde h_{t-1}[j]`
    (B6), :math:`\bar W_I[i] \mathrel{+}= \bar a_t[i]^\top x_t` and
    :math:`\bar x_t \mathrel{+}= \bar a_t[i] W_I[i]` (B7, routed i), :math:`\bar b_H[i]
    \mathrel{+}= \sum_b \bar a_t[i]` (B8). The recurrent terms of B4 and B6 are summed per
    version of :math:`\tilde h[j]` (:mod:`cwrnn_np.kernels.held`) and applied when that
    version's gradient is complete: at the step that computed it, at a reset, or at the end
    (``h_init``).
    """
    # the fields the time loop reads, bound once (a field read inside a loop costs a
    # reference-count update each time)
    x, h_init, reset = seq.x, seq.h_init, seq.reset
    step_ptr, module = clock.step_ptr, clock.module
    src_pair_ptr, src_pair, offsets = plan.src_pair_ptr, plan.src_pair, plan.offsets
    W_H = weights.W_H
    L, B, D = x.shape
    H = h_init.shape[1]
    dtype = h_init.dtype
    dW_H = np.zeros((H, H), dtype=dtype)                    # (H, H)
    dW_IT = np.zeros((D, H), dtype=dtype)                   # (D, H) transposed: rows contiguous
    db_H = np.zeros(H, dtype=dtype)                         # (H,)
    dx = np.zeros((L, B, D), dtype=dtype)                   # (L, B, D)
    dr = np.zeros(H, dtype=dtype)                           # (H,)
    h_r = reset_rows(seq.r, B)                              # (B, H)
    eps = upstream.dh_last.copy()                           # (B, H) epsilon_{t+1}
    delta = np.empty((B, H), dtype=dtype)                   # (B, H) delta_t, then dh~_{t-1}
    da = np.empty((B, H), dtype=dtype)                      # (B, H) rows of active modules only
    pairs = wired_pairs(plan)
    deferred = new_deferred_grads(pairs, h_r)
    pending = deferred.pending
    n = offsets.shape[0] - 1
    inputs = new_outer_queue(np.full(n, D, dtype=np.int64), offsets[1:] - offsets[:-1],
                             np.zeros(n, dtype=np.int64), offsets[:-1], h_r)  # B7, per module
    for t in range(L - 1, -1, -1):
        h_t = h[t]                                          # (B, H) view
        # (B2) total gradient on h_t, from y_t and from step t+1; where a module is inactive
        # it is already the pass-through term of B4
        _total_gradient(delta, eps, upstream, weights.W_O, t)
        # h_t[j] of a module j that fired at t is a new version: its gradient from the later
        # steps through W_H is now complete (B4, B6)
        for slot in range(step_ptr[t], step_ptr[t + 1]):
            j = module[slot]
            for s in range(src_pair_ptr[j], src_pair_ptr[j + 1]):
                if pending[src_pair[s]]:
                    flush(deferred, pairs, src_pair[s], h_t, delta, dW_H, W_H)
        # (B3) through tanh, and (B4, first term) an active module's old state does not pass
        for slot in range(step_ptr[t], step_ptr[t + 1]):
            _through_tanh(da, delta, h_t, module[slot], offsets)
        # (B4, B6 deferred; B7; B8) the other paths of the active modules
        for slot in range(step_ptr[t], step_ptr[t + 1]):
            _active_module_grads(dW_IT, db_H, dx[t], deferred, inputs, da, x[t], module[slot],
                                 weights, plan, pairs)
        if reset[t]:
            # (B4-B6) the state entering step t was r: flush every pending version as r's,
            # sum the gradient into r, cut the path to h_{t-1}
            cut_at_reset(deferred, pairs, h_r, delta, dW_H, W_H, dr, eps)
        else:
            # (B5) epsilon_t is the gradient on h~_{t-1}; the buffers swap roles
            eps, delta = delta, eps
    # (B4, B6) what is still pending read h_init; eps is now the gradient on h_init
    flush_all(deferred, pairs, h_init, eps, dW_H, W_H)
    drain_all_outer(inputs, dW_IT)
    return Grads(dW_H=dW_H, dW_IT=dW_IT, db_H=db_H, dx=dx, dh_init=eps, dr=dr)


@njit(**HELPER_OPTIONS)
def _total_gradient(delta, eps, upstream, W_O, t):
    r"""(B2) ``delta`` (B, H) = :math:`W_O^\top \bar y_t + \epsilon_{t+1}`, from the caller's
    precomputed ``dh_out`` or, for small O, multiplied here."""
    B, H = delta.shape
    if upstream.dh_out.shape[0] > 0:
        for b in range(B):
            d = delta[b]
            d_out = upstream.dh_out[t, b]
            e = eps[b]
            for u in range(H):
                d[u] = d_out[u] + e[u]
    else:
        O = W_O.shape[0]
        for b in range(B):
            d = delta[b]
            e = eps[b]
            for u in range(H):
                d[u] = e[u]
        add_block_product(delta, 0, upstream.dy[t], 0, W_O, 0, 0, O, H)


@njit(**HELPER_OPTIONS)
def _through_tanh(da, delta, h_t, i, offsets):
    r"""(B3) :math:`\bar a_t[i] = \delta_t[i] \odot (1 - h_t[i]^2)` into ``da``, and
    (B4, first term) zero ``delta`` on module i: an active module's old state does not pass
    through. da, delta, h_t (B, H)."""
    one = da.dtype.type(1.0)
    u0 = offsets[i]
    k_i = offsets[i + 1] - u0
    for b in range(da.shape[0]):
        d = delta[b, u0:u0 + k_i]
        da_i = da[b, u0:u0 + k_i]
        h_i = h_t[b, u0:u0 + k_i]
        for q in range(k_i):
            da_i[q] = d[q] * (one - h_i[q] * h_i[q])
            d[q] = 0


@njit(**HELPER_OPTIONS)
def _active_module_grads(dW_IT, db_H, dx_t, deferred, inputs, da, x_t, i, weights, plan,
                         pairs):
    r"""The gradients of active module i at step t, from :math:`\bar a_t[i]` (rows of ``da``
    (B, H)): added into db_H (H,), dx_t (B, D), the deferred sums, and the queue ``inputs`` of
    dW_IT (D, H); x_t (B, D).
    """
    u0 = plan.offsets[i]
    k_i = plan.offsets[i + 1] - u0
    B, D = x_t.shape
    # (B4, second term; B6) through W_H[i, j] to the entering state, and the weight gradient:
    # deferred, summed per version of h~[j]
    defer(deferred, pairs, plan.pair_ptr[i], plan.pair_ptr[i + 1], da)
    if plan.routed[i]:
        # (B7) input weight gradient (queued: one BLAS product per module for many steps) and
        # input gradient, routed modules only
        queue_outer(inputs, i, x_t, 0, da, u0, dW_IT)
        if D < 8:
            add_block_dots(dx_t, 0, da, u0, weights.W_IT, 0, u0, k_i, D)
        else:
            add_block_product(dx_t, 0, da, u0, weights.W_I, u0, 0, k_i, D)
    # (B8) bias gradient
    db = db_H[u0:u0 + k_i]
    for b in range(B):
        da_i = da[b, u0:u0 + k_i]
        for q in range(k_i):
            db[q] += da_i[q]
