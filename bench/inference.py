"""Inference speed of a registered model per backend and precision: model only and test.py end to end.

- the model: ``--model`` (default ``cdinet``), any registered model with a release-style
  baseline here (``RELEASES``: CDINet, BBS-Net, JL-DCF), at its release size (``--size``, default
  its input spec's ``size``);
- model only: median seconds per forward pass on a random batch, per setting (PyTorch fp32,
  fp32 + channels_last, bf16 autocast + channels_last; onnxruntime fp32 and the Winograd form on
  the CPU);
- end to end: ``test.py`` on real-size images (the DES fixtures of tests/fixtures when present,
  else synthetic 640x480 data), decode + resize + forward + post-processing + PNG writing,
  in images/s, for each setting and batch size;
- side by side, a release-style pipeline: the release's test loop (CDINet_test.py,
  BBSNet_test.py: PIL decoding and torchvision transforms per image; JL-DCF's ``Solver.test``:
  OpenCV decoding and float32 resize per image; each batch 1, ``torch.no_grad``, fp32, default
  memory format, ``F.interpolate`` + sigmoid + min-max, ``cv2.imwrite``) around the release's
  network computed as the release does (CDINet: ``tests/release_reference.py``; BBS-Net and
  JL-DCF: ``models/bbsnet.py``'s ``BBSNet``, ``models/jldcf.py``'s ``JLDCF``, each the release's
  network module for module), the baseline of the ratios and of the map differences (max and
  99th percentile, in gray levels);
- every rate also as GFLOP/s (2 x the network's multiply-accumulates per image, the release's own
  count for its loop) and as a share of the machine's fp32 GEMM peak, measured in the same run
  (``bench.common.gemm_peak``): how close to the hardware's limit each pipeline is;
- weights: the keyed seed-0 weights (``tests/keyed_weights.py``) in the authors' layout
  (deterministic, untrained; BBS-Net's with the ``module.`` prefix of their file; JL-DCF's a bare
  ``state_dict``, as their solver saves it), or
  ``--checkpoint`` (weights of ``--model``). The JSON records the CPU model and flags
  (``bench.common.machine``) and each row's model;
- the figures of a model's ``cpu_backend_costs`` (what ``test.py --backend auto`` weighs): the
  ONNX export and the load of a cached one, the Winograd conversion, and each backend's saving
  over PyTorch with channels_last per 256x256 image.

    python -m bench.inference                        # CDINet, CPU, at its release size
    python -m bench.inference --model bbsnet         # BBS-Net, CPU, at its release size
    python -m bench.inference --model jldcf --batch-sizes 1 --images 5   # JL-DCF, CPU, fewer images
    python -m bench.inference --model bbsnet --images 2 --batch-sizes 1 --repeats 1   # a quick look
    python -m bench.inference --device cuda --batch-sizes 1 8 32 --images 200
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from utils.config import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_RGBD = ROOT / "tests" / "fixtures" / "rgbd"
SETTINGS = {  # --settings key: (label, test.py flags)
    "torch-fp32": ("torch fp32", ["--backend", "torch", "--no-channels-last"]),
    "torch-cl": ("torch fp32 + channels_last", ["--backend", "torch", "--channels-last"]),
    "torch-bf16": ("torch bf16 autocast + channels_last", ["--backend", "torch", "--amp", "bf16", "--channels-last"]),
    "ort": ("onnxruntime fp32", ["--backend", "onnxruntime"]),
    "winograd": ("Winograd F(4x4,3x3) fp32 + channels_last", ["--backend", "winograd"]),
}
CPU_ONLY = {"ort", "winograd"}
BACKEND_SETTING = {"torch": "torch-cl", "onnxruntime": "ort", "winograd": "winograd"}  # test.py --backend: key
CPU_DEFAULT = " (test.py's CPU default)"


@dataclass(frozen=True)
class Release:
    """What the release-style baseline of a model needs of its release: their test script (the
    loop's model), their checkpoint's name, its content filled with the keyed weights of a seed,
    their depth transform's ``Normalize`` (``None``: ``ToTensor`` only; for ``pil_loop``), their
    network as they compute it: ``network(state, device)`` (authors' keys, no wrapper prefix) ->
    ``(rgb, depth) -> map logits``, and their test loop: ``loop(release, network, pairs, size,
    out, device)`` writes ``out/<stem>.png`` for each ``(rgb path, depth path)``, described by
    ``pixels`` in the row."""

    script: str
    file_name: str
    keyed_file: Callable[[int], dict]
    depth_normalize: Optional[Tuple[Tuple[float, ...], Tuple[float, ...]]]
    network: Callable[[dict, object], Callable]
    loop: Optional[Callable[..., None]] = None  # None: pil_loop
    pixels: str = "PIL + torchvision per image"


def _cdinet_keyed_file(seed: int) -> dict:
    from tests.keyed_weights import keyed_official_state_dict

    return keyed_official_state_dict(seed)


def _bbsnet_keyed_file(seed: int) -> dict:
    """As their DataParallel run saved BBSNet.pth: every key with a ``module.`` prefix."""
    from tests.keyed_weights import bbsnet_official_state_dict

    return {f"module.{key}": value for key, value in bbsnet_official_state_dict(seed).items()}


def _jldcf_keyed_file(seed: int) -> dict:
    """As their solver saves a model: the bare ``state_dict`` (no prefix)."""
    from tests.keyed_weights import jldcf_official_state_dict

    return jldcf_official_state_dict(seed)


def _cdinet_network(state: dict, device) -> Callable:
    """``tests/release_reference.py``: the authors' operations in their order (e.g. the semantic
    blocks' concatenation), on the weights as they are."""
    from tests.release_reference import reference_forward

    state = {key: value.to(device) for key, value in state.items()}
    return lambda rgb, depth: reference_forward(state, rgb, depth)


def _bbsnet_network(state: dict, device) -> Callable:
    """``models/bbsnet.py``'s ``BBSNet``, the release's network module for module (tests/test_bbsnet.py),
    loaded strictly as their ``model.load_state_dict``, default memory format; the map is the
    second output (their ``_, res = model(image, depth)``)."""
    from models.bbsnet import BBSNet

    model = BBSNet()
    model.load_state_dict(state, strict=True)
    model = model.to(device).eval()
    return lambda rgb, depth: model(rgb, depth)[1]


def _jldcf_network(state: dict, device) -> Callable:
    """``models/jldcf.py``'s ``JLDCF`` (ResNet-101), the release's network module for module
    (tests/test_jldcf.py), loaded strictly, default memory format; it concatenates the pair into
    one batch as their ``torch.cat((images, depth), 0)`` does, and the map is the first output
    (their ``preds, pred_coarse = self.net(input)``)."""
    from models.jldcf import JLDCF

    model = JLDCF()
    model.load_state_dict(state, strict=True)
    model = model.to(device).eval()
    return lambda rgb, depth: model(rgb, depth)[0]


def pil_loop(release: "Release", network: Callable, pairs: list, size: int, out: Path, device) -> None:
    """CDINet_test.py / BBSNet_test.py: PIL decoding, torchvision ``Resize`` + ``ToTensor`` (+
    ``Normalize``), ``align_corners=False``, the map rounded and written with ``cv2.imwrite``."""
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torchvision import transforms

    rgb_transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                                        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    depth_steps = [transforms.Resize((size, size)), transforms.ToTensor()]
    if release.depth_normalize is not None:
        depth_steps.append(transforms.Normalize(*(list(values) for values in release.depth_normalize)))
    depth_transform = transforms.Compose(depth_steps)
    with torch.no_grad():
        for rgb_path, depth_path in pairs:
            rgb = Image.open(rgb_path).convert("RGB")
            depth = Image.open(depth_path).convert("L")
            inputs = rgb_transform(rgb)[None].to(device), depth_transform(depth)[None].to(device)
            logits = network(*inputs)
            res = torch.sigmoid(F.interpolate(logits, size=rgb.size[::-1], mode="bilinear", align_corners=False))
            res = res[0, 0].cpu().numpy()
            res = (res - res.min()) / (res.max() - res.min() + 1e-8)
            cv2.imwrite(str(out / f"{rgb_path.stem}.png"), (res * 255).round().astype(np.uint8))


def _opencv_image(path: Path, size: int):
    """Their ``load_image_test`` + ``Normalization`` (dataset.py): ``cv2.imread`` (BGR; depth too,
    as 3 channels), float32, ``cv2.resize`` (bilinear) to size x size, BGR -> RGB, / 255, ImageNet
    mean/std; CHW. Also the image's (H, W)."""
    import torch

    image = np.array(cv2.imread(str(path)), dtype=np.float32)
    image_size = tuple(image.shape[:2])
    image = cv2.resize(image, (size, size))[:, :, ::-1] / 255.0
    image -= np.array((0.485, 0.456, 0.406))
    image /= np.array((0.229, 0.224, 0.225))
    return torch.Tensor(image.transpose((2, 0, 1))), image_size


def opencv_loop(release: "Release", network: Callable, pairs: list, size: int, out: Path, device) -> None:
    """JL-DCF's ``Solver.test`` (solver.py): their OpenCV pixels for both inputs, batch 1, the
    map upsampled with ``align_corners=True``, sigmoid, min-max, ``cv2.imwrite(255 * pred)``."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        for rgb_path, depth_path in pairs:
            image, image_size = _opencv_image(rgb_path, size)
            depth, _ = _opencv_image(depth_path, size)
            preds = network(image[None].to(device), depth[None].to(device))
            preds = F.interpolate(preds, image_size, mode="bilinear", align_corners=True)
            pred = torch.sigmoid(preds).squeeze().cpu().numpy()
            pred = (pred - pred.min()) / (pred.max() - pred.min() + 1e-8)
            cv2.imwrite(str(out / f"{rgb_path.stem}.png"), 255 * pred)


RELEASES: Dict[str, Release] = {
    "cdinet": Release("CDINet_test.py", "CDINet.pth", _cdinet_keyed_file, ((0.485,), (0.229,)), _cdinet_network),
    "bbsnet": Release("BBSNet_test.py", "BBSNet.pth", _bbsnet_keyed_file, None, _bbsnet_network),
    "jldcf": Release("solver.py (Solver.test)", "JLDCF.pth", _jldcf_keyed_file, None, _jldcf_network,
                     opencv_loop, "OpenCV per image"),
}


def release_of(name: str) -> Release:
    """The release-style baseline of model ``name``; a model without one is a one-line error."""
    if name not in RELEASES:
        raise SystemExit(f"--model {name}: no release-style baseline in bench/inference.py (RELEASES has "
                         f"{', '.join(sorted(RELEASES))})")
    return RELEASES[name]


def has_bf16_units() -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX); without, PyTorch emulates it."""
    from bench.common import machine

    return any(flag in machine().get("cpu_simd", []) for flag in ("avx512_bf16", "amx_bf16"))


def settings_for(args, cpu_default: str = "torch") -> dict:
    """``{label: flags}`` of the settings to measure on ``args.device``: ``--settings``, else all
    of them except onnxruntime off the CPU and bf16 on a CPU without bf16 units. The label of
    the backend ``test.py --backend auto`` runs on a large CPU job (``cpu_default``) says so."""
    on_cpu = args.device == "cpu"
    default = [key for key in SETTINGS if key != "torch-bf16" or not on_cpu or has_bf16_units()]
    keys = [key for key in args.settings or default if on_cpu or key not in CPU_ONLY]
    marked = BACKEND_SETTING[cpu_default] if on_cpu else None
    return {SETTINGS[key][0] + (CPU_DEFAULT if key == marked else ""): SETTINGS[key][1] for key in keys}


def large_job_backend(model, size: int) -> str:
    """The backend ``--backend auto`` picks on a CPU for a large job (1000 images) of ``model``."""
    import torch

    from inference.backends import Job, choose_backend

    return choose_backend("auto", torch.device("cpu"), "none", False, Job(1000, size),
                          getattr(model, "cpu_backend_costs", None))[0]


def model_only(model, size: int, batch: int, device_name: str, setting: str, repeats: int, onnx_path: Path) -> float:
    """Images/s of the bare forward pass of ``model`` (or of its ONNX file on onnxruntime)."""
    import torch

    from bench.common import median_seconds
    from models.export import OnnxRuntimeModel, example_inputs
    from utils.runtime import autocast_context, channels_last_if

    device = torch.device(device_name)
    rgb, depth = example_inputs(model, batch, size, size)
    if setting.startswith("onnxruntime"):
        runtime = OnnxRuntimeModel(onnx_path)
        return batch / median_seconds(lambda: runtime(rgb, depth), repeats=repeats, warmup=1)
    if setting.startswith("Winograd"):
        from models.winograd import convert_to_winograd

        model = convert_to_winograd(model)[0]  # a copy: the other settings keep the plain model
    channels_last = "channels_last" in setting
    amp = "bf16" if "bf16" in setting else "none"
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    rgb, depth = (channels_last_if(channels_last, x.to(device)) for x in (rgb, depth))

    def forward():
        with torch.inference_mode(), autocast_context(device, amp):
            model(rgb, depth)

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    return batch / median_seconds(forward, repeats=repeats, warmup=1, sync=sync)


def savings(rates: dict, settings: dict, size: int) -> list:
    """Rows of the seconds each CPU backend saves per 256x256 image over PyTorch with
    channels_last, at batch 1 (model only): the ``saving_per_image_256`` of a model's
    ``cpu_backend_costs`` (inference.backends.choose_backend)."""
    labels = {key: next((label for label in settings if label.startswith(SETTINGS[key][0])), None)
              for key in BACKEND_SETTING.values()}
    baseline = rates.get((labels["torch-cl"], 1))
    rows = []
    for backend, key in BACKEND_SETTING.items():
        rate = rates.get((labels[key], 1))
        if key != "torch-cl" and rate and baseline:
            rows.append({"benchmark": "saving over torch fp32 + channels_last (model only, batch 1)",
                         "setting": backend, "value": (1 / baseline - 1 / rate) * (256 / size) ** 2,
                         "unit": "s per 256x256 image"})
    return rows


def benchmark_data(tmp: Path, images: int) -> tuple[Path, str]:
    """A data root and dataset name: DES fixtures (repeated) or synthetic 640x480 images."""
    if FIXTURE_RGBD.is_dir():
        root = tmp / "data"
        for role in ("RGB", "depth"):
            (root / "DES" / role).mkdir(parents=True)
        sources = sorted((FIXTURE_RGBD / "DES" / "RGB").iterdir())
        for i in range(images):
            src = sources[i % len(sources)]
            (root / "DES" / "RGB" / f"{i:04d}{src.suffix}").write_bytes(src.read_bytes())
            depth = FIXTURE_RGBD / "DES" / "depth" / f"{src.stem}.bmp"
            (root / "DES" / "depth" / f"{i:04d}.bmp").write_bytes(depth.read_bytes())
        return root, "DES"
    from datasets.synthetic import generate

    generate(tmp / "syn", 0, images, 480, seed=0)
    return tmp / "syn" / "test", "SYN"


def release_state(model_name: str, checkpoint: Path) -> dict:
    """The checkpoint's weights in the authors' key layout (wrapper prefixes stripped); another
    layout is a one-line error."""
    from models import get_entry
    from models.weights import extract_state_dict, strip_wrapper_prefixes
    from utils.checkpoint import read_checkpoint

    entry = get_entry(model_name)
    state = strip_wrapper_prefixes(extract_state_dict(read_checkpoint(checkpoint), str(checkpoint)))
    if entry.official is None or not entry.official.matches(state):
        raise SystemExit(f"--checkpoint {checkpoint}: the release-style baseline needs the authors' key layout "
                         f"({release_of(model_name).file_name})")
    return state


def release_style(model_name: str, root: Path, name: str, checkpoint: Path, size: int, out: Path,
                  device_name: str) -> float:
    """Images/s of the release's per-image test loop (``Release.loop``: their ``CDINet_test.py`` /
    ``BBSNet_test.py`` / ``Solver.test`` structure) around the release's network as the release
    computes it (``Release.network``) with the checkpoint's weights in the authors' key layout.
    The maps are resized to the RGB image's size, which their loops read from the GT (CDINet,
    BBS-Net) or the RGB (JL-DCF): the same size on these data."""
    import torch

    release = release_of(model_name)
    device = torch.device(device_name)
    network = release.network(release_state(model_name, checkpoint), device)
    out.mkdir(parents=True)
    pairs = [(path, next((root / name / "depth").glob(f"{path.stem}.*")))
             for path in sorted((root / name / "RGB").iterdir())]
    start = time.perf_counter()
    (release.loop or pil_loop)(release, network, pairs, size, out, device)
    return len(pairs) / (time.perf_counter() - start)


def read_maps(folder: Path) -> dict:
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(np.int16) for p in folder.glob("*.png")}


def map_difference(maps: dict, reference: dict) -> str:
    """Max and 99th percentile of the per-pixel gray-level difference, over all images."""
    diff = np.concatenate([np.abs(maps[k] - reference[k]).ravel() for k in reference])
    return f"max {int(diff.max())}, p99 {int(np.percentile(diff, 99))} gray levels"


def release_macs(model_name: str, checkpoint: Path, size: int) -> float:
    """Multiply-accumulates of one forward pass of the release's network computed the release's
    way (``Release.network``; CDINet's ``tests/release_reference.py`` runs the semantic blocks on
    concatenations; BBS-Net's and JL-DCF's are ``BBSNet`` and ``JLDCF`` themselves, so their counts
    are ``models.summary.count_macs``')."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from models import get_entry
    from models.export import example_inputs

    network = release_of(model_name).network(release_state(model_name, checkpoint), torch.device("cpu"))
    rgb, depth = (torch.zeros_like(x) for x in example_inputs(get_entry(model_name), 1, size, size))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        network(rgb, depth)
    return counter.get_total_flops() / 2


def with_gflops(row: dict, macs: float, peak: float) -> dict:
    """``row`` (images/s) with the GFLOP/s that rate means for a network of ``macs`` per image and
    its share of the machine's fp32 GEMM peak."""
    gflops = 2 * macs * row["value"] / 1e9
    return {**row, "gflop_per_s": gflops, "gemm_peak_pct": 100 * gflops / peak}


def run_test_py(command: List[str], what: str) -> None:
    """One ``test.py`` run; a failure is one line with test.py's last line of error output."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        raise SystemExit(f"test.py ({what}) failed with exit status {result.returncode}: {last}")


def end_to_end(args, tmp: Path, root: Path, name: str, checkpoint: Path, macs: float, peak: float,
               settings: dict) -> List[dict]:
    baseline = release_style(args.model, root, name, checkpoint, args.size, tmp / "maps_release_style", args.device)
    reference = read_maps(tmp / "maps_release_style")
    rows = [with_gflops({"benchmark": f"release-style pipeline ({args.device})",
                         "setting": f"{args.size}x{args.size}, batch 1, fp32, {release_of(args.model).pixels}",
                         "value": baseline, "unit": "images/s", "ratio": 1.0},
                        release_macs(args.model, checkpoint, args.size), peak)]
    for setting, flags in settings.items():
        for batch in args.batch_sizes:
            out = tmp / f"maps_{len(rows)}"
            run_test_py(
                [sys.executable, str(ROOT / "test.py"), "--checkpoint", str(checkpoint), "--data-root", str(root),
                 "--datasets", name, "--out", str(out), "--device", args.device, "--size", str(args.size),
                 "--batch-size", str(batch), "--workers", str(args.workers), *flags], f"{setting}, batch {batch}")
            record = json.loads((out / "test_info.json").read_text())["datasets"][name]
            stats, info = record["speed"], record["settings"]
            rows.append(with_gflops({
                "benchmark": f"test.py end to end ({args.device})",
                "setting": f"{args.size}x{args.size}, batch {batch}, {setting}, {args.workers} workers",
                "value": stats["end_to_end_images_per_s"], "unit": "images/s",
                "ratio": stats["end_to_end_images_per_s"] / baseline,
                "note": f"model {stats['model_fps']:.3f} FPS; maps vs release-style: "
                        f"{map_difference(read_maps(out / name), reference)}"
                        + (f"; ONNX {info['onnx_cache']} in {info['onnx_seconds']} s" if "onnx_cache" in info else "")
                        + (f"; Winograd {info['winograd']}" if "winograd" in info else "")},
                macs, peak))
    return rows


def run(args) -> List[dict]:
    import torch

    from bench.common import gemm_peak
    from models import create_model, get_entry, load_weights, model_name_of, read_checkpoint
    from models.export import OnnxRuntimeModel, export_onnx
    from models.summary import count_macs
    from models.winograd import convert_to_winograd

    entry, release = get_entry(args.model), release_of(args.model)
    args.size = args.size or entry.input_spec.size
    entry.input_spec.check_size(args.size, "--size", entry.title)
    if args.checkpoint:
        held = model_name_of(read_checkpoint(args.checkpoint), args.checkpoint)
        if held != args.model:
            raise SystemExit(f"--checkpoint {args.checkpoint} holds {held}, not {args.model}: pass --model {held}")
    peak = gemm_peak()[0]
    rows = [{"benchmark": "fp32 GEMM peak", "value": peak, "unit": "GFLOP/s",
             "setting": f"2048x2048 torch.mm, {torch.get_num_threads()} threads, best of 10"}]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = Path(args.checkpoint) if args.checkpoint else tmp / release.file_name
        if not args.checkpoint:
            torch.save(release.keyed_file(0), checkpoint)
        model = create_model(args.model).eval()
        load_weights(model, checkpoint)
        settings = settings_for(args, large_job_backend(model, args.size))
        macs = count_macs(model, args.size)
        onnx_path = tmp / "model.onnx"
        if any(label.startswith("onnxruntime") for label in settings):
            start = time.perf_counter()
            export_onnx(model, onnx_path, args.size)
            rows.append({"benchmark": "ONNX export (once per checkpoint, then cached)",
                         "setting": "dynamo=True, dynamic shapes",
                         "value": time.perf_counter() - start, "unit": "s"})
            start = time.perf_counter()
            OnnxRuntimeModel(onnx_path)
            rows.append({"benchmark": "ONNX load (a cached export)", "setting": "onnxruntime CPU provider",
                         "value": time.perf_counter() - start, "unit": "s"})
        if any(label.startswith("Winograd") for label in settings):
            start = time.perf_counter()
            convert_to_winograd(copy.deepcopy(model).to(memory_format=torch.channels_last), inplace=True)
            rows.append({"benchmark": "Winograd conversion (once per run)", "setting": "F(4x4, 3x3), >= 128 channels",
                         "value": time.perf_counter() - start, "unit": "s"})
        rates = {}
        for setting in settings if not args.end_to_end_only else []:
            for batch in args.batch_sizes:
                rates[setting, batch] = model_only(model, args.size, batch, args.device, setting, args.repeats,
                                                   onnx_path)
                rows.append(with_gflops({"benchmark": f"model forward ({args.device})",
                                         "setting": f"{args.size}x{args.size}, batch {batch}, {setting}",
                                         "value": rates[setting, batch], "unit": "images/s"}, macs, peak))
        rows += savings(rates, settings, args.size)
        root, name = benchmark_data(tmp, args.images)
        rows += end_to_end(args, tmp, root, name, checkpoint, macs, peak, settings)
    return [{**row, "model": args.model} for row in rows]


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(RELEASES),
                        help=f"a registered model with a release-style baseline (default {DEFAULT_MODEL})")
    parser.add_argument("--size", type=int, help="input height = width (default: the model's release size, "
                        "its input spec's size; a multiple of the spec's multiple)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--images", type=int, default=16, help="images for the end-to-end runs")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward passes (model only)")
    parser.add_argument("--workers", type=int, default=0, help="test.py --workers (default 0, its CPU default)")
    parser.add_argument("--end-to-end-only", action="store_true", help="skip the model-only rows")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS),
                        help="backends and precisions to measure (default: all; ort and winograd only on the CPU; "
                        "torch-bf16 only where the CPU has bf16 units, avx512_bf16 / amx_bf16; elsewhere PyTorch "
                        "emulates bf16)")
    parser.add_argument("--checkpoint", help="weights of --model, ours or the authors' (default: the keyed seed-0 "
                        "weights of tests/ in the authors' layout; the release-style baseline needs that layout; "
                        "trained weights make the bf16 map difference meaningful)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    return parser


def main(argv=None) -> int:
    from bench.common import report
    from utils.cli import run_cli

    def _main(args) -> int:
        report(run(args), args.json)
        return 0

    return run_cli(get_args_parser(), _main, argv)


if __name__ == "__main__":
    sys.exit(main())
