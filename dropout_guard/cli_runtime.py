"""``dropout-guard run``: the click command of the runtime half.

Registered in the main CLI with ``main.add_command(run_command)``. Importing this module
imports click only (not torch, not rich).
"""
from __future__ import annotations

from typing import Tuple

import click

__all__ = ["run_command"]


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--action",
    type=click.Choice(["warn", "raise"]),
    default="warn",
    show_default=True,
    help="warn: a warning per new call site and a summary at exit; raise: stop the script "
    "with TrainingModeDropoutError at the first one.",
)
@click.argument("script", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(ctx: click.Context, action: str, script: str, args: Tuple[str, ...]) -> None:
    """Run SCRIPT [ARGS]... under a process-wide runtime guard.

    Every dropout or batch-norm module that runs in training mode while gradients are
    disabled (the tell-tale of inference) is reported; a summary table (module, kind,
    count, first call site) is printed to stderr at exit. The exit status is the
    script's own. Options go before SCRIPT; everything after it is passed to the script.
    """
    import os

    if not os.path.isfile(script):
        raise click.BadParameter(f"no such file: {script}", param_hint="SCRIPT")
    from dropout_guard.runtime._requires_torch import import_runtime
    from dropout_guard.runtime.errors import TorchNotInstalledError

    try:
        import_runtime("torch", "dropout-guard run")
    except TorchNotInstalledError as exc:
        click.echo(str(exc), err=True)
        ctx.exit(2)
    from dropout_guard.runtime.runner import run_script

    ctx.exit(run_script(script, list(args), action=action))
