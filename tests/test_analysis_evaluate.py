"""Tests of emkit.analysis.evaluate on synthetic data whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from emkit.analysis import evaluate as ev
from emkit.analysis import probes


def blobs(n_per: int = 100, n_classes: int = 3, dim: int = 8, spread: float = 0.3, seed: int = 0):
    """Well-separated Gaussian blobs: centres ~N(0, 10^2), within-class std `spread`."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(n_classes, dim))
    x = np.concatenate([c + spread * rng.normal(size=(n_per, dim)) for c in centres])
    y = np.repeat(np.array([f"class{i}" for i in range(n_classes)]), n_per)
    return x, y


# ----------------------------------------------------------------------------------------------------------------
def test_embedding_matrix_orders_columns_numerically_and_names_bad_rows():
    df = pd.DataFrame({"id": [7, 8], "emb_10": [10.0, 20.0], "emb_2": [2.0, 3.0], "other": ["a", "b"]})
    for i in range(10):
        if i != 2:
            df[f"emb_{i}"] = float(i)
    x = ev.embedding_matrix(df)
    assert x.shape == (2, 11)
    assert x[:, 2].tolist() == [2.0, 3.0] and x[:, 10].tolist() == [10.0, 20.0]
    df.loc[1, "emb_3"] = np.nan
    with pytest.raises(ValueError, match=r"row 1 \(id=8\)"):
        ev.embedding_matrix(df)
    with pytest.raises(ValueError, match="gaps"):
        ev.embedding_matrix(df.drop(columns=["emb_3"]))
    with pytest.raises(ValueError, match="no embedding columns"):
        ev.embedding_matrix(df[["id", "other"]])


def test_silhouette_high_on_blobs_low_on_noise():
    x, y = blobs()
    assert ev.silhouette(x, y) > 0.7
    assert ev.silhouette(x, y, metric="cosine") > 0.7
    noise = np.random.default_rng(1).normal(size=x.shape)
    assert abs(ev.silhouette(noise, y)) < 0.05
    with pytest.raises(ValueError, match="classes"):
        ev.silhouette(x, np.zeros(len(x)))


# ----------------------------------------------------------------------------------------------------------------
def test_hopkins_hand_computed_tiny_2d_example():
    # data and probes chosen so every distance is a square root of an integer
    data = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    uniform = np.array([[2.0, 2.0], [0.0, 1.0]])
    sample_idx = [0, 3]
    # u: (2,2) -> (3,3) at sqrt(2); (0,1) -> (0,0) or (0,2) at 1
    # w: (0,0) -> (1,0) at 1;       (3,3) -> (0,2) at sqrt(10)
    su, sw = math.sqrt(2) + 1.0, 1.0 + math.sqrt(10)
    assert ev.hopkins_from_samples(data, uniform, sample_idx) == pytest.approx(su / (su + sw), abs=1e-15)
    # Lawson & Jurs form with distances^D, D = 2: (2 + 1) / (2 + 1 + 1 + 10) = 3/14
    assert ev.hopkins_from_samples(data, uniform, sample_idx, power="dim") == pytest.approx(3 / 14, abs=1e-15)
    assert ev.hopkins_from_samples(data, uniform, sample_idx, power=2) == pytest.approx(3 / 14, abs=1e-15)


def test_hopkins_follows_its_documented_draws_exactly():
    x = np.random.default_rng(5).normal(size=(57, 3))
    seed = 11
    m = int(math.floor(0.1 * len(x)))  # 5
    rng = np.random.default_rng(seed)
    uniform = rng.uniform(x.min(0), x.max(0), size=(m, 3))
    idx = rng.choice(len(x), size=m, replace=False)
    d_u = cdist(uniform, x).min(axis=1)
    d_all = cdist(x[idx], x)
    d_all[np.arange(m), idx] = np.inf
    d_w = d_all.min(axis=1)
    expected = d_u.sum() / (d_u.sum() + d_w.sum())
    assert ev.hopkins(x, 0.1, seed=seed) == pytest.approx(expected, abs=1e-12)
    assert ev.hopkins(x, 0.1, seed=seed) == ev.hopkins(x, 0.1, seed=seed)  # same seed, same value
    assert ev.hopkins(x, 0.1, seed=seed) != ev.hopkins(x, 0.1, seed=seed + 1)


