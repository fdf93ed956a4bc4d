r"""Japanese Vowels: classify the speaker of a short multichannel utterance.

Source: M. Kudo, J. Toyama and M. Shimbo, "Multidimensional curve classification using
passing-through regions", Pattern Recognition Letters 20(11-13):1103-1111, 1999; UCI Machine
Learning Repository, CC BY 4.0. Read here from the UEA/sktime ``.ts`` text format
(``JapaneseVowels_TRAIN.ts``, ``JapaneseVowels_TEST.ts``), the copy that ships inside the
``sktime`` and ``aeon`` packages under ``datasets/data/JapaneseVowels/``.

Nine male speakers each say /ae/; every frame holds 12 LPC cepstrum coefficients, and an
utterance lasts 7 to 29 frames. 270 training series (30 per speaker) and 370 test series.

Shape letters: L time (L_max the longest series of a split), N series, D channels (12 here).
A split is stored time-major and zero-padded, as the networks read it: ``x`` (L_max, N, D) with
``lengths`` (N,), so that series ``i`` is ``x[:lengths[i], i]``. The last valid step of series
``i`` is ``x[lengths[i] - 1, i]``, which is what
:func:`cwrnn_np.losses.softmax_cross_entropy_last` scores when given ``lengths``.
"""
from __future__ import annotations

import importlib.util
import math
import os
import pathlib

import numpy as np

__all__ = ["parse_ts", "find_japanese_vowels", "load_japanese_vowels", "pad_sequences",
           "sort_labels", "VOWELS_FILES"]

#: the two files :func:`find_japanese_vowels` looks for
VOWELS_FILES = ("JapaneseVowels_TRAIN.ts", "JapaneseVowels_TEST.ts")

_BOOL_TAGS = {"timestamps": "timestamps", "missing": "missing", "univariate": "univariate",
              "equallength": "equal_length"}
_INT_TAGS = {"dimensions": "dimensions", "serieslength": "series_length"}


