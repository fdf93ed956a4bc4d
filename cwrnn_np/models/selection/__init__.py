r"""Soft ("blurry") selection among same-clock modules, the design note's variant: spec, NumPy
reference, Numba kernels, API. ``docs/variants.md`` derives S1–S6 and SB1–SB9.
"""
from .api import SELECT_BACKENDS, SELECTION, backward_select, forward_select, gradcheck_select
from .numba_backend import backward_select_numba, forward_select_numba
from .reference import SelectionCache, backward_select_numpy, forward_select_numpy
from .spec import SelectionSpec, group_modules, init_select_params

__all__ = ["SelectionSpec", "SelectionCache", "group_modules", "init_select_params",
           "forward_select_numpy", "backward_select_numpy", "forward_select_numba",
           "backward_select_numba", "forward_select", "backward_select",
           "SELECT_BACKENDS", "SELECTION", "gradcheck_select"]
