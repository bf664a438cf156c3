"""OpenMP's wait policy for a shared CPU, set before torch loads its OpenMP runtime.

torch runs its CPU kernels on an OpenMP team whose idle threads spin for a while at every
barrier (libgomp's default, ``OMP_WAIT_POLICY`` unset). On an idle machine that saves a
wake-up; on a shared one a spinning thread holds a core that the thread it waits for needs, so a
run beside a busy process slows far more than the cores it lost explain. With
``OMP_WAIT_POLICY=PASSIVE`` idle threads sleep and a loaded run slows in proportion
(``python -m bench.load``; figures in docs/performance.md, "Under load").

The runtime reads the variable once, when it is loaded (``import torch``), so train.py, test.py,
the test suite and ``python -m bench`` import this module before torch. A user's own
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is kept (``GOMP_SPINCOUNT=300000`` restores libgomp's
default spinning).
"""
from __future__ import annotations

import os
import sys
from typing import MutableMapping

USER_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def prefer_passive_wait(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy. Too late (and so not
    set) once torch is imported: its runtime has read the environment."""
    if "torch" not in sys.modules and not any(name in environ for name in USER_VARIABLES):
        environ["OMP_WAIT_POLICY"] = "PASSIVE"


prefer_passive_wait()
