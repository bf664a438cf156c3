"""Threads on a shared CPU: OpenMP's passive wait policy is in the environment when torch loads
(utils/cpu_threads.py), a user's own policy is kept, and DataLoader workers run OpenCV
sequentially, without deadlocking after the parent used OpenCV's pool, and run the caller's
worker start (utils/runtime.py)."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from tests.helpers import PROJECT_ROOT
from utils.runtime import make_loader

# Records OMP_WAIT_POLICY at the moment torch is first imported, then imports the entry point.
PROBE = """
import importlib.abc, os, sys, json
seen = {}
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" and "torch" not in seen:
            seen["torch"] = os.environ.get("OMP_WAIT_POLICY")
        return None
sys.meta_path.insert(0, Watch())
import importlib.util
spec = importlib.util.spec_from_file_location("entry", sys.argv[1])
module = sys.modules["entry"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(seen))
"""


def policy_when_torch_loads(script: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", PROBE, str(PROJECT_ROOT / script)], cwd=PROJECT_ROOT,
                         env={**environ, **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_train_and_test_scripts_set_passive_wait_before_torch_loads():
    assert policy_when_torch_loads("train.py") == '{"torch": "PASSIVE"}'
    assert policy_when_torch_loads("test.py") == '{"torch": "PASSIVE"}'


@pytest.mark.slow  # starts a fresh interpreter with torch
def test_a_users_own_wait_policy_is_kept():
    assert policy_when_torch_loads("train.py", OMP_WAIT_POLICY="ACTIVE") == '{"torch": "ACTIVE"}'
    assert policy_when_torch_loads("test.py", GOMP_SPINCOUNT="1000") == '{"torch": null}'


class WorkerThreads(Dataset):
    """Each item: OpenCV's thread count in the process that read it, and the marker the
    caller's worker start left (or -1)."""

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return torch.tensor([cv2.getNumThreads(), int(os.environ.get("WORKER_MARK", "-1"))])


def mark_worker(worker_id: int) -> None:
    os.environ["WORKER_MARK"] = str(100 + worker_id)


def test_loader_workers_run_opencv_sequentially_and_the_callers_start():
    image = np.random.default_rng(0).random((1500, 1500, 3), dtype=np.float32)
    cv2.resize(image, (700, 700))  # the parent's pool is started before the workers fork
    loader = make_loader(WorkerThreads(), 1, 1, torch.device("cpu"), worker_init_fn=mark_worker)
    assert [batch.tolist() for batch in loader] == [[[1, 100]], [[1, 100]]]
