"""Which run ``train.py`` starts or continues: one run per folder (``log.dir``), ``--resume``
from a run folder or a checkpoint with the config saved in it, and the command that continues a
stopped run."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from models import config_from_dict, load_config
from models.weights import start_weights_kind
from utils.checkpoint import latest_checkpoint, list_checkpoints, read_training_checkpoint
from utils.cli import first_few
from utils.dist import DistInfo
from utils.errors import ConfigError, TrainingError

DEFAULT_CONFIG = "configs/cdinet.yaml"
# A run folder holds a run when it has one of these (config.yaml alone is a run that never started).
RUN_FILES = ("ckpt_e*_s*.pth", "weights_*.pth", "best.pth", "log.jsonl", "tensorboard/events.out.tfevents.*")


def run_files(run_dir: Path) -> List[str]:
    """The files of a run in ``run_dir`` (``RUN_FILES``), relative to it, sorted."""
    return sorted({str(path.relative_to(run_dir)) for pattern in RUN_FILES for path in Path(run_dir).glob(pattern)})


def resume_command(run_dir: Path, dist: DistInfo) -> str:
    """The command that continues the run of ``run_dir``."""
    launcher = "torchrun <the same options> train.py" if dist.distributed else "python train.py"
    return f"{launcher} --resume {shlex.quote(str(run_dir))}"


def locate_resume_checkpoint(resume: str, config_path: Optional[str], overrides: List[str]) -> Path:
    """The checkpoint that ``--resume`` names: a file, the latest of a run folder, or (bare
    ``--resume``) the latest of the run folder (``log.dir``) of ``--config`` and ``--set``."""
    if resume == "latest":
        run_dir = Path(load_config(config_path or DEFAULT_CONFIG, overrides)["log"]["dir"])
    elif Path(resume).is_dir():
        run_dir = Path(resume)
    elif Path(resume).is_file():
        return Path(resume)
    else:
        raise TrainingError(f"--resume {resume}: no such run folder or checkpoint file")
    path = latest_checkpoint(run_dir)
    if path is None:
        found = run_files(run_dir)
        holds = f", only {first_few(found)} (the run stopped before its first checkpoint)" if found else ""
        raise TrainingError(f"--resume: no checkpoint (ckpt_e*_s*.pth) in {run_dir}{holds}"
                            + ("; start a new run with --set log.dir=..." if found else ""))
    return path


def resolve_run(args: argparse.Namespace) -> Tuple[Dict[str, Any], Optional[Path], Optional[Dict[str, Any]]]:
    """The config, and for ``--resume`` the checkpoint's path and content.

    A resumed run continues with the config saved in its checkpoint, never silently with
    another one: a ``--set`` other than ``log.dir`` (which names the run folder) is refused
    with ``--resume`` unless ``--allow-changes`` says so; ``--config`` is not read then.
    """
    overrides = list(args.set) + ([f"train.device={args.device}"] if args.device else [])
    if args.resume is None:
        return load_config(args.config or DEFAULT_CONFIG, overrides), None, None
    changes = [item for item in args.set if item.split("=", 1)[0].strip() != "log.dir"]
    if changes and not args.allow_changes:
        raise TrainingError(f"--resume continues the run with the config saved in its checkpoint; "
                            f"--set {changes[0]} would change it: add --allow-changes to apply it "
                            f"(recorded in log.jsonl) or start a new run")
    path = locate_resume_checkpoint(args.resume, args.config, overrides)
    checkpoint = read_training_checkpoint(path)
    config = config_from_dict(checkpoint["config"], overrides, where=f"{path} (saved config)")
    return config, path, checkpoint


def check_files(config: Dict[str, Any]) -> None:
    """Files a new run needs, checked before any data is read or worker started."""
    init, weights = config["model"]["init"], (config["model"].get("backbone") or {}).get("weights", "none")
    if init and not Path(init).is_file():
        raise ConfigError(f"model.init: file not found: {init}")
    start_weights_kind(weights, error=ConfigError)


def check_new_run_folder(run_dir: Path, dist: DistInfo) -> None:
    """One run per folder: a new run never writes into a folder that holds another run's files
    (``RUN_FILES``: checkpoints, weights, log, TensorBoard events), so best.pth, log.jsonl and
    the events are never mixed."""
    found = run_files(run_dir)
    if not found:
        return
    ways = (f"continue it with `{resume_command(run_dir, dist)}` or start a new run in another folder"
            if list_checkpoints(run_dir) else
            "it has no checkpoint (ckpt_e*_s*.pth) to --resume from: start a new run in another folder")
    raise TrainingError(f"run folder {run_dir} already holds a run ({first_few(found)}); {ways} with --set log.dir=...")
