"""Training loop: resume determinism, divergence stop, masks, forgetting, checkpoints, tasks."""
import json
import pathlib

import numpy as np
import pytest

import cwrnn_np as cw
from cwrnn_np.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cwrnn_np.training.config import ConfigError, apply_overrides, load_config
from cwrnn_np.training.tasks import task_defaults
from cwrnn_np import schedules
from cwrnn_np.training.train import (ForgettingSchedule, TrainingDiverged, TrainState,
                                     batch_at, build_spec, load_run, setup_run, train,
                                     train_step)

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiny(task, tmp_path, **sets):
    cfg = task_defaults(task)
    cfg.train.runs_dir = str(tmp_path / "runs")
    cfg.train.progress = False
    base = {"model.n_modules": 3, "model.module_size": 3, "train.steps": 30,
            "train.eval_every": 10, "train.checkpoint_every": 10}
    if task == "generation":
        base.update({"data.length": 60})
    base.update(sets)
    apply_overrides(cfg, [f"{k}={v}" for k, v in base.items()])
    return cfg


def _same_params(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("task, sets", [
    ("generation", {}),
    ("generation", {"model.kind": "lstm", "model.hidden_size": 4, "model.learn_h0": "true"}),
    ("text", {"data.length": 8, "train.batch_size": 3, "train.forgetting": "geometric",
              "train.forgetting_start": 2, "train.forgetting_end": 40,
              "model.learn_h0": "true"}),
    ("adding", {"data.length": 12, "train.batch_size": 4, "optim.name": "rmsprop",
                "optim.lr": 1e-3}),
])
def test_resume_continues_exactly(task, sets, tmp_path):
    """N steps in one go == k steps, stop, resume, N - k steps: bitwise in float64."""
    if task == "text":
        path = tmp_path / "t.txt"
        path.write_text("((a[b]{c})) " * 200)
        sets = dict(sets, **{"data.path": str(path)})
    whole = train(tiny(task, tmp_path, **sets), run_dir=tmp_path / "whole")
    part = train(tiny(task, tmp_path, **sets), run_dir=tmp_path / "part", until=17)
    assert part.step == 17 and not part.final
    resumed = train(tiny(task, tmp_path, **sets), resume=tmp_path / "part")
    assert resumed.step == whole.step == 30
    assert _same_params(resumed.params, whole.params)
    for name in ("metrics.jsonl", "final.json"):
        assert (tmp_path / "whole" / name).read_text() == (tmp_path / "part" / name).read_text()
    p1, o1, m1, a1 = load_checkpoint(tmp_path / "whole")
    p2, o2, m2, a2 = load_checkpoint(tmp_path / "part")
    assert _same_params(p1, p2) and _same_params(o1, o2) and _same_params(a1, a2)


def test_masked_weights_stay_zero_after_training(tmp_path):
    cfg = tiny("generation", tmp_path, **{"model.connectivity": "clockwork-strict",
                                          "model.input_modules": "fastest"})
    res = train(cfg, run_dir=tmp_path / "r")
    assert np.all(res.params["W_H"][~res.net.spec.M_H] == 0)
    assert np.all(res.params["W_H"][res.net.spec.M_H] != 0)


def test_divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny("generation", tmp_path, **{"optim.lr": 1e30, "optim.clip_norm": "none",
                                          "train.checkpoint_every": 1})
    with pytest.raises(TrainingDiverged, match=r"training diverged at step \d+: .*"
                                                r"last good checkpoint is kept in"):
        train(cfg, run_dir=tmp_path / "r")
    params, _, meta, _ = load_checkpoint(tmp_path / "r")
    assert all(np.isfinite(v).all() for v in params.values())
    records = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert meta["step"] == max(r["step"] for r in records)  # checkpoint = last finite update


def test_forgetting_schedules():
    f = ForgettingSchedule("piecewise", (3, 10, 100, 1000))
    assert [f.period(s, 100) for s in (0, 24, 25, 50, 99)] == [3, 3, 10, 100, 1000]
    g = ForgettingSchedule("geometric", start=4, end=400)
    assert g.period(0, 10) == 4 and g.period(10, 10) == 400 and g.period(5, 10) == 40
    assert ForgettingSchedule().period(3, 10) is None
    assert ForgettingSchedule.resets(3, 0, 10) == [3, 6, 9]      # not at global step 0
    assert ForgettingSchedule.resets(3, 7, 10) == [2, 5, 8]      # global 9, 12, 15
    assert ForgettingSchedule.resets(None, 0, 10) == []
    with pytest.raises(ConfigError, match="train.forgetting must be"):
        ForgettingSchedule("sometimes")


def test_forgetting_resets_reach_the_forward_pass(tmp_path):
    """With F = 1 every step starts from r: the output cannot depend on earlier steps."""
    path = tmp_path / "t.txt"
    path.write_text("abcabcabd" * 100)
    cfg = tiny("text", tmp_path, **{"data.path": str(path), "data.length": 6,
                                    "train.batch_size": 2, "train.steps": 3,
                                    "train.forgetting": "piecewise",
                                    "train.forgetting_periods": "[1]"})
    res = train(cfg, run_dir=tmp_path / "r")
    recs = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["forget_period"] == 1 for r in recs if r["split"] == "train")
    assert res.step == 3


