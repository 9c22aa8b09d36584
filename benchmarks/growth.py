"""How cost grows with the size of one function and of one file (figures, not a test).

    python benchmarks/growth.py [--sizes 600,1200,2400] [--functions 5000,10000] [--format json]

Two generated programs, each linted by the real command line in a fresh process
(``dropout-guard check --no-cache --format json``, or ``--format text``):

* **one long function** that predicts with one loaded model ``n`` times (long evaluation
  scripts, generated tests and notebooks look like this): every prediction is a DG101 and a
  DG201, and their fixes (one ``.eval()``, one ``with torch.no_grad():`` block) are shared;
* **one file of many short functions**, each predicting once.

Printed for each size: wall time, CPU time of the process, its peak RSS and the report's
size in bytes, and for each doubling the ratios of time and report size (targets: <= 2.2
per doubling; peak RSS <= 300 MB at 2,400 predictions). Nothing is asserted: this shared
2-core machine varies by tens of percent from run to run, so the figures are read as
ratios measured in the same minutes. tests/test_growth.py checks the same growth without a
clock (work counted in calls, and report bytes).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

MODEL = '''\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1), nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)


'''


def long_function(n: int) -> str:
    """One function predicting ``n`` times with a model loaded from a checkpoint."""
    body = "".join(f"    print(model(x + {i}))\n" for i in range(n))
    return MODEL + "def main(x, path):\n    model = Net()\n    model.load_state_dict(torch.load(path))\n" + body


def many_functions(n: int) -> str:
    """``n`` short functions, each loading a model and predicting once."""
    return MODEL + "".join(f"def predict_{i}(x, path):\n    model = Net()\n    model.load_state_dict(torch.load(path))\n"
                           f"    return model(x + {i})\n\n\n" for i in range(n))


def measure(path: Path, fmt: str) -> dict:
    """Lint ``path`` in a fresh process; its wall and CPU time, peak RSS and report size."""
    code = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
            "wall = time.perf_counter() - t\n"
            "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print(wall, r.ru_utime + r.ru_stime, r.ru_maxrss, len(p.stdout), p.returncode)\n")
    cmd = [sys.executable, "-c", code, sys.executable, "-m", "dropout_guard", "check", "--no-cache",
           "--format", fmt, str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    wall, cpu, rss_kb, size, rc = float(out[0]), float(out[1]), int(out[2]), int(out[3]), int(out[4])
    if rc != 1:
        raise SystemExit(f"dropout-guard exited {rc} on {path.name} (expected 1: findings)")
    return {"wall": wall, "cpu": cpu, "rss_mb": rss_kb / 1024, "bytes": size}


def series(title: str, make, sizes, fmt: str, folder: Path) -> None:
    print(f"\n{title}")
    print(f"{'n':>7} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'report B':>11}   ratios per doubling")
    prev = None
    for n in sizes:
        path = folder / f"gen_{title.split()[0]}_{n}.py"
        path.write_text(make(n))
        m = measure(path, fmt)
        ratio = ""
        if prev is not None:
            ratio = (f"   cpu x{m['cpu'] / max(prev['cpu'], 1e-9):.2f}  wall x{m['wall'] / max(prev['wall'], 1e-9):.2f}"
                     f"  report x{m['bytes'] / max(prev['bytes'], 1):.2f}")
        print(f"{n:>7} {m['wall']:>8.2f} {m['cpu']:>8.2f} {m['rss_mb']:>8.0f} {m['bytes']:>11,}{ratio}")
        prev = m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="600,1200,2400", help="predictions in the long function")
    ap.add_argument("--functions", default="5000,10000", help="functions in the many-functions file")
    ap.add_argument("--format", default="json", choices=("json", "text"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        series("long function (predictions in one body)", long_function,
               [int(s) for s in args.sizes.split(",")], args.format, folder)
        series("many functions (one prediction each)", many_functions,
               [int(s) for s in args.functions.split(",")], args.format, folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
