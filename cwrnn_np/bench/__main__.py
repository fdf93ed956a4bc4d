"""``python -m cwrnn_np.bench``: the speed benchmark (:mod:`cwrnn_np.bench.runner`)."""
from .runner import main

if __name__ == "__main__":
    raise SystemExit(main())
