r"""Character-level text: corpora, a vocabulary, splits and (L, B) batches.

Sources: any UTF-8 file (:func:`read_text`; the design note's experiments used tiny Shakespeare,
sequence length 128, batch 4, split 90/5/5), and a default corpus that always exists,
:func:`stdlib_corpus`: Python standard-library source, rich in the nested brackets that the
design note takes as its motivating example of structure at several time scales.

Shape letters: L time (characters per chunk), B batch (parallel streams), V vocabulary size,
n the length of a whole id sequence. Text becomes a 1-D int64 id array of length n
(:class:`Vocabulary`); batches are time-major (L, B) int64 arrays whose targets are the inputs
shifted by one character, and :func:`one_hot` turns ids into (L, B, V) network inputs.
"""
from __future__ import annotations

import json
import os
import pathlib
import sysconfig
from typing import Iterator, Sequence

import numpy as np

from ..validation import check_count
from ._checks import check_ids, check_rng

__all__ = ["read_text", "stdlib_corpus", "STDLIB_FILES", "Vocabulary", "split", "batch_stream",
           "random_windows", "one_hot"]

#: The fixed, ordered file list of :func:`stdlib_corpus`, relative to the stdlib folder: stable
#: pure-Python modules, present in every CPython since 3.8, heavy on nested (), [] and {}.
STDLIB_FILES = (
    "textwrap.py", "string.py", "json/__init__.py", "json/decoder.py", "json/encoder.py",
    "json/scanner.py", "argparse.py", "ast.py", "pprint.py", "difflib.py", "dataclasses.py",
    "functools.py", "fractions.py", "statistics.py", "tokenize.py", "calendar.py", "csv.py",
    "configparser.py",
)


def read_text(path) -> str:
    """The whole of a UTF-8 text file, byte for byte (line endings are not translated).

    Raises
    ------
    FileNotFoundError
        naming ``path`` if it does not exist or is not a file.
    ValueError
        naming ``path`` and the byte offset if the file is not valid UTF-8.
    """
    path = pathlib.Path(os.fspath(path))
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise FileNotFoundError(f"text file {str(path)!r} {what}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"text file {str(path)!r} is not valid UTF-8: {exc.reason} at byte "
                         f"offset {exc.start} (byte 0x{data[exc.start]:02x})") from None


def stdlib_corpus(max_chars: int | None = None) -> str:
    """The default character corpus: the source of :data:`STDLIB_FILES`, concatenated in order.

    The files are read from ``sysconfig.get_paths()["stdlib"]`` of the running interpreter, so
    the corpus is deterministic for one Python version (about 0.65 million characters on 3.11)
    and differs slightly between versions as the modules are edited. A missing file is skipped
    quietly as long as at least three quarters of the list exists; otherwise the installation
    has no usable source (e.g. a zipped or stripped standard library) and an error is raised.

    Parameters
    ----------
    max_chars : int >= 1 or None; keep only the first ``max_chars`` characters.

    Raises
    ------
    FileNotFoundError
        if fewer than three quarters of the files exist, listing the missing ones.
    """
    if max_chars is not None:
        max_chars = check_count(max_chars, "max_chars")
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    present = [root / name for name in STDLIB_FILES if (root / name).is_file()]
    if 4 * len(present) < 3 * len(STDLIB_FILES):
        missing = [name for name in STDLIB_FILES if not (root / name).is_file()]
        raise FileNotFoundError(f"the standard-library corpus needs the .py sources in {root}, "
                                f"but {len(missing)} of {len(STDLIB_FILES)} are missing: "
                                f"{', '.join(missing)}; pass a text file instead")
    parts = []
    total = 0
    for path in present:
        parts.append(read_text(path))
        total += len(parts[-1])
        if max_chars is not None and total >= max_chars:
            break
    text = "".join(parts)
    return text if max_chars is None else text[:max_chars]


