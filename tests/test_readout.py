"""The readout layer (a tanh layer before the outputs, the design note's char-LM head): its BPTT
against finite differences on both families and backends, and training with it."""
import numpy as np
import pytest

import cwrnn_np as cw
from cwrnn_np.gradcheck import audit
from cwrnn_np.models.lstm import LSTMSpec
from cwrnn_np.models.readout import Net


@pytest.mark.parametrize("family", ["cwrnn", "lstm"])
def test_readout_gradients_match_finite_differences(family, backend):
    rng = np.random.default_rng(0)
    if family == "cwrnn":
        spec = cw.ClockworkSpec(2, 5, [2, 3], [1, 3], phases=[0, 1], connectivity="full",
                                learn_h0=True)
    else:
        spec = LSTMSpec(2, 5, 3, peepholes=True)
    net = Net(family, spec, readout=3)            # 5 readout units -> 3 outputs
    params = net.init(rng)
    params["b_R"] = 0.3 * rng.standard_normal(3)
    x = rng.standard_normal((9, 2, 2))
    h = 0.5 * rng.standard_normal((2, spec.hidden_size if family == "cwrnn" else 6))
    report = audit(lambda p, xx, hh: net.forward(p, xx, h_init=hh, t0=1, resets=[4],
                                                 backend=backend),
                   lambda p, dy, c, dh: net.backward(p, dy, c, dh_last=dh, backend=backend),
                   params, net.param_masks(), x, h_init=h, rng=np.random.default_rng(1))
    assert report.passed(1e-6), str(report)
    assert {"W_R", "b_R"} <= set(report.per_name)


def test_readout_shapes_and_serialisation():
    net = Net("cwrnn", cw.ClockworkSpec(1, 8, [2, 2], [1, 2]), readout=4)
    params = net.init(np.random.default_rng(0))
    assert params["W_R"].shape == (4, 8) and params["b_R"].shape == (4,)
    assert net.param_shapes()["W_R"] == (4, 8)
    assert Net.from_dict(net.to_dict()) == net
    y, cache = net.forward(params, np.zeros((5, 2, 1)))
    assert y.shape == (5, 2, 4) and cache.h_last.shape == (2, 4)
    with pytest.raises(ValueError, match="readout must be an integer >= 0"):
        Net("cwrnn", net.spec, readout=-1)


def test_training_with_a_readout_resumes_exactly(tmp_path):
    from cwrnn_np.training.config import apply_overrides
    from cwrnn_np.training.tasks import task_defaults
    from cwrnn_np.training.train import train
    path = tmp_path / "t.txt"
    path.write_text("readout (layer) [test] " * 60)

    def cfg():
        c = task_defaults("text")
        apply_overrides(c, [f"data.path={path}", "model.module_sizes=[3,3]",
                            "model.periods=[1,2]", "model.readout_size=7", "data.length=8",
                            "train.batch_size=2", "train.steps=12", "train.eval_every=4",
                            "train.progress=false", f"train.runs_dir={tmp_path}"])
        return c
    whole = train(cfg(), run_dir=tmp_path / "whole", plots=False)
    train(cfg(), run_dir=tmp_path / "part", until=5, plots=False)
    resumed = train(cfg(), resume=tmp_path / "part", plots=False)
    assert whole.net.readout == whole.net.spec.input_size  # outputs = vocabulary size
    assert all(np.array_equal(whole.params[k], resumed.params[k]) for k in whole.params)
