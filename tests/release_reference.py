"""An independent, functional CDINet written straight from the release's key names: the
release's network computed the release's way (the semantic blocks' concatenation included).

It reads the authors' ``state_dict`` layout (``tests/fixtures/reference/cdinet_official_keys.tsv``)
directly, with no module classes and no key mapping, following docs/cdinet.md ("Encoder wiring"
to "DDR decoder") line by line. Its output on the seed-0 keyed weights is checked against the
authors' own logits (``tests/test_models.py``), which makes it a reference for other seeds and
input sizes, where no stored output exists, and the network of ``bench/inference.py``'s
CDINet baseline (``--model cdinet``; BBS-Net's baseline runs ``models/bbsnet.py``'s ``BBSNet``,
the release's network module for module, so it needs no functional copy here).
"""
import torch
import torch.nn.functional as F

VGG_CONVS = (2, 2, 3, 3, 3)


def _conv(sd, x, name, padding):
    return F.conv2d(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"), padding=padding)


def _vgg_block(sd, x, stream, k):
    if k > 1:
        x = F.avg_pool2d(x, 2, 2)
    for j in range(1, VGG_CONVS[k - 1] + 1):
        x = F.relu(_conv(sd, x, f"{stream}.conv{k}.conv{k}_{j}", 1))
    return x


def _rde(sd, r, d, level):
    p = f"rde_layer{level}"
    fused = _conv(sd, F.relu(_conv(sd, torch.cat([r, d], 1), f"{p}.conv_pool.0", 0)), f"{p}.conv_pool.2", 1)
    m = torch.max(d, dim=1, keepdim=True)[0]
    m = torch.sigmoid(_conv(sd, _conv(sd, m, f"{p}.conv1", 3), f"{p}.conv2", 3))
    return fused * m + d


def _sa(sd, x, name):
    return torch.sigmoid(_conv(sd, torch.max(x, dim=1, keepdim=True)[0], f"{name}.conv1", 1))


def _ca(sd, x, name):
    w = F.adaptive_avg_pool2d(x, 1).flatten(1)
    w = F.linear(F.relu(F.linear(w, sd[f"{name}.fc.0.weight"], sd[f"{name}.fc.0.bias"])),
                 sd[f"{name}.fc.2.weight"], sd[f"{name}.fc.2.bias"])
    return x * torch.sigmoid(w).unsqueeze(-1).unsqueeze(-1)


def _dse(sd, r, d, level):
    p = f"dse_layer{level}"
    r_new = _ca(sd, r * _sa(sd, d, f"{p}.sa1") + r, f"{p}.ca1")
    d_new = _ca(sd, d * _sa(sd, d, f"{p}.sa2") + d, f"{p}.ca2")
    return r_new + d_new, d_new


def _base(sd, x, name, padding=1):
    return F.relu(_conv(sd, x, f"{name}.basicconv.0", padding))


def _up(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


def _semantic(sd, index, skip, higher):
    n = len(higher)
    cat = torch.cat([F.interpolate(h, scale_factor=2 ** (n - i)) for i, h in enumerate(higher)], 1)
    s = _conv(sd, _base(sd, cat, f"ddr.c{index}.0", 0), f"ddr.c{index}.1", 1)
    return s * skip + skip


def reference_forward(sd, rgb, depth):
    """Logits of the authors' CDINet with weights ``sd`` (official keys)."""
    depth = torch.cat([depth, depth, depth], 1)
    r1 = _vgg_block(sd, rgb, "vgg_r", 1)
    d1 = _vgg_block(sd, depth, "vgg_d", 1)
    x1 = _rde(sd, r1, d1, 1)
    r2 = _vgg_block(sd, r1, "vgg_r", 2)
    d2 = _vgg_block(sd, x1, "vgg_d", 2)
    x2 = _rde(sd, r2, d2, 2)
    r3 = _vgg_block(sd, r2, "vgg_r", 3)
    d3 = _vgg_block(sd, x2, "vgg_d", 3)
    y3, z3 = _dse(sd, r3, d3, 3)
    r4 = _vgg_block(sd, y3, "vgg_r", 4)
    d4 = _vgg_block(sd, z3, "vgg_d", 4)
    y4, z4 = _dse(sd, r4, d4, 4)
    r5 = _vgg_block(sd, y4, "vgg_r", 5)
    d5 = _vgg_block(sd, z4, "vgg_d", 5)
    y5, _ = _dse(sd, r5, d5, 5)
    f1, f2, f3, f4, f5 = x1, x2, y3, y4, F.relu(_conv(sd, y5, "conv_mid", 1))

    x = f5
    for i in range(3):
        x = _base(sd, x, f"ddr.conv5.{i}")
    d5 = _up(x)
    x = torch.cat([d5, _semantic(sd, 1, f4, [f5])], 1)
    for i in range(3):
        x = _base(sd, x, f"ddr.conv4.{i}")
    d4 = _up(x)
    x = torch.cat([d4, _semantic(sd, 2, f3, [f5, f4])], 1)
    for i in range(3):
        x = _base(sd, x, f"ddr.conv3.{i}")
    d3 = _up(x)
    x = torch.cat([d3, _semantic(sd, 3, f2, [f5, f4, f3])], 1)
    for i in range(2):
        x = _base(sd, x, f"ddr.conv2.{i}")
    d2 = _up(x)
    x = torch.cat([d2, _semantic(sd, 4, f1, [f5, f4, f3, f2])], 1)
    for i in range(2):
        x = _base(sd, x, f"ddr.conv1.{i}")
    return _conv(sd, x, "ddr.conv_map", 1)
