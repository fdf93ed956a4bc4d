"""The small sweep behind the generation task's defaults (docs/usage.md).

Trains the default generation network (9 modules, periods 1..256, clip 0 of the embedded clips)
for 5000 steps with each optimizer, learning rate and module size below, and prints the final
normalised MSE and the wall time of each run.

    python benchmarks/sweep_generation.py
"""
import itertools
import time

from cwrnn_np.training.config import apply_overrides
from cwrnn_np.training.tasks import task_defaults
from cwrnn_np.training.train import train


def main():
    grid = itertools.product(["nesterov", "adam"], [3e-3, 1e-2, 3e-2], [4, 8])
    for opt, lr, k in grid:
        cfg = task_defaults("generation")
        cfg.train.progress = False
        cfg.train.runs_dir = "runs/sweep"
        apply_overrides(cfg, [f"optim.name={opt}", f"optim.lr={lr}", f"model.module_size={k}",
                              "train.steps=5000", "train.eval_every=1000"])
        t = time.perf_counter()
        result = train(cfg, log=lambda m: None)
        print(f"{opt:<9s} lr={lr:<6g} module_size={k}  "
              f"NMSE={result.final['test']['nmse']:.4f}  {time.perf_counter() - t:.1f} s",
              flush=True)


if __name__ == "__main__":
    main()