def _codepoints(text: str) -> np.ndarray:
    """(n,) uint32 Unicode code points of ``text``, without a Python-level loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


class Vocabulary:
    """A character vocabulary: id ``i`` stands for ``chars[i]``.

    Build one from a text with :meth:`from_text` (the sorted distinct characters, so the same
    text always gives the same ids), or from a stored list with :meth:`from_list`, the inverse of
    :meth:`to_list` (a JSON-friendly list of one-character strings, kept in checkpoints).

    Attributes
    ----------
    chars : tuple of str, the characters in id order.
    size : int, V.
    """

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if not chars:
            raise ValueError("chars must hold at least one character, got none")
        for i, c in enumerate(chars):
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars[{i}] must be a one-character string, got {c!r}")
        if len(set(chars)) != len(chars):
            seen, dup = set(), None
            for c in chars:
                if c in seen:
                    dup = c
                    break
                seen.add(c)
            raise ValueError(f"chars must be distinct, {dup!r} appears twice")
        self.chars = tuple(chars)
        self._cp = _codepoints("".join(chars))  # (V,) code point of each id
        self._order = np.argsort(self._cp, kind="stable")  # (V,) ids in code-point order
        self._sorted_cp = self._cp[self._order]  # (V,)

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        """The sorted distinct characters of ``text`` (non-empty)."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty str, got {type(text).__name__} "
                             f"of length {len(text) if isinstance(text, str) else '-'}")
        return cls(sorted(set(text)))

    @classmethod
    def from_list(cls, chars: Sequence[str]) -> "Vocabulary":
        """Rebuild a vocabulary from :meth:`to_list` (or ``json.loads`` of :meth:`to_json`)."""
        return cls(chars)

    def to_list(self) -> list[str]:
        """The characters in id order, a list that ``json.dumps`` can store."""
        return list(self.chars)

    def to_json(self) -> str:
        """``json.dumps(self.to_list())``."""
        return json.dumps(self.to_list())

    @property
    def size(self) -> int:
        """V, the number of characters."""
        return len(self.chars)

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"Vocabulary(size={self.size})"

    def encode(self, text: str) -> np.ndarray:
        """(n,) int64 ids of the n characters of ``text``.

        Raises ``ValueError`` naming the first character that is not in the vocabulary and its
        position.
        """
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        cp = _codepoints(text)  # (n,)
        pos = np.searchsorted(self._sorted_cp, cp)  # (n,)
        pos_clipped = np.minimum(pos, self.size - 1)
        known = self._sorted_cp[pos_clipped] == cp  # (n,)
        if not known.all():
            i = int(np.argmin(known))
            raise ValueError(f"character {text[i]!r} (U+{ord(text[i]):04X}) at position {i} of "
                             f"text is not in the vocabulary of {self.size} characters")
        return self._order[pos_clipped].astype(np.int64)

    def decode(self, ids) -> str:
        """The text of a 1-D array (or list) of ids in 0..V-1."""
        ids = check_ids(ids, "ids")
        if ids.size and ids.max() >= self.size:
            raise ValueError(f"ids must lie in 0..{self.size - 1} (V = {self.size}), got "
                             f"{int(ids.max())}")
        return self._cp[ids].astype("<u4").tobytes().decode("utf-32-le")


def split(ids, fractions: Sequence[float] = (0.9, 0.05, 0.05)) -> tuple[np.ndarray, ...]:
    r"""Contiguous splits of an id sequence, in order (train, valid, test by default).

    Split ``j`` is ``ids[c_j : c_{j+1}]`` with :math:`c_0 = 0`,
    :math:`c_j = \lfloor n \sum_{i<j} f_i \rfloor` and the last split running to the end, so the
    pieces tile ``ids`` exactly. Contiguous (not shuffled) pieces keep the validation and test
    text unseen in training, as in the design note's 90/5/5 split of tiny Shakespeare.

    Parameters
    ----------
    ids : (n,) integer array.
    fractions : non-negative numbers summing to 1 (within 1e-9), one per split.

    Returns
    -------
    tuple of 1-D int64 arrays (views of ``ids``), one per fraction.
    """
    ids = check_ids(ids, "ids")
    try:
        f = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"fractions must be a sequence of numbers, got {fractions!r}") from None
    if f.ndim != 1 or f.size < 1 or not np.all(np.isfinite(f)) or np.any(f < 0) \
            or abs(f.sum() - 1.0) > 1e-9:
        raise ValueError(f"fractions must be non-negative numbers summing to 1, got "
                         f"{list(fractions) if f.ndim == 1 else fractions!r}")
    n = ids.size
    cuts = [0] + [int(np.floor(n * c + 1e-9)) for c in np.cumsum(f)[:-1]] + [n]
    return tuple(ids[a:b] for a, b in zip(cuts[:-1], cuts[1:]))


