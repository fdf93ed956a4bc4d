r"""Training: the config (:mod:`~cwrnn_np.training.config`), the optimizers
(:mod:`~cwrnn_np.training.optim`), the tasks (:mod:`~cwrnn_np.training.tasks`), the trainer
(:mod:`~cwrnn_np.training.train`), atomic checkpoints (:mod:`~cwrnn_np.training.checkpoint`) and
parameter budgets (:mod:`~cwrnn_np.training.budget`). ``docs/usage.md`` documents the command
line that drives them.
"""