def test_checkpoint_errors(tmp_path):
    spec = cw.ClockworkSpec(1, 1, [2], [1])
    params = cw.init_params(spec, np.random.default_rng(0))
    save_checkpoint(tmp_path, params, {}, {"spec": spec.to_dict(), "step": 0})
    p, _, meta, _ = load_checkpoint(tmp_path, spec)
    assert _same_params(p, params) and meta["step"] == 0
    other = cw.ClockworkSpec(1, 1, [3], [1])
    with pytest.raises(CheckpointError, match="different network"):
        load_checkpoint(tmp_path, other)
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing")
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporaries


def test_resume_refuses_a_different_config(tmp_path):
    train(tiny("generation", tmp_path), run_dir=tmp_path / "r", until=5)
    with pytest.raises(CheckpointError, match="different config"):
        train(tiny("generation", tmp_path, **{"optim.lr": 0.5}), resume=tmp_path / "r")


def test_config_file_and_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('task = "generation"\n[model]\nperiods = [1, 4, 16, 4, 1]\nn_modules = 5\n'
                 'connectivity = "full"\n[optim]\nlr = 1\n')
    cfg = load_config(f, task_defaults("generation"))
    assert cfg.model.periods == [1, 4, 16, 4, 1] and cfg.optim.lr == 1.0
    spec = build_spec(cfg.model, 0, 1)
    assert spec.periods == (1, 4, 16, 4, 1) and spec.C.all()
    apply_overrides(cfg, ["model.periods=symmetric", "model.period_base=4"])
    assert build_spec(cfg.model, 0, 1).periods == (1, 4, 16, 4, 1)
    for bad, match in [("model.n_modules=abc", "model.n_modules must be of type int"),
                       ("model.colour=red", "unknown key model.colour"),
                       ("train.steps=1.5", "train.steps must be of type int")]:
        with pytest.raises(ConfigError, match=match):
            apply_overrides(cfg, [bad])
    (tmp_path / "bad.toml").write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


@pytest.mark.parametrize("task, sets", [
    ("vowels", {"data.data_dir": str(SHARED), "train.batch_size": 8}),
    ("copy", {"data.length": 5, "train.batch_size": 4, "data.n_valid": 16}),
    ("text", {"train.batch_size": 2, "data.length": 16}),
])
def test_every_task_trains_and_evaluates(task, sets, tmp_path):
    cfg = tiny(task, tmp_path, **dict(sets, **{"train.steps": 4, "train.eval_every": 2}))
    res = train(cfg, run_dir=tmp_path / "r")
    assert res.step == 4
    for split in ("valid", "test"):
        assert all(np.isfinite(v) for v in res.final[split].values() if np.ndim(v) == 0)
    assert (tmp_path / "r" / "loss.png").stat().st_size > 0
    assert (tmp_path / "r" / "clock.png").stat().st_size > 0


def test_srn_kind_builds_one_period_one_module():
    cfg = task_defaults("generation")
    apply_overrides(cfg, ["model.kind=srn", "model.n_modules=3", "model.module_size=5"])
    spec = build_spec(cfg.model, 0, 1)
    assert spec.periods == (1,) and spec.hidden_size == 15


def test_chunked_truncated_bptt_carries_state_and_clock(tmp_path, monkeypatch):
    """chunk_length = 16 on a 60-step clip: 4 updates per pass, t0 = 0, 16, 32, 48, and every
    chunk after the first starts from the previous chunk's last state."""
    from cwrnn_np.models.family import Family
    calls = []
    real_forward = Family.forward

    def spy(self, params, spec, x, h_init=None, t0=0, resets=None, backend="numba"):
        y, cache = real_forward(self, params, spec, x, h_init=h_init, t0=t0, resets=resets,
                                backend=backend)
        calls.append((x.shape[0], t0, h_init, cache.h_last))
        return y, cache

    monkeypatch.setattr(Family, "forward", spy)
    cfg = tiny("generation", tmp_path, **{"train.chunk_length": 16, "train.steps": 8,
                                          "train.eval_every": 0})
    res = train(cfg, run_dir=tmp_path / "r")
    # the first call prepares the numba kernels: one step of one sequence, from the reset state
    assert calls[0][0] == 1 and calls[0][1] == 0 and calls[0][2] is None
    train_calls = calls[1:9]
    assert [c[0] for c in train_calls] == [16, 16, 16, 12] * 2
    assert [c[1] for c in train_calls] == [0, 16, 32, 48] * 2
    assert train_calls[0][2] is None and train_calls[4][2] is None
    for prev, cur in zip(train_calls[:3], train_calls[1:4]):
        assert np.shares_memory(cur[2], prev[3])  # the carried state is the last state
    assert res.step == 8
    with pytest.raises(ConfigError, match="chunk_length applies to tasks with a loss at every"):
        train(tiny("adding", tmp_path, **{"train.chunk_length": 4}), run_dir=tmp_path / "a")


