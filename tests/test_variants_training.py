"""The design note's deeper variants in the trainer, checkpoints, CLI and demonstrations.

The variants' own maths (gradients, kernels, invariants) is tested in test_selection.py and
test_learned_periods.py; this file tests that they work everywhere a CW-RNN works.
"""
import json

import numpy as np
import pytest

from cwrnn_np import cli
from cwrnn_np.training.checkpoint import load_checkpoint
from cwrnn_np.training.config import ConfigError, apply_overrides
from cwrnn_np.data import hold_problem, regimes_problem
from cwrnn_np.models.learned_periods import LearnedPeriodSpec, module_periods
from cwrnn_np.models.readout import Net
from cwrnn_np.models.selection import SelectionSpec
from cwrnn_np.training.tasks import task_defaults
from cwrnn_np.training.train import build_net, load_run, temperature_at, train

VARIANT_SETS = {
    "select": {"model.variant": "select", "model.group_size": 2},
    "learned-static": {"model.variant": "learned-static",
                       "model.candidate_periods": "[1,2,3,4,6,8]"},
    "learned-emitted": {"model.variant": "learned-emitted", "model.temperature_end": 0.2},
}


def tiny(task, tmp_path, backend, **sets):
    cfg = task_defaults(task)
    cfg.train.runs_dir = str(tmp_path / "runs")
    cfg.train.progress = False
    base = {"model.n_modules": 2, "model.module_size": 2, "model.periods": "[1,2]",
            "train.steps": 20, "train.eval_every": 10, "train.checkpoint_every": 10,
            "train.batch_size": 4, "data.length": 30, "data.n_valid": 8,
            "model.backend": backend}
    base.update(sets)
    apply_overrides(cfg, [f"{k}={v}" for k, v in base.items()])
    return cfg


