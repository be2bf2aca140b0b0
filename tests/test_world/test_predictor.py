"""The world attribute predictor: shipped accuracy on unseen seeds, save/load, API shapes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from projector.world import ATTRIBUTE_NAMES, render_batch
from projector.world.predictor import (
    DEFAULT_WEIGHTS,
    TRAIN_START_SEED,
    VAL_START_SEED,
    AttributePredictor,
    PredictorConfig,
    default_predictor,
    evaluate,
    load_predictor,
    save_predictor,
    train_predictor,
)
from stylegan2_core.errors import CheckpointError, InputError
from stylegan2_core.image import from_uint8

torch.set_num_threads(1)

# Fresh seeds: outside the training and validation ranges of the shipped predictor.
TEST_SEEDS = range(3_000_000, 3_000_200)
# Upper bounds on MAE / std for continuous attributes and lower bounds on accuracy for binary ones,
# about twice the shipped held-out report (2000 seeds: 0.013-0.067 MAE/std, glasses 100%),
# with a floor of +0.03 for 200-sample noise.
MAX_MAE_OVER_STD = {
    "smile": 0.14,
    "eye_openness": 0.13,
    "skin_tone": 0.06,
    "hair_color": 0.05,
    "hair_length": 0.1,
    "shift_x": 0.05,
    "shift_y": 0.06,
    "tilt": 0.09,
    "background_hue": 0.05,
    "lighting": 0.06,
}
MIN_ACCURACY = {"glasses": 0.98}


@pytest.fixture(scope="module")
def shipped():
    return default_predictor()


def test_shipped_predictor_on_fresh_seeds(shipped):
    assert shipped.names == ATTRIBUTE_NAMES
    assert not set(TEST_SEEDS) & set(range(TRAIN_START_SEED, TRAIN_START_SEED + 1_000_000))
    assert not set(TEST_SEEDS) & set(range(VAL_START_SEED, VAL_START_SEED + 1_000_000))
    images, labels = render_batch(TEST_SEEDS, 64)
    scores = evaluate(shipped, images, labels)
    failures = []
    for name, limit in MAX_MAE_OVER_STD.items():
        if scores[name]["mae_over_std"] > limit:
            failures.append(f"{name}: MAE/std {scores[name]['mae_over_std']:.3f} > {limit}")
    for name, limit in MIN_ACCURACY.items():
        if scores[name]["accuracy"] < limit:
            failures.append(f"{name}: accuracy {scores[name]['accuracy']:.3f} < {limit}")
    assert not failures, failures


def test_shipped_report_matches_json(shipped):
    report = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert shipped.report == report
    assert set(report["attributes"]) == set(ATTRIBUTE_NAMES)
    assert DEFAULT_WEIGHTS.stat().st_size < 2 * 1024 * 1024


def test_predict_api(shipped):
    images, _ = render_batch([5, 6], 64)
    x = from_uint8(images)
    raw = shipped(x)
    assert raw.shape == (2, len(ATTRIBUTE_NAMES))
    with torch.no_grad():
        out = shipped.predict(x)
        big = shipped.predict_labels(torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    assert tuple(out) == ATTRIBUTE_NAMES
    assert out["glasses"].min() >= 0.0 and out["glasses"].max() <= 1.0
    # A 128 px copy is area-resized back to the same 64 px input.
    assert torch.allclose(big, torch.stack(list(out.values()), 1), atol=1e-4)
    with pytest.raises(ValueError):
        shipped(x[:, :1])


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    config = PredictorConfig.for_world()
    n = len(config.attributes)
    model = AttributePredictor(config, [0.5] * n, [2.0] * n).eval()
    model.report = {"note": [1, 2.5]}
    path = save_predictor(model, tmp_path / "p.safetensors")
    loaded = load_predictor(path)
    assert loaded.config == config and loaded.report == model.report
    assert torch.equal(loaded.mean, model.mean) and torch.equal(loaded.std, model.std)
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.predict_labels(x), model.predict_labels(x))


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(InputError):
        load_predictor(tmp_path / "missing.safetensors")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError):
        load_predictor(plain)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError):
        load_predictor(garbage)


def test_train_predictor_smoke():
    calls = []
    model, report = train_predictor(
        num_train=48, num_val=16, steps=4, batch_size=8, seed=0, progress=lambda *a: calls.append(a)
    )
    assert model.report is report and not model.training
    assert set(report["attributes"]) == set(ATTRIBUTE_NAMES)
    assert report["train_seeds"] == [TRAIN_START_SEED, TRAIN_START_SEED + 48]
    assert calls[-1][:3] == ("train", 4, 4) and np.isfinite(calls[-1][3])
    assert report["attributes"]["glasses"]["kind"] == "binary"
    assert report["attributes"]["tilt"]["std"] > 0


def test_save_is_atomic_and_shares_the_project_metadata_key(tmp_path, monkeypatch):
    """save_predictor writes through stylegan2_core.fileio: an interrupted save leaves the old file whole,
    and the metadata sits under MAGIC_KEY (the key the shipped asset was written with)."""
    import safetensors.torch

    from stylegan2_core.fileio import MAGIC_KEY, read_metadata

    config = PredictorConfig.for_world()
    n = len(config.attributes)
    model = AttributePredictor(config, [0.0] * n, [1.0] * n).eval()
    path = save_predictor(model, tmp_path / "p.safetensors")
    before = path.read_bytes()
    assert MAGIC_KEY == "s2edit" and read_metadata(path)["format"] == read_metadata(DEFAULT_WEIGHTS)["format"]

    def interrupted(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_predictor(AttributePredictor(config, [1.0] * n, [2.0] * n), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["p.safetensors"]