def _bool_value(text: str, where: str, tag: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{where}: @{tag} must be true or false, got {text.strip()!r}")
    return value == "true"


def _parse_values(text: str, where: str, dim: int, missing: bool) -> list[float]:
    out = []
    for token in text.split(","):
        token = token.strip()
        if token == "?":
            if not missing:
                raise ValueError(f"{where}: missing value '?' in dimension {dim}, but the header "
                                 f"does not declare @missing true")
            out.append(math.nan)
            continue
        try:
            out.append(float(token))
        except ValueError:
            raise ValueError(f"{where}: dimension {dim} holds {token!r}, which is not a "
                             f"number") from None
    return out


def parse_ts(path) -> tuple[list[np.ndarray], list[str], dict]:
    r"""Read a UEA/sktime ``.ts`` classification file (no time stamps).

    Format: ``#`` comment lines; a header of ``@tag value`` lines (``@problemName``,
    ``@timeStamps``, ``@missing``, ``@univariate``, ``@dimensions``, ``@equalLength``,
    ``@seriesLength``, ``@classLabel true|false [labels...]``); then ``@data``, after which each
    line is one series: its dimensions separated by ``:``, the values of one dimension separated
    by ``,``, and the class label last when ``@classLabel true``. ``?`` is a missing value (NaN),
    allowed only with ``@missing true``. Blank lines are ignored; tags are case-insensitive, and
    tags this parser does not know are kept as raw strings in the metadata.

    Parameters
    ----------
    path : str or path-like, the ``.ts`` file (UTF-8 or ASCII).

    Returns
    -------
    series : list of (length_i, D) float64 arrays, one per data line, time-major.
    labels : list of str, the class label of each series ([] without ``@classLabel true``).
    metadata : dict with ``problem_name`` (str), ``timestamps``, ``missing``, ``univariate``,
        ``equal_length``, ``class_label`` (bool), ``dimensions`` and ``series_length`` (int, or
        None if absent), ``class_labels`` (the declared labels, list of str) and ``path`` (str).

    Raises
    ------
    FileNotFoundError
        if ``path`` does not exist.
    ValueError
        on a malformed header or data line, with the file name and line number
        (``JapaneseVowels_TRAIN.ts:17: ...``); also for ``@timeStamps true``, which this parser
        does not read.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f".ts file not found: {path}")
    meta = {"problem_name": None, "timestamps": False, "missing": False, "univariate": None,
            "equal_length": None, "dimensions": None, "series_length": None,
            "class_label": False, "class_labels": [], "path": str(path)}
    series, labels = [], []
    in_data = False
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            where = f"{path.name}:{lineno}"
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                if in_data:
                    raise ValueError(f"{where}: header line {line.split()[0]!r} after @data")
                words = line[1:].split(None, 1)
                if not words:
                    raise ValueError(f"{where}: '@' without a tag name")
                tag, value = words[0].lower(), (words[1] if len(words) > 1 else "")
                if tag == "data":
                    in_data = True
                    if meta["timestamps"]:
                        raise ValueError(f"{where}: @timeStamps true is not supported; only "
                                         f"files without time stamps can be read")
                    if meta["class_label"] and not meta["class_labels"]:
                        raise ValueError(f"{where}: @classLabel true declares no labels")
                elif tag == "problemname":
                    meta["problem_name"] = value.strip()
                elif tag in _BOOL_TAGS:
                    meta[_BOOL_TAGS[tag]] = _bool_value(value, where, tag)
                elif tag in _INT_TAGS:
                    try:
                        number = int(value.strip())
                    except ValueError:
                        number = 0
                    if number < 1:
                        raise ValueError(f"{where}: @{tag} must be an integer >= 1, got "
                                         f"{value.strip()!r}")
                    meta[_INT_TAGS[tag]] = number
                elif tag == "classlabel":
                    words = value.split()
                    if not words:
                        raise ValueError(f"{where}: @classLabel needs true or false")
                    meta["class_label"] = _bool_value(words[0], where, tag)
                    meta["class_labels"] = words[1:]
                    if not meta["class_label"] and words[1:]:
                        raise ValueError(f"{where}: @classLabel false lists labels {words[1:]}")
                else:
                    meta[tag] = value.strip()
                continue
            if not in_data:
                raise ValueError(f"{where}: data line before @data")
            parts = line.split(":")
            if meta["class_label"]:
                if len(parts) < 2:
                    raise ValueError(f"{where}: expected dimensions separated by ':' and a "
                                     f"class label last, found no ':'")
                label = parts.pop().strip()
                if meta["class_labels"] and label not in meta["class_labels"]:
                    raise ValueError(f"{where}: class label {label!r} is not one of the "
                                     f"declared labels {meta['class_labels']}")
                labels.append(label)
            D = meta["dimensions"] or (series[0].shape[1] if series else len(parts))
            if len(parts) != D:
                raise ValueError(f"{where}: expected {D} dimensions separated by ':', found "
                                 f"{len(parts)}")
            columns = [_parse_values(p, where, d, meta["missing"]) for d, p in enumerate(parts)]
            lengths = {len(c) for c in columns}
            if len(lengths) != 1:
                raise ValueError(f"{where}: the dimensions have different lengths "
                                 f"{[len(c) for c in columns]}")
            if meta["series_length"] is not None and len(columns[0]) != meta["series_length"]:
                raise ValueError(f"{where}: series has length {len(columns[0])}, but "
                                 f"@seriesLength is {meta['series_length']}")
            if meta["equal_length"] and series and len(columns[0]) != series[0].shape[0]:
                raise ValueError(f"{where}: series has length {len(columns[0])}, but "
                                 f"@equalLength true and the first series has length "
                                 f"{series[0].shape[0]}")
            series.append(np.array(columns, dtype=np.float64).T.copy())  # (length_i, D)
    if not in_data:
        raise ValueError(f"{path.name}: no @data line; is this a .ts file?")
    if not series:
        raise ValueError(f"{path.name}: no series after @data")
    if meta["univariate"] and series[0].shape[1] != 1:
        raise ValueError(f"{path.name}: @univariate true, but the series have "
                         f"{series[0].shape[1]} dimensions")
    return series, labels, meta


def pad_sequences(seqs) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length series into one zero-padded, time-major array.

    Parameters
    ----------
    seqs : non-empty sequence of (length_i, D) arrays, length_i >= 1, all with the same D.

    Returns
    -------
    x : (L_max, N, D) float64, ``x[t, i] = seqs[i][t]`` for t < length_i, else 0.
    lengths : (N,) int64, the length_i.
    """
    seqs = list(seqs)
    if not seqs:
        raise ValueError("seqs must hold at least one series, got none")
    arrays = []
    for i, s in enumerate(seqs):
        a = np.asarray(s, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] < 1:
            raise ValueError(f"seqs[{i}] must be a (length, D) array with length >= 1, got "
                             f"shape {a.shape}")
        if a.shape[1] != np.shape(seqs[0])[1]:
            raise ValueError(f"seqs[{i}] has D={a.shape[1]} channels, seqs[0] has "
                             f"{np.shape(seqs[0])[1]}")
        arrays.append(a)
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)  # (N,)
    x = np.zeros((int(lengths.max()), len(arrays), arrays[0].shape[1]))  # (L_max, N, D)
    for i, a in enumerate(arrays):
        x[:a.shape[0], i] = a
    return x, lengths


