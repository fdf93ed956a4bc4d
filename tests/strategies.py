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
