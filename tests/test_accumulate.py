"""train.accumulate (JL-DCF's ``iter_size``): one optimizer step every N batches on the sum of
their gradients, each batch's loss divided by N; the count carries over an epoch's end, and a run
stopped between the batches of a step resumes exactly. A tiny BatchNorm-free network (batch 1 and
batch 4 then compute the same thing) from a module in a temporary folder, on CPU."""
import json
import os
import signal
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

import train
from datasets.synthetic import generate
from models import build_from_config, load_config
from tests.helpers import signalling_script, torchrun
from training.data import build_datasets
from utils.checkpoint import list_checkpoints
from utils.errors import TrainingError
from utils.runtime import ResumableSampler

ROOT = Path(__file__).resolve().parents[1]

TINY_MODEL = '''
import torch
from torch import nn

from models import InputSpec, register_model


class TinyNoNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rgb = nn.Conv2d(3, 4, 3, padding=1)
        self.depth = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, rgb, depth):
        return self.head(torch.relu(self.rgb(rgb) + self.depth(depth)))


@register_model(title="Tiny, no BatchNorm", input_spec=InputSpec(size=32, multiple=2, depth_mean=None,
                                                                  depth_std=None))
def tiny_no_norm(pretrained: bool = False):
    return TinyNoNorm()
'''
# Augmentation off (samples equal whatever the seed), no validation; a clip that bites and weight
# decay, without which Adam's step would not see a constant scale of the gradients (a missing
# division by train.accumulate).
SETTINGS = ["data.augment.size=32", "data.augment.flip=none", "data.augment.rotate_prob=0.0", "data.val_fraction=0.0",
            "train.batch_size=1", "train.amp=none", "train.channels_last=false", "train.deterministic=true",
            "optim.weight_decay=0.1", "optim.grad_clip_value=0.02", "checkpoint.every=1", "checkpoint.keep_last=5",
            "log.scalars_every=1"]


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    """A folder with the network's module, a config naming it (tiny.yaml) and synthetic data."""
    folder = tmp_path_factory.mktemp("my_research")
    (folder / "accumulate_tiny_model.py").write_text(TINY_MODEL)
    (folder / "tiny.yaml").write_text(f"_base_: {ROOT / 'configs' / 'demo.yaml'}\nimports: [accumulate_tiny_model]\n"
                                      "model: {name: tiny_no_norm}\n")
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def data_root(tiny_model_path):
    return generate(tiny_model_path / "data", n_train=8, n_test=1, size=40, seed=7)


def settings(data_root, run_dir, *extra):
    return [f"data.root={data_root}", f"log.dir={run_dir}", *SETTINGS, *extra]


def args_of(data_root, run_dir, *extra):
    argv = ["--config", str(data_root.parent / "tiny.yaml")]
    for item in settings(data_root, run_dir, *extra):
        argv += ["--set", item]
    return train.get_args_parser().parse_args(argv)


def interrupt_in_batch(monkeypatch, batch):
    """Ctrl-C (a real SIGINT) during batch ``batch`` (1-based) of this process: it finishes, and
    the run stops at the next batch boundary."""
    real_loss, calls = train.compute_loss, {"n": 0}

    def loss_then_interrupt(outputs, gt, loss):
        calls["n"] += 1
        if calls["n"] == batch:
            os.kill(os.getpid(), signal.SIGINT)
        return real_loss(outputs, gt, loss)

    monkeypatch.setattr(train, "compute_loss", loss_then_interrupt)


def final_weights(run_dir):
    return torch.load(run_dir / "weights_final.pth", weights_only=True)["model"]


def saved(path):
    checkpoint = torch.load(path, weights_only=True)
    state = checkpoint["state"]
    return (state["epochs_done"], state["step"], state["batch_in_epoch"], state["pending"]), checkpoint["grads"]


def epoch_losses(run_dir):
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "epoch" in r]


def plain_adam(run_dir, batches, summed=False):
    """The weights after one Adam step per list of sample indices in ``batches``, written out
    without train.py: the run's initial weights, its training samples, BCE on the batch (mean;
    ``summed``: times the batch's size), its clip and Adam settings."""
    config = load_config(run_dir / "config.yaml")
    model = build_from_config(config["model"], pretrained=False)
    model.load_state_dict(torch.load(run_dir / "weights_init.pth", weights_only=True)["model"])
    train_set = build_datasets(config, announce=False)[0]
    optim = config["optim"]
    optimizer = torch.optim.Adam(model.parameters(), lr=optim["lr"], betas=tuple(optim["betas"]),
                                 weight_decay=optim["weight_decay"])
    model.train()
    for indices in batches:
        batch = default_collate([train_set[i] for i in indices])
        loss = F.binary_cross_entropy_with_logits(model(batch["rgb"], batch["depth"]), batch["gt"])
        optimizer.zero_grad()
        (loss * len(indices) if summed else loss).backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), optim["grad_clip_value"])
        optimizer.step()
    return model.state_dict()


