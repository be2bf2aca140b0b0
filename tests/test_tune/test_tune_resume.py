"""A stopped tuning continues exactly: the resumed result equals the uninterrupted one."""

from pathlib import Path

import pytest
import torch

from projector import TuneConfig, tune
from projector.project import ProjectionResult
from projector.tune import TuneInterrupted
from projector.tuned_file import TUNE_STATE_FILE, resumed_tuning, tune_resumable
from stylegan2_core import InputError, load_generator, z_from_seeds
from stylegan2_core.errors import Interrupted

FIXTURES = Path(__file__).parents[1] / "fixtures"


def pixel_distance(a, b):
    return (a - b).square().mean(dim=(1, 2, 3))


@pytest.fixture(scope="module")
def setup():
    """Two off-manifold targets, the first drawn exactly at its pivot (so a threshold stops it at once), and
    their pivots as a projection would hand them over."""
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    with torch.no_grad():
        ws = G.mapping(z_from_seeds([11, 12], G.z_dim))
        target = G.synthesis(ws, noise_mode="const")
        target[1, :, 10:14] = 0.9
    noise = [m.expand(2, -1, -1, -1) for m in G.synthesis.const_noise()]
    pivot = ProjectionResult(ws=ws, noise=noise, images=target.clone(), distance=torch.zeros(2), loss_name="pixel",
                             steps=1, seconds=0.0, device="cpu")
    return G, target, pivot


def _stop_after(k):
    calls = [0]

    def should_stop():
        calls[0] += 1
        return calls[0] == k

    return should_stop


CONFIGS = {  # (photos, settings, the step after which the run is stopped)
    "one photo, lora": (1, TuneConfig(steps=4, stop_distance=0), 2),
    "shared, full, locality": (2, TuneConfig(steps=4, update="full", shared=True, locality=True, stop_distance=0), 1),
    "per photo, locality": (2, TuneConfig(steps=4, locality=True, locality_samples=2, stop_distance=0), 2),
    # The first photo reaches the threshold at step 0 and leaves; the stop and the resume happen without it.
    "per photo, one stopped early": (2, TuneConfig(steps=4, stop_distance=1e-6), 2),
}


@pytest.mark.parametrize("photos, cfg, stop", CONFIGS.values(), ids=CONFIGS.keys())
def test_resumed_tuning_equals_the_uninterrupted_one(setup, tmp_path, photos, cfg, stop):
    G, target, pivot = setup
    rows = slice(1, 2) if photos == 1 else slice(None)  # one photo: the one that needs tuning
    target, pivot = target[rows], _rows(pivot, rows)
    folders = [tmp_path / f"photo{i}" for i in range(photos)]
    full = tune(G, target, pivot.ws, cfg, distance=pixel_distance, noise=pivot.noise, seed=5)
    with pytest.raises(Interrupted, match="--resume"):
        tune_resumable(G, target, pivot, cfg, folders, distance=pixel_distance, seed=5, should_stop=_stop_after(stop))
    assert all((folder / TUNE_STATE_FILE).is_file() for folder in folders)
    # Through the files, photo by photo, as `s2edit project --tune --resume` does.
    resumed = resumed_tuning(folders, cfg)
    assert resumed.state.step == stop
    assert resumed.state.stopped == ([0, None] if cfg.stop_distance else [None] * len(resumed.state.updates))
    assert torch.equal(resumed.pivot.ws, pivot.ws) and torch.equal(resumed.pivot.images, pivot.images)
    again = tune_resumable(G, target, resumed.pivot, cfg, folders, state=resumed.state, distance=pixel_distance)
    assert again.steps == full.steps and again.history == full.history
    for a, b in zip(again.updates, full.updates):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(again.images, full.images)


def _rows(pivot: ProjectionResult, rows: slice) -> ProjectionResult:
    return ProjectionResult(ws=pivot.ws[rows], noise=[m[rows] for m in pivot.noise], images=pivot.images[rows],
                            distance=pivot.distance[rows], loss_name=pivot.loss_name, steps=pivot.steps,
                            seconds=pivot.seconds, device=pivot.device)


def test_the_pivot_is_kept_before_the_first_step(setup, tmp_path):
    G, target, pivot = setup
    folders = [tmp_path / "a", tmp_path / "b"]

    def stop_before_anything():
        assert all((folder / TUNE_STATE_FILE).is_file() for folder in folders)
        raise KeyboardInterrupt  # a second Ctrl-C: no state saved after this point

    with pytest.raises(KeyboardInterrupt):
        tune_resumable(G, target, pivot, TuneConfig(steps=3, stop_distance=0), folders, distance=pixel_distance,
                       should_stop=stop_before_anything)
    resumed = resumed_tuning(folders, TuneConfig(steps=3, stop_distance=0))
    assert resumed.state.step == 0 and torch.equal(resumed.pivot.ws, pivot.ws)


def test_a_state_for_other_settings_or_photos_is_refused(setup, tmp_path):
    G, target, pivot = setup
    cfg = TuneConfig(steps=3, stop_distance=0)
    folders = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(TuneInterrupted) as stopped:
        tune(G, target, pivot.ws, cfg, distance=pixel_distance, should_stop=_stop_after(1))
    with pytest.raises(InputError, match="saved tuning state"):
        tune(G, target, pivot.ws, TuneConfig(steps=4, stop_distance=0), distance=pixel_distance,
             state=stopped.value.state)
    with pytest.raises(InputError, match="saved tuning state"):
        tune(G, target[:1], pivot.ws[:1], cfg, distance=pixel_distance, state=stopped.value.state)
    with pytest.raises(Interrupted):
        tune_resumable(G, target, pivot, cfg, folders, distance=pixel_distance, should_stop=_stop_after(1))
    with pytest.raises(InputError, match="other settings"):
        resumed_tuning(folders, TuneConfig(steps=3, stop_distance=0, lr=1e-2))
    (folders[1] / TUNE_STATE_FILE).unlink()
    with pytest.raises(InputError, match="no saved state") as err:
        resumed_tuning(folders, cfg)
    assert "\n" not in str(err.value)
    (folders[0] / TUNE_STATE_FILE).write_bytes(b"not a state")
    with pytest.raises(InputError, match=TUNE_STATE_FILE):
        resumed_tuning(folders[:1], cfg)
