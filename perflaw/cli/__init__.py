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


#: Subcommands, loaded on first use so that ``perflaw --help`` imports nothing heavy:
#: name -> (module, attribute, the one-line help ``perflaw --help`` shows; a test checks
#: it against the command's own).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "apen": ("perflaw.cli.apen", "apen",
             "Data quality of interaction logs: ApEn, ApEn′ and D′ (the quality-adjusted size)."),
    "fit": ("perflaw.cli.fit", "fit", "Fit a law to a table of training runs."),
    "predict": ("perflaw.cli.predict", "predict",
                "Predict the metric of configurations from a saved fit."),
    "recommend-config": ("perflaw.cli.recommend", "recommend_config",
                         "Best (layers, d_emb) under a parameter or FLOPs budget."),
    "backtest": ("perflaw.cli.backtest", "backtest",
                 "Fit small, predict large: every candidate form against the baselines."),
    "plot": ("perflaw.cli.plot", "plot", "Save a figure of a fitted law (PNG, PDF or SVG)."),
    "sweep": ("perflaw.cli.sweep", "sweep",
              "Train small sequential recommenders over a grid and write the runs table."),
}


class _PerflawGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            import importlib

            module, attribute, _ = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the stored one-line helps: listing the commands loads none of them
        # (always the stored ones, so the listing is the same whether or not a command
        # was loaded already)
        rows = [(name, COMMANDS[name][2] if name in COMMANDS
                 else self.commands[name].get_short_help_str(formatter.width))
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
@click.version_option(__version__, "-V", "--version", prog_name="perflaw")
def main() -> None:
    """perflaw: data quality and performance laws for sequential recommenders.

    The main job: measure a log (apen), fit a law to training runs (fit), then predict
    and choose a configuration (predict, recommend-config).  `perflaw COMMAND -h` for
    the options of each.

    \b
    Shell completion (bash; zsh/fish: zsh_source/fish_source), e.g. in ~/.bashrc:
      eval "$(_PERFLAW_COMPLETE=bash_source perflaw)"
    """
