r"""What an LSTM baseline network is (:class:`LSTMSpec`) and its initial parameters.

The comparison model of Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §4:
an LSTM layer with a linear readout, its forget-gate bias initialised to 5 (the paper's value;
:attr:`LSTMSpec.forget_bias`), with optional peephole connections (Gers, Schraudolph and
Schmidhuber, "Learning precise timing with LSTM recurrent networks", JMLR 2002).

Shape letters: D input, H hidden (cells), O output; 4H is the four gate blocks in the order
[i, f, o, g] (input, forget, output, cell candidate), 2H the state [h; c].
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ...params import FLOAT_DTYPES
from ...validation import check_bool, check_int

__all__ = ["LSTMSpec", "init_lstm_params"]


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
        set_(self, "input_size", check_int(self.input_size, "input_size", 0))
        set_(self, "output_size", check_int(self.output_size, "output_size", 1))
        set_(self, "hidden_size", check_int(self.hidden_size, "hidden_size", 1))
        set_(self, "peepholes", check_bool(self.peepholes, "peepholes"))
        set_(self, "learn_h0", check_bool(self.learn_h0, "learn_h0"))
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
