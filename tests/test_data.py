"""Data sets: shapes, dtypes, ranges, determinism, the .ts parser on the real files, batching
layouts, and the documented errors.

The Japanese Vowels and tiny Shakespeare copies live in ``../shared/data`` beside the repository
(CI places a copy there too). If that folder is missing these tests fail rather than skip: a
silent skip would leave the parser untested on the real files.
"""
import json
import pathlib
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwrnn_np import data
from cwrnn_np.data import vowels
from strategies import examples

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
VOWELS_DIR = SHARED_DATA / "JapaneseVowels"


@pytest.fixture(scope="module")
def vowels_dir():
    assert (VOWELS_DIR / "JapaneseVowels_TRAIN.ts").is_file(), (
        f"the shared data copy is missing: expected {VOWELS_DIR} (../shared/data beside the "
        f"repository)")
    return VOWELS_DIR


@pytest.fixture(scope="module")
def jv(vowels_dir):
    return data.load_japanese_vowels(vowels_dir)


# --------------------------------------------------------------------------- generation

def test_embedded_clips_shape_scale_and_determinism():
    clips = data.embedded_clips()
    assert clips.shape == (5, 320) and clips.dtype == np.float64
    assert np.all(np.isfinite(clips))
    # scaled so that the peak is exactly 1, with zero mean
    assert np.array_equal(np.max(np.abs(clips), axis=1), np.ones(5))
    np.testing.assert_allclose(clips.mean(axis=1), 0.0, atol=1e-12)
    # identical across calls, distinct from each other
    assert np.array_equal(clips, data.embedded_clips())
    for i in range(5):
        for j in range(i + 1, 5):
            assert np.max(np.abs(clips[i] - clips[j])) > 0.5, (i, j)
    # clip c has its own generator: fewer clips are a prefix, another seed differs
    assert np.array_equal(data.embedded_clips(n_clips=3), clips[:3])
    assert not np.allclose(data.embedded_clips(seed=1), clips)


def test_embedded_clips_are_music_like():
    """Oscillating (many zero crossings) and with more than one pitch: the zero-crossing count
    differs between the two halves of most clips."""
    clips = data.embedded_clips(n_clips=20)
    crossings = np.sum(np.diff(np.sign(clips), axis=1) != 0, axis=1)
    # periods of 10.5..117 samples give about 5..60 crossings in 320 samples
    assert np.all(crossings >= 4) and np.all(crossings <= 80), crossings
    halves = [np.sum(np.diff(np.sign(clips[:, h * 160:(h + 1) * 160]), axis=1) != 0, axis=1)
              for h in range(2)]
    assert np.mean(halves[0] != halves[1]) > 0.5


@settings(max_examples=examples(15))
@given(n_clips=st.integers(1, 4), length=st.integers(16, 400), seed=st.integers(0, 2**32))
def test_embedded_clips_any_size(n_clips, length, seed):
    clips = data.embedded_clips(n_clips, length, seed)
    assert clips.shape == (n_clips, length)
    assert np.array_equal(np.max(np.abs(clips), axis=1), np.ones(n_clips))
    assert np.array_equal(clips, data.embedded_clips(n_clips, length, seed))


def _raw_signal(source):
    from matplotlib import cbook
    if source == "eeg":
        return np.fromfile(cbook.get_sample_data("eeg.dat", asfileobj=False),
                           dtype=np.float64).reshape(800, 4)
    return np.fromfile(cbook.get_sample_data("membrane.dat", asfileobj=False),
                       dtype=np.float32).astype(np.float64)[:, None]


@pytest.mark.parametrize("source, expected", [("eeg", 8), ("membrane", 32)])
def test_matplotlib_clips_shapes_and_scaling(source, expected):
    clips = data.matplotlib_clips(source)
    assert clips.shape == (expected, 320) and clips.dtype == np.float64
    assert np.array_equal(np.max(np.abs(clips), axis=1), np.ones(expected))
    np.testing.assert_allclose(clips.mean(axis=1), 0.0, atol=1e-12)
    assert np.array_equal(data.matplotlib_clips(source, n_clips=3), clips[:3])
    # each clip is a scaled window of one channel of the raw recording
    clips_info = data.generation_dataset(source)[1]
    raw = _raw_signal(source)
    for k, (ch, start) in enumerate(zip(clips_info["channels"], clips_info["starts"])):
        window = raw[start:start + 320, ch]
        np.testing.assert_allclose(clips[k], (window - window.mean())
                                   / np.max(np.abs(window - window.mean())), rtol=0, atol=1e-12)


