"""``emkit evaluate``: the command line over emkit.analysis.evaluate, on tables whose answers are known."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from emkit.cli import main
from emkit.learn.export import write_embeddings


def _known_tables(n_neurons: int = 18, per_neuron: int = 6, dim: int = 4, seed: int = 0):
    """Three classes far apart, each neuron a tight ball inside its class: every read-out is exact."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(3, dim))
    rows, vectors = [], []
    for neuron in range(n_neurons):
        cls = neuron % 3
        centre = centres[cls] + rng.normal(scale=1.0, size=dim)
        for _ in range(per_neuron):
            rows.append({"id": 100 + len(rows), "label": f"type{cls}", "neuron_id": neuron})
            vectors.append(centre + 0.05 * rng.normal(size=dim))
    points = pd.DataFrame(rows)
    emb = pd.DataFrame(np.array(vectors), columns=[f"emb_{i}" for i in range(dim)])
    emb.insert(0, "id", points["id"].to_numpy())
    return emb, points


def test_evaluate_command_prints_and_writes_the_metrics_table_and_map(tmp_path, capsys):
    emb, points = _known_tables()
    emb_path = write_embeddings(emb, tmp_path / "emb.parquet", model_id="toy-model")
    points.to_csv(tmp_path / "points.csv", index=False)
    code = main(["evaluate", str(emb_path), "--points", str(tmp_path / "points.csv"), "--group-col", "neuron_id",
                 "--label-fractions", "0.5", "1.0", "--out", str(tmp_path / "m.json"),
                 "--map", str(tmp_path / "map.png"), "--projection", "pca", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "(model toy-model): 108 embeddings" in printed
    assert "target > 0.15: met" in printed and "target > 0.6: met" in printed
    records = {r["metric"]: r for r in json.loads((tmp_path / "m.json").read_text())}
    assert records["n_points"]["value"] == 108 and records["dim"]["value"] == 4
    assert records["knn_accuracy"]["value"] == 1.0 and records["probe_accuracy_100pct"]["value"] == 1.0
    assert "probe_accuracy_50pct" in records and "probe_accuracy_10pct" not in records
    assert records["retrieval_precision_at_k"]["value"] == 1.0  # a neuron's rows are each other's neighbours
    # subsampled: 40 rows for the silhouettes, 30 retrieval queries, 25 rows scored by kNN, Hopkins probes for
    # a fifth of the rows but at most 15 (the values move, the verdicts do not)
    assert main(["evaluate", str(emb_path), "--points", str(tmp_path / "points.csv"), "--group-col", "neuron_id",
                 "--label-fractions", "1.0", "--silhouette-sample", "40", "--retrieval-queries", "30",
                 "--knn-queries", "25", "--hopkins-fraction", "0.2", "--hopkins-max", "15",
                 "--out", str(tmp_path / "few.json"), "--quiet"]) == 0
    few = {r["metric"]: r for r in json.loads((tmp_path / "few.json").read_text())}
    assert few["silhouette_euclidean"]["value"] != records["silhouette_euclidean"]["value"]
    assert few["silhouette_euclidean"]["passed"] is True and few["retrieval_precision_at_k"]["value"] == 1.0
    assert "25 of 108 rows scored" in few["knn_accuracy"]["description"] and few["knn_accuracy"]["value"] == 1.0
    assert "rows scored" not in records["knn_accuracy"]["description"]  # 108 rows < the default 20,000
    assert "m=15 (capped; 0.2N = 21)" in few["hopkins"]["description"] and few["hopkins"]["passed"] is True
    assert "m=0.1N," in records["hopkins"]["description"]  # 108 rows: seed 003's m, below the default cap
    assert few["hopkins"]["value"] != records["hopkins"]["value"]
    assert records["silhouette_euclidean"]["passed"] is True
    assert (tmp_path / "map.png").stat().st_size > 10_000
    # the same from a CSV of embeddings, written as a CSV table
    emb.to_csv(tmp_path / "emb.csv", index=False)
    assert main(["evaluate", str(tmp_path / "emb.csv"), "--points", str(tmp_path / "points.csv"),
                 "--label-fractions", "1.0", "--out", str(tmp_path / "m.csv"), "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "m.csv")
    from sklearn.metrics import silhouette_score

    whole = silhouette_score(emb.filter(like="emb_").to_numpy(), points.set_index("id").loc[emb["id"], "label"])
    assert table.set_index("metric").loc["silhouette_euclidean", "value"] == pytest.approx(whole)  # 108 < 5000 rows
    assert list(table.columns) == ["metric", "value", "interval", "unit", "target", "passed", "description"]
    assert "retrieval_map" not in set(table["metric"])  # no group or object column: no retrieval


def test_evaluate_command_names_what_is_wrong(tmp_path):
    emb, points = _known_tables()
    emb.to_csv(tmp_path / "emb.csv", index=False)
    points.to_csv(tmp_path / "points.csv", index=False)
    base = ["evaluate", str(tmp_path / "emb.csv")]
    with pytest.raises(SystemExit, match="either as --points FILE or as --dataset"):
        main(base)
    with pytest.raises(SystemExit, match="'cell_type' is not a column of the points table"):
        main([*base, "--points", str(tmp_path / "points.csv"), "--label-col", "cell_type"])
    with pytest.raises(SystemExit, match="no table file"):
        main([*base, "--points", str(tmp_path / "nope.csv")])
    with pytest.raises(SystemExit, match="needs --table"):
        main([*base, "--dataset", "synthetic"])
    emb.rename(columns=lambda c: c.replace("emb_", "f")).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SystemExit, match="needs the column 'id' and embedding columns"):
        main(["evaluate", str(tmp_path / "bad.csv"), "--points", str(tmp_path / "points.csv")])
    points.assign(id=points["id"] + 10_000).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(SystemExit, match="no embedding id matches a point id"):
        main([*base, "--points", str(tmp_path / "other.csv")])


def test_evaluate_command_reads_the_points_of_a_dataset_descriptor(tmp_path, capsys):
    from emkit.io.datasets import open_dataset

    synapses = open_dataset("synthetic", size="tiny", seed=0).points("synapses")
    rng = np.random.default_rng(0)
    emb = pd.DataFrame(rng.normal(size=(len(synapses), 3)), columns=["emb_0", "emb_1", "emb_2"])
    emb.insert(0, "id", synapses["id"].to_numpy())
    emb.to_csv(tmp_path / "emb.csv", index=False)
    assert main(["evaluate", str(tmp_path / "emb.csv"), "--dataset", "synthetic", "--table", "synapses",
                 "--param", "size=tiny", "--param", "seed=0", "--group-col", "pre_root_id",
                 "--label-fractions", "1.0", "--out", str(tmp_path / "m.csv"), "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "m.csv").set_index("metric")
    assert table.loc["n_points", "value"] == len(synapses)
    assert abs(table.loc["silhouette_euclidean", "value"]) < 0.1  # random vectors: no class structure


def test_evaluate_command_judges_segclr_node_embeddings_labelled_per_segment(tmp_path, capsys):
    from emkit.learn.segclr import md5_shard, write_segclr_shard

    emb, points = _known_tables(n_neurons=12, per_neuron=6)
    root = 864691135000000000 + points["neuron_id"].to_numpy()
    vectors = emb[[c for c in emb.columns if c.startswith("emb_")]].to_numpy()
    segments = {int(r): vectors[root == r] for r in np.unique(root)}
    positions = {r: np.arange(3 * len(e), dtype=float).reshape(-1, 3) for r, e in segments.items()}
    release = tmp_path / "segclr_csvzips"
    write_segclr_shard(release, segments, positions, num_shards=16, bytewidth=64)
    # one label row per segment, and one segment the release does not embed
    cells = pd.DataFrame({"root_id": sorted(segments), "cell_type": [f"type{i % 3}" for i in range(12)]})
    unembedded = next(r for r in range(10**6, 10**6 + 100) if not (release / f"{md5_shard(r, 16, 64)}.zip").exists())
    cells = pd.concat([cells, pd.DataFrame({"root_id": [unembedded], "cell_type": ["type0"]})])
    cells.to_csv(tmp_path / "cells.csv", index=False)
    args = ["evaluate", str(release), "--segclr", "--num-shards", "16", "--bytewidth", "64",
            "--points", str(tmp_path / "cells.csv"), "--join-on", "root_id", "--label-col", "cell_type",
            "--label-fractions", "1.0", "--out", str(tmp_path / "m.csv"), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"1 of 13 segments have no embeddings in {release} (e.g. {unembedded})" in printed
    assert "grouping by root_id (--join-on)" in printed
    table = pd.read_csv(tmp_path / "m.csv").set_index("metric")
    assert table.loc["n_points", "value"] == 72  # every node row, each labelled through its segment
    assert table.loc["knn_accuracy", "value"] == 1.0
    assert "grouped" in table.loc["knn_accuracy", "description"]  # folds keep a segment's rows together
    assert table.loc["retrieval_precision_at_k", "value"] == 1.0  # nodes of one segment find each other
    # one shard read whole: every segment in it
    shard = release / f"{md5_shard(int(root[0]), 16, 64)}.zip"
    in_shard = [r for r in segments if md5_shard(r, 16, 64) == md5_shard(int(root[0]), 16, 64)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a shard of one class has no silhouette (and says so)
        assert main(["evaluate", str(shard), "--segclr", "--points", str(tmp_path / "cells.csv"), "--join-on",
                     "root_id", "--label-col", "cell_type", "--label-fractions", "1.0", "--quiet",
                     "--out", str(tmp_path / "shard.csv")]) == 0
    assert pd.read_csv(tmp_path / "shard.csv").set_index("metric").loc["n_points", "value"] == 6 * len(in_shard)
    with pytest.raises(SystemExit, match="--segclr needs --join-on"):
        main(["evaluate", str(release), "--segclr", "--points", str(tmp_path / "cells.csv")])
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(SystemExit, match="none of the 13 segments has embeddings"):
        main(["evaluate", str(tmp_path / "elsewhere"), *args[2:]])  # e.g. another release's sharding
    pd.concat([cells, cells.iloc[:1]]).to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(SystemExit, match="row 13 repeats root_id=864691135000000000"):
        main([*args[:7], "--points", str(tmp_path / "twice.csv"), *args[9:]])