def test_hopkins_max_points_caps_m_and_draws_as_documented():
    x = np.random.default_rng(6).normal(size=(200, 3))
    # a cap above m = 0.1 N changes nothing
    assert ev.hopkins(x, 0.1, seed=3, max_points=20) == ev.hopkins(x, 0.1, seed=3)
    # a cap below it: the documented draws with m = max_points
    m = 7
    rng = np.random.default_rng(3)
    uniform = rng.uniform(x.min(0), x.max(0), size=(m, 3))
    idx = rng.choice(len(x), size=m, replace=False)
    assert ev.hopkins(x, 0.5, seed=3, max_points=m) == ev.hopkins_from_samples(x, uniform, idx)
    assert ev.hopkins(x, 0.5, seed=3, max_points=m) != ev.hopkins(x, 0.5, seed=3)
    with pytest.raises(ValueError, match="max_points"):
        ev.hopkins(x, 0.1, max_points=0)
    emb = pd.DataFrame(x, columns=["emb_0", "emb_1", "emb_2"]).assign(id=np.arange(200))
    pts = pd.DataFrame({"id": np.arange(200), "label": np.repeat(["a", "b"], 100)})
    common = dict(label_fractions=(1.0,), progress=False)
    capped = ev.evaluate_embeddings(emb, pts, hopkins_max_points=7, **common)["hopkins"]
    assert capped["value"] == ev.hopkins(x, 0.1, seed=0, max_points=7)
    assert "m=7 (capped; 0.1N = 20)" in capped["description"]
    assert "m=0.1N," in ev.evaluate_embeddings(emb, pts, hopkins_max_points=50, **common)["hopkins"]["description"]


def test_hopkins_clustered_near_one_uniform_near_half():
    x, _ = blobs()
    assert ev.hopkins(x, seed=0) > 0.9
    uniform = np.random.default_rng(2).uniform(size=(1000, 2))
    assert ev.hopkins(uniform, seed=0) == pytest.approx(0.5, abs=0.05)
    # (probe seeds differ from the data's seed 2: with the same seed, rng.uniform would replay the data itself)
    mean_h = np.mean([ev.hopkins(uniform, seed=s) for s in range(10, 15)])
    assert mean_h == pytest.approx(0.5, abs=0.03)


def test_hopkins_duplicate_points_give_zero_w():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    assert ev.hopkins_from_samples(x, np.array([[1.0, 1.0]]), [0]) == 1.0


# ----------------------------------------------------------------------------------------------------------------
def test_knn_accuracy_separable_vs_shuffled():
    x, y = blobs()
    assert ev.knn_accuracy(x, y, k=5) == 1.0
    shuffled = np.random.default_rng(0).permutation(y)
    assert abs(ev.knn_accuracy(x, shuffled, k=5) - 1 / 3) < 0.1
    tr, te = np.arange(0, len(x), 2), np.arange(1, len(x), 2)
    assert ev.knn_accuracy(x, y, train_idx=tr, test_idx=te) == 1.0
    assert ev.knn_accuracy(x, y, balanced=True, train_idx=tr, test_idx=te) == 1.0


def test_knn_grouped_protocol_removes_same_object_leakage():
    # 40 objects, each a tight blob of 5 cutouts, with a label drawn at random per object:
    # leave-one-out lets an object's own cutouts vote (inflated ~1.0), the grouped protocol does not (~chance).
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=10.0, size=(40, 6))
    x = np.repeat(centres, 5, axis=0) + 0.01 * rng.normal(size=(200, 6))
    obj = np.repeat(np.arange(40), 5)
    y = np.repeat(rng.choice(["a", "b"], size=40), 5)
    assert ev.knn_accuracy(x, y, k=3) == 1.0
    assert ev.knn_accuracy(x, y, k=3, groups=obj) < 0.75


