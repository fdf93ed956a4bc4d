r"""cwrnn_np: Clockwork RNNs in readable NumPy, with hand-derived BPTT audited against finite
differences.

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014; the design note's variants
(full-duplex wiring, phase-shifted modules, input routing, resets, period schedules).

Quick start::

    import numpy as np, cwrnn_np as cw
    spec = cw.ClockworkSpec(input_size=2, output_size=1, module_sizes=[4, 4, 4],
                            periods=cw.schedules.exponential(3))
    params = cw.init_params(spec, np.random.default_rng(0))
    y, cache = cw.forward(params, spec, np.zeros((10, 1, 2)))
"""
from . import masks, schedules
from .gradcheck import GradcheckReport, gradcheck
from .losses import mse, softmax_cross_entropy, softmax_cross_entropy_last
from .models import learned_periods, lstm, selection
from .models.clockwork import BACKENDS, DEFAULT_BACKEND, ForwardCache, backward, forward
from .params import init_params, validate_params
from .spec import (ClockworkSpec, UnreachableModuleWarning, clock, odd_even, round_robin,
                   split_phases, srn_spec)
from .viz import plotting

__version__ = "0.1.0"

__all__ = [
    "ClockworkSpec", "UnreachableModuleWarning", "ForwardCache", "GradcheckReport", "BACKENDS",
    "DEFAULT_BACKEND",
    "init_params", "validate_params", "forward", "backward", "gradcheck", "clock",
    "mse", "softmax_cross_entropy", "softmax_cross_entropy_last",
    "srn_spec", "split_phases", "odd_even", "round_robin", "masks", "plotting", "schedules",
    "lstm", "selection", "learned_periods",
]
