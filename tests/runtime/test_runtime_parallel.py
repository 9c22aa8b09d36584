"""DataParallel (CPU) and DistributedDataParallel in 2 processes: names inside the wrapper."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from torch import nn

from dropout_guard import TrainingModeDropoutError, inference_guard

from _rt_models import Net, all_hook_counts

X = torch.randn(4, 8)
HERE = os.path.dirname(os.path.abspath(__file__))


def _names_inside_the_wrapper_and_leaves_no_hook(dp: nn.DataParallel, x: torch.Tensor) -> None:
    with pytest.raises(TrainingModeDropoutError) as info:
        with inference_guard(dp):
            dp(x)
    assert info.value.violation.name == "encoder.layers.0.dropout1"
    assert "module." not in str(info.value)
    dp.eval()
    with inference_guard(dp) as guard:
        dp(x)
    assert guard.violations == []
    assert all_hook_counts(dp) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="DataParallel takes the GPUs when there are some")
def test_data_parallel_on_cpu_names_inside_the_wrapped_module():
    dp = nn.DataParallel(Net())
    assert dp.device_ids == []  # no GPU: DataParallel just calls the module
    _names_inside_the_wrapper_and_leaves_no_hook(dp, X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_data_parallel_on_cuda_names_inside_the_wrapped_module():
    dp = nn.DataParallel(Net().cuda())
    assert dp.device_ids  # inputs are scattered to the GPUs, replicated when there are several
    _names_inside_the_wrapper_and_leaves_no_hook(dp, X.cuda())


def test_data_parallel_with_process_wide_guard():
    dp = nn.DataParallel(Net())
    with inference_guard(action="record") as guard:
        dp(X)
    assert guard.violations[0].name == "encoder.layers.0.dropout1"
    assert guard.violations[0].model == "Net"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_data_parallel_two_processes(tmp_path, repo_env):
    """2 gloo ranks: each rank's guard catches its own replica's dropout, by wrapped name."""
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("this torch build has no torch.distributed / gloo")
    init = f"tcp://127.0.0.1:{_free_port()}"
    worker = os.path.join(HERE, "_ddp_worker.py")
    procs = [
        subprocess.Popen([sys.executable, worker, str(rank), "2", init, str(tmp_path)],
                         env=repo_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for rank in range(2)
    ]
    outputs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=600)  # a hang guard: ten times a busy machine
        except subprocess.TimeoutExpired:  # pragma: no cover
            for q in procs:
                q.kill()
            raise
        outputs.append(out.decode(errors="replace"))
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
    for rank in range(2):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert result["world_size"] == 2
        assert result["training_names"] == [
            ["encoder.layers.0.dropout1", "Dropout", "dropout"],
            ["encoder.layers.0.norm", "BatchNorm1d", "batchnorm"],
            ["encoder.layers.1.dropout1", "Dropout", "dropout"],
            ["encoder.layers.1.norm", "BatchNorm1d", "batchnorm"],
        ]
        assert result["raised"] == "TrainingModeDropoutError"
        assert "'encoder.layers.0.dropout1'" in result["raised_message"]
        assert "module." not in result["raised_message"]
        assert result["eval_violations"] == []
        assert result["hooks_left"] == 0
