"""The studio session on a StyleGAN3 network: renders, SeFa/PCA sliders on its layer groups, projection and
exports (no noise maps anywhere)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from projector.edits import apply_direction, parse_layers, ws_resolutions
from projector.latent_file import load_latent
from stylegan2_core import load_generator, to_uint8, z_from_seeds

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def network():
    from projector.studio import StudioNetwork

    return StudioNetwork("sg3t_tiny", load_generator(FIXTURES / "sg3t_tiny.pkl"), pca_samples=300, k=2)


@pytest.fixture
def session(network, tmp_path):
    from projector.studio import StudioSession

    return StudioSession([network], tmp_path / "out")


def test_render_sliders_and_layer_groups(session, network):
    G = network.G
    session.start_from_seed(7)
    with torch.no_grad():
        expected = to_uint8(G.synthesis(G.mapping(z_from_seeds([7], G.z_dim), None)))[0]
    np.testing.assert_array_equal(session.render(), expected)
    coarse = parse_layers("coarse", G.num_ws, ws_resolutions(G))
    assert network.info()["layer_groups"] == {"coarse": coarse, "middle": list(range(6, G.num_ws))}
    for did in ("sefa:0", "pca:1"):
        d = network.direction(did)
        base = session.edited_ws()
        session.update({"edits": {did: {"value": 1.5, "layers": "coarse"}}})
        torch.testing.assert_close(session.edited_ws(), apply_direction(base, d.vector, 1.5 * d.sigma, coarse))
        assert ((session.edited_ws() - base).abs().sum(-1)[0] > 0).nonzero().flatten().tolist() == coarse
        assert np.abs(session.render().astype(int) - expected).mean() > 0.5
        session.update({"edits": {did: {"value": 0}}})
    session.update({"mix": {"seed": 3}, "mix_layers": "coarse"})
    with torch.no_grad():
        other = G.mapping(z_from_seeds([3], G.z_dim), None)
    torch.testing.assert_close(session.edited_ws()[0, coarse], other[0, coarse])


def test_projection_tuning_and_export(session, network, tmp_path):
    import imageio.v3 as iio

    from projector.studio import ProjectionOptions

    G = network.G
    photo = tmp_path / "photo.png"

    with torch.no_grad():
        iio.imwrite(photo, to_uint8(G.synthesis(G.mapping(z_from_seeds([2], G.z_dim), None)))[0])
    session.load_photo(photo)
    report = session.project(ProjectionOptions(preset="official", steps=2, loss="effnet"))
    assert report["steps"] == 2 and session.info()["projected"] and not session.base.noise
    latent, _ = session.export_latent()
    record = load_latent(latent, G)
    assert record.noise is None
    torch.testing.assert_close(record.ws, session.edited_ws())

    report = session.project(ProjectionOptions(preset="official", steps=2, loss="effnet", tune=True, tune_steps=2))
    assert report["tuning"]["steps"] == 2 and session.info()["tuned"] and session.G is not G
    tuned_render = session.render()
    latent, _, tuned = session.export_latent()
    from projector.studio import StudioSession

    other = StudioSession([network], tmp_path / "other")
    assert other.start_from_latent(latent) == {"latents": 1, "warning": None, "tuned": True}
    np.testing.assert_array_equal(other.render(), tuned_render)
