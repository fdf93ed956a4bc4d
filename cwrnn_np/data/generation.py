r"""Sequence-generation targets: the paper's §4.1 task without the paper's music.

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §4.1: a network with no input
learns to reproduce one waveform. The paper used five 320-sample clips of music sampled at
44.1 kHz and scaled to [-1, 1]; those recordings cannot be shipped, so this module offers two
substitutes, both offline:

* :func:`embedded_clips`: a deterministic, music-like synthesiser (harmonics, an attack/decay
  envelope, two to four notes per clip), the default target of ``cwrnn train generation``;
* :func:`matplotlib_clips`: real recorded signals from matplotlib's own sample data, cut into
  windows: ``eeg.dat`` (four EEG channels, 800 samples each; matplotlib's ``mri_with_eeg``
  example plots them as PG3, PG5, PG7, PG9 over 10 s) and ``membrane.dat`` (one 12,000-sample
  membrane-potential recording at 0.5 ms per sample, the trace behind matplotlib's original
  logo).

Every clip is scaled the same way, so that :math:`\max_t |x_t| = 1` exactly (see
:func:`scale_clip`).

Shape letters: K clips, N samples per clip (``length``). A clip set is a (K, N) float64 array;
a trainer feeds clip ``k`` as the (N, 1, 1) target of a network with no input.
"""
from __future__ import annotations

import numpy as np

from ..validation import check_count

__all__ = ["embedded_clips", "matplotlib_clips", "generation_dataset", "scale_clip",
           "GENERATION_SOURCES", "SAMPLE_RATE"]

#: sample rate (Hz) the embedded clips pretend to have, the paper's 44.1 kHz
SAMPLE_RATE = 44_100.0

#: ``source`` names accepted by :func:`generation_dataset`
GENERATION_SOURCES = ("embedded", "eeg", "membrane")

# The synthesiser's constants (see embedded_clips' Notes).
_NOTES_MIN, _NOTES_MAX = 2, 4            # notes per clip, J
_MIDI_LOW, _MIDI_HIGH = 66, 108          # pitch range: periods 116.7 .. 10.5 samples at 44.1 kHz
_HARMONICS = 4                           # K_h: the 4th harmonic of MIDI 108 is 16.7 kHz < f_s / 2
_ATTACK = (1.0, 6.0)                     # tau_a range, samples
_DECAY = (60.0, 300.0)                   # tau_d range, samples
_RELEASE = 4.0                           # tau_r, samples: a note fades out once the next begins
_MIN_LENGTH = 16

# matplotlib sample files: name, dtype, (samples, channels), sample rate (Hz), channel names
_MPL_FILES = {
    "eeg": ("eeg.dat", np.float64, (800, 4), 80.0, ("PG3", "PG5", "PG7", "PG9")),
    "membrane": ("membrane.dat", np.float32, (12000, 1), 2000.0, ("membrane",)),
}


