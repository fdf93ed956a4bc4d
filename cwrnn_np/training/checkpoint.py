r"""Checkpoints: one ``.npz`` with every array and the run's metadata as JSON, written atomically.

Layout of ``checkpoint.npz``:

* ``param/<name>``: the parameters (``W_I``, ``W_H``, ...);
* ``opt/<key>``: the optimizer state (:mod:`cwrnn_np.training.optim`);
* ``array/<key>``: other arrays the trainer carries (e.g. the carried hidden state);
* ``meta.json``: a uint8 array holding UTF-8 JSON: format version, the spec, the config, the
  step, the RNG state and the trainer's bookkeeping.

A human-readable copy of the JSON is written next to it as ``checkpoint.json``; loading reads
only the ``.npz``, so the pair can never disagree about what was loaded.

Writes are atomic: everything goes to a temporary file in the same folder, which is flushed,
``fsync``-ed and then renamed over the old checkpoint (``os.replace``), so a crash or a full disk
leaves the previous checkpoint intact.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "FORMAT_VERSION",
           "atomic_write_bytes"]

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not match what it is loaded into."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(folder, params: dict, opt_state: dict, meta: dict, arrays=None) -> Path:
    """Write ``folder/checkpoint.npz`` (and its ``.json`` copy) atomically; return the npz path.

    Parameters
    ----------
    folder : the run folder (must exist and be writable)
    params : name -> array
    opt_state : key -> array (the optimizer state)
    meta : JSON-serialisable dict (spec, config, step, rng state, ...)
    arrays : optional key -> array of other carried arrays
    """
    folder = Path(folder)
    meta = dict(meta, format_version=FORMAT_VERSION)
    text = json.dumps(meta, indent=1, sort_keys=True)
    payload = {f"param/{k}": np.asarray(v) for k, v in params.items()}
    payload.update({f"opt/{k}": np.asarray(v) for k, v in opt_state.items()})
    payload.update({f"array/{k}": np.asarray(v) for k, v in (arrays or {}).items()})
    payload["meta.json"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **payload)
    target = folder / "checkpoint.npz"
    atomic_write_bytes(target, buf.getvalue())
    atomic_write_bytes(folder / "checkpoint.json", text.encode("utf-8"))
    return target


def load_checkpoint(path, spec=None):
    """Read a checkpoint; return ``(params, opt_state, meta, arrays)``.

    ``path`` is a run folder or a ``checkpoint.npz``. If ``spec`` is given (anything with
    ``to_dict()`` and ``param_shapes()``: a :class:`cwrnn_np.ClockworkSpec` or a
    :class:`cwrnn_np.models.readout.Net`), the checkpoint's ``meta["spec"]`` must equal ``spec.to_dict()``
    and the parameter shapes must match. Raises :class:`CheckpointError` with a
    one-line reason for a missing, truncated, corrupt or mismatched file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.npz"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({exc})") from None
    if "meta.json" not in data:
        raise CheckpointError(f"checkpoint {path} has no metadata (meta.json); not a cwrnn_np "
                              f"checkpoint")
    try:
        meta = json.loads(data.pop("meta.json").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata ({exc})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version "
                              f"{meta.get('format_version')!r}, expected {FORMAT_VERSION}")
    params = {k[6:]: v for k, v in data.items() if k.startswith("param/")}
    opt_state = {k[4:]: v for k, v in data.items() if k.startswith("opt/")}
    arrays = {k[6:]: v for k, v in data.items() if k.startswith("array/")}
    if spec is not None:
        expected = spec.to_dict()
        saved = meta.get("spec")
        if saved != expected:
            raise CheckpointError(f"checkpoint {path} was made for a different network: "
                                  f"saved {saved}, expected {expected}")
        for name, shape in spec.param_shapes().items():
            if name not in params:
                raise CheckpointError(f"checkpoint {path} lacks parameter {name!r}")
            if params[name].shape != tuple(shape):
                raise CheckpointError(f"checkpoint {path}: parameter {name!r} has shape "
                                      f"{params[name].shape}, expected {tuple(shape)}")
    return params, opt_state, meta, arrays
