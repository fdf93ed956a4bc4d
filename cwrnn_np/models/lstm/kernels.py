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
:mod:`cwrnn_np.kernels.config`; its steps are helpers compiled with ``inline="always"``, which
Numba pastes into the kernel before compiling it (no call at run time). The wrappers that
validate, prepare and call the kernels are :func:`cwrnn_np.models.lstm.forward_lstm_numba` and
:func:`cwrnn_np.models.lstm.backward_lstm_numba`.

As in :mod:`cwrnn_np.models.clockwork.kernels`, products are plain loops (``np.dot`` inside
Numba needs SciPy, which is not a dependency), written so that the innermost loop runs over
contiguous memory: the forward pass accumulates the gate pre-activations along the rows of the
transposed weights (``W_xT`` (D, 4H), ``W_hT`` (H, 4H)), one multiply-add per input or state
entry over all 4H gates; the backward pass walks the rows of ``W_x`` and ``W_h`` (4H, ·) once
per gate pre-activation, updating the state, input and weight gradients together. Peepholes
are three (H,) arrays, or three empty arrays when the spec has none, and then the kernels skip
the peephole terms.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ...kernels.config import JIT_OPTIONS
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
    W_O : (O, H), b_O : (O,) the readout.
    """

    W_xT: np.ndarray
    W_hT: np.ndarray
    b: np.ndarray
    p_i: np.ndarray
    p_f: np.ndarray
    p_o: np.ndarray
    W_O: np.ndarray
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
    dW_x : (4H, D), dW_h : (4H, H), db : (4H,) the gate weights' and biases' gradients (LB7).
    dp_i, dp_f, dp_o : (H,) the peepholes' gradients, zeros without peepholes (LB8).
    dx : (L, B, D) the inputs' gradient (LB7).
    dh_init : (B, 2H) :math:`\epsilon_0`, the gradient on the carried-in state (LB9).
    dr : (2H,) the gradient reaching the reset state through resets (LB9).
    """

    dW_x: np.ndarray
    dW_h: np.ndarray
    db: np.ndarray
    dp_i: np.ndarray
    dp_f: np.ndarray
    dp_o: np.ndarray
    dx: np.ndarray
    dh_init: np.ndarray
    dr: np.ndarray


# ----- forward pass -----------------------------------------------------------------------------

@njit(inline="always", **JIT_OPTIONS)
def _gate_preactivations(z, x_t, h_prev, W_xT, W_hT, b):
    r"""``z[:] =`` :math:`b + W_x x_t + W_h \tilde h_{t-1}` (4H,), the affine part of L1–L3
    and L5 for one batch row, accumulated along the rows of ``W_xT`` and ``W_hT``.

    ``x_t`` (D,); ``h_prev`` (≥ H,) whose first H entries are :math:`\tilde h_{t-1}`.
    """
    G = z.shape[0]
    for q in range(G):
        z[q] = b[q]
    for d in range(x_t.shape[0]):
        x_d = x_t[d]
        W_xT_d = W_xT[d]
        for q in range(G):
            z[q] += x_d * W_xT_d[q]
    for k in range(W_hT.shape[0]):
        h_k = h_prev[k]
        W_hT_k = W_hT[k]
        for q in range(G):
            z[q] += h_k * W_hT_k[q]


@njit(inline="always", **JIT_OPTIONS)
def _cell_step(s_t, gates_t, tanh_c_t, z, s_prev, p_i, p_f, p_o):
    r"""The gates, cell and state of one batch row from its pre-activations ``z`` (L1–L6).

    ``s_prev`` (2H,) is :math:`[\tilde h_{t-1}; \tilde c_{t-1}]`; writes ``s_t`` (2H,)
    :math:`[h_t; c_t]`, ``gates_t`` (4H,) :math:`[i_t; f_t; o_t; g_t]` and ``tanh_c_t`` (H,).
    The peephole terms are skipped when ``p_i`` is empty.
    """
    H = tanh_c_t.shape[0]
    peep = p_i.shape[0] > 0
    for k in range(H):
        c_prev = s_prev[H + k]
        z_i = z[k]
        z_f = z[H + k]
        z_o = z[2 * H + k]
        if peep:
            z_i += p_i[k] * c_prev
            z_f += p_f[k] * c_prev
        i = sigmoid_scalar(z_i)                       # (L1)
        f = sigmoid_scalar(z_f)                       # (L2)
        g = math.tanh(z[3 * H + k])                   # (L3)
        c = f * c_prev + i * g                        # (L4)
        if peep:
            z_o += p_o[k] * c                         # the output gate's peephole reads c_t
        o = sigmoid_scalar(z_o)                       # (L5)
        tc = math.tanh(c)
        s_t[k] = o * tc                               # (L6)
        s_t[H + k] = c
        gates_t[k] = i
        gates_t[H + k] = f
        gates_t[2 * H + k] = o
        gates_t[3 * H + k] = g
        tanh_c_t[k] = tc


