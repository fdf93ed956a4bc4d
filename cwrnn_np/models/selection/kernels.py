r"""Numba kernels of the CW-RNN with soft selection among same-clock modules, one call per
sequence.

The design note's variant "multiple RNNs at same speed … blurry selection between them": a group
of K >= 2 modules sharing one period and phase is updated through a softmax over its modules
(Koutník et al., "A Clockwork RNN", ICML 2014, for the clockwork itself). The equations and
their tags (S1–S6 forward, SB1–SB9 backward) are those of the readable reference
:func:`cwrnn_np.models.selection.forward_select_numpy` / :func:`cwrnn_np.models.selection.backward_select_numpy`,
which these kernels reproduce to rounding (relative :math:`10^{-12}` norm-wise in float64).

Shape letters: L time, B batch, D input, H hidden, O output, n modules, S selection rows (one
per grouped module), Q groups.

Each kernel is a plain function compiled once, at import, with the options of
:mod:`cwrnn_np.kernels.config`; every array is an argument. The wrappers that validate, prepare
and call them are :func:`cwrnn_np.models.selection.forward_select_numba` and
:func:`cwrnn_np.models.selection.backward_select_numba`.

Only the clock's work is done: an inactive module is held bitwise (its state is copied, its
pre-activation and tanh are never computed, its gradient passes through unchanged), and the
selection logits and their softmax are computed only for the groups whose clock fires. Only the
wiring's work is done too: module i reads the state of module j only if :math:`C_{ij}`, and the
input only if :math:`R_i` (eq. M1), so the masked blocks of :math:`W_H` and :math:`W_I` are
never read (their values do not matter: M1 holds by construction) and their gradients never
written (exactly zero, SB9).

The layout
----------
Small integer and boolean arrays, which the wrappers take from the spec:

* ``offsets`` (n + 1,): module i owns hidden units ``offsets[i]:offsets[i+1]``.
* ``C`` (n, n) bool: the wiring, ``C[i, j]`` iff module j feeds module i; ``R`` (n,) bool: the
  routing, ``R[i]`` iff module i reads the input (:attr:`cwrnn_np.ClockworkSpec.C`, ``.R``).
* ``periods``, ``phases`` (n,): the clock :math:`T_i, \phi_i`, only compared (which modules
  always fire together); ``active_mod`` (L, n) bool: the clock :math:`c_t` of the call.
* ``module_row`` (n,): the selection row of module i (the index s with
  ``select_modules[s] = i``), or -1 for a module in no group (its update gate is 1).
* ``group_ptr`` (Q + 1,): group q owns selection rows ``group_ptr[q]:group_ptr[q+1]``;
  ``group_clock`` (Q,): one module of group q, whose clock is the group's.

Blocks and wired pairs
----------------------
From these, :func:`select_plan` groups the modules into *blocks*: maximal runs of adjacent
modules with the same clock, the same row of C and the same R (the copies of a module made by
:func:`cwrnn_np.models.selection.group_modules` form one block). A block's units are contiguous, its
modules fire together and read the same sources, so one product serves all of them. Its
*pairs* are the maximal runs of adjacent same-clock modules wired to it: pair p of block I
owns the block :math:`\tilde W_H[I, J_p]` and reads :math:`\tilde h[J_p]`, contiguous units
that change together.

Held sources are not multiplied again (as in :mod:`cwrnn_np.models.clockwork.kernels`): between two
activations a module's state is held bitwise, so the forward kernel keeps
:math:`Z_p = \tilde W_H[I, J_p] \tilde h_{t-1}[J_p]` per pair, tagged with the version of
:math:`\tilde h[J_p]` it was computed from, and recomputes it only when that state changed (the
sources fired, or a reset). The backward kernel does the transpose: it sums
:math:`\bar a_t[I]` over the steps that read one version and applies
:math:`\tilde W_H[I, J_p]^\top` and the outer product with the version once (:func:`_flush`).
With the paper's wiring (slow modules feed fast ones) a pair then costs once per period of the
slower, read modules: 2.2 times fewer recurrent multiply-adds than the active work in the
benchmark below, in each pass.

Performance notes
-----------------
Every product is one of the batched loops of :mod:`cwrnn_np.models.clockwork.kernels`
(:func:`~cwrnn_np.kernels.linalg.add_block_product`,
:func:`~cwrnn_np.kernels.linalg.add_outer_products`,
:func:`~cwrnn_np.kernels.linalg.add_block_dots`): all B rows of a step together, in 2 x 4
register tiles, so each row of a weight block is loaded once per step and pair of batch rows;
their innermost loops run over contiguous memory from index 0 and compile to SIMD code with
fastmath off (no sum is reassociated, so no scalar reduction sits in an inner loop). ``np.dot``
is not used: inside Numba it needs SciPy, which is not a dependency. tanh is the vectorised
Cephes :func:`~cwrnn_np.kernels.special.tanh_inplace` (within 1.5 ulp; ``math.tanh`` is one
opaque call per element), once per active block and batch row.

The selection logits :math:`W_S^G [x_t; \tilde h_{t-1}]` (S3) read all of :math:`x_t` and
:math:`\tilde h_{t-1}` with only K rows per group: as dot products per batch row they are
chains of D + H dependent additions (IEEE order), as a product with the batch as columns,
:math:`z^\top = W_S^G [x_t; \tilde h_{t-1}]^\top`, they are axpy updates over the batch. The
forward kernel takes the second form: it writes :math:`[x_t; \tilde h_{t-1}]^\top` (D + H, B)
once per step in which a group fires, and the product's inner loop runs over the B entries of
a row. The backward selection path (SB7, SB9) is a product and an outer product per active
group with K rows of W_S.

Measured with ``python benchmarks/variants_speed.py --rounds 9`` at one thread (L = 128,
B = 16, D = 8, five modules of 32 units with periods 1, 2, 4, 8, 16, each turned into a group
of two: n = 10, H = 320; forward + backward, shared two-core machine): the previous kernels
(one batch row at a time, every unit of an active module against all H columns of
:math:`W_H`, ``math.tanh``, logits and readout as dot products) took 176-201 ms against
149-154 ms for the NumPy reference (0.7-0.9x); these take 19-32 ms, 4.8-5.0x faster than
the reference in the same rounds (the machine's load moves both). Per call
(CPU time): forward 10.6 ms, of which about 3 ms are the page faults of the two fresh
(L, B, H) outputs h and th, 2.5 ms the recurrent products, 0.9 ms the logits, 0.7 ms the
readout; backward 8.2 ms, of which 5.4 ms the flushes' products.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ...kernels.config import JIT_OPTIONS
from ...kernels.linalg import add_block_product, add_outer_products, add_block_dots
from ...kernels.special import tanh_inplace

__all__ = ["select_forward_kernel", "select_backward_kernel", "select_plan"]


@njit(**JIT_OPTIONS)
def select_plan(offsets, C, R, periods, phases):
    r"""The blocks and wired pairs the kernels work on, from the spec alone (module docstring).

    Parameters
    ----------
    offsets : (n + 1,) int, module i owns hidden units ``offsets[i]:offsets[i+1]``.
    C : (n, n) bool wiring, ``C[i, j]`` iff module j feeds module i; R : (n,) bool routing.
    periods, phases : (n,) int, the clock :math:`T_i, \phi_i` (only compared, never run).

    Returns
    -------
    blk : (nb + 1,) int64: block b is modules ``blk[b]:blk[b+1]``, a maximal run of adjacent
        modules with the same clock, the same row of C and the same R.
    pair_ptr : (nb + 1,) int64: the wired pairs of block b are ``pair_ptr[b]:pair_ptr[b+1]``.
    pair_j0, pair_j1 : (P,) int64: pair p reads the state of modules ``pair_j0[p]:pair_j1[p]``,
        a maximal run of adjacent modules wired to the block (:math:`C_{ij}`) with one clock.
    pair_col : (P + 1,) int64: pair p owns columns ``pair_col[p]:pair_col[p+1]`` (as many as
        its block has units) of the kernels' (B, ·) work buffers.

    The blocks :math:`\tilde W_H[i, j]` with :math:`C_{ij} = 0` lie outside every pair (M1).
    """
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
    pair_j0 = np.empty(n * n, dtype=np.int64)
    pair_j1 = np.empty(n * n, dtype=np.int64)
    pair_col = np.zeros(n * n + 1, dtype=np.int64)
    P = 0
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
            pair_j0[P] = j
            pair_j1[P] = e
            pair_col[P + 1] = pair_col[P] + N
            P += 1
            j = e
        pair_ptr[b + 1] = P
    return (blk[:nb + 1].copy(), pair_ptr, pair_j0[:P].copy(), pair_j1[:P].copy(),
            pair_col[:P + 1].copy())


@njit(**JIT_OPTIONS)
def _flush(u0, N, c0, M, z0, S, value, grad, dW_H, W_H):
    r"""Apply the deferred gradient of one wired pair for one version of the state it reads.

    The pair is block rows ``u0:u0+N`` (the reading modules) by state units ``c0:c0+M`` (the
    read modules). ``S[:, z0:z0+N]`` (B, N) holds :math:`\sum_t \bar a_t` of the block over
    the steps that read this version, whose value is ``value[:, c0:c0+M]``: then
    :math:`\tilde W_H[\text{block}, \text{read}]^\top` applied to that sum is the gradient
    those steps sent to the read state (SB7, recurrent term), added into ``grad``, and its
    outer product with the value is their part of :math:`\bar W_H` (SB9). S is cleared for the
    next version.
    """
    add_block_product(grad, c0, S, z0, W_H, u0, c0, N, M)
    add_outer_products(dW_H, u0, c0, S, z0, N, value, c0, M)
    for b in range(S.shape[0]):
        sb = S[b, z0:z0 + N]
        for q in range(N):
            sb[q] = 0


@njit(**JIT_OPTIONS)
def select_forward_kernel(x, h_in, r, reset, active_mod, offsets, C, R, periods, phases,
                          module_row, group_ptr, group_clock, W_IT, W_HT, b_H, W_S, b_S,
                          temperature, W_O, W_OT, b_O):
    r"""Forward pass with soft selection over a whole sequence (equations S1–S6).

    Parameters
    ----------
    x : (L, B, D) inputs.
    h_in : (B, H) the carried-in state :math:`h_{-1}`.
    r : (H,) the reset state.
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (S1).
    active_mod : (L, n) bool, the clock per module.
    offsets : (n + 1,), C : (n, n) bool, R : (n,) bool, periods, phases : (n,) int,
        module_row : (n,), group_ptr : (Q + 1,), group_clock : (Q,): the layout (module
        docstring).
    W_IT : (D, H), W_HT : (H, H) the input and recurrent weights, transposed; only routed
        columns of W_IT and wired blocks of W_HT are read, so masked entries need not be zero.
    b_H : (H,) hidden biases.
    W_S : (S, D + H), b_S : (S,) the selection scores; temperature : float :math:`\tau > 0`.
    W_O : (O, H) and W_OT : (H, O) the readout weights and their transpose (W_OT is read when
        O >= 8, W_O otherwise); b_O : (O,).

    Returns
    -------
    h : (L, B, H) the states :math:`h_t`.
    th : (L, B, H) :math:`\tanh(a_t)`, zero where the module is inactive.
    g : (L, B, S) the selection :math:`g_t`, zero where the group is inactive.
    y : (L, B, O) outputs.

    Notes
    -----
    Per step, for all B batch rows together: the reset (S1); for each active group, the logits
    :math:`W_S^G [x_t; \tilde h_{t-1}] + b_S^G` and their softmax at temperature :math:`\tau`
    (S3; they read only the entering state, so they come first); for each active block of
    modules (:func:`select_plan`), the pre-activations

    .. math::

        a_t[I] = b_H[I] + \tilde W_I[I] x_t + \sum_{p} Z_p, \qquad
        Z_p = \tilde W_H[I, J_p]\, \tilde h_{t-1}[J_p]                                 (S2)

    (the input term for routed blocks only, the sum over the block's wired pairs p, each
    reading a run :math:`J_p` of same-clock modules), where :math:`Z_p` is recomputed only when
    :math:`\tilde h[J_p]` changed since it was last computed; their tanh, and the update of the
    block's modules by their gates (S4, S5); inactive blocks are held bitwise; then the readout
    (S6). A step's arithmetic does not depend on where the call starts (a reused :math:`Z_p`
    is the same product of the same values), so chunked runs equal whole runs bitwise.
    """
    L, B, D = x.shape
    H = h_in.shape[1]
    n = offsets.shape[0] - 1
    Q = group_ptr.shape[0] - 1
    S = W_S.shape[0]
    O = W_O.shape[0]
    dtype = h_in.dtype
    one = dtype.type(1.0)
    h = np.empty((L, B, H), dtype=dtype)              # (L, B, H)
    th = np.empty((L, B, H), dtype=dtype)             # (L, B, H) zeroed where inactive
    g = np.zeros((L, B, S), dtype=dtype)              # (L, B, S)
    y = np.zeros((L, B, O), dtype=dtype)              # (L, B, O)
    h_r = np.empty((B, H), dtype=dtype)               # (B, H) r for every sequence
    for b in range(B):
        h_r[b, :] = r
    xhT = np.empty((D + H, B), dtype=dtype)           # (D + H, B) [x_t; h~_{t-1}]^T
    zT = np.zeros((S, B), dtype=dtype)                # (S, B) logits W_S [x; h~] of a step
    blk, pair_ptr, pair_j0, pair_j1, pair_col = select_plan(offsets, C, R, periods, phases)
    nb = blk.shape[0] - 1
    n_pairs = pair_j0.shape[0]
    Z = np.empty((B, pair_col[n_pairs]), dtype=dtype)  # (B, ·) products Z_p of the pairs
    Z_version = np.full(n_pairs, -1, dtype=np.int64)  # the version of h~[J_p] each Z_p is of
    version = np.zeros(n, dtype=np.int64)             # version of each module's entering state
    clock = 1                                          # next unused version number
    for t in range(L):
        # (S1) the state entering step t: r after a reset, else h_{t-1} (h_in at t = 0)
        if reset[t]:
            h_prev = h_r
            version[:] = clock                         # every module's state is now r
            clock += 1
        elif t == 0:
            h_prev = h_in
        else:
            h_prev = h[t - 1]
        th_t = th[t]                                   # (B, H) view
        h_t = h[t]                                     # (B, H) view
        g_t = g[t]                                     # (B, S) view, zero on entry
        # (S3) the selection of each active group (it reads the entering state only): logits
        # as z^T = W_S^G [x_t; h~_{t-1}]^T, the batch as contiguous columns, then a softmax
        # per batch row
        filled = False
        for qg in range(Q):
            if not active_mod[t, group_clock[qg]]:
                continue
            if not filled:
                xt = x[t]
                for b in range(B):
                    for d in range(D):
                        xhT[d, b] = xt[b, d]
                for b in range(B):
                    hb = h_prev[b]
                    for k in range(H):
                        xhT[D + k, b] = hb[k]
                filled = True
            lo, hi = group_ptr[qg], group_ptr[qg + 1]
            z_q = zT[lo:hi]                            # (K, B) view
            z_q[:, :] = 0
            add_block_product(z_q, 0, W_S[lo:hi], 0, xhT, 0, 0, D + H, B)
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
        # the blocks of modules: held, or (S2) pre-activations, tanh and (S4, S5) the update
        for bk in range(nb):
            m0 = blk[bk]
            u0 = offsets[m0]
            N = offsets[blk[bk + 1]] - u0
            if not active_mod[t, m0]:
                # (S5) an inactive module is held bitwise; its tanh is not computed
                for b in range(B):
                    hv = h_t[b, u0:u0 + N]
                    hp = h_prev[b, u0:u0 + N]
                    tv = th_t[b, u0:u0 + N]
                    for q in range(N):
                        hv[q] = hp[q]
                        tv[q] = 0
                continue
            # (S2) a_t = b_H + W_I x_t (routed modules only; M1) + sum of the wired Z_p
            for b in range(B):
                tv = th_t[b, u0:u0 + N]
                bias = b_H[u0:u0 + N]
                for q in range(N):
                    tv[q] = bias[q]
            if R[m0]:
                add_block_product(th_t, u0, x[t], 0, W_IT, 0, u0, D, N)
            for p in range(pair_ptr[bk], pair_ptr[bk + 1]):
                # the wired blocks of W_H (M1), recomputed only for a new version of the state
                j0 = pair_j0[p]
                z0 = pair_col[p]
                if Z_version[p] != version[j0]:
                    c0 = offsets[j0]
                    for b in range(B):
                        zb = Z[b, z0:z0 + N]
                        for q in range(N):
                            zb[q] = 0
                    add_block_product(Z, z0, h_prev, c0, W_HT, c0, u0, offsets[pair_j1[p]] - c0,
                                       N)
                    Z_version[p] = version[j0]
                for b in range(B):
                    tv = th_t[b, u0:u0 + N]
                    zb = Z[b, z0:z0 + N]
                    for q in range(N):
                        tv[q] += zb[q]
            for b in range(B):
                tanh_inplace(th_t[b, u0:u0 + N])
            # (S4, S5) the block's modules move toward tanh(a) by their gates
            for i in range(m0, blk[bk + 1]):
                lo, hi = offsets[i], offsets[i + 1]
                row = module_row[i]
                for b in range(B):
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
        # the modules that fired hold new states from now on (after every Z_p of the step
        # was computed from the entering state)
        for i in range(n):
            if active_mod[t, i]:
                version[i] = clock
        clock += 1
        # (S6) readout, step by step (a step's output does not depend on where the call starts)
        if O == 0:
            continue
        y_t = y[t]                                     # (B, O) view, zero on entry
        if O < 8:
            add_block_dots(y_t, 0, h_t, 0, W_O, 0, 0, H, O)
        else:
            add_block_product(y_t, 0, h_t, 0, W_OT, 0, 0, H, O)
        for b in range(B):
            yb = y_t[b]
            for m in range(O):
                yb[m] += b_O[m]
    return h, th, g, y


@njit(**JIT_OPTIONS)
def select_backward_kernel(x, h_in, r, h, th, g, reset, active_mod, offsets, C, R, periods,
                           phases, module_row, group_ptr, group_clock, W_I, W_IT, W_H, W_S,
                           temperature, dy, W_O, eps_in):
    r"""Hand-derived BPTT of the soft selection over a whole sequence (equations SB2–SB9).

    Parameters
    ----------
    x : (L, B, D) inputs; h_in : (B, H) the carried-in state; r : (H,) the reset state.
    h : (L, B, H), th : (L, B, H), g : (L, B, S) from the forward pass (either backend's).
    reset : (L,) bool; active_mod : (L, n) bool, the clock per module.
    offsets, C, R, periods, phases, module_row, group_ptr, group_clock : the layout (module
        docstring).
    W_I : (H, D) and W_IT : (D, H) the input weights and their transpose (W_I is read when
        D >= 8, W_IT otherwise), W_H : (H, H) the recurrent weights; only routed rows and wired
        blocks are read. W_S : (S, D + H); temperature : float.
    dy : (L, B, O) upstream gradient on the outputs; W_O : (O, H).
    eps_in : (B, H) upstream gradient on the last state (``dh_last``, or zeros).

    Returns
    -------
    dW_IT : (D, H) the gradient of W_I, transposed, and dW_H : (H, H): exactly zero outside the
        routed rows and wired blocks (SB9);
    db_H : (H,), dW_S : (S, D + H), db_S : (S,), dx : (L, B, D), dh_init : (B, H) the gradient
    on ``h_in``, dr : (H,) the gradient reaching r through resets.

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
    deferred, as the forward pass reuses :math:`Z_p`: per wired pair, :math:`\bar a_t` of the
    block is summed over the steps that read one version of the pair's state (``S``), and
    :func:`_flush` applies :math:`\tilde W_H^\top` and the outer product with that version
    once, before anything reads the version's gradient: at the step that computed it (before
    SB3 there), at a reset (the version is r, SB8) or at the end (``h_in``). By linearity this
    is the same sum, grouped differently, because a held state's gradient passes through
    unchanged.
    """
    L, B, D = x.shape
    H = h_in.shape[1]
    n = offsets.shape[0] - 1
    Q = group_ptr.shape[0] - 1
    S_rows = W_S.shape[0]
    O = W_O.shape[0]
    dtype = h_in.dtype
    one = dtype.type(1.0)
    zero = dtype.type(0.0)
    dW_IT = np.zeros((D, H), dtype=dtype)             # (D, H) transposed: rows contiguous
    dW_H = np.zeros((H, H), dtype=dtype)              # (H, H)
    db_H = np.zeros(H, dtype=dtype)                   # (H,)
    dW_S = np.zeros((S_rows, D + H), dtype=dtype)     # (S, D + H)
    db_S = np.zeros(S_rows, dtype=dtype)              # (S,)
    dr = np.zeros(H, dtype=dtype)                     # (H,)
    dx = np.zeros((L, B, D), dtype=dtype)             # (L, B, D)
    h_r = np.empty((B, H), dtype=dtype)               # (B, H) r for every sequence
    for b in range(B):
        h_r[b, :] = r
    eps = eps_in.copy()                               # (B, H) gradient on the state after t
    dh = np.empty((B, H), dtype=dtype)                # (B, H) delta_t, then epsilon_t
    da = np.zeros((B, H), dtype=dtype)                # (B, H) gradient on a_t (active units)
    dg = np.zeros((B, S_rows), dtype=dtype)           # (B, S) gradient on g_t (active groups)
    dz = np.zeros((B, S_rows), dtype=dtype)           # (B, S) gradient on the logits (active)
    blk, pair_ptr, pair_j0, pair_j1, pair_col = select_plan(offsets, C, R, periods, phases)
    nb = blk.shape[0] - 1
    n_pairs = pair_j0.shape[0]
    pair_u0 = np.empty(n_pairs, dtype=np.int64)       # first unit of the pair's block
    for bk in range(nb):
        for p in range(pair_ptr[bk], pair_ptr[bk + 1]):
            pair_u0[p] = offsets[blk[bk]]
    S = np.zeros((B, pair_col[n_pairs]), dtype=dtype)  # (B, ·) deferred sums of da per pair
    pending = np.zeros(n_pairs, dtype=np.bool_)       # S of pair p is not all zero
    for t in range(L - 1, -1, -1):
        if reset[t]:
            h_prev = h_r
        elif t == 0:
            h_prev = h_in
        else:
            h_prev = h[t - 1]
        h_t = h[t]                                    # (B, H) view
        th_t = th[t]                                  # (B, H) view
        g_t = g[t]                                    # (B, S) view
        # total gradient on h_t: from step t+1 and from y_t, W_O^T ybar_t (SB2)
        dh[:, :] = eps
        add_block_product(dh, 0, dy[t], 0, W_O, 0, 0, O, H)
        # states computed at step t are new versions: complete the gradient that the later
        # steps sent them through W_H (SB7, recurrent term; SB9)
        for p in range(n_pairs):
            j0 = pair_j0[p]
            if pending[p] and active_mod[t, j0]:
                c0 = offsets[j0]
                _flush(pair_u0[p], pair_col[p + 1] - pair_col[p], c0,
                       offsets[pair_j1[p]] - c0, pair_col[p], S, h_t, dh, dW_H, W_H)
                pending[p] = False
        for i in range(n):
            if not active_mod[t, i]:
                # inactive module: state and its gradient pass through unchanged
                continue
            lo, hi = offsets[i], offsets[i + 1]
            row = module_row[i]
            for b in range(B):
                d = dh[b, lo:hi]
                v = th_t[b, lo:hi]
                a = da[b, lo:hi]
                if row < 0:
                    # ungrouped: u = 1, nothing of the old state is kept
                    for q in range(hi - lo):
                        # backprop through tanh (SB3)
                        a[q] = d[q] * (one - v[q] * v[q])
                        d[q] = 0
                else:
                    u = g_t[b, row]
                    w = one - u
                    hp = h_prev[b, lo:hi]
                    acc = zero
                    for q in range(hi - lo):
                        dq = d[q]
                        # backprop through tanh, scaled by the update gate (SB3)
                        a[q] = dq * u * (one - v[q] * v[q])
                        # the gate of a module is shared by its units (SB4, SB5)
                        acc += dq * (v[q] - hp[q])
                        # the kept share (1 - u) of the old state (SB7, first term)
                        d[q] = w * dq
                    dg[b, row] = acc
        # back through the softmax and its temperature, active groups only (SB6)
        for qg in range(Q):
            if not active_mod[t, group_clock[qg]]:
                continue
            lo, hi = group_ptr[qg], group_ptr[qg + 1]
            for b in range(B):
                dot = zero
                for s in range(lo, hi):
                    dot += g_t[b, s] * dg[b, s]
                for s in range(lo, hi):
                    dz[b, s] = g_t[b, s] * (dg[b, s] - dot) / temperature
        dx_t = dx[t]                                  # (B, D) view
        # the active blocks: recurrent path deferred, input path, bias (SB7, SB9)
        for bk in range(nb):
            m0 = blk[bk]
            if not active_mod[t, m0]:
                continue
            u0 = offsets[m0]
            N = offsets[blk[bk + 1]] - u0
            for p in range(pair_ptr[bk], pair_ptr[bk + 1]):
                # da of this step, summed per version of the state the pair reads
                z0 = pair_col[p]
                for b in range(B):
                    sb = S[b, z0:z0 + N]
                    a = da[b, u0:u0 + N]
                    for q in range(N):
                        sb[q] += a[q]
                pending[p] = True
            if R[m0]:
                # input weight and input gradients, routed modules only (SB7, SB9)
                add_outer_products(dW_IT, 0, u0, x[t], 0, D, da, u0, N)
                if D < 8:
                    add_block_dots(dx_t, 0, da, u0, W_IT, 0, u0, N, D)
                else:
                    add_block_product(dx_t, 0, da, u0, W_I, u0, 0, N, D)
            # bias gradient (SB9)
            db = db_H[u0:u0 + N]
            for b in range(B):
                a = da[b, u0:u0 + N]
                for q in range(N):
                    db[q] += a[q]
        # selection path of the active groups (SB7) and its gradients (SB9)
        for qg in range(Q):
            if not active_mod[t, group_clock[qg]]:
                continue
            lo, hi = group_ptr[qg], group_ptr[qg + 1]
            K = hi - lo
            add_block_product(dx_t, 0, dz, lo, W_S, lo, 0, K, D)
            add_block_product(dh, 0, dz, lo, W_S, lo, D, K, H)
            add_outer_products(dW_S, lo, 0, dz, lo, K, x[t], 0, D)
            add_outer_products(dW_S, lo, D, dz, lo, K, h_prev, 0, H)
            for b in range(B):
                for s in range(lo, hi):
                    db_S[s] += dz[b, s]
        if reset[t]:
            # the state entering step t was r: every pending version is r's (SB7, SB9)
            for p in range(n_pairs):
                if pending[p]:
                    c0 = offsets[pair_j0[p]]
                    _flush(pair_u0[p], pair_col[p + 1] - pair_col[p], c0,
                           offsets[pair_j1[p]] - c0, pair_col[p], S, h_r, dh, dW_H, W_H)
                    pending[p] = False
            # a reset cuts the path to h_{t-1}; the replaced state was r (SB8)
            for b in range(B):
                d = dh[b]
                for k in range(H):
                    dr[k] += d[k]
            eps[:, :] = 0
        else:
            eps, dh = dh, eps
    # what is still pending read h_in (SB7, SB9)
    for p in range(n_pairs):
        if pending[p]:
            c0 = offsets[pair_j0[p]]
            _flush(pair_u0[p], pair_col[p + 1] - pair_col[p], c0, offsets[pair_j1[p]] - c0,
                   pair_col[p], S, h_in, eps, dW_H, W_H)
    return dW_IT, dW_H, db_H, dW_S, db_S, dx, eps, dr
