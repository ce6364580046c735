"""``biril``: the one command line of the trainer, sweeps, cluster and analysis.

This package is the top floor: the only code that imports every other package. Each
command module parses, calls one package's library and prints; the libraries load inside
the commands, so ``biril --help`` and ``biril train`` never pay for Ray.

Every mistake a user can fix ends here, in ``BirilGroup`` (whatever command raised it) and
``main`` (usage errors before a command runs), as one ``error: …`` line on stderr and exit
status 2: a ``results.errors.UserError`` (each package's errors subclass it), a pydantic
``ValidationError`` of a model the user filled, and click's usage errors.
"""

from __future__ import annotations

import sys

import click

from results.errors import UserError

from .bench import bench
from .cluster import cluster_group, jobs_group, submit_command
from .datasets import datasets
from .doctor import doctor
from .report import best_command, report_command
from .sweep import sweep_command
from .train import train

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def one_line(text: str) -> str:
    return " ".join(text.split())


def user_message(e: BaseException) -> str | None:
    """The one line a user-fixable error says, or None for a bug (which keeps its traceback).

    pydantic loads only here, when something has already gone wrong.
    """
    if isinstance(e, UserError):
        return str(e)
    if isinstance(e, click.ClickException):
        return e.format_message()
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        from biril.config import describe_validation_error

        return describe_validation_error(e)
    return None


class OneLine(click.ClickException):
    """A mistake the user can fix: ``error: <one line>`` on stderr, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:
        click.echo(f"error: {one_line(self.format_message())}", err=True)


class BirilGroup(click.Group):
    """The ``biril`` group: whatever command runs, a user's mistake becomes ``OneLine``."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:
            message = user_message(e)
            if message is None:
                raise
            raise OneLine(message) from None


@click.group(cls=BirilGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """BIRIL Sweeps: spiking ResNets trained by STDP : STBP : STDP-STBP ratios."""


for _command in (
    train, bench, datasets, doctor, sweep_command, submit_command, cluster_group, jobs_group,
    report_command, best_command,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every user error is one ``error:`` line and exit 2; Ctrl-C exits 130."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:  # OneLine, or a usage error before any command ran
        OneLine(e.format_message()).show()
        sys.exit(EXIT_USAGE)
