"""The ``perflaw`` command line: thin click commands over the Python API.

Each command lives in its own module, loaded on first use.  Errors are mapped in ONE
place, :meth:`_PerflawGroup.invoke`, so every command behaves alike:

* :class:`perflaw.errors.PerflawError` → its one-line message, exit 1;
* any other ``OSError`` (a file that cannot be read or written) → one line naming the
  path and what to do (:func:`perflaw.files.os_error_message`), exit 1;
* ``MemoryError`` → one line with advice for the command at hand, exit 1;
* a numerical failure (``LinAlgError``) → one line pointing at the data, exit 1;
* SIGINT / SIGTERM at any point, the import of the command's modules included → one
  line, exit 130 / 143, after temporary files and spill folders are removed
  (:mod:`perflaw._signals`);
* anything unexpected → one line; the traceback only with ``PERFLAW_DEBUG=1``.

Library warnings that a command does not show itself are printed as one ``warning:``
line each on stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import click

from perflaw import _signals
from perflaw._version import __version__
from perflaw.errors import PerflawError, Terminated

#: Subcommands, loaded on first use so that ``perflaw --help`` imports nothing heavy:
#: name -> (module, attribute, the one-line help ``perflaw --help`` shows; a test checks
#: it against the command's own).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "apen": (
        "perflaw.cli.apen",
        "apen",
        "Data quality of interaction logs: ApEn, ApEn′ and D′ (the quality-adjusted size).",
    ),
    "fit": ("perflaw.cli.fit", "fit", "Fit a law to a table of training runs."),
    "predict": (
        "perflaw.cli.predict",
        "predict",
        "Predict the metric of configurations from a saved fit, with intervals.",
    ),
    "recommend-config": (
        "perflaw.cli.recommend",
        "recommend_config",
        "What to train next: the best (layers, d_emb) beside the best run trained.",
    ),
    "backtest": (
        "perflaw.cli.backtest",
        "backtest",
        "Fit small, predict large: every candidate form against the baselines.",
    ),
    "next": (
        "perflaw.cli.next",
        "next_run",
        "What to train next on your grid, and whether to stop.",
    ),
    "ledger": (
        "perflaw.cli.next",
        "ledger",
        "Score the loop's track record: its proposals against the runs trained since.",
    ),
    "simulate": (
        "perflaw.cli.simulate",
        "simulate",
        "How much compute would the loop have saved on a finished GRID?",
    ),
    "plot": ("perflaw.cli.plot", "plot", "Save a figure of a fitted law (PNG, PDF or SVG)."),
    "runs": ("perflaw.cli.runs", "runs", "Work on runs tables written by `perflaw sweep`."),
    "report": (
        "perflaw.cli.report",
        "report",
        "One self-contained HTML page: the decision, the law, its backtest, the data.",
    ),
    "sweep": (
        "perflaw.cli.sweep",
        "sweep",
        "Train small sequential recommenders over a grid and write the runs table.",
    ),
}


#: What to try when a command runs out of memory.
MEMORY_ADVICE = {
    "apen": "measure in bounded memory with --memory-limit (parquet logs), use --max-len, "
    "or measure one file at a time",
    "fit": "use fewer --bootstrap resamples or fewer groups at once",
    "predict": "predict fewer configurations at once",
    "recommend-config": "use a smaller grid (narrower --layers / --d-emb ranges, or a larger step)",
    "plot": "plot fewer groups at once",
    "runs": "merge fewer tables at once",
    "report": "leave out --log, or report on fewer runs (--where)",
    "sweep": "use a smaller --batch-size or --max-len, or fewer configurations per run",
}


class _Stopped(click.ClickException):
    """A signal stopped the command: one line, exit 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, exc: BaseException) -> None:
        _signals.record(exc)
        super().__init__(_signals.message(exc))
        self.__dict__["exit_code"] = _signals.exit_code(exc)


@contextlib.contextmanager
def _warnings_as_lines():
    with warnings.catch_warnings(record=True) as caught:
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                text = " ".join(str(w.message).split())
                if text not in seen:
                    seen.add(text)
                    click.echo(f"warning: {text}", err=True)


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
        rows = [
            (
                name,
                COMMANDS[name][2]
                if name in COMMANDS
                else self.commands[name].get_short_help_str(formatter.width),
            )
            for name in self.list_commands(ctx)
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        with _signals.handled():
            try:
                with _warnings_as_lines():
                    return super().main(args, prog_name, complete_var, standalone_mode, **extra)
            except (KeyboardInterrupt, Terminated) as exc:  # outside invoke (parsing)
                _signals.record(exc)
                if not standalone_mode:
                    raise
                click.echo(f"Error: {_signals.message(exc)}", err=True)
                sys.exit(_signals.exit_code(exc))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, Terminated) as exc:
            raise _Stopped(exc) from None
        except click.exceptions.Exit:
            raise
        except Exception as exc:
            stop = _signals.stopping_exception()
            if stop is not None:  # an error caused by the signal: report the signal
                raise _Stopped(stop) from None
            self._map_error(ctx, exc)
        except BaseException:
            # a Rust extension's panic (pyo3's PanicException is not an Exception): after a
            # signal, the signal's consequence; otherwise left as it is
            stop = _signals.stopping_exception()
            if stop is not None:
                raise _Stopped(stop) from None
            raise

    def _map_error(self, ctx: click.Context, exc: Exception):
        try:
            raise exc
        except PerflawError as exc:
            raise click.ClickException(str(exc)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except MemoryError as exc:
            command = ctx.invoked_subcommand or (ctx.protected_args or ["perflaw"])[0]
            detail = " ".join(str(exc).split()) or "an allocation failed"
            advice = MEMORY_ADVICE.get(command, "try a smaller input")
            raise click.ClickException(
                f"out of memory in `perflaw {command}` ({detail}): {advice}"
            ) from None
        except BrokenPipeError:
            # the reader of our output went away (`perflaw apen ... | head`): no message
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise click.exceptions.Exit(141) from None
        except OSError as exc:
            from perflaw.files import os_error_message

            raise click.ClickException(os_error_message(exc, action="use")) from None
        except Exception as exc:
            if os.environ.get("PERFLAW_DEBUG"):
                raise
            text = " ".join(str(exc).split())
            if type(exc).__name__ == "LinAlgError":
                raise click.ClickException(
                    f"numerical failure ({text}): the runs are degenerate or hold extreme "
                    "values; check the table (or rerun with PERFLAW_DEBUG=1)"
                ) from None
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {text}); "
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
