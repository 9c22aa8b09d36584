"""Subset consistency on real repositories (a check, not a test: it needs fetched code).

    python benchmarks/subset_consistency.py REPO_DIR [REPO_DIR ...] [--files N] [--seed S]

For each repository folder: ``check .`` once, then ``check FILE`` for every Python file and
notebook (or a seeded sample of ``--files`` of them), each with no results cache, and the
findings of each single-file run compared with what the whole run reports in that file
(code, line, column, message). A repository without a project marker (pyproject.toml,
setup.cfg, setup.py, .git) is given an empty ``pyproject.toml`` for the run, as its
checkout would have one. Prints, per repository, the files compared, those that differ
(with the difference) and the time of the whole run and of the single-file runs; exits 1
on any difference. The fixtures' version of this check is tests/test_context.py.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dropout_guard.lint.api import check  # noqa: E402
from dropout_guard.lint.engine import PROJECT_MARKERS  # noqa: E402

Key = Tuple[str, int, int, str]


def by_file(findings) -> Dict[str, List[Key]]:
    out: Dict[str, List[Key]] = {}
    for f in findings:
        out.setdefault(f.abspath, []).append((f.code, f.line, f.column, f.message))
    return {k: sorted(v) for k, v in out.items()}


def one_repo(root: Path, sample: int, seed: int) -> int:
    made = None
    if not any((root / m).exists() for m in PROJECT_MARKERS):
        made = root / "pyproject.toml"
        made.write_text("")
    try:
        t0 = time.perf_counter()
        whole = check(["."], cwd=root, isolated=True)
        t_whole = time.perf_counter() - t0
        expected = by_file(whole.findings)
        files = sorted(str(Path(p)) for p in whole.files)
        if sample and len(files) > sample:
            files = sorted(random.Random(seed).sample(files, sample))
        differ = 0
        t0 = time.perf_counter()
        for rel in files:
            alone = check([rel], cwd=root, isolated=True)
            got = by_file(alone.findings)
            want = expected.get(os.path.abspath(os.path.join(root, rel)), [])
            have = got.get(os.path.abspath(os.path.join(root, rel)), [])
            if want != have:
                differ += 1
                print(f"  DIFFERS {rel}: whole run {len(want)} findings, alone {len(have)}")
                for k in sorted(set(want) ^ set(have)):
                    print(f"    {'only whole' if k in want else 'only alone'}: {k[0]} {k[1]}:{k[2]} {k[3][:90]}")
        t_alone = time.perf_counter() - t0
        print(f"{root.name}: {len(whole.files)} files, {len(whole.findings)} findings; compared {len(files)} files "
              f"alone: {differ} differ; whole run {t_whole:.1f} s, single-file runs {t_alone:.1f} s "
              f"({t_alone / max(len(files), 1):.2f} s each)")
        return differ
    finally:
        if made is not None:
            made.unlink()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repos", nargs="+", type=Path)
    ap.add_argument("--files", type=int, default=0, help="compare a sample of this many files per repository")
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args(argv)
    bad = sum(one_repo(r.resolve(), args.files, args.seed) for r in args.repos)
    print("all files agree" if not bad else f"{bad} files differ")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