def batch_stream(ids, L: int, B: int, drop_last: bool = True
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    r"""Successive (L, B) chunks of B parallel streams, for truncated BPTT with carried state.

    Layout: with :math:`S = \lfloor (n - 1) / B \rfloor` steps per stream, stream ``b`` reads the
    contiguous piece ``ids[b S : (b + 1) S]`` and predicts ``ids[b S + 1 : (b + 1) S + 1]``:

    .. math::

        x^{(k)}_{t,b} = \text{ids}[bS + kL + t], \qquad
        y^{(k)}_{t,b} = \text{ids}[bS + kL + t + 1]

    for chunk ``k`` and ``t = 0..L-1``. Chunk ``k + 1`` of column ``b`` continues chunk ``k`` of
    the same column, so a trainer can carry the hidden state of column ``b`` (and the clock's
    ``t0 = kL``) from one chunk to the next. The last ``n - 1 - BS`` ids are not used.

    Parameters
    ----------
    ids : (n,) integer array, n >= B L + 1.
    L : int >= 1, steps per chunk.
    B : int >= 1, streams.
    drop_last : bool; if False, a final chunk shorter than L is yielded when S is not a
        multiple of L.

    Yields
    ------
    x : (L, B) int64, C-contiguous.
    y : (L, B) int64, the targets, ``x`` shifted by one step in each stream.
    """
    ids = check_ids(ids, "ids")
    L = check_count(L, "L")
    B = check_count(B, "B")
    S = (ids.size - 1) // B
    if S < L:
        raise ValueError(f"ids has {ids.size} ids, too few for B={B} streams of one chunk of "
                         f"L={L} (needs at least B*L + 1 = {B * L + 1})")
    x = ids[:B * S].reshape(B, S).T  # (S, B)
    y = ids[1:B * S + 1].reshape(B, S).T  # (S, B)
    stop = S if not drop_last else S - S % L
    for start in range(0, stop, L):
        yield (np.ascontiguousarray(x[start:start + L]),
               np.ascontiguousarray(y[start:start + L]))


def random_windows(ids, L: int, B: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    r"""B windows of L characters at random starts, with their shifted targets.

    Starts :math:`s_b` are drawn uniformly from 0..n-L-1 (independently, so windows may
    overlap), and

    .. math::

        x_{t,b} = \text{ids}[s_b + t], \qquad y_{t,b} = \text{ids}[s_b + t + 1].

    Parameters
    ----------
    ids : (n,) integer array, n >= L + 1.
    L : int >= 1; B : int >= 1.
    rng : numpy.random.Generator.

    Returns
    -------
    x : (L, B) int64; y : (L, B) int64.
    """
    ids = check_ids(ids, "ids")
    L = check_count(L, "L")
    B = check_count(B, "B")
    rng = check_rng(rng)
    if ids.size < L + 1:
        raise ValueError(f"ids has {ids.size} ids, too few for windows of L={L} (needs L + 1)")
    starts = rng.integers(0, ids.size - L, size=B)  # (B,)
    index = starts[None, :] + np.arange(L)[:, None]  # (L, B)
    return ids[index], ids[index + 1]


def one_hot(ids, V: int) -> np.ndarray:
    """(L, B, V) float64 one-hot encoding of (L, B) ids in 0..V-1.

    Any shape of ``ids`` works; the result has shape ``ids.shape + (V,)``.
    """
    V = check_count(V, "V")
    ids = np.asarray(ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must hold integer ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        bad = ids[(ids < 0) | (ids >= V)].flat[0]
        raise ValueError(f"ids must lie in 0..{V - 1} (V = {V}), got {int(bad)}")
    out = np.zeros(ids.shape + (V,), dtype=np.float64)  # (..., V)
    np.put_along_axis(out, ids.astype(np.int64)[..., None], 1.0, axis=-1)
    return out
