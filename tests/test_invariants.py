"""Masking invariants of the clock and the wiring (docs/model.md), on every backend.

These are exact (bitwise) properties, not tolerances: an inactive module holds its state
bitwise, structurally masked weights cannot reach the output, and so on.
"""
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import cwrnn_np as cw
from strategies import examples, problems, random_params, specs


def _state_entering(cache, t):
    """The state that step t reads: r after a reset, else h_{t-1} (h_init at t = 0)."""
    B = cache.h.shape[1]
    if cache.reset[t]:
        return np.broadcast_to(cache.r, (B, cache.r.shape[0]))
    return cache.h_init if t == 0 else cache.h[t - 1]


@settings(max_examples=examples(100))
@given(problem=problems())
def test_inactive_modules_hold_their_state_bitwise(backend, problem):
    spec = problem.spec
    y, cache = cw.forward(problem.params, spec, problem.x, **problem.kwargs(), backend=backend)
    active = spec.active_units(len(problem.x), problem.t0)
    assert np.array_equal(cache.active, active)
    for t in range(len(problem.x)):
        prev = _state_entering(cache, t)
        held = ~active[t]
        assert np.array_equal(cache.h[t][:, held], prev[:, held]), t
        # active modules did update (tanh of something, so within (-1, 1))
        assert np.all(np.abs(cache.h[t][:, active[t]]) < 1)


@settings(max_examples=examples(100))
@given(problem=problems(), data=st.data())
def test_masked_weights_get_zero_gradient_and_cannot_change_y(backend, problem, data):
    spec = problem.spec
    assume((~spec.M_H).any() or (~spec.M_I).any())
    y, cache = cw.forward(problem.params, spec, problem.x, **problem.kwargs(), backend=backend)
    grads = cw.backward(problem.params, spec, problem.dy, cache, problem.dh_last,
                        backend=backend)
    assert np.all(grads["W_H"][~spec.M_H] == 0)
    assert np.all(grads["W_I"][~spec.M_I] == 0)
    # fill the structural zeros with garbage: y, the states and the gradients do not change
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dirty = dict(problem.params)
    dirty["W_H"] = np.where(spec.M_H, dirty["W_H"], 10 * rng.standard_normal(spec.M_H.shape))
    dirty["W_I"] = np.where(spec.M_I, dirty["W_I"], 10 * rng.standard_normal(spec.M_I.shape))
    y2, cache2 = cw.forward(dirty, spec, problem.x, **problem.kwargs(), backend=backend)
    assert np.array_equal(y, y2)
    assert np.array_equal(cache.h, cache2.h)
    grads2 = cw.backward(dirty, spec, problem.dy, cache2, problem.dh_last, backend=backend)
    for name in grads:
        assert np.array_equal(grads[name], grads2[name]), name


@settings(max_examples=examples(100))
@given(problem=problems(spec_strategy=specs(connectivity="clockwork")), data=st.data())
def test_clockwork_wiring_fast_state_never_reaches_slower_modules(backend, problem, data):
    """Paper wiring: a module reads only modules at least as slow, so a perturbation of a faster
    module's state never changes a slower module's states."""
    spec = problem.spec
    T = np.array(spec.periods)
    assume(len(set(spec.periods)) >= 2)
    j = data.draw(st.sampled_from([int(i) for i in np.flatnonzero(T < T.max())]))
    B, H = problem.x.shape[1], spec.hidden_size
    h_init = problem.h_init if problem.h_init is not None else np.zeros((B, H))
    bumped = h_init.copy()
    bumped[:, spec.offsets[j]:spec.offsets[j + 1]] += 0.5
    kw = dict(t0=problem.t0, resets=problem.resets, backend=backend)
    _, c1 = cw.forward(problem.params, spec, problem.x, h_init=h_init, **kw)
    _, c2 = cw.forward(problem.params, spec, problem.x, h_init=bumped, **kw)
    slower = np.repeat(T > T[j], spec.module_sizes)  # units of strictly slower modules
    assert np.array_equal(c1.h[:, :, slower], c2.h[:, :, slower])


