"""Linting throughput on real code, against the parse floor (figures, not a test).

    python benchmarks/lint_throughput.py [--corpus DIR] [--jobs N]

The corpus defaults to the Python files of pinned wheels of transformers, torchvision and
timm, downloaded once (``pip download --no-deps``) into ~/.cache/dropout-guard-corpora.
Printed, in one run, with the same number of processes for each:

  (a) Python's ast.parse of every file — the floor for any analysis written in Python
      (best of 3);
  (b) dropout-guard check, cold (no cache; best of 2);
  (c) dropout-guard check, warm (every part a cache hit; best of 3);
  (d) a one-file run of the CLI vs `python -c "import libcst"` (start-up);
  and libcst's parse of the same files, for reference (one process; slow: ~10x ast).

Ratios (b)/(a), (c)/(b) and (d) are printed at the end. libcst is no dependency of
dropout-guard: without it installed (``pip install libcst``) its rows and (d) are skipped.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

WHEELS = ("transformers==5.24.0", "torchvision==0.29.1", "timm==1.0.31")
CACHE = Path(os.environ.get("DG_CORPORA", Path.home() / ".cache" / "dropout-guard-corpora"))


def corpus() -> Path:
    dest = CACHE / "throughput"
    marker = dest / ".complete"
    if marker.exists():
        return dest
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for spec in WHEELS:
        name = spec.split("==")[0]
        if not any(wheels.glob(f"{name}-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), spec],
                           check=True)
    for whl in wheels.glob("*.whl"):
        if whl.name.split("-")[0] in {s.split("==")[0] for s in WHEELS}:
            with zipfile.ZipFile(whl) as z:
                for info in z.infolist():
                    if info.filename.endswith(".py"):
                        z.extract(info, dest / whl.name.split("-")[0])
    marker.touch()
    return dest


def _parse_one(path: str) -> int:
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        ast.parse(data)
    except (SyntaxError, ValueError):
        pass
    return data.count(b"\n")


def _parse_chunk(paths) -> int:
    return sum(_parse_one(p) for p in paths)


def ast_floor(files, jobs: int) -> float:
    t = time.perf_counter()
    if jobs <= 1:
        _parse_chunk(files)
    else:
        chunks = [files[i::jobs] for i in range(jobs)]
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_parse_chunk, chunks))
    return time.perf_counter() - t


def libcst_parse(files) -> float:
    import libcst

    t = time.perf_counter()
    for p in files:
        try:
            libcst.parse_module(Path(p).read_bytes())
        except Exception:  # noqa: BLE001 - a file libcst cannot parse still costs its time
            pass
    return time.perf_counter() - t


def run_cli(args, cwd) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dropout_guard", "check", "--quiet", "--exit-zero", *args],
                   cwd=cwd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def best_of(n, fn) -> float:
    return min(fn() for _ in range(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, help="a folder of Python files (default: the pinned wheels)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-libcst", action="store_true", help="skip the (slow) libcst reference")
    args = ap.parse_args()
    have_libcst = importlib.util.find_spec("libcst") is not None
    if not have_libcst:
        print("libcst is not installed: its reference rows and ratio (d) are skipped")
    root = (args.corpus or corpus()).resolve()
    files = sorted(str(p) for p in root.rglob("*.py"))
    lines = sum(Path(p).read_bytes().count(b"\n") for p in files)
    print(f"corpus: {root}\n  {len(files)} files, {lines} lines, {args.jobs} processes")

    work = Path(tempfile.mkdtemp(prefix="dg-bench-"))
    try:
        tree = work / "corpus"
        shutil.copytree(root, tree)
        # best of a few runs: the figures are for a quiet machine (the 2-core box this ran on is shared)
        a = best_of(3, lambda: ast_floor(files, args.jobs))
        b = best_of(2, lambda: run_cli(["--no-cache", "--jobs", str(args.jobs), "."], tree))
        run_cli(["--jobs", str(args.jobs), "."], tree)  # fills the cache
        c = best_of(3, lambda: run_cli(["--jobs", str(args.jobs), "."], tree))
        one = tree / "one.py"
        one.write_text("import torch\n\nmodel = torch.nn.Sequential(torch.nn.Dropout())\nmodel(1)\n")
        d1 = best_of(5, lambda: run_cli(["--no-cache", "one.py"], tree))
        d0 = best_of(5, lambda: (lambda t: (subprocess.run([sys.executable, "-c", "import libcst"], check=True),
                                            time.perf_counter() - t)[1])(time.perf_counter())) if have_libcst else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [("(a) ast.parse, the floor", a), ("(b) dropout-guard check, cold", b),
            ("(c) dropout-guard check, warm", c), ("(d) one-file run", d1)]
    if have_libcst:
        rows.append(("    python -c 'import libcst'", d0))
    if have_libcst and not args.skip_libcst:
        rows.append(("libcst.parse_module (1 process, reference)", libcst_parse(files)))
    print(f"\n{'what':45} {'wall s':>9} {'lines/s':>12}")
    for name, t in rows:
        rate = f"{lines / t:12.0f}" if not name.startswith(("(d)", "    python")) else f"{'':>12}"
        print(f"{name:45} {t:9.2f} {rate}")
    print(f"\n(b)/(a) = {b / a:.2f}   (target <= 3)")
    print(f"(c)/(b) = {c / b:.3f}  (target <= 0.05)")
    if have_libcst:
        print(f"(d)     = {d1 / d0:.2f}   (one-file run / import libcst; target <= 1.5)")


if __name__ == "__main__":
    main()