def test_knn_on_a_query_sample_gives_each_scored_row_the_vote_it_gets_when_all_rows_are_scored():
    # overlapping classes, so the votes differ from row to row; exact duplicates (20 pairs, and one row eight
    # times) exercise leave-one-out's corner where copies of a row crowd the row itself out of its k + 1 neighbours
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    x[260:280] = x[:20]
    x[280:287] = x[50]
    y = rng.choice(["a", "b", "c"], size=300)
    groups = np.repeat(np.arange(30), 10)
    tr, te = np.arange(0, 300, 3), np.setdiff1d(np.arange(300), np.arange(0, 300, 3))
    rows = probes.query_sample(300, 70, seed=1)
    assert len(rows) == 70 and np.all(np.diff(rows) > 0)
    for protocol in ({}, {"groups": groups}, {"train_idx": tr, "test_idx": te}):
        args = (protocol.get("train_idx"), protocol.get("test_idx"), protocol.get("groups"), 5, "euclidean")
        y_all, vote_all = probes.knn_predictions(x, y, 3, *args)
        y_some, vote_some = probes.knn_predictions(x, y, 3, *args, query_rows=rows)
        scored = np.intersect1d(te, rows) if "test_idx" in protocol else rows
        position = {r: i for i, r in enumerate(te if "test_idx" in protocol else range(300))}
        at = [position[r] for r in scored]
        assert len(vote_some) == len(scored) > 0
        np.testing.assert_array_equal(y_some, y_all[at])
        np.testing.assert_array_equal(vote_some, vote_all[at])
    # small tables are scored whole whatever the cap, and the accuracy is then the same number
    assert probes.query_sample(300, 300) is None and probes.query_sample(300, None) is None
    assert ev.knn_accuracy(x, y, k=3, groups=groups, max_queries=1000) == ev.knn_accuracy(x, y, k=3, groups=groups)
    with pytest.raises(ValueError, match="at least 1"):
        probes.query_sample(300, 0)


def test_evaluate_embeddings_scores_a_knn_sample_and_says_so():
    x, y = blobs(n_per=60)
    rng = np.random.default_rng(0)
    emb = pd.DataFrame(x, columns=[f"emb_{i}" for i in range(x.shape[1])])
    emb.insert(0, "id", np.arange(len(x)))
    pts = pd.DataFrame({"id": np.arange(len(x)), "label": y, "cell": rng.integers(0, 30, len(x))})
    common = dict(group_col="cell", label_fractions=(1.0,), progress=False)
    whole = ev.evaluate_embeddings(emb, pts, **common)
    capped = ev.evaluate_embeddings(emb, pts, knn_queries=1000, **common)
    sampled = ev.evaluate_embeddings(emb, pts, knn_queries=50, **common)
    assert capped["knn_accuracy"] == whole["knn_accuracy"]
    assert "rows scored" not in whole["knn_accuracy"]["description"]
    assert "50 of 180 rows scored" in sampled["knn_accuracy"]["description"]
    assert sampled["knn_accuracy"]["value"] == 1.0  # well-separated blobs: every sampled row is voted right
    low, high = sampled["knn_accuracy"]["interval"]
    assert low <= 1.0 <= high


def test_sample_label_fraction_keeps_one_per_class():
    labels = np.array(["big"] * 500 + ["small"] * 20 + ["tiny"] * 3)
    idx = ev.sample_label_fraction(labels, 0.01, seed=0)
    kept = pd.Series(labels[idx]).value_counts().to_dict()
    assert kept == {"big": 5, "small": 1, "tiny": 1}
    assert len(np.unique(idx)) == len(idx)
    assert np.array_equal(idx, ev.sample_label_fraction(labels, 0.01, seed=0))
    assert len(ev.sample_label_fraction(labels, 1.0)) == len(labels)
    with pytest.raises(ValueError):
        ev.sample_label_fraction(labels, 0.0)


def test_linear_probe_separable_vs_shuffled_and_label_budget():
    x, y = blobs()
    tr, te = np.arange(0, len(x), 2), np.arange(1, len(x), 2)
    res = ev.linear_probe(x, y, tr, te, label_fraction=0.01, seed=0)
    assert res["n_train"] == 3 and res["n_classes_train"] == 3  # 1 % of 50 per class -> 1 each
    assert res["accuracy"] == 1.0 and res["balanced_accuracy"] == 1.0
    shuffled = np.random.default_rng(0).permutation(y)
    res = ev.linear_probe(x, shuffled, tr, te)
    assert abs(res["accuracy"] - 1 / 3) < 0.12
    curve = ev.label_budget_curve(x, y, tr, te, fractions=(0.01, 0.1, 1.0), progress=False)
    assert curve["label_fraction"].tolist() == [0.01, 0.1, 1.0]
    assert curve["n_train"].tolist() == [3, 15, 150]
    assert (curve["accuracy"] == 1.0).all()
    with pytest.raises(ValueError, match="share"):
        ev.linear_probe(x, y, tr, tr)


