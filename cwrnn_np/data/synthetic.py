r"""Synthetic long-range tasks whose time lag is set by ``length``.

Sources:

* adding problem: Hochreiter and Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8),
  1997, experiment 4, in the form later used by Le, Jaitly and Hinton (2015) and Arjovsky, Shah
  and Bengio (2016): values uniform in [0, 1], one marked position in each half of the sequence;
* copy memory: Arjovsky, Shah and Bengio, "Unitary Evolution Recurrent Neural Networks", ICML
  2016, §4.1 (after Hochreiter and Schmidhuber 1997).

Shape letters: T time steps of a sequence, N sequences (the batch), S data symbols. Inputs are
time-major (T, N, D) float64, as the networks read them; every generator takes its
``numpy.random.Generator`` as an argument, so a seed reproduces a batch.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import check_int, check_rng

__all__ = ["adding_problem", "copy_memory", "copy_memory_baseline"]


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
    n = check_int(n, "n")
    T = check_int(length, "length", minimum=2)
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
    n = check_int(n, "n")
    length = check_int(length, "length")
    rng = check_rng(rng)
    S = check_int(n_symbols, "n_symbols")
    C = check_int(n_copy, "n_copy")
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
    length = check_int(length, "length")
    S = check_int(n_symbols, "n_symbols")
    C = check_int(n_copy, "n_copy")
    return C * math.log(S) / (length + 2 * C)
