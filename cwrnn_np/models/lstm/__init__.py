r"""The LSTM baseline (Koutník et al. 2014, §4): spec, NumPy reference, Numba kernels, API.

``docs/lstm.md`` derives the forward pass (L0–L7) and its BPTT (LB1–LB10).
"""
from ...activations import sigmoid
from .api import LSTM, LSTM_BACKENDS, backward_lstm, forward_lstm, gradcheck_lstm
from .numba_backend import backward_lstm_numba, forward_lstm_numba
from .reference import LSTMCache, backward_lstm_numpy, forward_lstm_numpy, reset_state
from .spec import LSTMSpec, init_lstm_params

__all__ = ["LSTMSpec", "LSTMCache", "init_lstm_params", "forward_lstm_numpy",
           "backward_lstm_numpy", "forward_lstm_numba", "backward_lstm_numba", "forward_lstm",
           "backward_lstm", "LSTM_BACKENDS", "LSTM", "gradcheck_lstm", "sigmoid", "reset_state"]
