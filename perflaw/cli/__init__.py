"""The ``perflaw`` command line: thin click commands over the Python API.

Each command lives in its own module and is registered here.  User errors
(:class:`perflaw.errors.PerflawError`) become one-line ``click.ClickException`` messages
with exit code 1; anything unexpected is reported in one line too, and the traceback is
shown only when ``PERFLAW_DEBUG=1``.
"""

from __future__ import annotations

import os

import click

from perflaw._version import __version__
from perflaw.errors import PerflawError


class _PerflawGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PerflawError as exc:
            raise click.ClickException(str(exc)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except MemoryError:
            raise click.ClickException(
                "out of memory: try --max-len, fewer files at once, or a larger machine"
            ) from None
        except Exception as exc:  # noqa: BLE001 - the user must never see a traceback
            if os.environ.get("PERFLAW_DEBUG"):
                raise
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {exc}); "
                "rerun with PERFLAW_DEBUG=1 for the traceback and report it"
            ) from None


@click.group(cls=_PerflawGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="perflaw")
def main() -> None:
    """perflaw: data quality and performance laws for sequential recommenders."""


def _register() -> None:
    # Imported here so that `perflaw --help` stays fast and each command module owns
    # its own options.
    from perflaw.cli import apen, backtest, fit, plot, predict, recommend, sweep

    main.add_command(apen.apen)
    main.add_command(fit.fit)
    main.add_command(predict.predict)
    main.add_command(recommend.recommend_config)
    main.add_command(backtest.backtest)
    main.add_command(plot.plot)
    main.add_command(sweep.sweep)


_register()
