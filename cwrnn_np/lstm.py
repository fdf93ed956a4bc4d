r"""The LSTM baseline: spec, parameters, NumPy reference, Numba backend and gradient audit.

The comparison model of Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §4:
an LSTM layer with a linear readout, its forget-gate bias initialised to 5 (the paper's value;
:attr:`LSTMSpec.forget_bias`), with optional peephole connections (Gers, Schraudolph and
Schmidhuber, "Learning precise timing with LSTM recurrent networks", JMLR 2002). Every line of
:func:`forward_lstm_numpy` follows ``docs/lstm.md`` (forward, equations L0–L7) and every line of
:func:`backward_lstm_numpy` its derivation (LB1–LB10); the equation tags in the comments name
them.

The carried state is one array :math:`s_t = [h_t; c_t]` of width 2H, so the LSTM has the API of
the CW-RNN (:func:`cwrnn_np.forward`, :func:`cwrnn_np.backward`): ``h_init`` (B, 2H), resets,
chunked runs through ``cache.h_last``, ``grads["h_init"]`` (B, 2H) and ``dh_last`` (B, 2H).
``t0`` is accepted and ignored: an LSTM has no clock.

Shape letters: L time, B batch, D input, H hidden (cells), O output; 4H is the four gate blocks
in the order [i, f, o, g] (input, forget, output, cell candidate), 2H the state [h; c].

Tiers: :func:`forward_lstm_numpy` / :func:`backward_lstm_numpy` are the readable reference;
:func:`forward_lstm_numba` / :func:`backward_lstm_numba` prepare arrays and call the kernels of
:mod:`cwrnn_np.kernels.lstm` once per sequence; :func:`forward_lstm` / :func:`backward_lstm`
validate and dispatch through :data:`LSTM_BACKENDS`. :func:`gradcheck_lstm` audits either backend
against float64 finite differences, exactly as :func:`cwrnn_np.gradcheck` does the CW-RNN.
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import NamedTuple

import numpy as np

from .gradcheck import GradcheckReport, audit
from .model import validate_backward_call, validate_call
from .params import FLOAT_DTYPES, validate_params

__all__ = ["LSTMSpec", "LSTMCache", "init_lstm_params", "validate_lstm_params",
           "validate_lstm_inputs", "forward_lstm_numpy", "backward_lstm_numpy",
           "forward_lstm_numba", "backward_lstm_numba", "forward_lstm", "backward_lstm",
           "LSTM_BACKENDS", "gradcheck_lstm", "sigmoid"]

def _check_int(value, field, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{field} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{field} must be >= {minimum}, got {value!r}")
    return int(value)


def _check_bool(value, field):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field} must be a bool, got {value!r}")
    return bool(value)


@dataclasses.dataclass(frozen=True)
class LSTMSpec:
    r"""The architecture of an LSTM layer with a linear readout (no parameters).

    Parameters
    ----------
    input_size : int
        D >= 0, the width of :math:`x_t` (0: no input, the paper's generation task).
    output_size : int
        O >= 1, the width of :math:`y_t`.
    hidden_size : int
        H >= 1, the number of cells; the carried state :math:`[h; c]` has width 2H.
    peepholes : bool
        Gers et al.'s peephole weights :math:`p_i, p_f, p_o` (H,) from the cell to the gates.
    forget_bias : float
        The initial value of the forget-gate bias :math:`b_f` (the paper used 5, so that the
        cells remember by default at the start of training). Only :func:`init_lstm_params`
        reads it.
    learn_h0 : bool
        If true, the initial/reset state :math:`r = h_0` (2H,) is a parameter; otherwise
        :math:`r = 0`.
    """

    # D >= 0: width of the input x_t
    input_size: int
    # O >= 1: width of the output y_t
    output_size: int
    # H >= 1: number of LSTM cells
    hidden_size: int
    # peephole connections from c to the gates (Gers et al. 2002)
    peepholes: bool = False
    # initial value of the forget-gate bias b_f (Koutník et al. 2014 used 5)
    forget_bias: float = 5.0
    # learn the initial/reset state h_0 = [h; c] (2H,)
    learn_h0: bool = False

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "input_size", _check_int(self.input_size, "input_size", 0))
        set_(self, "output_size", _check_int(self.output_size, "output_size", 1))
        set_(self, "hidden_size", _check_int(self.hidden_size, "hidden_size", 1))
        set_(self, "peepholes", _check_bool(self.peepholes, "peepholes"))
        set_(self, "learn_h0", _check_bool(self.learn_h0, "learn_h0"))
        fb = self.forget_bias
        if (isinstance(fb, (bool, np.bool_)) or not isinstance(fb, numbers.Real)
                or not np.isfinite(fb)):
            raise ValueError(f"forget_bias must be a finite number, got {fb!r}")
        set_(self, "forget_bias", float(fb))

    @property
    def state_size(self) -> int:
        """2H, the width of the carried state :math:`[h; c]`."""
        return 2 * self.hidden_size

    def param_shapes(self) -> dict:
        """Parameter shapes by name (gate blocks of ``W_x``, ``W_h``, ``b`` in order i, f, o, g)."""
        H, D, O = self.hidden_size, self.input_size, self.output_size
        shapes = {"W_x": (4 * H, D), "W_h": (4 * H, H), "b": (4 * H,)}
        if self.peepholes:
            shapes.update(p_i=(H,), p_f=(H,), p_o=(H,))
        shapes.update(W_O=(O, H), b_O=(O,))
        if self.learn_h0:
            shapes["h_0"] = (2 * H,)
        return shapes

    def param_masks(self) -> dict:
        """Structural masks by parameter name: all None (an LSTM has no structural zeros)."""
        return {name: None for name in self.param_shapes()}

    def n_params(self) -> int:
        r""":math:`4H(D + H) + 4H + 3H\,[\text{peepholes}] + O(H + 1) + 2H\,[\text{learn\_h0}]`."""
        return sum(int(np.prod(shape)) for shape in self.param_shapes().values())

    def to_dict(self) -> dict:
        """A JSON-friendly dict; ``LSTMSpec(**d)`` rebuilds an equal spec."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "LSTMSpec":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


# ----- parameters -----------------------------------------------------------------------------

def init_lstm_params(spec: LSTMSpec, rng: np.random.Generator, dtype=np.float64,
                     scale: float = 1.0) -> dict:
    r"""Random parameters for ``spec``.

    Parameters
    ----------
    spec : LSTMSpec
    rng : numpy.random.Generator
        Source of randomness (``np.random.default_rng(seed)``); nothing global is used.
    dtype : float64 (default) or float32
    scale : float
        Multiplies every weight's standard deviation.

    Returns
    -------
    dict
        ``W_x`` (4H, D), ``W_h`` (4H, H), ``b`` (4H,), ``p_i``, ``p_f``, ``p_o`` (H,) if
        ``spec.peepholes``, ``W_O`` (O, H), ``b_O`` (O,), ``h_0`` (2H,) if ``spec.learn_h0``.

    Notes
    -----
    As :func:`cwrnn_np.init_params`: each weight entry is drawn from
    :math:`\mathcal N(0, s^2 / f)` with f the fan-in of its matrix's rows (D for ``W_x``, H for
    ``W_h`` and ``W_O``) and s = ``scale``. Biases are zero except the forget-gate block
    :math:`b_f` = ``spec.forget_bias``; peepholes and :math:`h_0` start at zero.
    """
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float64 or float32, got {dtype}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    H, D, O = spec.hidden_size, spec.input_size, spec.output_size

    def normal(rows, cols):
        return (rng.standard_normal((rows, cols)) * (scale / np.sqrt(max(cols, 1)))).astype(dtype)

    b = np.zeros(4 * H, dtype)
    b[H:2 * H] = spec.forget_bias                                  # forget-gate block b_f
    params = {"W_x": normal(4 * H, D), "W_h": normal(4 * H, H), "b": b}
    if spec.peepholes:
        params.update(p_i=np.zeros(H, dtype), p_f=np.zeros(H, dtype), p_o=np.zeros(H, dtype))
    params.update(W_O=normal(O, H), b_O=np.zeros(O, dtype))
    if spec.learn_h0:
        params["h_0"] = np.zeros(2 * H, dtype)
    return params


def validate_lstm_params(params, spec: LSTMSpec) -> np.dtype:
    """Check names, shapes and dtypes of ``params`` against ``spec``; return the common dtype
    (:func:`cwrnn_np.params.validate_params`, after checking that ``spec`` is an LSTMSpec)."""
    if not isinstance(spec, LSTMSpec):
        raise ValueError(f"spec must be an LSTMSpec, got {type(spec).__name__}")
    return validate_params(params, spec)


def validate_lstm_inputs(params, spec: LSTMSpec, x, h_init=None, t0=0, resets=None):
    """Validate a forward call; return ``(dtype, reset flags)`` (the state is (B, 2H))."""
    if not isinstance(spec, LSTMSpec):
        raise ValueError(f"spec must be an LSTMSpec, got {type(spec).__name__}")
    return validate_call(params, spec, x, h_init, t0, resets, state_size=spec.state_size)


# ----- the NumPy reference --------------------------------------------------------------------

class LSTMCache(NamedTuple):
    r"""What the LSTM backward pass needs from the forward pass (named, never unpacked by position).

    Attributes
    ----------
    x : (L, B, D) the inputs.
    h_init : (B, 2H) the carried-in state :math:`s_{-1} = [h_{-1}; c_{-1}]` actually used.
    r : (2H,) the reset state (:math:`h_0` if learned, else zeros).
    h : (L, B, 2H) the states :math:`s_t = [h_t; c_t]`.
    gates : (L, B, 4H) the gate activations :math:`[i_t; f_t; o_t; g_t]` (after σ and tanh).
    tanh_c : (L, B, H) :math:`\tanh(c_t)`.
    reset : (L,) bool, ``reset[s]``: the state entering step s was replaced by r.
    t0 : the call's t0 (unused: an LSTM has no clock; kept for the CW-RNN's API).
    h_init_given : whether the caller passed ``h_init`` (else it was r, and its gradient flows
        into :math:`h_0` when learned).
    backend : the backend that made the cache.
    """

    x: np.ndarray
    h_init: np.ndarray
    r: np.ndarray
    h: np.ndarray
    gates: np.ndarray
    tanh_c: np.ndarray
    reset: np.ndarray
    t0: int
    h_init_given: bool
    backend: str

    @property
    def h_last(self) -> np.ndarray:
        """(B, 2H) the last state :math:`[h_{L-1}; c_{L-1}]`: pass it as ``h_init`` to the
        next chunk."""
        return self.h[-1]


def sigmoid(z: np.ndarray) -> np.ndarray:
    r"""The logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`, without overflow.

    With :math:`e = e^{-|z|} \le 1`: :math:`\sigma(z) = 1/(1 + e)` for :math:`z \ge 0` and
    :math:`e/(1 + e)` for :math:`z < 0` (the kernels use the same form, element by element).
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def reset_state(params: dict, spec: LSTMSpec, dtype) -> np.ndarray:
    """r (2H,): the learned :math:`h_0` if ``spec.learn_h0``, else zeros (eq. L0)."""
    if spec.learn_h0:
        return params["h_0"]
    return np.zeros(spec.state_size, dtype)


def forward_lstm_numpy(params: dict, spec: LSTMSpec, x: np.ndarray, h_init, t0: int,
                       reset: np.ndarray):
    r"""LSTM forward pass over one sequence (chunk), the readable reference.

    Parameters
    ----------
    params : dict of arrays (see :func:`init_lstm_params`)
    spec : LSTMSpec
    x : (L, B, D) inputs
    h_init : (B, 2H) carried-in state :math:`[h_{-1}; c_{-1}]`, or None for r
    t0 : int, ignored (no clock)
    reset : (L,) bool; ``reset[s]`` replaces the state entering step s by r

    Returns
    -------
    y : (L, B, O) outputs
    cache : LSTMCache

    Notes
    -----
    .. math::

        [\tilde h_{t-1}; \tilde c_{t-1}] &= r \text{ if } s_t \text{ else } [h_{t-1}; c_{t-1}]
            && (L0) \\
        i_t &= \sigma(W_x^i x_t + W_h^i \tilde h_{t-1} + p_i \odot \tilde c_{t-1} + b_i) && (L1) \\
        f_t &= \sigma(W_x^f x_t + W_h^f \tilde h_{t-1} + p_f \odot \tilde c_{t-1} + b_f) && (L2) \\
        g_t &= \tanh(W_x^g x_t + W_h^g \tilde h_{t-1} + b_g)                        && (L3) \\
        c_t &= f_t \odot \tilde c_{t-1} + i_t \odot g_t                              && (L4) \\
        o_t &= \sigma(W_x^o x_t + W_h^o \tilde h_{t-1} + p_o \odot c_t + b_o)        && (L5) \\
        h_t &= o_t \odot \tanh(c_t)                                                  && (L6) \\
        y_t &= W_O h_t + b_O                                                         && (L7)

    where :math:`W^k_x, W^k_h, b_k` are the gate-k blocks (rows kH..(k+1)H) of ``W_x``, ``W_h``,
    ``b`` in the order i, f, o, g; :math:`p_\cdot = 0` without peepholes; :math:`s_t` is the
    reset flag, r the reset state and :math:`[h_{-1}; c_{-1}]` = ``h_init`` (default r). The
    output gate's peephole reads the new cell :math:`c_t`, as in Gers et al.
    """
    L, B, _ = x.shape
    H = spec.hidden_size
    dtype = params["W_h"].dtype
    W_x, W_h, b = params["W_x"], params["W_h"], params["b"]
    r = reset_state(params, spec, dtype)                           # (L0) (2H,)
    s_in = np.broadcast_to(r, (B, 2 * H)) if h_init is None else h_init  # (B, 2H)
    s = np.empty((L, B, 2 * H), dtype)                             # (L, B, 2H) [h; c]
    gates = np.empty((L, B, 4 * H), dtype)                         # (L, B, 4H) [i; f; o; g]
    tanh_c = np.empty((L, B, H), dtype)                            # (L, B, H)
    s_prev = s_in
    for t in range(L):
        if reset[t]:
            s_prev = np.broadcast_to(r, s_prev.shape)              # (L0) forget
        h_prev, c_prev = s_prev[:, :H], s_prev[:, H:]              # (B, H) each
        z = x[t] @ W_x.T + h_prev @ W_h.T + b                      # (B, 4H) pre-activations
        z_i, z_f, z_o, z_g = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        if spec.peepholes:
            z_i = z_i + params["p_i"] * c_prev
            z_f = z_f + params["p_f"] * c_prev
        i = sigmoid(z_i)                                           # (L1)
        f = sigmoid(z_f)                                           # (L2)
        g = np.tanh(z_g)                                           # (L3)
        c = f * c_prev + i * g                                     # (L4)
        if spec.peepholes:
            z_o = z_o + params["p_o"] * c                          # peephole on the new cell
        o = sigmoid(z_o)                                           # (L5)
        tc = np.tanh(c)
        s[t, :, :H] = o * tc                                       # (L6)
        s[t, :, H:] = c
        gates[t] = np.concatenate([i, f, o, g], axis=1)            # (B, 4H)
        tanh_c[t] = tc
        s_prev = s[t]
    y = s[:, :, :H] @ params["W_O"].T + params["b_O"]              # (L7) (L, B, O)
    cache = LSTMCache(x=x, h_init=np.array(s_in), r=r, h=s, gates=gates, tanh_c=tanh_c,
                      reset=reset, t0=t0, h_init_given=h_init is not None, backend="numpy")
    return y, cache


def backward_lstm_numpy(params: dict, spec: LSTMSpec, dy: np.ndarray, cache: LSTMCache,
                        dh_last=None) -> dict:
    r"""Hand-derived BPTT for :func:`forward_lstm_numpy` (``docs/lstm.md``, LB1–LB10).

    Parameters
    ----------
    params, spec : as for the forward pass
    dy : (L, B, O) upstream gradient :math:`\partial \ell / \partial y_t`
    cache : LSTMCache from either backend's forward pass
    dh_last : (B, 2H) or None, upstream gradient on the last state :math:`[h_{L-1}; c_{L-1}]`

    Returns
    -------
    grads : dict with the keys of ``params`` plus ``"x"`` (L, B, D) and ``"h_init"`` (B, 2H)

    Notes
    -----
    With :math:`\delta^h_t, \delta^c_t` the total gradients on :math:`h_t, c_t` and
    :math:`\bar z^k_t` those on the gate pre-activations:

    .. math::

        \delta^h_t &= W_O^\top \bar y_t + \epsilon^h_{t+1}                          && (LB2) \\
        \bar z^o_t &= \delta^h_t \odot \tanh(c_t) \odot o_t (1 - o_t)                && (LB3) \\
        \delta^c_t &= \epsilon^c_{t+1} + \delta^h_t \odot o_t \odot (1 - \tanh^2 c_t)
            + p_o \odot \bar z^o_t                                                   && (LB4) \\
        \bar z^i_t &= \delta^c_t \odot g_t \odot i_t (1 - i_t), \quad
        \bar z^f_t = \delta^c_t \odot \tilde c_{t-1} \odot f_t (1 - f_t), \quad
        \bar z^g_t = \delta^c_t \odot i_t \odot (1 - g_t^2)                          && (LB5) \\
        \bar{\tilde h}_{t-1} &= W_h^\top \bar z_t, \quad
        \bar{\tilde c}_{t-1} = f_t \odot \delta^c_t + p_i \odot \bar z^i_t
            + p_f \odot \bar z^f_t                                                   && (LB6) \\
        \epsilon_t &= 0 \text{ if } s_t \text{ else } [\bar{\tilde h}_{t-1}; \bar{\tilde c}_{t-1}]
            && (LB9)

    and the weight, bias, input and peephole gradients are sums over t (LB7, LB8).
    :math:`\bar y_t` is ``dy[t]``, :math:`\bar z_t = [\bar z^i; \bar z^f; \bar z^o; \bar z^g]`,
    :math:`\epsilon_{L} = ` ``dh_last``.
    """
    x, s, gates, tanh_c, reset = cache.x, cache.h, cache.gates, cache.tanh_c, cache.reset
    L, B, _ = x.shape
    H = spec.hidden_size
    W_x, W_h, W_O = params["W_x"], params["W_h"], params["W_O"]
    dtype = W_h.dtype
    zeros_H = np.zeros(H, dtype)
    p_i = params["p_i"] if spec.peepholes else zeros_H
    p_f = params["p_f"] if spec.peepholes else zeros_H
    p_o = params["p_o"] if spec.peepholes else zeros_H
    h = s[:, :, :H]                                                 # (L, B, H)
    # output layer (LB1): y_t = W_O h_t + b_O
    dW_O = np.einsum("lbo,lbh->oh", dy, h)                          # (O, H)
    db_O = dy.sum(axis=(0, 1))                                      # (O,)
    dh_out = dy @ W_O                                               # (L, B, H)
    dW_x = np.zeros_like(W_x)
    dW_h = np.zeros_like(W_h)
    db = np.zeros(4 * H, dtype)
    dp_i, dp_f, dp_o = (np.zeros(H, dtype) for _ in range(3))
    dr = np.zeros(2 * H, dtype)
    dx = np.zeros_like(x)
    eps = np.zeros((B, 2 * H), dtype) if dh_last is None else np.array(dh_last, dtype)
    for t in range(L - 1, -1, -1):
        s_prev = cache.r if reset[t] else (cache.h_init if t == 0 else s[t - 1])
        s_prev = np.broadcast_to(s_prev, (B, 2 * H))                # (B, 2H)
        h_prev, c_prev = s_prev[:, :H], s_prev[:, H:]               # (B, H) each
        i, f = gates[t, :, :H], gates[t, :, H:2 * H]                # (B, H) each
        o, g = gates[t, :, 2 * H:3 * H], gates[t, :, 3 * H:]
        tc = tanh_c[t]                                              # (B, H)
        # total gradient on h_t: from y_t and from step t+1 (LB2)
        dh = dh_out[t] + eps[:, :H]                                 # (B, H)
        # backprop through h_t = o_t tanh(c_t) into the output gate's sigmoid (LB3)
        dz_o = dh * tc * o * (1 - o)                                # (B, H)
        # total gradient on c_t: from step t+1, through tanh(c_t), through o's peephole (LB4)
        dc = eps[:, H:] + dh * o * (1 - tc * tc) + p_o * dz_o       # (B, H)
        # backprop through c_t = f c_{t-1} + i g into the gates' nonlinearities (LB5)
        dz_i = dc * g * i * (1 - i)                                 # (B, H)
        dz_f = dc * c_prev * f * (1 - f)                            # (B, H)
        dz_g = dc * i * (1 - g * g)                                 # (B, H)
        dz = np.concatenate([dz_i, dz_f, dz_o, dz_g], axis=1)       # (B, 4H)
        # into the state that step t read: W_h to h, the forget gate and peepholes to c (LB6)
        dh_prev = dz @ W_h                                          # (B, H)
        dc_prev = dc * f + p_i * dz_i + p_f * dz_f                  # (B, H)
        # weight, bias and input gradients accumulate over steps (LB7)
        dW_x += dz.T @ x[t]                                         # (4H, D)
        dW_h += dz.T @ h_prev                                       # (4H, H)
        db += dz.sum(axis=0)                                        # (4H,)
        dx[t] = dz @ W_x                                            # (B, D)
        # peephole gradients: i and f read c_{t-1}, o reads c_t (LB8)
        dp_i += (dz_i * c_prev).sum(axis=0)                         # (H,)
        dp_f += (dz_f * c_prev).sum(axis=0)                         # (H,)
        dp_o += (dz_o * s[t, :, H:]).sum(axis=0)                    # (H,)
        # a reset cuts the path to s_{t-1}; the replaced state was r (LB9)
        eps_prev = np.concatenate([dh_prev, dc_prev], axis=1)       # (B, 2H)
        if reset[t]:
            dr += eps_prev.sum(axis=0)
            eps = np.zeros_like(eps)
        else:
            eps = eps_prev
    dh_init = eps                                                   # (B, 2H)
    grads = {"W_x": dW_x, "W_h": dW_h, "b": db}
    if spec.peepholes:
        grads.update(p_i=dp_i, p_f=dp_f, p_o=dp_o)
    grads.update(W_O=dW_O, b_O=db_O, x=dx, h_init=dh_init)
    if spec.learn_h0:
        # h_0 is the reset state, and also the initial state when no h_init was passed (LB10)
        grads["h_0"] = dr + (0 if cache.h_init_given else dh_init.sum(axis=0))
    return grads


# ----- the Numba backend ----------------------------------------------------------------------

def _kernels():
    """The compiled kernels, imported on first use so that ``import cwrnn_np`` stays light."""
    from .kernels import lstm
    return lstm


def _c(a: np.ndarray, dtype=None) -> np.ndarray:
    """``a`` as a C-contiguous, aligned, writeable array (a copy only if needed)."""
    return np.require(a, dtype=dtype, requirements=("C", "A", "W"))


def _peepholes(params: dict, spec: LSTMSpec, dtype):
    """(p_i, p_f, p_o), each (H,), or three empty arrays without peepholes (the kernels skip
    the peephole terms when they are empty)."""
    if spec.peepholes:
        return tuple(_c(params[k]) for k in ("p_i", "p_f", "p_o"))
    return tuple(np.empty(0, dtype) for _ in range(3))


def forward_lstm_numba(params: dict, spec: LSTMSpec, x: np.ndarray, h_init, t0: int,
                       reset: np.ndarray):
    r"""LSTM forward pass in one Numba call; wraps
    :func:`cwrnn_np.kernels.lstm.lstm_forward_kernel`.

    Same parameters, returns and equations (L0–L7) as :func:`forward_lstm_numpy`; the cache
    has ``backend="numba"``.
    """
    L, B, _ = x.shape
    H = spec.hidden_size
    dtype = params["W_h"].dtype
    r = reset_state(params, spec, dtype)                           # (L0) (2H,)
    s_in = np.broadcast_to(r, (B, 2 * H)) if h_init is None else h_init
    s_in = np.array(s_in, dtype=dtype, order="C")                  # (B, 2H) own copy
    p_i, p_f, p_o = _peepholes(params, spec, dtype)
    s, gates, tanh_c, y = _kernels().lstm_forward_kernel(
        _c(x), s_in, _c(r), _c(reset, np.bool_),
        np.ascontiguousarray(params["W_x"].T),                     # (D, 4H) W_x^T
        np.ascontiguousarray(params["W_h"].T),                     # (H, 4H) W_h^T
        _c(params["b"]), p_i, p_f, p_o, _c(params["W_O"]), _c(params["b_O"]))  # (L1-L7)
    cache = LSTMCache(x=x, h_init=s_in, r=r, h=s, gates=gates, tanh_c=tanh_c, reset=reset,
                      t0=t0, h_init_given=h_init is not None, backend="numba")
    return y, cache


def backward_lstm_numba(params: dict, spec: LSTMSpec, dy: np.ndarray, cache: LSTMCache,
                        dh_last=None) -> dict:
    r"""Hand-derived LSTM BPTT in one Numba call; wraps
    :func:`cwrnn_np.kernels.lstm.lstm_backward_kernel`.

    Same parameters, returns and equations (LB1–LB10) as :func:`backward_lstm_numpy`: the
    output-layer weight gradients (LB1) are matrix products here, the recurrence (LB2–LB9) is
    the kernel, and LB10 folds the initial-state gradient into :math:`h_0`.
    """
    x, s = cache.x, cache.h
    L, B, _ = x.shape
    H, O = spec.hidden_size, spec.output_size
    dtype = params["W_h"].dtype
    dy2 = dy.reshape(L * B, O)                                     # (L B, O)
    s2 = _c(s, dtype)
    # output layer (LB1): y_t = W_O h_t + b_O
    dW_O = dy2.T @ s2[:, :, :H].reshape(L * B, H)                  # (O, H)
    db_O = dy2.sum(axis=0)                                         # (O,)
    eps = np.zeros((B, 2 * H), dtype) if dh_last is None else _c(dh_last, dtype)
    p_i, p_f, p_o = _peepholes(params, spec, dtype)
    dW_x, dW_h, db, dp_i, dp_f, dp_o, dx, dh_init, dr = _kernels().lstm_backward_kernel(
        _c(x, dtype), _c(cache.h_init, dtype), _c(cache.r, dtype), s2,
        _c(cache.gates, dtype), _c(cache.tanh_c, dtype), _c(cache.reset, np.bool_),
        _c(params["W_x"]), _c(params["W_h"]), p_i, p_f, p_o, _c(dy, dtype),
        _c(params["W_O"]), eps)                                    # (LB2-LB9)
    grads = {"W_x": dW_x, "W_h": dW_h, "b": db}
    if spec.peepholes:
        grads.update(p_i=dp_i, p_f=dp_f, p_o=dp_o)
    grads.update(W_O=dW_O, b_O=db_O, x=dx, h_init=dh_init)
    if spec.learn_h0:
        # h_0 is the reset state, and also the initial state when no h_init was passed (LB10)
        grads["h_0"] = dr + (0 if cache.h_init_given else dh_init.sum(axis=0))
    return grads


# ----- public entry points --------------------------------------------------------------------

#: backend name -> (forward, backward); both have the signatures of the numpy reference.
LSTM_BACKENDS = {"numpy": (forward_lstm_numpy, backward_lstm_numpy),
                 "numba": (forward_lstm_numba, backward_lstm_numba)}


def _backend(name):
    if name not in LSTM_BACKENDS:
        raise ValueError(f"backend must be one of {sorted(LSTM_BACKENDS)}, got {name!r}")
    return LSTM_BACKENDS[name]


def forward_lstm(params: dict, spec: LSTMSpec, x: np.ndarray, h_init=None, t0: int = 0,
                 resets=None, backend: str = "numba"):
    r"""Run the LSTM over a sequence (or one chunk of it); the analogue of :func:`cwrnn_np.forward`.

    Parameters
    ----------
    params : dict
        See :func:`init_lstm_params`; all float64 or all float32.
    spec : LSTMSpec
    x : (L, B, D) array of the parameters' dtype, finite, L >= 1.
    h_init : (B, 2H) array or None
        The carried-in state :math:`[h_{-1}; c_{-1}]`; default the reset state r.
    t0 : int >= 0
        Accepted for the CW-RNN's API and ignored (an LSTM has no clock).
    resets : list of int or None
        Steps s (0 <= s < L) at which the state entering step s is replaced by r.
    backend : ``"numba"`` (default) or ``"numpy"``
        ``"numpy"`` is the readable reference (:func:`forward_lstm_numpy`); ``"numba"`` runs the
        same equations in one compiled call per sequence (:func:`forward_lstm_numba`).

    Returns
    -------
    y : (L, B, O) outputs.
    cache : LSTMCache
        Pass it to :func:`backward_lstm`. ``cache.h_last`` (B, 2H) is the last state: passing
        it as ``h_init`` to the next chunk continues the sequence.

    Notes
    -----
    Equations L0–L7 of ``docs/lstm.md``; see :func:`forward_lstm_numpy`.
    """
    fwd, _ = _backend(backend)
    _, flags = validate_lstm_inputs(params, spec, x, h_init, t0, resets)
    return fwd(params, spec, x, h_init, int(t0), flags)


def backward_lstm(params: dict, spec: LSTMSpec, dy: np.ndarray, cache: LSTMCache,
                  dh_last=None, backend: str = "numba") -> dict:
    r"""Gradients of a scalar loss through the forward call that made ``cache`` (BPTT).

    Parameters
    ----------
    params, spec : the same as for :func:`forward_lstm`
    dy : (L, B, O) upstream gradient :math:`\partial\ell/\partial y_t`.
    cache : LSTMCache from :func:`forward_lstm` (either backend)
    dh_last : (B, 2H) or None
        Extra upstream gradient on ``cache.h_last``: pass the next chunk's ``grads["h_init"]``.
    backend : ``"numba"`` (default) or ``"numpy"``

    Returns
    -------
    grads : dict
        One entry per parameter (same shapes), plus ``"x"`` (L, B, D) and ``"h_init"`` (B, 2H).
        When ``spec.learn_h0`` and no ``h_init`` was passed, ``"h_0"`` already includes the
        batch sum of ``"h_init"``: do not add it twice.

    Notes
    -----
    Equations LB1–LB10 of ``docs/lstm.md``; see :func:`backward_lstm_numpy`.
    """
    _, bwd = _backend(backend)
    validate_lstm_params(params, spec)
    validate_backward_call(params, spec, dy, cache, dh_last, LSTMCache, "forward_lstm",
                           state_size=spec.state_size)
    return bwd(params, spec, dy, cache, dh_last)


# ----- gradient audit -------------------------------------------------------------------------

def gradcheck_lstm(params: dict, spec: LSTMSpec, x: np.ndarray, *, h_init=None, resets=None,
                   backend: str = "numba", rng=None, mode: str = "both", eps: float = 1e-3,
                   floor=None, n_directions: int = 3,
                   max_entries: int | None = None) -> GradcheckReport:
    r"""Compare :func:`backward_lstm` with finite differences of :func:`forward_lstm`.

    The audit of :func:`cwrnn_np.gradcheck` (same sixth-order stencil, same relative error
    :math:`|a - \nu| / \max(|a|, |\nu|, \tau)` with :math:`\tau = 10^{-6}(1 + |f|)`, same
    report) for the LSTM: the objective is
    :math:`f = \sum u \odot y + \sum w \odot [h_{L-1}; c_{L-1}]` with u, w standard normal.

    Parameters
    ----------
    params, spec, x, h_init, resets, backend : as for :func:`forward_lstm`; float64 only.
    rng : numpy.random.Generator, optional (default ``np.random.default_rng(0)``)
    mode : ``"elementwise"``, ``"direction"`` or ``"both"`` (default).
    eps : float, the finite-difference step (default 1e-3).
    floor : float, optional, :math:`\tau`.
    n_directions : int, the number of random directions.
    max_entries : int, optional, check at most this many random entries per array.

    Returns
    -------
    GradcheckReport (``report.passed(1e-6)`` is the verdict)
    """
    return audit(
        lambda p, xx, h: forward_lstm(p, spec, xx, h, 0, resets, backend=backend),
        lambda p, dy, c, dh: backward_lstm(p, spec, dy, c, dh_last=dh, backend=backend),
        params, spec.param_masks(), x, h_init=h_init, rng=rng, mode=mode, eps=eps,
        floor=floor, n_directions=n_directions, max_entries=max_entries, who="gradcheck_lstm")
