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

For the char-LM training step of configs (d) and (e) (a CW-RNN or SRN, the tanh readout, softmax
cross-entropy and a clipped Adam update), :class:`TorchCharLMStep` (``"torch"`` in the results)
is the active-work port: only active modules compute, each reading only the blocks of W_H its
wiring allows. :func:`check_charlm_against_reference` compares one of its steps with one of
``CharLMStep("numpy", ...)``: loss, gradients, Adam moments and updated parameters.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

import torch

__all__ = ["TorchStep", "check_against_reference", "TORCH_VARIANTS", "TorchCharLMStep",
           "check_charlm_against_reference"]

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


# ----- the char-LM training step (configs d, e) ------------------------------------------------
class _Module(NamedTuple):
    """Where module i lives in the parameters, and when it fires (a clock offset t0 of 0).

    ``rows``: its units, a slice of H; ``cols``: the units it reads in W_H (the wiring C[i]),
    a slice when they are contiguous, else an index tensor, None when it reads none;
    ``steps``: its active steps ``phase::period``; ``reads_input``: R[i].
    """

    rows: slice
    cols: object
    steps: slice
    reads_input: bool


def _span(mask: np.ndarray):
    """A boolean (H,) column mask as a slice (contiguous), an index tensor, or None (empty)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    if idx[-1] - idx[0] + 1 == idx.size:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return torch.from_numpy(idx)


class TorchCharLMStep:
    r"""One training step of the design note's char-LM (configs d, e) in PyTorch eager mode.

    The same step as :class:`cwrnn_np.bench.runner.CharLMStep`: the network's forward pass, the
    tanh readout, the softmax cross-entropy, the backward pass (by autograd) and an Adam update
    with global-norm clipping. Each call runs one step and continues from the last (the updated
    parameters and the Adam moments are kept; every step starts from the zero state at clock
    offset 0 on the same batch).

    Parameters
    ----------
    net : :class:`cwrnn_np.models.readout.Net`
        Kind ``"cwrnn"`` or ``"srn"`` (a :class:`~cwrnn_np.ClockworkSpec`) with ``readout > 0``.
    params : dict of numpy arrays
        From ``net.init``; all float64 or all float32, and the port computes in that dtype.
        They are copied, never written.
    x : (L, B, D) one-hot inputs, of the parameters' dtype.
    targets : (L, B) int, the next symbols.
    lr, beta1, beta2, eps, clip_norm : float
        The Adam hyper-parameters; the defaults are those of ``CharLMStep``
        (``make_optimizer("adam", lr=5e-4, clip_norm=5.0)``).

    Notes
    -----
    Forward (``docs/model.md`` M3, M4, M6; :mod:`cwrnn_np.models.readout` R1, R2), computing
    only what the clock and the wiring need, like ``torch-active``:

    .. math::

        a_t[i] &= W_I[i] x_t + b_H[i] + \textstyle\sum_{j: C_{ij}} W_H[i, j]\, h_{t-1}[j]
            \quad \text{for } i \in \mathcal A_t          && (M3) \\
        h_t[i] &= \tanh(a_t[i]) \text{ if } i \in \mathcal A_t \text{ else } h_{t-1}[i]
                                                           && (M4) \\
        z_t &= W_O h_t + b_O, \quad v_t = \tanh(z_t), \quad y_t = W_R v_t + b_R
                                                           && (M6, R1, R2) \\
        \ell &= -\frac{1}{LB} \textstyle\sum_{t,b} \log \operatorname{softmax}(y_{t,b})[k_{t,b}]

    where :math:`\mathcal A_t` is the set of modules active at step t, :math:`W[i, j]` the block
    of W from module j's units to module i's, :math:`h_{-1} = 0` (or :math:`h_0` if learned) and
    :math:`k` the targets. The input term of module i is computed for all its active steps in one
    product (it does not depend on the state), the term is absent when :math:`R_i` is false, and
    masked blocks of W_I and W_H are never read, so their gradients are exactly zero.

    Update (:class:`cwrnn_np.training.optim.Adam` after
    :func:`~cwrnn_np.training.optim.clip_gradients`), in place:

    .. math::

        g &\leftarrow g \cdot \min(1, c_n / \lVert g \rVert) \\
        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        \theta &\leftarrow \theta - \alpha\, \frac{m / (1 - \beta_1^t)}
            {\sqrt{v / (1 - \beta_2^t)} + \varepsilon}

    where :math:`\lVert g \rVert` is the global norm over every parameter gradient, computed in
    float64 as the optimizer does, :math:`c_n` is ``clip_norm`` and t the update count.
    Masked entries stay exactly zero without the optimizer's re-masking: their gradient is zero,
    so their moments and their step are too.
    """

    def __init__(self, net, params, x, targets, lr=5e-4, beta1=0.9, beta2=0.999, eps=1e-8,
                 clip_norm=5.0):
        spec = net.spec
        if net.kind not in ("cwrnn", "srn") or not net.readout:
            raise ValueError(f"TorchCharLMStep needs a 'cwrnn' or 'srn' Net with a readout, "
                             f"got kind {net.kind!r} with readout {net.readout}")
        self.net, self.spec = net, spec
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.clip_norm = clip_norm
        masks = net.param_masks()
        # masked entries are exact zeros, as the reference optimizer keeps them
        self.params = {
            name: torch.tensor(p if masks.get(name) is None else np.where(masks[name], p, 0),
                               dtype=_TORCH_DTYPES[np.dtype(p.dtype)], requires_grad=True)
            for name, p in params.items()}
        dtype = self.params["W_H"].dtype
        self.x = torch.tensor(x, dtype=dtype)                            # (L, B, D)
        self.targets = torch.tensor(np.asarray(targets)).reshape(-1)     # (L*B,)
        with torch.no_grad():
            self.moments = {name: (torch.zeros_like(p), torch.zeros_like(p))
                            for name, p in self.params.items()}          # (m, v) per parameter
        self.step = 0
        L = x.shape[0]
        off = spec.offsets
        self.modules = [
            _Module(rows=slice(int(off[i]), int(off[i + 1])),
                    cols=_span(np.repeat(spec.C[i], spec.module_sizes)),
                    steps=slice(int(spec.phases[i]), None, int(spec.periods[i])),
                    reads_input=bool(spec.R[i]))
            for i in range(spec.n_modules)]
        active = spec.active(L, 0)                                       # (L, n) the clock
        # at step t, the active modules and the index of t among each one's active steps
        self.schedule = [[(int(i), int(active[:t, i].sum())) for i in np.flatnonzero(a)]
                         for t, a in enumerate(active)]

    def _network(self):
        """z (L, B, R): the network's outputs, computing active modules only (M3, M4, M6)."""
        p, spec = self.params, self.spec
        L, B, _ = self.x.shape
        W_H, b_H = p["W_H"], p["b_H"]
        # input drive and bias of each module at its active steps: u_i (L_i, B, k_i), one
        # product per module; unbound into L_i tensors (B, k_i), so that the backward stacks
        # their gradients once instead of scattering each into a zero (L_i, B, k_i) tensor
        u = []
        for m in self.modules:
            if m.reads_input:
                u_i = self.x[m.steps] @ p["W_I"][m.rows].T + b_H[m.rows]     # (L_i, B, k_i)
            else:
                u_i = b_H[m.rows].expand(len(range(L)[m.steps]), B, -1)      # (L_i, B, k_i)
            u.append(u_i.unbind(0))
        # the allowed blocks of W_H, one (k_i, |C_i|) per module
        W_blocks = [None if m.cols is None else W_H[m.rows][:, m.cols] for m in self.modules]
        if spec.learn_h0:
            h = p["h_0"].expand(B, -1)                                   # (B, H)
        else:
            h = torch.zeros(B, spec.hidden_size, dtype=W_H.dtype)        # (B, H)
        parts = [h[:, m.rows] for m in self.modules]                     # (B, k_i) each
        hs = []
        for active in self.schedule:
            for i, s in active:
                a = u[i][s]                                              # (M3) (B, k_i)
                if W_blocks[i] is not None:
                    a = a + h[:, self.modules[i].cols] @ W_blocks[i].T
                parts[i] = torch.tanh(a)                                 # (M4)
            # inactive modules: their parts (their states) pass through unchanged
            h = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)  # (B, H)
            hs.append(h)
        return torch.stack(hs) @ p["W_O"].T + p["b_O"]                   # (M6) (L, B, R)

    def loss_and_grads(self):
        """Forward, loss and backward from the current parameters: ``(loss, grads)``, the
        gradients as numpy views of the parameters' ``.grad``, which :meth:`update` reads and
        clips in place (copy them to keep the unclipped values)."""
        p = self.params
        for t in p.values():
            t.grad = None
        z = self._network()                                              # (L, B, R)
        v = torch.tanh(z)                                                # (R1)
        y = v @ p["W_R"].T + p["b_R"]                                    # (R2) (L, B, V)
        # softmax cross-entropy, the mean over the L*B steps (losses.softmax_cross_entropy)
        loss = torch.nn.functional.cross_entropy(y.reshape(-1, y.shape[-1]), self.targets)
        loss.backward()
        return float(loss.detach()), {name: t.grad.numpy() for name, t in p.items()}

    @torch.no_grad()
    def update(self):
        """The Adam update from the gradients of the last :meth:`loss_and_grads`, in place."""
        from ..training.optim import NonFiniteGradientError
        grads = {name: t.grad for name, t in self.params.items()}
        self.step += 1
        # global norm in float64, as optim.global_norm
        norm = math.sqrt(sum(float(torch.linalg.vector_norm(g, dtype=torch.float64)) ** 2
                             for g in grads.values()))
        if not math.isfinite(norm):
            for name, g in grads.items():
                bad = ~torch.isfinite(g)
                if bool(bad.any()):
                    index = tuple(int(i) for i in torch.nonzero(bad)[0])
                    raise NonFiniteGradientError(name, index, float(g[index]), self.step)
        if self.clip_norm is not None and norm > self.clip_norm:
            scale = self.clip_norm / norm
            for g in grads.values():
                g.mul_(scale)
        b1, b2 = self.beta1, self.beta2
        bias1, bias2 = 1.0 - b1 ** self.step, 1.0 - b2 ** self.step
        for name, theta in self.params.items():
            g, (m, v) = grads[name], self.moments[name]
            m.mul_(b1).add_(g, alpha=1.0 - b1)                           # first moment
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)                    # second moment
            denom = (v / bias2).sqrt_().add_(self.eps)                   # sqrt(v_hat) + eps
            theta.addcdiv_(m / bias1, denom, value=-self.lr)             # θ -= α m_hat / denom

    def __call__(self):
        """One training step; returns the loss before the update."""
        loss, _ = self.loss_and_grads()
        self.update()
        return loss

    def numpy_params(self) -> dict:
        """The current parameters as numpy arrays (copies)."""
        return {name: t.detach().numpy().copy() for name, t in self.params.items()}


