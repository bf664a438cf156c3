"""RGB-D SOD data: reading, pairing by stem, joint transforms, synthetic data and an audit.

Public API (see README "Data preparation"): :class:`DatasetSource`, :class:`RGBDSODDataset`,
:class:`DatasetError`, :class:`AugmentConfig`, :class:`PreprocessConfig`, :func:`build_train_transform`,
:func:`build_test_transform`, :func:`list_datasets`, and the normalisation constants.
CLIs: ``python -m datasets.synthetic`` and ``python -m datasets.check``.
"""
from .dataset import RGBDSODDataset
from utils.errors import DatasetError
from .layout import DatasetSource, list_datasets
from .transforms import (DEPTH_MEAN, DEPTH_STD, RGB_MEAN, RGB_STD, AugmentConfig,
                         PreprocessConfig, build_test_transform, build_train_transform)

__all__ = ["AugmentConfig", "DEPTH_MEAN", "DEPTH_STD", "DatasetError", "DatasetSource", "PreprocessConfig",
           "RGBDSODDataset", "RGB_MEAN", "RGB_STD", "build_test_transform",
           "build_train_transform", "list_datasets"]
