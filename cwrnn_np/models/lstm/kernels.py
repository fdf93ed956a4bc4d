r"""Numba kernels of the LSTM baseline's forward pass and its BPTT, one call per sequence.

The comparison model of Koutník et al., "A Clockwork RNN", ICML 2014, §4 (an LSTM with
forget-gate bias 5), with Gers et al.'s optional peepholes. The equations and their tags (L0–L7
forward, LB1–LB10 backward) are those of ``docs/lstm.md`` and of the readable reference
:func:`cwrnn_np.models.lstm.forward_lstm_numpy` / :func:`cwrnn_np.models.lstm.backward_lstm_numpy`,
which these kernels reproduce to rounding (relative :math:`10^{-12}` norm-wise in float64). Each
block of a kernel names its equation in a comment, as the reference does.

Shape letters: L time, B batch, D input, H cells, O output; G = 4H gate pre-activations in the
order [i, f, o, g]; the carried state is :math:`[h_t; c_t]` (2H), with :math:`c_t` the cell.

The kernel boundary is named: a kernel takes and returns the NamedTuples below (Numba compiles
them as tuples, one signature per dtype), never long lists of positional arrays.

* :class:`Sequence` the call's inputs and :class:`ForwardWeights` the parameters in the forward
  kernel's layout go into :func:`lstm_forward_kernel`, which returns a :class:`ForwardResult`;
* :class:`Sequence`, :class:`BackwardWeights`, the forward pass's :class:`Activations` and the
  :class:`Upstream` gradients go into :func:`lstm_backward_kernel`, which returns the
  :class:`Grads`.

Each kernel is a plain function compiled once per dtype, at its first call, with the options of
:mod:`cwrnn_np.kernels.config`; its per-cell steps are helpers that allocate nothing, compiled
with :data:`cwrnn_np.kernels.config.HELPER_OPTIONS` so that LLVM inlines them. The wrappers that
validate, prepare and call the kernels are :func:`cwrnn_np.models.lstm.forward_lstm_numba` and
:func:`cwrnn_np.models.lstm.backward_lstm_numba`.

A step processes the whole batch at once. Its matrix products are the shared block products of
:mod:`cwrnn_np.kernels.linalg` (BLAS where it wins, loops for thin blocks; a row loop for a
single sequence): the pre-activations :math:`Z_t = b + x_t W_x^\top + \tilde h_{t-1} W_h^\top`
(B, 4H) from the transposed weights ``W_xT`` (D, 4H) and ``W_hT`` (H, 4H), the readout, and in
the backward pass :math:`\bar Z_t W_h`, :math:`\bar Z_t W_x` and :math:`\bar y_t W_O`. The weight
gradients :math:`\bar Z_t^\top x_t` and :math:`\bar Z_t^\top \tilde h_{t-1}` are not taken step
by step: their rows wait in an :class:`~cwrnn_np.kernels.linalg.OuterQueue` and reach
:math:`[\bar W_x, \bar W_h]` as one BLAS product for many steps. Only the per-cell nonlinear
parts are loops here, over (batch row, cell). Peepholes are three (H,) arrays, or three empty
arrays when the spec has none, and then the kernels skip the peephole terms.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ...kernels.config import HELPER_OPTIONS, JIT_OPTIONS
from ...kernels.linalg import add_block_product, drain_all_outer, new_outer_queue, queue_outer
from ...kernels.special import sigmoid_scalar

__all__ = ["Sequence", "ForwardWeights", "BackwardWeights", "Activations", "ForwardResult",
           "Upstream", "Grads", "lstm_forward_kernel", "lstm_backward_kernel"]


# ----- the kernel boundary ----------------------------------------------------------------------

class Sequence(NamedTuple):
    r"""One call's inputs, read by both kernels.

    Attributes
    ----------
    x : (L, B, D) the inputs :math:`x_t`.
    s_in : (B, 2H) the carried-in state :math:`[h_{-1}; c_{-1}]`.
    r : (2H,) the reset state.
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (L0).
    """

    x: np.ndarray
    s_in: np.ndarray
    r: np.ndarray
    reset: np.ndarray


class ForwardWeights(NamedTuple):
    r"""The parameters in the forward kernel's layout (gate weights transposed).

    Attributes
    ----------
    W_xT : (D, 4H), W_hT : (H, 4H) the transposed input and recurrent weights
        :math:`W_x^\top, W_h^\top`, gate blocks in the order [i, f, o, g].
    b : (4H,) the gate biases.
    p_i, p_f, p_o : (H,) the peepholes, or all three of length 0 (no peepholes).
    W_OT : (H, O) the transposed readout weights :math:`W_O^\top`; b_O : (O,) its bias.
    """

    W_xT: np.ndarray
    W_hT: np.ndarray
    b: np.ndarray
    p_i: np.ndarray
    p_f: np.ndarray
    p_o: np.ndarray
    W_OT: np.ndarray
    b_O: np.ndarray


class BackwardWeights(NamedTuple):
    r"""The parameters the backward kernel reads, in the layout of ``params``.

    Attributes
    ----------
    W_x : (4H, D), W_h : (4H, H) the input and recurrent weights.
    p_i, p_f, p_o : (H,) the peepholes, or all three of length 0 (no peepholes).
    W_O : (O, H) the readout weights.
    """

    W_x: np.ndarray
    W_h: np.ndarray
    p_i: np.ndarray
    p_f: np.ndarray
    p_o: np.ndarray
    W_O: np.ndarray


class Activations(NamedTuple):
    r"""What the forward pass stores for the backward pass (the arrays of the cache).

    Attributes
    ----------
    s : (L, B, 2H) the states :math:`[h_t; c_t]`.
    gates : (L, B, 4H) the gate activations :math:`[i_t; f_t; o_t; g_t]`.
    tanh_c : (L, B, H) :math:`\tanh(c_t)`.
    """

    s: np.ndarray
    gates: np.ndarray
    tanh_c: np.ndarray


class ForwardResult(NamedTuple):
    r"""What :func:`lstm_forward_kernel` returns: the :class:`Activations` fields and the
    outputs ``y`` (L, B, O)."""

    s: np.ndarray
    gates: np.ndarray
    tanh_c: np.ndarray
    y: np.ndarray


class Upstream(NamedTuple):
    r"""The gradients that reach a call from outside.

    Attributes
    ----------
    dy : (L, B, O) :math:`\bar y_t`, the gradient on the outputs.
    eps : (B, 2H) :math:`\epsilon_L`, the gradient on the last state (``dh_last``, or zeros).
    """

    dy: np.ndarray
    eps: np.ndarray


class Grads(NamedTuple):
    r"""What :func:`lstm_backward_kernel` returns (LB6–LB9).

    Attributes
    ----------
    dW : (4H, D + H) the gate weights' gradients side by side, :math:`[\bar W_x, \bar W_h]`,
        and db : (4H,) the biases' (LB7).
    dp_i, dp_f, dp_o : (H,) the peepholes' gradients, zeros without peepholes (LB8).
    dx : (L, B, D) the inputs' gradient (LB7).
    dh_init : (B, 2H) :math:`\epsilon_0`, the gradient on the carried-in state (LB9).
    dr : (2H,) the gradient reaching the reset state through resets (LB9).
    """

    dW: np.ndarray
    db: np.ndarray
    dp_i: np.ndarray
    dp_f: np.ndarray
    dp_o: np.ndarray
    dx: np.ndarray
    dh_init: np.ndarray
    dr: np.ndarray


# ----- forward pass -----------------------------------------------------------------------------

@njit(inline="always", **JIT_OPTIONS)
def _state_read(seq, s_r, s, t):
    r"""(L0) :math:`[\tilde h_{t-1}; \tilde c_{t-1}]` (B, 2H), the state that step t reads: the
    reset rows ``s_r`` after a reset, else the previous state (``s_in`` at t = 0); a view."""
    if seq.reset[t]:
        return s_r
    if t == 0:
        return seq.s_in
    return s[t - 1]


@njit(**HELPER_OPTIONS)
def _cell_step(s_t, gates_t, tanh_c_t, z, s_prev, p_i, p_f, p_o):
    r"""The gates, cells and state of one step from its pre-activations ``z`` (B, 4H) (L1–L6).

    ``s_prev`` (B, 2H) is :math:`[\tilde h_{t-1}; \tilde c_{t-1}]`; writes ``s_t`` (B, 2H)
    :math:`[h_t; c_t]`, ``gates_t`` (B, 4H) :math:`[i_t; f_t; o_t; g_t]` and ``tanh_c_t``
    (B, H). The peephole terms are skipped when ``p_i`` is empty.
    """
    B, H = tanh_c_t.shape
    peep = p_i.shape[0] > 0
    for bb in range(B):
        for k in range(H):
            c_prev = s_prev[bb, H + k]
            z_i = z[bb, k]
            z_f = z[bb, H + k]
            z_o = z[bb, 2 * H + k]
            if peep:
                z_i += p_i[k] * c_prev
                z_f += p_f[k] * c_prev
            i = sigmoid_scalar(z_i)                   # (L1)
            f = sigmoid_scalar(z_f)                   # (L2)
            g = math.tanh(z[bb, 3 * H + k])           # (L3)
            c = f * c_prev + i * g                    # (L4)
            if peep:
                z_o += p_o[k] * c                     # the output gate's peephole reads c_t
            o = sigmoid_scalar(z_o)                   # (L5)
            tc = math.tanh(c)
            s_t[bb, k] = o * tc                       # (L6)
            s_t[bb, H + k] = c
            gates_t[bb, k] = i
            gates_t[bb, H + k] = f
            gates_t[bb, 2 * H + k] = o
            gates_t[bb, 3 * H + k] = g
            tanh_c_t[bb, k] = tc


@njit(**JIT_OPTIONS)
def lstm_forward_kernel(seq, weights):
    r"""LSTM forward pass over a whole sequence (equations L0–L7).

    Parameters
    ----------
    seq : Sequence
        ``x`` (L, B, D), ``s_in`` (B, 2H), ``r`` (2H,), ``reset`` (L,) bool.
    weights : ForwardWeights
        ``W_xT`` (D, 4H), ``W_hT`` (H, 4H), ``b`` (4H,), peepholes (H,) or (0,), ``W_OT``
        (H, O), ``b_O`` (O,).

    Returns
    -------
    ForwardResult
        ``s`` (L, B, 2H) :math:`[h_t; c_t]`, ``gates`` (L, B, 4H) :math:`[i_t; f_t; o_t; g_t]`,
        ``tanh_c`` (L, B, H) :math:`\tanh(c_t)`, ``y`` (L, B, O).

    Notes
    -----
    Per step, for all batch rows at once: the entering state (L0); the pre-activations

    .. math::

        Z_t = b + x_t W_x^\top + \tilde h_{t-1} W_h^\top,

    where :math:`Z_t` (B, 4H) holds one row per sequence, two block products; then per cell the
    gates (L1–L3, L5, with peepholes), the cell (L4) and the state (L6); then the readout
    :math:`y_t = h_t W_O^\top + b_O` (L7), a block product. Each step's outputs depend only on
    that step's inputs, so chunked runs equal whole runs bitwise. An LSTM has no clock: every
    cell is computed at every step.
    """
    # the fields the time loop reads, bound once (a field read inside a loop costs a
    # reference-count update each time)
    x = seq.x
    W_xT, W_hT, b = weights.W_xT, weights.W_hT, weights.b
    p_i, p_f, p_o = weights.p_i, weights.p_f, weights.p_o
    W_OT, b_O = weights.W_OT, weights.b_O
    L, B, D = x.shape
    H, G = W_hT.shape
    O = W_OT.shape[1]
    dtype = seq.s_in.dtype
    s = np.empty((L, B, 2 * H), dtype=dtype)          # (L, B, 2H)
    gates = np.empty((L, B, G), dtype=dtype)          # (L, B, 4H)
    tanh_c = np.empty((L, B, H), dtype=dtype)         # (L, B, H)
    y = np.empty((L, B, O), dtype=dtype)              # (L, B, O)
    z = np.empty((B, G), dtype=dtype)                 # (B, 4H) pre-activations of a step
    s_r = np.empty((B, 2 * H), dtype=dtype)           # (B, 2H) the reset state r in every row
    for bb in range(B):
        s_r[bb, :] = seq.r
    for t in range(L):
        # (L0) the state entering step t: r after a reset, else [h_{t-1}; c_{t-1}]
        s_prev = _state_read(seq, s_r, s, t)
        # (L1-L3, L5) pre-activations Z_t = b + x_t W_x^T + h~_{t-1} W_h^T (h~ is s_prev[:, :H])
        for bb in range(B):
            z[bb, :] = b
        if D > 0:                                     # BLAS rejects a zero-width x_t
            add_block_product(z, 0, x[t], 0, W_xT, 0, 0, D, G)
        add_block_product(z, 0, s_prev, 0, W_hT, 0, 0, H, G)
        # (L1-L6) gates, cells and state
        _cell_step(s[t], gates[t], tanh_c[t], z, s_prev, p_i, p_f, p_o)
        # (L7) readout y_t = b_O + h_t W_O^T
        y_t = y[t]                                    # (B, O) view
        for bb in range(B):
            y_t[bb, :] = b_O
        add_block_product(y_t, 0, s[t], 0, W_OT, 0, 0, H, O)
    return ForwardResult(s=s, gates=gates, tanh_c=tanh_c, y=y)


# ----- backward pass ----------------------------------------------------------------------------

@njit(**HELPER_OPTIONS)
def _cell_backward(dz, e_prev, db, dp_i, dp_f, dp_o, dh, eps, gates_t, tanh_c_t, s_prev, s_t,
                   p_i, p_f, p_o):
    r"""Back through the cells of one step (LB3–LB6, LB8), gate by gate.

    Reads :math:`\delta^h_t` ``dh`` (B, H), :math:`\epsilon_{t+1}` ``eps`` (B, 2H), the step's
    ``gates_t`` (B, 4H), ``tanh_c_t`` (B, H), the state read ``s_prev`` (B, 2H) and the new
    state ``s_t`` (B, 2H). Writes :math:`\bar Z_t` into ``dz`` (B, 4H),
    :math:`\bar{\tilde c}_{t-1}` into ``e_prev[:, H:]`` and zeros into ``e_prev[:, :H]`` (the
    :math:`\bar Z_t W_h` of LB6 is added by the caller), adds :math:`\bar Z_t` to ``db`` (4H,)
    (LB7) and the peephole gradients (LB8) unless the peepholes are empty.
    """
    B, H = dh.shape
    peep = p_i.shape[0] > 0
    for bb in range(B):
        for k in range(H):
            i = gates_t[bb, k]
            f = gates_t[bb, H + k]
            o = gates_t[bb, 2 * H + k]
            g = gates_t[bb, 3 * H + k]
            tc = tanh_c_t[bb, k]
            c_prev = s_prev[bb, H + k]
            # (LB3) back through h_t = o tanh(c_t) into the output gate's sigmoid
            dz_o = dh[bb, k] * tc * o * (1 - o)
            # (LB4) total gradient on c_t: from step t+1, through tanh(c_t), through o's peephole
            dc = eps[bb, H + k] + dh[bb, k] * o * (1 - tc * tc)
            if peep:
                dc += p_o[k] * dz_o
            # (LB5) back through c_t = f c_{t-1} + i g into the gates' nonlinearities
            dz_i = dc * g * i * (1 - i)
            dz_f = dc * c_prev * f * (1 - f)
            dz_g = dc * i * (1 - g * g)
            dz[bb, k] = dz_i
            dz[bb, H + k] = dz_f
            dz[bb, 2 * H + k] = dz_o
            dz[bb, 3 * H + k] = dz_g
            # (LB6) into c_{t-1}: the forget gate and the peepholes
            dc_prev = dc * f
            if peep:
                dc_prev += p_i[k] * dz_i + p_f[k] * dz_f
                # (LB8) peephole gradients: i and f read c_{t-1}, o reads c_t
                dp_i[k] += dz_i * c_prev
                dp_f[k] += dz_f * c_prev
                dp_o[k] += dz_o * s_t[bb, H + k]
            e_prev[bb, H + k] = dc_prev
            e_prev[bb, k] = 0.0
            # (LB7) bias gradient
            db[k] += dz_i
            db[H + k] += dz_f
            db[2 * H + k] += dz_o
            db[3 * H + k] += dz_g


@njit(**JIT_OPTIONS)
def lstm_backward_kernel(seq, weights, acts, upstream):
    r"""Hand-derived LSTM BPTT over a whole sequence (equations LB2–LB9).

    Parameters
    ----------
    seq : Sequence
        The forward call's ``x`` (L, B, D), ``s_in`` (B, 2H), ``r`` (2H,), ``reset`` (L,).
    weights : BackwardWeights
        ``W_x`` (4H, D), ``W_h`` (4H, H), peepholes (H,) or (0,), ``W_O`` (O, H).
    acts : Activations
        ``s`` (L, B, 2H), ``gates`` (L, B, 4H), ``tanh_c`` (L, B, H) from the forward pass.
    upstream : Upstream
        ``dy`` (L, B, O) and ``eps`` (B, 2H), the gradient on the last state.

    Returns
    -------
    Grads
        ``dW`` :math:`[\bar W_x, \bar W_h]`, ``db``, ``dp_i``, ``dp_f``, ``dp_o`` (zeros
        without peepholes), ``dx``, ``dh_init`` :math:`\epsilon_0` and ``dr``.

    Notes
    -----
    Steps t = L-1, …, 0, all batch rows at once: the state read (L0),
    :math:`\delta^h_t = \bar y_t W_O + \epsilon^h_{t+1}` (LB2, a block product), the cells and
    gates (LB3–LB6, LB8), then

    .. math::

        \bar{\tilde h}_{t-1} = \bar Z_t W_h, \qquad \bar x_t = \bar Z_t W_x, \qquad
        [\bar W_x, \bar W_h] \mathrel{+}= \bar Z_t^\top [x_t, \tilde h_{t-1}]

    (LB6, LB7), where :math:`\bar Z_t` (B, 4H) holds one row per sequence: two block products
    and two queued outer products, applied as one BLAS product per weight for many steps; and
    the reset's cut (LB9). The readout's own gradients (LB1) are matrix products in the wrapper.
    """
    # the fields the time loop reads, bound once (a field read inside a loop costs a
    # reference-count update each time)
    x, reset = seq.x, seq.reset
    W_x, W_h, W_O = weights.W_x, weights.W_h, weights.W_O
    p_i, p_f, p_o = weights.p_i, weights.p_f, weights.p_o
    s, gates, tanh_c = acts.s, acts.gates, acts.tanh_c
    dy = upstream.dy
    L, B, D = x.shape
    G, H = W_h.shape
    O = W_O.shape[0]
    dtype = seq.s_in.dtype
    dW = np.zeros((G, D + H), dtype=dtype)            # (4H, D + H) [dW_x, dW_h]
    db = np.zeros(G, dtype=dtype)                     # (4H,)
    dp_i = np.zeros(H, dtype=dtype)                   # (H,)
    dp_f = np.zeros(H, dtype=dtype)                   # (H,)
    dp_o = np.zeros(H, dtype=dtype)                   # (H,)
    dr = np.zeros(2 * H, dtype=dtype)                 # (2H,)
    dx = np.zeros((L, B, D), dtype=dtype)             # (L, B, D)
    eps = upstream.eps.copy()                         # (B, 2H) gradient on the state after t
    e_prev = np.empty((B, 2 * H), dtype=dtype)        # (B, 2H) gradient on the state read
    dh = np.empty((B, H), dtype=dtype)                # (B, H) total gradient on h_t
    dz = np.empty((B, G), dtype=dtype)                # (B, 4H) gradient on the pre-activations
    s_r = np.empty((B, 2 * H), dtype=dtype)           # (B, 2H) the reset state r in every row
    for bb in range(B):
        s_r[bb, :] = seq.r
    # (LB7) weight gradients, queued: slot 0 dZ^T x_t into dW[:, :D], slot 1 dZ^T h~ into dW[:, D:]
    weight_rows = new_outer_queue(np.full(2, G, dtype=np.int64), np.array([D, H]),
                                  np.zeros(2, dtype=np.int64), np.array([0, D]), dz)
    for t in range(L - 1, -1, -1):
        # (L0) the state that step t read
        s_prev = _state_read(seq, s_r, s, t)
        # (LB2) total gradient on h_t: from y_t (ybar_t W_O) and from step t+1
        for bb in range(B):
            dh[bb, :] = eps[bb, :H]
        add_block_product(dh, 0, dy[t], 0, W_O, 0, 0, O, H)
        # (LB3-LB6, LB7 bias, LB8) through the cells into the gates and c_{t-1}
        _cell_backward(dz, e_prev, db, dp_i, dp_f, dp_o, dh, eps, gates[t], tanh_c[t], s_prev,
                       s[t], p_i, p_f, p_o)
        # (LB6) into h~_{t-1}: dZ W_h
        add_block_product(e_prev, 0, dz, 0, W_h, 0, 0, G, H)
        # (LB7) input gradient dZ W_x; weight gradients dZ^T x_t and dZ^T h~_{t-1}, queued
        if D > 0:                                     # BLAS rejects a zero-width W_x
            add_block_product(dx[t], 0, dz, 0, W_x, 0, 0, G, D)
        queue_outer(weight_rows, 0, dz, 0, x[t], 0, dW)
        queue_outer(weight_rows, 1, dz, 0, s_prev, 0, dW)
        if reset[t]:
            # (LB9) a reset cuts the path to [h_{t-1}; c_{t-1}]; the replaced state was r
            for bb in range(B):
                dr += e_prev[bb]
                eps[bb, :] = 0.0
        else:
            # (LB9) epsilon_t is the gradient on the state read; the buffers swap roles
            eps, e_prev = e_prev, eps
    drain_all_outer(weight_rows, dW)
    return Grads(dW=dW, db=db, dp_i=dp_i, dp_f=dp_f, dp_o=dp_o, dx=dx, dh_init=eps, dr=dr)
