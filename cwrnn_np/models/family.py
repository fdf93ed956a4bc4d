r"""What a model family is: one record that the registry lists and every family fills in.

Every family of :mod:`cwrnn_np.models` (the CW-RNN, the LSTM, soft selection, learned periods)
lives in a folder with the same files:

``spec.py``
    what a network of the family is (a frozen, validated dataclass; the CW-RNN's is the shared
    :class:`cwrnn_np.spec.ClockworkSpec`);
``reference.py``
    the readable NumPy forward pass and hand-derived BPTT, each line tagged with its equation;
``kernels.py``
    the same equations as Numba kernels, one call per sequence in each direction;
``numba_backend.py``
    the wrappers that prepare the kernels' named inputs and call them (``backend="numba"``);
``api.py``
    the validating public entry points, and the family's :class:`Family` record.

A :class:`Family` holds the family's backends and types; its :meth:`Family.forward`,
:meth:`Family.backward` and :meth:`Family.gradcheck` are the one definition of "validate, then
dispatch to a backend" that every family's public functions call.

Shape letters: L time, B batch, D input, O output; S is the width of the carried state (H, or
2H for the LSTM's [h; c]).
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable, Mapping

import numpy as np

from ..gradcheck import GradcheckReport, audit
from ..validation import validate_backward_call, validate_call

__all__ = ["Family", "DEFAULT_BACKEND", "contiguous", "load_kernels"]

#: the backend used when none is named; ``"numpy"`` is the readable reference
DEFAULT_BACKEND = "numba"


def contiguous(a: np.ndarray, dtype=None) -> np.ndarray:
    """``a`` as a C-contiguous, aligned, writeable array (a copy only if needed), so that every
    kernel call hits the one compiled signature per dtype."""
    return np.require(a, dtype=dtype, requirements=("C", "A", "W"))


def load_kernels(family: str):
    """The module ``cwrnn_np.models.<family>.kernels``, imported on first use so that
    ``import cwrnn_np`` does not import Numba; its on-disk cache is dropped first if it was
    compiled from other sources (:func:`_drop_stale_cache`)."""
    module = importlib.import_module(f"cwrnn_np.models.{family}.kernels")
    if family not in _CHECKED:
        _CHECKED.add(family)
        _drop_stale_cache(module)
    return module


_CHECKED: set = set()


def _drop_stale_cache(module) -> None:
    """Delete cached machine code compiled from older kernel sources.

    Numba invalidates a cached function only when its own file changes, not when a helper it
    compiles in from another file does: a family's kernels and the helpers of
    ``cwrnn_np/kernels/`` that call other helpers (``held.py`` calls ``linalg.py``) would keep
    their old code. So the family's cache folder keeps a stamp, a hash of the family's
    ``kernels.py`` and every file of ``cwrnn_np/kernels/``; when it differs, the cache files of
    the family's kernels and of every shared helper go, and Numba compiles afresh. (Reads the
    cache folders from the dispatchers' ``_cache``; where that is missing, nothing is done.)
    """
    import hashlib
    import pathlib
    import sys
    source = pathlib.Path(module.__file__)
    shared = sorted((source.parents[2] / "kernels").glob("*.py"))
    digest = hashlib.sha256()
    for path in [source, *shared]:
        digest.update(path.read_bytes())
    try:
        folder = _cache_folder(module)
        stamp = folder / f"{source.stem}.sources-sha256"
        if stamp.exists() and stamp.read_text() == digest.hexdigest():
            return
        stale = [(folder, source.stem)]
        package = module.__name__.split(".models.")[0]
        linalg = sys.modules.get(f"{package}.kernels.linalg")  # imported by every family
        if linalg is not None:
            stale += [(_cache_folder(linalg), path.stem) for path in shared]
        for where, stem in stale:
            for cached in [*where.glob(f"{stem}.*.nbi"), *where.glob(f"{stem}.*.nbc")]:
                cached.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest.hexdigest())
    except (StopIteration, AttributeError, OSError):
        return


def _cache_folder(module):
    """Numba's cache folder for the compiled functions of ``module``."""
    import pathlib
    dispatcher = next(v for v in vars(module).values() if hasattr(v, "_cache")
                      and getattr(v, "__module__", None) == module.__name__)
    return pathlib.Path(dispatcher._cache._cache_path)


