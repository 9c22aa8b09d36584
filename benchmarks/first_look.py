"""First-look precision and recall: re-check a judged batch of public repositories.

A *first-look batch* is a set of public PyTorch repositories that nobody on the project had
linted before, linted once with the analyser as a new user would run it, and judged by hand
(``benchmarks/first_look/batch1.json``):

* ``repos``: owner/name, the commit linted, the folder name, files and lines linted and every
  finding of that first run (path, notebook cell, line, code);
* ``sample``: a seeded, stratified random sample of those findings, each judged ``true`` (a real
  mode/grad bug), ``debatable`` or ``false`` with a one-line reason and, for false ones, the
  program shape that fooled the analysis;
* ``scripts_read`` and ``bugs``: training/evaluation scripts read by hand and every real mode
  bug found in them, with the code the contract expects, whether the first run reported it
  and, for misses, the shape that hid it;
* ``dg101_census`` (optional): every DG101 finding of the first run, judged like the sample;
* ``ignore_codes`` (optional): codes that are no mode findings and were left out of the record
  (batch 2 leaves out DG000, the notice for a file or cell that does not parse); a new run's
  findings with these codes are left out too.

Batches: ``batch1.json`` (21 repositories, tool at 892a538), ``batch2.json`` (19 others, tool
at 65ca95f), ``batch3a.json`` and ``batch3b.json`` (6 + 6 others, tool at eb32c52, judged by two
judges who had not written the analysis), ``batch4a.json`` and ``batch4b.json`` (10 + 6 others,
tool at f0dca64, two more such judges, who recorded the bugs of the scripts they read before
they saw the run), ``batch5a.json`` and ``batch5b.json`` (11 + 8 others, tool at 8f2195c, judged
the same way), ``batch6a.json`` and ``batch6b.json`` (8 + 8 others, tool at e7135fc), ``batch7a.json`` and
``batch7b.json`` (14 + 8 others, tool at 383cbcc), ``batch8a.json`` and ``batch8b.json`` (12 + 13
others, tool at 77aeacf); later pairs follow the same pattern up to ``batch14a.json`` / ``batch14b.json``,
``batch15m.json``, ``batch16m.json``, ``batch17m.json`` and ``batch18m.json`` were judged by the
analysis' maintainer, not by an independent judge (their ``notes`` say so); ``batch17a.json`` /
``batch17b.json``, ``batch19c.json`` / ``batch19d.json``, ``batch20e.json`` / ``batch20f.json``
``batch21g.json`` / ``batch21h.json``, ``batch22i.json`` / ``batch22j.json`` / ``batch22k.json``,
``batch23a.json`` / ``batch23b.json`` / ``batch23c.json``, ``batch24a.json`` / ``batch24b.json`` /
``batch24c.json``, ``batch25a.json`` / ``batch25b.json``, ``batch26a.json`` / ``batch26b.json`` /
``batch26c.json``, ``batch27a.json`` / ``batch27b.json``, ``batch28a.json`` / ``batch28b.json`` /
``batch28c.json``, ``batch29a.json`` / ``batch29b.json`` / ``batch29c.json``, ``batch30a.json`` /
``batch30b.json`` / ``batch30c.json`` and ``batch31a.json`` / ``batch31b.json`` / ``batch31c.json`` by
independent judges again. ``--record`` (or ``--batch``) may be given more than once; each batch is scored on
its own, with its repositories looked up in the same ``REPOS`` folder. Folder names clash once:
``FixMatch-pytorch`` is kekmodel's in batch 22i and LeeDoYup's in batch 23b, so score those two
batches from separate folders.

This script re-runs ``dropout-guard check`` on the already-fetched repositories and says what
changed since the judgement:

* **precision**: which sampled findings are still reported (a false one gone is good, a true one
  gone is a lost catch), the precision over the sample that is still reported, and the false
  alarms per 100k lines (each repository's false share in its sample x its findings now / lines);
* **recall**: which recorded bugs are now reported (same file, code, cell and line, or one of the
  bug's ``alt_lines``, the other call sites the contract may name);
* **unreviewed**: findings that were not in the first run (new catches or new false alarms).

Usage (offline; nothing is downloaded)::

    python benchmarks/first_look.py /work/firstlook-repos
    python benchmarks/first_look.py REPOS --record benchmarks/first_look/batch1.json --save OUT/
    python benchmarks/first_look.py REPOS --from-json OUT/     # score saved reports, no run
    python benchmarks/first_look.py REPOS --listed-files       # lint only the recorded files
    python benchmarks/first_look.py REPOS --batch benchmarks/first_look/batch2.json
    python benchmarks/first_look.py REPOS --batch benchmarks/first_look/batch1.json \
        --batch benchmarks/first_look/batch2.json                # both, scored one after the other

``REPOS`` holds one folder per repository, named as the record's ``name`` field, with the
repository's tree at the recorded ``commit``. To get them: with the project's ``fetch`` tool
(``github:<owner>/<name>``, then ``git --git-dir=<dir> archive <commit> | tar -x -C REPOS/<name>``;
when a snapshot's large files are absent, export only ``.py``/``.ipynb`` blobs with
``git ls-tree -r <commit>`` and ``git cat-file blob``), or with git::

    git clone https://github.com/<owner>/<name> REPOS/<name>
    git -C REPOS/<name> checkout <commit>

Each repository is linted from its own root (``--format json --no-cache --exit-zero .``), as
the batch was. ``--listed-files`` lints only the files the record names (faster, but cross-file
facts are then limited to those files, so findings may differ). Exit status: 0 when every
repository was found and linted, 2 on a usage error or a missing repository, 1 when a run failed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

HERE = Path(__file__).resolve().parent
DEFAULT_RECORD = HERE / "first_look" / "batch1.json"
VERDICTS = ("true", "debatable", "false")
SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", "build", "dist"}

Key = Tuple[str, Optional[int], int, str]  # path, notebook cell (None in .py), line, code


def finding_key(item: Mapping) -> Key:
    """The identity of a finding: path (as the run prints it), cell, line and code."""
    cell = item.get("cell")
    return (str(item["path"]).replace(os.sep, "/"), None if cell is None else int(cell),
            int(item["line"]), str(item["code"]))


def index_findings(findings: Iterable[Mapping]) -> Set[Key]:
    return {finding_key(f) for f in findings}


def count_lines(root: Path) -> Tuple[int, int]:
    """Files and lines the analyser would read: .py/.pyi lines, notebooks' code-cell lines."""
    files = lines = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in filenames:
            path = Path(dirpath, name)
            if name.endswith((".py", ".pyi")):
                files += 1
                lines += path.read_bytes().count(b"\n")
            elif name.endswith(".ipynb"):
                files += 1
                try:
                    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
                except (ValueError, UnicodeDecodeError):
                    continue
                for cell in cells:
                    if cell.get("cell_type") == "code":
                        src = cell.get("source", "")
                        src = "".join(src) if isinstance(src, list) else src
                        lines += len(src.splitlines())
    return files, lines


