"""OpenMP's wait policy for a shared CPU, set before torch loads its OpenMP runtime.

torch runs its CPU kernels on an OpenMP team whose idle threads spin for a while at every
barrier (libgomp's default, ``OMP_WAIT_POLICY`` unset). On an idle machine that saves a
wake-up; on a shared one a spinning thread holds a core that the thread it waits for needs, so a
2-core run with one busy process beside it ran 2.8x slower than idle where half the cores would
explain 2x (docs/performance.md, "Under load"; ``python -m bench.load``). With
``OMP_WAIT_POLICY=PASSIVE`` idle threads sleep and a loaded run slows in proportion.

The runtime reads the variable once, when it is loaded (``import torch``), so train.py, test.py,
the test suite and ``python -m bench`` import this module before torch. A user's own
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is kept (``OMP_WAIT_POLICY=ACTIVE`` restores spinning).
"""
from __future__ import annotations

import os
import sys
from typing import MutableMapping

USER_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def prefer_passive_wait(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy; True if it was set. Too
    late (and so not set) once torch is imported: its runtime has read the environment."""
    if "torch" in sys.modules or any(name in environ for name in USER_VARIABLES):
        return False
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


prefer_passive_wait()