def test_matplotlib_layout_and_windowing():
    # eeg.dat is (800 samples, 4 channels): its clips are smooth traces (lag-1 correlation
    # near 0.9); the (4, 800) reading would give noise (near 0)
    clips = data.matplotlib_clips("eeg")
    c = clips - clips.mean(axis=1, keepdims=True)
    lag1 = np.sum(c[:, 1:] * c[:, :-1], axis=1) / np.sum(c * c, axis=1)
    assert np.all(lag1 > 0.6), lag1
    _, info = data.generation_dataset("eeg")
    assert info["channels"] == [0, 0, 1, 1, 2, 2, 3, 3] and info["starts"] == [0, 320] * 4
    assert data.matplotlib_clips("eeg", length=100).shape == (32, 100)
    # min_range=0 keeps the flat baseline windows too: 12000 // 320 = 37
    assert data.matplotlib_clips("membrane", min_range=0.0).shape == (37, 320)
    assert data.matplotlib_clips("membrane", length=12000, min_range=0.0).shape == (1, 12000)


def test_generation_dataset_sources():
    clips, info = data.generation_dataset()
    assert np.array_equal(clips, data.embedded_clips())
    assert info["source"] == "embedded" and info["n_clips"] == 5 and info["length"] == 320
    assert info["sample_rate"] == 44100.0
    clips, info = data.generation_dataset("membrane", n_clips=4, length=200)
    assert clips.shape == (4, 200) and info["sample_rate"] == 2000.0
    assert info["file"] == "membrane.dat" and len(info["starts"]) == 4
    json.dumps(info)  # JSON-friendly, for run folders
    assert data.GENERATION_SOURCES == ("embedded", "eeg", "membrane")


@pytest.mark.parametrize("call, exc, match", [
    (lambda: data.generation_dataset("music"), ValueError,
     r"source must be one of \['embedded', 'eeg', 'membrane'\], got 'music'"),
    (lambda: data.matplotlib_clips("music"), ValueError, "source must be one of"),
    (lambda: data.embedded_clips(0), ValueError, "n_clips must be an integer >= 1, got 0"),
    (lambda: data.embedded_clips(2, 8), ValueError, "length must be an integer >= 16, got 8"),
    (lambda: data.embedded_clips(2, 320.0), ValueError, "length must be an integer"),
    (lambda: data.embedded_clips(seed=-1), ValueError, "seed must be an integer >= 0, got -1"),
    (lambda: data.matplotlib_clips("eeg", n_clips=9), ValueError,
     "n_clips must be <= 8, the number of 320-sample windows 'eeg' provides, got 9"),
    (lambda: data.matplotlib_clips("eeg", length=801), ValueError,
     "length must be <= 800, the samples per channel of 'eeg', got 801"),
    (lambda: data.matplotlib_clips("eeg", min_range=1.5), ValueError,
     r"min_range must be a number in \[0, 1\), got 1.5"),
    (lambda: data.scale_clip(np.ones(5)), ValueError, "constant"),
])
def test_generation_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------- Japanese Vowels

def test_parse_ts_on_the_real_files(vowels_dir):
    for name, count in [("JapaneseVowels_TRAIN.ts", 270), ("JapaneseVowels_TEST.ts", 370)]:
        series, labels, meta = data.parse_ts(vowels_dir / name)
        assert len(series) == len(labels) == count
        assert meta["problem_name"] == "JapaneseVowels" and meta["dimensions"] == 12
        assert meta["class_label"] and meta["class_labels"] == [str(i) for i in range(1, 10)]
        assert meta["timestamps"] is False and meta["missing"] is False
        assert meta["univariate"] is False and meta["equal_length"] is False
        assert all(s.dtype == np.float64 and s.ndim == 2 and s.shape[1] == 12 for s in series)
        lengths = [s.shape[0] for s in series]
        assert 7 <= min(lengths) and max(lengths) <= 29
        assert set(labels) == {str(i) for i in range(1, 10)}
    # the first value of the first training series, as printed in the file
    series, labels, _ = data.parse_ts(vowels_dir / "JapaneseVowels_TRAIN.ts")
    assert series[0][0, 0] == 1.860936 and series[0][1, 0] == 1.891651
    assert series[0][0, 1] == -0.207383 and labels[0] == "1"
    assert series[0].shape == (20, 12)


