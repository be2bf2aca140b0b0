"""The StyleGAN3 generator against the official code's outputs (configs T and R, fixtures in tests/fixtures)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from stylegan2_core import InputError, ShapeError, StyleGAN3Generator, load_generator, make_transform, to_uint8

FIXTURES = Path(__file__).parents[1] / "fixtures"
NAMES = ["sg3t_tiny", "sg3r_tiny_cond"]
WS_TOL, IMG_TOL, GRAD_REL_TOL = 5e-5, 1e-4, 1e-3


@pytest.fixture(scope="module", params=NAMES)
def case(request):
    G = load_generator(FIXTURES / f"{request.param}.pkl")
    ref = dict(np.load(FIXTURES / f"{request.param}.ref.npz"))
    z = torch.from_numpy(ref["z"]).float()
    c = torch.from_numpy(ref["c"]).float() if G.c_dim else None
    return G, ref, z, c


def _max_diff(a: torch.Tensor, b: np.ndarray) -> float:
    return float(np.abs(a.detach().numpy().astype(np.float64) - b.astype(np.float64)).max())


def test_loads_as_stylegan3(case):
    G, ref, _, _ = case
    assert isinstance(G, StyleGAN3Generator) and G.checkpoint.format == "stylegan3-pkl"
    assert G.num_ws == ref["ws_psi1"].shape[1] and G.img_resolution == ref["img_psi1"].shape[-1]
    assert G.synthesis.noise_shapes() == [] and G.synthesis.const_noise() == []


@pytest.mark.parametrize("psi,cutoff,key", [(1, None, "psi1"), (0.7, None, "psi07"), (0.5, 4, "psi05_cut4")])
def test_ws_and_images(case, psi, cutoff, key):
    G, ref, z, c = case
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
        assert _max_diff(ws, ref[f"ws_{key}"]) < WS_TOL
        assert _max_diff(G.synthesis(ws, noise_mode="const"), ref[f"img_{key}"]) < IMG_TOL


def test_generator_call_and_uint8(case):
    G, ref, z, c = case
    with torch.no_grad():
        img = G(z, c, noise_mode="none", fused_modconv=False)
    assert _max_diff(img, ref["img_psi1"]) < IMG_TOL
    pixels = to_uint8(img).astype(int)
    flips = np.abs(pixels - ref["uint8_psi1"].astype(int))
    assert flips.max() <= 1 and (flips > 0).mean() < 0.01


def test_style_mixing(case):
    G, ref, z, c = case
    with torch.no_grad():
        ws = G.mapping(z[:2], c[:2] if c is not None else None)
        mixed = torch.cat([ws[:1, :6], ws[1:2, 6:]], dim=1)
        assert _max_diff(mixed, ref["ws_mix"]) < WS_TOL
        assert _max_diff(G.synthesis(mixed), ref["img_mix"]) < IMG_TOL


def test_translate_rotate_transform(case):
    G, ref, z, c = case
    assert np.abs(make_transform((0.1, -0.05), 10) - ref["transform_translate_rotate"]).max() < 1e-7
    with torch.no_grad():
        ws = G.mapping(z, c)
        G.synthesis.set_transform(translate=(0.1, -0.05), rotate=10)
        try:
            moved = G.synthesis(ws)
        finally:
            G.synthesis.set_transform()
        assert torch.equal(G.synthesis.input.transform, torch.eye(3))
    assert _max_diff(moved, ref["img_psi1_translate_rotate"]) < IMG_TOL
    assert _max_diff(moved, ref["img_psi1"]) > 100 * IMG_TOL  # the transform is not a no-op


def test_gradient_wrt_ws(case):
    G, ref, _, _ = case
    ws = torch.from_numpy(ref["ws_psi1"][:1]).clone().requires_grad_(True)
    (G.synthesis(ws) * torch.from_numpy(ref["grad_weights_rs99"])).sum().backward()
    expected = ref["grad_ws_seed0"]
    assert _max_diff(ws.grad, expected) / np.abs(expected).max() < GRAD_REL_TOL


def test_noise_arguments_are_accepted_and_checked(case):
    G, ref, _, _ = case
    ws = torch.from_numpy(ref["ws_psi1"][:1])
    with torch.no_grad():
        assert _max_diff(G.synthesis(ws, noise_mode="random", noise=[]), ref["img_psi1"][:1]) < IMG_TOL
    with pytest.raises(ShapeError, match="no noise maps"):
        G.synthesis(ws, noise=[torch.zeros([1, 1, 4, 4])])
    with pytest.raises(InputError, match="noise_mode"):
        G.synthesis(ws, noise_mode="bogus")
    with pytest.raises(ShapeError, match="synthesis ws"):
        G.synthesis(ws[:, :-1])