def test_label_budget_curve_returns_each_probes_test_predictions():
    x, y, groups = noisy_one_feature_problem()
    tr, te = np.arange(0, 240, 2), np.arange(1, 240, 2)
    curve = ev.label_budget_curve(x, y, tr, te, fractions=(0.1, 1.0), n_repeats=3, groups=groups, progress=False,
                                  return_predictions=True)
    assert curve["label_fraction"].tolist() == [0.1, 0.1, 0.1, 1.0]
    for _, row in curve.iterrows():
        assert row["y_pred"].shape == (len(te),)
        assert np.mean(row["y_pred"] == y[te]) == pytest.approx(row["accuracy"])
        np.testing.assert_array_equal(row["correct"], row["y_pred"] == y[te])
    hits = ev.draw_hits(curve[curve["label_fraction"] == 0.1])
    assert hits.shape == (3, len(te)) and hits.dtype == bool
    np.testing.assert_allclose(hits.mean(axis=1), curve["accuracy"].iloc[:3])
    # the three 10 % draws differ, so their predictions do
    assert not np.array_equal(curve["y_pred"].iloc[0], curve["y_pred"].iloc[1])
    # two worker processes give the same rows in the same order
    parallel = ev.label_budget_curve(x, y, tr, te, fractions=(0.1, 1.0), n_repeats=3, groups=groups,
                                     progress=False, return_predictions=True, n_jobs=2)
    pd.testing.assert_frame_equal(parallel.drop(columns=["y_pred", "correct"]),
                                  curve.drop(columns=["y_pred", "correct"]))
    for a, b in zip(parallel["y_pred"], curve["y_pred"]):
        np.testing.assert_array_equal(a, b)
    plain = ev.label_budget_curve(x, y, tr, te, fractions=(1.0,), progress=False)
    assert "y_pred" not in plain.columns
    with pytest.raises(ValueError, match="return_predictions"):
        ev.draw_hits(plain)


