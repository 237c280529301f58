"""``emkit evaluate``: judge any embeddings table against a labelled point table, from the shell.

A thin wrapper over :func:`emkit.analysis.evaluate.evaluate_embeddings` and :func:`metrics_table`, for embeddings
made outside a notebook (``emkit embed``, another lab's model, PCA of raw voxels): silhouette and Hopkins, kNN and
linear-probe accuracy at label budgets with 95 % intervals over groups, same-object retrieval, and optionally a
2-D map coloured by class. 100,000 embeddings of 64 dimensions (1,000 segments) took 68 s on 2 CPU cores of an
AVX2 EPYC when every row was voted on by kNN: the kNN folds 32 s, retrieval of 5,000 queries 13 s
(``--retrieval-queries``), Hopkins and the probes 10 s each. The kNN folds grow as N², so on larger tables only
``--knn-queries`` rows (20,000 by default), drawn at random, are voted on, each against every row of the other folds:
the same votes for those rows, an estimate of the accuracy with its interval. On 500,000 rows in 5,000 segments
(an AVX-512 Xeon, ``benchmarks/bench_knn_sample.py --rows 500000 --segments 5000``) 20,000 rows took 20 s against
415 s for all, and estimated the accuracy at 0.449 (0.441-0.457 over segments) against 0.449. Hopkins' m = 0.1 N
probes grow as N² too (on a million rows they had run 7 minutes when we stopped them); ``--hopkins-max`` caps m at
10,000, seed 003's m up to 100,000 rows. With these defaults a million embeddings of 64 dimensions in 10,000
segments took 243 s on the Xeon (``benchmarks/bench_evaluate.py --rows 1000000 --segments 10000 --cprofile``):
retrieval 85 s, the probes 54 s, Hopkins 48 s, the kNN vote 42 s.

    emkit embed --config cfg.yaml --encoder enc.pt --out emb.parquet
    emkit evaluate emb.parquet --dataset synthetic --table synapses --param size=default \\
        --group-col pre_root_id --out metrics.csv --map umap.png
    emkit evaluate emb.csv --points labels.parquet --label-col cell_type --group-col root_id
    # SegCLR's published embeddings (a release folder, URL or key, or one shard .zip), labelled per segment:
    emkit evaluate /data/segclr_csvzips --segclr --num-shards 10000 --bytewidth 64 \\
        --points cell_types.csv --join-on root_id --label-col cell_type
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

_TABLE_SUFFIXES = ".parquet .csv .tsv .feather .json .xlsx .xls .xlsm"


def _read_embeddings(args: argparse.Namespace, points: pd.DataFrame) -> pd.DataFrame:
    """An ``id`` + ``emb_*`` table: ``emkit embed``'s parquet (with its model id), any table file, or with
    ``--segclr`` the rows of a SegCLR release (``root_id, node_id, x, y, z, emb_*``)."""
    from emkit.io.tables import read_table
    from emkit.learn.export import emb_columns

    path = args.embeddings
    if args.segclr:
        df = _read_segclr(args, points)
    elif not Path(path).exists():
        raise SystemExit(f"emkit evaluate: no embeddings file {path}")
    elif Path(path).suffix.lower() == ".parquet":
        from emkit.learn.export import read_embeddings

        df = read_embeddings(path)
    else:
        df = read_table(path)
    key = args.join_on or "id"
    if key not in df.columns or not emb_columns(df):
        raise SystemExit(f"emkit evaluate: {path} needs the column {key!r} and embedding columns emb_0 .. emb_<D-1>; "
                         f"it has {list(df.columns)[:8]}")
    return df


def _read_segclr(args: argparse.Namespace, points: pd.DataFrame) -> pd.DataFrame:
    """The SegCLR rows to judge: a whole shard ``.zip``, or from a release folder / URL / key the segments named in
    the points table's ``--join-on`` column (those the release does not embed are left out, and counted)."""
    from emkit.learn.segclr import SegCLRReader, read_segclr_zip

    source = args.embeddings
    if str(source).lower().endswith(".zip"):
        if not Path(source).exists():
            raise SystemExit(f"emkit evaluate: no SegCLR shard {source}")
        return read_segclr_zip(source)
    reader = SegCLRReader(source, num_shards=args.num_shards, bytewidth=args.bytewidth)
    wanted = pd.unique(points[args.join_on].dropna().astype("int64"))
    df = reader.read(wanted, missing="skip")
    absent = df.attrs.get("missing", [])
    if absent:
        print(f"{len(absent)} of {len(wanted)} segments have no embeddings in {source} (e.g. {absent[0]}): left out")
    if df.empty:
        raise SystemExit(f"emkit evaluate: none of the {len(wanted)} segments has embeddings in {source} "
                         f"(num_shards={reader.num_shards}, bytewidth={reader.bytewidth}: do they match the release?)")
    return df