def test_load_japanese_vowels(jv, vowels_dir):
    assert jv["classes"] == [str(i) for i in range(1, 10)]
    lengths = []
    for split, count in [("train", 270), ("test", 370)]:
        part = jv[split]
        L = part["x"].shape[0]
        assert part["x"].shape == (L, count, 12) and part["x"].dtype == np.float64
        assert part["lengths"].shape == (count,) and part["lengths"].dtype == np.int64
        assert part["y"].shape == (count,) and part["y"].dtype == np.int64
        assert set(part["y"].tolist()) == set(range(9))
        assert L == part["lengths"].max()
        lengths += part["lengths"].tolist()
        # padding: zero beyond each length, the series itself before it
        series, labels, _ = data.parse_ts(
            vowels_dir / f"JapaneseVowels_{split.upper()}.ts")
        for i in range(count):
            n = part["lengths"][i]
            assert np.array_equal(part["x"][:n, i], series[i])
            assert not part["x"][n:, i].any()
            assert jv["classes"][part["y"][i]] == labels[i]
    assert min(lengths) == 7 and max(lengths) == 29
    assert np.array_equal(np.bincount(jv["train"]["y"]), np.full(9, 30))


def test_find_japanese_vowels(vowels_dir, tmp_path, monkeypatch):
    assert data.find_japanese_vowels(vowels_dir) == vowels_dir
    assert data.find_japanese_vowels(str(vowels_dir.parent)) == vowels_dir  # the subfolder
    # a data_dir lacking a file names it
    shutil.copy(vowels_dir / "JapaneseVowels_TRAIN.ts", tmp_path)
    with pytest.raises(FileNotFoundError, match="JapaneseVowels_TEST.ts"):
        data.find_japanese_vowels(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        data.find_japanese_vowels(tmp_path / "nowhere")
    # nothing given and no package: the message explains both options
    monkeypatch.setattr(vowels, "_package_data_dir", lambda package: None)
    with pytest.raises(FileNotFoundError, match=r"--data-dir.*pip install"):
        data.load_japanese_vowels()


def test_find_japanese_vowels_in_an_installed_package(vowels_dir, tmp_path, monkeypatch):
    """An ``aeon`` package on sys.path is found through its spec, without being imported."""
    folder = tmp_path / "aeon" / "datasets" / "data" / "JapaneseVowels"
    folder.mkdir(parents=True)
    (tmp_path / "aeon" / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    for name in data.vowels.VOWELS_FILES:
        shutil.copy(vowels_dir / name, folder)
    monkeypatch.syspath_prepend(str(tmp_path))
    real = vowels._package_data_dir
    monkeypatch.setattr(vowels, "_package_data_dir",
                        lambda package: real(package) if package == "aeon" else None)
    assert data.find_japanese_vowels() == folder
    assert data.load_japanese_vowels()["train"]["x"].shape[1] == 270


HEADER = ("# a comment\n@problemName Toy\n@timeStamps false\n@missing false\n@univariate false\n"
          "@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n")


def _write(tmp_path, body, header=HEADER):
    path = tmp_path / "toy.ts"
    path.write_text(header + body)
    return path


def test_parse_ts_small_file(tmp_path):
    path = _write(tmp_path, "1,2,3:4,5,6:a\n\n0.5,-1e-3:7,8:b\n")
    series, labels, meta = data.parse_ts(path)
    assert labels == ["a", "b"] and meta["problem_name"] == "Toy"
    assert np.array_equal(series[0], [[1, 4], [2, 5], [3, 6]])
    assert np.array_equal(series[1], [[0.5, 7], [-1e-3, 8]])
    # missing values are NaN when declared
    path = _write(tmp_path, "1,?:3,4:a\n", HEADER.replace("@missing false", "@missing true"))
    assert np.isnan(data.parse_ts(path)[0][0][1, 0])
    # without class labels every part is a dimension
    no_labels = HEADER.replace("@classLabel true a b", "@classLabel false")
    path = _write(tmp_path, "1,2:3,4\n", no_labels)
    series, labels, _ = data.parse_ts(path)
    assert labels == [] and series[0].shape == (2, 2)


@pytest.mark.parametrize("body, header, match", [
    ("1,2:3,x:a\n", HEADER, r"toy\.ts:10: dimension 1 holds 'x', which is not a number"),
    ("1,2:3,4:a\n1,2:a\n", HEADER, r"toy\.ts:11: expected 2 dimensions separated by ':', found 1"),
    ("1,2:3,4:a\n1,2,3:4,5,6:c\n", HEADER, r"toy\.ts:11: class label 'c' is not one of"),
    ("1,2:3,4,5:a\n", HEADER, r"toy\.ts:10: the dimensions have different lengths \[2, 3\]"),
    ("1,2,3,4\n", HEADER, r"toy\.ts:10: expected dimensions separated by ':' and a class label"),
    ("1,?:3,4:a\n", HEADER, r"toy\.ts:10: missing value '\?' in dimension 0"),
    ("1,:3,4:a\n", HEADER, r"toy\.ts:10: dimension 0 holds ''"),
    ("1,2:3,4:a\n@dimensions 2\n", HEADER, r"toy\.ts:11: header line '@dimensions' after @data"),
    ("", HEADER.replace("@data\n", "1,2:3,4:a\n"), r"toy\.ts:9: data line before @data"),
    ("", HEADER.replace("@data\n", ""), r"toy\.ts: no @data line"),
    ("", HEADER, r"toy\.ts: no series after @data"),
    ("1,2:3,4:a\n", HEADER.replace("@missing false", "@missing maybe"),
     r"toy\.ts:4: @missing must be true or false, got 'maybe'"),
    ("1,2:3,4:a\n", HEADER.replace("@dimensions 2", "@dimensions two"),
     r"toy\.ts:6: @dimensions must be an integer >= 1, got 'two'"),
    ("1,2:3,4:a\n", HEADER.replace("@timeStamps false", "@timeStamps true"),
     r"toy\.ts:9: @timeStamps true is not supported"),
    ("1,2:3,4:a\n1,2,3:4,5,6:b\n", HEADER.replace("@equalLength false", "@equalLength true"),
     r"toy\.ts:11: series has length 3, but @equalLength true"),
    ("1,2:3,4:a\n", HEADER.replace("@equalLength false", "@seriesLength 3"),
     r"toy\.ts:10: series has length 2, but @seriesLength is 3"),
])
def test_parse_ts_errors_name_file_and_line(tmp_path, body, header, match):
    with pytest.raises(ValueError, match=match):
        data.parse_ts(_write(tmp_path, body, header))


def test_parse_ts_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ts"):
        data.parse_ts(tmp_path / "nothing.ts")


@settings(max_examples=examples(30))
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5), D=st.integers(1, 3))
def test_pad_sequences(lengths, D):
    rng = np.random.default_rng(len(lengths))
    seqs = [rng.normal(size=(n, D)) for n in lengths]
    x, lam = data.pad_sequences(seqs)
    assert x.shape == (max(lengths), len(lengths), D) and x.dtype == np.float64
    assert lam.dtype == np.int64 and lam.tolist() == lengths
    for i, s in enumerate(seqs):
        assert np.array_equal(x[:lengths[i], i], s) and not x[lengths[i]:, i].any()


