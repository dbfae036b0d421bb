"""`perflaw apen` (placeholder until the data-quality engine lands in this module)."""

import click


@click.command()
@click.argument("paths", nargs=-1, required=True)
def apen(paths):
    """Measure approximate entropy and D′ of interaction logs."""
    raise click.ClickException("perflaw apen is not implemented yet")
