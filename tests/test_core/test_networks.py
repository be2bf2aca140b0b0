"""Generator structure: noise inputs, the default noise mode at every level, argument errors."""

import pytest
import torch

from stylegan2_core import DEFAULT_NOISE_MODE, Generator, GeneratorConfig, InputError, ShapeError, SynthesisConfig
from stylegan2_core.networks import SynthesisBlock, SynthesisLayer


def _tiny(use_noise=True, architecture="skip") -> Generator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=8, w_dim=8, img_resolution=16,
                          synthesis=SynthesisConfig(channel_base=64, channel_max=8, use_noise=use_noise,
                                                    architecture=architecture))
    G = Generator(cfg).eval()
    for layer in G.synthesis.noise_layers():
        layer.noise_strength.data.fill_(0.5)  # make noise visible in the output
    return G


@pytest.mark.parametrize("use_noise", [True, False])
def test_noise_shapes_and_const_noise_agree(use_noise):
    G = _tiny(use_noise=use_noise)
    shapes = G.synthesis.noise_shapes()
    const = G.synthesis.const_noise()
    assert [tuple(m.shape[-2:]) for m in const] == shapes
    assert all(m.shape[:2] == (1, 1) for m in const)
    assert len(shapes) == (5 if use_noise else 0)  # 4x4: conv1; 8x8, 16x16: conv0 + conv1
    ws = torch.randn(2, G.num_ws, G.w_dim)
    with torch.no_grad():
        # The maps const_noise() returns are exactly what noise_mode="const" adds, in forward(noise=) order.
        torch.testing.assert_close(G.synthesis(ws, noise=const), G.synthesis(ws, noise_mode="const"), rtol=0, atol=0)
        random = [torch.randn(2, 1, h, w) for h, w in shapes]
        assert G.synthesis(ws, noise=random).shape == (2, 3, 16, 16)


@pytest.mark.parametrize("architecture", ["skip", "resnet"])
def test_default_noise_mode_is_const_at_every_level(architecture):
    """Generator, SynthesisNetwork, SynthesisBlock and SynthesisLayer called without noise_mode all add the
    constant noise: the same output twice, and the output of an explicit noise_mode="const"."""
    assert DEFAULT_NOISE_MODE == "const"
    G = _tiny(architecture=architecture)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        ws = G.mapping(z)
        explicit = G.synthesis(ws, noise_mode="const")
        assert (explicit - G.synthesis(ws, noise_mode="random")).abs().max() > 1e-3  # noise matters here
        torch.testing.assert_close(G(z), explicit, rtol=0, atol=0)
        torch.testing.assert_close(G.synthesis(ws), explicit, rtol=0, atol=0)

        # Block level, with default arguments: the synthesis loop by hand.
        x = img = None
        w_idx = 0
        for res in G.synthesis.block_resolutions:
            block = getattr(G.synthesis, f"b{res}")
            assert isinstance(block, SynthesisBlock)
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        torch.testing.assert_close(img, explicit, rtol=0, atol=0)

        # Layer level.
        layer = G.synthesis.b8.conv1
        assert isinstance(layer, SynthesisLayer)
        x = torch.randn(2, 8, 8, 8)
        default = layer(x, ws[:, 0])
        torch.testing.assert_close(default, layer(x, ws[:, 0]), rtol=0, atol=0)
        torch.testing.assert_close(default, layer(x, ws[:, 0], noise_mode="const"), rtol=0, atol=0)


def test_bad_noise_arguments():
    G = _tiny()
    ws = torch.zeros(2, G.num_ws, G.w_dim)
    with pytest.raises(InputError, match="noise_mode must be one of"):
        G.synthesis(ws, noise_mode="fixed")
    with pytest.raises(InputError, match="noise_mode must be one of"):
        G.synthesis.b4.conv1(torch.zeros(2, 8, 4, 4), ws[:, 0], noise_mode="Const")
    with pytest.raises(ShapeError, match="expected 5 noise maps, got 4"):
        G.synthesis(ws, noise=G.synthesis.const_noise()[:4])
    bad = G.synthesis.const_noise()
    bad[2] = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ShapeError, match=r"noise map 2 must be \[2 or 1, 1, 8, 8\]"):
        G.synthesis(ws, noise=bad)