def noisy_one_feature_problem(n: int = 240, dim: int = 60, seed: int = 0):
    """Two classes whose means differ by 0.35 s.d. in each of ``dim`` noisy features (a case where a strong L2
    penalty, close to a nearest-centroid rule, beats a weak one on few rows), and neurons ("groups") of 6 rows
    each, every neuron of one class."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b"]), n // 2)
    x = rng.normal(size=(n, dim)) + np.where(y == "a", 0.0, 0.35)[:, None]
    groups = np.arange(n) // 6
    return x, y, groups


def test_probe_chooses_its_l2_strength_on_the_labelled_rows_only():
    x, y, groups = noisy_one_feature_problem()
    tr = np.concatenate([np.arange(0, 40), np.arange(120, 160)])  # 80 labelled rows, 60 features
    te = np.setdiff1d(np.arange(240), tr)
    cv = ev.linear_probe(x, y, tr, te, groups=groups)
    assert cv["C_choice"] == "cv" and cv["C"] in ev.DEFAULT_PROBE_CS
    # with 60 features and 80 rows the weakest penalty overfits the noise; the chosen one is stronger
    weak = ev.linear_probe(x, y, tr, te, C=max(ev.DEFAULT_PROBE_CS))
    assert weak["C_choice"] == "given"
    assert cv["C"] < max(ev.DEFAULT_PROBE_CS)
    assert cv["accuracy"] > weak["accuracy"]
    # the test rows take no part in the choice: relabelling them changes nothing but the score
    scrambled = y.copy()
    scrambled[te] = np.random.default_rng(1).permutation(scrambled[te])
    again = ev.linear_probe(x, scrambled, tr, te, groups=groups)
    assert again["C"] == cv["C"]
    # too few labelled rows per class to hold any out: the fallback strength, said so
    tiny = ev.linear_probe(x, y, np.array([0, 1, 120]), te, fallback_C=0.5)
    assert tiny["C_choice"] == "fallback" and tiny["C"] == 0.5
    with pytest.raises(ValueError, match="'cv'"):
        ev.linear_probe(x, y, tr, te, C="auto")
    with pytest.raises(ValueError, match="groups"):
        ev.linear_probe(x, y, tr, te, groups=groups[:10])


def test_probe_folds_keep_groups_whole_and_fall_back_when_classes_are_thin():
    x, y, groups = noisy_one_feature_problem()
    folds = probes._probe_folds(y, groups, n_folds=3, seed=0)
    assert len(folds) == 3
    held_out = np.concatenate([val for _, val in folds])
    assert np.array_equal(np.sort(held_out), np.arange(len(y)))  # every row held out exactly once
    for train, val in folds:
        assert not set(groups[train]) & set(groups[val])  # no neuron on both sides
        assert set(y[train]) == {"a", "b"}
    assert probes._probe_folds(np.array(["a", "a", "b"]), None, 3, 0) is None  # class b has one row
    assert len(probes._probe_folds(y, None, 5, 0)) == 5


# ----------------------------------------------------------------------------------------------------------------
def test_same_object_retrieval_perfect_for_grouped_objects():
    rng = np.random.default_rng(4)
    centres = rng.normal(scale=10.0, size=(12, 5))
    x = np.repeat(centres, 6, axis=0) + 0.01 * rng.normal(size=(72, 5))
    obj = np.repeat(np.arange(12) * 1000 + 7, 6)
    perm = rng.permutation(72)  # row order must not matter
    r = ev.same_object_retrieval(x[perm], obj[perm], k=5, progress=False)
    assert r["precision_at_k"] == 1.0 and r["top1"] == 1.0 and r["mean_average_precision"] == 1.0
    assert r["n_queries"] == 72 and r["n_objects"] == 12
    # random object ids: precision ~ chance (5 others of 71)
    r = ev.same_object_retrieval(x, rng.permutation(obj), k=5, batch_size=10, progress=False)
    assert r["precision_at_k"] < 0.3


def test_same_object_retrieval_hand_computed_1d():
    # rows: x = 0 (a), 1 (a), 10 (b), 11 (b), 6.2 (a), 100 (c: a singleton, in the database only)
    x = np.array([[0.0], [1.0], [10.0], [11.0], [6.2], [100.0]])
    obj = np.array(["a", "a", "b", "b", "a", "c"])
    r = ev.same_object_retrieval(x, obj, k=2, progress=False)
    # rankings (relevance): 0: [1,1,0,0,0]; 1: [1,1,0,0,0]; 6.2: 10,11,1,0 -> [0,0,1,1,0] AP = (1/3 + 2/4)/2
    # 10: 11, 6.2.. -> [1,0,...] AP 1; 11: 10 first -> AP 1
    assert r["mean_average_precision"] == pytest.approx((4 + 5 / 12) / 5, abs=1e-12)
    assert r["top1"] == pytest.approx(4 / 5)
    assert r["precision_at_k"] == pytest.approx((1 + 1 + 0 + 0.5 + 0.5) / 5)
    assert r["n_queries"] == 5 and r["n_objects"] == 2


def _retrieval_by_definition(x, obj, k):
    """precision@k, top-1 and mAP by the docstring's definitions, one query at a time with a full stable sort."""
    prec, top1, ap = [], [], []
    for q in range(len(x)):
        if np.count_nonzero(obj == obj[q]) < 2:
            continue
        d = np.sqrt(((x - x[q]) ** 2).sum(axis=1))
        ranking = [i for i in np.argsort(d, kind="stable") if i != q]
        relevant = np.array([obj[i] == obj[q] for i in ranking])
        prec.append(relevant[:k].mean())
        top1.append(float(relevant[0]))
        ap.append(np.mean([relevant[: r + 1].mean() for r in np.flatnonzero(relevant)]))
    return np.mean(prec), np.mean(top1), np.mean(ap)


@pytest.mark.parametrize("ties", [False, True])
def test_same_object_retrieval_matches_its_definition_with_and_without_ties(ties):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(90, 3))
    obj = rng.integers(0, 12, size=90)
    obj[obj == 11] = 10  # every object has two or more rows ... except possibly none: add a singleton
    obj[0] = 99
    if ties:  # the same vector under two objects, twice within one object, and on a grid: equal distances
        x[5] = x[6]
        x[7] = x[8] = x[9]
        x[20:40] = np.round(x[20:40])
    r = ev.same_object_retrieval(x, obj, k=4, batch_size=16, progress=False)
    prec, top1, mean_ap = _retrieval_by_definition(x, obj, 4)
    assert r["precision_at_k"] == pytest.approx(prec, abs=1e-12)
    assert r["top1"] == pytest.approx(top1, abs=1e-12)
    assert r["mean_average_precision"] == pytest.approx(mean_ap, abs=1e-12)