_TORCH_DTYPES = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}


def check_charlm_against_reference(net, params, x, targets, rtol=None, steps=1, clip_norm=5.0):
    r"""Raise AssertionError unless :class:`TorchCharLMStep` matches ``CharLMStep("numpy", ...)``
    started from the same parameters, for ``steps`` consecutive training steps.

    After each step it compares:

    * the loss and every parameter gradient (before the update) with the reference's;
    * the port's updated parameters and Adam moments m and v (which hold the clipped gradient)
      with the reference optimizer applied to the port's own parameters, gradients and moments,
      so that the update rule is checked apart from gradient rounding (Adam's first step
      :math:`\alpha g / (|g| + \varepsilon)` turns a float32 rounding of a gradient entry near
      :math:`\varepsilon` into a visible change of its step);
    * in float64, also the updated parameters with the reference's own step, end to end.

    Arrays are compared element-wise with ``rtol`` and an absolute tolerance of ``rtol`` times
    the array's largest reference magnitude (an entry that cancels to near zero carries the
    rounding of its terms). ``rtol`` defaults to 1e-9 in float64 and 1e-4 in float32.
    ``clip_norm`` is passed to both (5, the char-LM experiment's, by default). The message names
    the step, the quantity and the parameter.
    """
    from .runner import CharLMStep

    dtype = np.dtype(params["W_H"].dtype)
    if rtol is None:
        rtol = 1e-9 if dtype == np.float64 else 1e-4
    ref = CharLMStep("numpy", net, params, x, targets, clip_norm=clip_norm)
    port = TorchCharLMStep(net, params, x, targets, clip_norm=clip_norm)
    kind = f"torch char-LM port ({net.kind}, {dtype})"

    def agree(got, want, what):
        scale = float(np.abs(want).max()) + 1e-300
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale,
                                   err_msg=f"{kind}: {what} disagrees with the reference")

    for step in range(1, steps + 1):
        loss_ref, grads_ref = ref.loss_and_grads()
        ref.apply(grads_ref)
        before = port.numpy_params()
        state = {"step": np.array(step - 1, dtype=np.int64)}
        for slot, k in (("m", 0), ("v", 1)):
            state.update({f"{slot}/{name}": mv[k].numpy().copy()
                          for name, mv in port.moments.items()})
        loss_t, grads_t = port.loss_and_grads()
        grads_t = {name: g.copy() for name, g in grads_t.items()}   # update() clips in place
        port.update()
        np.testing.assert_allclose(loss_t, loss_ref, rtol=rtol,
                                   err_msg=f"{kind}: loss of step {step}")
        for name, g in grads_t.items():
            agree(g, grads_ref[name], f"step {step}: gradient of {name}")
        want_params, want_state = ref.opt.update(before, grads_t, state, ref.masks)
        after = port.numpy_params()
        for name, (m, v) in port.moments.items():
            agree(m.numpy(), want_state[f"m/{name}"], f"step {step}: Adam m of {name}")
            agree(v.numpy(), want_state[f"v/{name}"], f"step {step}: Adam v of {name}")
            agree(after[name], want_params[name], f"step {step}: Adam update of {name}")
            if dtype == np.float64:
                agree(after[name], ref.params[name], f"step {step}: updated parameter {name}")
