"""The baseline of ``bench/eval_speed.py``: PySODMetrics 1.6.2's classes used sequentially.

``python -m bench.pysodmetrics_loop --pred DIR --gt DIR --out metrics.json`` decodes every
``<stem>.png`` pair with OpenCV (8-bit gray, as PySODEvalToolkit does), steps MAE, Smeasure,
WeightedFmeasure, Fmeasure and Emeasure, and writes the dataset numbers in ``eval``'s key names.
"""
import argparse
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import py_sod_metrics as M


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pred", type=Path, required=True)
    parser.add_argument("--gt", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="This class will be removed")
    mae, sm, wfm, fm, em = M.MAE(), M.Smeasure(), M.WeightedFmeasure(), M.Fmeasure(), M.Emeasure()
    for gt_path in sorted(args.gt.glob("*.png")):
        gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
        pred = cv2.imread(str(args.pred / gt_path.name), cv2.IMREAD_GRAYSCALE)
        for metric in (mae, sm, wfm, fm, em):
            metric.step(pred, gt)
    f, e = fm.get_results(), em.get_results()
    results = dict(
        Sm=sm.get_results()["sm"], wFm=wfm.get_results()["wfm"], MAE=mae.get_results()["mae"],
        adpFm=f["fm"]["adp"], meanFm=f["fm"]["curve"].mean(), maxFm=f["fm"]["curve"].max(),
        adpEm=e["em"]["adp"], meanEm=e["em"]["curve"].mean(), maxEm=e["em"]["curve"].max(),
    )
    args.out.write_text(json.dumps({k: float(np.asarray(v)) for k, v in results.items()}))


if __name__ == "__main__":
    main()
