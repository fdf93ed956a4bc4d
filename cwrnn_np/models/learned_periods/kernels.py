r"""Numba kernels of the CW-RNN with learned clock periods: forward pass and BPTT, one call per
sequence.

The design note's variant "let the RNN emit a Gaussian distribution over time periods" (on the
Clockwork RNN of Koutník et al., "A Clockwork RNN", ICML 2014): every module holds a
distribution over candidate periods p, Gaussian in :math:`\lambda_p = \log p`, and updates by
its expected clock :math:`\alpha_t`. The equations and their tags (P1–P7 forward, PB1–PB10
backward) are those of ``docs/variants.md`` and of the readable reference
:func:`cwrnn_np.models.learned_periods.forward_periods_numpy` /
:func:`cwrnn_np.models.learned_periods.backward_periods_numpy`, which these kernels reproduce to
rounding (relative :math:`10^{-12}` norm-wise in float64). Each block of a kernel names its
equation in a comment, as the reference does. The forward kernel fills the same cache arrays as
the reference (:math:`\tanh a_t`, :math:`\mu_t`, :math:`\rho_t`, :math:`\sigma_t`,
:math:`\alpha_t`, :math:`w_t`), so either backend's cache works with either backward pass.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, P candidate periods.

The kernel boundary
-------------------
A kernel takes and returns the NamedTuples below (Numba compiles them as tuples, one signature
per dtype), never long lists of positional arrays:

* :class:`Sequence` (the call's inputs and clock offset :math:`t_0`), :class:`Wiring` (who owns
  which units, who feeds whom), :class:`PeriodClock` (P3–P6) and :class:`ForwardWeights` go
  into :func:`periods_forward_kernel`, which returns a :class:`ForwardResult`;
* the same :class:`Sequence`, :class:`Wiring` and :class:`PeriodClock`, with
  :class:`BackwardWeights`, the forward pass's :class:`Activations` and the :class:`Upstream`
  gradients, go into :func:`periods_backward_kernel`, which returns the :class:`Grads`.

Each kernel is a plain function compiled once per dtype, at its first call, with the options of
:mod:`cwrnn_np.kernels.config`; its steps are helpers compiled with ``inline="always"``, which
Numba pastes into the kernel before compiling it (no call at run time). The wrappers that
validate, prepare and call the kernels are
:func:`cwrnn_np.models.learned_periods.forward_periods_numba` and
:func:`cwrnn_np.models.learned_periods.backward_periods_numba`.

Both forms in one kernel pair
-----------------------------
The flag ``PeriodClock.emitted`` selects the form of P3. In the *emitted* form
:math:`\mu_t = W_\mu \tilde h_{t-1} + b_\mu` and :math:`\rho_t = W_\rho \tilde h_{t-1} + b_\rho`
with ``W_mu``, ``W_rho`` (n, H); in the *static* form the wrapper passes the parameters
:math:`\mu, \rho` as ``b_mu``, ``b_rho`` and empty (0, H) maps, which the kernels never read,
and the backward kernel's ``db_mu``, ``db_rho`` are then the gradients of :math:`\mu, \rho`.
The empty maps have the type of the full ones, so one compiled signature serves both forms.

Wiring without masks
--------------------
The soft clock updates every module at every step (:math:`\alpha_t > 0` in general), so there
are no inactive modules to skip; but the wiring is honoured block by block: module i reads
the input only if ``R[i]`` and the state of module j only if ``C[i, j]``, with module i owning
hidden units ``offsets[i]:offsets[i+1]``. Unwired blocks are neither multiplied nor given a
gradient, so the structural zeros of :math:`W_I`, :math:`W_H` get exactly zero (P2, PB10).

How the kernels spend their time
--------------------------------
Products are those of :mod:`cwrnn_np.kernels.linalg`, as in the other families: BLAS (SciPy's
``dgemm`` / ``sgemm`` on the blocks in place) where it wins, loops for thin blocks (a row loop
for one sequence, a register tile for fewer than eight), vectorized with fastmath off.

* All B rows of a step at once, wiring blocks as runs of adjacent modules (:func:`_block_runs`)
  so that a product is one long block: the forward pass source module by source module, the
  backward pass target module by target module, each vectorized along the run; with the
  paper's wiring one product per module and pass.
* Few, wide products. The backward pass treats the input as D more state columns and the
  emitted clock's maps as 2n more rows, :math:`W = [W_H \;|\; W_I]` over
  :math:`[W_\mu; W_\rho \;|\; 0]` against :math:`s_t = [\tilde h_{t-1} \;|\; x_t]`, so that
  :math:`\bar x_t`, :math:`\bar W_I` and the clock's PB8, PB10 are blocks of the recurrent
  products; the forward pass reads :math:`y_t` and the next step's :math:`\mu, \rho` from
  :math:`h_t` in one product with :math:`[W_O; W_\mu; W_\rho]^\top`.
* Weight gradients are not taken step by step: the rows of :math:`\bar a_t^\top s_t` wait in
  an :class:`~cwrnn_np.kernels.linalg.OuterQueue`, one slot per block, and reach :math:`\bar W`
  as one BLAS product for many steps.
* Vectorized special functions: :func:`~cwrnn_np.kernels.special.tanh_inplace` for P2 and
  :func:`~cwrnn_np.kernels.special.exp_inplace` for the softmax of P5 in the emitted form,
  computed for all B n rows at once, candidate-major.
* Hoisting: the clock :math:`m_t[p]` of each candidate (a ``%``) once per step; in the static
  form :math:`\sigma` and :math:`w` (P4, P5) once per call, as they depend on neither the step
  nor the sequence. Loops over a module's units run on slices from 0 (an index from
  ``offsets[i]`` could be negative to LLVM, which then gathers and scatters instead).

Softplus and the sigmoid are the overflow-free forms of
:func:`cwrnn_np.models.learned_periods.softplus` and
:func:`cwrnn_np.models.learned_periods.sigmoid`; the softmax of P5 subtracts its maximum.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ...kernels.config import JIT_OPTIONS
from ...kernels.linalg import (add_block_dots, add_block_product, drain_all_outer,
                               new_outer_queue, queue_outer)
from ...kernels.special import exp_inplace, sigmoid_scalar, softplus_scalar, tanh_inplace

__all__ = ["Sequence", "Wiring", "PeriodClock", "ForwardWeights", "BackwardWeights",
           "Activations", "ForwardResult", "Upstream", "Grads", "periods_forward_kernel",
           "periods_backward_kernel"]


# ----- the kernel boundary ----------------------------------------------------------------------

class Sequence(NamedTuple):
    r"""One call's inputs, read by both kernels.

    Attributes
    ----------
    x : (L, B, D) the inputs :math:`x_t`.
    h_in : (B, H) the carried-in state :math:`h_{-1}`.
    r : (H,) the reset state.
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (P1).
    t0 : int, the clock offset: step t is global step :math:`t_0 + t` (P6).
    """

    x: np.ndarray
    h_in: np.ndarray
    r: np.ndarray
    reset: np.ndarray
    t0: int


class Wiring(NamedTuple):
    r"""The base CW-RNN's modules and wiring (P2).

    Attributes
    ----------
    offsets : (n + 1,) int64, module i owns the hidden units ``offsets[i]:offsets[i+1]``.
    C : (n, n) bool, ``C[i, j]`` iff module j feeds module i.
    R : (n,) bool, ``R[i]`` iff module i reads the input.
    """

    offsets: np.ndarray
    C: np.ndarray
    R: np.ndarray


class PeriodClock(NamedTuple):
    r"""The learned clock (P3–P6), in either form.

    Attributes
    ----------
    emitted : bool, the form of P3.
    W_mu, W_rho : (n, H) the maps of the emitted form, or (0, H) in the static form (unread).
    b_mu, b_rho : (n,) the emitted form's biases, or the static form's :math:`\mu, \rho`.
    log_p : (P,) :math:`\lambda_p = \log p` of the candidate periods.
    cands : (P,) int64 the candidate periods p.
    tau : the temperature :math:`\tau` (P4), a scalar of the arrays' dtype.
    """

    emitted: bool
    W_mu: np.ndarray
    b_mu: np.ndarray
    W_rho: np.ndarray
    b_rho: np.ndarray
    log_p: np.ndarray
    cands: np.ndarray
    tau: float


class ForwardWeights(NamedTuple):
    r"""The network's weights in the forward kernel's layout (input and recurrent transposed).

    Attributes
    ----------
    W_IT : (D, H), W_HT : (H, H) :math:`W_I^\top, W_H^\top` (only wired blocks are read).
    b_H : (H,) the hidden bias.
    W_O : (O, H), b_O : (O,) the readout.
    """

    W_IT: np.ndarray
    W_HT: np.ndarray
    b_H: np.ndarray
    W_O: np.ndarray
    b_O: np.ndarray


class BackwardWeights(NamedTuple):
    r"""The network's weights the backward kernel reads, in the layout of ``params``.

    Attributes
    ----------
    W_I : (H, D), W_H : (H, H) (only wired blocks are read); W_O : (O, H).
    """

    W_I: np.ndarray
    W_H: np.ndarray
    W_O: np.ndarray


class Activations(NamedTuple):
    r"""What the forward pass stores for the backward pass (the arrays of the cache).

    Attributes
    ----------
    h : (L, B, H) the states :math:`h_t`; th : (L, B, H) :math:`v_t = \tanh(a_t)`.
    mu, rho, sigma, alpha : (L, B, n) :math:`\mu_t, \rho_t, \sigma_t, \alpha_t`.
    w : (L, B, n, P) the period distributions :math:`w_t`.
    """

    h: np.ndarray
    th: np.ndarray
    mu: np.ndarray
    rho: np.ndarray
    sigma: np.ndarray
    alpha: np.ndarray
    w: np.ndarray


class ForwardResult(NamedTuple):
    r"""What :func:`periods_forward_kernel` returns: the :class:`Activations` fields and the
    outputs ``y`` (L, B, O)."""

    h: np.ndarray
    th: np.ndarray
    mu: np.ndarray
    rho: np.ndarray
    sigma: np.ndarray
    alpha: np.ndarray
    w: np.ndarray
    y: np.ndarray


class Upstream(NamedTuple):
    r"""The gradients that reach a call from outside.

    Attributes
    ----------
    dy : (L, B, O) :math:`\bar y_t`, the gradient on the outputs.
    eps : (B, H) :math:`\epsilon_L`, the gradient on the last state (``dh_last``, or zeros).
    """

    dy: np.ndarray
    eps: np.ndarray


class Grads(NamedTuple):
    r"""What :func:`periods_backward_kernel` returns (PB8–PB10).

    Attributes
    ----------
    dW_I : (H, D), dW_H : (H, H), db_H : (H,): zero outside the wired blocks.
    dW_mu, dW_rho : shaped like ``PeriodClock.W_mu``, ``W_rho``.
    db_mu, db_rho : (n,) the gradients of :math:`b_\mu, b_\rho` (emitted) or of
        :math:`\mu, \rho` (static).
    dx : (L, B, D) the inputs' gradient.
    dh_init : (B, H) :math:`\epsilon_0`, the gradient on the carried-in state.
    dr : (H,) the gradient reaching the reset state through resets (PB9).
    """

    dW_I: np.ndarray
    dW_H: np.ndarray
    db_H: np.ndarray
    dW_mu: np.ndarray
    db_mu: np.ndarray
    dW_rho: np.ndarray
    db_rho: np.ndarray
    dx: np.ndarray
    dh_init: np.ndarray
    dr: np.ndarray


class BlockRuns(NamedTuple):
    r"""The wiring of each row (target or source module) as runs of adjacent units.

    Row i covers the units ``lo[u]:hi[u]`` for u in ``ptr[i]:ptr[i+1]``.

    Attributes
    ----------
    ptr : (rows + 1,) int64; lo, hi : (number of runs,) int64.
    """

    ptr: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


class FlatClock(NamedTuple):
    r"""Work buffers of the emitted clock of one step, flat over ``bi = b n + i`` (P3–P6).

    Attributes
    ----------
    mu : (B n,) :math:`\mu_t`; den : (B n,) :math:`2\sigma_t^2`.
    top, total : (B n,) the softmax's maximum and sum.
    alpha : (B n,) :math:`\alpha_t`.
    e : (P, B n) the exponents :math:`e_t`, then :math:`w_t`, candidate-major.
    """

    mu: np.ndarray
    den: np.ndarray
    top: np.ndarray
    total: np.ndarray
    alpha: np.ndarray
    e: np.ndarray


# ----- helpers of both passes -------------------------------------------------------------------

@njit(**JIT_OPTIONS)
def _block_runs(M, offsets):
    r"""The true entries of each row of a bool matrix M (rows, n) over modules, as runs of
    units: a :class:`BlockRuns` with one run per maximal set of adjacent columns j with
    ``M[i, j]`` (module j owns units ``offsets[j]:offsets[j+1]``, n = ``len(offsets) - 1``), so
    that a product over a run is one long block instead of one block per module.
    """
    rows = M.shape[0]
    n = offsets.shape[0] - 1
    ptr = np.zeros(rows + 1, dtype=np.int64)
    lo = np.empty(rows * n, dtype=np.int64)
    hi = np.empty(rows * n, dtype=np.int64)
    n_runs = 0
    for i in range(rows):
        j = 0
        while j < n:
            if M[i, j]:
                end = j + 1
                while end < n and M[i, end]:
                    end += 1
                lo[n_runs] = offsets[j]
                hi[n_runs] = offsets[end]
                n_runs += 1
                j = end
            else:
                j += 1
        ptr[i + 1] = n_runs
    return BlockRuns(ptr=ptr, lo=lo[:n_runs], hi=hi[:n_runs])


@njit(inline="always", **JIT_OPTIONS)
def _candidate_clock(m, step, cands):
    r"""``m[p] =`` :math:`m_t[p] = [\text{step} \bmod p = 0]` for each candidate p (P6)."""
    for p in range(cands.shape[0]):
        m[p] = 1.0 if step % cands[p] == 0 else 0.0


@njit(inline="always", **JIT_OPTIONS)
def _period_weights(w_i, mu_i, sig_i, log_p):
    r"""``w_i[:] =`` :math:`\operatorname{softmax}_p(-(\lambda_p - \mu_i)^2 / (2\sigma_i^2))`,
    its maximum subtracted, for one module (P5)."""
    P = log_p.shape[0]
    top = -np.inf
    for p in range(P):
        diff = log_p[p] - mu_i
        e = -(diff * diff) / (2 * (sig_i * sig_i))
        w_i[p] = e
        if e > top:
            top = e
    total = 0.0
    for p in range(P):
        w_i[p] = math.exp(w_i[p] - top)
        total += w_i[p]
    for p in range(P):
        w_i[p] = w_i[p] / total


# ----- forward pass -----------------------------------------------------------------------------

@njit(inline="always", **JIT_OPTIONS)
def _read_map(W_read, b_read, weights, clock):
    r"""Fill ``W_read`` (H, O [+ 2n]) and ``b_read``: :math:`[W_O; W_\mu; W_\rho]^\top` and
    :math:`[b_O; b_\mu; b_\rho]` in the emitted form, :math:`W_O^\top` and :math:`b_O` in the
    static form, everything one product reads from :math:`h_t` (P7, and P3 of the next step)."""
    H, O = weights.W_O.shape[1], weights.W_O.shape[0]
    for k in range(H):
        for o in range(O):
            W_read[k, o] = weights.W_O[o, k]
    b_read[:O] = weights.b_O
    if clock.emitted:
        n = clock.b_mu.shape[0]
        for k in range(H):
            for i in range(n):
                W_read[k, O + i] = clock.W_mu[i, k]
                W_read[k, O + n + i] = clock.W_rho[i, k]
        b_read[O:O + n] = clock.b_mu
        b_read[O + n:] = clock.b_rho


@njit(inline="always", **JIT_OPTIONS)
def _preactivation(th_t, x_t, h_prev, weights, offsets, in_runs, tgt_runs):
    r"""``th_t[:] =`` :math:`v_t = \tanh(a_t)`, :math:`a_t = W_I x_t + W_H \tilde h_{t-1} + b_H`
    (B, H), all B rows at once, over the wired blocks only (P2).

    ``in_runs`` lists the units that read the input (one row), ``tgt_runs`` the units each
    source module feeds; ``th_t`` accumulates :math:`a_t`, then takes its tanh in place.
    """
    B, H = th_t.shape
    D = x_t.shape[1]
    n = offsets.shape[0] - 1
    for bb in range(B):
        th_t[bb, :] = weights.b_H
    for u in range(in_runs.lo.shape[0]):
        lo = in_runs.lo[u]
        add_block_product(th_t, lo, x_t, 0, weights.W_IT, 0, lo, D, in_runs.hi[u] - lo)
    for j in range(n):
        # the rows of W_H^T of source module j, against every run of modules it feeds
        src0 = offsets[j]
        k_j = offsets[j + 1] - src0
        for u in range(tgt_runs.ptr[j], tgt_runs.ptr[j + 1]):
            lo = tgt_runs.lo[u]
            add_block_product(th_t, lo, h_prev, src0, weights.W_HT, src0, lo, k_j,
                              tgt_runs.hi[u] - lo)
    for bb in range(B):
        tanh_inplace(th_t[bb])


@njit(inline="always", **JIT_OPTIONS)
def _emitted_mu_sigma(mu_t, rho_t, sigma_t, flat, read, read_r, reset_t, O, tau):
    r"""The emitted clock's :math:`\mu_t, \rho_t` (P3), read from the previous step's product
    with the entering state (``read_r`` (1, ·) after a reset, else ``read`` (B, ·)), and
    :math:`\sigma_t = \tau\,\mathrm{softplus}(\rho_t)` (P4), into ``mu_t``, ``rho_t``,
    ``sigma_t`` (B, n) and, flat, ``flat.mu`` and ``flat.den`` :math:`= 2\sigma_t^2`."""
    B, n = mu_t.shape
    for bb in range(B):
        src = read_r[0] if reset_t else read[bb]
        for i in range(n):
            bi = bb * n + i
            mu_i = src[O + i]
            rho_i = src[O + n + i]
            sig_i = tau * softplus_scalar(rho_i)                   # (P4)
            mu_t[bb, i] = mu_i
            rho_t[bb, i] = rho_i
            sigma_t[bb, i] = sig_i
            flat.mu[bi] = mu_i
            flat.den[bi] = 2 * (sig_i * sig_i)


@njit(inline="always", **JIT_OPTIONS)
def _softmax_candidate_major(flat, log_p, m):
    r"""For all B n rows at once, candidate-major (P, B n) so that every loop runs over B n
    contiguous values (vectorized, ``exp`` included): the exponents
    :math:`e = -(\lambda_p - \mu)^2 / (2\sigma^2)`, their softmax :math:`w` (P5) in ``flat.e``,
    and the expected clock :math:`\alpha = \sum_p w_p m_t[p]` (P6) in ``flat.alpha``."""
    e_flat = flat.e
    top = flat.top
    total = flat.total
    alpha = flat.alpha
    P, Bn = e_flat.shape
    for p in range(P):
        lp = log_p[p]
        e_p = e_flat[p]
        for bi in range(Bn):
            diff = lp - flat.mu[bi]
            e_p[bi] = -(diff * diff) / flat.den[bi]
    for bi in range(Bn):
        top[bi] = e_flat[0, bi]
    for p in range(1, P):
        e_p = e_flat[p]
        for bi in range(Bn):
            top[bi] = e_p[bi] if e_p[bi] > top[bi] else top[bi]
    for p in range(P):
        e_p = e_flat[p]
        for bi in range(Bn):
            e_p[bi] = e_p[bi] - top[bi]
        exp_inplace(e_p)
    for bi in range(Bn):
        total[bi] = e_flat[0, bi]
    for p in range(1, P):
        e_p = e_flat[p]
        for bi in range(Bn):
            total[bi] += e_p[bi]
    for bi in range(Bn):
        alpha[bi] = 0
    for p in range(P):
        e_p = e_flat[p]
        m_p = m[p]
        for bi in range(Bn):
            e_p[bi] = e_p[bi] / total[bi]                          # (P5)
            alpha[bi] += e_p[bi] * m_p                             # (P6)


@njit(inline="always", **JIT_OPTIONS)
def _emitted_clock_step(mu_t, rho_t, sigma_t, alpha_t, w_t, flat, read, read_r, reset_t, m,
                        clock, O):
    r"""The emitted form's clock of one step (P3–P6) into ``mu_t``, ``rho_t``, ``sigma_t``,
    ``alpha_t`` (B, n) and ``w_t`` (B, n, P)."""
    B, n = mu_t.shape
    # mu_t, rho_t read from the entering state by the previous product (P3), sigma_t (P4)
    _emitted_mu_sigma(mu_t, rho_t, sigma_t, flat, read, read_r, reset_t, O, clock.tau)
    # the period distributions w_t (P5) and the expected clock alpha_t (P6)
    _softmax_candidate_major(flat, clock.log_p, m)
    for bb in range(B):
        for i in range(n):
            bi = bb * n + i
            alpha_t[bb, i] = flat.alpha[bi]
            for p in range(w_t.shape[2]):
                w_t[bb, i, p] = flat.e[p, bi]


@njit(inline="always", **JIT_OPTIONS)
def _static_clock_step(mu_t, rho_t, sigma_t, alpha_t, w_t, sigma_static, w_static,
                       alpha_static, m, clock):
    r"""The static form's clock of one step: the call's :math:`\mu, \rho, \sigma, w` (P3–P5)
    and this step's expected clock :math:`\alpha_t = \sum_p w_p m_t[p]` (P6), into ``mu_t``,
    ``rho_t``, ``sigma_t``, ``alpha_t`` (B, n) and ``w_t`` (B, n, P)."""
    B, n = mu_t.shape
    for i in range(n):
        al = 0.0
        for p in range(m.shape[0]):
            al += w_static[i, p] * m[p]                            # (P6)
        alpha_static[i] = al
    for bb in range(B):
        mu_t[bb, :] = clock.b_mu
        rho_t[bb, :] = clock.b_rho
        sigma_t[bb, :] = sigma_static
        alpha_t[bb, :] = alpha_static
        w_t[bb, :, :] = w_static


@njit(inline="always", **JIT_OPTIONS)
def _soft_update(h_t, th_t, h_prev, alpha_t, offsets):
    r"""``h_t[:] =`` :math:`\alpha_t[i]\, v_t + (1 - \alpha_t[i])\, \tilde h_{t-1}` on the units
    of each module i (P7), on slices from 0 so that the loop is vectorized."""
    B = h_t.shape[0]
    n = offsets.shape[0] - 1
    for bb in range(B):
        for i in range(n):
            lo, hi = offsets[i], offsets[i + 1]
            h_i = h_t[bb, lo:hi]
            v_i = th_t[bb, lo:hi]
            hp_i = h_prev[bb, lo:hi]
            al = alpha_t[bb, i]
            keep = 1 - al
            for k in range(hi - lo):
                h_i[k] = al * v_i[k] + keep * hp_i[k]


@njit(inline="always", **JIT_OPTIONS)
def _readout(y_t, read, h_t, W_read, b_read, weights, emitted):
    r"""``y_t[:] =`` :math:`W_O h_t + b_O` (B, O) (P7) and, in the emitted form, the next step's
    :math:`[\mu; \rho]` from :math:`h_t` into ``read[:, O:]`` (P3), in one product."""
    B, O = y_t.shape
    if not emitted and O < 8:
        # a narrow readout alone: O dot products per row beat a product only O wide
        for bb in range(B):
            y_t[bb, :] = weights.b_O
        add_block_dots(y_t, 0, h_t, 0, weights.W_O, 0, 0, h_t.shape[1], O)
    else:
        for bb in range(B):
            read[bb, :] = b_read
        add_block_product(read, 0, h_t, 0, W_read, 0, 0, h_t.shape[1], W_read.shape[1])
        for bb in range(B):
            y_t[bb, :] = read[bb, :O]


@njit(**JIT_OPTIONS)
def periods_forward_kernel(seq, wiring, clock, weights):
    r"""Forward pass with learned periods over a whole sequence (equations P1–P7).

    Parameters
    ----------
    seq : Sequence
        ``x`` (L, B, D), ``h_in`` (B, H), ``r`` (H,), ``reset`` (L,) bool, ``t0``.
    wiring : Wiring
        ``offsets`` (n + 1,), ``C`` (n, n), ``R`` (n,).
    clock : PeriodClock
        ``emitted``, ``W_mu``, ``W_rho`` (n, H) or (0, H), ``b_mu``, ``b_rho`` (n,), ``log_p``
        (P,), ``cands`` (P,), ``tau``.
    weights : ForwardWeights
        ``W_IT`` (D, H), ``W_HT`` (H, H), ``b_H`` (H,), ``W_O`` (O, H), ``b_O`` (O,).

    Returns
    -------
    ForwardResult
        ``h``, ``th`` (L, B, H); ``mu``, ``rho``, ``sigma``, ``alpha`` (L, B, n); ``w``
        (L, B, n, P); ``y`` (L, B, O).

    Notes
    -----
    Per step, for all B rows at once: the entering state (P1), the pre-activation and its tanh
    over the wired blocks (P2), the clock (P3–P6), the soft update (P7), then one product that
    reads :math:`y_t` and, in the emitted form, the next step's :math:`\mu, \rho` from
    :math:`h_t` (P7, P3). In the static form :math:`\sigma` and :math:`w` (P4, P5) depend on
    neither the step nor the sequence and are computed once per call; only the clock's mixture
    :math:`\alpha_t` (P6) changes with the step.
    """
    x = seq.x
    L, B, D = x.shape
    H = weights.W_HT.shape[0]
    offsets = wiring.offsets
    n = offsets.shape[0] - 1
    P = clock.log_p.shape[0]
    O = weights.W_O.shape[0]
    emitted = clock.emitted
    dtype = seq.h_in.dtype
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
        h_r[bb, :] = seq.r
    m = np.empty(P, dtype=dtype)                      # (P,) m_t[p], the clock of each candidate
    # the units each source module feeds, and the units that read the input (P2)
    tgt_runs = _block_runs(wiring.C.T, offsets)
    in_runs = _block_runs(wiring.R.reshape((1, n)), offsets)
    # everything one product reads from h_t: the readout (P7) and, in the emitted form, the
    # next step's clock (P3)
    n_read = O + 2 * n if emitted else O
    W_read = np.empty((H, n_read), dtype=dtype)       # (H, n_read) [W_O; W_mu; W_rho]^T
    b_read = np.empty(n_read, dtype=dtype)            # (n_read,)
    _read_map(W_read, b_read, weights, clock)
    read = np.empty((B, n_read), dtype=dtype)         # (B, n_read) [y_t | mu_{t+1} | rho_{t+1}]
    read_r = np.empty((1, n_read), dtype=dtype)       # (1, n_read) [. | mu | rho] read from r
    # static form: sigma (P4), w (P5) once per call; alpha (P6) once per step
    sigma_static = np.empty(n, dtype=dtype)           # (n,)
    w_static = np.empty((n, P), dtype=dtype)          # (n, P)
    alpha_static = np.empty(n, dtype=dtype)           # (n,)
    # emitted form: the clock of one step, flat over bi = b n + i (P3-P6)
    Bn = B * n if emitted else 0
    flat = FlatClock(mu=np.empty(Bn, dtype=dtype), den=np.empty(Bn, dtype=dtype),
                     top=np.empty(Bn, dtype=dtype), total=np.empty(Bn, dtype=dtype),
                     alpha=np.empty(Bn, dtype=dtype), e=np.empty((P, Bn), dtype=dtype))
    if emitted:
        # the clock emitted from h_in (step 0) and from r (steps after a reset) (P3)
        for bb in range(B):
            read[bb, O:] = b_read[O:]
        add_block_product(read, O, seq.h_in, 0, W_read, 0, O, H, 2 * n)
        read_r[0, O:] = b_read[O:]
        add_block_product(read_r, O, h_r[:1], 0, W_read, 0, O, H, 2 * n)
    else:
        for i in range(n):
            sigma_static[i] = clock.tau * softplus_scalar(clock.b_rho[i])            # (P4)
            _period_weights(w_static[i], clock.b_mu[i], sigma_static[i], clock.log_p)  # (P5)
    for t in range(L):
        _candidate_clock(m, seq.t0 + t, clock.cands)                                 # (P6)
        # the state entering step t: r after a reset, else h_{t-1} (h_in at t = 0) (P1)
        if seq.reset[t]:
            h_prev = h_r
        elif t == 0:
            h_prev = seq.h_in
        else:
            h_prev = h[t - 1]
        # v_t = tanh(W_I x_t + W_H h~_{t-1} + b_H) over the wired blocks only (P2)
        _preactivation(th[t], x[t], h_prev, weights, offsets, in_runs, tgt_runs)
        # the clock: mu_t, rho_t (P3), sigma_t (P4), w_t (P5), alpha_t (P6)
        if emitted:
            _emitted_clock_step(mu[t], rho[t], sigma[t], alpha[t], w[t], flat, read, read_r,
                                seq.reset[t], m, clock, O)
        else:
            _static_clock_step(mu[t], rho[t], sigma[t], alpha[t], w[t], sigma_static,
                               w_static, alpha_static, m, clock)
        # soft update: the expected clock mixes the new and the held state (P7)
        _soft_update(h[t], th[t], h_prev, alpha[t], offsets)
        # readout y_t = W_O h_t + b_O (P7), and the next step's emitted clock (P3)
        _readout(y[t], read, h[t], W_read, b_read, weights, emitted)
    return ForwardResult(h=h, th=th, mu=mu, rho=rho, sigma=sigma, alpha=alpha, w=w, y=y)


# ----- backward pass ----------------------------------------------------------------------------

@njit(inline="always", **JIT_OPTIONS)
def _extended_state(s_ext, seq, h, t):
    r"""``s_ext[:] =`` :math:`s_t = [\tilde h_{t-1} \;|\; x_t]` (B, H + D), the state that step
    t read (P1: r after a reset, else :math:`h_{t-1}`, ``h_in`` at t = 0) next to its input."""
    B = s_ext.shape[0]
    H = seq.h_in.shape[1]
    for bb in range(B):
        if seq.reset[t]:
            s_ext[bb, :H] = seq.r
        elif t == 0:
            s_ext[bb, :H] = seq.h_in[bb]
        else:
            s_ext[bb, :H] = h[t - 1, bb]
        s_ext[bb, H:] = seq.x[t, bb]


@njit(inline="always", **JIT_OPTIONS)
def _clock_backward_step(da, e_prev, db_mu, db_rho, delta, th_t, s_ext, alpha_t, mu_t, sigma_t,
                         rho_t, w_t, m, log_p, tau, offsets):
    r"""Back through the soft update and the clock of step t, module by module (PB3–PB8).

    For every batch row b and module i, on the module's units k (slices from 0, so that the
    loops are vectorized), with :math:`\delta_t` ``delta`` (B, H), :math:`v_t` ``th_t`` (B, H),
    :math:`\tilde h_{t-1}` the first H columns of ``s_ext`` and the step's cache ``alpha_t``,
    ``mu_t``, ``sigma_t``, ``rho_t`` (B, n), ``w_t`` (B, n, P), into
    ``da`` (B, H + 2n) :math:`[\bar a_t \;|\; \bar\mu_t \;|\; \bar\rho_t]`:

    * ``da[b, k] =`` :math:`\bar a_t` (PB3) and ``e_prev[b, k] =`` the kept share
      :math:`(1 - \alpha_t[i])\,\delta_t` of :math:`\bar{\tilde h}_{t-1}` (PB8); the input
      columns ``e_prev[b, H:]`` are zeroed for the products that follow;
    * :math:`\bar\alpha_t[i]` (PB4), in four partial sums, then :math:`\bar\mu_t[i]` and
      :math:`\bar\rho_t[i]` (PB5–PB7) into ``da[b, H + i]``, ``da[b, H + n + i]`` and added to
      ``db_mu[i]``, ``db_rho[i]`` (PB10).

    The whole batch × module loop nest is one helper, which makes the slices itself: a helper
    inlined inside the module loop, taking the slices as arguments, compiles to slower code
    (``docs/performance.md``).
    """
    B, H = delta.shape
    n = offsets.shape[0] - 1
    P = log_p.shape[0]
    zero = delta.dtype.type(0.0)
    for bb in range(B):
        for i in range(n):
            lo, hi = offsets[i], offsets[i + 1]
            k_i = hi - lo
            delta_i = delta[bb, lo:hi]
            v_i = th_t[bb, lo:hi]
            hp_i = s_ext[bb, lo:hi]
            da_i = da[bb, lo:hi]
            e_i = e_prev[bb, lo:hi]
            al = alpha_t[bb, i]
            keep = 1 - al
            # backprop through tanh, scaled by the expected clock (PB3)
            for k in range(k_i):
                da_i[k] = delta_i[k] * al * (1 - v_i[k] * v_i[k])
            # the kept share (1 - alpha) of the state (PB8); a loop of its own, so that each
            # loop needs few run-time alias checks to be vectorized
            for k in range(k_i):
                e_i[k] = keep * delta_i[k]
            # gradient on the expected clock, summed over the module's units (PB4)
            acc0 = zero
            acc1 = zero
            acc2 = zero
            acc3 = zero
            k = 0
            while k + 4 <= k_i:
                acc0 += delta_i[k] * (v_i[k] - hp_i[k])
                acc1 += delta_i[k + 1] * (v_i[k + 1] - hp_i[k + 1])
                acc2 += delta_i[k + 2] * (v_i[k + 2] - hp_i[k + 2])
                acc3 += delta_i[k + 3] * (v_i[k + 3] - hp_i[k + 3])
                k += 4
            while k < k_i:
                acc0 += delta_i[k] * (v_i[k] - hp_i[k])
                k += 1
            dal = (acc0 + acc1) + (acc2 + acc3)
            mu_i = mu_t[bb, i]
            sig_i = sigma_t[bb, i]
            s_mu = 0.0
            s_sig = 0.0
            for p in range(P):
                # back through the expectation over periods and the softmax (PB5)
                de = dal * w_t[bb, i, p] * (m[p] - al)
                # back through the Gaussian in log-period (PB6)
                diff = log_p[p] - mu_i
                s_mu += de * diff
                s_sig += de * (diff * diff)
            dmu = s_mu / (sig_i * sig_i)                                    # (PB6)
            # back through sigma = tau softplus(rho) (PB7)
            drho = s_sig / (sig_i * sig_i * sig_i) * tau * sigmoid_scalar(rho_t[bb, i])
            da[bb, H + i] = dmu
            da[bb, H + n + i] = drho
            db_mu[i] += dmu                                                 # (PB10)
            db_rho[i] += drho
        e_prev[bb, H:] = 0


@njit(inline="always", **JIT_OPTIONS)
def _recurrent_backward(e_prev, queue, dW, da, W, s_ext, rows, read_runs):
    r"""All B rows at once, over the wired blocks only, row block i of :math:`W` (``rows``)
    against each column run u it reads (``read_runs``): :math:`\bar s_t \mathrel{+}= \bar a_t W`
    into ``e_prev`` (PB8: the recurrent path :math:`W_H^\top \bar a_t`, :math:`\bar x_t`, and
    in the emitted form the clock's path) and the rows of
    :math:`\bar W \mathrel{+}= \bar a_t^\top s_t` (PB10) into slot u of ``queue``."""
    for i in range(rows.shape[0] - 1):
        lo = rows[i]
        k_i = rows[i + 1] - lo
        for u in range(read_runs.ptr[i], read_runs.ptr[i + 1]):
            col0 = read_runs.lo[u]
            add_block_product(e_prev, col0, da, lo, W, lo, col0, k_i, read_runs.hi[u] - col0)
            queue_outer(queue, u, da, lo, s_ext, col0, dW)


@njit(inline="always", **JIT_OPTIONS)
def _reading_runs(wiring, D, emitted):
    r"""The column runs of :math:`s_t = [\tilde h_{t-1} \;|\; x_t]` that each row block of
    :math:`W` reads: module i its wired sources (C) and, if R, the input as one more module of
    width D; the clock's rows (emitted form only) every hidden unit."""
    offsets = wiring.offsets
    n = offsets.shape[0] - 1
    C_ext = np.zeros((n + 1, n + 1), dtype=np.bool_)  # (n + 1, n + 1) [C | R; emitted | 0]
    C_ext[:n, :n] = wiring.C
    if D > 0:
        C_ext[:n, n] = wiring.R
    C_ext[n, :n] = emitted
    offsets_ext = np.empty(n + 2, dtype=np.int64)     # (n + 2,)
    offsets_ext[:n + 1] = offsets
    offsets_ext[n + 1] = offsets[n] + D
    return _block_runs(C_ext, offsets_ext)


@njit(inline="always", **JIT_OPTIONS)
def _split_grads(dW, db_H, db_mu, db_rho, dx, eps, dr, clock, H):
    r"""The :class:`Grads`, split from the stacked :math:`\bar W` (H + 2n, H + D) and
    :math:`\epsilon_0` (B, H + D)."""
    D = dW.shape[1] - H
    n = db_mu.shape[0]
    dtype = dW.dtype
    dW_mu = np.empty(clock.W_mu.shape, dtype=dtype)   # (n, H) or (0, H)
    dW_rho = np.empty(clock.W_rho.shape, dtype=dtype)  # (n, H) or (0, H)
    if clock.emitted:
        dW_mu[:, :] = dW[H:H + n, :H]
        dW_rho[:, :] = dW[H + n:, :H]
    dW_H = np.empty((H, H), dtype=dtype)              # (H, H)
    dW_H[:, :] = dW[:H, :H]
    dW_I = np.empty((H, D), dtype=dtype)              # (H, D)
    dW_I[:, :] = dW[:H, H:]
    dh_init = np.empty((eps.shape[0], H), dtype=dtype)  # (B, H)
    dh_init[:, :] = eps[:, :H]
    return Grads(dW_I=dW_I, dW_H=dW_H, db_H=db_H, dW_mu=dW_mu, db_mu=db_mu, dW_rho=dW_rho,
                 db_rho=db_rho, dx=dx, dh_init=dh_init, dr=dr)


@njit(**JIT_OPTIONS)
def periods_backward_kernel(seq, wiring, clock, weights, acts, upstream):
    r"""Hand-derived BPTT with learned periods over a whole sequence (equations PB2–PB10).

    Parameters
    ----------
    seq : Sequence
        The forward call's ``x`` (L, B, D), ``h_in`` (B, H), ``r`` (H,), ``reset`` (L,), ``t0``.
    wiring : Wiring
        ``offsets`` (n + 1,), ``C`` (n, n), ``R`` (n,).
    clock : PeriodClock
        As for the forward pass (``b_mu``, ``b_rho`` unread).
    weights : BackwardWeights
        ``W_I`` (H, D), ``W_H`` (H, H), ``W_O`` (O, H).
    acts : Activations
        ``h``, ``th`` (L, B, H); ``mu``, ``rho``, ``sigma``, ``alpha`` (L, B, n); ``w``
        (L, B, n, P) from the forward pass.
    upstream : Upstream
        ``dy`` (L, B, O) and ``eps`` (B, H), the gradient on the last state.

    Returns
    -------
    Grads
        ``dW_I``, ``dW_H``, ``db_H`` (zero outside the wired blocks), ``dW_mu``, ``db_mu``,
        ``dW_rho``, ``db_rho``, ``dx``, ``dh_init`` :math:`\epsilon_0` and ``dr``.

    Notes
    -----
    The input is handled as D more state columns and, in the emitted form, the clock's maps
    as 2n more rows: with :math:`W = [W_H \;|\; W_I]` over :math:`[W_\mu; W_\rho \;|\; 0]`
    (H + 2n, H + D), :math:`s_t = [\tilde h_{t-1} \;|\; x_t]` (B, H + D) and
    :math:`[\bar a_t \;|\; \bar\mu_t \;|\; \bar\rho_t]` (B, H + 2n), step t's products are
    :math:`\bar s_t \mathrel{+}= [\bar a_t | \bar\mu_t | \bar\rho_t] W` (PB8, and
    :math:`\bar x_t`) and :math:`\bar W \mathrel{+}= [\ldots]^\top s_t` (PB10, queued), over the
    column runs that each row block reads (module i: its wired sources, then the input if
    ``R[i]``; the clock: the state). The readout's own gradients (PB1) are in the wrapper.
    """
    x = seq.x
    offsets = wiring.offsets
    L, B, D = x.shape
    H = weights.W_H.shape[0]
    n = offsets.shape[0] - 1
    P = clock.log_p.shape[0]
    O = weights.W_O.shape[0]
    emitted = clock.emitted
    dtype = seq.h_in.dtype
    # W = [W_H | W_I] (H, H + D) and, below it, the emitted clock's maps [W_mu; W_rho] (2n, H),
    # which read the state like one more module: PB8 and PB10 are products of the same blocks
    W = np.empty((H + 2 * n, H + D), dtype=dtype)     # (H + 2n, H + D)
    W[:H, :H] = weights.W_H
    W[:H, H:] = weights.W_I
    if emitted:
        W[H:H + n, :H] = clock.W_mu
        W[H + n:, :H] = clock.W_rho
    dW = np.zeros((H + 2 * n, H + D), dtype=dtype)    # (H + 2n, H + D) its gradient
    db_H = np.zeros(H, dtype=dtype)                   # (H,)
    db_mu = np.zeros(n, dtype=dtype)                  # (n,)
    db_rho = np.zeros(n, dtype=dtype)                 # (n,)
    dr = np.zeros(H, dtype=dtype)                     # (H,)
    dx = np.empty((L, B, D), dtype=dtype)             # (L, B, D)
    s_ext = np.empty((B, H + D), dtype=dtype)         # (B, H + D) [h~_{t-1} | x_t]
    eps = np.zeros((B, H + D), dtype=dtype)           # (B, H + D) gradient on the state after t
    eps[:, :H] = upstream.eps
    e_prev = np.empty((B, H + D), dtype=dtype)        # (B, H + D) gradient on s_t
    delta = np.empty((B, H), dtype=dtype)             # (B, H) total gradient on h_t
    da = np.empty((B, H + 2 * n), dtype=dtype)        # (B, H + 2n) [abar_t | mubar_t | rhobar_t]
    m = np.empty(P, dtype=dtype)                      # (P,) m_t[p], the clock of each candidate
    rows = np.append(offsets, H + 2 * n)              # (n + 2,) row blocks of W: modules, clock
    read_runs = _reading_runs(wiring, D, emitted)
    block = np.repeat(np.arange(n + 1), np.diff(read_runs.ptr))   # (runs,) each run's row block
    # the rows of PB10's sums wait here, one slot per run (a block of dW), and reach dW as one
    # BLAS product per slot for many steps
    queue = new_outer_queue(rows[block + 1] - rows[block], read_runs.hi - read_runs.lo,
                            rows[block], read_runs.lo, da)
    for t in range(L - 1, -1, -1):
        _candidate_clock(m, seq.t0 + t, clock.cands)                                 # (P6)
        # the step's extended state s_t = [h~_{t-1} | x_t] (P1)
        _extended_state(s_ext, seq, acts.h, t)
        # total gradient on h_t: from y_t (W_O^T ybar_t) and from step t+1 (PB2)
        delta[:, :] = eps[:, :H]
        add_block_product(delta, 0, upstream.dy[t], 0, weights.W_O, 0, 0, O, H)
        # through tanh (PB3), the kept share (PB8), onto the expected clock (PB4), and through
        # the softmax, the Gaussian and softplus onto mu_t, rho_t (PB5-PB7)
        _clock_backward_step(da, e_prev, db_mu, db_rho, delta, acts.th[t], s_ext, acts.alpha[t],
                             acts.mu[t], acts.sigma[t], acts.rho[t], acts.w[t], m, clock.log_p,
                             clock.tau, offsets)
        # the paths into h_{t-1} through W_H and the emitted clock (PB8), the input gradient, and
        # the weight gradients' rows, queued (PB10): all B rows at once, wired blocks only
        _recurrent_backward(e_prev, queue, dW, da, W, s_ext, rows, read_runs)
        # the bias gradient (PB10)
        for bb in range(B):
            da_b = da[bb]
            for k in range(H):
                db_H[k] += da_b[k]
        dx[t, :, :] = e_prev[:, H:]
        # a reset cuts the path to h_{t-1}; the replaced state was r (PB9)
        if seq.reset[t]:
            for bb in range(B):
                e_b = e_prev[bb]
                for k in range(H):
                    dr[k] += e_b[k]
            eps[:, :] = 0
        else:
            eps, e_prev = e_prev, eps
    drain_all_outer(queue, dW)
    # split the stacked gradients into the parameters' own arrays
    return _split_grads(dW, db_H, db_mu, db_rho, dx, eps, dr, clock, H)
