"""Gradient-flow diagnostic: delta_t = d loss / d h_t per step, on every backend."""
import numpy as np
import pytest
from hypothesis import given, settings

import cwrnn_np as cw
from cwrnn_np.viz.diagnostics import gradient_flow, plot_gradient_flow, state_gradients
from strategies import examples, problems, random_params


def test_srn_state_gradients_equal_the_textbook_recursion(backend):
    rng = np.random.default_rng(0)
    spec = cw.srn_spec(2, 4, 3)
    p = random_params(spec, rng)
    x = rng.standard_normal((7, 2, 2))
    dy = rng.standard_normal((7, 2, 3))
    y, cache = cw.forward(p, spec, x, backend="numpy")
    h = cache.h
    expect = np.zeros_like(h)
    expect[-1] = dy[-1] @ p["W_O"]
    for t in range(5, -1, -1):  # delta_t = W_O^T dy_t + W_H^T (delta_{t+1} * (1 - h_{t+1}^2))
        expect[t] = dy[t] @ p["W_O"] + (expect[t + 1] * (1 - h[t + 1] ** 2)) @ p["W_H"]
    got = state_gradients(p, spec, x, dy, backend=backend)
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-14)


@settings(max_examples=examples(30))
@given(problem=problems())
def test_last_state_gradient_is_the_output_term(backend, problem):
    """Nothing follows the last step, so delta_{L-1} = W_O^T dy_{L-1} exactly (to rounding)."""
    d = state_gradients(problem.params, problem.spec, problem.x, problem.dy,
                        **problem.kwargs(), backend=backend)
    np.testing.assert_allclose(d[-1], problem.dy[-1] @ problem.params["W_O"], rtol=1e-12,
                               atol=1e-14)
    assert np.all(np.isfinite(d))


def test_gradient_flow_wiring_contrast(backend):
    """The output reads only the slow module. Under the paper's wiring the fast module feeds
    nothing that reaches the loss, so its state gradient is exactly zero at every step; under
    full duplex it feeds the slow module, so the gradient reaches it."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 1, 1))
    dy = rng.standard_normal((12, 1, 1))
    out = {}
    for connectivity in ("clockwork", "full"):
        spec = cw.ClockworkSpec(1, 1, [3, 3], [1, 4], connectivity=connectivity)
        p = random_params(spec, np.random.default_rng(2))
        p["W_O"][:, :3] = 0.0  # the loss reads only the slow module (units 3..5)
        out[connectivity] = gradient_flow(p, spec, x, dy, backend=backend)
    # clockwork: the fast module (0) is never read by the slow one nor by the output
    assert np.all(out["clockwork"][:, 0] == 0)
    assert np.any(out["full"][:, 0] > 0)
    assert out["clockwork"].shape == (12, 2)


def test_plot_and_bad_input():
    import matplotlib
    matplotlib.use("Agg")
    spec = cw.ClockworkSpec(1, 1, [2, 2], [1, 2])
    ax = plot_gradient_flow(np.ones((5, 2)), spec, title="t")
    assert len(ax.get_lines()) == 2
    p = cw.init_params(spec, np.random.default_rng(0))
    with pytest.raises(ValueError, match="dy must have the shape of y"):
        state_gradients(p, spec, np.zeros((5, 1, 1)), np.zeros((4, 1, 1)))
