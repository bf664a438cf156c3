"""The project's one error hierarchy (torch-free, so ``eval/`` can use it).

Every error that a user's input can cause (a file, folder, key or value) derives from
:class:`CDINetError` and carries a one-line message naming what is at fault. The command-line
guard (``utils.cli.run_cli``) prints those as ``error: <message>`` with exit status 1; any
other exception is a bug and keeps its traceback.
"""


class CDINetError(Exception):
    """A problem with the user's input; the message names the file, folder, key or value."""


class ConfigError(CDINetError):
    """A config file, key or override that cannot be used."""


class DatasetError(CDINetError):
    """A data folder or image file is unusable (missing, empty, undecodable, unpaired, ...).

    Constructible from a single message string, so a DataLoader worker can re-raise it in the
    main process (PyTorch then prefixes the worker's traceback; ``utils.cli.one_line`` strips it).
    """


class EvalError(CDINetError):
    """Evaluation inputs that do not fit together (missing predictions, sizes, labels, ...)."""


class WeightsError(CDINetError):
    """A weights or checkpoint file that cannot be loaded into the model."""


class InputShapeError(CDINetError, ValueError):
    """Network inputs of the wrong shape (also a ValueError, as shape errors usually are)."""


class TrainingError(CDINetError):
    """A training run that cannot start or go on; the message says why and what to do."""


class NonFiniteLoss(TrainingError):
    """A loss of NaN or infinity: the weights are the problem, so the last good checkpoint is kept."""
