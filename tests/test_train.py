"""train.py on tiny synthetic data, CPU: outputs, exact resume, DDP, failure handling."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import py_sod_metrics  # the reference implementation of the metrics (requirements-dev.txt)
import pytest
import torch

import train
import training.validation
from datasets.synthetic import generate
from eval import SODEvaluator
from models import WeightsError, load_config, load_weights
from models.cdinet import CDINet
from tests.keyed_weights import keyed_official_state_dict
from training.data import build_datasets
from training.optim import build_optimizer
from training.run_folder import resolve_run
from utils.checkpoint import atomic_save, list_checkpoints
from utils.errors import ConfigError, NonFiniteLoss, TrainingError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("syn") / "data", n_train=10, n_test=2, size=40, seed=3)


def tiny_args(data_root, run_dir, *extra):
    """Demo config at 32x32, batch 4, fp32, deterministic: 8 training + 2 validation images."""
    sets = [f"data.root={data_root}", f"log.dir={run_dir}", "data.augment.size=32",
            "train.batch_size=4", "train.amp=none", "train.channels_last=false",
            "train.deterministic=true", "data.val_fraction=0.2", "val.every=1",
            "checkpoint.every=1", "checkpoint.keep_last=5", "log.scalars_every=1", *extra]
    argv = ["--config", str(ROOT / "configs" / "demo.yaml")]
    for item in sets:
        argv += ["--set", item]
    return train.get_args_parser().parse_args(argv)


@pytest.fixture(scope="module")
def finished_run(data_root, tmp_path_factory) -> Path:
    """One finished one-epoch run (optim.lr 5e-4), shared by the tests that only read it."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    assert train.main(tiny_args(data_root, run_dir, "train.epochs=1", "optim.lr=5e-4")) == 0
    return run_dir


def final_weights(run_dir):
    return torch.load(run_dir / "weights_final.pth", weights_only=True)["model"]


class RecordingEvaluator(SODEvaluator):
    """train.py's evaluator, keeping each validation's (prediction, GT) pairs, by validation."""
    runs: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pairs = []
        RecordingEvaluator.runs.append(self.pairs)

    def update(self, pred, gt, name=None):
        self.pairs.append((np.array(pred, copy=True), np.array(gt, copy=True)))
        return super().update(pred, gt, name)


def pysodmetrics_sm_mae(pairs) -> tuple[float, float]:
    """PySODMetrics' S-measure and MAE over (uint8 prediction, GT) pairs (GT as uint8 0 / 255)."""
    sm, mae = py_sod_metrics.Smeasure(), py_sod_metrics.MAE()
    for pred, gt in pairs:
        gt = (gt * 255).round().astype(np.uint8) if gt.dtype.kind == "f" else gt.astype(np.uint8)
        sm.step(pred.astype(np.uint8), gt)
        mae.step(pred.astype(np.uint8), gt)
    return sm.get_results()["sm"], mae.get_results()["mae"]


def test_short_run_writes_outputs(data_root, tmp_path, monkeypatch):
    """Checkpoints, config, TensorBoard and log; the logged validation Sm and MAE are PySODMetrics'
    on the maps the validation scored (its two images, each epoch), and best.pth is the best epoch's."""
    run_dir = tmp_path / "run"
    RecordingEvaluator.runs = []
    monkeypatch.setattr(training.validation, "SODEvaluator", RecordingEvaluator)
    # MobileNetV2 streams: a quarter of VGG16's checkpoint bytes; what is written does not depend on the backbone
    assert train.main(tiny_args(data_root, run_dir, "train.epochs=2", "model.backbone.name=mobilenet_v2")) == 0
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt_e001_s0000002.pth", "ckpt_e002_s0000004.pth"]
    assert load_config(run_dir / "config.yaml")["data"]["augment"]["size"] == 32
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    lines = [json.loads(l) for l in (run_dir / "log.jsonl").read_text().splitlines() if "\"epoch\": " in l]
    assert [l["epoch"] for l in lines[:2]] == [1, 2]
    assert [len(pairs) for pairs in RecordingEvaluator.runs] == [2, 2]
    for line, pairs in zip(lines[:2], RecordingEvaluator.runs):
        assert pairs[0][0].dtype == np.uint8 and pairs[0][0].shape == pairs[0][1].shape == (32, 32)
        sm, mae = pysodmetrics_sm_mae(pairs)
        assert line["val"]["Sm"] == pytest.approx(sm, abs=1e-6) and line["val"]["MAE"] == pytest.approx(mae, abs=1e-6)
    best = torch.load(run_dir / "best.pth", weights_only=True)
    assert best["epoch"] in (1, 2) and best["val"]["Sm"] == max(l["val"]["Sm"] for l in lines[:2])
    # A second start on the same folder without --resume must not clobber it.
    with pytest.raises(TrainingError, match="already holds a run"):
        train.main(tiny_args(data_root, run_dir, "train.epochs=2"))


