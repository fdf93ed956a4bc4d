"""Hypothesis strategies for Clockwork RNN specs and problems, drawn where the math is smooth.

Periods include non-nested values (3, 5, 7) so that modules fire in irregular patterns; lengths
are drawn independently of the periods (so they are mostly not multiples of any period); weights
are bounded (fan-in-scaled, scale <= 1.2) so tanh does not saturate and finite differences stay
accurate; upstream gradients are standard normal, never all ones.
"""
from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
from hypothesis import strategies as st

import cwrnn_np as cw

PERIODS = [1, 2, 3, 4, 5, 7, 8]

#: Multiplies every test's example count: ``CWRNN_TEST_SCALE=0.05`` for the pure-Python
#: (``NUMBA_DISABLE_JIT=1``) run of the kernels, larger values for a longer audit.
SCALE = float(os.environ.get("CWRNN_TEST_SCALE", "1"))


def examples(n: int) -> int:
    """The example count for a test written for ``n`` examples, scaled by ``SCALE`` (min 3)."""
    return max(3, int(round(n * SCALE)))


@st.composite
def specs(draw, max_modules=4, max_size=3, connectivity=None, learn_h0=None,
          min_input=0, max_input=3):
    """A ClockworkSpec with every field drawn (or fixed by the keyword arguments)."""
    n = draw(st.integers(1, max_modules))
    sizes = draw(st.lists(st.integers(1, max_size), min_size=n, max_size=n))
    periods = draw(st.lists(st.sampled_from(PERIODS), min_size=n, max_size=n))
    phases = [draw(st.integers(0, T - 1)) for T in periods]
    if connectivity is None:
        connectivity = draw(st.one_of(
            st.sampled_from(cw.masks.CONNECTIVITY_PRESETS),
            st.lists(st.lists(st.booleans(), min_size=n, max_size=n),
                     min_size=n, max_size=n).map(lambda m: np.array(m, dtype=bool))))
    routing = draw(st.one_of(
        st.sampled_from(["all", "fastest"]),
        st.lists(st.booleans(), min_size=n, max_size=n)))
    D = draw(st.integers(min_input, max_input))
    O = draw(st.integers(1, 3))
    if learn_h0 is None:
        learn_h0 = draw(st.booleans())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cw.UnreachableModuleWarning)
        return cw.ClockworkSpec(D, O, sizes, periods, phases, connectivity, routing, learn_h0)


@dataclasses.dataclass
class Problem:
    """One forward call's arguments plus random upstream gradients."""

    spec: cw.ClockworkSpec
    params: dict
    x: np.ndarray
    h_init: np.ndarray | None
    t0: int
    resets: list
    dy: np.ndarray
    dh_last: np.ndarray
    seed: int

    def kwargs(self):
        return dict(h_init=self.h_init, t0=self.t0, resets=self.resets)


def random_params(spec, rng, dtype=np.float64):
    """Bounded random parameters: fan-in-scaled weights, non-zero biases and h_0."""
    params = cw.init_params(spec, rng, dtype=dtype, scale=float(rng.uniform(0.5, 1.2)))
    H, O = spec.hidden_size, spec.output_size
    params["b_H"] = (0.3 * rng.standard_normal(H)).astype(dtype)
    params["b_O"] = (0.3 * rng.standard_normal(O)).astype(dtype)
    if spec.learn_h0:
        params["h_0"] = (0.5 * rng.standard_normal(H)).astype(dtype)
    return params


@st.composite
def problems(draw, spec_strategy=None, max_len=12, max_batch=3, dtype=np.float64,
             with_h_init=None, with_resets=True):
    """A spec, parameters, inputs, optional h_init, t0, resets and upstream gradients."""
    spec = draw(spec_strategy if spec_strategy is not None else specs())
    L = draw(st.integers(1, max_len))
    B = draw(st.integers(1, max_batch))
    t0 = draw(st.integers(0, 20))
    resets = draw(st.lists(st.integers(0, L - 1), max_size=3, unique=True)) if with_resets else []
    if with_h_init is None:
        with_h_init = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    params = random_params(spec, rng, dtype)
    x = rng.standard_normal((L, B, spec.input_size)).astype(dtype)
    H = spec.hidden_size
    h_init = (0.5 * rng.standard_normal((B, H))).astype(dtype) if with_h_init else None
    dy = rng.standard_normal((L, B, spec.output_size)).astype(dtype)
    dh_last = rng.standard_normal((B, H)).astype(dtype)
    return Problem(spec, params, x, h_init, t0, sorted(resets), dy, dh_last, seed)


def check_chunked_equals_whole(fwd, bwd, problem, cut, backend, fields=(), bitwise=("y",)):
    """Forward in two chunks (carrying ``cache.h_last`` and ``t0 + L1``) gives the whole run's
    outputs, state and cache ``fields``; backward in two chunks (carrying ``grads["h_init"]``
    as ``dh_last``) gives its gradients. ``fwd(params, spec, x, h_init, t0, resets, backend=)``
    and ``bwd(params, spec, dy, cache, dh_last, backend=)`` are a family's public entry points;
    ``problem`` holds spec, params, x, h_init, resets, dy, dh_last and optionally t0 (default
    0). On the Numba backend the ``bitwise`` quantities (``"y"``, ``"h_last"``) must match
    exactly."""
    spec, params, x, t0 = problem["spec"], problem["params"], problem["x"], problem.get("t0", 0)
    k = min(cut, len(x) - 1)
    if k < 1:
        return
    r1 = [s for s in problem["resets"] if s < k]
    r2 = [s - k for s in problem["resets"] if s >= k]
    y, cache = fwd(params, spec, x, problem["h_init"], t0, problem["resets"], backend=backend)
    y1, c1 = fwd(params, spec, x[:k], problem["h_init"], t0, r1, backend=backend)
    y2, c2 = fwd(params, spec, x[k:], c1.h_last, t0 + k, r2, backend=backend)
    joined = {"y": (np.concatenate([y1, y2]), y), "h_last": (c2.h_last, cache.h_last)}
    if backend == "numba":
        # plain loops in a fixed order
        for name in bitwise:
            assert np.array_equal(*joined[name]), f"{name} is not bitwise equal"
    for name, (got, want) in joined.items():
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13, err_msg=name)
    for field in fields:
        np.testing.assert_allclose(np.concatenate([getattr(c1, field), getattr(c2, field)]),
                                   getattr(cache, field), rtol=1e-13, atol=1e-13,
                                   err_msg=field)
    dy, dh_last = problem["dy"], problem["dh_last"]
    g = bwd(params, spec, dy, cache, dh_last, backend=backend)
    g2 = bwd(params, spec, dy[k:], c2, dh_last, backend=backend)
    g1 = bwd(params, spec, dy[:k], c1, g2["h_init"], backend=backend)
    np.testing.assert_allclose(np.concatenate([g1["x"], g2["x"]]), g["x"], rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(g1["h_init"], g["h_init"], rtol=1e-10, atol=1e-12)
    for name in params:
        # chunk 2 was given h_init = c1.h_last, so its "h_init" gradient reaches h_0 only
        # through chunk 1: summing the chunks' h_0 gradients counts it once
        np.testing.assert_allclose(g1[name] + g2[name], g[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def assert_agrees(name, got, want, rtol, scale=None):
    """Norm-wise: ``|got - want| <= rtol (|want| + scale)``, ``scale`` = max|want| unless given;
    same shape and dtype."""
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
    if scale is None:
        scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale,
                               err_msg=f"{name}: numba (ACTUAL) vs numpy (DESIRED)")
