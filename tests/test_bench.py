"""The benchmark's work counts: the necessary work of the efficiency column, checked by hand and
against a step-by-step count, and the efficiency printed for every implementation."""
import numpy as np
import pytest

import cwrnn_np as cw
from cwrnn_np.bench.runner import (CONFIGS, format_result, make_problem, necessary_flops,
                                   step_flops)


def test_necessary_work_by_hand():
    # two 1-unit modules, periods [1, 2], slow feeds fast: C = [[1, 1], [0, 1]], L = 4, B = 3.
    # input: module 0 fires 4 times, module 1 twice -> 6; recurrent: (0, 0) reads 4 versions,
    # (0, 1) reads 3 (the initial state, and h_1 from steps 0 and 2), (1, 1) reads 2 -> 9;
    # output: O H L = 1 * 2 * 4 = 8. Multiply-adds 23 per batch row, FLOPs twice that.
    spec = cw.ClockworkSpec(1, 1, [1, 1], [1, 2], connectivity="clockwork")
    fwd, step = necessary_flops(spec, L=4, B=3)
    assert fwd == 2 * 23 * 3 and step == 3 * fwd


def _brute_force(spec, L, B):
    """Walk the steps, tracking the version each module's state has."""
    k, version, seen, macs = spec.module_sizes, [-1] * spec.n_modules, set(), 0
    active = spec.active(L, 0)
    for t in range(L):
        for i in np.flatnonzero(active[t]):
            macs += B * k[i] * spec.input_size * int(spec.R[i])
            for j in np.flatnonzero(spec.C[i]):
                if (i, j, version[j]) not in seen:
                    seen.add((i, j, version[j]))
                    macs += B * k[i] * k[j]
        for i in np.flatnonzero(active[t]):
            version[i] = t
        macs += B * spec.output_size * spec.hidden_size
    return 2.0 * macs


@pytest.mark.parametrize("key", sorted(CONFIGS))
@pytest.mark.parametrize("connectivity", ["clockwork", "full"])
def test_necessary_work_matches_a_step_by_step_count(key, connectivity):
    spec, *_ = make_problem(CONFIGS[key], connectivity=connectivity)
    L, B = CONFIGS[key]["L"], CONFIGS[key]["B"]
    fwd, _ = necessary_flops(spec, L, B)
    assert fwd == _brute_force(spec, L, B)
    assert fwd <= step_flops(spec, L, B)[0]       # never more than the active work


def test_an_srn_needs_all_of_its_active_work():
    spec = cw.srn_spec(input_size=3, output_size=2, hidden_size=5)
    assert necessary_flops(spec, 7, 4) == step_flops(spec, 7, 4)


def test_the_table_prints_efficiency_for_every_implementation():
    res = dict(config="a", title="(a) generation", rounds=3, flops_step=8e6, flops_fwd=8e6 / 3,
               necessary_flops_step=2e6, dgemm_peak_flops=1e10,
               median_s={"numba": 1e-3, "numpy": 2e-2},
               efficiency={"numba": 0.2, "numpy": 0.01})
    text = format_result(res, 1)
    assert "necessary work: 2.00 MFLOP" in text and "dgemm peak 10.0 GFLOP/s" in text
    assert "20.00%" in text and "1.00%" in text