@pytest.mark.parametrize("seqs, match", [
    ([], "seqs must hold at least one series"),
    ([np.zeros((2, 3)), np.zeros((2, 4))], r"seqs\[1\] has D=4 channels, seqs\[0\] has 3"),
    ([np.zeros(3)], r"seqs\[0\] must be a \(length, D\) array"),
    ([np.zeros((0, 2))], r"seqs\[0\] must be a \(length, D\) array with length >= 1"),
])
def test_pad_sequences_errors(seqs, match):
    with pytest.raises(ValueError, match=match):
        data.pad_sequences(seqs)


def test_sort_labels():
    assert data.sort_labels(["10", "9", "2", "9"]) == ["2", "9", "10"]
    assert data.sort_labels(["b", "a", "10"]) == ["10", "a", "b"]


# --------------------------------------------------------------------------- text

def test_read_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("héllo\r\nwörld ∑\n".encode("utf-8"))
    assert data.read_text(path) == "héllo\r\nwörld ∑\n"  # byte for byte, CRLF kept
    with pytest.raises(FileNotFoundError, match="missing.txt' not found"):
        data.read_text(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match="is a directory"):
        data.read_text(tmp_path)
    path.write_bytes(b"abc\xffdef")
    with pytest.raises(ValueError, match=r"t\.txt' is not valid UTF-8: .* at byte offset 3 "
                                         r"\(byte 0xff\)"):
        data.read_text(path)