@pytest.mark.slow
def test_resume_gives_identical_weights(data_root, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train.main(tiny_args(data_root, straight, "train.epochs=2", "log.save_init=true")) == 0
    assert train.main(tiny_args(data_root, split, "train.epochs=1")) == 0
    resumed = tiny_args(data_root, split, "train.epochs=2")  # extends the run: a change
    resumed.resume = "latest"
    with pytest.raises(TrainingError, match="--set data.root=.* would change it: add --allow-changes"):
        train.main(resumed)
    resumed.allow_changes = True
    assert train.main(resumed) == 0
    events = [json.loads(l) for l in (split / "log.jsonl").read_text().splitlines() if '"event"' in l]
    assert [e["event"] for e in events] == ["depth", "end", "resume", "depth", "end"]
    assert "train.epochs=2" in events[2]["changes"]
    a, b = final_weights(straight), final_weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and training did change them
    untrained = torch.load(straight / "weights_init.pth", weights_only=True)["model"]
    assert not torch.equal(a["decoder.head.weight"], untrained["decoder.head.weight"])


@pytest.mark.slow
def test_interrupt_mid_epoch_then_resume_gives_identical_weights(data_root, tmp_path, monkeypatch):
    """Ctrl-C in epoch 2 saves a checkpoint named after epoch 2; resuming trains exactly the
    remaining batches with the augmentations they would have had, so the weights and the
    epoch's logged loss equal those of a run that was never interrupted."""
    straight = tmp_path / "straight"
    assert train.main(tiny_args(data_root, straight, "train.epochs=2")) == 0
    run_dir = tmp_path / "run"
    real_loss, calls = train.compute_loss, {"n": 0}

    def interrupt_in_second_epoch(outputs, gt, loss):
        calls["n"] += 1
        if calls["n"] == 4:  # epoch 2, second batch
            raise KeyboardInterrupt
        return real_loss(outputs, gt, loss)

    monkeypatch.setattr(train, "compute_loss", interrupt_in_second_epoch)
    assert train.main(tiny_args(data_root, run_dir, "train.epochs=2")) == 130
    assert list_checkpoints(run_dir)[-1].name == "ckpt_e002_s0000003.pth"
    saved = torch.load(list_checkpoints(run_dir)[-1], weights_only=True)
    assert (saved["state"]["epochs_done"], saved["state"]["step"], saved["state"]["batch_in_epoch"]) == (1, 3, 1)
    monkeypatch.setattr(train, "compute_loss", real_loss)
    # The run folder alone: the config comes from the checkpoint, not from --config or --set.
    resumed = train.get_args_parser().parse_args(["--resume", str(run_dir)])
    assert train.main(resumed) == 0
    end = json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])
    assert end["event"] == "end" and end["step"] == 4
    a, b = final_weights(straight), final_weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)

    def epoch_losses(folder, epoch):
        records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        return [r["loss"] for r in records if r.get("epoch") == epoch]

    assert epoch_losses(run_dir, 2) == epoch_losses(straight, 2)  # all 2 batches, not the last one


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_last_checkpoint(data_root, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    assert train.main(tiny_args(data_root, run_dir, "train.epochs=1")) == 0
    good = list_checkpoints(run_dir)
    monkeypatch.setattr(train, "compute_loss", lambda outputs, gt, loss: (outputs * float("nan")).mean())
    resumed = tiny_args(data_root, run_dir, "train.epochs=2")
    resumed.resume, resumed.allow_changes = "latest", True
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss \(nan\) at epoch 2, step 3"):
        train.main(resumed)
    assert list_checkpoints(run_dir) == good
    assert torch.load(good[-1], weights_only=True)["state"]["step"] == 2


@pytest.mark.slow
def test_resume_of_a_finished_run_says_so_and_changes_nothing(finished_run, capsys):
    run_dir = finished_run
    before = {p: p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}
    capsys.readouterr()
    assert train.main(train.get_args_parser().parse_args(["--resume", str(run_dir)])) == 0
    out = capsys.readouterr().out
    assert "nothing to resume" in out and "finished epoch 1 of train.epochs 1" in out
    assert "--allow-changes --set train.epochs=N (N > 1)" in out
    assert {p: p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()} == before


def test_missing_files_are_named_before_any_data_is_read(tmp_path):
    """A missing model.init or backbone file, or a --resume path that does not exist, is the
    first error, even when the data folder is missing too."""
    nowhere = tmp_path / "no_data"
    with pytest.raises(TrainingError, match=r"--resume .*nonexistent: no such run folder or checkpoint file"):
        train.main(train.get_args_parser().parse_args(["--resume", str(tmp_path / "nonexistent")]))
    with pytest.raises(ConfigError, match=r"model.init: file not found: .*init.pth"):
        train.main(tiny_args(nowhere, tmp_path / "a", f"model.init={tmp_path / 'init.pth'}"))
    with pytest.raises(ConfigError, match=r"model.backbone.weights 'imagnet' is none of: imagenet, none"):
        train.main(tiny_args(nowhere, tmp_path / "b", "model.backbone.weights=imagnet"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_resume_from_weights_only_file_is_refused(finished_run):
    args = train.get_args_parser().parse_args(["--resume", str(finished_run / "weights_final.pth")])
    with pytest.raises(WeightsError, match="is not a training checkpoint"):
        train.main(args)


def test_kill_during_checkpoint_write_keeps_previous(tmp_path):
    path = tmp_path / "ckpt.pth"
    atomic_save({"model": {"w": torch.arange(4.0)}}, path)
    script = textwrap.dedent(f"""
        import os, signal, torch
        from utils.checkpoint import atomic_save
        def dying_save(obj, handle):
            handle.write(b"PK\\x03\\x04 half a zip")
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
        atomic_save({{"model": {{"w": torch.zeros(4)}}}}, {str(path)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT)
    assert result.returncode == -9
    assert torch.equal(torch.load(path, weights_only=True)["model"]["w"], torch.arange(4.0))


@pytest.mark.slow
def test_resume_continues_with_the_saved_config_not_another(finished_run):
    """``--resume`` with another ``--config`` (or none) still trains with the run's own config."""
    run_dir = finished_run
    args = train.get_args_parser().parse_args(["--config", str(ROOT / "configs" / "cdinet.yaml"),
                                               "--resume", str(list_checkpoints(run_dir)[-1])])
    config, path, checkpoint = resolve_run(args)
    assert path == list_checkpoints(run_dir)[-1] and checkpoint["state"]["epochs_done"] == 1
    assert config["optim"]["lr"] == 5e-4 and config["data"]["augment"]["size"] == 32
    assert config["model"]["backbone"]["weights"] == "none"  # demo.yaml's, not cdinet.yaml's imagenet
    args = train.get_args_parser().parse_args(["--resume", str(run_dir), "--set", "optim.lr=1e-3",
                                               "--allow-changes"])
    assert resolve_run(args)[0]["optim"]["lr"] == 1e-3


@pytest.mark.slow
def test_fine_tuning_starts_from_a_full_model_file(data_root, tmp_path):
    """``model.init``: the authors' layout (here with keyed weights) loads strictly; training
    then starts from those weights with a fresh optimizer."""
    official = keyed_official_state_dict(3)
    init = tmp_path / "CDINet.pth"
    torch.save({f"module.{k}": v for k, v in official.items()}, init)
    run_dir = tmp_path / "run"
    assert train.main(tiny_args(data_root, run_dir, "train.epochs=1", "log.save_init=true",
                                f"model.init={init}", "optim.lr=0.0")) == 0
    start = torch.load(run_dir / "weights_init.pth", weights_only=True)["model"]
    reference = CDINet()
    load_weights(reference, official)
    assert all(torch.equal(start[k], v) for k, v in reference.state_dict().items())
    end = final_weights(run_dir)  # lr 0: Adam leaves the weights as they were
    assert all(torch.equal(end[k], v) for k, v in reference.state_dict().items())
    torch.save({"module.vgg_r.conv1.conv1_1.weight": torch.zeros(64, 3, 3, 3)}, init)
    with pytest.raises(WeightsError, match="missing keys"):
        train.main(tiny_args(data_root, tmp_path / "bad", "train.epochs=1", f"model.init={init}"))


@pytest.mark.slow
def test_release_config_keeps_every_image_and_the_release_epochs(data_root, tmp_path):
    release = load_config(ROOT / "configs" / "cdinet.yaml")
    assert release["data"]["val_fraction"] == 0.0 and release["data"]["val_list"] is None
    assert release["checkpoint"]["weights_epochs"] == list(range(85, 121, 5))
    assert release["data"]["preprocess"] == {"resize": "pil", "interpolation": "linear",
                                             "depth_scaling": "release", "depth_resize": "direct",
                                             "depth_holes": "keep"}
    val = load_config(ROOT / "configs" / "cdinet_val.yaml")
    assert val["data"]["val_fraction"] == 0.05
    assert {k: v for k, v in val.items() if k not in ("data", "log")} == \
        {k: v for k, v in release.items() if k not in ("data", "log")}
    # weights at the configured epochs, no best.pth without validation
    run_dir = tmp_path / "run"
    assert train.main(tiny_args(data_root, run_dir, "train.epochs=3", "data.val_fraction=0.0",
                                "checkpoint.weights_epochs=[2, 3]")) == 0
    assert sorted(p.name for p in run_dir.glob("weights_*.pth")) == [
        "weights_e002.pth", "weights_e003.pth", "weights_final.pth", "weights_init.pth"]
    assert not (run_dir / "best.pth").exists()
    last = torch.load(run_dir / "weights_e003.pth", weights_only=True)["model"]
    assert all(torch.equal(last[k], v) for k, v in final_weights(run_dir).items())


def test_lr_schedule_follows_release():
    config = load_config(ROOT / "configs" / "cdinet.yaml")
    optimizer, scheduler = build_optimizer(torch.nn.Linear(1, 1), config, world_size=1)
    lrs = {}
    for epoch in range(1, 121):  # epochs counted from 1, as the release
        lrs[epoch] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
    assert lrs[1] == lrs[39] == pytest.approx(1e-4)
    assert lrs[40] == lrs[79] == pytest.approx(2e-5)
    assert lrs[80] == lrs[119] == pytest.approx(4e-6)
    assert lrs[120] == pytest.approx(8e-7)  # 1e-4 * 0.2 ** (120 // 40): the formula's last epoch


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'train.epoch'"):
        load_config(ROOT / "configs" / "demo.yaml", ["train.epoch=3"])
    with pytest.raises(ConfigError, match="train.epochs: expected int, got str"):
        load_config(ROOT / "configs" / "demo.yaml", ["train.epochs=many"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"_base_: {ROOT / 'configs' / 'cdinet.yaml'}\noptim:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="unknown config key 'optim.learning_rate'"):
        load_config(bad)
    config = load_config(ROOT / "configs" / "cdinet_2185.yaml", ["optim.lr=2e-4"])
    assert [e["root"] for e in config["data"]["train"]] == ["NJU2K/train", "NLPR/train"]
    assert config["optim"]["lr"] == 2e-4 and config["train"]["epochs"] == 120


@pytest.mark.slow
def test_torchrun_two_ranks_stay_identical(data_root, tmp_path):
    run_dir = tmp_path / "ddp"
    with socket.socket() as probe:  # a free port for the rendezvous (torchrun's static one needs a real port)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
            f"--master_port={port}",
            str(ROOT / "train.py"), "--config", str(ROOT / "configs" / "demo.yaml")]
    for item in (f"data.root={data_root}", f"log.dir={run_dir}", "data.augment.size=32",
                 "train.batch_size=2", "train.amp=none", "train.channels_last=false",
                 "train.epochs=2", "data.val_fraction=0.2"):
        argv += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # A session of its own, so a hung run's ranks can be killed with the launcher.
    launcher = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    try:
        _, stderr = launcher.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        raise
    assert launcher.returncode == 0, stderr[-2000:]
    end = json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])
    assert end["step"] == 4  # 8 images / (2 ranks x batch 2) = 2 steps per epoch
    rank0, rank1 = end["rank_param_checksums"]
    assert rank0 == rank1
    saved = final_weights(run_dir)
    assert rank0[0] == pytest.approx(sum(v.double().sum().item() for k, v in saved.items()
                                         if not k.endswith("num_batches_tracked")), rel=1e-12)


def test_each_training_folder_is_listed_once(data_root, monkeypatch):
    """The dataset and the depth-polarity decision share one scan of each source: assembling the
    training data lists every folder of the data root once (``Path.iterdir`` counted here)."""
    from collections import Counter

    listed, real_iterdir = Counter(), Path.iterdir

    def counting_iterdir(self):
        listed[self.resolve()] += 1
        return real_iterdir(self)

    config = load_config(ROOT / "configs" / "demo.yaml", [f"data.root={data_root}", "data.val_fraction=0.2"])
    monkeypatch.setattr(Path, "iterdir", counting_iterdir)
    train_set, val_set, depth = build_datasets(config, announce=False)
    monkeypatch.undo()
    assert len(train_set) + len(val_set) == 10 and set(depth) == {"0"}
    under_root = {path: count for path, count in listed.items() if path.is_relative_to(Path(data_root).resolve())}
    assert {path.name for path in under_root} >= {"RGB", "depth", "GT"} and set(under_root.values()) == {1}, listed