def test_the_efficiency_table_is_made_from_its_json():
    """docs/performance.md's efficiency table is what docs/make_efficiency_table.py makes of
    docs/bench/efficiency.json: no number in it is typed by hand."""
    import importlib.util
    import json
    import pathlib

    docs = pathlib.Path(__file__).resolve().parents[1] / "docs"
    spec = importlib.util.spec_from_file_location("make_efficiency_table",
                                                  docs / "make_efficiency_table.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    record = json.loads((docs / "bench" / "efficiency.json").read_text())
    page = (docs / "performance.md").read_text()
    for name, block in maker.blocks(record).items():
        assert block in page, f"the {name} table is not what the script makes of the JSON"
    assert record["command"].startswith("python -m cwrnn_np.bench")
    assert {"1", "2"} <= set(record["threads"]) and record["breakdown"]["1"]
    assert {r["config"] for r in record["protocol"]} == {"d", "d32", "e", "e32"}


def test_the_charlm_step_counts_the_readout_and_trains():
    """Configs d and e: the readout's work is counted on top of the network's, and the step
    (forward, cross-entropy, backward, Adam) lowers the loss on its fixed batch."""
    from cwrnn_np.bench.runner import CharLMStep, charlm_flops, charlm_problem
    cfg = dict(CONFIGS["d"], sizes=[4, 4, 4], O=6, readout=5, D=5, L=9, B=2)
    net, params, x, targets = charlm_problem(cfg)
    active, necessary = charlm_flops(net, cfg["L"], cfg["B"])
    readout = 3 * 2 * cfg["L"] * cfg["B"] * 5 * 6
    assert active == step_flops(net.spec, 9, 2)[1] + readout
    assert necessary == necessary_flops(net.spec, 9, 2)[1] + readout
    step = CharLMStep("numba", net, params, x, targets)
    losses = [step() for _ in range(30)]
    assert losses[-1] < losses[0] and step.params is not params


# ----- the char-LM PyTorch port (configs d, e) -------------------------------------------------
def _small_charlm(kind, dtype="float64"):
    """A small config d (kind "cwrnn": 3 x 8 units, periods [1, 4, 16]) or e ("srn": 24 units),
    with 7 symbols, O = 12 and L = 18 (a length no period divides, long enough for the period-16
    module to fire twice)."""
    from cwrnn_np.bench.runner import charlm_problem
    sizes = [8, 8, 8] if kind == "cwrnn" else [24]
    key = "d" if kind == "cwrnn" else "e"
    cfg = dict(CONFIGS[key], sizes=sizes, D=7, O=12, readout=7, L=18, B=2, dtype=dtype)
    return charlm_problem(cfg)


def _torch():
    return pytest.importorskip(
        "torch", reason="the char-LM PyTorch port needs torch (pip install torch==2.13.0, "
                        "or the bench extra)")


@pytest.mark.parametrize("kind", ["cwrnn", "srn"])
@pytest.mark.parametrize("clip_norm", [5.0, 0.05], ids=["unclipped", "clipped"])
def test_the_charlm_torch_port_agrees_with_the_reference(kind, clip_norm):
    """Loss, gradients, Adam moments and updated parameters of three consecutive steps agree
    with CharLMStep("numpy") in float64 (relative 1e-9), with the gradient norm clipped
    (clip_norm 0.05) or not (the experiment's 5)."""
    _torch()
    from cwrnn_np.bench.torch_ports import check_charlm_against_reference
    net, params, x, targets = _small_charlm(kind)
    assert net.kind == kind
    check_charlm_against_reference(net, params, x, targets, steps=3, clip_norm=clip_norm)


@pytest.mark.parametrize("kind", ["cwrnn", "srn"])
def test_the_charlm_torch_port_agrees_in_float32(kind):
    _torch()
    from cwrnn_np.bench.torch_ports import TorchCharLMStep, check_charlm_against_reference
    net, params, x, targets = _small_charlm(kind, "float32")
    check_charlm_against_reference(net, params, x, targets, steps=2)
    assert TorchCharLMStep(net, params, x, targets).params["W_H"].dtype == _torch().float32


def test_the_charlm_torch_port_follows_any_wiring_routing_and_phase():
    """Beyond the paper's wiring: a module reading non-adjacent modules (0 and 2), one reading
    no state, one reading no input, phases, and a learned h_0, against the reference."""
    _torch()
    from cwrnn_np.bench.torch_ports import check_charlm_against_reference
    from cwrnn_np.models.readout import Net
    C = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], dtype=bool)
    spec = cw.ClockworkSpec(7, 12, [5, 6, 7], [1, 4, 16], phases=[0, 1, 3], connectivity=C,
                            input_modules=[True, True, False], learn_h0=True)
    net = Net("cwrnn", spec, readout=7)
    rng = np.random.default_rng(1)
    params = net.init(rng)
    params["h_0"] = 0.5 * rng.standard_normal(spec.hidden_size)
    ids = rng.integers(0, 7, size=(21, 3))
    x = np.eye(7)[ids[:-1]]                                          # (L, B, V) one-hot
    check_charlm_against_reference(net, params, x, ids[1:], steps=2)