# ----------------------------------------------------------------------------------------------------------------
def _tables(seed: int = 0):
    """Embeddings + points tables: 3 classes, 10 neurons per class, 8 cutouts per neuron, ids shuffled."""
    rng = np.random.default_rng(seed)
    class_centres = rng.normal(scale=10.0, size=(3, 6))
    rows, vecs = [], []
    for n in range(30):
        c = n % 3
        neuron_centre = class_centres[c] + rng.normal(scale=1.0, size=6)
        for _ in range(8):
            rows.append({"id": 1000 + len(rows), "label": f"type{c}", "neuron_id": 500 + n,
                         "x_nm": 0.0, "y_nm": 0.0, "z_nm": 0.0})
            vecs.append(neuron_centre + 0.05 * rng.normal(size=6))
    points = pd.DataFrame(rows)
    emb = pd.DataFrame(np.array(vecs), columns=[f"emb_{i}" for i in range(6)])
    emb.insert(0, "id", points["id"].to_numpy())
    return emb.sample(frac=1.0, random_state=seed).reset_index(drop=True), points


def test_evaluate_embeddings_and_metrics_table():
    emb, points = _tables()
    m = ev.evaluate_embeddings(emb, points, label_col="label", group_col="neuron_id", progress=False)
    for name in ("n_points", "dim", "hopkins", "silhouette_euclidean", "silhouette_cosine", "knn_accuracy",
                 "probe_accuracy_1pct", "probe_accuracy_10pct", "probe_accuracy_100pct",
                 "probe_balanced_accuracy_100pct", "retrieval_precision_at_k", "retrieval_top1", "retrieval_map"):
        assert name in m, name
        with_interval = name == "knn_accuracy" or name.startswith("probe_accuracy")
        assert set(m[name]) == {"value", "unit", "description"} | ({"interval"} if with_interval else set())
    for name in ("knn_accuracy", "probe_accuracy_1pct", "probe_accuracy_10pct", "probe_accuracy_100pct"):
        low, high = m[name]["interval"]
        assert 0.0 <= low <= m[name]["value"] <= high <= 1.0, name
    assert m["probe_accuracy_100pct"]["interval"] == (1.0, 1.0)  # every test neuron right: no resample differs
    assert m["n_points"]["value"] == 240 and m["dim"]["value"] == 6
    assert m["knn_accuracy"]["value"] == 1.0  # classes separable across neurons
    assert m["probe_accuracy_100pct"]["value"] == 1.0
    assert m["retrieval_precision_at_k"]["value"] == 1.0  # cutouts of one neuron are tightest
    assert m["hopkins"]["value"] > 0.9
    # neurons are tight balls (sd 0.05) 1 apart within classes 10 apart: they cluster even better than the classes
    aligned = emb.set_index("id").loc[points["id"]].to_numpy()
    from sklearn.metrics import silhouette_score

    assert m["silhouette_by_group"]["value"] == pytest.approx(silhouette_score(aligned, points["neuron_id"]))
    assert m["silhouette_by_group"]["value"] > m["silhouette_euclidean"]["value"] > 0.5
    assert "silhouette_by_group" not in ev.evaluate_embeddings(emb, points, label_col="label", progress=False)

    table = ev.metrics_table(m, targets={"hopkins": "> 0.6", "knn_accuracy": 0.99, "silhouette_cosine": "< 0"})
    assert list(table.columns) == ["metric", "value", "interval", "unit", "target", "passed", "description"]
    row = table.set_index("metric")
    assert row.loc["knn_accuracy", "interval"] == m["knn_accuracy"]["interval"]
    assert row.loc["hopkins", "interval"] is None
    assert row.loc["hopkins", "passed"] is True and row.loc["hopkins", "target"] == "> 0.6"
    assert row.loc["knn_accuracy", "passed"] is True and row.loc["knn_accuracy", "target"] == ">= 0.99"
    assert row.loc["silhouette_cosine", "passed"] is False
    assert row.loc["dim", "passed"] is None
    plain = ev.metrics_table({"silhouette_euclidean": 0.1, "hopkins": 0.7})  # default seed-003 targets
    assert plain["passed"].tolist() == [False, True]


