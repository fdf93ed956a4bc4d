"""Optimizers: steps against hand computation, masks, clipping, purity, serialisation, dtypes.

Expected values are written out from the equations in ``cwrnn_np/training/optim.py`` with small numbers
(hyper-parameters such as eps = 0.5 are chosen so each step can be followed on paper); they never
come from calling the code under test.
"""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import cwrnn_np as cw
from cwrnn_np.training import optim
from cwrnn_np.training.optim import SGD, Adam, NonFiniteGradientError, RMSProp, make_optimizer

from strategies import examples


def run(opt, theta0, grads_seq, name="w"):
    """Apply ``opt`` to one parameter ``name`` for each gradient in turn; all iterates."""
    params = {name: np.array(theta0, dtype=np.float64)}
    state = opt.init(params)
    out = []
    for g in grads_seq:
        params, state = opt.update(params, {name: np.array(g, dtype=np.float64)}, state)
        out.append((params[name], state))
    return out


def assert_close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=1e-13, atol=1e-15, err_msg=what)


# ----- hand-computed steps ---------------------------------------------------------------------
def test_sgd_plain_by_hand():
    # theta <- theta - alpha g, alpha = 0.1
    (t1, s1), (t2, s2) = run(SGD(lr=0.1), [1.0, -1.0], [[1.0, 2.0], [-2.0, 4.0]])
    assert_close(t1, [0.9, -1.2], "step 1")
    assert_close(t2, [1.1, -1.6], "step 2")
    assert set(s2) == {"step"} and int(s2["step"]) == 2


def test_sgd_momentum_by_hand():
    # v <- mu v - alpha g ; theta <- theta + v ; alpha = 0.1, mu = 0.5
    # v1 = -0.1 [1, 2]                     = [-0.1, -0.2];  theta1 = [0.9, -1.2]
    # v2 = 0.5 v1 - 0.1 [-2, 4]            = [0.15, -0.5];  theta2 = [1.05, -1.7]
    # v3 = 0.5 v2 - 0.1 [0.5, 0]           = [0.025, -0.25]; theta3 = [1.075, -1.95]
    steps = run(SGD(lr=0.1, momentum=0.5), [1.0, -1.0], [[1.0, 2.0], [-2.0, 4.0], [0.5, 0.0]])
    for (theta, state), v, th in zip(steps,
                                     [[-0.1, -0.2], [0.15, -0.5], [0.025, -0.25]],
                                     [[0.9, -1.2], [1.05, -1.7], [1.075, -1.95]]):
        assert_close(state["v/w"], v, "velocity")
        assert_close(theta, th, "theta")
    assert int(steps[-1][1]["step"]) == 3


def test_sgd_nesterov_by_hand():
    # same velocity as above; theta <- theta + mu v - alpha g
    # theta1 = 1 + 0.5(-0.1) - 0.1(1)     = 0.85,   -1 + 0.5(-0.2) - 0.1(2)    = -1.3
    # theta2 = 0.85 + 0.075 + 0.2         = 1.125,  -1.3 - 0.25 - 0.4          = -1.95
    # theta3 = 1.125 + 0.0125 - 0.05      = 1.0875, -1.95 - 0.125 - 0          = -2.075
    steps = run(SGD(lr=0.1, momentum=0.5, nesterov=True), [1.0, -1.0],
                [[1.0, 2.0], [-2.0, 4.0], [0.5, 0.0]])
    for (theta, state), v, th in zip(steps,
                                     [[-0.1, -0.2], [0.15, -0.5], [0.025, -0.25]],
                                     [[0.85, -1.3], [1.125, -1.95], [1.0875, -2.075]]):
        assert_close(state["v/w"], v, "velocity")
        assert_close(theta, th, "theta")