def test_full_duplex_fast_state_reaches_slow_modules(backend):
    """Full duplex: the same perturbation does reach the slow module (the design note's point)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 2, 1))
    for connectivity, reaches in [("clockwork", False), ("full", True)]:
        spec = cw.ClockworkSpec(1, 1, [3, 3], [1, 4], connectivity=connectivity)
        params = random_params(spec, np.random.default_rng(1))
        h_init = np.zeros((2, 6))
        bumped = h_init.copy()
        bumped[:, :3] += 0.5  # module 0, period 1
        _, c1 = cw.forward(params, spec, x, h_init=h_init, backend=backend)
        _, c2 = cw.forward(params, spec, x, h_init=bumped, backend=backend)
        slow_changed = not np.array_equal(c1.h[:, :, 3:], c2.h[:, :, 3:])
        assert slow_changed == reaches, connectivity
        if reaches:
            # the slow module changes exactly at its active steps 0, 4, 8 and holds in between
            changed_at = [t for t in range(9) if not np.array_equal(c1.h[t, :, 3:], c2.h[t, :, 3:])]
            assert changed_at == list(range(9))
            assert np.array_equal(c2.h[1, :, 3:], c2.h[0, :, 3:])


@settings(max_examples=examples(100))
@given(problem=problems(), data=st.data())
def test_outputs_do_not_depend_on_future_inputs(backend, problem, data):
    L = len(problem.x)
    assume(L >= 2 and problem.spec.input_size > 0)
    t = data.draw(st.integers(0, L - 2))
    y, cache = cw.forward(problem.params, problem.spec, problem.x, **problem.kwargs(),
                          backend=backend)
    x2 = problem.x.copy()
    x2[t + 1:] += np.random.default_rng(problem.seed).standard_normal(x2[t + 1:].shape)
    y2, _ = cw.forward(problem.params, problem.spec, x2, **problem.kwargs(), backend=backend)
    assert np.array_equal(y[:t + 1], y2[:t + 1])
    # and the gradient of y_{0..t} with respect to later inputs is exactly zero
    dy = problem.dy.copy()
    dy[t + 1:] = 0
    grads = cw.backward(problem.params, problem.spec, dy, cache, backend=backend)
    assert np.all(grads["x"][t + 1:] == 0)


@settings(max_examples=examples(100))
@given(problem=problems(max_len=16), data=st.data())
def test_chunked_run_equals_whole_run(backend, problem, data):
    """Two calls with carried state and t0 give the outputs and gradients of one call."""
    L = len(problem.x)
    assume(L >= 2)
    k = data.draw(st.integers(1, L - 1))
    spec, params, x = problem.spec, problem.params, problem.x
    r1 = [s for s in problem.resets if s < k]
    r2 = [s - k for s in problem.resets if s >= k]
    y, cache = cw.forward(params, spec, x, **problem.kwargs(), backend=backend)
    y1, c1 = cw.forward(params, spec, x[:k], h_init=problem.h_init, t0=problem.t0, resets=r1,
                        backend=backend)
    y2, c2 = cw.forward(params, spec, x[k:], h_init=c1.h_last, t0=problem.t0 + k, resets=r2,
                        backend=backend)
    assert np.array_equal(np.concatenate([y1, y2]), y)
    assert np.array_equal(c2.h_last, cache.h_last)
    grads = cw.backward(params, spec, problem.dy, cache, problem.dh_last, backend=backend)
    g2 = cw.backward(params, spec, problem.dy[k:], c2, problem.dh_last, backend=backend)
    g1 = cw.backward(params, spec, problem.dy[:k], c1, g2["h_init"], backend=backend)
    for name in params:
        np.testing.assert_allclose(g1[name] + g2[name], grads[name], rtol=1e-12, atol=1e-14,
                                   err_msg=name)
    np.testing.assert_allclose(np.concatenate([g1["x"], g2["x"]]), grads["x"],
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g1["h_init"], grads["h_init"], rtol=1e-12, atol=1e-14)


def test_srn_equals_a_hand_written_plain_rnn(backend):
    rng = np.random.default_rng(5)
    spec = cw.srn_spec(input_size=3, hidden_size=5, output_size=2)
    assert spec.periods == (1,) and spec.n_modules == 1
    params = random_params(spec, rng)
    x = rng.standard_normal((8, 4, 3))
    y, cache = cw.forward(params, spec, x, backend=backend)
    h = np.zeros((4, 5))
    for t in range(8):
        h = np.tanh(x[t] @ params["W_I"].T + h @ params["W_H"].T + params["b_H"])
        np.testing.assert_allclose(y[t], h @ params["W_O"].T + params["b_O"], rtol=1e-14,
                                   atol=1e-15)
    np.testing.assert_allclose(cache.h_last, h, rtol=1e-14, atol=1e-15)


def test_reset_at_step_zero_ignores_h_init_and_cuts_its_gradient(backend):
    rng = np.random.default_rng(2)
    spec = cw.ClockworkSpec(1, 1, [2, 2], [1, 3], learn_h0=True)
    params = random_params(spec, rng)
    x = rng.standard_normal((5, 2, 1))
    h_init = rng.standard_normal((2, 4))
    y_a, c_a = cw.forward(params, spec, x, h_init=h_init, resets=[0], backend=backend)
    y_b, _ = cw.forward(params, spec, x, backend=backend)  # h_init defaults to r = h_0
    assert np.array_equal(y_a, y_b)
    grads = cw.backward(params, spec, rng.standard_normal(y_a.shape), c_a, backend=backend)
    assert np.all(grads["h_init"] == 0)
    assert np.any(grads["h_0"] != 0)


def test_resets_forget_the_past(backend):
    """After a reset at s, the states equal those of a fresh run started at step s (same t0)."""
    rng = np.random.default_rng(3)
    spec = cw.ClockworkSpec(2, 1, [2, 3], [1, 2], phases=[0, 1])
    params = random_params(spec, rng)
    x = rng.standard_normal((10, 2, 2))
    _, c = cw.forward(params, spec, x, t0=3, resets=[6], backend=backend)
    _, fresh = cw.forward(params, spec, x[6:], t0=3 + 6, backend=backend)
    assert np.array_equal(c.h[6:], fresh.h)