def test_evaluate_embeddings_with_given_split_and_missing_ids():
    emb, points = _tables(1)
    points["split"] = np.where(points["neuron_id"] % 5 == 0, "test", "train")
    extra = emb.iloc[:1].copy()
    extra["id"] = 99999  # an embedding without a point row
    with pytest.warns(UserWarning, match="1 of 241 embeddings"):
        m = ev.evaluate_embeddings(pd.concat([emb, extra]), points, split="split", label_fractions=(1.0,),
                                   progress=False)
    assert m["n_points"]["value"] == 240
    assert "retrieval_map" not in m  # no object column given
    assert "given split" in m["probe_accuracy_100pct"]["description"]
    assert m["probe_accuracy_100pct"]["value"] == 1.0
    with pytest.raises(ValueError, match="split column"):
        ev.evaluate_embeddings(emb, points, split="nope", progress=False)


@pytest.mark.realdata
def test_same_object_retrieval_on_snemi3d_objects():
    """Real object ids (SNEMI3D AC4, Kasthuri et al. 2015): 20 random voxels from each of the 10 largest neurons of
    a 20x256x256 subvolume, "embedded" by their position in nm (6x6x30 nm voxels). Neurons are spatially compact
    there, so retrieval must beat chance by far; shuffled object ids must not."""
    h5py = pytest.importorskip("h5py")
    from emkit.paths import realdata_dir

    path = realdata_dir() / "snemi3d_ac4_train.h5"
    if not path.exists():
        pytest.skip(f"real data absent: {path}")
    with h5py.File(path, "r") as f:
        seg = f["neuron_ids"][:20, :256, :256]  # (z, y, x)
    ids, counts = np.unique(seg[seg > 0], return_counts=True)
    largest = ids[np.argsort(counts)[::-1][:10]]
    rng = np.random.default_rng(0)
    emb, obj = [], []
    for i in largest:
        zyx = np.argwhere(seg == i)
        pick = zyx[rng.choice(len(zyx), size=20, replace=False)]
        emb.append(pick[:, ::-1] * np.array([6.0, 6.0, 30.0]))  # (x, y, z) in nm
        obj += [int(i)] * 20
    emb, obj = np.concatenate(emb), np.array(obj)
    chance = 19 / 199
    r = ev.same_object_retrieval(emb, obj, k=5, progress=False)
    assert r["n_objects"] == 10 and r["n_queries"] == 200
    assert r["precision_at_k"] > 3 * chance and r["mean_average_precision"] > 2 * chance
    shuffled = ev.same_object_retrieval(emb, rng.permutation(obj), k=5, progress=False)
    assert shuffled["precision_at_k"] < 2 * chance


# ----------------------------------------------------------------------------------------------------------------
# what an embedding encodes
def test_decodability_recovers_a_linear_quantity_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 10))
    targets = pd.DataFrame({"linear": 3.0 * x[:, 0] - 2.0 * x[:, 4] + 0.05 * rng.normal(size=300),
                            "noise": rng.normal(size=300),
                            "half": x[:, 1] + rng.normal(size=300)})  # R² = var(x1) / (var(x1) + 1) = 0.5
    out = ev.decodability(x, targets)
    assert list(out.index) == ["linear", "noise", "half"]
    assert out.loc["linear", "r2"] > 0.99
    assert abs(out.loc["noise", "r2"]) < 0.05
    assert 0.4 < out.loc["half", "r2"] < 0.6
    assert (out["n_rows"] == 300).all()


def test_decodability_groups_stop_a_shared_quantity_being_read_off_its_group():
    # each group has its own random value and its own random embedding offset: without groups, the offset
    # identifies the group and so its value; with whole groups held out there is nothing to read it from
    rng = np.random.default_rng(1)
    n_groups, per = 40, 8
    groups = np.repeat(np.arange(n_groups), per)
    offsets = rng.normal(scale=3.0, size=(n_groups, 80))  # more dims than groups
    x = offsets[groups] + 0.1 * rng.normal(size=(n_groups * per, 80))
    value = rng.normal(size=n_groups)[groups]
    leaky = ev.decodability(x, {"value": value}, n_splits=5).loc["value", "r2"]
    grouped = ev.decodability(x, {"value": value}, groups=groups, n_splits=5).loc["value", "r2"]
    assert leaky > 0.8
    assert grouped < 0.1


