r"""Numba kernels: the hot loops of the package, compiled once at import (Koutník et al. 2014).

* :mod:`cwrnn_np.kernels.clockwork`: the Clockwork RNN forward pass and BPTT over a whole
  sequence, computing only the modules the clock activates and only the blocks the wiring allows.
* :mod:`cwrnn_np.kernels.lstm`: the LSTM baseline's forward pass and BPTT
  (wrapped by :mod:`cwrnn_np.lstm`).
* :mod:`cwrnn_np.kernels.selection`: soft selection among same-clock modules
  (wrapped by :mod:`cwrnn_np.selection`).
* :mod:`cwrnn_np.kernels.learned_periods`: learned periods, static and emitted
  (wrapped by :mod:`cwrnn_np.learned_periods`).
* :mod:`cwrnn_np.kernels.config`: every Numba compile option (cache, fastmath off, ...).

Only the CW-RNN kernels are imported here; the others load with their wrappers' first call.

The kernels take prepared arrays and assume valid input; call them through
:mod:`cwrnn_np.numba_backend` (or ``cwrnn_np.forward(..., backend="numba")``), which validates,
prepares and says which kernel it wraps.
"""
from .clockwork import clockwork_backward_kernel, clockwork_forward_kernel
from .config import CONFIG, JIT_OPTIONS, NumbaConfig

__all__ = ["clockwork_forward_kernel", "clockwork_backward_kernel", "CONFIG", "JIT_OPTIONS",
           "NumbaConfig"]
