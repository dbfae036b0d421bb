"""The ``perflaw`` command line: thin click commands over the Python API.

Each command lives in its own module and is registered here.  Errors are mapped in ONE
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

#: What to try when a command runs out of memory.
MEMORY_ADVICE = {
    "apen": "measure in bounded memory with --memory-limit (parquet logs), use --max-len, "
            "or measure one file at a time",
    "fit": "use fewer --bootstrap resamples or fewer groups at once",
    "predict": "predict fewer configurations at once",
    "recommend-config": "use a smaller grid (narrower --layers / --d-emb ranges, or a "
                        "larger step)",
    "plot": "plot fewer groups at once",
    "sweep": "use a smaller --batch-size or --max-len, or fewer configurations per run",
}


class _Stopped(click.ClickException):
    """A signal stopped the command: one line, exit 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(_signals.message(exc))
        self.exit_code = _signals.exit_code(exc)


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
    _registered = False

    def _ensure_registered(self) -> None:
        # Command modules (polars, numpy, scipy...) are imported on first use, under the
        # signal handlers, so Ctrl-C while perflaw starts is one line too.
        if not _PerflawGroup._registered:
            _PerflawGroup._registered = True
            _register()

    def list_commands(self, ctx):
        self._ensure_registered()
        return super().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        self._ensure_registered()
        return super().get_command(ctx, cmd_name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        with _signals.handled():
            try:
                with _warnings_as_lines():
                    return super().main(args, prog_name, complete_var, standalone_mode,
                                        **extra)
            except (KeyboardInterrupt, Terminated) as exc:  # outside invoke (parsing)
                if not standalone_mode:
                    raise
                click.echo(f"Error: {_signals.message(exc)}", err=True)
                sys.exit(_signals.exit_code(exc))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, Terminated) as exc:
            raise _Stopped(exc) from None
        except PerflawError as exc:
            raise click.ClickException(str(exc)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except MemoryError as exc:
            command = ctx.invoked_subcommand or (ctx.protected_args or ["perflaw"])[0]
            detail = " ".join(str(exc).split()) or "an allocation failed"
            advice = MEMORY_ADVICE.get(command, "try a smaller input")
            raise click.ClickException(
                f"out of memory in `perflaw {command}` ({detail}): {advice}") from None
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
                    "values; check the table (or rerun with PERFLAW_DEBUG=1)") from None
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {text}); "
                "rerun with PERFLAW_DEBUG=1 for the traceback and report it"
            ) from None


@click.group(cls=_PerflawGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="perflaw")
def main() -> None:
    """perflaw: data quality and performance laws for sequential recommenders."""


def _register() -> None:
    # Each command module owns its own options.
    from perflaw.cli import apen, laws, sweep

    main.add_command(apen.apen)
    main.add_command(laws.fit)
    main.add_command(laws.predict)
    main.add_command(laws.recommend_config)
    main.add_command(laws.plot)
    main.add_command(sweep.sweep)