def test_adam_by_hand():
    # alpha = 0.1, beta1 = 0.5, beta2 = 0.75, eps = 0.5
    # step 1, g = [2, -4]: m = 0.5 g = [1, -2]; v = 0.25 g^2 = [1, 4]
    #   m_hat = m / 0.5 = [2, -4]; v_hat = v / 0.25 = [4, 16]
    #   theta = [1, -2] - 0.1 [2 / (2 + 0.5), -4 / (4 + 0.5)] = [0.92, -2 + 0.4 / 4.5]
    # step 2, g = [1, 2]: m = 0.5 [1, -2] + 0.5 [1, 2] = [1, 0]
    #   v = 0.75 [1, 4] + 0.25 [1, 4] = [1, 4]
    #   m_hat = m / (1 - 0.25) = [4/3, 0]; v_hat = v / (1 - 0.5625) = [16/7, 64/7]
    #   theta[0] = 0.92 - 0.1 (4/3) / (4/sqrt(7) + 0.5); theta[1] unchanged (m = 0)
    opt = Adam(lr=0.1, beta1=0.5, beta2=0.75, eps=0.5)
    (t1, s1), (t2, s2) = run(opt, [1.0, -2.0], [[2.0, -4.0], [1.0, 2.0]])
    assert_close(s1["m/w"], [1.0, -2.0], "m1")
    assert_close(s1["v/w"], [1.0, 4.0], "v1")
    assert_close(t1, [0.92, -2.0 + 0.4 / 4.5], "theta1")
    assert_close(s2["m/w"], [1.0, 0.0], "m2")
    assert_close(s2["v/w"], [1.0, 4.0], "v2")
    assert_close(t2, [0.92 - 0.1 * (4 / 3) / (4 / math.sqrt(7) + 0.5), -2.0 + 0.4 / 4.5],
                 "theta2")
    assert int(s1["step"]) == 1 and int(s2["step"]) == 2


def test_adam_first_step_is_lr_times_sign():
    # with a tiny eps, m_hat / sqrt(v_hat) = g / |g| on the first step
    (t1, _), = run(Adam(lr=0.01), [0.0, 0.0, 0.0], [[3.0, -1e-3, 250.0]])
    np.testing.assert_allclose(t1, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_rmsprop_by_hand():
    # alpha = 0.1, rho = 0.75, eps = 0.5
    # step 1, g = [2, -4]: s = 0.25 [4, 16] = [1, 4]
    #   theta = [1, -1] - 0.1 [2 / (1 + 0.5), -4 / (2 + 0.5)] = [1 - 0.2/1.5, -1 + 0.16]
    # step 2, g = [4, 0]: s = 0.75 [1, 4] + 0.25 [16, 0] = [4.75, 3]
    #   theta[0] -= 0.1 * 4 / (sqrt(4.75) + 0.5); theta[1] unchanged
    opt = RMSProp(lr=0.1, decay=0.75, eps=0.5)
    (t1, s1), (t2, s2) = run(opt, [1.0, -1.0], [[2.0, -4.0], [4.0, 0.0]])
    assert_close(s1["s/w"], [1.0, 4.0], "s1")
    assert_close(t1, [1.0 - 0.2 / 1.5, -0.84], "theta1")
    assert_close(s2["s/w"], [4.75, 3.0], "s2")
    assert_close(t2, [1.0 - 0.2 / 1.5 - 0.4 / (math.sqrt(4.75) + 0.5), -0.84], "theta2")


def test_several_parameters_and_extra_grad_keys():
    # each parameter follows its own rule; "x" and "h_init" in grads are ignored
    params = {"a": np.array([1.0]), "b": np.array([[2.0, 3.0]])}
    grads = {"a": np.array([1.0]), "b": np.array([[-1.0, 0.0]]),
             "x": np.ones((4, 1, 2)), "h_init": np.ones((1, 3))}
    opt = SGD(lr=0.5)
    new, state = opt.update(params, grads, opt.init(params))
    assert set(new) == {"a", "b"}
    assert_close(new["a"], [0.5], "a")
    assert_close(new["b"], [[2.5, 3.0]], "b")


# ----- clipping --------------------------------------------------------------------------------
def test_clip_by_value_by_hand():
    out = optim.clip_gradients({"w": np.array([3.0, -0.5, -2.0])}, clip_value=1.0)
    assert_close(out["w"], [1.0, -0.5, -1.0], "clip_value")


def test_clip_by_norm_by_hand():
    # global norm over both arrays: sqrt(3^2 + 4^2) = 5 -> scale 1/5
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}
    assert optim.global_norm(g) == 5.0
    out = optim.clip_gradients(g, clip_norm=1.0)
    assert_close(out["a"], [0.6, 0.0], "a")
    assert_close(out["b"], [[0.0, 0.8]], "b")
    # below the threshold: unchanged, bit for bit
    same = optim.clip_gradients(g, clip_norm=5.5)
    assert all(np.array_equal(same[k], g[k]) for k in g)


