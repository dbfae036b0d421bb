"""`perflaw sweep`: train a grid of small sequential recommenders, write the runs table."""

from __future__ import annotations

from pathlib import Path

import click

from perflaw.cli._output import output_options, render

_SHOWN = [
    "backbone",
    "layers",
    "d_emb",
    "data_fraction",
    "seed",
    "params_total",
    "train_tokens",
    "steps",
    "end",
    "hr@10",
    "ndcg@10",
    "hr@50",
    "ndcg@50",
    "eval",
    "seconds",
]


class _ListType(click.ParamType):
    """A comma-separated list of numbers (``1,2,4``)."""

    def __init__(self, kind: type, name: str):
        self.kind = kind
        self.name = name

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        from perflaw.errors import DataError
        from perflaw.io import parse_list  # the one list syntax of every option

        try:
            values = parse_list(value, self.kind, what=self.name + "s")
        except DataError as exc:
            self.fail(
                f"{value!r} is not a comma-separated list of {self.name}s ({exc})", param, ctx
            )
        if self.kind is int and any(v < 1 for v in values):
            self.fail(f"{value!r}: values must be positive integers", param, ctx)
        if self.kind is float and any(not 0 < v <= 1 for v in values):
            self.fail(f"{value!r}: fractions must be in (0, 1]", param, ctx)
        return values