def test_decodability_leaves_out_non_finite_rows_per_target_and_names_bad_input():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 3))
    y = x[:, 0].copy()
    y[:7] = np.nan
    out = ev.decodability(x, {"y": y, "full": x[:, 1]})
    assert out.loc["y", "n_rows"] == 93 and out.loc["full", "n_rows"] == 100
    assert out.loc["y", "r2"] > 0.99
    with pytest.raises(ValueError, match="targets have 99 rows"):
        ev.decodability(x, np.zeros(99))
    with pytest.raises(ValueError, match="not"):
        ev.decodability(x, pd.DataFrame({"s": ["a"] * 100}))
    with pytest.raises(ValueError, match="groups among its finite rows"):
        ev.decodability(x, {"y": x[:, 0]}, groups=np.arange(100) % 3)


def test_class_variance_share_hand_computed():
    labels = np.array(["a", "a", "b", "b"])
    values = pd.DataFrame({"apart": [0.0, 0.0, 2.0, 2.0], "within": [0.0, 2.0, 0.0, 2.0],
                           "mixed": [0.0, 2.0, 4.0, 6.0], "flat": [1.0, 1.0, 1.0, 1.0]})
    share = ev.class_variance_share(values, labels)
    # mixed: mean 3, total SS 20, class means 1 and 5 -> between SS 2*4 + 2*4 = 16
    assert share["apart"] == pytest.approx(1.0) and share["within"] == pytest.approx(0.0)
    assert share["mixed"] == pytest.approx(0.8)
    assert np.isnan(share["flat"])


def test_readout_shift_zero_for_the_same_readout_and_near_one_for_another_rows():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 16)) * np.linspace(0.1, 10, 16)  # scales differ: the shift is per-dimension scaled
    assert ev.readout_shift(x, x) == 0.0
    assert ev.readout_shift(x, x[rng.permutation(400)]) == pytest.approx(1.0, abs=0.05)
    # a small perturbation: 0.1 of each dimension's std -> |d| ~ 0.1 sqrt(16), pairs ~ sqrt(2 * 16)
    shifted = x + 0.1 * x.std(axis=0) * rng.normal(size=x.shape)
    assert ev.readout_shift(x, shifted) == pytest.approx(0.1 / np.sqrt(2), rel=0.1)
    with pytest.raises(ValueError, match="same shape"):
        ev.readout_shift(x, x[:10])


def test_nearest_neighbours_leave_out_the_query_and_its_group():
    x = np.array([[0.0], [1.0], [1.5], [4.0], [10.0]])
    assert ev.nearest_neighbours(x, [0, 3], k=2).tolist() == [[1, 2], [2, 1]]
    groups = ["n1", "n1", "n2", "n2", "n3"]
    # query 0 may not see row 1 (its neuron); query 3 may not see row 2
    assert ev.nearest_neighbours(x, [0, 3], k=2, groups=groups).tolist() == [[2, 3], [1, 0]]
    with pytest.raises(ValueError, match="only 3 rows"):
        ev.nearest_neighbours(x, [0], k=4, groups=groups)
    with pytest.raises(ValueError, match="row positions"):
        ev.nearest_neighbours(x, [5])


def test_evaluate_reexports_each_metric_from_its_own_module():
    from emkit.analysis import clustering, holds, inputs, retrieval

    for module in (clustering, probes, retrieval, holds):
        for name in module.__all__:
            if name in ev.__all__:
                assert getattr(ev, name) is getattr(module, name), f"evaluate.{name} is not {module.__name__}.{name}"
    assert ev.embedding_matrix is inputs.embedding_matrix
    exported = set(clustering.__all__) | set(probes.__all__) | set(retrieval.__all__) | set(holds.__all__)
    missing = set(ev.__all__) - exported - {"embedding_matrix", "evaluate_embeddings", "metrics_table",
                                            "DEFAULT_TARGETS"}
    assert not missing, f"evaluate.__all__ names no module's export: {sorted(missing)}"
