"""RGB-D SOD data: pairing by stem, joint transforms, the dataset, synthetic data, an audit and
depth polarity.

Public API (docs/datasets.md): :class:`DatasetSource`, :class:`RGBDSODDataset`,
:func:`build_train_transform`, :func:`build_test_transform`, and :func:`normalise` / :func:`unnormalise`
(a model's ``models.spec.InputSpec`` gives the constants). The
options of the transforms are ``utils.config.PreprocessConfig`` and ``AugmentConfig``; folder names
and dataset listing are ``utils.layout``'s. CLIs: ``python -m datasets.synthetic`` and
``python -m datasets.check``.
"""
from .dataset import RGBDSODDataset
from .pairing import DatasetSource
from .transforms import build_test_transform, build_train_transform, normalise, unnormalise

__all__ = ["DatasetSource", "RGBDSODDataset", "build_test_transform", "build_train_transform", "normalise",
           "unnormalise"]