def test_clip_value_then_norm_by_hand():
    # [3, 4] -> value clip 2.5 -> [2.5, 2.5], norm 2.5 sqrt(2) -> norm clip 1 -> [1/sqrt2, 1/sqrt2]
    out = optim.clip_gradients({"w": np.array([3.0, 4.0])}, clip_value=2.5, clip_norm=1.0)
    assert_close(out["w"], [1 / math.sqrt(2), 1 / math.sqrt(2)], "value then norm")


def test_clipping_inside_update_by_hand():
    # SGD with lr = 1 exposes the clipped gradient: theta1 = theta0 - g_clipped
    params = {"a": np.array([0.0, 0.0]), "b": np.array([0.0])}
    grads = {"a": np.array([30.0, 0.0]), "b": np.array([-4.0])}
    opt = SGD(lr=1.0, clip_value=3.0, clip_norm=2.5)
    # value: [3, 0], [-3]; norm 3 sqrt 2 -> scale 2.5 / (3 sqrt 2)
    new, _ = opt.update(params, grads, opt.init(params))
    k = 2.5 / (3 * math.sqrt(2))
    assert_close(new["a"], [-3 * k, 0.0], "a")
    assert_close(new["b"], [3 * k], "b")


def test_clip_norm_counts_free_entries_only():
    # the masked entry's gradient (100) must not enter the norm: free norm = 5 -> scale 1/5
    params = {"w": np.zeros(3)}
    grads = {"w": np.array([3.0, 100.0, 4.0])}
    masks = {"w": np.array([True, False, True])}
    opt = SGD(lr=1.0, clip_norm=1.0)
    new, _ = opt.update(params, grads, opt.init(params), masks=masks)
    assert_close(new["w"], [-0.6, 0.0, -0.8], "masked norm")


def test_global_norm_does_not_overflow_or_break_on_empty():
    g = {"big": np.array([3e200, 4e200]), "empty": np.zeros((3, 0))}
    assert optim.global_norm(g) == pytest.approx(5e200, rel=1e-15)
    assert optim.global_norm({"empty": np.zeros((3, 0))}) == 0.0


# ----- masks, purity, dtypes -------------------------------------------------------------------
ALL_OPTIMIZERS = [
    SGD(lr=0.05), SGD(lr=0.05, momentum=0.9), SGD(lr=0.05, momentum=0.95, nesterov=True),
    Adam(lr=0.05), RMSProp(lr=0.05),
    Adam(lr=0.05, clip_norm=0.5, clip_value=0.3),
]
IDS = ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adam-clipped"]


def spec_problem(seed, dtype=np.float64):
    """A clockwork spec with masked W_I and W_H (and an empty-free layout), params, masks."""
    spec = cw.ClockworkSpec(2, 2, [2, 2, 3], [1, 2, 4], input_modules="fastest", learn_h0=True)
    rng = np.random.default_rng(seed)
    params = cw.init_params(spec, rng, dtype=dtype)
    return spec, params, spec.param_masks(), rng


def random_grads(params, rng, dtype=np.float64):
    """Nonzero everywhere, masked entries included, plus the keys backward adds."""
    g = {k: rng.standard_normal(p.shape).astype(dtype) for k, p in params.items()}
    g["x"] = rng.standard_normal((3, 1, 2))
    g["h_init"] = rng.standard_normal((1, 7))
    return g


