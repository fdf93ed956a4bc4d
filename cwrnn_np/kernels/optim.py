r"""Numba kernels of the optimizer update: one pass per parameter array.

The readable reference is :meth:`cwrnn_np.training.optim.Optimizer.update` on
``backend="numpy"``: check the gradient, mask it, clip it by value and by global norm, apply
the rule (:meth:`SGD._rule`, :meth:`Adam._rule`, :meth:`RMSProp._rule`), mask the results, each
step a NumPy pass with its own temporaries. Here the same steps are three loops over the flat
arrays of one parameter; ``Optimizer.update(..., backend="numba")`` is the wrapper that
validates the arguments, allocates the outputs and calls them:

* :func:`grad_peak_kernel` — the finite check and :math:`\max_j |\tilde g_j|`, on the bit
  patterns;
* :func:`grad_square_kernel` — :math:`(\tilde g_j / p)^2` into a float64 buffer, which
  ``np.sum`` then adds exactly as :func:`~cwrnn_np.training.optim.global_norm` does;
* one rule kernel per optimizer (:func:`sgd_kernel`, :func:`momentum_kernel`,
  :func:`adam_kernel`, :func:`rmsprop_kernel`) — mask, clip, scale, update and write the new
  parameter and slots.

Every kernel repeats the reference's IEEE operations in the reference's order, in the
parameter's dtype, with the constants the reference casts to it (``f = theta.dtype.type``),
and fastmath is off (:mod:`cwrnn_np.kernels.config`), so nothing is contracted into a fused
multiply-add: both backends give the same bits in float64 and float32.

Shapes: n is the number of entries of one parameter; every array argument is 1-D and
C-contiguous, the flattened (C order) parameter, gradient, mask or slot. ``mask`` is a boolean
array of n entries (True = free entry) or of 0 entries when the parameter has no mask.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .config import JIT_OPTIONS

__all__ = ["grad_peak_kernel", "grad_square_kernel", "sgd_kernel", "momentum_kernel",
           "adam_kernel", "rmsprop_kernel"]


@njit(inline="always", **JIT_OPTIONS)
def _clipped(g, c_v):
    r"""``np.clip(g, -c_v, c_v)`` for a finite g: :math:`\min(\max(g, -c_v), c_v)`; c_v = inf
    leaves g as it is."""
    if g > c_v:
        return c_v
    if g < -c_v:
        return -c_v
    return g


@njit(**JIT_OPTIONS)
def grad_peak_kernel(bits, mask, abs_bits, c_v_bits):
    r"""The finite check and the largest clipped magnitude of one gradient, on its bits:
    ``(worst, peak)``.

    Parameters
    ----------
    bits : (n,) int64 or int32 array
        The gradient's IEEE bit patterns, ``g.view(np.int64)`` (float32: ``np.int32``).
    mask : (n,) or (0,) bool array
        True = free entry; masked entries count as 0.
    abs_bits : int
        Every bit but the sign: ``bits & abs_bits`` is the pattern of :math:`|g_j|`.
    c_v_bits : int
        The pattern of the clip value :math:`c_v` (of inf: no clipping by value).

    Returns
    -------
    worst : int
        The largest pattern of :math:`|g_j|` over every entry, masked or not: the gradient
        is finite if and only if it is below the pattern of inf.
    peak : int
        The pattern of :math:`p = \max_j |\tilde g_j|` (0 when n = 0).

    Notes
    -----
    .. math::

        \tilde g_j = \min(\max(M_j\, g_j, -c_v), c_v), \qquad
        |\tilde g_j| = M_j \min(|g_j|, c_v)

    where :math:`M_j \in \{0, 1\}` is the mask. Read as integers, the bit patterns of
    non-negative floats are ordered as their values (inf above every finite value, NaN above
    inf), so the minimum, the maximum and the finite check are integer comparisons: a loop the
    compiler vectorises, where a floating-point maximum, which it may not reorder with
    fastmath off, runs one element at a time. A maximum does not depend on the order, so
    :math:`p` is ``np.max(np.abs(g̃))`` of :func:`~cwrnn_np.training.optim.global_norm`.
    """
    masked = mask.size > 0
    worst = 0
    peak = 0
    for j in range(bits.size):
        a = bits[j] & abs_bits                     # |g_j|
        worst = max(worst, a)
        a = min(a, c_v_bits)                       # clip by value
        if masked and not mask[j]:                 # masked entries count as 0
            a = 0
        peak = max(peak, a)
    return worst, peak


@njit(**JIT_OPTIONS)
def grad_square_kernel(g, mask, c_v, peak, q):
    r"""``q[:] = (g̃ / p)**2`` in float64, the terms that ``global_norm`` adds (g finite).

    Parameters
    ----------
    g : (n,) float array
        The gradient, finite, in the parameter's dtype.
    mask : (n,) or (0,) bool array
        True = free entry; masked entries give 0.
    c_v : float, the dtype of g
        The clip value (inf: none).
    peak : float64 > 0
        :math:`p`, the largest :math:`|\tilde g_j|` over every parameter.
    q : (n,) float64 array
        Output: :math:`q_j = (\tilde g_j / p)^2`, the array
        ``np.square(np.asarray(g̃, np.float64) / p)``; the caller sums it with ``np.sum``, so
        the norm is the reference's bit for bit.
    """
    masked = mask.size > 0
    for j in range(g.size):
        if masked and not mask[j]:
            q[j] = 0.0
        else:
            r = np.float64(_clipped(g[j], c_v)) / peak
            q[j] = r * r


@njit(**JIT_OPTIONS)
def sgd_kernel(theta, g, mask, c_v, scale, alpha, theta_out):
    r"""Plain SGD on one parameter (:meth:`cwrnn_np.training.optim.SGD._rule`, :math:`\mu = 0`).

    Parameters
    ----------
    theta, g : (n,) float arrays
        The parameter and its (finite) gradient, one dtype.
    mask : (n,) or (0,) bool array
        True = free entry.
    c_v, scale, alpha : float, the dtype of theta
        Clip value (inf: none), the global-norm factor :math:`\kappa` (1: none), learning rate.
    theta_out : (n,) float array
        Output: the new parameter, exactly 0.0 at masked entries.

    Notes
    -----
    .. math::

        g_t = \kappa \min(\max(g, -c_v), c_v), \qquad \theta_t = \theta_{t-1} - \alpha g_t

    where :math:`\kappa = \min(1, c_n / \lVert \tilde g \rVert)` is computed by the caller.
    """
    masked = mask.size > 0
    for j in range(theta.size):
        if masked and not mask[j]:
            theta_out[j] = 0.0
            continue
        gt = _clipped(g[j], c_v) * scale
        theta_out[j] = theta[j] - alpha * gt


@njit(**JIT_OPTIONS)
def momentum_kernel(theta, g, mask, c_v, scale, alpha, mu, nesterov, v_old, theta_out, v_out):
    r"""SGD with classical or Nesterov momentum on one parameter
    (:meth:`cwrnn_np.training.optim.SGD._rule`).

    Parameters
    ----------
    theta, g, v_old : (n,) float arrays
        The parameter, its (finite) gradient and its velocity :math:`v_{t-1}`, one dtype.
    mask : (n,) or (0,) bool array
        True = free entry.
    c_v, scale, alpha, mu : float, the dtype of theta
        Clip value (inf: none), global-norm factor :math:`\kappa`, learning rate, momentum.
    nesterov : bool
        Nesterov's look-ahead form instead of classical momentum.
    theta_out, v_out : (n,) float arrays
        Output: :math:`\theta_t` and :math:`v_t`, exactly 0.0 at masked entries.

    Notes
    -----
    .. math::

        v_t &= \mu v_{t-1} - \alpha g_t \\
        \theta_t &= \theta_{t-1} + v_t && \text{(classical)} \\
        \theta_t &= \theta_{t-1} + \mu v_t - \alpha g_t && \text{(Nesterov)}

    where :math:`g_t = \kappa \min(\max(g, -c_v), c_v)`.
    """
    masked = mask.size > 0
    for j in range(theta.size):
        if masked and not mask[j]:
            theta_out[j] = 0.0
            v_out[j] = 0.0
            continue
        gt = _clipped(g[j], c_v) * scale
        v = mu * v_old[j] - alpha * gt
        if nesterov:
            theta_out[j] = theta[j] + mu * v - alpha * gt
        else:
            theta_out[j] = theta[j] + v
        v_out[j] = v


@njit(**JIT_OPTIONS)
def adam_kernel(theta, g, mask, c_v, scale, alpha, beta1, beta2, one_minus_beta1,
                one_minus_beta2, c1, c2, eps, m_old, v_old, theta_out, m_out, v_out):
    r"""Adam on one parameter (:meth:`cwrnn_np.training.optim.Adam._rule`).

    Parameters
    ----------
    theta, g, m_old, v_old : (n,) float arrays
        The parameter, its (finite) gradient and the moments :math:`m_{t-1}, v_{t-1}`.
    mask : (n,) or (0,) bool array
        True = free entry.
    c_v, scale, alpha, beta1, beta2, eps : float, the dtype of theta
        Clip value (inf: none), global-norm factor :math:`\kappa`, :math:`\alpha, \beta_1, \beta_2,
        \varepsilon`.
    one_minus_beta1, one_minus_beta2, c1, c2 : float, the dtype of theta
        :math:`1 - \beta_1`, :math:`1 - \beta_2`, :math:`1 - \beta_1^t`, :math:`1 - \beta_2^t`,
        each computed in Python floats and then cast, as the reference does.
    theta_out, m_out, v_out : (n,) float arrays
        Output: :math:`\theta_t, m_t, v_t`, exactly 0.0 at masked entries.

    Notes
    -----
    .. math::

        \theta_t = \theta_{t-1} - (\alpha \hat m_t) / (\sqrt{\hat v_t} + \varepsilon)

    with :math:`m_t, v_t, \hat m_t, \hat v_t` as in :class:`cwrnn_np.training.optim.Adam`,
    where :math:`g_t = \kappa \min(\max(g, -c_v), c_v)`; the parentheses give the reference's order
    of operations.
    """
    masked = mask.size > 0
    for j in range(theta.size):
        if masked and not mask[j]:
            theta_out[j] = 0.0
            m_out[j] = 0.0
            v_out[j] = 0.0
            continue
        gt = _clipped(g[j], c_v) * scale
        m = beta1 * m_old[j] + one_minus_beta1 * gt
        v = beta2 * v_old[j] + one_minus_beta2 * (gt * gt)
        m_hat = m / c1
        v_hat = v / c2
        theta_out[j] = theta[j] - (alpha * m_hat) / (np.sqrt(v_hat) + eps)
        m_out[j] = m
        v_out[j] = v


@njit(**JIT_OPTIONS)
def rmsprop_kernel(theta, g, mask, c_v, scale, alpha, rho, one_minus_rho, eps, s_old,
                   theta_out, s_out):
    r"""RMSProp on one parameter (:meth:`cwrnn_np.training.optim.RMSProp._rule`).

    Parameters
    ----------
    theta, g, s_old : (n,) float arrays
        The parameter, its (finite) gradient and the mean square :math:`s_{t-1}`.
    mask : (n,) or (0,) bool array
        True = free entry.
    c_v, scale, alpha, rho, one_minus_rho, eps : float, the dtype of theta
        Clip value (inf: none), global-norm factor :math:`\kappa`, :math:`\alpha, \rho, 1 - \rho,
        \varepsilon`.
    theta_out, s_out : (n,) float arrays
        Output: :math:`\theta_t, s_t`, exactly 0.0 at masked entries.

    Notes
    -----
    .. math::

        s_t &= \rho\, s_{t-1} + (1 - \rho)\, g_t^2 \\
        \theta_t &= \theta_{t-1} - (\alpha g_t) / (\sqrt{s_t} + \varepsilon)

    where :math:`g_t = \kappa \min(\max(g, -c_v), c_v)`.
    """
    masked = mask.size > 0
    for j in range(theta.size):
        if masked and not mask[j]:
            theta_out[j] = 0.0
            s_out[j] = 0.0
            continue
        gt = _clipped(g[j], c_v) * scale
        s = rho * s_old[j] + one_minus_rho * (gt * gt)
        theta_out[j] = theta[j] - (alpha * gt) / (np.sqrt(s) + eps)
        s_out[j] = s
