r"""Figures: the clock, the wiring and the states (:mod:`~cwrnn_np.viz.plotting`), and the
gradient-flow diagnostic (:mod:`~cwrnn_np.viz.diagnostics`). Importing either does not import
pyplot; a plotting call does.
"""