@pytest.mark.parametrize("opt", ALL_OPTIMIZERS, ids=IDS)
def test_masked_entries_stay_exactly_zero(opt):
    spec, params, masks, rng = spec_problem(0)
    assert (~masks["W_H"]).any() and (~masks["W_I"]).any()
    # start from nonzero values at masked entries: update must zero them
    params = {k: v + 0.5 for k, v in params.items()}
    state = opt.init(params)
    for _ in range(150):
        params, state = opt.update(params, random_grads(params, rng), state, masks=masks)
    for name, m in masks.items():
        if m is None:
            continue
        off = ~m
        assert np.all(params[name][off] == 0.0), f"{name} masked entries moved"
        assert not np.signbit(params[name][off]).any(), f"{name} masked entries are -0.0"
        for slot in opt.slots:
            assert np.all(state[f"{slot}/{name}"][off] == 0.0), f"{slot}/{name} moment moved"
        assert np.any(params[name][m] != 0.0), f"{name} free entries never moved"


@pytest.mark.parametrize("opt", ALL_OPTIMIZERS, ids=IDS)
def test_inputs_not_mutated_and_outputs_fresh(opt):
    spec, params, masks, rng = spec_problem(1)
    state = opt.init(params)
    params, state = opt.update(params, random_grads(params, rng), state, masks=masks)
    grads = random_grads(params, rng)
    before = copy.deepcopy((params, grads, state, masks))
    new_params, new_state = opt.update(params, grads, state, masks=masks)
    for got, want in zip((params, grads, state, masks), before):
        assert got.keys() == want.keys()
        for k in want:
            if want[k] is None:
                assert got[k] is None
            else:
                assert np.array_equal(got[k], want[k]), f"{k} was modified"
    for k in new_params:
        assert not np.shares_memory(new_params[k], params[k]), k
    for k in new_state:
        assert not np.shares_memory(new_state[k], state[k]), k
    assert int(new_state["step"]) == int(state["step"]) + 1


@pytest.mark.parametrize("opt", ALL_OPTIMIZERS, ids=IDS)
def test_float32_preserved(opt):
    _, p64, masks, rng = spec_problem(2)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    s32, s64 = opt.init(p32), opt.init(p64)
    for _ in range(5):
        g = random_grads(p64, rng)  # float64 gradients: cast to the parameters' dtype
        p32, s32 = opt.update(p32, g, s32, masks=masks)
        p64, s64 = opt.update(p64, g, s64, masks=masks)
    for k in p32:
        assert p32[k].dtype == np.float32, k
        np.testing.assert_allclose(p32[k], p64[k], rtol=1e-4, atol=1e-5, err_msg=k)
    for k, v in s32.items():
        assert v.dtype == (np.int64 if k == "step" else np.float32), k


@pytest.mark.parametrize("opt", ALL_OPTIMIZERS, ids=IDS)
def test_state_round_trips_npz_and_json_bitwise(opt, tmp_path):
    _, params, masks, rng = spec_problem(3)
    state = opt.init(params)
    for _ in range(3):
        params, state = opt.update(params, random_grads(params, rng), state, masks=masks)
    path = tmp_path / "opt.npz"
    np.savez(path, **optim.state_to_arrays(state))
    with np.load(path) as f:
        loaded = optim.state_from_arrays(f)
    from_json = optim.state_from_json(json.loads(json.dumps(optim.state_to_json(state))))
    future = [random_grads(params, rng) for _ in range(4)]

    def go(s):
        p = params
        for g in future:
            p, s = opt.update(p, g, s, masks=masks)
        return p, s

    ref_p, ref_s = go(state)
    for restored in (loaded, from_json):
        assert restored.keys() == state.keys()
        p, s = go(restored)
        for k in ref_p:
            assert p[k].tobytes() == ref_p[k].tobytes(), k
        for k in ref_s:
            assert s[k].dtype == ref_s[k].dtype and s[k].tobytes() == ref_s[k].tobytes(), k


