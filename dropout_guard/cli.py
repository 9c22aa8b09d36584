"""The command line: ``dropout-guard check | rules | explain | clean | server`` (and ``run`` when present).

This is the only module that knows click, rich and exit codes. Exit status (ruff's
contract): 0 no findings, 1 findings, 2 usage or configuration error, or an internal
failure: an unexpected exception is reported in one line and exits 2, never 1, so a crash
never looks like findings. Start-up stays cheap: the analyser is imported when a command
runs, rich only to colour a terminal's output or to show a progress bar, torch never.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Optional, Sequence, Tuple

import click

from dropout_guard import __version__

FORMATS = ("concise", "full", "json", "sarif", "github", "text")  # text: the old name of concise
HUMAN_FORMATS = ("concise", "full")
COLOR_CHOICES = ("auto", "always", "never")
# A run over this many files shows a progress bar on a terminal (unless --no-progress).
PROGRESS_THRESHOLD = 300


class DropoutGuardUsageError(click.ClickException):
    """A usage, configuration or internal error: exit status 2 (a plain ClickException is 1)."""

    exit_code = 2


_CONSOLE_RUN = False  # running the process' own command line, which ends with os._exit (see _Group.main)
_RETAINED = False  # the run kept its analysis for that exit


class _Group(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """The console command (no ``args``: the process' own command line) ends with
        ``os._exit`` once its output is flushed, when ``check`` kept its analysis for it
        (``api.retain_until_exit``): freeing millions of tree nodes one by one only to exit
        costs seconds on a large project (mypy exits so too). Called with ``args`` (tests,
        embedding) it returns or raises as click does."""
        global _CONSOLE_RUN, _RETAINED
        _RETAINED = False
        _CONSOLE_RUN = args is None and standalone_mode
        if not _CONSOLE_RUN:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            super().main(args, prog_name, complete_var, standalone_mode, **extra)
            code = 0
        except SystemExit as exc:
            code = exc.code
            if not _RETAINED or not (code is None or isinstance(code, int)):
                raise
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: what the reader missed is lost either way
                pass
        os._exit(code or 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit, BrokenPipeError):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            raise click.exceptions.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the top level: report, exit 2
            if os.environ.get("DROPOUT_GUARD_DEBUG"):
                raise
            summary = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
            raise DropoutGuardUsageError(
                f"internal error: {summary} (this is a bug in dropout-guard; set DROPOUT_GUARD_DEBUG=1 "
                f"for the traceback)") from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="dropout-guard", message="%(prog)s %(version)s")
def main() -> None:
    """dropout-guard: catch PyTorch train/eval and no_grad mode bugs.

    \b
    dropout-guard check [PATHS]...   lint files, folders and notebooks (default: .)
    dropout-guard check --fix        apply the safe fixes (--unsafe-fixes: all)
    dropout-guard check --fix-only   apply them, report nothing else, exit 0
    dropout-guard check --add-noqa   add `# noqa: CODE` to every line with a finding
    dropout-guard rules              list every rule
    dropout-guard explain CODE       one rule's documentation
    dropout-guard clean              remove the caches under the current folder
    dropout-guard server             the language server, for editors
    """


def _codes(values: Tuple[str, ...]) -> Optional[str]:
    """Repeated, comma-separated options joined; None when the option was not given."""
    return ",".join(values) if values else None


def _emit(text: str, *, output_file: Optional[str], color: bool) -> None:
    if not text:
        return
    if output_file:
        try:
            with open(output_file, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
        except OSError as exc:
            raise DropoutGuardUsageError(f"cannot write {output_file}: {exc.strerror or exc}") from None
        return
    click.echo(text, nl=False, color=color)


def _on_terminal(stream) -> bool:
    """Whether ``stream`` is an interactive terminal that can redraw a line (not TERM=dumb)."""
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError, OSError):
        return False


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class _ProgressBar:
    """A ``progress(done, total)`` callback for ``check``: a transient rich bar on standard
    error, counting files (a file is two steps: parsed, then checked by the rules).

    Whether to show it is decided on the first call, from the run's size: only when it has
    more than ``more_than`` files. rich is imported only then. Calls may come from a helper
    thread (worker processes' ticks): start, update and stop are serialised by a lock, and
    ``close()`` (from the main thread, in a ``finally``) stops the bar for good, so a late
    call cannot start it again. Standard output and error are not redirected while the bar
    is shown: worker processes are forked meanwhile and must never touch rich's locks.
    """

    def __init__(self, more_than: int, *, color: bool = True) -> None:
        self.more_than = more_than
        self.color = color
        self.progress = None  # the rich Progress once shown (kept after close, stopped)
        self._task = None
        self._decided = False
        self._closed = False
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if self._closed:
                return
            if not self._decided:
                self._decided = True
                files = total // 2
                if files <= 0 or files <= self.more_than:
                    return
                self._start(files)
            if self.progress is not None:
                self.progress.update(self._task, completed=min(done, total) // 2)

    def _start(self, files: int) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn)

        # The caller has checked that standard error is a terminal; rich must not second-guess it.
        console = Console(stderr=True, force_terminal=True, no_color=not self.color, highlight=False)
        self.progress = Progress(SpinnerColumn(), TextColumn("Checking"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("files"), TimeElapsedColumn(), console=console, transient=True,
                                 redirect_stdout=False, redirect_stderr=False)
        self._task = self.progress.add_task("check", total=files)
        self.progress.start()

    def close(self) -> None:
        """Stop and erase the bar (if it was shown); later calls do nothing."""
        with self._lock:
            self._closed = True
            if self.progress is not None:
                self.progress.stop()


def _progress_bar(setting: Optional[bool], *, fmt: str, quiet: bool, output_file: Optional[str],
                  color: str) -> Optional[_ProgressBar]:
    """The progress callback for a ``check`` run, or None when no bar may be shown.

    Never for json/sarif/github output, never unless standard error is a terminal (not
    TERM=dumb), never with --no-progress. By default (``setting`` None) only for a report
    on a terminal's standard output, without -q or -o, outside CI, for runs over
    PROGRESS_THRESHOLD files; --progress drops those conditions. --statistics keeps the
    bar: its table is for a person too, and it is printed after the bar is erased.
    """
    if setting is False or fmt not in HUMAN_FORMATS or not _on_terminal(sys.stderr):
        return None
    use_color = color != "never"
    if setting:
        return _ProgressBar(0, color=use_color)
    if quiet or output_file or _in_ci() or not _on_terminal(sys.stdout):
        return None
    return _ProgressBar(PROGRESS_THRESHOLD, color=use_color)


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--output-format", "--format", "fmt", type=click.Choice(FORMATS), default="concise", show_default=True,
              envvar="DROPOUT_GUARD_OUTPUT_FORMAT", show_envvar=True,
              help="concise: path:line:col: CODE message (text is another name for it); full: the same line, "
                   "then the source with the range underlined; json: one array; sarif: SARIF 2.1.0 for code "
                   "scanning; github: GitHub Actions annotations.")
@click.option("--select", multiple=True, metavar="CODES",
              help="Comma-separated codes, prefixes (DG1) or ALL to enable; replaces the configured selection.")
@click.option("--extend-select", multiple=True, metavar="CODES", help="Codes or prefixes to enable in addition.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Codes or prefixes to disable.")
@click.option("--extend-exclude", multiple=True, metavar="PATTERNS",
              help="Comma-separated gitignore-style patterns to exclude, in addition to the exclude and "
                   "extend-exclude settings.")
@click.option("--config", "config_file", type=click.Path(path_type=str), metavar="FILE",
              help="Read this file (pyproject.toml or dropout-guard.toml) instead of searching for one.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--exit-non-zero-on-fix", is_flag=True,
              help="Exit 1 when --fix or --fix-only changed any file, even when no findings remain.")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("--color", type=click.Choice(COLOR_CHOICES), default="auto", show_default=True,
              help="Colour the text output (auto: only on a terminal, and not with NO_COLOR set).")
@click.option("--force-exclude", is_flag=True, default=None,
              help="Apply exclude settings to files named on the command line too (for pre-commit).")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, path_type=str),
              help="Write the report to this file instead of standard output.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the findings, without the summary line.")
@click.option("--fix", "apply_fixes", is_flag=True,
              help="Apply the fixes (safe ones; unsafe ones too with --unsafe-fixes), then report what is left.")
@click.option("--diff", is_flag=True,
              help="Print the fixes --fix would apply as a unified diff and write nothing (exit 1 when there is "
                   "a diff).")
@click.option("--unsafe-fixes/--no-unsafe-fixes", "unsafe_fixes", default=None,
              help="Also apply (and mark with [*]) the fixes that change runtime behaviour; --no-unsafe-fixes hides "
                   "the hint about them. Overrides the unsafe-fixes setting.")
@click.option("--fix-only", is_flag=True,
              help="Apply the fixes, but do not report what is left; exit 0 even when findings remain (2 on "
                   "errors). Prints \"Fixed N problems.\".")
@click.option("--show-fixes", is_flag=True,
              help="After fixing (--fix, --fix-only), list the fixes applied, per file and rule (text format).")
@click.option("--fixable", multiple=True, metavar="CODES",
              help="Codes or prefixes whose fixes may be applied; replaces the configured fixable set "
                   "(default: ALL).")
@click.option("--unfixable", multiple=True, metavar="CODES",
              help="Codes or prefixes never to fix (not applied, not marked [*], not counted in the hint).")
@click.option("--extend-fixable", multiple=True, metavar="CODES",
              help="Codes or prefixes to make fixable in addition to --fixable / the fixable setting.")
@click.option("--no-cache", is_flag=True,
              help="Neither read nor write the results cache (.dropout_guard_cache/ beside the configuration).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=str), metavar="DIR",
              envvar="DROPOUT_GUARD_CACHE_DIR", show_envvar=True,
              help="Keep the results cache in this folder (overrides the cache-dir setting).")
@click.option("--add-noqa", is_flag=True,
              help="Add `# noqa: CODE` to every line with a finding (merged into a noqa comment already there), "
                   "print \"Added N noqa directives.\" and exit 0.")
@click.option("--show-settings", is_flag=True, help="Print the settings resolved for the given paths and exit.")
@click.option("--show-files", is_flag=True, help="Print the files that would be checked and exit.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), metavar="N", default=0, show_default="one per core",
              help="Worker processes for independent parts of the run (files that import each other are "
                   "always analysed together).")
@click.option("--context/--no-context", "context", default=None,
              help="Analyse the named files with the rest of their project, so that facts cross files as in a "
                   "run over the whole project (default); --no-context: the named files alone.")
@click.option("--project-root", type=click.Path(file_okay=False, path_type=str), metavar="DIR",
              help="The project the named files belong to (default: the nearest folder above each with a "
                   "pyproject.toml, setup.cfg, setup.py, .git or dropout-guard.toml; without one, a named folder "
                   "itself, a file's folder, the folder above its package, or a folder above the file that it puts on "
                   "sys.path).")
@click.option("--stdin-filename", metavar="PATH",
              help="Read the source to check from standard input (PATHS: - or nothing) and report it as PATH, "
                   "in PATH's project, with PATH's configuration (for editors and other tools).")
@click.option("--progress/--no-progress", "progress", default=None,
              help=f"Show a progress bar on standard error while checking (text format, on a terminal; not with "
                   f"--fix or --diff). Default: for runs over {PROGRESS_THRESHOLD} files, without -q or -o and "
                   f"outside CI; --progress: for any run; --no-progress: never.")
def check_command(paths: Sequence[str], fmt: str, select, extend_select, ignore, config_file: Optional[str],
                  isolated: bool, exit_zero: bool, statistics: bool, color: str, force_exclude: Optional[bool],
                  output_file: Optional[str], quiet: bool, apply_fixes: bool, diff: bool,
                  unsafe_fixes: Optional[bool], fix_only: bool, show_fixes: bool, fixable, unfixable,
                  extend_fixable, no_cache: bool, jobs: Optional[int], context: Optional[bool],
                  project_root: Optional[str], progress: Optional[bool],
                  extend_exclude=(), exit_non_zero_on_fix: bool = False, cache_dir: Optional[str] = None,
                  add_noqa: bool = False, show_settings: bool = False, show_files: bool = False,
                  stdin_filename: Optional[str] = None) -> None:
    """Lint files, folders and notebooks for PyTorch mode bugs (default: the current folder).

    Exit status: 0 no findings, 1 findings, 2 usage or configuration error. With --fix: 0
    when every finding was fixed. With --fix-only: 0 unless an error. With --diff: 0 when
    there is nothing to change, 1 when there is a diff. With --exit-non-zero-on-fix: 1 when
    a file was fixed. --add-noqa, --show-settings, --show-files: 0 unless an error.
    """
    from dropout_guard.lint.api import ConfigError, PathError, check, fix
    from dropout_guard.lint.report import ALIASES, formatter
    from dropout_guard.lint.report.text import terminal_safe, use_color

    fmt = ALIASES.get(fmt, fmt)
    human = fmt in HUMAN_FORMATS
    fixing = apply_fixes or fix_only or diff
    extend_exclude_list = [p.strip() for v in extend_exclude for p in v.split(",") if p.strip()] or None
    sources = None
    if stdin_filename is not None or "-" in paths:
        paths, sources = _stdin_source(paths, stdin_filename, fixing)
    options = dict(config=config_file, isolated=isolated, select=_codes(select), extend_select=_codes(extend_select),
                   ignore=_codes(ignore), force_exclude=True if force_exclude else None, fixable=_codes(fixable),
                   unfixable=_codes(unfixable), extend_fixable=_codes(extend_fixable),
                   extend_exclude=extend_exclude_list, context=context, project_root=project_root)
    modes = [name for name, on in (("--add-noqa", add_noqa), ("--show-settings", show_settings),
                                   ("--show-files", show_files)) if on]
    if modes:
        others = [name for name, on in (("--fix", apply_fixes), ("--fix-only", fix_only), ("--diff", diff),
                                        ("--statistics", statistics)) if on]
        if len(modes) > 1 or others:
            raise DropoutGuardUsageError(f"{' and '.join(modes + others)} cannot be used together")
        _inspect(modes[0], list(paths) or ["."], options, unsafe_fixes=unsafe_fixes, cache_dir=cache_dir,
                 quiet=quiet, output_file=output_file)
        return
    fixed: Optional[int] = None
    bar = None if fixing else _progress_bar(progress, fmt=fmt, quiet=quiet, output_file=output_file, color=color)
    if not fixing and _CONSOLE_RUN:
        global _RETAINED
        from dropout_guard.lint.api import retain_until_exit

        retain_until_exit()
        _RETAINED = True
    try:
        if fixing:
            outcome = fix(list(paths) or ["."], unsafe=unsafe_fixes, write=not diff, **options)
        else:
            result = check(list(paths) or ["."], jobs=jobs, cache=not no_cache, progress=bar,
                           unsafe_fixes=unsafe_fixes, cache_dir=cache_dir, sources=sources, **options)
    except (ConfigError, PathError) as exc:
        raise DropoutGuardUsageError(terminal_safe(str(exc))) from None
    finally:
        if bar is not None:  # erased before anything else is printed, also on errors and ^C
            bar.close()

    if fixing:
        for path, why in sorted(outcome.not_written.items()):
            click.echo(f"warning: {terminal_safe(outcome.display.get(path, path))}: not fixed: {why}", err=True)
        if not outcome.converged:
            click.echo("warning: fixes kept changing the code; stopped after "
                       "the maximum number of rounds (this is a bug in dropout-guard)", err=True)
        if diff:
            from dropout_guard.lint.report.diff import render_diff

            _emit(render_diff(outcome.changed, outcome.display), output_file=output_file, color=False)
            n = outcome.fixed_total
            if not quiet:
                from dropout_guard.lint.report.text import diff_summary, hidden

                settings = outcome.result.settings
                waiting = 0 if outcome.unsafe or (settings is not None and settings.unsafe_fixes is False) \
                    else sum(1 for f in outcome.result.findings if hidden(f))
                click.echo(diff_summary(n, waiting), err=True)
            if outcome.changed:
                raise click.exceptions.Exit(1)
            return
        result = outcome.result
        fixed = outcome.fixed_total

    # --unsafe-fixes / --no-unsafe-fixes, else the unsafe-fixes setting (None: neither)
    unsafe_setting = result.settings.unsafe_fixes if result.settings is not None else unsafe_fixes
    unsafe = bool(unsafe_setting)
    show_hidden = unsafe_setting is not False
    colored = human and not output_file and use_color(color, sys.stdout)
    module = formatter(fmt)
    applied = None
    if fixing and show_fixes and human:
        applied = {outcome.display.get(p, p): c for p, c in outcome.fixed_by_file.items()}
    if fix_only:
        from dropout_guard.lint.report.text import render_fix_only

        if statistics:
            text = formatter("json" if fmt == "json" else "text").render_statistics(result.findings, unsafe=unsafe)
        else:
            text = ""
        if human:  # ruff prints nothing else for the machine formats
            text += render_fix_only(result.findings, fixed or 0, color=colored, summary=not quiet, unsafe=unsafe,
                                    show_hidden=show_hidden, applied=applied)
        _emit(text, output_file=output_file, color=colored)
        if result.files_checked == 0 and not quiet:
            click.echo("warning: no Python files found under the given paths", err=True)
        if exit_non_zero_on_fix and outcome.changed:
            raise click.exceptions.Exit(1)
        return  # exit 0: --fix-only does not report what is left
    if statistics:
        stats = formatter("json" if fmt == "json" else "text")
        text = stats.render_statistics(result.findings, unsafe=unsafe)
    else:
        text = module.render(result.findings, color=colored, summary=not quiet, sources=result.sources,
                             unsafe=unsafe, fixed=fixed, show_hidden=show_hidden, applied=applied)
    _emit(text, output_file=output_file, color=colored)
    if result.files_checked == 0 and not quiet:
        click.echo("warning: no Python files found under the given paths", err=True)
    if result.findings and not exit_zero:
        raise click.exceptions.Exit(1)
    if fixing and exit_non_zero_on_fix and outcome.changed:
        raise click.exceptions.Exit(1)


def _toml_value(value) -> str:
    import json

    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def _inspect(mode: str, paths, options, *, unsafe_fixes: Optional[bool], cache_dir: Optional[str], quiet: bool,
             output_file: Optional[str]) -> None:
    """--add-noqa, --show-settings, --show-files: resolve the settings, then do that one thing."""
    from dropout_guard.lint import api
    from dropout_guard.lint.config import describe
    from dropout_guard.lint.report.text import terminal_safe

    try:
        settings = api.load_settings(paths, unsafe_fixes=unsafe_fixes, cache_dir=cache_dir, **options)
        if mode == "--show-files":
            found = api.files(paths, settings)
            _emit("".join(terminal_safe(p) + "\n" for p in found), output_file=output_file, color=False)
            return
        if mode == "--show-settings":
            shown = api.files(paths, settings)
            target = shown[0] if shown else os.path.abspath(paths[0])
            lines = [f"Resolved settings for: {_toml_value(target)}",
                     f"Settings path: {_toml_value(settings.config_path)}", ""]
            lines += [f"{key} = {_toml_value(value)}"
                      for key, value in describe(settings, api.cache_folder(settings))]
            _emit("".join(terminal_safe(line) + "\n" for line in lines), output_file=output_file, color=False)
            return
        outcome = api.add_noqa(paths, settings)
    except (api.ConfigError, api.PathError) as exc:
        raise DropoutGuardUsageError(terminal_safe(str(exc))) from None
    for path, why in sorted(outcome.not_written.items()):
        click.echo(f"warning: {terminal_safe(outcome.display.get(path, path))}: noqa not added: {why}", err=True)
    n = outcome.total
    if n and not quiet:
        click.echo(f"Added {n} noqa directive{'s' if n != 1 else ''}.", err=True)


@main.command("clean")
@click.option("--config", "config_file", type=click.Path(path_type=str), metavar="FILE",
              help="Read this configuration file (for its cache-dir) instead of searching for one.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=str), metavar="DIR",
              envvar="DROPOUT_GUARD_CACHE_DIR", show_envvar=True, help="Also remove this cache folder.")
@click.option("-q", "--quiet", is_flag=True, help="Do not list the folders removed.")
def clean_command(config_file: Optional[str], isolated: bool, cache_dir: Optional[str], quiet: bool) -> None:
    """Remove the caches: every .dropout_guard_cache folder under the current folder, and the
    configured cache-dir (--cache-dir, DROPOUT_GUARD_CACHE_DIR) when dropout-guard made it."""
    from dropout_guard.lint import api, cache
    from dropout_guard.lint.report.text import terminal_safe

    try:
        settings = api.load_settings(["."], config=config_file, isolated=isolated, cache_dir=cache_dir)
    except api.ConfigError as exc:
        raise DropoutGuardUsageError(terminal_safe(str(exc))) from None
    for folder in cache.cache_folders(os.getcwd(), [api.cache_folder(settings)]):
        try:
            cache.remove(folder)
        except OSError as exc:
            raise DropoutGuardUsageError(f"cannot remove {terminal_safe(folder)}: {exc.strerror or exc}") from None
        if not quiet:
            click.echo(f"Removing cache at: {terminal_safe(folder)}", err=True)


def _stdin_source(paths: Sequence[str], stdin_filename: Optional[str], fixing: bool):
    """(paths, sources) of a check that reads its source from standard input."""
    from dropout_guard.lint.engine import ReadError, decode_notebook, decode_source, is_notebook

    if stdin_filename is None:
        raise DropoutGuardUsageError("reading standard input (-) needs --stdin-filename PATH: the path to report "
                                     "it as (its project and configuration are that path's)")
    if any(p != "-" for p in paths):
        raise DropoutGuardUsageError("--stdin-filename checks standard input only: give no other paths than -")
    if fixing:
        raise DropoutGuardUsageError("--fix, --fix-only and --diff do not read standard input")
    stream = getattr(sys.stdin, "buffer", None)
    data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
    try:
        text = decode_notebook(data)[0] if is_notebook(stdin_filename) else decode_source(data)
    except ReadError as err:
        raise DropoutGuardUsageError(f"cannot read standard input: {err.message}") from None
    return [stdin_filename], {stdin_filename: text}


@main.command("server")
def server_command() -> None:
    """Run the language server on standard input and output (for editors; needs the lsp extra)."""
    from dropout_guard.server import main as serve, missing_dependency

    why = missing_dependency()
    if why:
        raise DropoutGuardUsageError(why)
    serve()


def _rule_rows():
    from dropout_guard.lint import rules

    return list(rules.ALL_RULES)


def _is_tty(stream) -> bool:
    try:
        return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError, OSError):
        return False


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def rules_command(fmt: str) -> None:
    """List every rule: code, name and summary."""
    rules = _rule_rows()
    if fmt == "json":
        import json

        from dropout_guard.lint.report import rule_url

        data = [{"code": r.code, "name": r.name, "summary": r.summary, "default_enabled": bool(r.default_enabled),
                 "fix_safety": r.fix_safety, "url": rule_url(r.code, r.name)} for r in rules]
        click.echo(json.dumps(data, indent=2))
        return
    if _is_tty(sys.stdout):
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None, show_edge=False, pad_edge=False)
        for col in ("code", "name", "summary"):
            table.add_column(col, style="bold" if col == "code" else None, no_wrap=col != "summary")
        for r in rules:
            table.add_row(r.code, r.name, r.summary + ("" if r.default_enabled else " (off by default)"))
        Console().print(table)
        return
    cw = max([len("code")] + [len(r.code) for r in rules])
    nw = max([len("name")] + [len(r.name) for r in rules])
    lines = [f"{'code':<{cw}}  {'name':<{nw}}  summary"]
    lines += [f"{r.code:<{cw}}  {r.name:<{nw}}  {r.summary}{'' if r.default_enabled else ' (off by default)'}"
              for r in rules]
    click.echo("\n".join(lines))


def find_rule(key: str):
    """A rule class by code (any case) or by name (``eval-mode-missing`` / ``eval_mode_missing``)."""
    from dropout_guard.lint import rules

    k = key.strip()
    by_code = {r.code: r for r in rules.ALL_RULES}
    if k.upper() in by_code:
        return by_code[k.upper()]
    name = k.lower().replace("_", "-")
    for r in rules.ALL_RULES:
        if r.name == name:
            return r
    return None


def rule_markdown(rule) -> str:
    doc = rule.documentation().strip()
    head = f"# {rule.name} ({rule.code})\n\n{rule.summary}\n"
    if not rule.default_enabled:
        head += f"\nThis rule is off by default; enable it with `--extend-select {rule.code}`.\n"
    return f"{head}\n{doc}\n" if doc else head


@main.command("explain")
@click.argument("rule")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def explain_command(rule: str, fmt: str) -> None:
    """Print one rule's documentation (RULE: a code such as DG101, or a rule name)."""
    found = find_rule(rule)
    if found is None:
        raise DropoutGuardUsageError(f"unknown rule {rule!r}; run `dropout-guard rules` to list the codes")
    if fmt == "json":
        import json

        from dropout_guard.lint.report import rule_url

        click.echo(json.dumps({"code": found.code, "name": found.name, "summary": found.summary,
                               "default_enabled": bool(found.default_enabled), "fix_safety": found.fix_safety,
                               "documentation": found.documentation(), "url": rule_url(found.code, found.name)},
                              indent=2))
        return
    text = rule_markdown(found)
    if _is_tty(sys.stdout):
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
        return
    click.echo(text, nl=False)


def _register_runtime_command() -> None:
    """Add ``dropout-guard run`` from dropout_guard.cli_runtime when that module exists.

    A broken runtime module must not take ``check`` down with it: then ``run`` reports
    the import error and exits 2.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("dropout_guard.cli_runtime")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return
    try:
        from dropout_guard.cli_runtime import run_command
    except ImportError as exc:
        error = f"{type(exc).__name__}: {exc}"

        @main.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def run_unavailable(args) -> None:
            """Run a script under the runtime guard (unavailable: see the error)."""
            raise DropoutGuardUsageError(f"the run command is unavailable: {error}")

        return
    main.add_command(run_command)


_register_runtime_command()
