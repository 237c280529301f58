"""emkit.io.store: idempotent keyed parquet writes and DuckDB queries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emkit.io import store


def _frame(ids, value):
    return pd.DataFrame({"id": np.asarray(ids, dtype=np.int64), "model": "m1",
                         "score": np.full(len(ids), value, dtype=float)})


def test_write_is_idempotent_and_replaces_rows(tmp_path):
    path = tmp_path / "pred.parquet"
    store.write_table(_frame([1, 2, 3], 0.1), path, key="id")
    store.write_table(_frame([1, 2, 3], 0.1), path, key="id")
    first = store.read_table(path)
    assert len(first) == 3
    store.write_table(_frame([3, 4], 0.9), path, key="id")  # replaces id 3, adds id 4
    out = store.read_table(path)
    assert out["id"].tolist() == [1, 2, 3, 4]
    assert out["score"].tolist() == [0.1, 0.1, 0.9, 0.9]
    before = path.read_bytes()
    store.write_table(_frame([3, 4], 0.9), path, key="id")
    pd.testing.assert_frame_equal(store.read_table(path), out)
    assert path.read_bytes() == before  # same keys, same bytes


def test_composite_keys_and_errors(tmp_path):
    path = tmp_path / "emb.parquet"
    a = pd.DataFrame({"id": [1, 1], "model": ["a", "b"], "score": [0.0, 1.0]})
    store.write_table(a, path, key=["id", "model"])
    store.write_table(pd.DataFrame({"id": [1], "model": ["b"], "score": [5.0]}), path, key=["id", "model"])
    out = store.read_table(path)
    assert out.set_index(["id", "model"])["score"].to_dict() == {(1, "a"): 0.0, (1, "b"): 5.0}
    with pytest.raises(ValueError, match="row 1 repeats key"):
        store.write_table(pd.DataFrame({"id": [2, 2], "model": ["a", "a"], "score": [0, 1.0]}), path,
                          key=["id", "model"])
    with pytest.raises(ValueError, match="key column"):
        store.write_table(a, path, key="nope")
    with pytest.raises(ValueError, match="differ from the stored"):
        store.write_table(a.assign(extra=1), path, key=["id", "model"])
    store.write_table(a, path)  # no key: overwrite
    assert len(store.read_table(path)) == 2


def test_query_parquet_and_frames(tmp_path):
    store.write_table(_frame([1, 2, 3, 4], 0.5), tmp_path / "p.parquet", key="id")
    labels = pd.DataFrame({"id": [1, 2, 3, 4], "label": ["a", "b", "a", "a"]})
    out = store.query("select l.label, count(*) as n, avg(p.score) as s from p join l using (id) "
                      "group by l.label order by l.label", p=tmp_path / "p.parquet", l=labels)
    assert out["label"].tolist() == ["a", "b"] and out["n"].tolist() == [3, 1]
    with pytest.raises(FileNotFoundError, match="table q"):
        store.query("select 1", q=tmp_path / "none.parquet")
    with pytest.raises(ValueError, match="plain SQL identifier"):
        store.query("select 1", **{"a-b": labels})


def test_write_arrow_keeps_metadata_and_skips_identical_content(tmp_path):
    import os

    import pyarrow as pa

    path = tmp_path / "sub" / "t.parquet"
    table = pa.table({"id": [1, 2], "v": [0.5, 1.5]}).replace_schema_metadata(
        {"run": "a", store.CONTENT_HASH_KEY: "h1"})
    assert store.write_arrow(table, path) == path
    assert store.read_metadata(path) == {"run": "a", store.CONTENT_HASH_KEY: "h1"}
    os.utime(path, (1, 1))  # an old modification time: a rewrite would change it
    store.write_arrow(table, path)
    assert path.stat().st_mtime == 1  # same hash: untouched
    changed = pa.table({"id": [1, 2], "v": [0.5, 2.5]}).replace_schema_metadata({store.CONTENT_HASH_KEY: "h2"})
    store.write_arrow(changed, path)
    assert path.stat().st_mtime != 1
    assert store.read_table(path)["v"].tolist() == [0.5, 2.5]
    assert [p.name for p in path.parent.iterdir()] == ["t.parquet"]  # no temporary file left behind
