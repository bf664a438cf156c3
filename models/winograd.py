"""Winograd convolution F(m x m, 3 x 3) for CPU inference, written with public PyTorch ops.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016 (arXiv:1509.09308):
an output tile Y (m x m) of a 3x3 correlation of an input tile d (a x a, a = m + 2) with a
filter g (3 x 3) is

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A        ((.) elementwise, same names as the paper)

so per tile and per (input, output) channel pair the a^2 elementwise products replace 9 m^2
multiplications: 2.25x fewer for F(2x2, 3x3), 4x for F(4x4, 3x3), 5.06x for F(6x6, 3x3). Summed
over input channels, the products of each of the a^2 transform positions are one matrix product,
so a layer is one batched GEMM (``torch.bmm``) between two transforms that are GEMMs too.

The matrices are built exactly (``fractions.Fraction``) by Toom-Cook from a-1 finite
interpolation points and the point at infinity (``winograd_matrices``; the construction of
Lavin's ``wincnn``): A^T evaluates, G evaluates the filter and carries the interpolation's
denominators, B^T is the transpose of the interpolation. Filters are transformed once, in
float64, at construction; only the data transforms and the GEMM run in float32.

- ``winograd_matrices(m, points)``: (A^T, G, B^T) as float64 tensors.
- ``WinogradConv2d(conv, m)``: a drop-in for a 3x3, stride 1, padding 1, dilation 1, groups 1
  ``nn.Conv2d`` (any H, W, batch, bias or not, contiguous or channels_last input; the output
  keeps the input's memory format).
- ``convert_to_winograd(model, m, min_channels, inplace=False)``: a copy of the model (or the
  model itself) with every such Conv2d of at least ``min_channels`` input and output channels
  replaced (1x1, 7x7, strided, dilated or grouped convolutions stay), and a ``ConversionReport``;
  ``replace_convs`` does the same with any replacement.

Inference only: the transformed filters are buffers, not parameters, and do not follow later
changes of the original weights.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import nn

# Finite interpolation points per output tile size m (a - 1 = m + 1 of them, plus infinity).
# F(2) and F(4) use Lavin & Gray's points; for F(6) the small points 0, +-1, +-2, +-1/2 keep
# the fp32 error lowest of the sets tried (bench/winograd_candidates.py --points reports them).
POINTS: Dict[int, Tuple[Fraction, ...]] = {
    2: (Fraction(0), Fraction(1), Fraction(-1)),
    4: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2)),
    6: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2)),
}
KERNEL = 3
# A layer runs in blocks of whole tile rows, each about BLOCK_FLOATS input-tile values (a^2 C per
# tile, 4 MB in fp32) and at least MIN_BLOCK_TILES tiles: the intermediates stay in cache at high
# resolution or batch, and the transformed filters, read once per block, are reused over many
# tiles.
BLOCK_FLOATS = 1 << 20
MIN_BLOCK_TILES = 64


def _poly_from_roots(roots: Sequence[Fraction]) -> List[Fraction]:
    """Coefficients (constant first) of prod_j (x - roots[j])."""
    coefficients = [Fraction(1)]
    for root in roots:
        shifted = [Fraction(0)] + coefficients           # x * p(x)
        coefficients = [s - root * c for s, c in zip(shifted, coefficients + [Fraction(0)])]
    return coefficients


def winograd_matrices(m: int, points: Sequence[Fraction] | None = None) -> Tuple[torch.Tensor, ...]:
    """(A^T (m, a), G (a, 3), B^T (a, a)) of F(m, 3) for the finite ``points`` (a - 1 distinct
    values, default ``POINTS[m]``) and infinity, exact up to the final float64 rounding.

    Toom-Cook for the product c = g * h of polynomials of degrees 2 and m - 1: evaluate both at
    the points (h: rows of A; g: rows of G, scaled by 1 / prod_{l != j}(p_j - p_l)), multiply,
    interpolate with C (column j: prod_{l != j}(x - p_l); last column: prod_l(x - p_l), weighted
    by c's leading coefficient, the value "at infinity"). The correlation F(m, 3) is the
    transpose of this product: Y = A^T [(G g) (.) (C^T d)], so B^T = C^T.
    """
    points = [Fraction(p) for p in (POINTS[m] if points is None else points)]
    alpha = m + KERNEL - 1
    if len(points) != alpha - 1 or len(set(points)) != len(points):
        raise ValueError(f"F({m}, 3) needs {alpha - 1} distinct finite points, got {points}")
    at = [[p ** i for p in points] + [Fraction(int(i == m - 1))] for i in range(m)]
    g = [[p ** k / math.prod((p - q for q in points if q != p), start=Fraction(1)) for k in range(KERNEL)]
         for p in points] + [[Fraction(int(k == KERNEL - 1)) for k in range(KERNEL)]]
    # Row j of B^T is column j of C.
    bt = [_poly_from_roots([q for q in points if q != p]) + [Fraction(0)] for p in points] + [_poly_from_roots(points)]
    return tuple(torch.tensor([[float(v) for v in row] for row in matrix], dtype=torch.float64)
                 for matrix in (at, g, bt))


def is_eligible(module: nn.Module) -> bool:
    """A 3x3 ``nn.Conv2d``, stride 1, padding 1 (zeros), dilation 1, groups 1."""
    return (isinstance(module, nn.Conv2d) and module.kernel_size == (KERNEL, KERNEL) and module.stride == (1, 1)
            and module.padding == (1, 1) and module.dilation == (1, 1) and module.groups == 1
            and module.padding_mode == "zeros")


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """channels_last for a channels-last (and not also plain contiguous) 4-D tensor, else contiguous."""
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() \
        else torch.contiguous_format


class WinogradConv2d(nn.Module):
    """F(m x m, 3 x 3) Winograd form of an eligible ``conv`` (``is_eligible``), same call
    signature: ``(N, C, H, W) -> (N, K, H, W)``. Internally channels-last: tiles (a^2, P, C),
    transformed filters (a^2, C, K), P = N * ceil(H / m) * ceil(W / m) tiles."""

    def __init__(self, conv: nn.Conv2d, m: int = 4, points: Sequence[Fraction] | None = None):
        super().__init__()
        if not is_eligible(conv):
            raise ValueError(f"not a 3x3, stride 1, padding 1, dilation 1, groups 1 convolution: {conv}")
        self.m, self.alpha = m, m + KERNEL - 1
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        at, g, bt = winograd_matrices(m, points)
        with torch.no_grad():
            weight = conv.weight.detach().transpose(0, 1).reshape(-1, KERNEL * KERNEL).double()  # (C*K, 9)
            u = (torch.kron(g, g) @ weight.T).float()                         # G g G^T: (a^2, C*K)
            bias = conv.bias.detach().float().clone() if conv.bias is not None else None
        device = conv.weight.device
        self.register_buffer("filters", u.view(-1, self.in_channels, self.out_channels).to(device))  # (a^2, C, K)
        self.register_buffer("bias", bias)                                       # (K,) or None
        self.register_buffer("input_transform", torch.kron(bt, bt).float().to(device))   # (a^2, a^2)
        self.register_buffer("output_transform", torch.kron(at, at).float().to(device))  # (m^2, a^2)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, F({self.m}x{self.m}, 3x3), bias={self.bias is not None}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        m = self.m
        tiles_h, tiles_w = -(-h // m), -(-w // m)
        block_tiles = max(MIN_BLOCK_TILES, BLOCK_FLOATS // (self.alpha ** 2 * self.in_channels))
        rows = min(tiles_h, -(-block_tiles // (n * tiles_w)))
        source = x.permute(0, 2, 3, 1)                                         # (N, H, W, C), a view
        out = x.new_empty(n, tiles_h * m, tiles_w * m, self.out_channels)       # (N, tH*m, tW*m, K)
        for first in range(0, tiles_h, rows):
            last = min(tiles_h, first + rows)
            tiles = self._tile_rows(source, first, last, tiles_w)
            block = out[:, first * m:last * m].view(n, last - first, m, tiles_w, m, self.out_channels)
            self._convolve_tiles(tiles, block)
        out = out[:, :h, :w].permute(0, 3, 1, 2)                                # (N, K, H, W)
        return out.contiguous(memory_format=memory_format_of(x))

    def _tile_rows(self, source: torch.Tensor, first: int, last: int, tiles_w: int) -> torch.Tensor:
        """Input tiles of tile rows ``first:last``: (a, a, N, rows, tW, C), from ``source`` (N, H, W, C)
        zero-padded by 1 (and to whole tiles at the bottom/right) in a small buffer."""
        n, h, w, c = source.shape
        m, alpha = self.m, self.alpha
        top, bottom = first * m - 1, last * m + 1                              # padded rows, input coordinates
        padded = source.new_zeros(n, bottom - top, tiles_w * m + 2, c)
        low, high = max(top, 0), min(bottom, h)
        padded[:, low - top:high - top, 1:w + 1] = source[:, low:high]
        windows = padded.unfold(1, alpha, m).unfold(2, alpha, m)                # (N, rows, tW, C, a, a), a view
        return windows.permute(4, 5, 0, 1, 2, 3)

    def _convolve_tiles(self, tiles: torch.Tensor, out: torch.Tensor) -> None:
        """Output tiles (N, rows, m, tW, m, K) of input tiles (a, a, N, rows, tW, C), into ``out``."""
        alpha, m = self.alpha, self.m
        d = tiles.reshape(alpha * alpha, -1)                                     # (a^2, P*C), one copy
        v = (self.input_transform @ d).view(alpha * alpha, -1, self.in_channels)  # B^T d B: (a^2, P, C)
        products = torch.bmm(v, self.filters)                                  # (a^2, P, K)
        y = self.output_transform @ products.view(alpha * alpha, -1)           # A^T M A: (m^2, P*K)
        y = y.view(m, m, *tiles.shape[2:5], self.out_channels).permute(2, 3, 0, 4, 1, 5)  # (N, rows, m, tW, m, K)
        if self.bias is None:
            out.copy_(y)
        else:
            torch.add(y, self.bias, out=out)


@dataclass
class ConversionReport:
    """Which ``nn.Conv2d`` layers (dotted names) a conversion replaced and which it kept."""
    converted: List[str]
    kept: List[str]

    def describe(self) -> str:
        return f"{len(self.converted)} of {len(self.converted) + len(self.kept)} Conv2d layers converted"


def replace_convs(model: nn.Module, make: Callable[[nn.Conv2d], nn.Module], min_channels: int = 1,
                  inplace: bool = False) -> Tuple[nn.Module, ConversionReport]:
    """``model`` (a deep copy unless ``inplace``) with every eligible ``nn.Conv2d`` (``is_eligible``)
    of at least ``min_channels`` input and output channels replaced by ``make(conv)``. Convolutions
    called through ``F.conv2d`` with a module's weight (e.g. ``SemanticBlock.reduce``, a 1x1) are
    not modules of their own and are left as they are, like 1x1, 7x7 and strided ones."""
    model = model if inplace else copy.deepcopy(model)
    report = ConversionReport([], [])
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Conv2d):
            continue
        if not (is_eligible(module) and min(module.in_channels, module.out_channels) >= min_channels):
            report.kept.append(name)
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, make(module))
        report.converted.append(name)
    return model, report


def convert_to_winograd(model: nn.Module, m: int = 4, min_channels: int = 128, inplace: bool = False,
                        points: Sequence[Fraction] | None = None) -> Tuple[nn.Module, ConversionReport]:
    """``replace_convs`` with ``WinogradConv2d(conv, m, points)``: a copy of ``model`` (unless
    ``inplace``) for inference, with the same outputs up to fp32 rounding (tests/test_winograd.py).

    The defaults: F(4x4, 3x3) on the layers of at least 128 input and output channels, the
    others left direct (on narrow layers at high resolution the transforms and copies outweigh the
    products saved); ``python -m bench.winograd_candidates`` compares them with the other tile
    sizes and thresholds (docs/performance.md). ``min_channels=1`` converts every eligible layer."""
    return replace_convs(model, lambda conv: WinogradConv2d(conv, m, points), min_channels, inplace)
