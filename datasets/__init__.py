"""RGB-D SOD data: pairing by stem, joint transforms, the dataset, synthetic data, an audit and
depth polarity.

Public API (docs/datasets.md): :class:`DatasetSource`, :class:`RGBDSODDataset`,
:func:`build_train_transform`, :func:`build_test_transform` and the normalisation constants. The
options of the transforms are ``utils.config.PreprocessConfig`` and ``AugmentConfig``; folder names
and dataset listing are ``utils.layout``'s. CLIs: ``python -m datasets.synthetic`` and
``python -m datasets.check``.
"""
from .dataset import RGBDSODDataset
from .pairing import DatasetSource
from .transforms import DEPTH_MEAN, DEPTH_STD, RGB_MEAN, RGB_STD, build_test_transform, build_train_transform

__all__ = ["DEPTH_MEAN", "DEPTH_STD", "DatasetSource", "RGBDSODDataset", "RGB_MEAN", "RGB_STD", "build_test_transform",
           "build_train_transform"]