def test_float32_state_round_trips_json():
    params = {"w": np.array([0.1, -0.3], dtype=np.float32)}
    opt = Adam(lr=0.01)
    _, state = opt.update(params, {"w": np.array([0.7, 1.3], np.float32)}, opt.init(params))
    back = optim.state_from_json(json.loads(json.dumps(optim.state_to_json(state))))
    for k in state:
        assert back[k].dtype == state[k].dtype and back[k].tobytes() == state[k].tobytes()


def test_state_from_other_optimizer_rejected():
    params = {"w": np.zeros(2)}
    adam_state = Adam().init(params)
    with pytest.raises(ValueError, match="unexpected keys"):
        SGD(lr=0.1, momentum=0.9).update(params, {"w": np.ones(2)}, adam_state)
    with pytest.raises(ValueError, match="missing"):
        Adam().update(params, {"w": np.ones(2)}, RMSProp().init(params))
    with pytest.raises(ValueError, match=r"state\['m/w'\]"):
        Adam().update(params, {"w": np.ones(2)}, Adam().init({"w": np.zeros(3)}))


# ----- bad gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("opt", ALL_OPTIMIZERS, ids=IDS)
def test_non_finite_gradient_raises(opt, bad):
    params = {"b": np.zeros(2), "W": np.zeros((2, 3))}
    grads = {"b": np.ones(2), "W": np.ones((2, 3))}
    grads["W"][1, 0] = bad
    grads["W"][1, 2] = bad
    state = opt.init(params)
    with pytest.raises(NonFiniteGradientError, match=r"'W' at index \(1, 0\)") as info:
        opt.update(params, grads, state)
    e = info.value
    assert isinstance(e, ValueError)
    assert e.name == "W" and e.index == (1, 0) and e.step == 1
    assert (math.isnan(e.value) if np.isnan(bad) else e.value == bad)


def test_non_finite_gradient_is_not_masked_away():
    # a NaN at a masked entry is still reported, never silently zeroed
    params = {"W": np.zeros((1, 2))}
    with pytest.raises(NonFiniteGradientError, match="'W'"):
        SGD(lr=0.1).update(params, {"W": np.array([[1.0, np.nan]])}, {"step": np.array(0)},
                           masks={"W": np.array([[True, False]])})


def test_non_finite_extra_grad_keys_ignored():
    params = {"w": np.zeros(2)}
    new, _ = SGD(lr=0.1).update(params, {"w": np.ones(2), "x": np.array([np.nan])},
                                {"step": np.array(0)})
    assert_close(new["w"], [-0.1, -0.1], "w")


def test_missing_or_misshaped_gradient_names_the_key():
    params = {"W_H": np.zeros((2, 2)), "b_H": np.zeros(2)}
    opt = Adam()
    state = opt.init(params)
    with pytest.raises(ValueError, match="grads is missing 'b_H'"):
        opt.update(params, {"W_H": np.zeros((2, 2))}, state)
    with pytest.raises(ValueError, match=r"grads\['W_H'\].*\(2, 2\).*\(2, 3\)"):
        opt.update(params, {"W_H": np.zeros((2, 3)), "b_H": np.zeros(2)}, state)
    with pytest.raises(ValueError, match=r"masks\['W_H'\]"):
        opt.update(params, {"W_H": np.zeros((2, 2)), "b_H": np.zeros(2)}, state,
                   masks={"W_H": np.ones((2, 2))})  # not boolean