@njit(inline="always", **JIT_OPTIONS)
def _readout(y_t, h_t, W_O, b_O):
    r"""``y_t[:] =`` :math:`W_O h_t + b_O` (O,) for one batch row (L7); ``h_t`` (≥ H,). The
    output index is m: o is the output gate."""
    for m in range(W_O.shape[0]):
        acc = 0.0
        W_O_m = W_O[m]
        for k in range(W_O.shape[1]):
            acc += h_t[k] * W_O_m[k]
        y_t[m] = acc + b_O[m]


@njit(**JIT_OPTIONS)
def lstm_forward_kernel(seq, weights):
    r"""LSTM forward pass over a whole sequence (equations L0–L7).

    Parameters
    ----------
    seq : Sequence
        ``x`` (L, B, D), ``s_in`` (B, 2H), ``r`` (2H,), ``reset`` (L,) bool.
    weights : ForwardWeights
        ``W_xT`` (D, 4H), ``W_hT`` (H, 4H), ``b`` (4H,), peepholes (H,) or (0,), ``W_O``
        (O, H), ``b_O`` (O,).

    Returns
    -------
    ForwardResult
        ``s`` (L, B, 2H) :math:`[h_t; c_t]`, ``gates`` (L, B, 4H) :math:`[i_t; f_t; o_t; g_t]`,
        ``tanh_c`` (L, B, H) :math:`\tanh(c_t)`, ``y`` (L, B, O).

    Notes
    -----
    Per step and batch row: the entering state (L0); the pre-activations
    :math:`z = b + W_x x_t + W_h \tilde h_{t-1}` (4H,), along the rows of the transposed
    weights so that the innermost loop runs over contiguous memory; then per cell the gates
    (L1–L3, L5, with peepholes), the cell (L4) and the state (L6); then the readout (L7).
    An LSTM has no clock, so every cell is computed at every step.
    """
    # the fields the loops read, bound once to local names
    x = seq.x
    r = seq.r
    reset = seq.reset
    W_xT = weights.W_xT
    W_hT = weights.W_hT
    b = weights.b
    p_i = weights.p_i
    p_f = weights.p_f
    p_o = weights.p_o
    W_O = weights.W_O
    b_O = weights.b_O
    L, B, D = x.shape
    H = W_hT.shape[0]
    G = 4 * H
    O = W_O.shape[0]
    dtype = seq.s_in.dtype
    s = np.empty((L, B, 2 * H), dtype=dtype)          # (L, B, 2H)
    gates = np.empty((L, B, G), dtype=dtype)          # (L, B, 4H)
    tanh_c = np.empty((L, B, H), dtype=dtype)         # (L, B, H)
    y = np.empty((L, B, O), dtype=dtype)              # (L, B, O)
    s_prev = seq.s_in.copy()                          # (B, 2H) the state entering step t
    z = np.empty(G, dtype=dtype)                      # (4H,) pre-activations of one row
    for t in range(L):
        for bb in range(B):
            s_prev_b = s_prev[bb]                     # (2H,) view
            if reset[t]:
                # (L0) forget: the state entering step t is r
                for q in range(2 * H):
                    s_prev_b[q] = r[q]
            # pre-activations z = b + W_x x_t + W_h h~_{t-1} (L1-L3, L5)
            _gate_preactivations(z, x[t, bb], s_prev_b, W_xT, W_hT, b)
            # gates (L1-L3, L5), cell (L4) and state (L6)
            s_t = s[t, bb]                            # (2H,) view
            _cell_step(s_t, gates[t, bb], tanh_c[t, bb], z, s_prev_b, p_i, p_f, p_o)
            # readout (L7)
            _readout(y[t, bb], s_t, W_O, b_O)
            for q in range(2 * H):
                s_prev_b[q] = s_t[q]
    return ForwardResult(s=s, gates=gates, tanh_c=tanh_c, y=y)


# ----- backward pass ----------------------------------------------------------------------------

