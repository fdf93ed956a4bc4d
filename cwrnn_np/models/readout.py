r"""One interface over the model families the trainer can train: CW-RNN (and the SRN, a one-module
CW-RNN) and the LSTM baseline.

A :class:`Net` pairs a kind (a key of the registry :data:`cwrnn_np.models.FAMILIES`) with a
spec of that family. Kinds: ``"cwrnn"`` and ``"srn"`` (:class:`~cwrnn_np.ClockworkSpec`),
``"lstm"`` (:class:`~cwrnn_np.models.lstm.LSTMSpec`), and the design note's variants
``"select"`` (:class:`~cwrnn_np.models.selection.SelectionSpec`) and ``"learned"``
(:class:`~cwrnn_np.models.learned_periods.LearnedPeriodSpec`). Every family has the API of
:func:`cwrnn_np.forward` / :func:`cwrnn_np.backward`: ``forward(params, x, h_init, t0, resets)``
returns ``(y, cache)`` with ``cache.h_last`` the state to carry into the next chunk, and
``backward(params, dy, cache, dh_last)`` returns the gradients. (The LSTM's carried state is
``[h; c]`` of width 2H, and it ignores ``t0``: it has no clock.)

**Readout layer** (the design note's char-LM had "a 1024-unit tanh layer before the softmax").
With ``readout = O > 0`` the family's own output layer produces R pre-activations z_t (its
``output_size`` is R), and a tanh layer maps them to the O outputs
(:func:`readout_forward`):

.. math::

    v_t &= \tanh(z_t)                          && (R1) \\
    y_t &= W_R v_t + b_R                       && (R2)

with :math:`z_t = W_O h_t + b_O` the family's outputs, W_R (O, R) and b_R (O,). Its BPTT
(:func:`readout_backward`) is the chain rule through the two extra steps:

.. math::

    \bar W_R &= \textstyle\sum_t \bar y_t^\top v_t, \quad \bar b_R = \sum_t \bar y_t  && (RB1) \\
    \bar z_t &= (W_R^\top \bar y_t) \odot (1 - v_t^2)                              && (RB2)

and :math:`\bar z` goes into the family's backward as its upstream gradient.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from ..spec import ClockworkSpec
from . import FAMILIES, KINDS, family

__all__ = ["Net", "KINDS", "TEMPERED", "ReadoutCache", "readout_forward", "readout_backward"]

#: kinds with a temperature (the design note's variants, ``docs/variants.md``)
TEMPERED = tuple(kind for kind, fam in FAMILIES.items() if fam.tempered)


class ReadoutCache(NamedTuple):
    """Cache of a net with a readout layer: the family's cache and the readout's v_t."""

    core: object          # the family's cache (its y is z_t)
    v: np.ndarray         # (L, B, R) v_t = tanh(z_t)

    @property
    def h_last(self):
        return self.core.h_last


def readout_forward(W_R: np.ndarray, b_R: np.ndarray, z: np.ndarray):
    """The readout layer: ``(y (L, B, O), v (L, B, R))`` from the family's outputs z (L, B, R),
    with W_R (O, R) and b_R (O,) (equations R1, R2)."""
    L, B, R = z.shape
    v = np.tanh(z)                                                 # (R1) (L, B, R)
    # one (L B, R) x (R, O) product: a 3-D matmul would run L small ones
    y = (v.reshape(L * B, R) @ W_R.T).reshape(L, B, -1) + b_R     # (R2) (L, B, O)
    return y, v


def readout_backward(W_R: np.ndarray, dy: np.ndarray, v: np.ndarray):
    """BPTT through :func:`readout_forward`: ``(dz (L, B, R), dW_R (O, R), db_R (O,))`` from
    the upstream gradient dy (L, B, O) and the cached v (L, B, R) (equations RB1, RB2)."""
    L, B, R = v.shape
    O = dy.shape[2]
    dy2 = dy.reshape(L * B, O)                                     # (L B, O)
    dW_R = dy2.T @ v.reshape(L * B, R)                             # (RB1) (O, R)
    db_R = dy2.sum(axis=0)                                         # (RB1) (O,)
    # back through the readout's tanh: dz_t = (W_R^T dy_t) * (1 - v_t^2)
    dz = (dy2 @ W_R).reshape(L, B, R) * (1 - v * v)                # (RB2) (L, B, R)
    return dz, dW_R, db_R


@dataclasses.dataclass(frozen=True)
class Net:
    """A model family (``kind``), its spec and an optional readout layer to ``readout`` outputs.

    With ``readout > 0`` the spec's ``output_size`` is the readout width R.
    """

    kind: str
    spec: object
    readout: int = 0

    def __post_init__(self):
        family(self.kind)  # raises for an unknown kind
        if isinstance(self.readout, bool) or not isinstance(self.readout, int) \
                or self.readout < 0:
            raise ValueError(f"readout must be an integer >= 0, got {self.readout!r}")

    def init(self, rng: np.random.Generator, dtype=np.float64, scale: float = 1.0) -> dict:
        """Initial parameters (seeded by ``rng``)."""
        params = self.family.init(self.spec, rng, dtype=dtype, scale=scale)
        if self.readout:
            R = self.spec.output_size
            params["W_R"] = (rng.standard_normal((self.readout, R)) * scale
                             / np.sqrt(R)).astype(dtype)
            params["b_R"] = np.zeros(self.readout, dtype)
        return params

    @property
    def family(self):
        """The :class:`~cwrnn_np.models.family.Family` of this net's kind."""
        return family(self.kind)

    def _core_forward(self, params, x, h_init, t0, resets, backend):
        return self.family.forward(params, self.spec, x, h_init, t0, resets, backend)

    def _core_backward(self, params, dy, cache, dh_last, backend):
        return self.family.backward(params, self.spec, dy, cache, dh_last, backend)

    def _core(self, params):
        return {k: v for k, v in params.items() if k not in ("W_R", "b_R")}

    def forward(self, params, x, h_init=None, t0=0, resets=None, backend="numba"):
        """``(y (L, B, O), cache)``: the family's forward pass (validated), then the readout
        layer if there is one (R1, R2). ``cache.h_last`` is the state to carry on."""
        if not self.readout:
            return self._core_forward(params, x, h_init, t0, resets, backend)
        z, cache = self._core_forward(self._core(params), x, h_init, t0, resets, backend)
        y, v = readout_forward(params["W_R"], params["b_R"], z)
        return y, ReadoutCache(core=cache, v=v)

    def backward(self, params, dy, cache, dh_last=None, backend="numba"):
        """The gradients of every parameter (and ``"x"``, ``"h_init"``): back through the
        readout layer if there is one (RB1, RB2), then the family's BPTT."""
        if not self.readout:
            return self._core_backward(params, dy, cache, dh_last, backend)
        dz, dW_R, db_R = readout_backward(params["W_R"], dy, cache.v)
        grads = self._core_backward(self._core(params), dz, cache.core, dh_last, backend)
        grads["W_R"], grads["b_R"] = dW_R, db_R
        return grads

    def param_masks(self) -> dict:
        masks = dict(self.spec.param_masks())
        if self.readout:
            masks.update(W_R=None, b_R=None)
        return masks

    def param_shapes(self) -> dict:
        shapes = dict(self.spec.param_shapes())
        if self.readout:
            shapes.update(W_R=(self.readout, self.spec.output_size), b_R=(self.readout,))
        return shapes

    def n_params(self) -> int:
        """Free parameters (structural zeros excluded)."""
        n = 0
        for name, shape in self.param_shapes().items():
            mask = self.param_masks()[name]
            n += int(mask.sum()) if mask is not None else int(np.prod(shape, dtype=np.int64))
        return n

    @property
    def clocked(self) -> bool:
        """Whether the network has a clock (a ClockworkSpec) to draw."""
        return isinstance(self.spec, ClockworkSpec)

    def at_temperature(self, temperature: float) -> "Net":
        """This net with its variant's temperature set (itself for kinds without one)."""
        if not self.family.tempered or self.spec.temperature == float(temperature):
            return self
        return Net(self.kind, self.spec.replace(temperature=float(temperature)), self.readout)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "readout": self.readout}

    @staticmethod
    def from_dict(d: dict) -> "Net":
        kind = d.get("kind")
        readout = d.get("readout", 0)
        return Net(kind, family(kind).spec_from_dict(d["spec"]), readout)