def test_the_charlm_check_names_what_disagrees():
    """A port with another Adam eps fails the check, and the message names the quantity and
    the parameter."""
    _torch()
    from cwrnn_np.bench import torch_ports
    net, params, x, targets = _small_charlm("cwrnn")

    class WrongEps(torch_ports.TorchCharLMStep):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.eps = 1e-7

    original = torch_ports.TorchCharLMStep
    torch_ports.TorchCharLMStep = WrongEps
    try:
        with pytest.raises(AssertionError, match=r"step 1: Adam update of W_I"):
            torch_ports.check_charlm_against_reference(net, params, x, targets)
    finally:
        torch_ports.TorchCharLMStep = original


def test_the_charlm_torch_port_never_reads_masked_blocks():
    """Masked blocks of W_I and W_H are never read: garbage there leaves the loss bitwise
    unchanged, their gradient is exactly zero, and the update keeps them where they are."""
    torch = _torch()
    from cwrnn_np.bench.torch_ports import TorchCharLMStep
    net, params, x, targets = _small_charlm("cwrnn")
    masks = net.param_masks()
    clean = TorchCharLMStep(net, params, x, targets)
    dirty = TorchCharLMStep(net, params, x, targets)
    assert not masks["W_H"].all()             # the clockwork wiring masks blocks of W_H
    with torch.no_grad():
        for name in ("W_I", "W_H"):
            dirty.params[name].masked_fill_(~torch.tensor(masks[name]), 1e3)
    loss, grads = clean.loss_and_grads()
    loss_dirty, _ = dirty.loss_and_grads()
    assert loss_dirty == loss
    for name in ("W_I", "W_H"):
        assert np.all(grads[name][~masks[name]] == 0.0), name
    clean.update()
    after = clean.numpy_params()
    for name in ("W_I", "W_H"):
        assert np.all(after[name][~masks[name]] == 0.0), name


def test_the_charlm_rows_include_the_validated_torch_port():
    """charlm_implementations adds "torch" (checked against the reference) when include allows
    it, and each call of the port is one training step that continues from the last."""
    _torch()
    from cwrnn_np.bench.runner import charlm_implementations
    net, params, x, targets = _small_charlm("srn")
    assert "torch" not in charlm_implementations(net, params, x, targets, include=["numpy"])
    impls = charlm_implementations(net, params, x, targets, include=["numpy", "torch"])
    assert list(impls) == ["numpy", "torch"]
    losses = {name: [step() for _ in range(3)] for name, step in impls.items()}
    np.testing.assert_allclose(losses["torch"], losses["numpy"], rtol=1e-9)
    assert losses["torch"][2] < losses["torch"][0]


def test_the_charlm_table_prints_the_torch_row_and_its_ratio():
    res = dict(config="d", title="(d) char-LM [1,4,16]x256", rounds=3, flops_step=8e8,
               flops_fwd=8e8 / 3, necessary_flops_step=6e8, dgemm_peak_flops=1e10,
               median_s={"numba": 0.1, "torch": 0.25},
               efficiency={"numba": 0.6, "torch": 0.24})
    text = format_result(res, 1)
    row = next(line for line in text.splitlines() if line.strip().startswith("torch "))
    assert "250.000" in row and "2.50x" in row
    assert "numba speed-up over torch: 2.5x" in text
