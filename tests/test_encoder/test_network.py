"""The encoder network: shapes, its start at w_avg, batch independence, e4e's offsets and their regularizer."""

import pytest
import torch

from projector.encoder import Encoder, EncoderConfig, default_encoder_config, delta_regularizer, ws_groups
from stylegan2_core.errors import InputError, ShapeError

from .conftest import tiny_encoder_config


def _images(G, n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand([n, 3, G.img_resolution, G.img_resolution], generator=gen) * 2 - 1


def _trained_looking(encoder):
    """Give the zero-initialised heads random weights, as training would, so outputs depend on the input."""
    torch.manual_seed(1)
    with torch.no_grad():
        for head in encoder.heads.values():
            head.weight.normal_(0, 0.05)
    return encoder


def test_invert_shapes_and_untrained_start_is_w_avg(G):
    encoder = Encoder(default_encoder_config(G))
    ws = encoder.invert(_images(G, 3), G)
    assert ws.shape == (3, G.num_ws, G.w_dim)
    assert torch.equal(ws, G.mapping.w_avg.expand_as(ws))  # zero heads: the mean face, exactly
    assert encoder.invert(_images(G, 2), G, passes=0).shape == (2, G.num_ws, G.w_dim)


def test_batched_inversion_equals_one_at_a_time(G):
    encoder = _trained_looking(Encoder(tiny_encoder_config(G, passes=3)))
    images = _images(G, 3)
    batched = encoder.invert(images, G)
    single = torch.cat([encoder.invert(images[i:i + 1], G) for i in range(3)])
    assert not torch.allclose(batched[0], batched[1])  # the images differ, so do their latents
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-5)


def test_first_row_is_the_base_and_others_offsets(G):
    """forward's correction: row 0 is the base, every other row is the base plus its own head's offset."""
    encoder = _trained_looking(Encoder(tiny_encoder_config(G)))
    photo = _images(G, 2)
    delta = encoder(photo, photo)
    with torch.no_grad():
        for name, head in encoder.heads.items():  # zero every offset row: the base alone on every layer
            rows = head.weight.view(len(encoder.groups[name]), encoder.cfg.w_dim, -1)
            rows[1 if name == "coarse" else 0:].zero_()
    base_only = encoder(photo, photo)
    torch.testing.assert_close(base_only, base_only[:, :1].expand_as(base_only))
    torch.testing.assert_close(delta[:, 0], base_only[:, 0])


def test_delta_regularizer_sums_offset_norms_in_float64():
    ws = torch.randn(2, 5, 7, dtype=torch.float64)
    expected = torch.stack([sum(torch.linalg.vector_norm(ws[n, i] - ws[n, 0]) for i in range(1, 5)) for n in range(2)])
    torch.testing.assert_close(delta_regularizer(ws), expected)
    assert torch.equal(delta_regularizer(ws[:, :1].expand(2, 5, 7)), torch.zeros(2, dtype=torch.float64))


def test_groups_follow_psp_and_cover_every_layer():
    assert ws_groups(18) == {"coarse": range(0, 3), "middle": range(3, 7), "fine": range(7, 18)}
    for n in (6, 8, 10, 18):
        rows = [i for r in ws_groups(n).values() for i in r]
        assert rows == list(range(n))


def test_sizes_by_resolution(G):
    small = default_encoder_config(G)
    assert small.arch == "small" and small.working_resolution == 32
    big = EncoderConfig(resolution=1024, num_ws=18, w_dim=512, working_resolution=256, channel_base=8192,
                        channel_max=512, blocks=2, head_channels=256)
    assert big.arch == "pyramid"
    encoder = Encoder(big)
    assert encoder.level_resolutions == {"fine": 64, "middle": 32, "coarse": 16}
    assert encoder(torch.zeros(1, 3, 1024, 1024), torch.zeros(1, 3, 1024, 1024)).shape == (1, 18, 512)


def test_bad_images_and_configs_are_refused(G):
    encoder = Encoder(tiny_encoder_config(G))
    with pytest.raises(ShapeError, match=r"\[N, 3, 32, 32\]"):
        encoder.invert(torch.zeros(1, 3, 64, 64), G)
    with pytest.raises(InputError, match="unknown keys"):
        EncoderConfig.from_dict({**encoder.cfg.to_dict(), "depth": 3})
    with pytest.raises(InputError, match="passes"):
        encoder.cfg.replace(passes=0)
