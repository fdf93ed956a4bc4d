r"""Numba kernels of the Clockwork RNN forward pass and its BPTT, doing only the clock's work.

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §3 (a module with period
:math:`T_i` computes only at the steps its clock fires, so a CW-RNN costs less than an SRN of the
same size), with the design note's wiring, routing and reset variants. The equations and their
tags (M1–M6 forward, B1–B10 backward) are those of ``docs/model.md`` and ``docs/bptt.md`` and of
the readable reference :mod:`cwrnn_np.models.clockwork.reference`, which these kernels reproduce to rounding.

Shape letters: L time, B batch, D input, H hidden, n modules, :math:`k_i` units of module i,
P the number of wired pairs (i, j) with :math:`C_{ij} = 1`, Z = :math:`\sum_{(i,j)} k_i`.

Each kernel is a plain function compiled once, at import, with the options of
:mod:`cwrnn_np.kernels.config`; every array is an argument (Numba would freeze globals as
constants). The public wrapper that prepares the arrays and calls them is
:mod:`cwrnn_np.models.clockwork.numba_backend`.

The work lists
--------------
The kernels never look at a mask. They follow small integer arrays that the wrapper precomputes
from the spec (:class:`cwrnn_np.models.clockwork.numba_backend.KernelPlan`) and from the clock:

* ``offsets`` (n + 1,): module i owns hidden units ``offsets[i]:offsets[i+1]`` (its rows of
  :math:`W_H`, :math:`W_I`, :math:`b_H`; its columns of :math:`W_H`).
* ``routed`` (n,) bool: the input routing R; module i reads its rows of :math:`W_I` iff R_i.
* ``pair_ptr`` (n + 1,), ``pair_src`` (P,): the wired pairs of target module i are
  ``p in pair_ptr[i]:pair_ptr[i+1]``, with source module ``pair_src[p]`` (the j with
  :math:`C_{ij} = 1`) and target ``pair_dst[p]`` = i. ``pair_col`` (P + 1,): pair p owns
  columns ``pair_col[p]:pair_col[p+1]`` (:math:`k_i` of them) of the (B, Z) work buffers below.
* ``src_pair_ptr`` (n + 1,), ``src_pair`` (P,): the pairs whose source is module j.
* ``act_ptr`` (L + 1,), ``act_mod``: the modules active at step t are
  ``act_mod[act_ptr[t]:act_ptr[t+1]]`` (a CSR list of the clock :math:`c_t`).

Held sources are not multiplied again
-------------------------------------
Between two activations a module's state is held bitwise, so the block product
:math:`W_H[i, j]\,\tilde h_{t-1}[j]` that an active module i reads from a source j is the same at
every step until j fires again (or a reset replaces the state by r). The forward kernel keeps
that product per wired pair, ``Z[:, pair block]``, tagged with the version of
:math:`\tilde h[j]` it was computed from, and recomputes it only when the version changed. The
backward kernel does the transpose: it sums :math:`\bar a_t[i]` over the steps that read one
version of :math:`\tilde h[j]` (``S[:, pair block]``) and applies :math:`W_H[i, j]^\top` and the
outer product with :math:`\tilde h[j]` once per version (a "flush"); by linearity this is the
same sum, grouped differently, because a held state's gradient passes through unchanged. For
the paper's wiring (slow modules feed fast ones) block (i, j) then costs once per period of the
*slower* module j instead of once per period of i. With exponential periods and the clockwork
preset this is 3.9, 2.2 and 3.4 times fewer recurrent multiply-adds than the active work in the
benchmark configurations (a), (b) and (c) below (and the active work is 5.1, 3.1 and 4.6 times
less than the dense :math:`H^2` per step).

Performance notes: plain loops, not ``np.dot``
----------------------------------------------
All products are plain Numba loops (:func:`add_block_product`, :func:`add_outer_products`,
:func:`add_block_dots`), written so that the innermost loop runs from index 0 over contiguous
memory: LLVM then emits SIMD code (AVX2, 4 doubles) without reassociating any sum (fastmath
stays off). Two measured reasons:

* ``np.dot`` inside Numba needs SciPy (Numba calls BLAS through ``scipy.linalg.cython_blas``);
  SciPy is not a dependency of the package, and without it a kernel that mentions ``np.dot``
  does not compile. (Checked with Numba 0.68: ``ImportError: scipy 0.16+ is required``.)
* With SciPy installed, ``np.dot(a, W, out)`` against these loops on one block, one thread
  (OpenBLAS 0.3.31, Xeon with AVX-512; GMAC/s = 1e9 multiply-adds per second), float64.
  "1 x 4" is one batch row against four rows of W per pass (:func:`add_row_product`, and
  the batched kernel before the tile), "2 x 4" the register tile of :func:`add_tile_product`:

  ==================  ======  ======  ========  ==========================
  block (B x K x N)   1 x 4   2 x 4   np.dot    where it occurs
  ==================  ======  ======  ========  ==========================
  1 x 16 x 16         4.0     --      2.3       (a): every block
  1 x 16 x 144        9.8     --      7.6       (a): a whole row of W_H
  32 x 20 x 20        5.4     8.5     18.2      (b)
  32 x 100 x 9        4.0     4.5     --        (b): output layer
  64 x 64 x 64        10.0    11.9    32.5      (c)
  64 x 64 x 512       10.5    13.4    25.4      (c) without the held-source reuse
  ==================  ======  ======  ========  ==========================

  The weight-gradient outer products (:func:`add_tile_outer`, two rows of G against four
  batch rows) went from 3.4 to 7.7 GMAC/s at 32 x 20 x 20 and from 8.1 to 11.4 at
  64 x 64 x 64. A 4 x 4 tile is faster only for long rows (14.7 at 64 x 64 x 512) and slower
  at 32 x 20 x 20 (8.0): with four rows of ``out`` LLVM needs more run-time alias checks per
  loop. Scalar accumulator tiles (4 x 4 locals) and inner loops split into fixed chunks of 4
  were not vectorized by LLVM (2-4 GMAC/s). (float32 with the 1 x 4 loops: 4.5 / 2.3, 18 / 67 at
  64 x 64 x 64.) So BLAS loses on the paper's generation setting (a), where B = 1 and blocks
  are 16 x 16 and a BLAS call costs more than the block, and still wins 2-3x on the batched
  blocks of (b) and (c).

  Small dispatchers (:func:`add_block_product`, :func:`add_outer_products`) pick the row or
  the tile kernel by B; in the per-module hot paths the kernels call the row or tile version
  directly, because a Numba call that LLVM does not inline passes each array as several
  arguments, and in (a) that cost 20% of the forward pass. The output layer (M6) with
  O >= 16 is one BLAS product per step in the wrapper (forward) or one for all steps
  (backward); for small O the kernel does it. tanh (:func:`tanh_inplace`) runs once per run of
  adjacent active modules and row, at about 3 ns per element.

  Forward plus backward, one thread (``python -m cwrnn_np.bench --threads 1``, median of
  interleaved rounds on a shared two-core machine; ``numpy`` is the reference backend, which
  calls BLAS on full H x H products; before = the 1 x 4 loops, same session):

  ======  ========  ============  ==========  ====================
  config  numpy     numba before  numba now   now vs torch m. / a.
  ======  ========  ============  ==========  ====================
  (a)     21.7 ms   1.45 ms       1.40 ms     20x / 28x
  (b)     12.0 ms   9.7 ms        6.7-7.2 ms  2.4x / 2.6x
  (c)     784 ms    282 ms        235 ms      2.4x / 1.5x
  ======  ========  ============  ==========  ====================

  (torch m. / a.: the ``torch-masked`` and ``torch-active`` eager ports.) In (a) the
  interleaved rounds cost the numba step about half again: timed alone (or next to numpy
  only) it takes 0.94-1.04 ms, 20-22x faster than the reference.

  Where the time goes in (a) (forward about 0.30 ms, backward about 0.55 ms, wrapper and loss
  under 0.05 ms): the 16 x 16 block products are about a third of the forward pass (4 GMAC/s:
  short SIMD loops pay their set-up, alias checks and remainders on every block), tanh about
  an eighth, and the rest is per-step bookkeeping (state copy, bias, the version tests, the
  loops over the work lists), which fastmath would not remove (``CWRNN_NUMBA_FASTMATH=1``
  gains about 10%). In (b) the forward pass (2.5 ms) is a quarter output layer (N = 9
  columns: mostly the scalar remainder of the SIMD loop), a quarter block products, a fifth
  tanh; the backward pass (3.1 ms) is mostly the flushes' tiles at 20 x 20. In (c) the
  products dominate at 12 GMAC/s, a third of BLAS speed; the wrapper's two BLAS products of
  the backward output layer take 35 ms of about 130. Calling BLAS for blocks with B >= 8
  (SciPy as a dependency) is the remaining step for (b) and (c).

Cost of a step: one O(BH) copy of the state (forward) or of the gradient (backward), plus
:math:`k_i (D R_i + k_j)` multiply-adds per active module i and per wired source j whose state
changed, times B. The cost follows the active work, not :math:`H^2`.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ...kernels.config import JIT_OPTIONS
from ...kernels.linalg import (add_block_dots, add_block_product, add_row_outer, add_row_product,
                               add_tile_outer, add_tile_product)
from ...kernels.special import tanh_inplace

__all__ = ["clockwork_forward_kernel", "clockwork_backward_kernel", "clock_lists", "active_lists"]


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
    act_ptr : (L + 1,) int64 and act_mod : (A,) int64, the modules active at step t are
        ``act_mod[act_ptr[t]:act_ptr[t+1]]``, where module i is active iff
        :math:`(t_0 + t - \phi_i) \bmod T_i = 0` (:func:`cwrnn_np.spec.clock`).
    active : (L, H) bool, the clock expanded to units (the cache's ``active``).
    """
    n = periods.shape[0]
    H = offsets[n]
    # module i fires at t = first_i, first_i + T_i, ... with first_i = (phi_i - t0) mod T_i
    first = np.empty(n, dtype=np.int64)
    for i in range(n):
        first[i] = (phases[i] - t0) % periods[i]
    act_ptr = np.zeros(L + 1, dtype=np.int64)
    for i in range(n):
        for t in range(first[i], L, periods[i]):
            act_ptr[t + 1] += 1
    for t in range(L):
        act_ptr[t + 1] += act_ptr[t]
    act_mod = np.empty(act_ptr[L], dtype=np.int64)
    fill = act_ptr[:L].copy()
    active = np.zeros((L, H), dtype=np.bool_)
    for i in range(n):
        for t in range(first[i], L, periods[i]):
            act_mod[fill[t]] = i
            fill[t] += 1
            active[t, offsets[i]:offsets[i + 1]] = True
    return act_ptr, act_mod, active