# ---------------------------------------------------------------------------- scoring


def score(record: Mapping, current: Mapping[str, Sequence[Mapping]]) -> Dict:
    """Compare a judged record with the findings of a new run (``current``: name -> findings).

    Repositories missing from ``current`` are left out of every figure; findings whose code the
    record lists in ``ignore_codes`` are left out of the run.
    """
    ignore = set(record.get("ignore_codes", ()))
    now = {name: index_findings(f for f in items if f["code"] not in ignore)
           for name, items in current.items()}
    repos = [r for r in record["repos"] if r["name"] in now]
    names = {r["name"] for r in repos}

    sample = []
    for item in record["sample"]:
        if item["name"] not in names:
            continue
        sample.append(dict(item, still=finding_key(item) in now[item["name"]]))
    kept = [s for s in sample if s["still"]]
    gone = [s for s in sample if not s["still"]]

    def tally(items: Sequence[Mapping]) -> Dict[str, int]:
        c = Counter(s["verdict"] for s in items)
        return {v: c.get(v, 0) for v in VERDICTS}

    by_code = {}
    for code in sorted({s["code"] for s in kept}):
        by_code[code] = tally([s for s in kept if s["code"] == code])

    # Per-repository shares of the still-reported sample, weighted by findings now. A repository
    # whose sample is all gone (or was empty) takes the share of the whole kept sample.
    overall = tally(kept)
    n_kept = max(1, len(kept))
    weighted = {v: 0.0 for v in VERDICTS}
    total_now = total_lines = 0
    unreviewed = {}
    for r in repos:
        found = now[r["name"]]
        total_now += len(found)
        total_lines += int(r["lines"])
        first = {finding_key(dict(path=k[0], cell=k[1], line=k[2], code=k[3])) for k in
                 (tuple(x) for x in r.get("finding_keys", []))}
        new = sorted(found - first, key=lambda k: (k[0], k[1] or 0, k[2], k[3]))
        if new:
            unreviewed[r["name"]] = new
        mine = [s for s in kept if s["name"] == r["name"]]
        shares = tally(mine) if mine else overall
        denom = len(mine) if mine else n_kept
        for v in VERDICTS:
            weighted[v] += len(found) * shares[v] / denom
    per_100k = (lambda n: 1e5 * n / total_lines) if total_lines else (lambda n: 0.0)

    census = [dict(c, code=c.get("code", "DG101")) for c in record.get("dg101_census", [])
              if c["name"] in names]
    census_kept = [c for c in census if finding_key(c) in now[c["name"]]]

    bugs = []
    for b in record.get("bugs", []):
        if b["name"] not in names:
            continue
        lines = {int(b["line"]), *(int(x) for x in b.get("alt_lines", []))}
        cell = b.get("cell")
        hit = any(k[0] == b["path"] and k[3] == b["code"] and k[2] in lines
                  and k[1] == (None if cell is None else int(cell)) for k in now[b["name"]])
        bugs.append(dict(b, reported_now=hit))
    found_bugs = sum(b["reported_now"] for b in bugs)

    return {
        "repos": len(repos),
        "lines": total_lines,
        "findings_now": total_now,
        "sample": len(sample),
        "sample_kept": overall,
        "sample_kept_by_code": by_code,
        "precision": overall["true"] / len(kept) if kept else None,
        "precision_lenient": (overall["true"] + overall["debatable"]) / len(kept) if kept else None,
        "precision_weighted": weighted["true"] / total_now if total_now else None,
        "false_per_100k_lines": per_100k(weighted["false"]),
        "false_gone": [s for s in gone if s["verdict"] == "false"],
        "true_lost": [s for s in gone if s["verdict"] == "true"],
        "debatable_gone": [s for s in gone if s["verdict"] == "debatable"],
        "census": len(census),
        "census_kept": tally(census_kept),
        "bugs": len(bugs),
        "bugs_found": found_bugs,
        "recall": found_bugs / len(bugs) if bugs else None,
        "bugs_newly_found": [b for b in bugs if b["reported_now"] and not b["reported"]],
        "bugs_lost": [b for b in bugs if b["reported"] and not b["reported_now"]],
        "unreviewed": unreviewed,
    }