# ----- hyper-parameters and the factory --------------------------------------------------------
BAD_HYPER = [
    (SGD, {"lr": 0.0}, "lr"), (SGD, {"lr": -1.0}, "lr"), (SGD, {"lr": math.inf}, "lr"),
    (SGD, {"lr": math.nan}, "lr"), (SGD, {"lr": True}, "lr"), (SGD, {"lr": "0.1"}, "lr"),
    (SGD, {"lr": 0.1, "momentum": 1.0}, "momentum"),
    (SGD, {"lr": 0.1, "momentum": -0.1}, "momentum"),
    (SGD, {"lr": 0.1, "nesterov": 1}, "nesterov"),
    (SGD, {"lr": 0.1, "nesterov": True}, "momentum"),
    (SGD, {"lr": 0.1, "clip_norm": 0.0}, "clip_norm"),
    (SGD, {"lr": 0.1, "clip_value": -1.0}, "clip_value"),
    (Adam, {"lr": -1e-3}, "lr"), (Adam, {"beta1": 1.0}, "beta1"), (Adam, {"beta1": -0.5}, "beta1"),
    (Adam, {"beta2": 1.0}, "beta2"), (Adam, {"beta2": 2.0}, "beta2"),
    (Adam, {"eps": 0.0}, "eps"), (Adam, {"eps": -1e-8}, "eps"),
    (Adam, {"clip_norm": math.inf}, "clip_norm"), (Adam, {"clip_value": 0}, "clip_value"),
    (RMSProp, {"lr": 0}, "lr"), (RMSProp, {"decay": 1.0}, "decay"),
    (RMSProp, {"decay": -0.1}, "decay"), (RMSProp, {"eps": 0.0}, "eps"),
    (RMSProp, {"clip_norm": -2.0}, "clip_norm"), (RMSProp, {"clip_value": math.nan}, "clip_value"),
]


@pytest.mark.parametrize("cls, kwargs, field", BAD_HYPER,
                         ids=[f"{c.__name__}-{k}" for c, k, _ in BAD_HYPER])
def test_bad_hyper_parameter_raises_naming_it(cls, kwargs, field):
    with pytest.raises(ValueError, match=field):
        cls(**kwargs)


def test_boundary_hyper_parameters_accepted():
    SGD(lr=1e-12, momentum=0.0)
    Adam(beta1=0.0, beta2=0.0)
    RMSProp(decay=0.0)


def test_make_optimizer():
    assert optim.OPTIMIZERS == ("sgd", "nesterov", "adam", "rmsprop")
    nes = make_optimizer("nesterov", lr=0.01)
    assert nes == SGD(lr=0.01, momentum=0.95, nesterov=True)
    assert make_optimizer("nesterov", lr=0.01, momentum=0.9).momentum == 0.9
    assert make_optimizer("sgd", lr=0.1) == SGD(lr=0.1)
    assert make_optimizer("adam", lr=0.01, clip_norm=1.0) == Adam(lr=0.01, clip_norm=1.0)
    assert make_optimizer("RMSProp", decay=0.95) == RMSProp(decay=0.95)
    for opt in ALL_OPTIMIZERS + [nes]:
        d = opt.to_dict()
        assert json.loads(json.dumps(d)) == d
        assert make_optimizer(**d) == opt
    with pytest.raises(ValueError, match="sgd, nesterov, adam, rmsprop"):
        make_optimizer("adagrad")
    with pytest.raises(ValueError, match="beta3"):
        make_optimizer("adam", beta3=0.5)
    with pytest.raises(ValueError, match="lr"):
        make_optimizer("sgd")
    with pytest.raises(ValueError, match="nesterov"):
        make_optimizer("nesterov", lr=0.1, nesterov=False)


# ----- convergence on a convex quadratic -------------------------------------------------------
CONVERGING = {
    "sgd": SGD(lr=0.1),
    "nesterov": SGD(lr=0.02, momentum=0.95, nesterov=True),
    "adam": Adam(lr=0.05),
    "rmsprop": RMSProp(lr=0.05),
    "adam-clipped": Adam(lr=0.05, clip_norm=1.0, clip_value=0.5),
}

coords = st.floats(-3.0, 3.0, allow_nan=False)


@pytest.mark.parametrize("key", list(CONVERGING))
@settings(max_examples=examples(15))
@given(a=st.lists(st.floats(0.5, 2.0), min_size=3, max_size=3),
       c=st.lists(coords, min_size=3, max_size=3),
       theta0=st.lists(coords, min_size=3, max_size=3))