def test_tiny_shakespeare_vocabulary():
    corpus = data.read_text(SHARED_DATA / "tinyshakespeare.txt")
    vocab = data.Vocabulary.from_text(corpus)
    assert vocab.size == 65
    ids = vocab.encode(corpus)
    assert ids.dtype == np.int64 and ids.shape == (len(corpus),)
    assert vocab.decode(ids) == corpus


def test_stdlib_corpus():
    corpus = data.stdlib_corpus()
    assert len(corpus) > 300_000
    assert corpus == data.stdlib_corpus()
    assert corpus.startswith('"""Text wrapping and filling.')  # textwrap.py comes first
    for bracket in "()[]{}":
        assert corpus.count(bracket) > 200, bracket
    # nested brackets, the design note's motivating structure: depth 4 or more is reached
    depth, deepest = 0, 0
    for c in corpus:
        depth += (c in "([{") - (c in ")]}")
        deepest = max(deepest, depth)
    assert deepest >= 4
    assert data.stdlib_corpus(max_chars=1000) == corpus[:1000]
    with pytest.raises(ValueError, match="max_chars must be an integer >= 1, got 0"):
        data.stdlib_corpus(max_chars=0)


def test_stdlib_corpus_missing_files(tmp_path, monkeypatch):
    import sysconfig
    monkeypatch.setattr(sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match=r"18 of 18 are missing: textwrap\.py"):
        data.stdlib_corpus()
    # most files present: the missing ones are skipped quietly, the order kept
    files = data.STDLIB_FILES
    for i, name in enumerate(files[:-3]):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(f"<{i}>")
    assert data.stdlib_corpus() == "".join(f"<{i}>" for i in range(len(files) - 3))
    (tmp_path / files[0]).unlink()
    (tmp_path / files[1]).unlink()
    with pytest.raises(FileNotFoundError, match="5 of 18 are missing"):
        data.stdlib_corpus()


@settings(max_examples=examples(50))
@given(st.text(min_size=1, max_size=50))
def test_vocabulary_round_trip(s):
    vocab = data.Vocabulary.from_text(s)
    assert list(vocab.chars) == sorted(set(s)) and vocab.size == len(set(s))
    ids = vocab.encode(s)
    assert ids.dtype == np.int64 and ids.shape == (len(s),)
    assert ids.min() >= 0 and ids.max() < vocab.size
    assert vocab.decode(ids) == s
    again = data.Vocabulary.from_list(json.loads(json.dumps(vocab.to_list())))
    assert again == vocab and np.array_equal(again.encode(s), ids)


def test_vocabulary_any_order_and_errors():
    vocab = data.Vocabulary(["b", "a", "€"])
    assert vocab.encode("ab€a").tolist() == [1, 0, 2, 1] and vocab.decode([2, 0]) == "€b"
    assert data.Vocabulary.from_list(json.loads(vocab.to_json())) == vocab
    with pytest.raises(ValueError, match=r"character 'z' \(U\+007A\) at position 2 of text is "
                                         r"not in the vocabulary of 3 characters"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match=r"ids must lie in 0\.\.2 \(V = 3\), got 3"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError, match="ids must be >= 0, got -1"):
        vocab.decode([-1])
    with pytest.raises(ValueError, match="chars must be distinct, 'a' appears twice"):
        data.Vocabulary(["a", "b", "a"])
    with pytest.raises(ValueError, match=r"chars\[1\] must be a one-character string, got 'bc'"):
        data.Vocabulary(["a", "bc"])
    with pytest.raises(ValueError, match="text must be a non-empty str"):
        data.Vocabulary.from_text("")


