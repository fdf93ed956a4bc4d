"""Run folders written by release 0.1.0 (before the modules moved into their packages) still
load, evaluate, sample and resume, and a resumed run reaches the parameters and metrics that
release reached without a stop (``tests/data/release-0.1.0/README.md`` has the commands)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cwrnn_np.cli import main
from cwrnn_np.training.checkpoint import load_checkpoint
from cwrnn_np.training.train import load_run

DATA = Path(__file__).parent / "data" / "release-0.1.0"

#: folder -> (task, whether ``cwrnn sample`` applies)
RUNS = {"cwrnn": ("generation", True), "select": ("regimes", False),
        "learned": ("hold", False), "lstm": ("generation", True)}


@pytest.fixture
def old_run(request, tmp_path):
    run = tmp_path / request.param
    shutil.copytree(DATA / request.param, run)
    return request.param, run


@pytest.mark.parametrize("old_run", sorted(RUNS), indirect=True)
def test_old_run_loads_evaluates_and_samples(old_run, capsys):
    name, run = old_run
    cfg, net, params, meta = load_run(run)
    assert cfg.task == RUNS[name][0] and meta["step"] == 10
    assert set(params) == set(net.param_shapes())
    assert main(["evaluate", str(run)]) == 0
    assert "valid" in capsys.readouterr().out
    if RUNS[name][1]:
        assert main(["sample", str(run), "--length", "40"]) == 0
        assert np.load(run / "sample.npy").shape[0] == 40


@pytest.mark.parametrize("old_run", sorted(RUNS), indirect=True)
def test_old_run_resumes_to_the_release_result(old_run):
    name, run = old_run
    assert main(["train", RUNS[name][0], "--resume", str(run), "--no-progress"]) == 0
    params, _, meta, _ = load_checkpoint(run)
    assert meta["step"] == 20
    with np.load(DATA / name / "expected-step20.npz") as expected:
        assert set(expected.files) == set(params)
        for key in expected.files:
            np.testing.assert_allclose(params[key], expected[key], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}: parameter {key}")
    final = json.loads((run / "final.json").read_text())
    want = json.loads((DATA / name / "expected-final.json").read_text())
    for split in want:
        for metric, value in want[split].items():
            assert final[split][metric] == pytest.approx(value, rel=1e-9), (name, split, metric)