@njit(inline="always", **JIT_OPTIONS)
def _state_read(s_prev, seq, s, t, bb):
    r"""``s_prev[:] =`` :math:`[\tilde h_{t-1}; \tilde c_{t-1}]` (2H,), the state that step t of
    batch row ``bb`` read (L0): r after a reset, else the previous state (``s_in`` at t = 0)."""
    if seq.reset[t]:
        for q in range(s_prev.shape[0]):
            s_prev[q] = seq.r[q]
    elif t == 0:
        for q in range(s_prev.shape[0]):
            s_prev[q] = seq.s_in[bb, q]
    else:
        for q in range(s_prev.shape[0]):
            s_prev[q] = s[t - 1, bb, q]


@njit(inline="always", **JIT_OPTIONS)
def _total_dh(dh, dy_t, W_O, eps_b):
    r"""``dh[:] =`` :math:`\delta^h_t = W_O^\top \bar y_t + \epsilon^h_{t+1}` (H,) for one batch
    row (LB2); ``dy_t`` (O,), ``eps_b`` (2H,) whose first H entries are :math:`\epsilon^h`."""
    H = dh.shape[0]
    for k in range(H):
        dh[k] = 0.0
    for m in range(W_O.shape[0]):
        dy_m = dy_t[m]
        W_O_m = W_O[m]
        for k in range(H):
            dh[k] += dy_m * W_O_m[k]
    for k in range(H):
        dh[k] += eps_b[k]


@njit(inline="always", **JIT_OPTIONS)
def _cell_backward(dz, e_prev, dp_i, dp_f, dp_o, dh, eps_b, gates_t, tanh_c_t, s_prev, s_t,
                   p_i, p_f, p_o):
    r"""Back through the cell of one batch row (LB3–LB6, LB8), gate by gate.

    Reads :math:`\delta^h_t` ``dh`` (H,), :math:`\epsilon_{t+1}` ``eps_b`` (2H,), the row's
    ``gates_t`` (4H,), ``tanh_c_t`` (H,), the state read ``s_prev`` (2H,) and the new state
    ``s_t`` (2H,). Writes :math:`\bar z_t` into ``dz`` (4H,), :math:`\bar{\tilde c}_{t-1}` into
    ``e_prev[H:]`` and zeros into ``e_prev[:H]`` (the :math:`W_h^\top \bar z_t` of LB6 is added
    later, by :func:`_affine_backward`), and adds the peephole gradients (LB8) unless the
    peepholes are empty.
    """
    H = dh.shape[0]
    peep = p_i.shape[0] > 0
    for k in range(H):
        i = gates_t[k]
        f = gates_t[H + k]
        o = gates_t[2 * H + k]
        g = gates_t[3 * H + k]
        tc = tanh_c_t[k]
        c_prev = s_prev[H + k]
        # backprop through h_t = o tanh(c_t) into the output gate's sigmoid (LB3)
        dz_o = dh[k] * tc * o * (1 - o)
        # total gradient on c_t: from step t+1, through tanh(c_t), through o's peephole (LB4)
        dc = eps_b[H + k] + dh[k] * o * (1 - tc * tc)
        if peep:
            dc += p_o[k] * dz_o
        # backprop through c_t = f c_{t-1} + i g into the gates' nonlinearities (LB5)
        dz_i = dc * g * i * (1 - i)
        dz_f = dc * c_prev * f * (1 - f)
        dz[k] = dz_i
        dz[H + k] = dz_f
        dz[2 * H + k] = dz_o
        dz[3 * H + k] = dc * i * (1 - g * g)
        # into c_{t-1}: the forget gate and the peepholes (LB6)
        dc_prev = dc * f
        if peep:
            dc_prev += p_i[k] * dz_i + p_f[k] * dz_f
            # peephole gradients: i and f read c_{t-1}, o reads c_t (LB8)
            dp_i[k] += dz_i * c_prev
            dp_f[k] += dz_f * c_prev
            dp_o[k] += dz_o * s_t[H + k]
        e_prev[H + k] = dc_prev
        e_prev[k] = 0.0


