r"""Diagnostics: how the gradient of the loss reaches each module's state over time.

The design note's own diagnostic for wiring choices is the gradient norm
:math:`\lVert \partial \ell / \partial h_t[i] \rVert` per module i against the step t: with the
paper's wiring a slow module hears from the fast ones only through the output, with full duplex
it hears them directly.

:func:`state_gradients` computes :math:`\delta_t = \partial \ell / \partial h_t` (the *total*
gradient on the state after step t, eq. B2 of ``docs/bptt.md``) with the public API only, by the
chunk identity of ``docs/bptt.md``: the loss terms after step t depend on :math:`h_t` only
through a second call that starts from it, so

.. math::

    \delta_t = W_O^\top \bar y_t + \frac{\partial \ell_{>t}}{\partial h_t}, \qquad
    \frac{\partial \ell_{>t}}{\partial h_t} = \texttt{backward}(\text{call over } t+1..L-1
    \text{ from } h_t)[\texttt{"h\_init"}],

which costs L backward passes of decreasing length (O(L²) steps), fine for the diagnostic's
sequence lengths and exact to rounding on either backend.
"""
from __future__ import annotations

import numpy as np

from ..models.clockwork.api import DEFAULT_BACKEND, backward, forward
from ..spec import ClockworkSpec

__all__ = ["state_gradients", "gradient_flow", "plot_gradient_flow"]


def state_gradients(params: dict, spec: ClockworkSpec, x: np.ndarray, dy: np.ndarray, *,
                    h_init=None, t0: int = 0, resets=None,
                    backend: str = DEFAULT_BACKEND) -> np.ndarray:
    r"""(L, B, H) array of :math:`\delta_t = \partial\ell/\partial h_t` for upstream ``dy``.

    Parameters
    ----------
    params, spec, x, h_init, t0, resets, backend : as for :func:`cwrnn_np.forward`
    dy : (L, B, O) upstream gradient :math:`\bar y_t` (e.g. from a loss)
    """
    y, cache = forward(params, spec, x, h_init=h_init, t0=t0, resets=resets, backend=backend)
    L = x.shape[0]
    resets = sorted(resets or [])
    if dy.shape != y.shape:
        raise ValueError(f"dy must have the shape of y {y.shape}, got {dy.shape}")
    delta = np.empty_like(cache.h)                              # (L, B, H)
    W_O = params["W_O"]
    for t in range(L):
        delta[t] = dy[t] @ W_O                                  # direct term W_O^T ybar_t
        if t + 1 < L:
            rest = [s - (t + 1) for s in resets if s > t]
            _, c = forward(params, spec, x[t + 1:], h_init=cache.h[t], t0=t0 + t + 1,
                           resets=rest, backend=backend)
            g = backward(params, spec, dy[t + 1:], c, backend=backend)
            delta[t] += g["h_init"]                             # d loss_{>t} / d h_t
    return delta


def gradient_flow(params: dict, spec: ClockworkSpec, x: np.ndarray, dy: np.ndarray,
                  **kwargs) -> np.ndarray:
    r"""(L, n) array: :math:`\lVert \delta_t[i] \rVert_2` over the batch and module i's units."""
    delta = state_gradients(params, spec, x, dy, **kwargs)      # (L, B, H)
    off = spec.offsets
    return np.stack([np.sqrt((delta[:, :, off[i]:off[i + 1]] ** 2).sum(axis=(1, 2)))
                     for i in range(spec.n_modules)], axis=1)   # (L, n)


def plot_gradient_flow(norms: np.ndarray, spec: ClockworkSpec, ax=None, title: str = ""):
    """Plot (L, n) gradient norms per module against t (log scale); return the Axes."""
    import matplotlib.pyplot as plt

    from .plotting import module_labels

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    labels = module_labels(spec)
    for i in range(norms.shape[1]):
        ax.semilogy(np.maximum(norms[:, i], 1e-300), lw=1, label=labels[i])
    ax.set_xlabel("step t")
    ax.set_ylabel(r"$\|\partial \ell / \partial h_t[i]\|$")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax
