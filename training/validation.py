"""Held-out validation during training, through ``inference.Predictor``'s path (its logits of
the map output, the release's post-processing), scored by ``eval`` (PySODMetrics' protocol)."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch.utils.data import DataLoader

from datasets import unnormalise
from eval import SODEvaluator
from inference import Predictor


def validation_predictor(model: torch.nn.Module, device: torch.device, size: int, preprocess,
                         train_cfg: dict) -> Predictor:
    """The model as test.py runs it (PyTorch backend, the run's ``train.amp`` and
    ``train.channels_last``), at the training size and pixel path; it shares the trained weights."""
    return Predictor(model, device=device, size=size, preprocess=preprocess, backend="torch",
                     amp=train_cfg["amp"], channels_last=train_cfg["channels_last"])


def validate(predictor: Predictor, loader: DataLoader) -> Tuple[Dict[str, float], Optional[torch.Tensor]]:
    """S-measure, MAE and max F on the held-out split, each map compared with its GT at the
    training resolution; also an RGB / depth / GT / prediction grid of the first batch."""
    from torchvision.utils import make_grid  # here: importing torchvision slows the start-up

    predictor.model.eval()
    evaluator, grid = SODEvaluator(), None
    for batch in loader:
        gts = batch["gt"]
        maps = predictor.maps(predictor.logits(batch["rgb"], batch["depth"]), [gts.shape[-2:]] * len(gts))
        for pred, gt in zip(maps, gts):
            evaluator.update(pred, gt[0].numpy())
        if grid is None:
            rgb, depth = unnormalise(batch["rgb"][:4], batch["depth"][:4], predictor.spec)
            shown = torch.stack([torch.from_numpy(m) for m in maps[:4]]).float().div(255)
            columns = [rgb, depth.repeat(1, 3, 1, 1), gts[:4].repeat(1, 3, 1, 1), shown[:, None].repeat(1, 3, 1, 1)]
            grid = make_grid(torch.stack(columns, 1).flatten(0, 1), nrow=4)
    results = evaluator.results()
    return {"Sm": results["Sm"], "MAE": results["MAE"], "maxFm": results["maxFm"]}, grid