@njit(inline="always", **JIT_OPTIONS)
def _affine_backward(e_prev, dx_t, dW_x, dW_h, db, dz, x_t, s_prev, W_x, W_h):
    r"""Back through :math:`z_t = W_x x_t + W_h \tilde h_{t-1} + b` for one batch row, one
    gate pre-activation (one row of ``W_x``, ``W_h``) at a time.

    Adds :math:`W_h^\top \bar z_t` to ``e_prev[:H]`` (LB6), :math:`W_x^\top \bar z_t` to
    ``dx_t`` (D,), and :math:`\bar z_t x_t^\top`, :math:`\bar z_t \tilde h_{t-1}^\top`,
    :math:`\bar z_t` to ``dW_x``, ``dW_h``, ``db`` (LB7).
    """
    H = W_h.shape[1]
    D = W_x.shape[1]
    for q in range(dz.shape[0]):
        dz_q = dz[q]
        db[q] += dz_q
        W_h_q = W_h[q]
        dW_h_q = dW_h[q]
        for k in range(H):
            e_prev[k] += dz_q * W_h_q[k]
            dW_h_q[k] += dz_q * s_prev[k]
        W_x_q = W_x[q]
        dW_x_q = dW_x[q]
        for d in range(D):
            dx_t[d] += dz_q * W_x_q[d]
            dW_x_q[d] += dz_q * x_t[d]


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
        ``dW_x``, ``dW_h``, ``db``, ``dp_i``, ``dp_f``, ``dp_o`` (zeros without peepholes),
        ``dx``, ``dh_init`` :math:`\epsilon_0` and ``dr``.

    Notes
    -----
    Steps t = L-1, …, 0, each batch row on its own: the state read (L0), :math:`\delta^h_t`
    (LB2), the cell and gates (LB3–LB6, LB8), then one pass over the 4H rows of the weights for
    the state, input and weight gradients (LB6, LB7), and the reset's cut (LB9). The readout's
    own gradients (LB1) are matrix products in the wrapper.
    """
    # the fields the loops read, bound once to local names
    x = seq.x
    reset = seq.reset
    W_x = weights.W_x
    W_h = weights.W_h
    W_O = weights.W_O
    p_i = weights.p_i
    p_f = weights.p_f
    p_o = weights.p_o
    s = acts.s
    gates = acts.gates
    tanh_c = acts.tanh_c
    dy = upstream.dy
    L, B, D = x.shape
    H = W_h.shape[1]
    G = 4 * H
    dtype = seq.s_in.dtype
    dW_x = np.zeros((G, D), dtype=dtype)              # (4H, D)
    dW_h = np.zeros((G, H), dtype=dtype)              # (4H, H)
    db = np.zeros(G, dtype=dtype)                     # (4H,)
    dp_i = np.zeros(H, dtype=dtype)                   # (H,)
    dp_f = np.zeros(H, dtype=dtype)                   # (H,)
    dp_o = np.zeros(H, dtype=dtype)                   # (H,)
    dr = np.zeros(2 * H, dtype=dtype)                 # (2H,)
    dx = np.zeros((L, B, D), dtype=dtype)             # (L, B, D)
    eps = upstream.eps.copy()                         # (B, 2H) gradient on the state after t
    s_prev = np.empty(2 * H, dtype=dtype)             # (2H,) the state entering step t
    dh = np.empty(H, dtype=dtype)                     # (H,) total gradient on h_t
    dz = np.empty(G, dtype=dtype)                     # (4H,) gradient on the pre-activations
    e_prev = np.empty(2 * H, dtype=dtype)             # (2H,) gradient on the state read
    for t in range(L - 1, -1, -1):
        for bb in range(B):
            # the state that step t read (L0)
            _state_read(s_prev, seq, s, t, bb)
            # total gradient on h_t: from y_t (W_O^T ybar_t) and from step t+1 (LB2)
            eps_b = eps[bb]                           # (2H,) view
            _total_dh(dh, dy[t, bb], W_O, eps_b)
            # through the cell into the gates and c_{t-1}; peephole gradients (LB3-LB6, LB8)
            _cell_backward(dz, e_prev, dp_i, dp_f, dp_o, dh, eps_b, gates[t, bb], tanh_c[t, bb],
                           s_prev, s[t, bb], p_i, p_f, p_o)
            # into h_{t-1} (LB6) and the weight, bias, input gradients (LB7), row by row of dz
            _affine_backward(e_prev, dx[t, bb], dW_x, dW_h, db, dz, x[t, bb], s_prev, W_x, W_h)
            # a reset cuts the path to [h_{t-1}; c_{t-1}]; the replaced state was r (LB9)
            if reset[t]:
                for q in range(2 * H):
                    dr[q] += e_prev[q]
                    eps_b[q] = 0.0
            else:
                for q in range(2 * H):
                    eps_b[q] = e_prev[q]
    return Grads(dW_x=dW_x, dW_h=dW_h, db=db, dp_i=dp_i, dp_f=dp_f, dp_o=dp_o, dx=dx,
                 dh_init=eps, dr=dr)