# ---------------------------------------------------------------------------- running


def listed_files(record: Mapping, name: str) -> List[str]:
    paths = {s["path"] for s in record["sample"] if s["name"] == name}
    paths |= {b["path"] for b in record.get("bugs", []) if b["name"] == name}
    paths |= {s["path"] for s in record.get("scripts_read", []) if s["name"] == name}
    return sorted(paths)


def run_repo(command: Sequence[str], root: Path, paths: Sequence[str]) -> List[Dict]:
    proc = subprocess.run([*command, "check", "--format", "json", "--no-cache", "--exit-zero",
                           *(paths or ["."])], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{root.name}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout or "[]")


def _fmt(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _site(item: Mapping) -> str:
    cell = f":cell {item['cell']}" if item.get("cell") is not None else ""
    return f"{item['repo']}:{item['path']}{cell}:{item['line']} {item['code']}"


def print_report(record: Mapping, result: Mapping, out=None) -> None:
    out = out or sys.stdout
    k = result["sample_kept"]
    n = sum(k.values())
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"batch {record.get('batch', '?')}: {result['repos']} repositories, {result['lines']} lines, "
      f"{result['findings_now']} findings now")
    p(f"precision: sample {result['sample']}, still reported {n}: true {k['true']}, debatable "
      f"{k['debatable']}, false {k['false']} -> {_fmt(result['precision'])} "
      f"(with debatable {_fmt(result['precision_lenient'])}; weighted by findings per repository "
      f"{_fmt(result['precision_weighted'])})")
    for code, c in result["sample_kept_by_code"].items():
        m = sum(c.values())
        p(f"  {code}: true {c['true']}, debatable {c['debatable']}, false {c['false']} -> "
          f"{_fmt(c['true'] / m if m else None)}")
    p(f"false alarms per 100k lines (estimate): {result['false_per_100k_lines']:.1f}")
    for title, items in (("false alarms gone (good)", result["false_gone"]),
                         ("true findings lost (bad)", result["true_lost"]),
                         ("debatable findings gone", result["debatable_gone"])):
        if items:
            p(f"{title}: {len(items)}")
            for s in items:
                p(f"  {_site(s)}")
    if result["census"]:
        c = result["census_kept"]
        p(f"every DG101 of the first run ({result['census']} judged), still reported: true {c['true']}, "
          f"debatable {c['debatable']}, false {c['false']}")
    p(f"recall: {result['bugs_found']}/{result['bugs']} recorded bugs reported -> "
      f"{_fmt(result['recall'])}")
    for title, items in (("newly found", result["bugs_newly_found"]), ("lost", result["bugs_lost"])):
        for b in items:
            p(f"  {title}: {_site(b)}")
    total_new = sum(len(v) for v in result["unreviewed"].values())
    if total_new:
        p(f"unreviewed findings (not in the first run): {total_new}")
        for name, keys in result["unreviewed"].items():
            for path, cell, line, code in keys[:10]:
                where = f":cell {cell}" if cell is not None else ""
                p(f"  {name}:{path}{where}:{line} {code}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", type=Path, help="folder holding one folder per recorded repository")
    ap.add_argument("--record", "--batch", dest="records", type=Path, action="append",
                    help=f"a judged batch (repeatable; default: {DEFAULT_RECORD.name})")
    ap.add_argument("--dropout-guard", default=None,
                    help="command to run (default: this Python's -m dropout_guard)")
    ap.add_argument("--listed-files", action="store_true",
                    help="lint only the files the record names (faster; cross-file facts limited)")
    ap.add_argument("--save", type=Path, help="write each repository's JSON report here")
    ap.add_argument("--from-json", type=Path, help="score saved reports (<name>.json), run nothing")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)

    command = args.dropout_guard.split() if args.dropout_guard else [sys.executable, "-m", "dropout_guard"]
    status = 0
    results = []
    for i, path in enumerate(args.records or [DEFAULT_RECORD]):
        record = json.loads(path.read_text(encoding="utf-8"))
        code, result = run_batch(record, args, command)
        status = max(status, code)
        if args.json:
            results.append(result)
        else:
            if i:
                print()
            print_report(record, result)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=1, default=list))
    return status


def run_batch(record: Mapping, args: argparse.Namespace, command: Sequence[str]) -> Tuple[int, Dict]:
    """Lint (or read the saved reports of) one batch's repositories and score them."""
    current: Dict[str, List[Dict]] = {}
    status = 0
    for repo in record["repos"]:
        name = repo["name"]
        if args.from_json:
            path = args.from_json / f"{name}.json"
            if not path.is_file():
                print(f"missing report: {path}", file=sys.stderr)
                status = 2
                continue
            current[name] = json.loads(path.read_text(encoding="utf-8"))
            continue
        root = args.repos / name
        if not root.is_dir():
            print(f"missing repository: {root} ({repo['repo']} at {repo['commit']})", file=sys.stderr)
            status = 2
            continue
        try:
            current[name] = run_repo(command, root, listed_files(record, name) if args.listed_files else [])
        except (RuntimeError, ValueError) as exc:
            print(f"run failed: {exc}", file=sys.stderr)
            status = max(status, 1)
            continue
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"{name}.json").write_text(json.dumps(current[name], indent=1), encoding="utf-8")
    return status, score(record, current)

if __name__ == "__main__":
    sys.exit(main())
