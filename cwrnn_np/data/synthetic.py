r"""Synthetic long-range tasks whose time lag is set by ``length``.

Sources:

* adding problem: Hochreiter and Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8),
  1997, experiment 4, in the form later used by Le, Jaitly and Hinton (2015) and Arjovsky, Shah
  and Bengio (2016): values uniform in [0, 1], one marked position in each half of the sequence;
* copy memory: Arjovsky, Shah and Bengio, "Unitary Evolution Recurrent Neural Networks", ICML
  2016, §4.1 (after Hochreiter and Schmidhuber 1997);
* hold and regimes: made for this project's demonstrations of the design note's learned
  periods and soft selection (``docs/variants.md``).

Shape letters: T time steps of a sequence, N sequences (the batch), S data symbols. Inputs are
time-major (T, N, D) float64, as the networks read them; every generator takes its
``numpy.random.Generator`` as an argument, so a seed reproduces a batch.
"""
from __future__ import annotations

import math

import numpy as np

from ..validation import check_count
from ._checks import check_rng

__all__ = ["adding_problem", "copy_memory", "copy_memory_baseline", "hold_problem",
           "regimes_problem"]


def adding_problem(n: int, length: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    r"""Add the two marked numbers of a long sequence.

    .. math::

        x_{t,i,0} = u_{t,i} \sim U[0, 1), \qquad
        x_{t,i,1} = [t = p_i] + [t = q_i], \qquad
        y_{i,0} = u_{p_i,i} + u_{q_i,i},

    where :math:`p_i` is drawn uniformly from :math:`0..\lfloor T/2 \rfloor - 1` (first half)
    and :math:`q_i` from :math:`\lfloor T/2 \rfloor..T-1` (second half), so exactly two steps are
    marked and the answer needs a memory of up to T - 1 steps. Predicting the mean 1 scores a
    mean squared error of 1/6.

    Parameters
    ----------
    n : int >= 1, sequences N.
    length : int >= 2, steps T.
    rng : numpy.random.Generator.

    Returns
    -------
    x : (T, N, 2) float64, channel 0 the values, channel 1 the markers (0 or 1).
    y : (N, 1) float64, the sums, in [0, 2); the target of the last step.
    """
    n = check_count(n, "n")
    T = check_count(length, "length", minimum=2)
    rng = check_rng(rng)
    half = T // 2
    x = np.zeros((T, n, 2))  # (T, N, 2)
    x[:, :, 0] = rng.random((T, n))
    first = rng.integers(0, half, size=n)  # (N,)
    second = rng.integers(half, T, size=n)  # (N,)
    columns = np.arange(n)
    x[first, columns, 1] = 1.0
    x[second, columns, 1] = 1.0
    y = (x[first, columns, 0] + x[second, columns, 0])[:, None]  # (N, 1)
    return x, y


def copy_memory(n: int, length: int, rng: np.random.Generator, n_symbols: int = 8,
                n_copy: int = 10) -> tuple[np.ndarray, np.ndarray]:
    r"""Remember ``n_copy`` symbols across ``length`` steps, then reproduce them.

    Symbol ids: 0 is the blank, 1..S the data symbols (S = ``n_symbols``), S + 1 the delimiter.
    With C = ``n_copy`` and T = ``length`` + 2C steps in all (Arjovsky et al.'s "T + 20" for
    their T = ``length`` and C = 10), sequence i reads

    ===================================  =========================  ======================
    steps                                input id                   target id
    ===================================  =========================  ======================
    0 .. C-1                             :math:`a_{i,0..C-1}`       0
    C .. C + length - 2 (length - 1)     0                          0
    C + length - 1                       S + 1 (delimiter)          0
    C + length .. 2C + length - 1        0                          :math:`a_{i,0..C-1}`
    ===================================  =========================  ======================

    with :math:`a_{i,j}` drawn uniformly from 1..S. Symbol j is shown at step j and asked for at
    step C + length + j, ``length`` + C steps later. The delimiter takes the last of the
    ``length`` steps between the symbols and the answer, as in Arjovsky et al. (T - 1 blanks,
    then the delimiter). Every step's target counts; :func:`copy_memory_baseline` is the loss of
    the memoryless strategy.

    Parameters
    ----------
    n : int >= 1, sequences N.
    length : int >= 1, the delay T of Arjovsky et al.
    rng : numpy.random.Generator.
    n_symbols : int >= 1, data symbols S (Arjovsky et al.: 8).
    n_copy : int >= 1, symbols to copy C (Arjovsky et al.: 10).

    Returns
    -------
    x : (length + 2C, N, S + 2) float64, the one-hot input ids.
    y : (length + 2C, N) int64, the target ids, in 0..S.
    """
    n = check_count(n, "n")
    length = check_count(length, "length")
    rng = check_rng(rng)
    S = check_count(n_symbols, "n_symbols")
    C = check_count(n_copy, "n_copy")
    T = length + 2 * C
    symbols = rng.integers(1, S + 1, size=(C, n))  # (C, N)
    ids = np.zeros((T, n), dtype=np.int64)  # (T, N) input ids
    ids[:C] = symbols
    ids[C + length - 1] = S + 1
    y = np.zeros((T, n), dtype=np.int64)  # (T, N)
    y[C + length:] = symbols
    x = np.zeros((T, n, S + 2))  # (T, N, S + 2)
    np.put_along_axis(x, ids[..., None], 1.0, axis=-1)
    return x, y


def copy_memory_baseline(length: int, n_symbols: int = 8, n_copy: int = 10) -> float:
    r"""Mean cross-entropy (nats per step) of predicting blanks, then uniform symbols.

    .. math::

        \frac{C \log S}{\text{length} + 2C}

    (Arjovsky et al. 2016: a model that cannot remember does no better.)
    """
    length = check_count(length, "length")
    S = check_count(n_symbols, "n_symbols")
    C = check_count(n_copy, "n_copy")
    return C * math.log(S) / (length + 2 * C)


def hold_problem(n: int, length: int, period: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    r"""Sample and hold with a planted timescale: a new value arrives every ``period`` steps.

    .. math::

        x_{t,i,0} = v_{\lfloor t/P \rfloor, i}\,[t \bmod P = 0], \qquad
        x_{t,i,1} = \xi_{t,i} \sim \mathcal N(0, 0.5^2), \qquad
        y_{t,i,0} = v_{\lfloor t/P \rfloor, i},

    with :math:`v \sim U[-1, 1)` and P = ``period``: the target is the value presented last,
    up to P - 1 steps back, and channel 1 is distracting noise at every step. A module whose
    clock fires exactly at the multiples of P (period P, or a divisor that the module learns
    to ignore) reads each value when it arrives and can hold it untouched; a faster module must
    learn to hold it through its recurrent weights despite the noise. The task for the design
    note's learned periods (``cwrnn experiment learned-periods``). Predicting 0 scores an MSE
    of 1/3.

    Parameters
    ----------
    n : int >= 1, sequences N; length : int >= 1, steps T; period : int >= 1, P.
    rng : numpy.random.Generator.

    Returns
    -------
    x : (T, N, 2) float64; y : (T, N, 1) float64, the held values.
    """
    n = check_count(n, "n")
    T = check_count(length, "length")
    P = check_count(period, "period")
    rng = check_rng(rng)
    events = np.arange(0, T, P)                                     # steps with a new value
    v = rng.uniform(-1.0, 1.0, size=(len(events), n))               # (T/P, N)
    x = np.zeros((T, n, 2))                                         # (T, N, 2)
    x[events, :, 0] = v
    x[:, :, 1] = 0.5 * rng.standard_normal((T, n))
    y = v[np.arange(T) // P][:, :, None]                            # (T, N, 1)
    return x, y


def regimes_problem(n: int, length: int, block: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""Two alternating regimes that need opposite answers from the same input.

    .. math::

        x_{t,i} = (u_{t,i},\; s_{t,i}), \qquad
        y_{t,i} = s_{t,i}\, u_{t-2,i} \quad (t \ge 2;\ 0 \text{ before}),

    with :math:`u \sim U[-1, 1)` and the regime :math:`s_{t,i} = \pm 1` flipping every
    ``block`` steps from a random start: regime +1 recalls the input two steps back, regime −1
    its negation. The regime is given as input, so one network can solve both; a group of
    softly selected modules can instead give each regime its own module (the task for the
    design note's "blurry selection", ``cwrnn experiment soft-selection``). Predicting 0 scores
    an MSE of 1/3.

    Returns
    -------
    x : (T, N, 2) float64; y : (T, N, 1) float64.
    """
    n = check_count(n, "n")
    T = check_count(length, "length", minimum=3)
    K = check_count(block, "block")
    rng = check_rng(rng)
    u = rng.uniform(-1.0, 1.0, size=(T, n))                         # (T, N)
    start = rng.choice([-1.0, 1.0], size=n)                         # (N,)
    s = start[None, :] * np.where((np.arange(T) // K) % 2 == 0, 1.0, -1.0)[:, None]  # (T, N)
    x = np.stack([u, s], axis=2)                                    # (T, N, 2)
    y = np.zeros((T, n, 1))
    y[2:, :, 0] = s[2:] * u[:-2]
    return x, y
