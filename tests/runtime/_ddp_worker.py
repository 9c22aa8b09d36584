"""One rank of the DDP test (run by test_runtime_parallel.py): argv rank world init outdir."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
import json
import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _rt_models import Encoder  # noqa: E402

from dropout_guard import TrainingModeDropoutError, inference_guard  # noqa: E402


class Net2(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder(2, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.encoder(x))


def main():
    rank, world, init, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)
        model = DistributedDataParallel(Net2())
        x = torch.randn(4, 8)
        result = {"rank": rank, "world_size": dist.get_world_size()}
        with torch.no_grad():
            with inference_guard(model, action="record") as guard:
                model(x)
            result["training_names"] = [[v.name, v.class_name, v.kind]
                                        for v in guard.violations]
            try:
                with inference_guard(model):
                    model(x)
                result["raised"] = None
            except TrainingModeDropoutError as exc:
                result["raised"] = type(exc).__name__
                result["raised_message"] = str(exc)
            model.eval()
            with inference_guard(model) as guard:
                model(x)
            result["eval_violations"] = [v.name for v in guard.violations]
        result["hooks_left"] = sum(len(m._forward_pre_hooks) for m in model.modules())
        dist.barrier()
    finally:
        dist.destroy_process_group()
    with open(os.path.join(outdir, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
