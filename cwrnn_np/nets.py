"""One interface over the model families the trainer can train: CW-RNN (and the SRN, a one-module
CW-RNN) and the LSTM baseline.

A :class:`Net` pairs a family's spec with its functions. Every family has the API of
:func:`cwrnn_np.forward` / :func:`cwrnn_np.backward`: ``forward(params, x, h_init, t0, resets)``
returns ``(y, cache)`` with ``cache.h_last`` the state to carry into the next chunk, and
``backward(params, dy, cache, dh_last)`` returns the gradients. (The LSTM's carried state is
``[h; c]`` of width 2H, and it ignores ``t0``: it has no clock.)
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .model import backward, forward
from .params import init_params
from .spec import ClockworkSpec

__all__ = ["Net", "KINDS"]

KINDS = ("cwrnn", "srn", "lstm")


def _lstm():
    from . import lstm
    return lstm


@dataclasses.dataclass(frozen=True)
class Net:
    """A model family (``kind``) and its spec."""

    kind: str
    spec: object

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"model kind must be one of {KINDS}, got {self.kind!r}")

    def init(self, rng: np.random.Generator, dtype=np.float64, scale: float = 1.0) -> dict:
        """Initial parameters (seeded by ``rng``)."""
        if self.kind == "lstm":
            return _lstm().init_lstm_params(self.spec, rng, dtype=dtype, scale=scale)
        return init_params(self.spec, rng, dtype=dtype, scale=scale)

    def forward(self, params, x, h_init=None, t0=0, resets=None, backend="numba"):
        if self.kind == "lstm":
            return _lstm().forward_lstm(params, self.spec, x, h_init=h_init, t0=t0,
                                        resets=resets, backend=backend)
        return forward(params, self.spec, x, h_init=h_init, t0=t0, resets=resets,
                       backend=backend)

    def backward(self, params, dy, cache, dh_last=None, backend="numba"):
        if self.kind == "lstm":
            return _lstm().backward_lstm(params, self.spec, dy, cache, dh_last=dh_last,
                                         backend=backend)
        return backward(params, self.spec, dy, cache, dh_last=dh_last, backend=backend)

    def param_masks(self) -> dict:
        return self.spec.param_masks()

    def param_shapes(self) -> dict:
        return self.spec.param_shapes()

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

    def to_dict(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict()}

    @staticmethod
    def from_dict(d: dict) -> "Net":
        kind = d.get("kind")
        if kind == "lstm":
            return Net("lstm", _lstm().LSTMSpec(**d["spec"]))
        return Net(kind, ClockworkSpec(**d["spec"]))
