r"""Losses. Each returns ``(loss, dy)``: the scalar loss and :math:`\partial\,\text{loss}/\partial y`.

Shape letters: L time, B batch, O outputs. ``y`` is always the (L, B, O) output of
:func:`cwrnn_np.forward`; ``dy`` has the same shape and dtype, ready for :func:`cwrnn_np.backward`.

All losses are means, so their size does not grow with L or B:

* :func:`mse`: mean over every (t, b, o) of :math:`(y - \hat y)^2`;
* :func:`softmax_cross_entropy`: mean over (t, b) of :math:`-\log p_{t,b}(\text{target})`, in
  nats (language modelling);
* :func:`softmax_cross_entropy_last`: mean over b of the same at one step per sequence, the last
  or the last valid one (classification of variable-length sequences).
"""
from __future__ import annotations

import numpy as np

__all__ = ["mse", "softmax_cross_entropy", "softmax_cross_entropy_last", "log_softmax"]


def _check_y(y):
    if not isinstance(y, np.ndarray) or y.ndim != 3:
        raise ValueError(f"y must be an (L, B, O) array, got "
                         f"{getattr(y, 'shape', type(y).__name__)}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"y must be floating point, got dtype {y.dtype}")


def _check_mask(mask, shape, field="mask"):
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != shape:
        raise ValueError(f"{field} must be a boolean array of shape {shape}, "
                         f"got dtype {mask.dtype} shape {mask.shape}")
    if not mask.any():
        raise ValueError(f"{field} selects no position; the mean loss is undefined")
    return mask


def _check_labels(targets, shape, n_classes, field="targets"):
    targets = np.asarray(targets)
    if not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"{field} must be integer class indices, got dtype {targets.dtype}")
    if targets.shape != shape:
        raise ValueError(f"{field} must have shape {shape}, got {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= n_classes):
        bad = targets[(targets < 0) | (targets >= n_classes)][0]
        raise ValueError(f"{field} must lie in 0..{n_classes - 1} (O = {n_classes}), got {bad}")
    return targets


def mse(y: np.ndarray, target: np.ndarray, mask=None):
    r"""Mean squared error.

    .. math::

        \ell = \frac{1}{N} \sum_{t,b,o} m_{t,b} (y_{t,b,o} - \hat y_{t,b,o})^2, \qquad
        \frac{\partial \ell}{\partial y} = \frac{2}{N} m \odot (y - \hat y)

    where :math:`\hat y` (L, B, O) is ``target``, :math:`m` (L, B) the optional boolean ``mask``
    (default all true) and :math:`N = O \sum_{t,b} m_{t,b}`.
    """
    _check_y(y)
    target = np.asarray(target)
    if target.shape != y.shape:
        raise ValueError(f"target must have the shape of y {y.shape}, got {target.shape}")
    m = _check_mask(mask, y.shape[:2])[..., None]  # (L, B, 1)
    N = m.sum() * y.shape[2]
    diff = np.where(m, y - target, 0)  # (L, B, O)
    loss = float((diff * diff).sum() / N)
    return loss, (2.0 / N * diff).astype(y.dtype, copy=False)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(y: np.ndarray, targets, mask=None):
    r"""Per-step softmax cross-entropy (nats), averaged over the selected (t, b).

    .. math::

        \ell = -\frac{1}{N} \sum_{t,b} m_{t,b} \log p_{t,b}[k_{t,b}], \qquad
        \frac{\partial \ell}{\partial y_{t,b}} = \frac{m_{t,b}}{N} (p_{t,b} - e_{k_{t,b}})

    where :math:`p_{t,b} = \operatorname{softmax}(y_{t,b})`, :math:`k` (L, B) the integer
    ``targets``, :math:`m` (L, B) the optional boolean ``mask`` and :math:`N = \sum m`.
    """
    _check_y(y)
    L, B, O = y.shape
    k = _check_labels(targets, (L, B), O)
    m = _check_mask(mask, (L, B))
    N = m.sum()
    logp = log_softmax(y)  # (L, B, O)
    picked = np.take_along_axis(logp, k[..., None], axis=-1)[..., 0]  # (L, B)
    loss = float(-(picked * m).sum() / N)
    dy = np.exp(logp)  # p, (L, B, O)
    np.put_along_axis(dy, k[..., None], np.take_along_axis(dy, k[..., None], -1) - 1, axis=-1)
    dy *= (m / N)[..., None]
    return loss, dy.astype(y.dtype, copy=False)


def softmax_cross_entropy_last(y: np.ndarray, targets, lengths=None):
    r"""Softmax cross-entropy at one step per sequence: step :math:`L_b - 1`.

    .. math::

        \ell = -\frac{1}{B} \sum_b \log p_{L_b - 1, b}[k_b]

    where :math:`k` (B,) are the integer ``targets`` and :math:`L_b \le L` the ``lengths`` (B,)
    (default L for every sequence): with right-padded variable-length sequences, the loss reads
    each sequence's last valid step. ``dy`` is zero at every other step.
    """
    _check_y(y)
    L, B, O = y.shape
    k = _check_labels(targets, (B,), O)
    if lengths is None:
        lengths = np.full(B, L)
    else:
        lengths = np.asarray(lengths)
        if not np.issubdtype(lengths.dtype, np.integer) or lengths.shape != (B,):
            raise ValueError(f"lengths must be B={B} integers, got dtype {lengths.dtype} "
                             f"shape {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > L:
            bad = lengths[(lengths < 1) | (lengths > L)][0]
            raise ValueError(f"lengths must lie in 1..{L} (L), got {bad}")
    b = np.arange(B)
    last = y[lengths - 1, b]  # (B, O)
    logp = log_softmax(last)  # (B, O)
    loss = float(-logp[b, k].mean())
    dlast = np.exp(logp)
    dlast[b, k] -= 1
    dy = np.zeros_like(y)
    dy[lengths - 1, b] = dlast / B
    return loss, dy