def sort_labels(labels) -> list[str]:
    """Distinct labels in sorted order: numerically if every label is a number, else as text.

    Numeric order keeps ``"10"`` after ``"9"``; for Japanese Vowels ("1".."9") both orders agree.
    """
    unique = set(labels)
    try:
        return sorted(unique, key=lambda s: (float(s), s))
    except ValueError:
        return sorted(unique)


def _split_dir(folder: pathlib.Path) -> pathlib.Path | None:
    """``folder`` or its ``JapaneseVowels/`` subfolder, whichever holds both files."""
    for candidate in (folder, folder / "JapaneseVowels"):
        if all((candidate / name).is_file() for name in VOWELS_FILES):
            return candidate
    return None


def _package_data_dir(package: str) -> pathlib.Path | None:
    """``<package>/datasets/data/JapaneseVowels`` of an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = pathlib.Path(location) / "datasets" / "data" / "JapaneseVowels"
        if _split_dir(folder) is not None:
            return folder
    return None


def find_japanese_vowels(data_dir=None) -> pathlib.Path:
    """The folder that holds ``JapaneseVowels_TRAIN.ts`` and ``JapaneseVowels_TEST.ts``.

    Looks in this order:

    1. ``data_dir`` if given (``cwrnn ... --data-dir``), or its ``JapaneseVowels/`` subfolder,
       so that both ``data/JapaneseVowels`` and ``data`` work;
    2. an installed ``sktime``, then ``aeon``, package's ``datasets/data/JapaneseVowels/``
       (found with :func:`importlib.util.find_spec`; neither package is imported or required).

    Raises
    ------
    FileNotFoundError
        naming the missing file when ``data_dir`` is given but lacks a file (no fallback, so a
        typo is not hidden); explaining the options when nothing is found.
    """
    if data_dir is not None:
        folder = pathlib.Path(os.fspath(data_dir))
        found = _split_dir(folder)
        if found is not None:
            return found
        if not folder.is_dir():
            raise FileNotFoundError(f"data_dir {str(folder)!r} is not a directory")
        missing = [str(folder / name) for name in VOWELS_FILES if not (folder / name).is_file()]
        raise FileNotFoundError(f"data_dir {str(folder)!r} lacks the Japanese Vowels file(s) "
                                f"{', '.join(missing)} (also looked in its JapaneseVowels/ "
                                f"subfolder)")
    for package in ("sktime", "aeon"):
        found = _package_data_dir(package)
        if found is not None:
            return found
    raise FileNotFoundError(
        "Japanese Vowels data not found: pass --data-dir (data_dir=) pointing at a folder with "
        f"{VOWELS_FILES[0]} and {VOWELS_FILES[1]}, or install a package that ships them: "
        "pip install 'cwrnn_np[datasets]' (or pip install sktime, or pip install aeon)")


def load_japanese_vowels(data_dir=None) -> dict:
    """Both splits of Japanese Vowels, zero-padded and time-major.

    Parameters
    ----------
    data_dir : folder holding the two ``.ts`` files, or None to search installed packages
        (see :func:`find_japanese_vowels`).

    Returns
    -------
    dict with

    * ``"train"``, ``"test"``: each a dict of ``x`` (L_max, N, 12) float64 zero-padded,
      ``lengths`` (N,) int64 in 7..29, ``y`` (N,) int64 class indices 0..8;
      N is 270 for train and 370 for test;
    * ``"classes"``: list of the 9 label strings, ``classes[y[i]]`` being series i's label, in
      :func:`sort_labels` order (``"1"`` .. ``"9"``);
    * ``"path"``: the folder read (str).
    """
    folder = find_japanese_vowels(data_dir)
    splits, all_labels = {}, []
    for split, name in zip(("train", "test"), VOWELS_FILES):
        series, labels, meta = parse_ts(folder / name)
        if not labels:
            raise ValueError(f"{folder / name} has no class labels (@classLabel false)")
        splits[split] = (series, labels)
        all_labels += meta["class_labels"] + labels
    classes = sort_labels(all_labels)
    index = {label: i for i, label in enumerate(classes)}
    out = {"classes": classes, "path": str(folder)}
    for split, (series, labels) in splits.items():
        x, lengths = pad_sequences(series)  # (L_max, N, D), (N,)
        out[split] = {"x": x, "lengths": lengths,
                      "y": np.array([index[label] for label in labels], dtype=np.int64)}
    return out