@settings(max_examples=examples(40))
@given(n=st.integers(0, 500),
       f=st.lists(st.integers(0, 20), min_size=1, max_size=4).filter(lambda v: sum(v) > 0))
def test_split_tiles_the_ids(n, f):
    ids = np.arange(n)
    fractions = [v / sum(f) for v in f]
    parts = data.split(ids, fractions)
    assert len(parts) == len(f)
    assert np.array_equal(np.concatenate(parts), ids)
    for part, frac in zip(parts[:-1], fractions[:-1]):
        assert abs(len(part) - frac * n) <= 1


def test_split_default_fractions():
    train, valid, test = data.split(np.arange(1000))
    assert (len(train), len(valid), len(test)) == (900, 50, 50)
    assert train[-1] + 1 == valid[0] and valid[-1] + 1 == test[0]
    for bad in [(0.5, 0.6), (1.2, -0.2), ("a",), ()]:
        with pytest.raises(ValueError, match="fractions must be"):
            data.split(np.arange(10), bad)
    with pytest.raises(ValueError, match="ids must hold integer ids, got dtype float64"):
        data.split(np.zeros(4), (1.0,))


@settings(max_examples=examples(40))
@given(n=st.integers(2, 300), L=st.integers(1, 9), B=st.integers(1, 5),
       drop_last=st.booleans())
def test_batch_stream_layout_and_continuity(n, L, B, drop_last):
    ids = np.arange(n) * 7 % 101  # non-monotone ids, so a shift cannot pass by accident
    S = (n - 1) // B
    if S < L:
        with pytest.raises(ValueError, match=f"too few for B={B} streams of one chunk of L={L}"):
            next(data.batch_stream(ids, L, B))
        return
    chunks = list(data.batch_stream(ids, L, B, drop_last=drop_last))
    assert len(chunks) == (S // L if drop_last else -(-S // L))
    for x, y in chunks:
        assert x.dtype == y.dtype == np.int64 and x.shape == y.shape and x.shape[1] == B
        assert x.flags.c_contiguous and y.flags.c_contiguous
    assert all(x.shape[0] == L for x, _ in chunks[:-1])
    xs = np.concatenate([x for x, _ in chunks])  # (steps, B)
    ys = np.concatenate([y for _, y in chunks])
    for b in range(B):
        # stream b reads a contiguous piece of ids; chunk k + 1 continues chunk k
        assert np.array_equal(xs[:, b], ids[b * S: b * S + xs.shape[0]])
        assert np.array_equal(ys[:, b], ids[b * S + 1: b * S + 1 + xs.shape[0]])
    for (x0, y0), (x1, _) in zip(chunks, chunks[1:]):
        assert np.array_equal(y0[-1], x1[0])  # last target of chunk k = first input of k + 1


def test_random_windows():
    ids = np.arange(50) * 3
    x, y = data.random_windows(ids, 8, 6, np.random.default_rng(5))
    assert x.shape == y.shape == (8, 6) and x.dtype == y.dtype == np.int64
    assert np.array_equal(y[:-1], x[1:])
    assert np.all(np.diff(x, axis=0) == 3) and np.all(y[-1] <= ids[-1])
    x2, y2 = data.random_windows(ids, 8, 6, np.random.default_rng(5))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    # every start is reachable, including the last one (n - L - 1)
    x, _ = data.random_windows(np.arange(10), 9, 50, np.random.default_rng(0))
    assert set(x[0].tolist()) == {0}
    with pytest.raises(ValueError, match="too few for windows of L=10"):
        data.random_windows(np.arange(10), 10, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        data.random_windows(ids, 8, 6, 5)


def test_one_hot():
    ids = np.array([[0, 2], [1, 1], [2, 0]])
    x = data.one_hot(ids, 3)
    assert x.shape == (3, 2, 3) and x.dtype == np.float64
    assert np.array_equal(x.argmax(-1), ids) and np.array_equal(x.sum(-1), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"ids must lie in 0\.\.2 \(V = 3\), got 3"):
        data.one_hot(np.array([[3]]), 3)
    with pytest.raises(ValueError, match="V must be an integer >= 1, got 0"):
        data.one_hot(ids, 0)


@pytest.mark.parametrize("call, match", [
    (lambda: list(data.batch_stream(np.arange(10), 0, 2)), "L must be an integer >= 1, got 0"),
    (lambda: list(data.batch_stream(np.arange(10), 2, -1)), "B must be an integer >= 1, got -1"),
    (lambda: list(data.batch_stream(np.zeros((2, 5), int), 2, 1)),
     r"ids must be a 1-D array of integer ids, got shape \(2, 5\)"),
])
def test_text_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- synthetic

@settings(max_examples=examples(30))
@given(n=st.integers(1, 8), length=st.integers(2, 60), seed=st.integers(0, 2**32))
def test_adding_problem(n, length, seed):
    x, y = data.adding_problem(n, length, np.random.default_rng(seed))
    assert x.shape == (length, n, 2) and y.shape == (n, 1)
    assert x.dtype == y.dtype == np.float64
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))
    marks = x[:, :, 1]
    assert set(np.unique(marks).tolist()) <= {0.0, 1.0}
    assert np.array_equal(marks.sum(axis=0), np.full(n, 2.0))
    half = length // 2
    assert np.array_equal(marks[:half].sum(axis=0), np.ones(n))  # one in each half
    np.testing.assert_allclose(y[:, 0], np.sum(x[:, :, 0] * marks, axis=0), rtol=0, atol=1e-15)
    x2, y2 = data.adding_problem(n, length, np.random.default_rng(seed))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


