"""`perflaw sweep`: train a grid of small sequential recommenders, write the runs table."""

from __future__ import annotations

import click

from perflaw.cli._output import output_options, render

_SHOWN = ["backbone", "layers", "d_emb", "data_fraction", "params_total", "train_tokens",
          "epochs", "hr@10", "ndcg@10", "hr@50", "ndcg@50", "eval", "seconds"]


class _ListType(click.ParamType):
    """A comma-separated list of numbers (``1,2,4``)."""

    def __init__(self, kind: type, name: str):
        self.kind = kind
        self.name = name

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        if not parts:
            self.fail(f"{value!r} is empty; give comma-separated values like 1,2,4", param, ctx)
        try:
            values = [self.kind(p) for p in parts]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of {self.name}s", param, ctx)
        if self.kind is int and any(v < 1 for v in values):
            self.fail(f"{value!r}: values must be positive integers", param, ctx)
        if self.kind is float and any(not 0 < v <= 1 for v in values):
            self.fail(f"{value!r}: fractions must be in (0, 1]", param, ctx)
        return values


@click.command()
@click.argument("log", type=click.Path(dir_okay=False))
@click.option("--layers", type=_ListType(int, "integer"), default="1,2", show_default=True,
              help="Numbers of transformer blocks (comma-separated).")
@click.option("--d-emb", type=_ListType(int, "integer"), default="16,32", show_default=True,
              help="Embedding widths (comma-separated).")
@click.option("--data-fraction", type=_ListType(float, "number"), default="1",
              show_default=True,
              help="Fractions of the users used for training (comma-separated, in (0, 1]).")
@click.option("--backbone", default="sasrec", show_default=True,
              help="sasrec, llama or hstu; comma-separated for several.")
@click.option("--seed", "seeds", type=click.STRING, default="0", show_default=True,
              help="Seeds (comma-separated): one run per seed and configuration.")
@click.option("--max-len", type=click.IntRange(min=1), default=50, show_default=True,
              help="Maximum sequence length.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True,
              help="Maximum training epochs.")
@click.option("--patience", type=click.IntRange(min=1), default=3, show_default=True,
              help="Stop after this many epochs without a better validation NDCG@10.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3,
              show_default=True, help="Adam learning rate.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2,
              show_default=True)
@click.option("--heads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Attention heads (d_emb must be divisible by it).")
@click.option("--loss", type=click.Choice(["ce", "bce"]), default="ce", show_default=True,
              help="Full softmax cross-entropy, or BCE with one sampled negative.")
@click.option("--eval-negatives", type=click.IntRange(min=1), default=None,
              help="Rank among N sampled unseen items (e.g. 2499) instead of all items.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Runs table (CSV): one row appended per finished run; reruns resume, "
                   "and processes sharing it split the grid.")
@click.option("--device", default=None, help="Torch device (default: cuda if present, else cpu).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch CPU threads (default: all cores).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@output_options
def sweep(log, layers, d_emb, data_fraction, backbone, seeds, max_len, epochs, patience,
          batch_size, lr, dropout, heads, loss, eval_negatives, out, device, threads, quiet,
          fmt):
    """Train small sequential recommenders over a LAYERS × D_EMB × DATA-FRACTION grid.

    Leave-one-out split (last item test, second-to-last validation), early stopping on
    validation NDCG@10, HR and NDCG at 10 and 50 under full ranking (or sampled
    negatives, stated in the `eval` column).  Prints the runs (all of --out's rows) on
    stdout; `perflaw fit OUT --metric ndcg@10` reads the --out file as it is.  Needs
    PyTorch (pip install 'perflaw[train]').

    Example: perflaw sweep data/ml-latest-small.parquet --layers 1,2 --d-emb 16,32
    --data-fraction 0.5,1 --out runs.csv
    """
    from perflaw.sweep import sweep as run_sweep

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"{seeds!r} is not a comma-separated list of integers",
                                 param_hint="--seed") from None
    if not seed_list:
        raise click.BadParameter("give at least one seed", param_hint="--seed")
    backbones = [b.strip() for b in backbone.split(",") if b.strip()]
    runs = run_sweep(
        log, layers=layers, d_emb=d_emb, data_fraction=data_fraction, backbone=backbones,
        seeds=seed_list, max_len=max_len, epochs=epochs, patience=patience,
        batch_size=batch_size, lr=lr, dropout=dropout, loss=loss, heads=heads,
        eval_negatives=eval_negatives, out=out, device=device, threads=threads,
        progress=not quiet,
    )
    records = runs.to_dict(orient="records")
    if fmt == "table":
        records = [{k: r[k] for k in _SHOWN} for r in records]
    click.echo(render(records, fmt))
