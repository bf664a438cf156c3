"""train.py stopped by a scheduler's signal, a hard kill's bound, a crash mid-epoch, one run per
folder: tiny synthetic data on CPU (MobileNetV2 streams, 32x32, 8 images, 2 steps per epoch).

Signals are real: the process sends them to itself (``os.kill``) from inside step k, so the
handler path is the one a scheduler's signal takes, at a known step."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train
import training.session
from datasets.synthetic import generate
from models import WeightsError
from tests.helpers import signalling_script, torchrun
from training.run_folder import run_files
from utils.checkpoint import list_checkpoints
from utils.errors import TrainingError

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["data.augment.size=32", "train.batch_size=4", "train.amp=none", "train.channels_last=false",
            "train.deterministic=true", "data.val_fraction=0.0", "checkpoint.every=1", "checkpoint.keep_last=5",
            "log.scalars_every=1", "model.backbone.name=mobilenet_v2", "train.epochs=2"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("syn") / "data", n_train=8, n_test=1, size=40, seed=5)


def settings(data_root, run_dir, *extra):
    return [f"data.root={data_root}", f"log.dir={run_dir}", *SETTINGS, *extra]


def args_of(data_root, run_dir, *extra):
    argv = ["--config", str(ROOT / "configs" / "demo.yaml")]
    for item in settings(data_root, run_dir, *extra):
        argv += ["--set", item]
    return train.get_args_parser().parse_args(argv)


def resume_args(run_dir):
    return train.get_args_parser().parse_args(["--resume", str(run_dir)])


def at_step(monkeypatch, step, action):
    """Run ``action()`` inside training step ``step`` (1-based), during its loss."""
    real_loss, calls = train.compute_loss, {"n": 0}

    def loss_then_act(outputs, gt, loss):
        calls["n"] += 1
        if calls["n"] == step:
            action()
        return real_loss(outputs, gt, loss)

    monkeypatch.setattr(train, "compute_loss", loss_then_act)


def saved_state(path):
    state = torch.load(path, weights_only=True)["state"]
    return state["epochs_done"], state["step"], state["batch_in_epoch"]


def events(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if '"event"' in line]


def final_weights(run_dir):
    return torch.load(run_dir / "weights_final.pth", weights_only=True)["model"]


@pytest.mark.parametrize("name, status, cause", [("SIGTERM", 75, "SIGTERM"), ("SIGUSR1", 75, "SIGUSR1"),
                                                 ("SIGINT", 130, "Ctrl-C")])
def test_a_signal_finishes_the_step_saves_and_names_the_resume_command(data_root, tmp_path, monkeypatch,
                                                                        capsys, name, status, cause):
    run_dir = tmp_path / "run"
    before = signal.getsignal(signal.SIGTERM)
    at_step(monkeypatch, 1, lambda: os.kill(os.getpid(), getattr(signal, name)))
    assert train.main(args_of(data_root, run_dir)) == status
    # step 1 finished, then the run stopped: a mid-epoch checkpoint of epoch 1 after 1 batch
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt_e001_s0000001.pth"]
    assert saved_state(list_checkpoints(run_dir)[0]) == (0, 1, 1)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"stopped by {cause}: saved {run_dir / 'ckpt_e001_s0000001.pth'}")
    assert f"continue with: python train.py --resume {run_dir} (exit status {status})" in line
    assert events(run_dir)[-1]["event"] == "stop" and events(run_dir)[-1]["exit_status"] == status
    assert signal.getsignal(signal.SIGTERM) is before  # the handlers live as long as the training


def test_sigterm_to_the_process_group_spares_the_data_workers(data_root, tmp_path):
    """A scheduler signals every process of the job: the DataLoader workers must not die of it
    (PyTorch's would, ending the run with an error); the main process stops the run."""
    run_dir = tmp_path / "run"
    script = signalling_script(tmp_path, 1, "os.killpg(0, signal.SIGTERM)")
    argv = [sys.executable, str(script), "--config", str(ROOT / "configs" / "demo.yaml")]
    for item in settings(data_root, run_dir, "data.workers=2", "train.epochs=1", "train.batch_size=2"):
        argv += ["--set", item]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 75, result.stderr[-2000:]
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt_e001_s0000001.pth"]
    assert "stopped by SIGTERM" in result.stderr and "Traceback" not in result.stderr


def test_a_preempted_folder_is_refused_for_a_new_run(data_root, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    at_step(monkeypatch, 1, lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert train.main(args_of(data_root, run_dir, "log.save_init=true")) == 75
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(TrainingError) as info:
        train.main(args_of(data_root, run_dir))
    message = str(info.value)
    events_file = next((run_dir / "tensorboard").glob("events.out.tfevents.*")).name
    for name in ("ckpt_e001_s0000001.pth", "log.jsonl", "weights_init.pth", f"tensorboard/{events_file}"):
        assert name in message
    assert f"python train.py --resume {run_dir}" in message and "--set log.dir=" in message
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_a_folder_of_run_files_without_checkpoint_is_named(data_root, tmp_path):
    """As a run killed before its first checkpoint leaves it."""
    run_dir = tmp_path / "run"
    (run_dir / "tensorboard").mkdir(parents=True)
    for name in ("best.pth", "log.jsonl", "weights_init.pth", "tensorboard/events.out.tfevents.1.host.2.0"):
        (run_dir / name).write_bytes(b"x")
    with pytest.raises(TrainingError) as info:
        train.main(resume_args(run_dir))
    assert "no checkpoint (ckpt_e*_s*.pth) in" in str(info.value)
    assert "best.pth, log.jsonl, tensorboard/events.out.tfevents.1.host.2.0, weights_init.pth" in str(info.value)
    with pytest.raises(TrainingError) as info:
        train.main(args_of(data_root, run_dir))
    assert "already holds a run (best.pth, log.jsonl, tensorboard/events.out.tfevents" in str(info.value)
    assert "no checkpoint (ckpt_e*_s*.pth) to --resume from" in str(info.value)
    assert "--set log.dir=" in str(info.value)
    (run_dir / "config.yaml").write_text("a run that never started\n")  # not a run file
    for name in ("best.pth", "log.jsonl", "weights_init.pth", "tensorboard/events.out.tfevents.1.host.2.0"):
        (run_dir / name).unlink()
    assert run_files(run_dir) == []


def test_a_file_unreadable_mid_epoch_keeps_the_done_steps(tmp_path, monkeypatch):
    data = generate(tmp_path / "data", n_train=8, n_test=1, size=40, seed=5)
    run_dir = tmp_path / "run"

    def truncate_every_rgb():
        for path in (data / "train" / "RGB").iterdir():
            path.write_bytes(path.read_bytes()[:40])

    at_step(monkeypatch, 1, truncate_every_rgb)
    with pytest.raises(TrainingError) as info:
        train.main(args_of(data, run_dir, "train.epochs=1"))
    message = str(info.value)
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt_e001_s0000001.pth"]
    assert saved_state(list_checkpoints(run_dir)[0]) == (0, 1, 1)
    assert str(data / "train" / "RGB") in message and "unreadable image" in message
    assert f"saved {run_dir / 'ckpt_e001_s0000001.pth'}" in message
    assert f"python train.py --resume {run_dir} --allow-changes --set data.skip_bad=true" in message
    assert f"python -m datasets.check {data / 'train'}" in message and "\n" not in message


@pytest.mark.slow  # a short training run
def test_time_based_checkpoint_follows_the_clock_not_the_speed(data_root, tmp_path, monkeypatch):
    """The clock jumps 31 minutes during step 1: one checkpoint before step 2, none after (the
    timer restarts), then the last epoch's; epochs every 1000 add none."""
    now = {"t": 1000.0}
    monkeypatch.setattr(training.session, "clock", lambda: now["t"])
    at_step(monkeypatch, 1, lambda: now.update(t=now["t"] + 31 * 60))
    run_dir = tmp_path / "run"
    assert train.main(args_of(data_root, run_dir, "checkpoint.every=1000", "checkpoint.every_minutes=30")) == 0
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt_e001_s0000001.pth", "ckpt_e002_s0000004.pth"]
    assert saved_state(list_checkpoints(run_dir)[0]) == (0, 1, 1)
    timed = [e for e in events(run_dir) if e["event"] == "checkpoint"]
    assert [(e["step"], e["reason"]) for e in timed] == [(1, "checkpoint.every_minutes")]


def test_progress_bar_shows_the_steps_that_will_run(data_root, tmp_path, monkeypatch):
    totals, real_tqdm = [], train.tqdm

    def recording_tqdm(*args, **kwargs):
        totals.append(kwargs["total"])
        return real_tqdm(*args, **kwargs)

    monkeypatch.setattr(train, "tqdm", recording_tqdm)
    assert train.main(args_of(data_root, tmp_path / "run", "train.max_steps=3", "checkpoint.every=1000")) == 0
    assert totals == [2, 1]  # 2 batches per epoch, 3 steps in all


def test_offline_imagenet_error_comes_before_any_data_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, dst, progress=True: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(WeightsError, match="not cached and could not be downloaded"):
        train.main(args_of(tmp_path / "no_data", tmp_path / "run", "model.backbone.weights=imagenet"))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_sigterm_then_resume_gives_identical_weights(data_root, tmp_path, monkeypatch):
    """SIGTERM in step 3 (epoch 2, first batch); --resume trains the remaining batch: the same
    weights and the same logged epoch loss as a run never stopped."""
    straight, run_dir = tmp_path / "straight", tmp_path / "run"
    assert train.main(args_of(data_root, straight)) == 0
    real_loss = train.compute_loss
    at_step(monkeypatch, 3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert train.main(args_of(data_root, run_dir)) == 75
    assert list_checkpoints(run_dir)[-1].name == "ckpt_e002_s0000003.pth"
    monkeypatch.setattr(train, "compute_loss", real_loss)
    assert train.main(resume_args(run_dir)) == 0
    assert events(run_dir)[-1]["event"] == "end" and events(run_dir)[-1]["step"] == 4
    a, b = final_weights(straight), final_weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)

    def epoch_losses(folder):
        records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        return [r["loss"] for r in records if "epoch" in r]

    assert epoch_losses(run_dir) == epoch_losses(straight)


def train_argv(script, data_root, run_dir):
    argv = [str(script), "--config", str(ROOT / "configs" / "demo.yaml")]
    for item in settings(data_root, run_dir, "train.batch_size=2"):
        argv += ["--set", item]
    return argv


@pytest.mark.slow
def test_torchrun_ranks_stop_at_the_same_step_and_resume_identically(data_root, tmp_path):
    """Only rank 0 gets SIGTERM, in step 3: both ranks stop after it (rank 1 through the agreed
    decision; a rank that went on would hang in DDP's all_reduce), rank 0 saves, and a resumed
    torchrun run ends with the weights of one never stopped."""
    straight, run_dir = tmp_path / "straight", tmp_path / "run"
    status, stderr = torchrun(train_argv(ROOT / "train.py", data_root, straight))
    assert status == 0, stderr[-2000:]
    signalling = signalling_script(tmp_path, 3, "os.kill(os.getpid(), signal.SIGTERM)")
    status, stderr = torchrun(train_argv(signalling, data_root, run_dir))
    assert status != 0  # torchrun ends with 1 when a rank exits non-zero: the ranks' 75 is in the log
    assert "stopped by SIGTERM" in stderr and "ckpt_e002_s0000003.pth" in stderr
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt_e001_s0000002.pth", "ckpt_e002_s0000003.pth"]
    assert events(run_dir)[-1]["event"] == "stop" and events(run_dir)[-1]["exit_status"] == 75
    status, stderr = torchrun([str(ROOT / "train.py"), "--resume", str(run_dir)])
    assert status == 0, stderr[-2000:]
    end = events(run_dir)[-1]
    assert end["event"] == "end" and end["step"] == 4 and end["rank_param_checksums"][0] == \
        end["rank_param_checksums"][1]
    a, b = final_weights(straight), final_weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
