r"""The paper's experiments (:mod:`~cwrnn_np.experiments.paper`), the design note's
demonstrations (:mod:`~cwrnn_np.experiments.demos`) and the report helpers
(:mod:`~cwrnn_np.experiments.report`). ``cwrnn experiment NAME`` runs them; each writes a
Markdown report, a JSON and a CSV of every run, and its figures.
"""
from .paper import (CHARLM_CONFIGS, EXPERIMENTS, charlm_sets, generation_settings, run_charlm,
                    run_classification, run_generation)

__all__ = ["generation_settings", "charlm_sets", "run_generation", "run_classification",
           "run_charlm", "CHARLM_CONFIGS", "EXPERIMENTS"]
