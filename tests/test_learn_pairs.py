import numpy as np
import pytest
import torch

from emkit.learn.augment import EMAugment
from emkit.learn.pairs import SameObjectPairs, partner_candidates
from emkit.learn.models import build_encoder
from emkit.learn.train import RandomCutoutDataset, SimCLRObjective, SimSiamObjective, collate_cutouts, train_ssl


def test_partner_candidates_group_and_radius():
    groups = ["a", "a", "a", "b", None, "c"]
    pos = np.array([[0, 0, 0], [100, 0, 0], [1000, 0, 0], [0, 0, 0], [0, 0, 0], [5, 0, 0]], dtype=float)
    cand = partner_candidates(groups)
    assert [c.tolist() for c in cand] == [[1, 2], [0, 2], [0, 1], [], [], []]
    near = partner_candidates(groups, pos, radius_nm=150.0)
    assert [c.tolist() for c in near] == [[1], [0], [], [], [], []]
    with pytest.raises(ValueError, match="needs positions_nm"):
        partner_candidates(groups, radius_nm=10.0)


def test_pairs_are_same_object_deterministic_and_vary_over_passes():
    base = RandomCutoutDataset(n=12, shape=(1, 4, 6, 6))
    groups = np.repeat([7, 8, 9], 4)  # three objects of four cutouts
    groups[11] = 10  # an object with one cutout: its own partner
    pairs = SameObjectPairs(base, groups, repeats=20, seed=3)
    assert len(pairs) == 240 and pairs.n_alone == 1
    seen = {i: set() for i in range(12)}
    for index in range(len(pairs)):
        i, j = index % 12, pairs.partner(index)
        assert groups[i] == groups[j]
        assert (j != i) or i == 11
        seen[i].add(j)
    assert all(len(seen[i]) == 3 for i in range(8))  # every other member of the object is drawn at some pass
    item = pairs[25]  # cutout 1, second pass
    assert item["id"] == base[1]["id"] and item["pair_id"] == base[pairs.partner(25)]["id"]
    assert torch.equal(item["x_pair"], base[pairs.partner(25)]["x"])
    again = SameObjectPairs(base, groups, repeats=20, seed=3)
    assert [again.partner(k) for k in range(240)] == [pairs.partner(k) for k in range(240)]
    assert pairs[11 + 12 * 5]["pair_id"] == base[11]["id"]
    with pytest.raises(ValueError, match="groups has 3 entries"):
        SameObjectPairs(base, [1, 2, 3])
    with pytest.raises(IndexError):
        pairs[240]


def test_missing_group_is_a_group_of_its_own_and_valid_masks_combine():
    class Cutouts(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            valid = torch.ones(2, 3, 3, dtype=torch.bool)
            valid[0, 0, i] = False
            return {"x": torch.full((1, 2, 3, 3), float(i)), "id": i, "valid": valid}

    pairs = SameObjectPairs(Cutouts(), [5, 5, None], repeats=1)
    a, c = pairs[0], pairs[2]
    assert a["pair_id"] == 1 and a["group"] == 0
    assert not a["valid"][0, 0, 0] and not a["valid"][0, 0, 1] and int(a["valid"].sum()) == 16
    assert c["group"] < 0 and c["pair_id"] == 2


def test_simclr_objective_takes_the_partner_as_second_view():
    base = RandomCutoutDataset(n=8, shape=(1, 4, 8, 8))
    pairs = SameObjectPairs(base, [0, 0, 1, 1, 2, 2, 3, 3], repeats=1)
    batch = collate_cutouts([pairs[i] for i in range(8)])
    obj = SimCLRObjective(build_encoder("slim", 1, voxel_size_nm=(8, 8, 40), widths=(4, 8, 8, 16)))
    x_a, x_b, groups = obj.make_inputs(batch["x"], batch, EMAugment("none"), torch.Generator().manual_seed(0))
    assert torch.equal(x_a, batch["x"]) and torch.equal(x_b, batch["x_pair"])
    assert groups.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.isfinite(obj(x_a, x_b, groups))
    siam = SimSiamObjective(obj.encoder)
    s_a, s_b = siam.make_inputs(batch["x"], batch, EMAugment("none"), torch.Generator().manual_seed(0))
    assert torch.equal(s_a, batch["x"]) and torch.equal(s_b, batch["x_pair"])


def test_train_ssl_on_same_object_pairs():
    torch.manual_seed(0)
    base = RandomCutoutDataset(n=16, shape=(1, 4, 12, 12))
    pairs = SameObjectPairs(base, np.arange(16) // 4, repeats=2, seed=0)
    enc = build_encoder("slim", 1, voxel_size_nm=(8, 8, 40), widths=(4, 8, 8, 16))
    hist = train_ssl(enc, pairs, {"max_steps": 3, "batch_size": 8, "progress": False, "augment": "geometric"})
    assert len(hist) == 3 and np.isfinite(hist["loss"]).all()


def test_pairs_by_column_reads_the_points_table_and_config_section():
    import pandas as pd

    from emkit.learn.pairs import pairs_by_column
    from emkit.learn.train import build_dataset

    class WithPoints(RandomCutoutDataset):
        points = pd.DataFrame({"pre_root_id": [1, 1, 2, 2], "x_nm": [0.0, 50.0, 0.0, 900.0],
                               "y_nm": 0.0, "z_nm": 0.0})

    pairs = pairs_by_column(WithPoints(n=4, shape=(1, 2, 4, 4)), radius_nm=100.0, repeats=3)
    assert [pairs.partner(k) for k in range(4)] == [1, 0, 2, 3]  # rows 2 and 3 are 900 nm apart: alone
    assert pairs.n_alone == 2 and len(pairs) == 12
    with pytest.raises(ValueError, match="no column 'cell'"):
        pairs_by_column(WithPoints(n=4), group_column="cell")
    with pytest.raises(ValueError, match="no points table"):
        build_dataset({"kind": "random", "n": 4, "pairs": {"group_column": "pre_root_id"}})
