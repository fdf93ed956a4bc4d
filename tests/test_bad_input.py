"""Every invalid spec or input raises ValueError naming the field and the bad value."""
import numpy as np
import pytest

import cwrnn_np as cw


def spec_kwargs(**changes):
    kw = dict(input_size=2, output_size=1, module_sizes=[2, 2], periods=[1, 4])
    kw.update(changes)
    return kw


@pytest.mark.parametrize("changes, match", [
    (dict(periods=[1, 2.5]), r"periods\[1\] must be an integer, got 2.5"),
    (dict(periods=[1, 2.0]), r"periods\[1\] must be an integer, got 2.0"),
    (dict(periods=[0, 4]), r"periods\[0\] must be >= 1, got 0"),
    (dict(periods=[1, -3]), r"periods\[1\] must be >= 1, got -3"),
    (dict(periods=[1, True]), r"periods\[1\] must be an integer, got True"),
    (dict(periods=[1]), r"periods must have one entry per module \(n=2\), got 1"),
    (dict(periods=[]), r"periods must not be empty"),
    (dict(phases=[0, 4]), r"phases\[1\] must satisfy 0 <= phase < period \(period 4\), got 4"),
    (dict(phases=[0, -1]), r"phases\[1\] must be >= 0, got -1"),
    (dict(phases=[0]), r"phases must have one entry per module \(n=2\), got 1"),
    (dict(module_sizes=[2, 0]), r"module_sizes\[1\] must be >= 1, got 0"),
    (dict(module_sizes=[]), r"module_sizes must not be empty"),
    (dict(module_sizes=[2, 1.5]), r"module_sizes\[1\] must be an integer, got 1.5"),
    (dict(input_size=-1), r"input_size must be >= 0, got -1"),
    (dict(output_size=0), r"output_size must be >= 1, got 0"),
    (dict(connectivity="clock-work"), r"connectivity must be one of .* got 'clock-work'"),
    (dict(connectivity=np.ones((3, 3), bool)), r"connectivity must have shape \(2, 2\), got shape \(3, 3\)"),
    (dict(connectivity=np.ones((2, 2), int)), r"connectivity must be boolean \(dtype bool\), got dtype int"),
    (dict(connectivity=[[1, 0], [0, 1]]), r"connectivity must be boolean"),
    (dict(input_modules="slowest"), r"input_modules must be one of .* got 'slowest'"),
    (dict(input_modules=[True]), r"input_modules must have shape \(2,\), got shape \(1,\)"),
    (dict(input_modules=[1, 0]), r"input_modules must be boolean"),
    (dict(learn_h0="yes"), r"learn_h0 must be a bool, got 'yes'"),
])
def test_bad_spec(changes, match):
    with pytest.raises(ValueError, match=match):
        cw.ClockworkSpec(**spec_kwargs(**changes))


def test_unreachable_module_is_named_in_a_warning():
    with pytest.warns(cw.UnreachableModuleWarning, match=r"module 1 \(period 4\)"):
        cw.ClockworkSpec(**spec_kwargs(input_modules="fastest"))  # clockwork: 1 reads only itself
    with pytest.warns(cw.UnreachableModuleWarning, match=r"module 2 \(period 16\)"):
        cw.ClockworkSpec(1, 1, [1, 1, 1], [1, 4, 16], input_modules=[True, True, False])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # full duplex carries the input to the slow modules: no warning
        cw.ClockworkSpec(**spec_kwargs(input_modules="fastest", connectivity="full"))
        # no input at all (D = 0): nothing to reach, no warning
        cw.ClockworkSpec(**spec_kwargs(input_size=0, input_modules="fastest"))


@pytest.fixture
def setup():
    spec = cw.ClockworkSpec(**spec_kwargs())
    params = cw.init_params(spec, np.random.default_rng(0))
    x = np.zeros((5, 3, 2))
    return spec, params, x


@pytest.mark.parametrize("make_x, match", [
    (lambda x: x[0], r"x must have rank 3 \(shape \(\*, \*, 2\)\), got rank 2"),
    (lambda x: x[..., :1], r"x must have shape \(\*, \*, 2\), got \(5, 3, 1\) \(axis 2 is 1, expected 2\)"),
    (lambda x: x.astype(np.float32), r"x must have dtype float64 \(the parameters' dtype\), got float32"),
    (lambda x: x.astype(np.int64), r"x must have dtype float64 .* got int64"),
    (lambda x: x.tolist(), r"x must be a numpy array, got list"),
    (lambda x: np.where(np.arange(5)[:, None, None] == 3, np.nan, x), r"x contains NaN or inf \(first at index \(3, 0, 0\): nan\)"),
    (lambda x: np.where(np.arange(2) == 1, np.inf, x), r"x contains NaN or inf \(first at index \(0, 0, 1\): inf\)"),
    (lambda x: x[:0], r"x is an empty sequence \(L = 0"),
    (lambda x: x[:, :0], r"x has an empty batch \(B = 0"),
])
def test_bad_x(setup, make_x, match):
    spec, params, x = setup
    with pytest.raises(ValueError, match=match):
        cw.forward(params, spec, make_x(x))