def test_decreases_convex_quadratic(key, a, c, theta0):
    # f(theta) = 1/2 sum a (theta - c)^2, gradient a (theta - c)
    opt = CONVERGING[key]
    a, c = np.array(a), np.array(c)
    f = lambda th: 0.5 * float(np.sum(a * (th - c) ** 2))  # noqa: E731
    params = {"theta": np.array(theta0)}
    f0 = f(params["theta"])
    assume(f0 > 0.1)
    state = opt.init(params)
    for _ in range(300):
        grads = {"theta": a * (params["theta"] - c)}
        params, state = opt.update(params, grads, state)
    assert f(params["theta"]) < 0.1 * f0, (key, f0, f(params["theta"]))


# ----- the numba backend: the same bits as the NumPy reference ---------------------------------
def numba_problem(data, dtype):
    """Params of a few shapes (an empty one included), random masks, and a gradient draw."""
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    shapes = {"W_H": (data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))),
              "W_I": (data.draw(st.integers(1, 9)), data.draw(st.integers(0, 3))),
              "b_H": (data.draw(st.integers(1, 9)),)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    density = data.draw(st.sampled_from([0.0, 0.3, 0.8, 1.0]), label="mask density")
    masks = {"W_H": rng.random(shapes["W_H"]) < density, "W_I": rng.random(shapes["W_I"]) < 0.5,
             "b_H": None}
    return params, masks, rng


def assert_same_bits(a, b, what):
    assert a.keys() == b.keys() and list(a) == list(b), what
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, (what, k)
        if a[k].tobytes() != b[k].tobytes():
            j = np.flatnonzero(a[k].ravel().view(np.uint8) != b[k].ravel().view(np.uint8))[0]
            j //= a[k].itemsize
            raise AssertionError(f"{what}[{k!r}] differs at flat index {j}: numpy "
                                 f"{a[k].ravel()[j]!r}, numba {b[k].ravel()[j]!r}")


OPT_KINDS = {
    "sgd": lambda lr, **c: SGD(lr=lr, **c),
    "momentum": lambda lr, **c: SGD(lr=lr, momentum=0.9, **c),
    "nesterov": lambda lr, **c: SGD(lr=lr, momentum=0.95, nesterov=True, **c),
    "adam": lambda lr, **c: Adam(lr=lr, **c),
    "adam-betas": lambda lr, **c: Adam(lr=lr, beta1=0.5, beta2=0.75, eps=1e-3, **c),
    "rmsprop": lambda lr, **c: RMSProp(lr=lr, **c),
}