def test_early_stopping_keeps_the_best_parameters(tmp_path, monkeypatch):
    from cwrnn_np.training.tasks import GenerationTask
    scores = iter([0.5, 0.4, 0.45, 0.6, 0.7, 0.8])
    real = GenerationTask.evaluate

    def fake(self, run, split):
        out = real(self, run, split)
        if split == "valid":
            out["nmse"] = next(scores)
        return out

    monkeypatch.setattr(GenerationTask, "evaluate", fake)
    cfg = tiny("generation", tmp_path, **{"train.eval_every": 2, "train.patience": 2,
                                          "train.steps": 50})
    res = train(cfg, run_dir=tmp_path / "r", log=lambda m: None)
    assert res.stopped_early and res.step == 8 and res.best_valid == 0.4
    _, _, meta, arrays = load_checkpoint(tmp_path / "r")
    assert meta["history"]["stopped_early"] and any(k.startswith("best/") for k in arrays)


def test_lstm_trains_everywhere_a_cwrnn_does(tmp_path):
    """model.kind=lstm: trainer, checkpoints, masks (none), evaluation and resume."""
    cfg = tiny("text", tmp_path, **{"model.kind": "lstm", "model.hidden_size": 5,
                                    "model.peepholes": "true", "train.batch_size": 2,
                                    "data.length": 8, "train.steps": 6})
    path = tmp_path / "t.txt"
    path.write_text("lstm (baseline) " * 80)
    apply_overrides(cfg, [f"data.path={path}"])
    res = train(cfg, run_dir=tmp_path / "r")
    assert res.net.kind == "lstm" and res.net.spec.peepholes
    init = res.net.init(np.random.default_rng(0))
    assert init["b"][5:10].tolist() == [5.0] * 5  # forget-gate block [i, f, o, g] at init
    assert res.step == 6
    p, _, meta, arrays = load_checkpoint(tmp_path / "r", res.net)
    assert meta["spec"]["kind"] == "lstm" and arrays["carried"].shape == (2, 10)
    assert not (tmp_path / "r" / "clock.png").exists()  # no clock to draw


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_time_budget_stops_with_final_metrics(tmp_path, clock):
    cfg = tiny("generation", tmp_path, **{"train.max_seconds": 1e-9, "train.steps": 1000,
                                          "train.budget_clock": clock})
    logged = []
    res = train(cfg, run_dir=tmp_path / "r", log=logged.append)
    assert res.step == 1 and "nmse" in res.final["test"]
    assert any(f"({clock})" in m for m in logged)
    _, _, meta, _ = load_checkpoint(tmp_path / "r")
    assert meta["step"] == 1


def test_bad_budget_clock_is_named_before_any_output(tmp_path):
    cfg = tiny("generation", tmp_path, **{"train.budget_clock": "gpu"})
    with pytest.raises(ConfigError, match="train.budget_clock must be wall or cpu, got 'gpu'"):
        train(cfg, run_dir=tmp_path / "r", log=lambda m: None)
    assert not (tmp_path / "r").exists()


def test_clock_start_offsets_every_call(tmp_path, monkeypatch):
    """model.clock_start = 1 (the design note's convention) shifts the clock of every call."""
    from cwrnn_np.models.family import Family
    seen = []
    real_forward = Family.forward

    def spy(self, params, spec, x, h_init=None, t0=0, resets=None, backend="numba"):
        seen.append(t0)
        return real_forward(self, params, spec, x, h_init=h_init, t0=t0, resets=resets,
                            backend=backend)

    monkeypatch.setattr(Family, "forward", spy)
    cfg = tiny("generation", tmp_path, **{"model.clock_start": 1, "train.steps": 3,
                                          "train.eval_every": 0})
    train(cfg, run_dir=tmp_path / "r")
    assert seen and set(seen) == {1}
    with pytest.raises(ConfigError, match="clock_start must be >= 0"):
        train(tiny("generation", tmp_path, **{"model.clock_start": -1}), run_dir=tmp_path / "x")


