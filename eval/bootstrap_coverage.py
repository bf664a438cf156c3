"""How often the percentile bootstrap interval of a paired mean difference holds the true
difference, for per-image scores shaped like saliency scores: the simulation behind
:data:`eval.bootstrap.MIN_IMAGES_FOR_VERDICT` (``python -m eval.bootstrap_coverage`` prints its table).

Each shape draws n images, each with a score of method A and of method B, in [0, 1] and correlated
through the image (a hard image is hard for both). With independent ``S ~ Gamma(s)``, ``T ~
Gamma(t)`` shared by the two methods and ``G_m ~ Gamma(g_m)``, ``H_m ~ Gamma(h_m)`` their own::

    score_m = (S + G_m) / (S + G_m + T + H_m)  ~  Beta(s + g_m, t + h_m)

so the true mean difference is ``mean(Beta(s + g_A, t + h_A)) - mean(Beta(s + g_B, t + h_B))``.
One replication draws, in this order from one ``np.random.default_rng([seed, n, shape index])``:
S, T (n each), G_A, H_A, G_B, H_B (n each), then the resamples ``integers(0, n, size=(B, n))`` as
``eval/bootstrap.py`` does; the interval is ``np.percentile`` of the B resampled mean differences
at ``[2.5, 97.5]``. Coverage: the fraction of replications whose interval holds the true difference.
"""
import argparse

import numpy as np

from utils.cli import positive_int, run_cli

# name -> (s, t, g_A, h_A, g_B, h_B); A ~ Beta(s + g_A, t + h_A), B ~ Beta(s + g_B, t + h_B):
# S-measure-like: Beta(9, 1.5) vs Beta(8.5, 1.7) (means .857, .833; per-image correlation .77);
# MAE-like: Beta(0.8, 12) vs Beta(0.9, 10) (means .062, .082; correlation .82);
# F-measure-like: Beta(1.6, 0.35) vs Beta(1.5, 0.45) (means .821, .769; correlation .75; most images near 1,
# a tail of failures).
SHAPES = {
    "S-measure-like": (8.0, 1.2, 1.0, 0.3, 0.5, 0.5),
    "MAE-like": (0.7, 9.0, 0.1, 3.0, 0.2, 1.0),
    "F-measure-like": (1.4, 0.3, 0.2, 0.05, 0.1, 0.15),
}
SIZES = (5, 10, 15, 20, 30, 40, 50, 60, 80, 100)
LEVEL = 0.95
EXAMPLES = """examples:
  python -m eval.bootstrap_coverage                              (the table behind MIN_IMAGES_FOR_VERDICT)
  python -m eval.bootstrap_coverage --replications 500 --resamples 300   (a quick look)
  python -m eval.bootstrap_coverage --seed 1                     (another draw of the same table)
"""


def true_difference(shape: tuple) -> float:
    """The mean of A's Beta minus the mean of B's."""
    s, t, g_a, h_a, g_b, h_b = shape
    return (s + g_a) / (s + g_a + t + h_a) - (s + g_b) / (s + g_b + t + h_b)


def draw_pairs(rng: np.random.Generator, shape: tuple, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n images' scores of A and of B (the module docstring's recipe and draw order)."""
    s, t, g_a, h_a, g_b, h_b = shape
    shared_s, shared_t = rng.gamma(s, size=n), rng.gamma(t, size=n)
    scores = []
    for g, h in ((g_a, h_a), (g_b, h_b)):
        x, y = shared_s + rng.gamma(g, size=n), shared_t + rng.gamma(h, size=n)
        scores.append(x / (x + y))
    return scores[0], scores[1]


def coverage(shape_index: int, n: int, replications: int, resamples: int, seed: int) -> float:
    """The fraction of ``replications`` whose interval holds the true difference."""
    shape = list(SHAPES.values())[shape_index]
    truth, rng = true_difference(shape), np.random.default_rng([seed, n, shape_index])
    q = [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2]
    held = 0
    for _ in range(replications):
        a, b = draw_pairs(rng, shape, n)
        low, high = np.percentile((a - b)[rng.integers(0, n, size=(resamples, n))].mean(axis=1), q)
        held += bool(low <= truth <= high)
    return held / replications


def coverage_table(replications: int, resamples: int, seed: int) -> str:
    """The Markdown table of :func:`coverage` (in %) for every shape and size."""
    lines = ["| shape | " + " | ".join(f"n={n}" for n in SIZES) + " |", "|---|" + "---:|" * len(SIZES)]
    for i, name in enumerate(SHAPES):
        cells = [f"{100 * coverage(i, n, replications, resamples, seed):.1f}" for n in SIZES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.bootstrap_coverage", description=__doc__,
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replications", type=positive_int, default=4000, help="simulated data sets per cell")
    parser.add_argument("--resamples", type=positive_int, default=1000, help="bootstrap resamples (B)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every cell's generator")
    return parser


def _run(args: argparse.Namespace) -> int:
    print(coverage_table(args.replications, args.resamples, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(get_args_parser(), _run))
