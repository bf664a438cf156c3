"""Saliency maps from a checkpoint: :class:`Predictor` (one call from Python, and what test.py
runs) and the backends that compute the logits (``inference.backends``).

>>> from inference import Predictor
>>> predictor = Predictor.from_checkpoint("CDINet.pth")
>>> saliency = predictor.predict("RGB/1.jpg", "depth/1.png")   # uint8 (H, W)
"""
from .backends import BACKENDS, choose_backend
from .predictor import Predictor, input_settings

__all__ = ["BACKENDS", "Predictor", "choose_backend", "input_settings"]