@njit(**JIT_OPTIONS)
def active_lists(active, offsets):
    r"""The work lists of a clock given per unit: ``act_mod[act_ptr[t]:act_ptr[t+1]]`` are the
    modules i with ``active[t, offsets[i]]`` (active (L, H) bool, e.g. a cache's)."""
    L = active.shape[0]
    n = offsets.shape[0] - 1
    act_ptr = np.zeros(L + 1, dtype=np.int64)
    count = 0
    for t in range(L):
        for i in range(n):
            if active[t, offsets[i]]:
                count += 1
        act_ptr[t + 1] = count
    act_mod = np.empty(count, dtype=np.int64)
    a = 0
    for t in range(L):
        for i in range(n):
            if active[t, offsets[i]]:
                act_mod[a] = i
                a += 1
    return act_ptr, act_mod


@njit(**JIT_OPTIONS)
def clockwork_forward_kernel(x, h_init, r, reset, W_HT, W_IT, b_H, W_O, W_OT, b_O, offsets,
                             routed, pair_ptr, pair_src, pair_col, act_ptr, act_mod):
    r"""States and outputs of one sequence (chunk): equations M2–M4 and M6, one call for all L.

    Parameters
    ----------
    x : (L, B, D) inputs.
    h_init : (B, H) the carried-in state :math:`h_{-1}`.
    r : (H,) the reset state (M5).
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (M2).
    W_HT : (H, H) the recurrent weights transposed, :math:`W_H^\top` (C-contiguous, so the
        units of a module are contiguous in a row). Only wired blocks are read, so structurally
        masked entries need not be zero: M1 holds by construction.
    W_IT : (D, H) the input weights transposed, :math:`W_I^\top`; only routed columns are read.
    b_H : (H,) hidden bias.
    W_O : (O, H) output weights, and W_OT : (H, O) the same transposed (read when O >= 8); or
        (0, H) and (H, 0) arrays, and the caller computes M6 (see ``y``).
    b_O : (O,) output bias ((0,) when the caller computes M6).
    offsets, routed, pair_ptr, pair_src, pair_col, act_ptr, act_mod : the work lists (module
        docstring).

    Returns
    -------
    h : (L, B, H) the states :math:`h_t`.
    y : (L, B, O) the outputs :math:`y_t = W_O h_t + b_O` (M6), step by step, so that a step's
        output does not depend on where the call starts (chunked runs equal whole runs bitwise);
        (L, B, 0) if W_O is (0, H).

    Notes
    -----
    For each step t and each module :math:`i` active at t (and only those):

    .. math::

        a_t[i] = b_H[i] + R_i W_I[i, :] x_t + \sum_{j : C_{ij} = 1} Z_{ij}, \qquad
        Z_{ij} = W_H[i, j]\, \tilde h_{t-1}[j], \qquad h_t[i] = \tanh(a_t[i]),

    where :math:`W_H[i, j]` is the :math:`k_i \times k_j` block and :math:`Z_{ij}` is recomputed
    only when :math:`\tilde h[j]` changed since it was last computed. Every other module's state
    is copied unchanged (held bitwise).
    """
    L, B, D = x.shape
    H = h_init.shape[1]
    n = offsets.shape[0] - 1
    n_pairs = pair_src.shape[0]
    dtype = h_init.dtype
    O = W_O.shape[0]
    h = np.empty((L, B, H), dtype=dtype)              # (L, B, H)
    y = np.empty((L, B, O), dtype=dtype)              # (L, B, O)
    h_r = np.empty((B, H), dtype=dtype)               # (B, H) r for every sequence
    for b in range(B):
        h_r[b, :] = r
    Z = np.empty((B, pair_col[n_pairs]), dtype=dtype)  # (B, Z) block products W_H[i, j] h[j]
    Z_version = np.full(n_pairs, -1, dtype=np.int64)  # the version of h[j] each Z_ij is of
    version = np.zeros(n, dtype=np.int64)             # version of each module's entering state
    clock = 1                                          # next unused version number
    for t in range(L):
        # (M2) the state entering step t: r after a reset, else h_{t-1} (h_init at t = 0)
        if reset[t]:
            h_prev = h_r
            version[:] = clock                         # every module's state is now r
            clock += 1
        elif t == 0:
            h_prev = h_init
        else:
            h_prev = h[t - 1]
        h_t = h[t]                                     # (B, H) view
        # (M4) inactive modules: state passes through unchanged; active ones are overwritten
        h_t[:, :] = h_prev
        for a in range(act_ptr[t], act_ptr[t + 1]):
            i = act_mod[a]
            r0 = offsets[i]
            k_i = offsets[i + 1] - r0
            # (M3) bias
            for b in range(B):
                h_t[b, r0:r0 + k_i] = b_H[r0:r0 + k_i]
            # (M3) input block of W_I, routed modules only (M1: the others are zero)
            if routed[i]:
                if B == 1:
                    add_row_product(h_t, r0, x[t], 0, W_IT, 0, r0, D, k_i)
                else:
                    add_tile_product(h_t, r0, x[t], 0, W_IT, 0, r0, D, k_i)
            # (M3) recurrent blocks W_H[i, j], wired sources j only (M1)
            for p in range(pair_ptr[i], pair_ptr[i + 1]):
                j = pair_src[p]
                z0 = pair_col[p]
                if Z_version[p] != version[j]:
                    # h[j] changed since Z_ij was computed: multiply again
                    c0 = offsets[j]
                    Z[:, z0:z0 + k_i] = 0
                    k_j = offsets[j + 1] - c0
                    if B == 1:
                        add_row_product(Z, z0, h_prev, c0, W_HT, c0, r0, k_j, k_i)
                    else:
                        add_tile_product(Z, z0, h_prev, c0, W_HT, c0, r0, k_j, k_i)
                    Z_version[p] = version[j]
                for b in range(B):
                    a_i = h_t[b, r0:r0 + k_i]
                    z = Z[b, z0:z0 + k_i]
                    for q in range(k_i):
                        a_i[q] += z[q]
        # (M4) active modules: tanh, once per run of adjacent active modules (act_mod is sorted)
        a = act_ptr[t]
        while a < act_ptr[t + 1]:
            e = a + 1
            while e < act_ptr[t + 1] and act_mod[e] == act_mod[e - 1] + 1:
                e += 1
            u0 = offsets[act_mod[a]]
            u1 = offsets[act_mod[e - 1] + 1]
            for b in range(B):
                tanh_inplace(h_t[b, u0:u1])
            a = e
        # the modules that fired hold new states from now on
        for a in range(act_ptr[t], act_ptr[t + 1]):
            version[act_mod[a]] = clock
        clock += 1
        # (M6) output layer: every module feeds y_t
        if O == 0:
            continue
        y_t = y[t]                                     # (B, O) view
        for b in range(B):
            y_t[b, :] = b_O
        if O < 8:
            add_block_dots(y_t, 0, h_t, 0, W_O, 0, 0, H, O)
        else:
            add_block_product(y_t, 0, h_t, 0, W_OT, 0, 0, H, O)
    return h, y