def test_train_step_is_pure_and_is_what_train_runs(tmp_path):
    """Stepping train_step by hand over batch_at equals train(), bitwise; a step leaves its input
    state untouched, so the same (state, batch) gives the same result twice."""
    cfg = tiny("generation", tmp_path, **{"train.steps": 6, "train.chunk_length": 16,
                                          "train.eval_every": 0})
    setup = setup_run(cfg)
    params = setup.net.init(np.random.default_rng([cfg.train.seed, 0]))
    state = TrainState(params=params, opt_state=setup.opt.init(params), step=0)
    losses = []
    for _ in range(cfg.train.steps):
        before = {k: v.copy() for k, v in state.params.items()}
        batch = batch_at(setup, state.step)
        new, metrics = train_step(state, batch, setup)
        again, _ = train_step(state, batch, setup)
        assert _same_params(state.params, before) and _same_params(new.params, again.params)
        assert new.step == state.step + 1 and new.carried is not None  # chunks carry the state
        losses.append(metrics["loss"])
        state = new
    res = train(cfg, run_dir=tmp_path / "r")
    assert _same_params(res.params, state.params)
    recs = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in recs if r["split"] == "train"] == losses


def test_random_schedule_is_drawn_from_train_seed(tmp_path):
    cfg = task_defaults("generation")
    apply_overrides(cfg, ["model.periods=random"])                 # 9 periods from 1..256
    first, other = build_spec(cfg.model, 0, 1, seed=1), build_spec(cfg.model, 0, 1, seed=2)
    assert first.periods != other.periods
    assert build_spec(cfg.model, 0, 1, seed=1).periods == first.periods
    assert all(1 <= p <= 256 for p in first.periods)
    assert list(first.periods) == sorted(first.periods)
    # the trainer draws them from train.seed and stores them in the checkpoint
    run = tiny("generation", tmp_path, **{"model.periods": "random", "model.n_modules": 4,
                                          "train.seed": 3, "train.steps": 2})
    res = train(run, run_dir=tmp_path / "r", plots=False)
    assert res.net.spec.periods == build_spec(run.model, 0, 1, seed=3).periods
    assert tuple(load_checkpoint(tmp_path / "r")[2]["spec"]["spec"]["periods"]) == \
        res.net.spec.periods


def test_old_random_schedule_checkpoints_load_and_resume_with_their_periods(tmp_path):
    """Older code drew "random" periods from default_rng(0) whatever the seed; its checkpoints
    store those periods, and loading or resuming uses them instead of drawing new ones."""
    old = schedules.random(4, 1, 8, np.random.default_rng(0))     # [3, 5, 6, 7]
    sets = {"model.n_modules": 4, "train.seed": 5}
    explicit = tiny("generation", tmp_path, **sets, **{"model.periods": str(old)})
    whole = train(explicit, run_dir=tmp_path / "whole", plots=False)
    train(explicit, run_dir=tmp_path / "old", until=12)
    # the checkpoint as older code wrote it: the config says "random", the spec has its draw
    params, opt_state, meta, arrays = load_checkpoint(tmp_path / "old")
    meta["config"]["model"]["periods"] = "random"
    save_checkpoint(tmp_path / "old", params, opt_state, meta, arrays)
    random_cfg = tiny("generation", tmp_path, **sets, **{"model.periods": "random"})
    assert build_spec(random_cfg.model, 0, 1, seed=5).periods != tuple(old)
    cfg, net, loaded, _ = load_run(tmp_path / "old")
    assert cfg.model.periods == "random" and net.spec.periods == tuple(old)
    assert _same_params(loaded, params)
    resumed = train(random_cfg, resume=tmp_path / "old", plots=False)
    assert resumed.net.spec.periods == tuple(old) and resumed.step == whole.step
    assert _same_params(resumed.params, whole.params)


def test_kernels_are_ready_before_the_first_step(tmp_path):
    """On the numba backend the run compiles (or loads) its kernels before the progress bar and
    the first update, and says how long it took; on numpy it does not."""
    events = []
    cfg = tiny("generation", tmp_path, **{"train.steps": 2, "train.eval_every": 0})
    train(cfg, run_dir=tmp_path / "r", log=events.append,
          on_step=lambda step, params: events.append(step))
    ready = [i for i, e in enumerate(events) if isinstance(e, str) and "kernels ready" in e]
    assert len(ready) == 1 and ready[0] < events.index(1)
    assert "preparing the numba kernels" in events[ready[0] - 1]
    events.clear()
    cfg = tiny("generation", tmp_path, **{"model.backend": "numpy", "train.steps": 2,
                                          "train.eval_every": 0})
    train(cfg, run_dir=tmp_path / "n", log=events.append)
    assert not any("kernels" in e for e in events if isinstance(e, str))
