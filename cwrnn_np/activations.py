r"""Element-wise functions shared by the NumPy references: :func:`sigmoid`, :func:`softplus`
and :func:`softmax`, each computed without overflow.

The Numba kernels use the same forms element by element (:mod:`cwrnn_np.kernels.special`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["sigmoid", "softplus", "softmax"]


def sigmoid(z: np.ndarray) -> np.ndarray:
    r"""The logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`, without overflow.

    With :math:`e = e^{-|z|} \le 1`: :math:`\sigma(z) = 1/(1 + e)` for :math:`z \ge 0` and
    :math:`e/(1 + e)` for :math:`z < 0`. It is also the derivative of :func:`softplus`.
    """
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def softplus(z: np.ndarray) -> np.ndarray:
    r""":math:`\operatorname{softplus}(z) = \log(1 + e^z)`, without overflow."""
    return np.logaddexp(0.0, z)


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so it cannot overflow."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
