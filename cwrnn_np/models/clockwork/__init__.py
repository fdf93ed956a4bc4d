r"""The Clockwork RNN (Koutník, Greff, Gomez and Schmidhuber, ICML 2014) with the design note's
wiring, routing, reset and schedule variants: NumPy reference, Numba kernels, API.

Its spec is the shared :class:`cwrnn_np.spec.ClockworkSpec` (the other families build on it);
``docs/model.md`` gives the forward equations M1–M6 and ``docs/bptt.md`` derives B1–B10.
"""
from .api import BACKENDS, CLOCKWORK, DEFAULT_BACKEND, backward, forward
from .numba_backend import KernelPlan, backward_numba, forward_numba, kernel_plan, warmup
from .reference import ForwardCache, backward_numpy, forward_numpy, masked_weights, reset_state

__all__ = ["forward", "backward", "BACKENDS", "DEFAULT_BACKEND", "CLOCKWORK", "ForwardCache",
           "forward_numpy", "backward_numpy", "forward_numba", "backward_numba", "KernelPlan",
           "kernel_plan", "warmup", "masked_weights", "reset_state"]
