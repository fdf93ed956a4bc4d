r"""PyTorch eager CPU implementations of the same masked Clockwork RNN, for the benchmark only.

Optional: needs ``torch`` (``pip install -e ".[bench]"``, or ``pip install torch==2.13.0`` for
the CPU build). Nothing else in the package imports this module.

Two ports, both with autograd for the backward pass, both following ``docs/model.md`` M1–M6:

* ``"torch-masked"``: the usual public port. Each step computes the full (B, H) pre-activation
  and selects active units with ``torch.where``, so its cost is H² per step whatever the clock.
* ``"torch-active"``: a port that, like our kernels, computes pre-activations only for the
  active units at each step (``index_select`` of the active rows of W_I and W_H, then
  ``index_copy`` into the state), so its FLOPs follow the clock.

Before any timing, :func:`check_against_reference` verifies that both give the reference's loss
and gradients (float64, relative 1e-10), so the benchmark compares equal work.
"""
from __future__ import annotations

import numpy as np

import torch

__all__ = ["TorchStep", "check_against_reference", "TORCH_VARIANTS"]

TORCH_VARIANTS = ("torch-masked", "torch-active")


class TorchStep:
    """One training step (forward, MSE loss, backward) of a CW-RNN in PyTorch eager mode.

    Parameters
    ----------
    spec : ClockworkSpec
    params : dict of numpy arrays (see :mod:`cwrnn_np.params`)
    x : (L, B, D) inputs; target : (L, B, O) regression target
    variant : ``"torch-masked"`` or ``"torch-active"``
    """

    def __init__(self, spec, params, x, target, variant="torch-masked"):
        if variant not in TORCH_VARIANTS:
            raise ValueError(f"variant must be one of {TORCH_VARIANTS}, got {variant!r}")
        self.variant = variant
        self.spec = spec
        self.params = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()
                       if k != "h_0"}
        self.M_I = torch.tensor(spec.M_I, dtype=self.params["W_I"].dtype)
        self.M_H = torch.tensor(spec.M_H, dtype=self.params["W_H"].dtype)
        self.x = torch.tensor(x)
        self.target = torch.tensor(target)
        L = x.shape[0]
        active = spec.active_units(L, 0)  # (L, H)
        self.active = torch.tensor(active)
        self.active_idx = [torch.tensor(np.flatnonzero(a)) for a in active]

    def __call__(self):
        """Run forward + loss + backward; return (loss, grads as numpy arrays)."""
        p = self.params
        for v in p.values():
            v.grad = None
        W_I = p["W_I"] * self.M_I  # (M1)
        W_H = p["W_H"] * self.M_H
        L, B, _ = self.x.shape
        h = torch.zeros(B, self.spec.hidden_size, dtype=W_H.dtype)
        hs = []
        if self.variant == "torch-masked":
            for t in range(L):
                a = self.x[t] @ W_I.T + h @ W_H.T + p["b_H"]  # (M3) full (B, H)
                h = torch.where(self.active[t], torch.tanh(a), h)  # (M4)
                hs.append(h)
        else:
            for t in range(L):
                idx = self.active_idx[t]
                a = (self.x[t] @ W_I.index_select(0, idx).T + h @ W_H.index_select(0, idx).T
                     + p["b_H"].index_select(0, idx))  # (M3) active rows only
                h = h.index_copy(1, idx, torch.tanh(a))  # (M4)
                hs.append(h)
        y = torch.stack(hs) @ p["W_O"].T + p["b_O"]  # (M6) (L, B, O)
        loss = ((y - self.target) ** 2).mean()
        loss.backward()
        return float(loss.detach()), {k: v.grad.numpy() for k, v in p.items()}


def check_against_reference(spec, params, x, target, variant, rtol=1e-10):
    """Raise AssertionError unless the torch port matches the NumPy reference (float64)."""
    from ..losses import mse
    from ..models.clockwork.api import backward, forward

    y, cache = forward(params, spec, x, backend="numpy")
    loss_ref, dy = mse(y, target)
    grads_ref = backward(params, spec, dy, cache, backend="numpy")
    loss_t, grads_t = TorchStep(spec, params, x, target, variant)()
    np.testing.assert_allclose(loss_t, loss_ref, rtol=rtol)
    for name, g in grads_t.items():
        scale = np.abs(grads_ref[name]).max() + 1e-300
        np.testing.assert_allclose(g, grads_ref[name], rtol=rtol, atol=rtol * scale,
                                   err_msg=f"{variant} gradient {name}")
