from perflaw.cli._reference import cli_reference


def test_cli_reference_is_current():
    with open("docs/cli.md", encoding="utf-8") as fh:
        current = fh.read()
    assert current == cli_reference(), (
        "docs/cli.md is out of date: python -m perflaw.cli._reference > docs/cli.md"
    )
