r"""Numba helpers shared by every family's kernels (the kernels themselves live with their
family, in ``cwrnn_np/models/<family>/kernels.py``).

* :mod:`cwrnn_np.kernels.config`: every Numba compile option (cache, fastmath off, ...).
* :mod:`cwrnn_np.kernels.held`: held-source reuse, shared by the CW-RNN and selection kernels.
* :mod:`cwrnn_np.kernels.linalg`: block, outer and dot products over slices of buffers.
* :mod:`cwrnn_np.kernels.special`: sigmoid, softplus, and vectorisable tanh and exp.
* :mod:`cwrnn_np.kernels.optim`: the optimizer update, one pass per parameter (called by
  :mod:`cwrnn_np.training.optim`, not by a family).

Importing this package imports nothing; :mod:`~cwrnn_np.kernels.held`,
:mod:`~cwrnn_np.kernels.linalg`, :mod:`~cwrnn_np.kernels.special` and
:mod:`~cwrnn_np.kernels.optim` import Numba, and
compile each function at its first call.
"""
