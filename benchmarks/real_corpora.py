"""Real-world regression check: lint pinned releases of PyTorch libraries, compare with a
reviewed baseline.

    python benchmarks/real_corpora.py                # check against the baseline
    python benchmarks/real_corpora.py --update       # rewrite the baseline (then review it)
    python benchmarks/real_corpora.py --only timm --only accelerate

Each package below is downloaded once (``pip download --no-deps``, the exact version, its
sha256 checked) into ``~/.cache/dropout-guard-corpora/wheels`` (``$DG_CORPORA`` moves the
cache), its ``.py``/``.pyi`` files are unpacked beside it, and every one of them is linted
(no excludes, no configuration, no results cache; each package is one project, in its own
process). The findings are matched with ``real_corpora_baseline.json`` on (package, code,
path inside the package, line). The check fails (exit 1) on:

* a finding that is not in the baseline (a new false alarm, or a new catch to review);
* a baseline entry that no longer appears (a lost catch, or a fixed false alarm: review);
* a baseline entry whose verdict is not "bug" or "accepted" (``--update`` writes new
  entries as "unreviewed": a person sets the verdict and a one-line note);
* a crash: the worker dies, prints no report, reports DG000 (a file it could not analyse)
  that the baseline does not accept, or the JSON report does not validate.

Exit 3 (the test skips) when a wheel is not cached and the registry cannot be reached.
Printed: files and lines linted, findings, seconds and peak memory per package.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE = HERE / "real_corpora_baseline.json"
CACHE = Path(os.environ.get("DG_CORPORA") or Path.home() / ".cache" / "dropout-guard-corpora")
VERDICTS = ("bug", "accepted")
EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    wheel: str
    sha256: str
    platform: Optional[str] = None  # binary wheels: download exactly this one

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


PACKAGES = (
    Package("transformers", "5.24.0", "transformers-5.24.0-py3-none-any.whl",
            "ff5ebedf9359f94bb63772b6380eba6e7104d010cbbb2cb82c788817ea7486f6"),
    Package("timm", "1.0.31", "timm-1.0.31-py3-none-any.whl",
            "5bd50f7d0fe6d09bf9285ac2523234a1b7e6bf075c0be3e7aed09139fcb617c7"),
    Package("torchvision", "0.29.1", "torchvision-0.29.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            "2cb678029a5dd45afbbfa662fce49736827d52be33242b5a8a731e0db02ccdf5", platform="manylinux_2_28_x86_64"),
    Package("lightning", "2.6.6", "lightning-2.6.6-py3-none-any.whl",
            "2bcbd6ee840071cd076c7dc9953d7ac1040df92f1c5fa76583aae644f037ab85"),
    Package("accelerate", "1.15.0", "accelerate-1.15.0-py3-none-any.whl",
            "97eacca0b73e45cb867dbf8c5d5d4dc32219544300e0c8992c7334dc2ef33cec"),
)

# pip's messages when the index cannot be reached (as opposed to a wrong pin)
_NETWORK = re.compile(r"NewConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded|Temporary failure in name "
                      r"resolution|Name or service not known|Network is unreachable|No route to host|Connection "
                      r"refused|ProxyError|SSLError|Could not fetch URL|nodename nor servname|getaddrinfo failed",
                      re.IGNORECASE)


class Unreachable(Exception):
    """A wheel is not cached and the registry cannot be reached."""


class Corrupt(Exception):
    """A wheel that does not have the pinned hash, or a pin pip cannot satisfy."""


# -- getting the sources -----------------------------------------------------------------------
def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(pkg: Package, cache: Path) -> Path:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    path = wheels / pkg.wheel
    if path.exists() and sha256(path) == pkg.sha256:
        return path
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
           "--timeout", "30", "--retries", "2", "--only-binary=:all:", "-d", str(wheels), f"{pkg.name}=={pkg.version}"]
    if pkg.platform:
        cmd += ["--platform", pkg.platform, "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not path.exists():
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        if _NETWORK.search(proc.stderr + proc.stdout):
            raise Unreachable(f"cannot download {pkg.name}=={pkg.version}: registry unreachable ({tail[-300:]})")
        raise Corrupt(f"pip download {pkg.name}=={pkg.version} failed: {tail[-500:]}")
    got = sha256(path)
    if got != pkg.sha256:
        path.unlink()
        raise Corrupt(f"{pkg.wheel}: sha256 {got}, pinned {pkg.sha256}")
    return path


def unpack(pkg: Package, wheel: Path, cache: Path) -> Path:
    """The package's .py/.pyi files under ``cache/real_corpora/<name>-<version>/``."""
    dest = cache / "real_corpora" / pkg.key
    marker = dest / ".complete"
    if marker.exists():
        return dest
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if name.endswith((".py", ".pyi")) and ".dist-info/" not in name and ".data/" not in name:
                z.extract(info, dest)
    marker.write_text(pkg.sha256 + "\n")
    return dest