@njit(**JIT_OPTIONS)
def _flush(p, i, j, S, h_value, grad, dW_H, W_H, offsets, pair_col):
    r"""Apply the deferred gradient of wired pair p = (i, j) for one version of :math:`\tilde h[j]`.

    ``S[:, pair block]`` (B, k_i) holds :math:`\sum_t \bar a_t[i]` over the steps that read this
    version, whose value is ``h_value[:, j block]``: then :math:`W_H[i, j]^\top` applied to that
    sum is the gradient those steps sent to :math:`\tilde h[j]` (B4, second term), added into
    ``grad``, and its outer product with the value is their part of :math:`\bar W_H[i, j]`
    (B6). S is cleared for the next version.
    """
    r0 = offsets[i]
    k_i = offsets[i + 1] - r0
    c0 = offsets[j]
    k_j = offsets[j + 1] - c0
    z0 = pair_col[p]
    B = S.shape[0]
    if B >= 4:
        # gradient to the entering state through W_H[i, j] (B4, second term)
        add_tile_product(grad, c0, S, z0, W_H, r0, c0, k_i, k_j)
        # recurrent weight gradient, wired blocks only (B6)
        add_tile_outer(dW_H, r0, c0, S, z0, k_i, h_value, c0, k_j)
    else:
        # the same two updates in one pass over the block (fewer loop overheads for small B)
        for u in range(k_i):
            w = W_H[r0 + u, c0:c0 + k_j]
            dw = dW_H[r0 + u, c0:c0 + k_j]
            for b in range(B):
                g = S[b, z0 + u]
                d = grad[b, c0:c0 + k_j]
                v = h_value[b, c0:c0 + k_j]
                for q in range(k_j):
                    d[q] += g * w[q]           # (B4, second term)
                    dw[q] += g * v[q]          # (B6)
    S[:, z0:z0 + k_i] = 0