@pytest.mark.parametrize("kwargs, match", [
    (dict(resets=[5]), r"resets entry 5 is out of range: steps run 0..4 \(L=5\)"),
    (dict(resets=[-1]), r"resets entry -1 is out of range"),
    (dict(resets=[1.0]), r"resets entries must be integers, got 1.0"),
    (dict(resets=3), r"resets must be a list of integer steps, got 3"),
    (dict(resets=np.ones(5, bool)), r"resets must be a list of step indices, not a boolean mask"),
    (dict(t0=-1), r"t0 must be an integer >= 0, got -1"),
    (dict(t0=1.5), r"t0 must be an integer >= 0, got 1.5"),
    (dict(h_init=np.zeros((4,))), r"h_init must have rank 2 \(shape \(3, 4\)\), got rank 1"),
    (dict(h_init=np.zeros((2, 4))), r"h_init must have shape \(3, 4\), got \(2, 4\)"),
    (dict(h_init=np.full((3, 4), np.nan)), r"h_init contains NaN or inf"),
    (dict(backend="cuda"), r"backend must be one of .* got 'cuda'"),
])
def test_bad_forward_arguments(setup, kwargs, match):
    spec, params, x = setup
    with pytest.raises(ValueError, match=match):
        cw.forward(params, spec, x, **kwargs)


@pytest.mark.parametrize("mutate, match", [
    (lambda p: p.pop("W_H"), r"params is missing \['W_H'\]"),
    (lambda p: p.update(h_0=np.zeros(4)), r"params has unexpected keys \['h_0'\] \(spec.learn_h0 is False\)"),
    (lambda p: p.update(W_H=np.zeros((4, 3))), r"params\['W_H'\] must have shape \(4, 4\), got \(4, 3\)"),
    (lambda p: p.update(b_O=np.zeros(1, np.float32)), r"params\['b_O'\] has dtype float32 but the other parameters are float64"),
    (lambda p: p.update(b_H=np.zeros(4, int)), r"params\['b_H'\] must be float64 or float32, got int64"),
    (lambda p: p.update(W_O=[[0.0] * 4]), r"params\['W_O'\] must be a numpy array, got list"),
])
def test_bad_params(setup, mutate, match):
    spec, params, x = setup
    mutate(params)
    with pytest.raises(ValueError, match=match):
        cw.forward(params, spec, x)


def test_bad_backward_arguments(setup):
    spec, params, x = setup
    y, cache = cw.forward(params, spec, x)
    with pytest.raises(ValueError, match=r"dy must have shape \(5, 3, 1\), got \(4, 3, 1\)"):
        cw.backward(params, spec, y[:4], cache)
    with pytest.raises(ValueError, match=r"dy contains NaN or inf"):
        cw.backward(params, spec, y * np.nan, cache)
    with pytest.raises(ValueError, match=r"dh_last must have shape \(3, 4\)"):
        cw.backward(params, spec, y, cache, dh_last=np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"cache must be the ForwardCache returned by forward, got tuple"):
        cw.backward(params, spec, y, tuple(cache))
    other = cw.ClockworkSpec(**spec_kwargs(module_sizes=[2, 3]))
    with pytest.raises(ValueError, match=r"params\['W_I'\] must have shape \(5, 2\)"):
        cw.backward(params, other, y, cache)


def test_bad_init_arguments():
    spec = cw.ClockworkSpec(**spec_kwargs())
    with pytest.raises(ValueError, match=r"dtype must be float64 or float32, got float16"):
        cw.init_params(spec, np.random.default_rng(0), dtype=np.float16)
    with pytest.raises(ValueError, match=r"rng must be a numpy.random.Generator, got int"):
        cw.init_params(spec, 0)
    with pytest.raises(ValueError, match=r"scale must be a finite number > 0, got -1"):
        cw.init_params(spec, np.random.default_rng(0), scale=-1)


@pytest.mark.parametrize("call, match", [
    (lambda y: cw.mse(y, y[:1]), r"target must have the shape of y \(2, 1, 3\), got \(1, 1, 3\)"),
    (lambda y: cw.mse(y, y, mask=np.zeros((2, 1), bool)), r"mask selects no position"),
    (lambda y: cw.softmax_cross_entropy(y, np.array([[0], [3]])), r"targets must lie in 0..2 \(O = 3\), got 3"),
    (lambda y: cw.softmax_cross_entropy(y, np.array([[0.0], [1.0]])), r"targets must be integer class indices, got dtype float64"),
    (lambda y: cw.softmax_cross_entropy_last(y, np.array([0]), lengths=np.array([3])), r"lengths must lie in 1..2 \(L\), got 3"),
    (lambda y: cw.softmax_cross_entropy_last(y[0], np.array([0])), r"y must be an \(L, B, O\) array, got \(1, 3\)"),
])
def test_bad_loss_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.zeros((2, 1, 3)))