def _article(name: str) -> str:
    return "an" if name[0] in "AEIOU" else "a"


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family: its types, its backends and the names its public functions have.

    Attributes
    ----------
    name : str
        The registry key (``"cwrnn"``, ``"lstm"``, ``"select"``, ``"learned"``).
    spec_type, cache_type : type
        The family's spec dataclass and the NamedTuple its forward pass returns as cache.
    backends : mapping
        Backend name (``"numpy"``, ``"numba"``) to ``(forward, backward)``, each with the
        signature of the NumPy reference: ``forward(params, spec, x, h_init, t0, reset)`` and
        ``backward(params, spec, dy, cache, dh_last)``.
    init : callable
        ``init(spec, rng, dtype=..., scale=...) -> params``.
    spec_from_dict : callable
        The inverse of ``spec.to_dict()`` (checkpoints store the dict).
    forward_name : str
        The public forward function's name, for error messages.
    state_size : callable
        ``state_size(spec)``: the width S of the carried state ``h_init`` / ``cache.h_last``.
    tempered : bool
        Whether the spec has a ``temperature`` that the trainer anneals.
    check_cache : callable or None
        ``check_cache(spec, cache)``: a family's own check that a cache fits the spec, run by
        :meth:`backward` after the shared checks (raises ``ValueError``).
    """

    name: str
    spec_type: type
    cache_type: type
    backends: Mapping[str, tuple]
    init: Callable
    spec_from_dict: Callable
    forward_name: str
    state_size: Callable = lambda spec: spec.hidden_size
    tempered: bool = False
    check_cache: Callable | None = None

    def backend(self, name: str) -> tuple:
        """``(forward, backward)`` of the backend called ``name``."""
        if name not in self.backends:
            raise ValueError(f"backend must be one of {sorted(self.backends)}, got {name!r}")
        return self.backends[name]

    def check_spec(self, spec) -> None:
        if not isinstance(spec, self.spec_type):
            kind = self.spec_type.__name__
            raise ValueError(f"spec must be {_article(kind)} {kind}, got {type(spec).__name__}")

    def validate_inputs(self, params, spec, x, h_init=None, t0=0, resets=None):
        """Validate a forward call; return ``(dtype, reset flags (L,) bool)``."""
        self.check_spec(spec)
        return validate_call(params, spec, x, h_init, t0, resets,
                             state_size=self.state_size(spec))

    def forward(self, params: dict, spec, x: np.ndarray, h_init=None, t0: int = 0,
                resets=None, backend: str = DEFAULT_BACKEND):
        """Validate the call, then run the backend's forward pass: ``(y (L, B, O), cache)``."""
        fwd, _ = self.backend(backend)
        _, flags = self.validate_inputs(params, spec, x, h_init, t0, resets)
        return fwd(params, spec, x, h_init, int(t0), flags)

    def backward(self, params: dict, spec, dy: np.ndarray, cache, dh_last=None,
                 backend: str = DEFAULT_BACKEND) -> dict:
        """Validate the call, then run the backend's BPTT: the gradients, as a dict."""
        _, bwd = self.backend(backend)
        self.check_spec(spec)
        validate_backward_call(params, spec, dy, cache, dh_last, self.cache_type,
                               self.forward_name, state_size=self.state_size(spec))
        if self.check_cache is not None:
            self.check_cache(spec, cache)
        return bwd(params, spec, dy, cache, dh_last)

    def gradcheck(self, params: dict, spec, x: np.ndarray, *, h_init=None, t0: int = 0,
                  resets=None, backend: str = DEFAULT_BACKEND, rng=None, mode: str = "both",
                  eps: float = 1e-3, floor=None, n_directions: int = 3,
                  max_entries: int | None = None, who: str = "gradcheck") -> GradcheckReport:
        """Audit :meth:`backward` against finite differences of :meth:`forward`
        (:func:`cwrnn_np.gradcheck.audit`)."""
        self.check_spec(spec)
        return audit(
            lambda p, xx, h: self.forward(p, spec, xx, h, t0, resets, backend=backend),
            lambda p, dy, c, dh: self.backward(p, spec, dy, c, dh_last=dh, backend=backend),
            params, spec.param_masks(), x, h_init=h_init, rng=rng, mode=mode, eps=eps,
            floor=floor, n_directions=n_directions, max_entries=max_entries, who=who)