@njit(**JIT_OPTIONS)
def clockwork_backward_kernel(x, h_init, r, h, reset, W_H, W_I, W_IT, dy, W_O, dh_out, dh_last,
                              offsets,
                              routed, pair_ptr, pair_src, pair_dst, pair_col, src_pair_ptr,
                              src_pair, act_ptr, act_mod):
    r"""BPTT through :func:`clockwork_forward_kernel`: equations B2–B8, one call for all L steps.

    Parameters
    ----------
    x : (L, B, D) inputs.
    h_init : (B, H) the carried-in state used by the forward pass.
    r : (H,) the reset state.
    h : (L, B, H) the states from the forward pass.
    reset : (L,) bool reset flags.
    W_H : (H, H) recurrent weights (C-contiguous; only wired blocks are read).
    W_I : (H, D) input weights (only routed rows are read).
    W_IT : (D, H) the same transposed, :math:`W_I^\top` (read instead of W_I when D < 8).
    dy : (L, B, O) upstream gradient :math:`\bar y_t`.
    W_O : (O, H) output weights.
    dh_out : (L, B, H) the output layer's gradient on the states, :math:`W_O^\top \bar y_t`
        (B2), precomputed by the caller with one BLAS product when O is large; or an empty
        (0, B, H) array, and the kernel computes it step by step (cheaper for small O: no
        (L, B, H) temporary).
    dh_last : (B, H) extra upstream gradient on :math:`h_{L-1}` (zeros if none).
    offsets, routed, pair_ptr, pair_src, pair_dst, pair_col, src_pair_ptr, src_pair, act_ptr,
    act_mod : the work lists (module docstring).

    Returns
    -------
    dW_H : (H, H) gradient of W_H; blocks with :math:`C_{ij} = 0` exactly zero (B9).
    dW_IT : (D, H) gradient of W_I, transposed; columns of unrouted modules exactly zero (B9).
    db_H : (H,) gradient of b_H.
    dx : (L, B, D) gradient of the inputs.
    dh_init : (B, H) gradient reaching :math:`h_{-1}` (zero if step 0 is a reset).
    dr : (H,) gradient reaching the reset state r through the resets (B10 adds the rest).

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
    \mathrel{+}= \sum_b \bar a_t[i]` (B8). The sums over t in B4 and B6 are grouped by version of
    :math:`\tilde h[j]` (see :func:`_flush`): a version's gradient is complete before anything
    reads it, i.e. before the step that computed it (B3), a reset (B5) or the end (h_init).
    """
    L, B, D = x.shape
    H = h_init.shape[1]
    O = W_O.shape[0]
    n_pairs = pair_src.shape[0]
    dtype = h_init.dtype
    one = dtype.type(1.0)
    dW_H = np.zeros((H, H), dtype=dtype)                 # (H, H)
    dW_IT = np.zeros((D, H), dtype=dtype)                # (D, H) transposed: rows contiguous
    db_H = np.zeros(H, dtype=dtype)                      # (H,)
    dx = np.zeros((L, B, D), dtype=dtype)                # (L, B, D)
    dr = np.zeros(H, dtype=dtype)                        # (H,)
    h_r = np.empty((B, H), dtype=dtype)                  # (B, H) r for every sequence
    for b in range(B):
        h_r[b, :] = r
    eps = dh_last.copy()                                 # (B, H) epsilon_{t+1}
    dh_prev = np.empty((B, H), dtype=dtype)              # (B, H)
    da = np.empty((B, H), dtype=dtype)                   # (B, H) rows of active modules only
    S = np.zeros((B, pair_col[n_pairs]), dtype=dtype)    # (B, Z) deferred sums of da per pair
    pending = np.zeros(n_pairs, dtype=np.bool_)          # S of pair p is not all zero
    for t in range(L - 1, -1, -1):
        if reset[t]:
            h_prev = h_r
        elif t == 0:
            h_prev = h_init
        else:
            h_prev = h[t - 1]
        h_t = h[t]                                       # (B, H) view
        # total gradient on h_t: from y_t and from step t+1 (B2); kept in dh_prev, where it is
        # already the pass-through of the inactive modules (B4, first term)
        if dh_out.shape[0] == L:
            for b in range(B):
                d = dh_prev[b]
                d_out = dh_out[t, b]
                e = eps[b]
                for u in range(H):
                    d[u] = d_out[u] + e[u]
        else:
            dh_prev[:, :] = eps
            if B == 1:
                add_row_product(dh_prev, 0, dy[t], 0, W_O, 0, 0, O, H)
            else:
                add_tile_product(dh_prev, 0, dy[t], 0, W_O, 0, 0, O, H)
        for a in range(act_ptr[t], act_ptr[t + 1]):
            j = act_mod[a]
            # h_t[j] is a new version: complete the gradient the later steps sent it (B4, B6)
            for s in range(src_pair_ptr[j], src_pair_ptr[j + 1]):
                p = src_pair[s]
                if pending[p]:
                    _flush(p, pair_dst[p], j, S, h_t, dh_prev, dW_H, W_H, offsets,
                           pair_col)
                    pending[p] = False
        for a in range(act_ptr[t], act_ptr[t + 1]):
            i = act_mod[a]
            r0 = offsets[i]
            k_i = offsets[i + 1] - r0
            for b in range(B):
                d = dh_prev[b, r0:r0 + k_i]
                g = da[b, r0:r0 + k_i]
                h_i = h_t[b, r0:r0 + k_i]
                for q in range(k_i):
                    # backprop through tanh, active modules only (B3)
                    g[q] = d[q] * (one - h_i[q] * h_i[q])
                    # an active module's old state does not pass through (B4, first term)
                    d[q] = 0
        for a in range(act_ptr[t], act_ptr[t + 1]):
            i = act_mod[a]
            r0 = offsets[i]
            k_i = offsets[i + 1] - r0
            # gradient to the entering state through W_H[i, j] and the weight gradient (B4, B6):
            # deferred, summed per version of h[j]
            for p in range(pair_ptr[i], pair_ptr[i + 1]):
                z0 = pair_col[p]
                for b in range(B):
                    acc = S[b, z0:z0 + k_i]
                    g = da[b, r0:r0 + k_i]
                    for q in range(k_i):
                        acc[q] += g[q]
                pending[p] = True
            if routed[i]:
                # input weight and input gradients, routed modules only (B7)
                if B == 1:
                    add_row_outer(dW_IT, 0, r0, x[t], 0, D, da, r0, k_i)
                else:
                    add_tile_outer(dW_IT, 0, r0, x[t], 0, D, da, r0, k_i)
                if D < 8:
                    add_block_dots(dx[t], 0, da, r0, W_IT, 0, r0, k_i, D)
                else:
                    add_block_product(dx[t], 0, da, r0, W_I, r0, 0, k_i, D)
            # bias gradient (B8)
            for b in range(B):
                g = da[b, r0:r0 + k_i]
                db = db_H[r0:r0 + k_i]
                for q in range(k_i):
                    db[q] += g[q]
        if reset[t]:
            # the state entering step t was r: every pending version is r's (B4, B6)
            for p in range(n_pairs):
                if pending[p]:
                    _flush(p, pair_dst[p], pair_src[p], S, h_r, dh_prev, dW_H,
                           W_H, offsets, pair_col)
                    pending[p] = False
            # a reset cuts the path to h_{t-1}; the replaced state was r (B5)
            for b in range(B):
                d = dh_prev[b]
                for u in range(H):
                    dr[u] += d[u]
            eps[:, :] = 0
        else:
            eps, dh_prev = dh_prev, eps
    # what is still pending read h_init (B4, B6)
    for p in range(n_pairs):
        if pending[p]:
            _flush(p, pair_dst[p], pair_src[p], S, h_init, eps, dW_H, W_H,
                   offsets, pair_col)
    return dW_H, dW_IT, db_H, dx, eps, dr
