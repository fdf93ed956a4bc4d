r"""Numba kernels of the CW-RNN with learned clock periods: forward pass and BPTT, one call per
sequence.

The design note's variant "let the RNN emit a Gaussian distribution over time periods" (on the
Clockwork RNN of Koutník et al., "A Clockwork RNN", ICML 2014): every module holds a
distribution over candidate periods, Gaussian in log-period, and updates by its expected clock.
The equations and their tags (P1–P7 forward, PB1–PB10 backward) are those of
``docs/variants.md`` and of the readable reference
:func:`cwrnn_np.models.learned_periods.forward_periods_numpy` /
:func:`cwrnn_np.models.learned_periods.backward_periods_numpy`, which these kernels reproduce to
rounding (relative :math:`10^{-12}` norm-wise in float64). The forward kernel fills the same
cache arrays as the reference (:math:`\tanh a_t`, :math:`\mu_t`, :math:`\rho_t`,
:math:`\sigma_t`, :math:`\alpha_t`, :math:`w_t`), so either backend's cache works with either
backward pass.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, P candidate periods.

Each kernel is a plain function compiled once, at import, with the options of
:mod:`cwrnn_np.kernels.config`; every array is an argument. The wrappers that validate, prepare
and call them are :func:`cwrnn_np.models.learned_periods.forward_periods_numba` and
:func:`cwrnn_np.models.learned_periods.backward_periods_numba`.

Both forms in one kernel pair
-----------------------------
The flag ``emitted`` selects the form of P3. In the *emitted* form
:math:`\mu_t = W_\mu \tilde h_{t-1} + b_\mu` and :math:`\rho_t = W_\rho \tilde h_{t-1} + b_\rho`
with ``W_mu``, ``W_rho`` (n, H); in the *static* form the wrapper passes the parameters
:math:`\mu, \rho` as ``b_mu``, ``b_rho`` and empty (0, H) maps, which the kernels never read, and
the backward kernel's ``db_mu``, ``db_rho`` are then the gradients of :math:`\mu, \rho`.

Wiring without masks
--------------------
The soft clock updates every module at every step (:math:`\alpha_t > 0` in general), so there
are no inactive modules to skip; but the wiring is still honoured block by block: module i reads
the input only if ``R[i]`` and the state of module j only if ``C[i, j]``, with module i owning
hidden units ``offsets[i]:offsets[i+1]``. Unwired blocks are neither multiplied nor given a
gradient, so the structural zeros of :math:`W_I`, :math:`W_H` get exactly zero (P2, PB10).

Performance notes
-----------------
As in :mod:`cwrnn_np.models.clockwork.kernels`, whose helpers these kernels call, products are plain
loops (``np.dot`` inside Numba needs SciPy, which is not a dependency) whose innermost loop runs
from index 0 over contiguous memory, so that LLVM emits SIMD code with fastmath off (no
reassociation, no FMA contraction). Four choices make the kernels faster than the NumPy
reference (a first version, one batch row at a time with ``math.tanh`` and one dot product
per clock output, was three times slower than it):

* All B rows of a step at once, in the register tiles of
  :func:`~cwrnn_np.kernels.linalg.add_tile_product` and
  :func:`~cwrnn_np.kernels.linalg.add_tile_outer`, so that each row of a weight block is
  loaded once per pair of batch rows, not once per row; and wiring blocks as runs of adjacent
  modules (:func:`_block_runs`), so that a product is one long block. The forward pass goes
  source module by source module (K = its units, N = the run of modules it feeds), the backward
  pass target module by target module (K = its units, N = the run it reads), so that N, the
  vectorized length, is the long side in both; with the paper's wiring that is one product per
  module and pass.
* No narrow products. The backward pass treats the input as D more state columns,
  :math:`W = [W_H \;|\; W_I]` and :math:`s_t = [\tilde h_{t-1} \;|\; x_t]`, so that
  :math:`\bar x_t` and :math:`\bar W_I` come out of the recurrent products (N + D columns)
  instead of products with N = D; the forward pass reads :math:`y_t` and, in the emitted form,
  the next step's :math:`\mu, \rho` from :math:`h_t` in one product with
  :math:`[W_O; W_\mu; W_\rho]^\top` (N = O + 2n instead of O, n and n).
* Vectorized special functions: :func:`~cwrnn_np.kernels.special.tanh_inplace` (Cephes) for
  P2 instead of ``math.tanh``, and :func:`exp_inplace`, the same Cephes ``exp``, for the
  softmax of P5 in the emitted form, computed for all B n rows at once, candidate-major.
* Hoisting: the clock of each candidate (``%``) once per step; in the static form
  :math:`\sigma` and :math:`w` (P4, P5) once per call, as they depend on neither the step nor
  the sequence. Loops over a module's units run on slices from 0 (an index from
  ``offsets[i]`` could be negative to LLVM, which then gathers and scatters instead).

``python benchmarks/variants_speed.py --rounds 9`` (one thread; L = 128, B = 16, D = O = 8, five
modules of 32 units, periods 1-16, six candidates; forward plus backward, median of interleaved
rounds on a shared two-core machine; before and now in the same session, the speed-up
numpy/numba in brackets):

==========  ===============================  ===============================
form        before: numba, numpy             now: numba, numpy
==========  ===============================  ===============================
static      99.5 ms, 33.0 ms (0.3x)          12.8 ms, 29.6 ms (2.3x)
emitted     101.4 ms, 33.4 ms (0.3x)         14.0 ms, 32.3 ms (2.3x)
==========  ===============================  ===============================

Where the time goes now (``perf``, static form): the forward pass (about 5.5 ms) is 37% the
recurrent tiles (about 10 GMAC/s), 14% tanh, 9% the readout, about a fifth page faults of the
new (L, B, H) cache arrays (the reference allocates them too) and the rest bookkeeping; the
backward pass (about 7 ms) is two thirds the two recurrent tiles (products and weight
gradients, 11-12 GMAC/s), 16% the element-wise PB3-PB7 and 6% :math:`W_O^\top \bar y_t`. The
emitted form adds the clock's softplus and softmax (about 0.7 ms forward). A 4 x 4 tile (four
batch rows per pass) measured 10% faster than the 2 x 4 tile on the forward pass's blocks: not
worth a second tile kernel.

Softplus and the sigmoid are the overflow-free forms of
:func:`cwrnn_np.models.learned_periods.softplus` and :func:`cwrnn_np.models.learned_periods.sigmoid`; the
softmax of P5 subtracts its maximum.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ...kernels.config import JIT_OPTIONS
from ...kernels.linalg import add_block_dots, add_block_product, add_outer_products
from ...kernels.special import exp_inplace, sigmoid_scalar, softplus_scalar, tanh_inplace

__all__ = ["periods_forward_kernel", "periods_backward_kernel"]


@njit(**JIT_OPTIONS)
def _block_runs(M, offsets):
    r"""The true entries of each row of a bool matrix M (R, n) over modules, as runs of units.

    Returns ``(ptr (R + 1,), lo (S,), hi (S,))`` int64: row i of M covers the units
    ``lo[s]:hi[s]`` for s in ``ptr[i]:ptr[i+1]``, one run per maximal set of adjacent columns j
    with ``M[i, j]`` (module j owns units ``offsets[j]:offsets[j+1]``, n = ``len(offsets) - 1``),
    so that a product over a run is one long block instead of one block per module.
    """
    rows = M.shape[0]
    n = offsets.shape[0] - 1
    ptr = np.zeros(rows + 1, dtype=np.int64)
    lo = np.empty(rows * n, dtype=np.int64)
    hi = np.empty(rows * n, dtype=np.int64)
    s = 0
    for i in range(rows):
        j = 0
        while j < n:
            if M[i, j]:
                e = j + 1
                while e < n and M[i, e]:
                    e += 1
                lo[s] = offsets[j]
                hi[s] = offsets[e]
                s += 1
                j = e
            else:
                j += 1
        ptr[i + 1] = s
    return ptr, lo[:s], hi[:s]


@njit(**JIT_OPTIONS)
def _period_weights(mu_i, sig, log_p, wi):
    r"""``wi[:] =`` the softmax over candidates of :math:`-(\log p - \mu)^2 / (2\sigma^2)`,
    its maximum subtracted (P5)."""
    P = log_p.shape[0]
    top = -np.inf
    for p in range(P):
        diff = log_p[p] - mu_i
        e = -(diff * diff) / (2 * (sig * sig))
        wi[p] = e
        if e > top:
            top = e
    total = 0.0
    for p in range(P):
        wi[p] = math.exp(wi[p] - top)
        total += wi[p]
    for p in range(P):
        wi[p] = wi[p] / total


@njit(**JIT_OPTIONS)
def periods_forward_kernel(x, h_in, r, reset, t0, offsets, C, R, W_IT, W_HT, b_H, emitted,
                           W_mu, b_mu, W_rho, b_rho, log_p, cands, tau, W_O, b_O):
    r"""Forward pass with learned periods over a whole sequence (equations P1–P7).

    Parameters
    ----------
    x : (L, B, D) inputs.
    h_in : (B, H) the carried-in state :math:`h_{-1}`.
    r : (H,) the reset state.
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (P1).
    t0 : int, the clock offset: step t is global step t0 + t.
    offsets : (n + 1,) int, module i owns units ``offsets[i]:offsets[i+1]``.
    C : (n, n) bool wiring, ``C[i, j]`` iff module j feeds module i; R : (n,) bool routing.
    W_IT : (D, H), W_HT : (H, H) the transposed input and recurrent weights; b_H : (H,).
    emitted : bool, the form of P3.
    W_mu, W_rho : (n, H) (emitted) or (0, H) (static, unread).
    b_mu, b_rho : (n,) the biases of the emitted clock, or the static :math:`\mu, \rho`.
    log_p : (P,) :math:`\log p`; cands : (P,) int the candidate periods p.
    tau : the temperature :math:`\tau` (P4), a scalar of the arrays' dtype.
    W_O : (O, H), b_O : (O,) the readout.

    Returns
    -------
    h, th : (L, B, H) the states :math:`h_t` and :math:`\tanh(a_t)`.
    mu, rho, sigma, alpha : (L, B, n) :math:`\mu_t, \rho_t, \sigma_t, \alpha_t`.
    w : (L, B, n, P) the period distributions :math:`w_t`.
    y : (L, B, O) outputs.
    """
    L, B, D = x.shape
    H = W_HT.shape[0]
    n = offsets.shape[0] - 1
    P = log_p.shape[0]
    O = W_O.shape[0]
    dtype = h_in.dtype
    h = np.empty((L, B, H), dtype=dtype)              # (L, B, H)
    th = np.empty((L, B, H), dtype=dtype)             # (L, B, H)
    mu = np.empty((L, B, n), dtype=dtype)             # (L, B, n)
    rho = np.empty((L, B, n), dtype=dtype)            # (L, B, n)
    sigma = np.empty((L, B, n), dtype=dtype)          # (L, B, n)
    alpha = np.empty((L, B, n), dtype=dtype)          # (L, B, n)
    w = np.empty((L, B, n, P), dtype=dtype)           # (L, B, n, P)
    y = np.empty((L, B, O), dtype=dtype)              # (L, B, O)
    h_r = np.empty((B, H), dtype=dtype)               # (B, H) r for every sequence
    for bb in range(B):
        h_r[bb, :] = r
    m = np.empty(P, dtype=dtype)                      # (P,) the clock of each candidate
    # module j feeds the units tgt_lo[s]:tgt_hi[s], s in tgt_ptr[j]:tgt_ptr[j+1] (P2)
    tgt_ptr, tgt_lo, tgt_hi = _block_runs(C.T, offsets)
    # the units that read the input (P2)
    _, in_lo, in_hi = _block_runs(R.reshape((1, n)), offsets)
    # static form: mu, rho, sigma (P4) and w (P5) are the same at every step and for every
    # sequence, so they are computed once per call
    sig_s = np.empty(n, dtype=dtype)                  # (n,)
    w_s = np.empty((n, P), dtype=dtype)               # (n, P)
    al_s = np.empty(n, dtype=dtype)                   # (n,) alpha of one step (P6)
    # everything read from h_t by one product per step: the readout (P7) and, in the emitted
    # form, the next step's clock (P3), W_yc = [W_O; W_mu; W_rho]^T, bias b_yc
    NC = O + 2 * n if emitted else O
    W_yc = np.empty((H, NC), dtype=dtype)             # (H, NC)
    b_yc = np.empty(NC, dtype=dtype)                  # (NC,)
    for k in range(H):
        for o in range(O):
            W_yc[k, o] = W_O[o, k]
    b_yc[:O] = b_O
    yc = np.empty((B, NC), dtype=dtype)               # (B, NC) [y_t | mu_{t+1} | rho_{t+1}]
    # emitted form: the clock of one step, flat over f = b n + i (P4-P6)
    Bn = B * n if emitted else 0
    mu_f = np.empty(Bn, dtype=dtype)                  # (B n,) mu_t
    den_f = np.empty(Bn, dtype=dtype)                 # (B n,) 2 sigma_t^2
    top_f = np.empty(Bn, dtype=dtype)                 # (B n,) the softmax's maximum
    tot_f = np.empty(Bn, dtype=dtype)                 # (B n,) the softmax's sum
    al_f = np.empty(Bn, dtype=dtype)                  # (B n,) alpha_t
    E = np.empty((P, Bn), dtype=dtype)                # (P, B n) exponents, then w_t
    yc_r = np.empty((1, NC), dtype=dtype)             # (1, NC) [. | mu | rho] from r
    if emitted:
        for k in range(H):
            for i in range(n):
                W_yc[k, O + i] = W_mu[i, k]
                W_yc[k, O + n + i] = W_rho[i, k]
        b_yc[O:O + n] = b_mu
        b_yc[O + n:] = b_rho
        # the clock emitted from h_in (step 0) and from r (steps after a reset) (P3)
        for bb in range(B):
            yc[bb, O:] = b_yc[O:]
        add_block_product(yc, O, h_in, 0, W_yc, 0, O, H, 2 * n)
        yc_r[0, O:] = b_yc[O:]
        add_block_product(yc_r, O, h_r[:1], 0, W_yc, 0, O, H, 2 * n)
    else:
        for i in range(n):
            sig_s[i] = tau * softplus_scalar(b_rho[i])                  # (P4)
            _period_weights(b_mu[i], sig_s[i], log_p, w_s[i])           # (P5)
    for t in range(L):
        for p in range(P):
            m[p] = 1.0 if (t0 + t) % cands[p] == 0 else 0.0
        # (P1) the state entering step t: r after a reset, else h_{t-1} (h_in at t = 0)
        if reset[t]:
            hp = h_r
        elif t == 0:
            hp = h_in
        else:
            hp = h[t - 1]
        # a_t = W_I x_t + W_H h_{t-1} + b_H over the wired blocks only (P2), all B rows at once,
        # accumulated in th[t]
        a = th[t]                                     # (B, H) view
        for bb in range(B):
            a[bb, :] = b_H
        for u in range(in_lo.shape[0]):
            add_block_product(a, in_lo[u], x[t], 0, W_IT, 0, in_lo[u], D,
                               in_hi[u] - in_lo[u])
        for j in range(n):
            # the rows of W_H^T of source module j, against every run of modules it feeds
            c0 = offsets[j]
            k_j = offsets[j + 1] - c0
            for s in range(tgt_ptr[j], tgt_ptr[j + 1]):
                lo = tgt_lo[s]
                add_block_product(a, lo, hp, c0, W_HT, c0, lo, k_j, tgt_hi[s] - lo)
        for bb in range(B):
            tanh_inplace(a[bb])
        # the clock's location and spread: parameters or emitted from the state (P3)
        mu_t = mu[t]                                  # (B, n) views
        rho_t = rho[t]
        sig_t = sigma[t]
        al_t = alpha[t]
        w_t = w[t]                                    # (B, n, P)
        if emitted:
            for bb in range(B):
                # emitted from the entering state by the previous step's product (P3)
                cb = yc_r[0] if reset[t] else yc[bb]
                for i in range(n):
                    f = bb * n + i
                    mu_i = cb[O + i]
                    rho_i = cb[O + n + i]
                    sig = tau * softplus_scalar(rho_i)                  # (P4)
                    mu_t[bb, i] = mu_i
                    rho_t[bb, i] = rho_i
                    sig_t[bb, i] = sig
                    mu_f[f] = mu_i
                    den_f[f] = 2 * (sig * sig)
            # the softmax of P5 for all B n rows at once, candidate-major (P, B n), so that
            # every loop runs over B n contiguous values (vectorized, exp included)
            for p in range(P):
                lp = log_p[p]
                ep = E[p]
                for f in range(Bn):
                    diff = lp - mu_f[f]
                    ep[f] = -(diff * diff) / den_f[f]
            for f in range(Bn):
                top_f[f] = E[0, f]
            for p in range(1, P):
                ep = E[p]
                for f in range(Bn):
                    top_f[f] = ep[f] if ep[f] > top_f[f] else top_f[f]
            for p in range(P):
                ep = E[p]
                for f in range(Bn):
                    ep[f] = ep[f] - top_f[f]
                exp_inplace(ep)
            for f in range(Bn):
                tot_f[f] = E[0, f]
            for p in range(1, P):
                ep = E[p]
                for f in range(Bn):
                    tot_f[f] += ep[f]
            for f in range(Bn):
                al_f[f] = 0
            for p in range(P):
                ep = E[p]
                mp = m[p]
                for f in range(Bn):
                    ep[f] = ep[f] / tot_f[f]
                    al_f[f] += ep[f] * mp                               # (P6)
            for bb in range(B):
                for i in range(n):
                    f = bb * n + i
                    al_t[bb, i] = al_f[f]
                    for p in range(P):
                        w_t[bb, i, p] = E[p, f]
        else:
            for i in range(n):
                al = 0.0
                for p in range(P):
                    al += w_s[i, p] * m[p]                              # (P6)
                al_s[i] = al
            for bb in range(B):
                mu_t[bb, :] = b_mu
                rho_t[bb, :] = b_rho
                sig_t[bb, :] = sig_s
                al_t[bb, :] = al_s
                w_t[bb, :, :] = w_s
        # soft update: the expected clock mixes the new and the held state (P7)
        h_t = h[t]                                    # (B, H) view
        for bb in range(B):
            for i in range(n):
                # module i's units as slices, so that the loop runs from 0 (vectorized)
                lo, hi = offsets[i], offsets[i + 1]
                hb = h_t[bb, lo:hi]
                vb = a[bb, lo:hi]
                pb = hp[bb, lo:hi]
                al = al_t[bb, i]
                keep = 1 - al
                for k in range(hi - lo):
                    hb[k] = al * vb[k] + keep * pb[k]
        # readout y_t = W_O h_t + b_O (P7), and the next step's emitted clock (P3)
        y_t = y[t]                                    # (B, O) view
        if not emitted and O < 8:
            # a narrow readout alone: O dot products per row beat a product with N = O
            for bb in range(B):
                y_t[bb, :] = b_O
            add_block_dots(y_t, 0, h_t, 0, W_O, 0, 0, H, O)
        else:
            for bb in range(B):
                yc[bb, :] = b_yc
            add_block_product(yc, 0, h_t, 0, W_yc, 0, 0, H, NC)
            for bb in range(B):
                y_t[bb, :] = yc[bb, :O]
    return h, th, mu, rho, sigma, alpha, w, y


@njit(**JIT_OPTIONS)
def periods_backward_kernel(x, h_in, r, h, th, mu, rho, sigma, alpha, w, reset, t0, offsets, C,
                            R, W_I, W_H, emitted, W_mu, W_rho, log_p, cands, tau, dy, W_O,
                            eps_in):
    r"""Hand-derived BPTT with learned periods over a whole sequence (equations PB2–PB10).

    Parameters
    ----------
    x : (L, B, D) inputs; h_in : (B, H) the carried-in state; r : (H,) the reset state.
    h, th : (L, B, H); mu, rho, sigma, alpha : (L, B, n); w : (L, B, n, P): the forward cache.
    reset : (L,) bool; t0 : int the clock offset.
    offsets : (n + 1,) int; C : (n, n) bool wiring; R : (n,) bool routing.
    W_I : (H, D), W_H : (H, H) weights (only wired blocks are read).
    emitted : bool; W_mu, W_rho : (n, H) (emitted) or (0, H) (static, unread).
    log_p : (P,); cands : (P,) int; tau : the temperature.
    dy : (L, B, O) upstream gradient on the outputs; W_O : (O, H).
    eps_in : (B, H) upstream gradient on the last state (``dh_last``, or zeros).

    Returns
    -------
    dW_I : (H, D), dW_H : (H, H), db_H : (H,): zero outside the wired blocks.
    dW_mu, dW_rho : shaped like ``W_mu``, ``W_rho``; db_mu, db_rho : (n,), the gradients of
    :math:`b_\mu, b_\rho` (emitted) or of :math:`\mu, \rho` (static).
    dx : (L, B, D); dh_init : (B, H) the gradient on ``h_in``; dr : (H,) the gradient reaching r
    through resets.

    Notes
    -----
    The input is handled as D more state columns: with :math:`W = [W_H \;|\; W_I]` (H, H + D)
    and :math:`s_t = [\tilde h_{t-1} \;|\; x_t]` (B, H + D), step t's products are
    :math:`\bar s_t \mathrel{+}= \bar a_t W` (PB8, and :math:`\bar x_t`) and
    :math:`\bar W \mathrel{+}= \bar a_t^\top s_t` (PB10), over the column runs that module i
    reads (its wired sources, then the input if ``R[i]``). For the paper's wiring those are one
    run per module, so the input costs no separate narrow product.
    """
    L, B, D = x.shape
    H = W_H.shape[0]
    n = offsets.shape[0] - 1
    P = log_p.shape[0]
    O = W_O.shape[0]
    HD = H + D
    dtype = h_in.dtype
    zero = dtype.type(0.0)
    W = np.empty((H, HD), dtype=dtype)                # (H, H + D) [W_H | W_I]
    W[:, :H] = W_H
    W[:, H:] = W_I
    dW = np.zeros((H, HD), dtype=dtype)               # (H, H + D) [dW_H | dW_I]
    db_H = np.zeros(H, dtype=dtype)                   # (H,)
    db_mu = np.zeros(n, dtype=dtype)                  # (n,)
    db_rho = np.zeros(n, dtype=dtype)                 # (n,)
    dr = np.zeros(H, dtype=dtype)                     # (H,)
    dx = np.empty((L, B, D), dtype=dtype)             # (L, B, D)
    s = np.empty((B, HD), dtype=dtype)                # (B, H + D) [h~_{t-1} | x_t]
    eps = np.zeros((B, HD), dtype=dtype)              # (B, H + D) gradient on the state after t
    eps[:, :H] = eps_in
    e_prev = np.empty((B, HD), dtype=dtype)           # (B, H + D) gradient on s_t
    delta = np.empty((B, H), dtype=dtype)             # (B, H) total gradient on h_t
    da = np.empty((B, H), dtype=dtype)                # (B, H) gradient on a_t
    dc = np.empty((B, 2 * n), dtype=dtype)            # (B, 2n) [mu_bar_t | rho_bar_t]
    m = np.empty(P, dtype=dtype)                      # (P,) the clock of each candidate
    # emitted form: [W_mu; W_rho] and its gradient, so that PB8 and PB10 of the clock are one
    # product each per step
    W_c = np.empty((2 * n, H) if emitted else (0, H), dtype=dtype)    # (2n, H)
    dW_c = np.zeros((2 * n, H) if emitted else (0, H), dtype=dtype)   # (2n, H)
    if emitted:
        W_c[:n] = W_mu
        W_c[n:] = W_rho
    # module i reads the columns lo[u]:hi[u] of s_t, u in ptr[i]:ptr[i+1]: its wired sources
    # (C) and the input (R) as the module n + 1 of width D
    Cx = np.zeros((n, n + 1), dtype=np.bool_)         # (n, n + 1)
    Cx[:, :n] = C
    Cx[:, n] = R
    offsets_x = np.empty(n + 2, dtype=np.int64)       # (n + 2,)
    offsets_x[:n + 1] = offsets
    offsets_x[n + 1] = HD
    run_ptr, run_lo, run_hi = _block_runs(Cx, offsets_x)
    for t in range(L - 1, -1, -1):
        for p in range(P):
            m[p] = 1.0 if (t0 + t) % cands[p] == 0 else 0.0
        # the step's extended state s_t = [h~_{t-1} | x_t] (P1)
        for bb in range(B):
            if reset[t]:
                s[bb, :H] = r
            elif t == 0:
                s[bb, :H] = h_in[bb]
            else:
                s[bb, :H] = h[t - 1, bb]
            s[bb, H:] = x[t, bb]
        # total gradient on h_t: from y_t (W_O^T ybar_t) and from step t+1 (PB2)
        delta[:, :] = eps[:, :H]
        add_block_product(delta, 0, dy[t], 0, W_O, 0, 0, O, H)
        for bb in range(B):
            for i in range(n):
                # module i's units as slices, so that the loops run from 0 (vectorized)
                lo, hi = offsets[i], offsets[i + 1]
                k_i = hi - lo
                d = delta[bb, lo:hi]
                v = th[t, bb, lo:hi]
                pb = s[bb, lo:hi]
                g = da[bb, lo:hi]
                ep = e_prev[bb, lo:hi]
                al = alpha[t, bb, i]
                keep = 1 - al
                # backprop through tanh, scaled by the expected clock (PB3)
                for k in range(k_i):
                    g[k] = d[k] * al * (1 - v[k] * v[k])
                # the kept share (1 - alpha) of the state (PB8); two loops, so that each
                # needs few run-time alias checks to be vectorized
                for k in range(k_i):
                    ep[k] = keep * d[k]
                # gradient on the expected clock, summed over the module's units (PB4), in
                # four partial sums
                s0 = zero
                s1 = zero
                s2 = zero
                s3 = zero
                k = 0
                while k + 4 <= k_i:
                    s0 += d[k] * (v[k] - pb[k])
                    s1 += d[k + 1] * (v[k + 1] - pb[k + 1])
                    s2 += d[k + 2] * (v[k + 2] - pb[k + 2])
                    s3 += d[k + 3] * (v[k + 3] - pb[k + 3])
                    k += 4
                while k < k_i:
                    s0 += d[k] * (v[k] - pb[k])
                    k += 1
                dal = (s0 + s1) + (s2 + s3)
                # back through the expectation over periods and the softmax (PB5), then the
                # Gaussian in log-period (PB6)
                mu_i = mu[t, bb, i]
                sig = sigma[t, bb, i]
                s_mu = 0.0
                s_sig = 0.0
                for p in range(P):
                    de = dal * w[t, bb, i, p] * (m[p] - al)
                    diff = log_p[p] - mu_i
                    s_mu += de * diff
                    s_sig += de * (diff * diff)
                gm = s_mu / (sig * sig)
                # back through sigma = tau softplus(rho) (PB7)
                gr = s_sig / (sig * sig * sig) * tau * sigmoid_scalar(rho[t, bb, i])
                dc[bb, i] = gm
                dc[bb, n + i] = gr
                db_mu[i] += gm
                db_rho[i] += gr
            e_x = e_prev[bb, H:]
            for k in range(D):
                e_x[k] = 0
        # the recurrent path W_H^T abar into h_{t-1} (PB8), the input gradient, and the weight
        # gradients (PB10): all B rows at once, over the wired blocks only
        for i in range(n):
            lo = offsets[i]
            k_i = offsets[i + 1] - lo
            for u in range(run_ptr[i], run_ptr[i + 1]):
                c0 = run_lo[u]
                N = run_hi[u] - c0
                add_block_product(e_prev, c0, da, lo, W, lo, c0, k_i, N)
                add_outer_products(dW, lo, c0, da, lo, k_i, s, c0, N)
        # the bias gradient (PB10)
        for bb in range(B):
            g = da[bb]
            for k in range(H):
                db_H[k] += g[k]
        if emitted:
            # the emitted clock read the state too (PB8), and its maps' gradients (PB10)
            add_block_product(e_prev, 0, dc, 0, W_c, 0, 0, 2 * n, H)
            add_outer_products(dW_c, 0, 0, dc, 0, 2 * n, s, 0, H)
        dx[t, :, :] = e_prev[:, H:]
        # a reset cuts the path to h_{t-1}; the replaced state was r (PB9)
        if reset[t]:
            for bb in range(B):
                ep = e_prev[bb]
                for k in range(H):
                    dr[k] += ep[k]
            eps[:, :] = 0
        else:
            eps, e_prev = e_prev, eps
    dW_mu = np.empty(W_mu.shape, dtype=dtype)         # (n, H) or (0, H)
    dW_rho = np.empty(W_rho.shape, dtype=dtype)       # (n, H) or (0, H)
    if emitted:
        dW_mu[:, :] = dW_c[:n]
        dW_rho[:, :] = dW_c[n:]
    dW_H = np.empty((H, H), dtype=dtype)              # (H, H)
    dW_H[:, :] = dW[:, :H]
    dW_I = np.empty((H, D), dtype=dtype)              # (H, D)
    dW_I[:, :] = dW[:, H:]
    dh_init = np.empty((B, H), dtype=dtype)           # (B, H)
    dh_init[:, :] = eps[:, :H]
    return dW_I, dW_H, db_H, dW_mu, db_mu, dW_rho, db_rho, dx, dh_init, dr