@click.command()
@click.argument("log", type=click.Path(dir_okay=False))
@click.option(
    "--layers",
    type=_ListType(int, "integer"),
    default="1,2",
    show_default=True,
    help="Numbers of transformer blocks (comma-separated).",
)
@click.option(
    "--d-emb",
    type=_ListType(int, "integer"),
    default="16,32",
    show_default=True,
    help="Embedding widths (comma-separated).",
)
@click.option(
    "--data-fraction",
    type=_ListType(float, "number"),
    default="1",
    show_default=True,
    help="Fractions of the users used for training (comma-separated, in (0, 1]).",
)
@click.option(
    "--backbone",
    default="sasrec",
    show_default=True,
    help="sasrec, llama or hstu; comma-separated for several.",
)
@click.option(
    "--seed",
    "seeds",
    type=click.STRING,
    default="0",
    show_default=True,
    help="Seeds (comma-separated): one run per seed and configuration.",
)
@click.option(
    "--max-len",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Maximum sequence length (model input).",
)
@click.option(
    "--samples",
    type=click.Choice(["windows", "prefixes"]),
    default="windows",
    show_default=True,
    help="Every prefix is a target: full-sequence loss over windows covering the "
    "whole history, or RecBole's one sample per prefix.",
)
@click.option(
    "--eval-every",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Optimizer steps between validations.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Stop after this many optimizer steps without a better validation "
    "NDCG@10 (once --min-steps are done).",
)
@click.option(
    "--patience-from",
    type=click.Choice(["min_steps", "best"]),
    default="min_steps",
    show_default=True,
    help="Count the patience from the best validation step or from --min-steps, "
    "whichever is later (a peak inside the minimum budget cannot end the run before "
    "--min-steps + --patience), or from the best step alone (tables made before "
    "this option).",
)
@click.option(
    "--min-steps",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Optimizer steps always trained.",
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=20000,
    show_default=True,
    help="Cap on optimizer steps. Rerun with a larger cap to extend the runs of --out "
    "that ended on theirs (their rows are replaced; the old ones kept in OUT.replaced).",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Cap on each run's training time.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    help="Training samples per optimizer step.",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-3,
    show_default=True,
    help="Adam learning rate.",
)
@click.option(
    "--warmup-steps",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Linear learning-rate warm-up.",
)
@click.option(
    "--decay",
    type=click.Choice(["none", "cosine"]),
    default="none",
    show_default=True,
    help="Learning-rate decay after warm-up: cosine to --decay-floor × --lr over "
    "--decay-steps, then constant.",
)
@click.option(
    "--decay-steps",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Length of the cosine decay after warm-up (0: until --max-steps, which runs "
    "stopped by --patience seldom reach).",
)
@click.option(
    "--decay-floor",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="End of the cosine decay, as a share of --lr.",
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="Dropout rate of the backbone's layers.",
)
@click.option(
    "--heads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Attention heads (d_emb must be divisible by it).",
)
@click.option(
    "--loss",
    type=click.Choice(["ce", "bce"]),
    default="ce",
    show_default=True,
    help="Full softmax cross-entropy, or BCE with one sampled negative.",
)
@click.option(
    "--mask-seen/--no-mask-seen",
    default=False,
    show_default=True,
    help="Full ranking: leave items seen before the target out of the ranking "
    "(default: rank every item but padding, as RecBole does for sequential "
    "models).",
)
@click.option(
    "--eval-negatives",
    type=click.IntRange(min=1),
    default=None,
    help="Rank the target among N sampled unseen items (1 positive + N "
    "negatives) instead of all items.",
)
@click.option(
    "--eval-sampling",
    type=click.Choice(["uniform", "popularity"]),
    default="uniform",
    show_default=True,
    help="How --eval-negatives are drawn.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Runs table (CSV): one row appended per finished run; reruns resume, "
    "and processes sharing it split the grid.",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Train only shard I (from 0) of N of the grid, into its own table "
    "OUT-stem.shard-I-of-N.csv (default in a SLURM job array: SLURM_ARRAY_TASK_ID of "
    "SLURM_ARRAY_TASK_COUNT); merge the tables with `perflaw runs merge`.",
)
@click.option(
    "--wait/--no-wait",
    default=False,
    show_default=True,
    help="When the configurations left are being trained by other live processes "
    "sharing --out, wait for them (taking over any whose process dies) instead of "
    "exiting 0 with a note.",
)
@click.option(
    "--claim-expiry",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds without a heartbeat after which another host's claim on a "
    "configuration is taken over (docs/guarantees.md).",
)
@click.option(
    "--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda if present, else cpu)."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Torch CPU threads (default: the cores this process may use less the "
    "machine's load, at least 1).",
)
@click.option(
    "--pack",
    type=int,
    default=1,
    show_default=True,
    help="Train up to this many configurations of one shape (its seeds and data "
    "fractions) together in one process, as one stack of models: keeps a GPU busy with "
    "small models.  1: one run at a time.",
)
@click.option(
    "--compile/--no-compile",
    "compile_",
    default=False,
    show_default=True,
    help="Run training forward passes through torch.compile (a speed option, not "
    "a setting; slower on CPU, not yet measured on CUDA: see docs/validation.md). "
    "Not with --pack > 1.",
)
@click.option(
    "--adaptive",
    is_flag=True,
    help="Train only what the loop names (`perflaw next`): seed design, then the run with "
    "the highest expected gain per cost, until its stopping rule or --budget. Needs --out.",
)
@click.option(
    "--budget",
    default=None,
    help="With --adaptive: total cost (layers*d_emb**2) to spend, e.g. 50% of the grid's.",
)
@click.option(
    "--metric",
    default="ndcg@10",
    show_default=True,
    help="With --adaptive: the metric the loop maximises.",
)
@click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="With --adaptive: keep the loop's trials in this Optuna storage so that several "
    "processes (one or many machines) share one study: sqlite:///loop.db (or a file path), "
    "a path ending in .journal (Optuna's journal file, shared file systems) or any RDB URL. "
    "Reruns resume the study. Needs perflaw[optuna].",
)
@click.option(
    "--study",
    "study_name",
    default="perflaw-sweep",
    show_default=True,
    help="With --storage: the study's name.",
)
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@click.option(
    "--log-to",
    "log_to",
    multiple=True,
    type=click.Choice(["mlflow", "tensorboard", "wandb"]),
    help="Also log each finished run (settings, validation curve, final metrics) to this "
    "tracker; repeat for several.  The runs table stays the source of truth.",
)
@click.option(
    "--log-name",
    default="perflaw-sweep",
    show_default=True,
    help="--log-to: the MLflow experiment, W&B project or TensorBoard sub-folder.",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="--log-to tensorboard: the folder of the event files (default: runs); "
    "--log-to wandb: the folder of W&B's files (default: W&B's own).",
)
@click.option(
    "--tracking-uri",
    default=None,
    help="--log-to mlflow: the tracking URI (default: MLFLOW_TRACKING_URI).",
)
@click.option(
    "--drop-null-ids",
    is_flag=True,
    help="Drop log rows whose user or item id is null/NaN (default: refuse them).",
)
@output_options
def sweep(
    log,
    layers,
    d_emb,
    data_fraction,
    backbone,
    seeds,
    max_len,
    samples,
    eval_every,
    patience,
    patience_from,
    min_steps,
    max_steps,
    max_seconds,
    batch_size,
    lr,
    warmup_steps,
    decay,
    decay_steps,
    decay_floor,
    dropout,
    heads,
    loss,
    mask_seen,
    eval_negatives,
    eval_sampling,
    out,
    shard,
    wait,
    claim_expiry,
    device,
    threads,
    pack,
    compile_,
    adaptive,
    budget,
    metric,
    storage,
    study_name,
    quiet,
    drop_null_ids,
    log_to,
    log_name,
    log_dir,
    tracking_uri,
    fmt,
):
    """Train small sequential recommenders over a LAYERS × D_EMB × DATA-FRACTION grid.

    Leave-one-out split (last item test, second-to-last validation), every prefix of the
    training history a target, early stopping on validation NDCG@10 counted in optimizer
    steps, HR and NDCG at 5, 10, 20 and 50 (the `eval` column says how they were
    ranked).  Prints the runs (all of --out's rows) on stdout; `perflaw fit OUT --metric
    ndcg@10` reads the --out file as it is.  Processes sharing --out split the grid (one
    process per configuration); one whose remaining configurations are being trained by
    live processes says so and exits 0 (or waits, with --wait).  Exits with status 3
    when configurations are missing from the table at the end with no live process
    training them.
    Needs PyTorch (pip install 'perflaw[train]').

    Example: perflaw sweep data/ml-latest-small.parquet --layers 1,2 --d-emb 16,32
    --data-fraction 0.5,1 --seed 0,1,2 --out runs.csv
    """
    import warnings

    from perflaw.errors import DataError
    from perflaw.io import parse_list
    from perflaw.train import TrainConfig
    from perflaw.train import sweep as run_sweep

    try:
        seed_list = parse_list(seeds, int, what="seeds")
    except DataError as exc:
        raise click.BadParameter(
            f"{seeds!r} is not a comma-separated list of integers ({exc})", param_hint="--seed"
        ) from None
    if any(s < 0 for s in seed_list):
        raise click.BadParameter(
            f"{seeds!r}: seeds must be non-negative integers", param_hint="--seed"
        )
    backbones = parse_list(backbone, str, what="backbones")
    if out is not None:
        from perflaw.files import _same_file

        if _same_file(Path(out), Path(log)):
            raise DataError(
                f"--out {out}: this is the log being trained on; write the runs elsewhere"
            )
    from perflaw.train.shards import parse_shard, shard_from_env

    try:
        shard_ = parse_shard(shard) if shard is not None else shard_from_env()
    except DataError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    config = TrainConfig(
        max_len=max_len,
        samples=samples,
        eval_every=eval_every,
        patience=patience,
        patience_from=patience_from,
        min_steps=min_steps,
        max_steps=max_steps,
        max_seconds=max_seconds,
        batch_size=batch_size,
        lr=lr,
        warmup_steps=warmup_steps,
        decay=decay,
        decay_steps=decay_steps,
        decay_floor=decay_floor,
        dropout=dropout,
        heads=heads,
        loss=loss,
    )
    tracking = None
    if log_to:  # a missing extra or an unreachable store fails before any training
        from perflaw.train.tracking import Tracking

        tracking = Tracking(log_to, name=log_name, tracking_uri=tracking_uri, folder=log_dir)

    def train(layers, d_emb):
        return run_sweep(
            log,
            layers=layers,
            d_emb=d_emb,
            data_fraction=data_fraction,
            backbone=backbones,
            seeds=seed_list,
            config=config,
            mask_seen=mask_seen,
            eval_negatives=eval_negatives,
            eval_sampling=eval_sampling,
            out=out,
            device=device,
            threads=threads,
            progress=not quiet,
            drop_null_ids=drop_null_ids,
            pack=pack,
            compile=compile_,
            shard=shard_,
            wait=wait,
            claim_expiry=claim_expiry,
            on_run=tracking.log_run if tracking else None,
        )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if adaptive:  # the loop lives in perflaw.decide.adaptive; this only wires it in
            from perflaw.decide.adaptive import adaptive_sweep
            from perflaw.train.runs_table import read_runs_file

            if out is None:
                raise click.UsageError("--adaptive needs --out: the runs table is its state")
            if len(data_fraction) > 1 or len(backbones) > 1:
                raise click.UsageError(
                    "--adaptive searches layers x d_emb: give one --data-fraction and one "
                    "--backbone"
                )
            if study_name != "perflaw-sweep" and storage is None:
                raise click.UsageError("--study names a study of --storage: add --storage URL")
            # one configuration (all its seeds) a round; the two loops take the same grid
            loop = dict(
                layers=layers, d_emb=d_emb, metric=metric, budget=budget, progress=not quiet
            )
            if storage is not None:  # the same loop, its trials in an Optuna study
                from perflaw.decide.adaptive_optuna import optuna_sweep

                match = {"data_fraction": data_fraction[0], "backbone": backbones[0]}
                optuna_sweep(
                    lambda n, d: train([n], [d]),
                    out,
                    storage=storage,
                    study_name=study_name,
                    match=match,
                    **loop,
                )
            else:
                adaptive_sweep(lambda n, d: train([n], [d]), out, **loop)
            runs = read_runs_file(out)
        else:
            if storage is not None:
                raise click.UsageError("--storage keeps --adaptive's trials: add --adaptive")
            runs = train(layers, d_emb)
    shown = set()
    for w in caught:  # one line each; configurations not run are reported below
        text = str(w.message)
        if "perflaw" in str(w.filename) and not any(
            part in text for part in ("were not run by this call", "live processes are training")
        ):
            if text not in shown:  # e.g. a torch.compile fallback, once per run
                click.echo(f"warning: {text}", err=True)
            shown.add(text)
    records = runs.to_dict(orient="records")
    if fmt == "table":
        records = [{k: r[k] for k in _SHOWN} for r in records]
    click.echo(render(records, fmt))
    running = runs.attrs.get("running_elsewhere", [])
    if running:
        first = running[0]
        click.echo(
            f"perflaw sweep: done here; {len(running)} configuration(s) of the grid are "
            f"being trained by other live processes, e.g. layers={first['layers']} "
            f"d_emb={first['d_emb']} fraction={first['data_fraction']:g} "
            f"seed={first['seed']} by {first['holder']} (--wait to wait for them)",
            err=True,
        )
    not_run = runs.attrs.get("not_run", [])
    if not_run:
        first = not_run[0]
        click.echo(
            f"perflaw sweep: {len(not_run)} configuration(s) of the grid not run and "
            f"not being trained, e.g. layers={first['layers']} "
            f"d_emb={first['d_emb']} fraction={first['data_fraction']:g} "
            f"seed={first['seed']}; rerun to finish them",
            err=True,
        )
        raise SystemExit(3)
