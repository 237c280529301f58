"""The packaged training config runs end to end on the synthetic world (the torchrun entry point's path)."""

from pathlib import Path

import yaml

import emkit.learn
from emkit.learn.train import run_config


def test_packaged_ssl_config_trains_on_synthetic_cubes(tmp_path):
    path = Path(emkit.learn.__file__).parent / "configs" / "ssl_synapses.yaml"
    config = yaml.safe_load(path.read_text())
    config["train"].update(max_steps=2, batch_size=4, warmup_steps=1, progress=False,
                           checkpoint_dir=str(tmp_path / "ckpt"), log_dir=None)
    config["train"]["augment"].update(out_shape_vox=[3, 12, 12], jitter_vox=[2, 2, 0])  # views of the smaller cubes
    config["data"]["kwargs"].update(dataset_params={"size": "tiny", "seed": 0}, shape_vox=[16, 16, 4])
    config["save_encoder"] = str(tmp_path / "encoder.pt")
    config["history_csv"] = str(tmp_path / "history.csv")
    history = run_config(config)
    assert len(history) == 2 and history["loss"].notna().all()
    assert (tmp_path / "encoder.pt").exists() and (tmp_path / "ckpt" / "last.pt").exists()