@pytest.mark.parametrize("kind", list(OPT_KINDS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@settings(max_examples=examples(12))
@given(data=st.data())
def test_numba_backend_equals_numpy_bitwise(kind, dtype, data):
    params, masks, rng = numba_problem(data, dtype)
    clip = dict(clip_norm=data.draw(st.sampled_from([None, 1e-3, 0.5, 1e3]), label="clip_norm"),
                clip_value=data.draw(st.sampled_from([None, 0.1, 1.0]), label="clip_value"))
    opt = OPT_KINDS[kind](data.draw(st.sampled_from([1e-3, 0.05, 0.5]), label="lr"), **clip)
    grad_dtype = data.draw(st.sampled_from([dtype, np.float64]), label="grad dtype")
    scale = data.draw(st.sampled_from([1e-3, 1.0, 30.0]), label="gradient scale")
    p_np = p_nb = params
    s_np = s_nb = opt.init(params)
    for step in range(data.draw(st.integers(1, 4), label="steps")):
        grads = {k: (scale * rng.standard_normal(p.shape)).astype(grad_dtype)
                 for k, p in params.items()}
        grads["x"] = rng.standard_normal((2, 1, 3))
        p_np, s_np = opt.update(p_np, grads, s_np, masks=masks, backend="numpy")
        p_nb, s_nb = opt.update(p_nb, grads, s_nb, masks=masks, backend="numba")
        assert_same_bits(p_np, p_nb, f"params after update {step + 1}")
        assert_same_bits(s_np, s_nb, f"state after update {step + 1}")
    for name, m in masks.items():
        if m is None:
            continue
        for a in [p_nb[name]] + [s_nb[f"{s}/{name}"] for s in opt.slots]:
            assert np.all(a[~m] == 0.0) and not np.signbit(a[~m]).any(), name


@pytest.mark.parametrize("opt", ALL_OPTIMIZERS, ids=IDS)
def test_numba_backend_masks_purity_and_fresh_outputs(opt):
    spec, params, masks, rng = spec_problem(4)
    params = {k: v + 0.5 for k, v in params.items()}       # nonzero at masked entries
    state = opt.init(params)
    grads = random_grads(params, rng)
    before = copy.deepcopy((params, grads, state))
    new_params, new_state = opt.update(params, grads, state, masks=masks, backend="numba")
    for got, want in zip((params, grads, state), before):
        assert_same_bits(got, want, "an input")
    for k in new_params:
        assert not np.shares_memory(new_params[k], params[k]), k
        assert not np.shares_memory(new_params[k], grads[k]), k
    for k in new_state:
        assert not np.shares_memory(new_state[k], state[k]), k
    for name, m in masks.items():
        if m is not None:
            assert np.all(new_params[name][~m] == 0.0), name


@pytest.mark.parametrize("masked", [False, True], ids=["free", "masked"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("opt", ALL_OPTIMIZERS, ids=IDS)
def test_numba_backend_non_finite_error_is_the_same(opt, bad, masked):
    params = {"b": np.zeros(2), "W": np.zeros((2, 3)), "c": np.zeros(1)}
    grads = {"b": np.ones(2), "W": np.ones((2, 3)), "c": np.array([np.nan])}
    grads["W"][1, 0] = bad
    grads["W"][1, 2] = -bad
    masks = {"W": np.array([[True, True, True], [not masked, True, True]])}
    state = opt.update(params, {k: np.ones_like(v) for k, v in params.items()},
                       opt.init(params))[1]                  # update 2 is refused
    errors = {}
    for backend in ("numpy", "numba"):
        with pytest.raises(NonFiniteGradientError) as info:
            opt.update(params, grads, state, masks=masks, backend=backend)
        errors[backend] = info.value
    a, b = errors["numpy"], errors["numba"]
    assert (b.name, b.index, b.step) == ("W", (1, 0), 2)
    assert (a.name, a.index, a.step, str(a)) == (b.name, b.index, b.step, str(b))
    assert math.isnan(b.value) if np.isnan(bad) else b.value == bad


@pytest.mark.parametrize("backend", ["torch", "NumPy", "", None, 1])
def test_bad_backend_raises_naming_it(backend):
    params = {"w": np.zeros(2)}
    opt = Adam()
    with pytest.raises(ValueError, match=r"backend must be one of numpy, numba, got") as info:
        opt.update(params, {"w": np.ones(2)}, opt.init(params), backend=backend)
    assert repr(backend) in str(info.value)


def test_numba_backend_validation_errors_are_the_same():
    params = {"W_H": np.zeros((2, 2)), "b_H": np.zeros(2)}
    opt = Adam(clip_norm=1.0)
    state = opt.init(params)
    cases = [({"W_H": np.zeros((2, 2))}, state, None),
             ({"W_H": np.zeros((2, 3)), "b_H": np.zeros(2)}, state, None),
             ({"W_H": np.zeros((2, 2)), "b_H": np.zeros(2)}, state, {"W_H": np.ones((2, 2))}),
             ({"W_H": np.zeros((2, 2)), "b_H": np.zeros(2)}, RMSProp().init(params), None)]
    for grads, st_, masks in cases:
        messages = []
        for backend in ("numpy", "numba"):
            with pytest.raises(ValueError) as info:
                opt.update(params, grads, st_, masks=masks, backend=backend)
            messages.append((type(info.value), str(info.value)))
        assert messages[0] == messages[1]


def test_numba_backend_other_dtypes_run_the_reference():
    params = {"w": np.array([0.5, -1.0], dtype=np.float16)}
    opt = Adam(lr=0.1, clip_norm=1.0)
    grads = {"w": np.array([2.0, 3.0])}
    a = opt.update(params, grads, opt.init(params), backend="numpy")
    b = opt.update(params, grads, opt.init(params), backend="numba")
    assert_same_bits(a[0], b[0], "params")
    assert_same_bits(a[1], b[1], "state")