def test_four_batches_of_one_make_one_step_of_a_batch_of_four(data_root, tmp_path):
    """8 batches of 1 with train.accumulate=4 are two Adam steps on batches of 4 (the same samples
    in the sampler's order), not 8 steps of 1 nor 2 steps on the sum of 4 losses."""
    run_dir = tmp_path / "run"
    assert train.main(args_of(data_root, run_dir, "train.accumulate=4", "train.epochs=1",
                              "log.save_init=true")) == 0
    config = load_config(run_dir / "config.yaml")
    sampler = ResumableSampler(build_datasets(config, announce=False)[0], 1, 0, seed=config["train"]["seed"])
    sampler.set_epoch(1)
    order = list(sampler)
    trained = final_weights(run_dir)

    def close(reference):
        return all(torch.allclose(trained[k], reference[k], rtol=1e-5, atol=1e-8) for k in trained)

    assert close(plain_adam(run_dir, [order[:4], order[4:]]))
    assert not close(plain_adam(run_dir, [[i] for i in order]))
    assert not close(plain_adam(run_dir, [order[:4], order[4:]], summed=True))


def test_a_run_stopped_between_the_batches_of_a_step_resumes_exactly(data_root, tmp_path, monkeypatch):
    """accumulate=3 over 2 epochs of 8 batches: steps after batches 3, 6, 9, 12, 15; batches 7-9
    span the epochs' end, and batch 16 is left over (no step). The other run ends after epoch 1
    (2 batches pending, in its checkpoint), is extended to 2 epochs and stopped by Ctrl-C in
    batch 11 (2 of the step's 3 done), then resumed: the weights equal the uninterrupted run's."""
    straight, run_dir = tmp_path / "straight", tmp_path / "run"
    assert train.main(args_of(data_root, straight, "train.accumulate=3", "train.epochs=2")) == 0
    state, grads = saved(list_checkpoints(straight)[-1])
    assert state == (2, 5, 0, 1) and len(grads) == 1  # batch 16: summed, never stepped

    assert train.main(args_of(data_root, run_dir, "train.accumulate=3", "train.epochs=1")) == 0
    state, grads = saved(list_checkpoints(run_dir)[-1])
    assert state == (1, 2, 0, 2) and sorted(grads[0]) == sorted(final_weights(run_dir))
    extended = args_of(data_root, run_dir, "train.accumulate=3", "train.epochs=2")
    extended.resume, extended.allow_changes = "latest", True
    interrupt_in_batch(monkeypatch, 3)  # batch 11 of the run
    assert train.main(extended) == 130
    assert list_checkpoints(run_dir)[-1].name == "ckpt_e002_s0000003.pth"
    assert saved(list_checkpoints(run_dir)[-1])[0] == (1, 3, 3, 2)
    monkeypatch.undo()
    assert train.main(train.get_args_parser().parse_args(["--resume", str(run_dir)])) == 0
    a, b = final_weights(straight), final_weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert epoch_losses(run_dir) == epoch_losses(straight)


@pytest.mark.slow
def test_torchrun_ranks_keep_their_own_sums_through_a_stop(data_root, tiny_model_path, tmp_path):
    """Two ranks, accumulate=3 (no_sync on the batches that do not step): SIGTERM to rank 0 in its
    batch 5 (2 of a step's 3 done) saves both ranks' sums, and a resumed torchrun run ends with
    the weights of one never stopped."""
    def argv(script, run_dir):
        items = settings(data_root, run_dir, "train.accumulate=3", "train.epochs=2")
        return [str(script), "--config", str(data_root.parent / "tiny.yaml")] + \
            [arg for item in items for arg in ("--set", item)]

    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tiny_model_path), os.environ.get("PYTHONPATH")]))}
    straight, run_dir = tmp_path / "straight", tmp_path / "run"
    status, stderr = torchrun(argv(ROOT / "train.py", straight), env)
    assert status == 0, stderr[-2000:]
    status, stderr = torchrun(argv(signalling_script(tmp_path, 5, "os.kill(os.getpid(), signal.SIGTERM)"),
                                   run_dir), env)
    assert "stopped by SIGTERM" in stderr and "ckpt_e002_s0000001.pth" in stderr, stderr[-2000:]
    state, grads = saved(list_checkpoints(run_dir)[-1])
    assert state == (1, 1, 1, 2) and len(grads) == 2
    assert any(not torch.equal(grads[0][k], grads[1][k]) for k in grads[0])  # each rank's own
    with pytest.raises(TrainingError, match="by 2 process.*resume it with 2"):
        train.main(train.get_args_parser().parse_args(["--resume", str(run_dir)]))
    status, stderr = torchrun([str(ROOT / "train.py"), "--resume", str(run_dir)], env)
    assert status == 0, stderr[-2000:]
    a, b = final_weights(straight), final_weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