def scale_clip(x: np.ndarray) -> np.ndarray:
    r"""Remove the mean and divide by the peak: the clip scaling used for every source.

    .. math::

        \tilde x_t = \frac{x_t - \bar x}{\max_s |x_s - \bar x|}

    where :math:`\bar x` is the mean of the clip. The result lies in [-1, 1] and reaches ±1 exactly
    at its peak (IEEE division of a number by itself is exact).

    Parameters
    ----------
    x : (N,) float array, not constant.

    Returns
    -------
    (N,) float64 array.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D array, got shape {x.shape}")
    centred = x - x.mean()
    peak = np.max(np.abs(centred))
    if not peak > 0:
        raise ValueError("x is constant; it cannot be scaled to [-1, 1]")
    return centred / peak


def embedded_clips(n_clips: int = 5, length: int = 320, seed: int = 0) -> np.ndarray:
    r"""Deterministic music-like clips, a stand-in for the paper's five music clips.

    Clip ``c`` is drawn from its own generator ``np.random.default_rng([seed, c])``, so clip ``c``
    is the same whatever ``n_clips`` is, and distinct clips are independent.

    Parameters
    ----------
    n_clips : int >= 1, number of clips K.
    length : int >= 16, samples per clip N (the paper: 320).
    seed : int >= 0.

    Returns
    -------
    (K, N) float64 array; each row has zero mean and :math:`\max_t |x_t| = 1` exactly.

    Notes
    -----
    Each clip plays :math:`J` notes one after the other. Sample :math:`n = 0, \dots, N-1` of
    the unscaled clip is

    .. math::

        x_n = \sum_{j=0}^{J-1} e_j(n) \sum_{k=1}^{4} a_k
              \sin\!\left(2\pi k \frac{f_j}{f_s} (n - s_j) + \varphi_{j,k}\right),

        e_j(n) = [n \ge s_j]\; g_j \left(1 - e^{-(n - s_j)/\tau_{a,j}}\right)
                 e^{-(n - s_j)/\tau_{d,j}}\; e^{-\max(0,\, n - s_{j+1})/\tau_r},

        f_j = 440 \cdot 2^{(m_j - 69)/12}\ \text{Hz},

    and the clip is then scaled by :func:`scale_clip`, where

    * :math:`f_s = 44100` Hz, the paper's sample rate;
    * :math:`J \in \{2, 3, 4\}`, drawn uniformly;
    * :math:`m_j`, distinct MIDI note numbers drawn from 66..108, so the fundamental's period
      :math:`f_s / f_j` lies between about 117 and 10.5 samples;
    * :math:`s_0 = 0` and :math:`s_j = \lfloor N \sum_{i<j} w_i / \sum_i w_i \rfloor` the
      onsets, with weights :math:`w_i \sim U[1, 2)` so no note is under half as long as
      another; :math:`s_J = N`, so the last note is never released;
    * :math:`a_1 = 1`, :math:`a_k = u_k / k` with :math:`u_k \sim U[0.2, 1)` for k = 2, 3, 4: the
      timbre, one per clip;
    * :math:`\varphi_{j,k} \sim U[0, 2\pi)`, the phases;
    * :math:`g_j \sim U[0.5, 1)` the loudness, :math:`\tau_{a,j} \sim U[1, 6)` the attack and
      :math:`\tau_{d,j} \sim U[60, 300)` the decay time constants, in samples;
    * :math:`\tau_r = 4` samples, the release: a note fades out quickly once the next begins,
      so the waveform has no jump (every attack starts from zero).

    Determinism: only ``default_rng`` draws and float64 NumPy arithmetic are used, so a run is
    bitwise repeatable on one machine; across CPUs and NumPy builds ``np.sin`` and ``np.exp`` may
    round the last bit differently.
    """
    n_clips = check_count(n_clips, "n_clips")
    length = check_count(length, "length", minimum=_MIN_LENGTH)
    seed = check_count(seed, "seed", minimum=0)
    n = np.arange(length, dtype=np.float64)  # (N,)
    k = np.arange(1, _HARMONICS + 1, dtype=np.float64)  # (K_h,)
    clips = np.empty((n_clips, length), dtype=np.float64)  # (K, N)
    for c in range(n_clips):
        rng = np.random.default_rng([seed, c])
        J = int(rng.integers(_NOTES_MIN, _NOTES_MAX + 1))
        midi = _MIDI_LOW + rng.permutation(_MIDI_HIGH - _MIDI_LOW + 1)[:J]  # (J,)
        f = 440.0 * 2.0 ** ((midi - 69) / 12.0)  # (J,) Hz
        w = 1.0 + rng.random(J)  # (J,)
        s = np.floor(length * np.concatenate(([0.0], np.cumsum(w)[:-1])) / w.sum())  # (J,)
        s_next = np.append(s[1:], float(length))  # (J,)
        a = np.concatenate(([1.0], rng.uniform(0.2, 1.0, _HARMONICS - 1))) / k  # (K_h,)
        phi = rng.uniform(0.0, 2.0 * np.pi, (J, _HARMONICS))  # (J, K_h)
        g = rng.uniform(0.5, 1.0, J)
        tau_a = rng.uniform(*_ATTACK, J)
        tau_d = rng.uniform(*_DECAY, J)
        x = np.zeros(length)
        for j in range(J):
            tau = n - s[j]  # (N,) samples since the onset
            on = tau >= 0
            tau = np.where(on, tau, 0.0)
            envelope = (on * g[j] * (1.0 - np.exp(-tau / tau_a[j])) * np.exp(-tau / tau_d[j])
                        * np.exp(-np.maximum(0.0, n - s_next[j]) / _RELEASE))  # (N,)
            angle = 2.0 * np.pi * k[:, None] * (f[j] / SAMPLE_RATE) * tau[None, :] \
                + phi[j][:, None]  # (K_h, N)
            x += envelope * (a @ np.sin(angle))
        clips[c] = scale_clip(x)
    return clips


def _load_matplotlib_signal(source: str) -> np.ndarray:
    """The raw (samples, channels) float64 signal of a matplotlib sample file."""
    from matplotlib import cbook  # lazily: importing the data package should not load matplotlib

    fname, dtype, shape, _, _ = _MPL_FILES[source]
    try:
        path = cbook.get_sample_data(fname, asfileobj=False)
        raw = np.fromfile(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"matplotlib's sample data file {fname!r} could not be read "
                                f"({exc}); it ships in matplotlib's mpl-data/sample_data "
                                f"folder") from exc
    if raw.size != shape[0] * shape[1]:
        raise ValueError(f"matplotlib's {fname} ({path}) holds {raw.size} {np.dtype(dtype).name} "
                         f"values, expected {shape[0]} x {shape[1]}")
    # eeg.dat is stored sample-major: 800 rows of 4 channels (matplotlib's mri_with_eeg example
    # reshapes it to (800, 4); each column is then a smooth trace, each row is not)
    return raw.reshape(shape).astype(np.float64)  # (T, C)


def _matplotlib_windows(source, length, n_clips, min_range):
    """Clips plus the channel and start sample of each, for :func:`generation_dataset`."""
    if source not in _MPL_FILES:
        raise ValueError(f"source must be one of {sorted(_MPL_FILES)}, got {source!r}")
    length = check_count(length, "length", minimum=2)
    if n_clips is not None:
        n_clips = check_count(n_clips, "n_clips")
    if isinstance(min_range, bool) or not isinstance(min_range, (int, float, np.floating)) \
            or not 0.0 <= min_range < 1.0:
        raise ValueError(f"min_range must be a number in [0, 1), got {min_range!r}")
    signal = _load_matplotlib_signal(source)  # (T, C)
    T, C = signal.shape
    if length > T:
        raise ValueError(f"length must be <= {T}, the samples per channel of {source!r}, "
                         f"got {length}")
    n_windows = T // length
    clips, channels, starts = [], [], []
    for ch in range(C):
        trace = signal[:, ch]  # (T,)
        full_range = np.ptp(trace)
        windows = trace[:n_windows * length].reshape(n_windows, length)  # (n_windows, N)
        for i, window in enumerate(windows):
            span = np.ptp(window)
            if span > 0 and span >= min_range * full_range:
                clips.append(scale_clip(window))
                channels.append(ch)
                starts.append(i * length)
    if not clips:
        raise ValueError(f"no window of {source!r} has a range >= min_range={min_range} times "
                         f"its channel's range")
    if n_clips is not None:
        if n_clips > len(clips):
            raise ValueError(f"n_clips must be <= {len(clips)}, the number of {length}-sample "
                             f"windows {source!r} provides, got {n_clips}")
        clips, channels, starts = clips[:n_clips], channels[:n_clips], starts[:n_clips]
    return np.stack(clips), channels, starts


def matplotlib_clips(source: str, length: int = 320, n_clips: int | None = None,
                     min_range: float = 0.05) -> np.ndarray:
    r"""Real recorded signals from matplotlib's sample data, cut into scaled windows.

    Each channel is cut into ``T // length`` non-overlapping windows starting at sample 0 (the
    remainder is dropped), each window is scaled by :func:`scale_clip`, and the windows are
    returned channel by channel, in time order within a channel.

    Parameters
    ----------
    source : ``"eeg"`` or ``"membrane"``.
        ``"eeg"``: matplotlib's ``eeg.dat``, float64, 800 samples x 4 channels (PG3, PG5, PG7,
        PG9; 80 Hz), giving 2 windows per channel at length 320, 8 in all.
        ``"membrane"``: ``membrane.dat``, float32, 12,000 samples of one channel (2 kHz), giving
        37 windows at length 320, of which the default ``min_range`` keeps 32.
    length : int >= 2, samples per window N (the paper: 320).
    n_clips : int >= 1 or None; the first ``n_clips`` windows, or all of them if None.
    min_range : float in [0, 1).
        A window is dropped if its peak-to-peak range is below ``min_range`` times that of its
        whole channel. The membrane trace starts and ends on a flat baseline whose windows hold
        only a few quantisation steps; scaled to [-1, 1] they would be staircase noise.
        Constant windows are always dropped.

    Returns
    -------
    (K, N) float64 array; each row has zero mean and :math:`\max_t |x_t| = 1` exactly.

    Notes
    -----
    The scaling removes each window's mean before dividing by its peak, rather than mapping
    [min, max] onto [-1, 1]: the paper only says "scaled to [-1, 1]", and a zero-mean target
    has no offset for the network to learn (the raw membrane trace sits near -0.5). The embedded
    clips are scaled the same way.
    """
    return _matplotlib_windows(source, length, n_clips, min_range)[0]


def generation_dataset(source: str = "embedded", n_clips: int | None = None, length: int = 320,
                       seed: int = 0, min_range: float = 0.05) -> tuple[np.ndarray, dict]:
    """The generation task's clips and a description of them.

    Parameters
    ----------
    source : one of ``GENERATION_SOURCES``: ``"embedded"`` (:func:`embedded_clips`), ``"eeg"``
        or ``"membrane"`` (:func:`matplotlib_clips`).
    n_clips : int >= 1 or None; None means 5 for ``"embedded"`` (the paper's count) and every
        window for the matplotlib sources.
    length : samples per clip N.
    seed : used by ``"embedded"`` only; the matplotlib windows involve no randomness.
    min_range : used by the matplotlib sources only; see :func:`matplotlib_clips`.

    Returns
    -------
    clips : (K, N) float64 array.
    info : dict with ``source``, ``n_clips``, ``length``, ``sample_rate`` (Hz), ``description``,
        and for the matplotlib sources ``file``, ``channel_names`` and, per clip, ``channels``
        (channel index) and ``starts`` (first sample); for ``"embedded"``, ``seed``.
    """
    if source == "embedded":
        clips = embedded_clips(5 if n_clips is None else n_clips, length, seed)
        info = {"source": source, "seed": int(seed), "sample_rate": SAMPLE_RATE,
                "description": "deterministic music-like clips: 2-4 notes with 4 harmonics and "
                               "an attack/decay envelope (Koutnik et al. 2014, §4.1 stand-in)"}
    elif source in _MPL_FILES:
        clips, channels, starts = _matplotlib_windows(source, length, n_clips, min_range)
        fname, _, shape, rate, names = _MPL_FILES[source]
        info = {"source": source, "file": fname, "sample_rate": rate,
                "channel_names": list(names), "channels": channels, "starts": starts,
                "min_range": float(min_range),
                "description": f"matplotlib sample data {fname} ({shape[0]} samples x "
                               f"{shape[1]} channel(s)) cut into {length}-sample windows"}
    else:
        raise ValueError(f"source must be one of {list(GENERATION_SOURCES)}, got {source!r}")
    info.update(n_clips=int(clips.shape[0]), length=int(clips.shape[1]))
    return clips, info