# -- linting (in a child process per package) --------------------------------------------------
WORKER = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from dropout_guard.lint.api import check
from dropout_guard.lint.report import json_
start = time.perf_counter()
result = check(["."], cwd=os.getcwd(), isolated=True, exclude=[], respect_gitignore=False, cache=False, jobs=1)
seconds = time.perf_counter() - start
lines = 0
for path in result.files:
    with open(path, "rb") as fh:
        lines += fh.read().count(b"\n")
report = json_.to_list(result.findings)
print(json.dumps({"files": result.files_checked, "lines": lines, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "findings": report}))
"""


@dataclass
class Outcome:
    pkg: Package
    files: int = 0
    lines: int = 0
    seconds: float = 0.0
    peak_mb: float = 0.0
    findings: Optional[List[dict]] = None  # None: crashed
    error: str = ""


def lint(pkg: Package, src: Path, timeout: float) -> Outcome:
    env = dict(os.environ)
    env.pop("DROPOUT_GUARD_DEBUG", None)
    try:
        proc = subprocess.run([sys.executable, "-c", WORKER, str(REPO)], cwd=src, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(pkg, error=f"did not finish in {timeout:.0f} s (a hang)")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return Outcome(pkg, error=f"the linter crashed (exit {proc.returncode}):\n{tail}")
    try:
        data = json.loads(proc.stdout)
        validate(data["findings"])
    except (ValueError, KeyError, AssertionError) as exc:
        return Outcome(pkg, error=f"invalid report: {type(exc).__name__}: {exc}")
    return Outcome(pkg, data["files"], data["lines"], data["seconds"], data["peak_mb"], data["findings"])


def validate(findings: List[dict]) -> None:
    fields = {"code": str, "name": str, "message": str, "path": str, "line": int, "column": int, "end_line": int,
              "end_column": int}
    for f in findings:
        for key, kind in fields.items():
            assert isinstance(f.get(key), kind), f"{key} of {f}"
        assert "fix" in f
        assert f["line"] >= 1 and f["column"] >= 1 and (f["line"], f["column"]) <= (f["end_line"], f["end_column"])


def source_line(src: Path, path: str, line: int) -> str:
    try:
        lines = (src / path).read_text(encoding="utf-8", errors="replace").splitlines()
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""
    except OSError:
        return ""


# -- the baseline ------------------------------------------------------------------------------
Key = Tuple[str, str, str, int]  # package, code, path, line


def load_baseline(path: Path) -> Dict[Key, dict]:
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"findings": []}
    return {(e["package"], e["code"], e["path"], e["line"]): e for e in data["findings"]}


def write_baseline(path: Path, entries: Sequence[dict]) -> None:
    data = {
        "about": "Findings of benchmarks/real_corpora.py on the pinned packages, each reviewed by a person. "
                 "verdict: 'bug' (a real mode bug in that release) or 'accepted' (correct by the rules, or a "
                 "known, deliberate case); a false alarm is fixed in the analyser, never baselined.",
        "packages": {p.name: p.version for p in PACKAGES},
        "findings": sorted(entries, key=lambda e: (e["package"], e["path"], e["line"], e["code"])),
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def compare(outcomes: Sequence[Outcome], sources: Dict[str, Path], baseline: Dict[Key, dict],
            checked: Sequence[str]) -> Tuple[List[str], List[dict]]:
    """(problems, current entries for --update)."""
    problems: List[str] = []
    current: List[dict] = []
    seen = set()
    for o in outcomes:
        if o.findings is None:
            problems.append(f"CRASH {o.pkg.key}: {o.error}")
            continue
        for f in o.findings:
            key = (o.pkg.name, f["code"], f["path"], f["line"])
            seen.add(key)
            old = baseline.get(key)
            src = source_line(sources[o.pkg.name], f["path"], f["line"])
            entry = {"package": o.pkg.name, "code": f["code"], "path": f["path"], "line": f["line"], "source": src,
                     "verdict": old["verdict"] if old else "unreviewed", "note": old.get("note", "") if old else "",
                     "message": f["message"]}
            current.append(entry)
            where = f"{o.pkg.name}: {f['path']}:{f['line']}:{f['column']}: {f['code']}"
            if old is None:
                kind = "CRASH" if f["code"] == "DG000" else "NEW"
                problems.append(f"{kind} {where} {f['message']}\n      {src}")
            elif old.get("verdict") not in VERDICTS:
                problems.append(f"UNREVIEWED {where}: set its verdict to one of {VERDICTS} in {BASELINE.name}")
            elif old.get("source") and old["source"] != src:
                problems.append(f"CHANGED {where}: the baseline's line reads {old['source']!r}, now {src!r}")
    for key, e in baseline.items():
        if key[0] in checked and key not in seen:
            problems.append(f"GONE {e['package']}: {e['path']}:{e['line']}: {e['code']} ({e.get('verdict')}) no longer "
                            f"reported: review, then --update\n      {e.get('source', '')}")
    return problems, current


# -- main --------------------------------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=[p.name for p in PACKAGES], help="lint only this package")
    ap.add_argument("--update", action="store_true", help="rewrite the baseline with the current findings")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="packages linted at once")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per package")
    args = ap.parse_args(argv)
    packages = [p for p in PACKAGES if not args.only or p.name in args.only]

    sources: Dict[str, Path] = {}
    try:
        for pkg in packages:
            sources[pkg.name] = unpack(pkg, fetch_wheel(pkg, args.cache), args.cache)
    except Unreachable as exc:
        print(f"SKIP: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except Corrupt as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_REGRESSION

    start = time.perf_counter()
    order = sorted(packages, key=lambda p: p.name != "transformers")  # the longest first
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda p: lint(p, sources[p.name], args.timeout), order))
    wall = time.perf_counter() - start
    outcomes.sort(key=lambda o: [p.name for p in PACKAGES].index(o.pkg.name))

    print(f"{'package':24} {'files':>6} {'lines':>9} {'findings':>8} {'seconds':>8} {'peak MB':>8}")
    for o in outcomes:
        n = "crash" if o.findings is None else str(len(o.findings))
        print(f"{o.pkg.key:24} {o.files:6d} {o.lines:9d} {n:>8} {o.seconds:8.1f} {o.peak_mb:8.0f}")
    total_findings = sum(len(o.findings or ()) for o in outcomes)
    print(f"{'total':24} {sum(o.files for o in outcomes):6d} {sum(o.lines for o in outcomes):9d} "
          f"{total_findings:8d} {wall:8.1f} (wall, {args.jobs} at once)")

    baseline = load_baseline(args.baseline)
    problems, current = compare(outcomes, sources, baseline, [p.name for p in packages])
    for e in current:
        print(f"  {e['verdict']:10} {e['package']}: {e['path']}:{e['line']}: {e['code']}  {e['source']}")
    if args.update:
        if any(o.findings is None for o in outcomes):
            print("not updating the baseline: a package crashed", file=sys.stderr)
            return EXIT_REGRESSION
        kept = [e for k, e in baseline.items() if k[0] not in sources]  # packages not linted this time
        write_baseline(args.baseline, kept + [{k: v for k, v in e.items() if k != "message"} for e in current])
        print(f"wrote {args.baseline}: review every 'unreviewed' verdict")
        return EXIT_OK
    if problems:
        print(f"\n{len(problems)} problem(s) against {args.baseline.name}:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return EXIT_REGRESSION
    print("no change against the baseline")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
