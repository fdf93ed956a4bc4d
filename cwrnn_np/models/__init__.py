r"""The model families and their registry.

Each family is a folder with the same files (see :mod:`cwrnn_np.models.family`): ``clockwork``
(the CW-RNN of Koutník et al. 2014 and the design note's wiring variants; the SRN is its
one-module case), ``lstm`` (the paper's baseline), ``selection`` and ``learned_periods`` (the
design note's soft variants). :mod:`cwrnn_np.models.readout` puts any of them behind one
:class:`~cwrnn_np.models.readout.Net` interface, with an optional tanh readout layer.

The registry maps a *kind*, the name a config or a checkpoint uses, to its
:class:`~cwrnn_np.models.family.Family`. Adding a family means adding its folder and one entry
here.
"""
from __future__ import annotations

from .clockwork.api import CLOCKWORK
from .family import DEFAULT_BACKEND, Family
from .learned_periods.api import LEARNED_PERIODS
from .lstm.api import LSTM
from .selection.api import SELECTION

__all__ = ["FAMILIES", "KINDS", "Family", "DEFAULT_BACKEND", "family", "family_of"]

#: kind -> family. ``"srn"`` is a one-module CW-RNN: the same family, its own kind so that
#: configs, checkpoints and reports name it.
FAMILIES: dict[str, Family] = {
    "cwrnn": CLOCKWORK,
    "srn": CLOCKWORK,
    "lstm": LSTM,
    "select": SELECTION,
    "learned": LEARNED_PERIODS,
}

#: every kind a :class:`~cwrnn_np.models.readout.Net` can have
KINDS = tuple(FAMILIES)


def family(kind: str) -> Family:
    """The family of ``kind`` (one of :data:`KINDS`)."""
    if kind not in FAMILIES:
        raise ValueError(f"model kind must be one of {KINDS}, got {kind!r}")
    return FAMILIES[kind]


def family_of(spec) -> Family:
    """The family whose spec type ``spec`` is (a ClockworkSpec, an LSTMSpec, ...)."""
    for fam in FAMILIES.values():
        if isinstance(spec, fam.spec_type):
            return fam
    kinds = sorted({fam.spec_type.__name__ for fam in FAMILIES.values()})
    raise ValueError(f"spec must be one of {kinds}, got {type(spec).__name__}")