def _join_rows(emb: pd.DataFrame, points: pd.DataFrame, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every embedding row its own ``id`` and the point row whose ``key`` it shares (labels per segment or
    cell for many rows each, as in SegCLR's node embeddings). Returns the embeddings and the matching points."""
    repeated = points[key].duplicated() & points[key].notna()
    if repeated.any():
        row = int(repeated.to_numpy().argmax())
        raise SystemExit(f"emkit evaluate: points table row {row} repeats {key}={points[key].iloc[row]}; --join-on "
                         f"needs one point row (one label) per {key}")
    emb = emb.drop(columns=["id"], errors="ignore").reset_index(drop=True)
    emb.insert(0, "id", range(len(emb)))
    per_row = emb[["id", key]].merge(points.drop(columns=["id"], errors="ignore"), on=key, how="inner")
    return emb, per_row


def _read_points(args: argparse.Namespace) -> pd.DataFrame:
    """The labelled point table: ``--points FILE`` or ``--dataset NAME --table NAME [--param KEY=VALUE ...]``."""
    if (args.points is None) == (args.dataset is None):
        raise SystemExit("emkit evaluate: give the labelled points either as --points FILE or as "
                         "--dataset NAME --table NAME")
    if args.points is not None:
        from emkit.io.tables import read_table

        try:
            return read_table(args.points)
        except FileNotFoundError as err:
            raise SystemExit(f"emkit evaluate: {err}") from None
    if not args.table:
        raise SystemExit(f"emkit evaluate: --dataset {args.dataset} needs --table (a table of its descriptor)")
    from emkit.io.cli import parse_params
    from emkit.io.datasets import open_dataset

    return open_dataset(args.dataset, **parse_params(args.param)).points(args.table)


def _write(table: pd.DataFrame, path: str) -> None:
    """The metrics table as CSV, or as JSON records for ``.json``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(table.to_dict(orient="records"), indent=1, default=str))
    else:
        table.to_csv(out, index=False)


def _format(table: pd.DataFrame) -> str:
    """metric, value, 95 % interval, target and verdict as aligned text."""
    rows = []
    for r in table.itertuples(index=False):
        interval = f"({r.interval[0]:.3f}-{r.interval[1]:.3f})" if r.interval is not None else ""
        verdict = "" if r.passed is None else (f"target {r.target}: " + ("met" if r.passed else "missed"))
        value = f"{r.value:.0f}" if r.unit == "count" else f"{r.value:.3f}"
        rows.append(f"{r.metric:<32} {value:>8}  {interval:<15} {verdict}")
    return "\n".join(rows)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from emkit.analysis.evaluate import evaluate_embeddings, metrics_table

    if args.segclr and not args.join_on:
        raise SystemExit("emkit evaluate: --segclr needs --join-on, the column of the points table that holds the "
                         "segment (root) ids the release is keyed by, e.g. --join-on root_id")
    points = _read_points(args)
    for option, column in (("--label-col", args.label_col), ("--group-col", args.group_col),
                           ("--split-col", args.split_col), ("--object-col", args.object_col),
                           ("--join-on", args.join_on)):
        if column is not None and column not in points.columns:
            raise SystemExit(f"emkit evaluate: {option} {column!r} is not a column of the points table; it has "
                             f"{list(points.columns)}")
    emb = _read_embeddings(args, points)
    group_col = args.group_col
    if args.join_on:
        emb, points = _join_rows(emb, points, args.join_on)
        if group_col is None:
            # rows of one segment share its label: split, fold and resample them together, or the probes leak
            group_col = args.join_on
            print(f"grouping by {args.join_on} (--join-on); pass --group-col to group otherwise")
    try:
        metrics = evaluate_embeddings(
            emb, points, label_col=args.label_col, group_col=group_col, split=args.split_col,
            object_col=args.object_col, k=args.k, label_fractions=args.label_fractions,
            probe_repeats=args.probe_repeats, silhouette_sample=args.silhouette_sample or None,
            retrieval_queries=args.retrieval_queries or None, knn_queries=args.knn_queries or None,
            hopkins_fraction=args.hopkins_fraction, hopkins_max_points=args.hopkins_max or None, seed=args.seed,
            progress=not args.quiet)
    except ValueError as err:
        raise SystemExit(f"emkit evaluate: {err}") from None
    table = metrics_table(metrics)
    model = emb.attrs.get("model_id")
    print(f"{args.embeddings}" + (f" (model {model})" if model else "") + f": {len(emb)} embeddings")
    print(_format(table))
    if args.out:
        _write(table, args.out)
        print(f"wrote {args.out}")
    if args.map:
        _draw_map(emb, points, args)
        print(f"wrote {args.map}")
    return 0


def _draw_map(emb: pd.DataFrame, points: pd.DataFrame, args: argparse.Namespace) -> None:
    """The embeddings' 2-D map (UMAP or PCA) coloured by ``--label-col``, saved as ``args.map``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emkit.analysis.inputs import embedding_matrix
    from emkit.analysis.plots import umap_plot

    joined = emb.merge(points[["id", args.label_col]], on="id", how="inner")
    ax = umap_plot(embedding_matrix(joined), joined[args.label_col].fillna("unlabelled").to_numpy(),
                   method=args.projection, seed=args.seed,
                   title=f"{Path(args.embeddings).name}: {args.projection.upper()} by {args.label_col}")
    out = Path(args.map)
    out.parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(out, dpi=150, bbox_inches="tight")
    plt.close(ax.figure)


def register_cli(subparsers) -> None:
    """Add ``evaluate`` to the ``emkit`` command line."""
    p = subparsers.add_parser(
        "evaluate", help="judge an embeddings table against labelled points (silhouette, Hopkins, probes, retrieval)",
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("embeddings", help=f"table with 'id' and emb_0 .. emb_<D-1> ({_TABLE_SUFFIXES}), or with "
                                      "--segclr a SegCLR release or shard")
    p.add_argument("--points", help="labelled point table with 'id' (same formats)")
    p.add_argument("--dataset", help="or a dataset descriptor (emkit datasets lists them) ...")
    p.add_argument("--table", help="... and the name of its point table, e.g. synapses")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="descriptor parameter, e.g. size=tiny")
    p.add_argument("--join-on", default=None, metavar="COLUMN",
                   help="label the embeddings through this column instead of 'id', one point row per value for "
                        "many embedding rows, e.g. root_id for SegCLR node embeddings (also the default --group-col)")
    p.add_argument("--segclr", action="store_true",
                   help="EMBEDDINGS is a SegCLR release (folder, gs:// URL or key of emkit.learn.segclr.RELEASES, "
                        "read for the --join-on segments) or one shard .zip (read whole)")
    p.add_argument("--num-shards", type=int, default=10_000, help="SegCLR release shards (default 10000)")
    p.add_argument("--bytewidth", type=int, default=8,
                   help="SegCLR shard-hash byte width: 64 for the 2022 releases, 8 later (default 8)")
    p.add_argument("--label-col", default="label", help="class column (default: label)")
    p.add_argument("--group-col", default=None,
                   help="grouping column, e.g. a neuron id: grouped kNN folds, a split that keeps groups whole, "
                        "intervals over groups and the silhouette by group")
    p.add_argument("--split-col", default=None, help="column of train/val/test per point (default: a split is made)")
    p.add_argument("--object-col", default=None, help="column for same-object retrieval (default: --group-col)")
    p.add_argument("--k", type=int, default=5, help="neighbours for kNN and retrieval (default 5)")
    p.add_argument("--label-fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0],
                   help="label budgets of the linear probe (default 0.01 0.1 1.0)")
    p.add_argument("--probe-repeats", type=int, default=1, help="label draws per budget below 100 %% (default 1)")
    p.add_argument("--silhouette-sample", type=int, default=5000,
                   help="rows drawn for the silhouettes (default 5000; 0 = all, O(N^2))")
    p.add_argument("--retrieval-queries", type=int, default=5000,
                   help="query rows drawn for same-object retrieval, each ranked against every row (default 5000; "
                        "0 = all)")
    p.add_argument("--knn-queries", type=int, default=20_000,
                   help="labelled rows scored by the grouped kNN vote, each against every row of the other folds "
                        "(default 20000; 0 = all, O(N^2))")
    p.add_argument("--hopkins-fraction", type=float, default=0.1,
                   help="Hopkins probes as a fraction of the rows (default 0.1, seed 003's m = 0.1 N; each is a "
                        "nearest-neighbour search over every row)")
    p.add_argument("--hopkins-max", type=int, default=10_000,
                   help="at most this many Hopkins probes of each kind (default 10000, so seed 003's m up to 100,000 "
                        "rows; 0 = no cap, O(N^2))")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the metrics table: .csv, or .json records")
    p.add_argument("--map", help="save a 2-D map coloured by class (.png, .pdf, .svg)")
    p.add_argument("--projection", choices=("umap", "pca"), default="umap", help="the map's projection")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_evaluate)
