"""A stopped projection continues exactly: the resumed result equals the uninterrupted one."""

import pytest
import torch

from projector import ProjectorConfig, project
from projector.latent_file import load_projection_state, save_projection_state
from projector.losses import make_perceptual
from projector.project import ProjectionInterrupted, ProjectionState
from stylegan2_core import InputError, load_generator, sample_ws


@pytest.fixture(scope="module")
def setup():
    G = load_generator("demo")
    with torch.no_grad():
        target = G.synthesis(sample_ws(G, [5, 6]), noise_mode="const")
    return G, target, make_perceptual("effnet")[0]


def _stop_after(k):
    calls = [0]

    def should_stop():
        calls[0] += 1
        return calls[0] == k

    return should_stop


CONFIGS = {  # (settings, the step after which the run is stopped)
    "w": (ProjectorConfig(steps=8, w_avg_samples=256), 1),
    "w+ fixed noise": (ProjectorConfig(steps=8, space="w+", optimize_noise=False, w_avg_samples=256), 1),
    # Several starts pruned to the best at step 2 and W widened to W+ at step 4: the resume crosses both.
    "fast": (ProjectorConfig.preset("fast", steps=8, refine_steps=0, init_samples=6, w_avg_samples=256), 1),
    # Stopped between the Adam steps and the L-BFGS refinement, and in the refinement, whose
    # curvature memory travels with the state.
    "fast, before refining": (ProjectorConfig.preset("fast", steps=4, refine_steps=6, init_samples=6,
                                                     w_avg_samples=256), 4),
    "fast, refining": (ProjectorConfig.preset("fast", steps=4, refine_steps=6, init_samples=6, w_avg_samples=256), 7),
}


@pytest.mark.parametrize("cfg, stop", CONFIGS.values(), ids=CONFIGS.keys())
def test_resumed_projection_equals_the_uninterrupted_one(setup, cfg, stop, tmp_path):
    G, target, dist = setup
    full = project(G, target, cfg, distance=dist)
    with pytest.raises(ProjectionInterrupted) as stopped:
        project(G, target, cfg, distance=dist, should_stop=_stop_after(stop))
    state = stopped.value.state
    assert state.step == stop and bool(state.refine) == (stop > cfg.steps)
    # Through the file format, image by image, as `s2edit project --resume` does.
    for i in range(2):
        save_projection_state(tmp_path / f"{i}.safetensors", state.image(i))
    reloaded = ProjectionState.stack([load_projection_state(tmp_path / f"{i}.safetensors")[0] for i in range(2)])
    resumed = project(G, target, cfg, distance=dist, state=reloaded)
    assert torch.equal(resumed.ws, full.ws)
    assert all(torch.equal(a, b) for a, b in zip(resumed.noise, full.noise))


def test_a_state_for_other_settings_is_refused(setup):
    G, target, dist = setup
    with pytest.raises(ProjectionInterrupted) as stopped:
        project(G, target, ProjectorConfig(steps=6, w_avg_samples=256), distance=dist, should_stop=_stop_after(2))
    with pytest.raises(InputError, match="saved state"):
        project(G, target, ProjectorConfig(steps=7, w_avg_samples=256), distance=dist, state=stopped.value.state)
    with pytest.raises(InputError, match="saved state"):
        project(G, target[:1], ProjectorConfig(steps=6, w_avg_samples=256), distance=dist, state=stopped.value.state)