@settings(max_examples=examples(30))
@given(n=st.integers(1, 5), length=st.integers(1, 30), S=st.integers(1, 9),
       C=st.integers(1, 6), seed=st.integers(0, 2**32))
def test_copy_memory_layout(n, length, S, C, seed):
    x, y = data.copy_memory(n, length, np.random.default_rng(seed), n_symbols=S, n_copy=C)
    T = length + 2 * C
    assert x.shape == (T, n, S + 2) and x.dtype == np.float64
    assert y.shape == (T, n) and y.dtype == np.int64
    assert np.array_equal(x.sum(-1), np.ones((T, n)))
    ids = x.argmax(-1)  # (T, n)
    symbols = ids[:C]
    assert np.all((symbols >= 1) & (symbols <= S))
    assert not ids[C:C + length - 1].any()  # length - 1 blanks
    assert np.all(ids[C + length - 1] == S + 1)  # the delimiter
    assert not ids[C + length:].any()  # blanks while answering
    assert not y[:C + length].any()
    assert np.array_equal(y[C + length:], symbols)  # reproduce the symbols in order


def test_copy_memory_defaults_and_baseline():
    x, y = data.copy_memory(3, 100, np.random.default_rng(0))
    assert x.shape == (120, 3, 10) and y.shape == (120, 3)  # Arjovsky et al.: T + 20
    assert data.copy_memory_baseline(100) == pytest.approx(10 * np.log(8) / 120)


@pytest.mark.parametrize("call, match", [
    (lambda: data.adding_problem(0, 10, np.random.default_rng()), "n must be an integer >= 1"),
    (lambda: data.adding_problem(2, 1, np.random.default_rng()),
     "length must be an integer >= 2, got 1"),
    (lambda: data.adding_problem(2, 10, 0), "rng must be a numpy.random.Generator"),
    (lambda: data.copy_memory(2, 0, np.random.default_rng()),
     "length must be an integer >= 1, got 0"),
    (lambda: data.copy_memory(2, 5, np.random.default_rng(), n_symbols=0),
     "n_symbols must be an integer >= 1, got 0"),
    (lambda: data.copy_memory(2, 5, np.random.default_rng(), n_copy=2.5),
     "n_copy must be an integer >= 1, got 2.5"),
])
def test_synthetic_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- registry

def test_registry():
    assert set(data.DATASETS) == {"generation", "generation-eeg", "generation-membrane",
                                  "vowels", "text", "adding", "copy"}
    for name, description in data.DATASETS.items():
        assert isinstance(description, str) and description and "\n" not in description, name
