"""How much does carrying the hidden state help a trained char-LM run?

Evaluates a text run's checkpoint on its validation and test splits twice: carrying the state
through each of the B = 4 streams (as training and `cwrnn evaluate` do), and resetting it at
every 128-character chunk. Used for docs/experiments/charlm.md.

    python benchmarks/charlm_state_carry.py runs/text-YYYYmmdd-HHMMSS-s0
"""
import sys

import numpy as np

from cwrnn_np import data as ds
from cwrnn_np.losses import softmax_cross_entropy
from cwrnn_np.training.tasks import make_task
from cwrnn_np.training.train import load_run


def main(run):
    cfg, net, params, _ = load_run(run)
    task = make_task(cfg)
    L = cfg.data.length
    for split in ("valid", "test"):
        out = {}
        for mode in ("carried", "reset"):
            total = count = 0
            h, t0 = None, cfg.model.clock_start
            for x, y in ds.batch_stream(task.splits[split], L, 4):
                yy, cache = net.forward(params, task._one_hot(x),
                                        h_init=h if mode == "carried" else None, t0=t0)
                loss, _ = softmax_cross_entropy(yy, y)
                total, count = total + loss * y.size, count + y.size
                h, t0 = cache.h_last, t0 + L
            out[mode] = total / count
        print(f"{split}: carried {out['carried']:.3f}, reset every {L} characters "
              f"{out['reset']:.3f} nats/char")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
