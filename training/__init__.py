"""What ``train.py`` composes: the run folder and ``--resume`` (:mod:`training.run_folder`), the
training data (:mod:`training.data`), the optimizer and gradient accumulation
(:mod:`training.optim`), where a run stands (:mod:`training.state`), the session that saves it
(:mod:`training.session`), stopping between steps (:mod:`training.stops`), held-out validation
(:mod:`training.validation`) and the records (:mod:`training.records`). The loop itself reads
top to bottom in ``train.py``; docs/training.md describes every config key.
"""