def _same(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("variant", list(VARIANT_SETS))
@pytest.mark.parametrize("task", ["hold", "regimes"])
def test_variant_trains_and_resumes_bitwise(variant, task, backend, tmp_path):
    """N steps == k steps, stop, resume: bitwise, with the annealed temperature too."""
    sets = VARIANT_SETS[variant]
    whole = train(tiny(task, tmp_path, backend, **sets), run_dir=tmp_path / "whole",
                  log=lambda m: None)
    assert np.isfinite(whole.final["test"]["mse"])
    part = train(tiny(task, tmp_path, backend, **sets), run_dir=tmp_path / "part", until=13,
                 log=lambda m: None)
    resumed = train(tiny(task, tmp_path, backend, **sets), resume=tmp_path / "part",
                    log=lambda m: None)
    assert part.step == 13 and resumed.step == whole.step == 20
    assert _same(resumed.params, whole.params)
    assert (tmp_path / "whole" / "final.json").read_text() == \
        (tmp_path / "part" / "final.json").read_text()


def test_variant_checkpoint_round_trips_its_spec(tmp_path):
    cfg = tiny("hold", tmp_path, "numpy", **VARIANT_SETS["learned-emitted"])
    res = train(cfg, run_dir=tmp_path / "r", log=lambda m: None)
    cfg2, net, params, meta = load_run(tmp_path / "r")
    assert net.kind == "learned" and net.spec.form == "emitted"
    # the checkpoint keeps the configured start; load_run runs at the schedule's end value
    assert meta["spec"]["spec"]["temperature"] == 1.0
    assert net.spec.temperature == pytest.approx(0.2)
    assert res.net.spec.temperature == pytest.approx(0.2)
    assert set(params) == set(net.param_shapes())
    load_checkpoint(tmp_path / "r", Net.from_dict(meta["spec"]))  # spec check passes


def test_temperature_schedule_is_geometric():
    m = task_defaults("hold").model
    m.temperature, m.temperature_end = 2.0, 0.02
    assert temperature_at(m, 0, 100) == 2.0
    assert temperature_at(m, 50, 100) == pytest.approx(0.2)
    assert temperature_at(m, 100, 100) == pytest.approx(0.02)
    m.temperature_end = None
    assert temperature_at(m, 70, 100) == 2.0


def test_trainer_uses_the_annealed_temperature(tmp_path, monkeypatch):
    from cwrnn_np.models.family import Family
    seen = []
    real = Family.forward

    def spy(self, params, spec, x, h_init=None, t0=0, resets=None, backend="numba"):
        seen.append(spec.temperature)
        return real(self, params, spec, x, h_init=h_init, t0=t0, resets=resets, backend=backend)

    monkeypatch.setattr(Family, "forward", spy)
    cfg = tiny("regimes", tmp_path, "numpy", **{"model.variant": "select",
                                                "model.temperature": 1.0,
                                                "model.temperature_end": 0.01,
                                                "train.eval_every": 0})
    train(cfg, run_dir=tmp_path / "r", log=lambda m: None)
    train_taus = seen[:20]
    assert train_taus[0] == 1.0 and train_taus == sorted(train_taus, reverse=True)
    assert train_taus[10] == pytest.approx(0.1)
    assert seen[-1] == pytest.approx(0.01)         # final evaluation at the end value


def test_build_net_variants():
    m = task_defaults("hold").model
    m.variant = "select"
    net = build_net(m, 2, 1)
    assert isinstance(net.spec, SelectionSpec) and net.spec.periods == (1, 1, 4, 4, 16, 16)
    m.periods, m.groups = [1, 1, 4], [[0, 1]]      # a group and an ordinary module
    net = build_net(m, 2, 1)
    assert net.spec.periods == (1, 1, 4) and net.spec.groups == ((0, 1),)
    m.groups = [[0, 2]]
    with pytest.raises(ConfigError, match=r"groups\[0\] = \[0, 2\] mixes clocks"):
        build_net(m, 2, 1)
    m.periods, m.groups = [1, 4, 16], None
    m.variant = "learned-static"
    net = build_net(m, 2, 1)
    assert isinstance(net.spec, LearnedPeriodSpec) and net.spec.candidates[-1] == 32
    assert module_periods(net.init(np.random.default_rng(0)), net.spec)["mode"].tolist() == \
        [1, 4, 16]


@pytest.mark.parametrize("sets, match", [
    ({"model.variant": "blurry"}, "model.variant must be one of clockwork, select"),
    ({"model.variant": "select", "model.kind": "lstm"}, "needs model.kind='cwrnn'"),
    ({"model.variant": "select", "model.group_size": 1}, "group_size must be an integer >= 2"),
    ({"model.variant": "learned-static", "model.candidate_periods": "[4]"},
     "candidates must hold at least two"),
    ({"model.variant": "learned-static", "model.sigma_init": -1.0},
     "sigma_init must be a finite number > 0"),
    ({"model.variant": "select", "model.temperature": 0.0}, "temperature must be"),
    ({"model.variant": "select", "model.temperature_end": 0.0},
     "model.temperature_end must be > 0"),
    ({"model.variant": "learned-static", "model.phases": "[0,1]"}, "phases must all be 0"),
])
def test_bad_variant_config_names_the_field(sets, match, tmp_path):
    cfg = tiny("hold", tmp_path, "numpy", **sets)
    with pytest.raises(ConfigError, match=match):
        train(cfg, run_dir=tmp_path / "r", log=lambda m: None)
    assert not (tmp_path / "r").exists()


def test_cli_trains_evaluates_and_samples_a_variant(tmp_path, capsys):
    assert cli.main(["train", "hold", "--no-progress", "--runs-dir", str(tmp_path),
                     "--set", "train.steps=5", "--set", "model.variant=learned-static",
                     "--set", "model.backend=numpy"]) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    capsys.readouterr()
    assert cli.main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "mse" in out


def test_cli_gradcheck_audits_the_variants(capsys):
    assert cli.main(["gradcheck", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    for row in ("select: groups of 2", "select: one group among modules",
                "learned periods, static", "learned periods, emitted"):
        assert row in out
    assert "FAIL" not in out


def test_hold_problem():
    x, y = hold_problem(5, 50, 24, np.random.default_rng(0))
    assert x.shape == (50, 5, 2) and y.shape == (50, 5, 1)
    events = np.flatnonzero(np.abs(x[:, 0, 0]) > 0)
    assert events.tolist() == [0, 24, 48]
    assert np.array_equal(y[:24, :, 0], np.broadcast_to(x[0, :, 0], (24, 5)))
    assert np.array_equal(y[24:48, :, 0], np.broadcast_to(x[24, :, 0], (24, 5)))
    with pytest.raises(ValueError, match="period"):
        hold_problem(2, 10, 0, np.random.default_rng(0))


def test_regimes_problem():
    x, y = regimes_problem(4, 40, 8, np.random.default_rng(1))
    u, s = x[:, :, 0], x[:, :, 1]
    assert set(np.unique(s)) == {-1.0, 1.0}
    assert np.all(s[8] == -s[0]) and np.all(s[7] == s[0])        # flips every 8 steps
    assert np.array_equal(y[2:, :, 0], s[2:] * u[:-2]) and np.all(y[:2] == 0)


def test_demonstrations_write_their_reports(tmp_path):
    from cwrnn_np.experiments.demos import run_learned_periods, run_soft_selection
    res = run_learned_periods(tmp_path, starts=(32,), seeds=(0,), steps=12, backend="numpy",
                              progress=False)
    names = [r["name"] for r in res]
    assert names == ["clockwork [1,4,16]", "clockwork [1,4,24]",
                     "learned static from [1,4,32]", "learned emitted from [1,4,32]"]
    learned = res[2]
    assert learned["track"][0][0] == 1 and len(learned["track"]) == 2   # steps 1 and 10
    assert learned["track"][0][1][2] == pytest.approx(32, rel=0.05)     # starts at exp(mu)=32
    assert len(learned["hard_periods"]) == 3 and np.isfinite(learned["hard_mse"])
    md = (tmp_path / "learned-periods.md").read_text()
    assert "cwrnn experiment learned-periods --steps 12 --seeds 1" in md
    assert (tmp_path / "learned-periods.png").stat().st_size > 0
    d = json.loads((tmp_path / "learned-periods.json").read_text())
    assert len(d["runs"]) == 4
    res = run_soft_selection(tmp_path, seeds=(0,), steps=12, backend="numpy", progress=False)
    sel = res[-1]
    assert 0 <= sel["g0_plus"] <= 1 and 0 <= sel["specialisation"] <= 1
    assert (tmp_path / "soft-selection.png").stat().st_size > 0
    assert "| selection: 2 x 4 units |" in (tmp_path / "soft-selection.md").read_text()


def test_cli_harden_writes_an_ordinary_cwrnn_run(tmp_path, capsys):
    assert cli.main(["train", "hold", "--no-progress", "--runs-dir", str(tmp_path),
                     "--set", "train.steps=6", "--set", "model.variant=learned-static",
                     "--set", "model.temperature_end=0.001", "--set", "model.backend=numpy",
                     "--set", "data.n_valid=8"]) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    capsys.readouterr()
    assert cli.main(["harden", str(run)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["periods"] == [1, 4, 16]
    # at temperature 0.001 the soft clock is the hard one: same scores
    assert report["hard"]["test"]["mse"] == pytest.approx(report["soft"]["test"]["mse"],
                                                          rel=1e-9)
    cfg, net, params, meta = load_run(run / "hardened")
    assert net.kind == "cwrnn" and net.spec.periods == (1, 4, 16)
    assert cfg.model.variant == "clockwork" and meta["hardened_from"] == str(run)
    assert cli.main(["evaluate", str(run / "hardened")]) == 0
    # a run that is not a learned-periods run is refused with one line
    assert cli.main(["harden", str(run / "hardened")]) == 2
    assert "not a learned-periods run" in capsys.readouterr().err


def test_cli_experiment_writes_a_new_run_folder_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["experiment", "soft-selection", "--steps", "3", "--seeds", "1"]) == 0
    (folder,) = (tmp_path / "runs" / "experiments").iterdir()
    assert folder.name.startswith("soft-selection-")
    names = {p.name for p in folder.iterdir()}
    assert {"soft-selection.md", "soft-selection.json", "soft-selection.csv",
            "soft-selection.png"} <= names
    rows = (folder / "soft-selection.csv").read_text().splitlines()
    assert rows[0].startswith("name,seed,params") and len(rows) == 4
    md = (folder / "soft-selection.md").read_text()
    assert "cwrnn experiment soft-selection --steps 3 --seeds 1\n" in md   # no --out-dir
    assert f"runs/experiments/{folder.name}/soft-selection.md" in capsys.readouterr().out
