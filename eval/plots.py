"""PR and F-measure curves, one figure per dataset with every method (PNG and PDF).

matplotlib is imported here only, with the Agg backend, so the metric code stays light.
"""
from pathlib import Path


def import_matplotlib():
    """pyplot with the Agg backend (about a second: the folder evaluation starts it early, in a
    thread, while worker processes compute)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(curves: dict, out_dir: Path) -> list[Path]:
    """Write ``<dataset>_pr.{png,pdf}`` and ``<dataset>_fm.{png,pdf}`` into ``out_dir``.

    ``curves``: ``{"thresholds": [...], "curves": {method: {dataset: {precision, recall, fm}}}}``
    (the curves.json content). The F-measure curve is drawn against the threshold on the
    0-255 scale.
    """
    plt = import_matplotlib()
    out_dir.mkdir(parents=True, exist_ok=True)
    thresholds = [255 * t for t in curves["thresholds"]]
    per_method = curves["curves"]
    datasets = list(dict.fromkeys(d for per_dataset in per_method.values() for d in per_dataset))
    written = []
    for dataset in datasets:
        for kind, xlabel, ylabel in (("pr", "Recall", "Precision"), ("fm", "Threshold", "F-measure")):
            fig, ax = plt.subplots(figsize=(4.5, 4))
            fig.subplots_adjust(left=0.15, bottom=0.12, right=0.97, top=0.92)
            for method, per_dataset in per_method.items():
                if dataset not in per_dataset:
                    continue
                c = per_dataset[dataset]
                x, y = (c["recall"], c["precision"]) if kind == "pr" else (thresholds, c["fm"])
                missed = c.get("n_missing") or 0  # fewer images than the others: say so
                label = f"{method} (n={c['n_images']}/{c['n_images'] + missed})" if missed else method
                ax.plot(x, y, label=label, linewidth=1.5)
            ax.set(xlabel=xlabel, ylabel=ylabel, title=dataset)
            ax.set_xlim(0, 1 if kind == "pr" else 255)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small", loc="lower left")
            for suffix in (".png", ".pdf"):
                path = out_dir / f"{dataset}_{kind}{suffix}"
                fig.savefig(path, dpi=150)
                written.append(path)
            plt.close(fig)
    return written
