"""Stopping a run between two batches, on every rank at once: a signal or Ctrl-C
(``checkpoint.signals``), a batch that failed to read, or an error of this rank alone; each
stop saves what it can and says, in one line, which checkpoint holds the run and the command
that continues it."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Dict, NoReturn, Optional, Tuple

from utils.checkpoint import latest_checkpoint
from utils.cli import one_line
from utils.dist import agree_max
from utils.errors import CDINetError, DatasetError, TrainingError
from utils.preemption import StopSignals

from .data import resolve_sources
from .run_folder import resume_command
from .session import Session

# Errors in the training loop after which its last completed step is saved: a bad file, a full
# disk, out of memory, a dead DataLoader worker (other exceptions are bugs and propagate as they are).
RESUMABLE_ERRORS = (CDINetError, OSError, RuntimeError)


class AgreedStop(Exception):
    """Every rank stops at this step boundary (:func:`step_boundary`): ``code`` a stop request
    (``utils.preemption.StopSignals.code``), or ``failure`` (1, 2 for a bad data file) reading a
    batch, ``error`` being this rank's own (None where another rank failed)."""

    def __init__(self, code: int, failure: int, error: Optional[Exception]):
        super().__init__(code, failure)
        self.code, self.failure, self.error = code, failure, error


def next_batch(batches) -> Tuple[Optional[Dict[str, Any]], Optional[Exception]]:
    """The next batch, or the error reading it raised (the ranks then stop together), or
    (None, None) at the end of the epoch."""
    try:
        return next(batches), None
    except StopIteration:
        return None, None
    except RESUMABLE_ERRORS as error:  # handled at the step boundary
        return None, error


def step_boundary(session: Session, stops: StopSignals, error: Optional[Exception]) -> None:
    """Between two batches, where the state is resumable, every rank takes the same decision (one
    all_reduce): stop (raise :class:`AgreedStop`) when any rank was asked to by a signal or
    failed to read its batch (``error``); else save a checkpoint when ``checkpoint.every_minutes``
    have passed on rank 0's clock; else go on."""
    failure = 0 if error is None else 2 if isinstance(error, DatasetError) else 1
    code, failure, due = agree_max([stops.code, failure, int(session.checkpoint_due())], session.device)
    if code or failure:
        raise AgreedStop(code, failure, error)
    if due:
        path = session.checkpoint_now()
        session.recorder.event(event="checkpoint", reason="checkpoint.every_minutes", step=session.state.step,
                               checkpoint=str(path))


def progress_text(session: Session, path: Optional[Path]) -> str:
    """``saved <checkpoint> (epoch 3, step 25)``, or which checkpoint is left where none was saved."""
    state = session.state
    where = f"epoch {state.epochs_done + 1}, step {state.step}"
    if path is not None:
        return f"saved {path} ({where})"
    if not session.dist.is_main:
        return f"rank 0 saved a checkpoint ({where})"
    last = latest_checkpoint(session.run_dir)
    return f"nothing saved in {where} (not between two steps); the last checkpoint is {last}"


def stopped(session: Session, cause: str, status: int, path: Optional[Path]) -> int:
    """Say that the run stopped on request (``cause``; one line naming the checkpoint and the
    command that continues it), record it, and return ``status``."""
    session.recorder.event(event="stop", cause=cause, step=session.state.step, checkpoint=str(path), exit_status=status)
    if session.dist.is_main:
        print(f"stopped by {cause}: {progress_text(session, path)}; continue with: "
              f"{resume_command(session.run_dir, session.dist)} (exit status {status})", file=sys.stderr, flush=True)
    return status


def keep_work(session: Session, error: Optional[Exception], path: Optional[Path], failure: int) -> NoReturn:
    """Raise ``error`` of a run that had started training, after the checkpoint ``path`` of its
    last completed step, saying how to continue; a bad data file (``failure`` 2, here or on
    another rank) names ``data.skip_bad`` and ``datasets.check``. A RuntimeError (out of memory,
    a dead worker) keeps its traceback after that one line."""
    command = resume_command(session.run_dir, session.dist)
    cause = one_line(error) if error is not None else "another rank failed to read its batch (its error names why)"
    advice = f"{progress_text(session, path)}; continue with: {command}"
    if failure == 2:
        roots = " ".join(shlex.quote(str(source.root)) for source in resolve_sources(session.config))
        advice = (f"{progress_text(session, path)}; replace the file and continue with: {command}, or skip bad "
                  f"samples: {command} --allow-changes --set data.skip_bad=true "
                  f"(`python -m datasets.check {roots}` lists them all)")
    session.recorder.event(event="error", error=cause, step=session.state.step, checkpoint=str(path))
    if error is None or isinstance(error, (CDINetError, OSError)):
        raise TrainingError(f"{cause}; {advice}") from error
    if session.dist.is_main:
        print(f"the run stopped on the error below; {advice}", file=sys.stderr, flush=True)
    raise error
