"""The `perflaw` group: -V, lazily loaded subcommands, help texts, a light import."""

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from perflaw._version import __version__
from perflaw.cli import COMMANDS, main

HEAVY = ("numpy", "polars", "pandas", "numba", "scipy", "pyarrow", "matplotlib", "torch", "sklearn")


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag):
    res = CliRunner().invoke(main, [flag])
    assert res.exit_code == 0 and res.output.strip() == f"perflaw, version {__version__}"


def _loaded_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}


def test_import_and_help_load_nothing_heavy():
    assert not _loaded_modules("import perflaw") & set(HEAVY)
    code = "from perflaw.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert not _loaded_modules(code) & set(HEAVY)
    code = (
        "from perflaw.cli import main\n"
        "try:\n    main(['apen', '--help'])\nexcept SystemExit:\n    pass"
    )
    assert not _loaded_modules(code) & set(HEAVY)


def test_every_command_listed_loads_under_its_name():
    ctx = click.Context(main)
    assert set(main.list_commands(ctx)) == set(COMMANDS)
    for name, (_, _, short) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
        assert short and len(short) < 100


def test_every_option_has_help():
    ctx = click.Context(main)
    missing = {
        (name, param.opts[0])
        for name in main.list_commands(ctx)
        for param in main.get_command(ctx, name).params
        if isinstance(param, click.Option) and not param.help
    }
    assert not missing, f"options without help: {missing}"


def test_lazy_public_api():
    import perflaw

    assert set(perflaw.__all__) <= set(dir(perflaw))
    for name in perflaw.__all__:
        assert getattr(perflaw, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        perflaw.nothing  # noqa: B018


def test_listing_does_not_depend_on_what_was_loaded():
    fresh = CliRunner().invoke(main, ["--help"]).output
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        main.get_command(ctx, name)
    assert CliRunner().invoke(main, ["--help"]).output == fresh
