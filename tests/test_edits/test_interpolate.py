"""Latent walks: exact keyframes, frame counts, slerp in Z, cubic splines, grids, direction sweeps."""

import numpy as np
import pytest
import torch

from projector.edits import direction_sweep, ease, frame_count, grid_seeds, interpolate, slerp, walk
from stylegan2_core import InputError, load_generator, z_from_seeds


def _keys(k=4):
    return torch.randn(k, 8, 64, generator=torch.Generator().manual_seed(k))


@pytest.mark.parametrize("kind", ["linear", "cubic", "slerp"])
@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("easing", ["linear", "smoothstep"])
def test_keyframes_exact_and_counts(kind, loop, easing):
    keys, frames = _keys(4), 5
    batches = list(interpolate(keys, frames, kind, loop, easing, batch_size=3))
    assert all(len(b) <= 3 for b in batches)
    out = torch.cat(batches)
    assert len(out) == frame_count(4, frames, loop) == (20 if loop else 16)
    for k in range(4):
        assert torch.equal(out[k * frames], keys[k])
    if not loop:
        assert torch.equal(out[-1], keys[-1])


def test_interpolate_is_lazy_and_validates():
    gen = interpolate(_keys(3), 1000, batch_size=4)
    assert next(gen).shape == (4, 8, 64)
    with pytest.raises(InputError):
        next(interpolate(_keys(3), 4, "bogus"))
    with pytest.raises(InputError):
        next(interpolate(_keys(1), 4))
    with pytest.raises(InputError):
        ease(np.array([0.5]), "bounce")


def test_linear_midpoint_and_easing():
    keys = _keys(2)
    out = torch.cat(list(interpolate(keys, 4)))
    assert torch.allclose(out[2], (keys[0] + keys[1]) / 2, atol=1e-6)
    t = np.linspace(0, 1, 11)
    s = ease(t, "ease-in-out")
    assert s[0] == 0 and s[-1] == 1 and np.all(np.diff(s) >= 0) and s[1] < t[1]


def test_cubic_loop_is_smooth_at_the_seam():
    keys = _keys(4)
    out = torch.cat(list(interpolate(keys, 8, "cubic", loop=True)))
    nxt = torch.cat([out[1:], out[:1]])  # the frame after the last is frame 0
    steps = (nxt - out).flatten(1)
    # periodic spline: velocity changes smoothly across the seam, as everywhere else
    accel = (torch.roll(steps, -1, 0) - steps).norm(dim=1)
    assert accel[-1] < 3 * accel.median()


def test_slerp_function():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    mid = slerp(a, b, torch.tensor(0.5))
    assert torch.allclose(mid, torch.tensor([1.5 * 0.5**0.5, 1.5 * 0.5**0.5], dtype=torch.float64), atol=1e-9)
    assert torch.allclose(slerp(a, a, torch.tensor(0.3)).float(), a)


def test_walk_slerp_in_z_and_linear_in_w(G):
    z = z_from_seeds([0, 1, 2], G.z_dim)
    frames = torch.cat(list(walk(G, 4, z=z, kind="slerp", truncation_psi=0.7, batch_size=4)))
    assert frames.shape == (9, G.num_ws, G.w_dim)
    ref = G.mapping(z, None, truncation_psi=0.7)
    assert torch.allclose(frames[0], ref[0], atol=1e-5) and torch.allclose(frames[-1], ref[2], atol=1e-5)
    ws_frames = torch.cat(list(walk(G, 4, ws=ref, kind="cubic", loop=True)))
    assert ws_frames.shape == (12, G.num_ws, G.w_dim) and torch.equal(ws_frames[4], ref[1])
    with pytest.raises(InputError, match="slerp"):
        next(walk(G, 4, ws=ref, kind="slerp"))


def test_grid_walks(G):
    cells = grid_seeds([0, 1, 2], 4)
    assert cells[0] == [0, 1, 2] and cells[1] == [3, 4, 5] and cells[3] == [9, 10, 11]
    z = torch.stack([z_from_seeds(s, G.z_dim) for s in cells], dim=1)
    frames = torch.cat(list(walk(G, 2, z=z, batch_size=2)))
    assert frames.shape == (5, 4, G.num_ws, G.w_dim)
    assert torch.allclose(frames[-1, 3], G.mapping(z_from_seeds([11], G.z_dim), None)[0], atol=1e-5)


def test_direction_sweep_touches_only_layers():
    ws = _keys(2)[0]
    d = torch.nn.functional.normalize(torch.randn(64, generator=torch.Generator().manual_seed(3)), dim=0)
    frames = torch.cat(list(direction_sweep(ws, d, [-2, 0, 1, 3], layers=[1, 4], batch_size=3)))
    assert frames.shape == (4, 8, 64)
    assert torch.equal(frames[:, [0, 2, 3, 5, 6, 7]], ws[None, [0, 2, 3, 5, 6, 7]].expand(4, -1, -1))
    assert torch.allclose(frames[3, 4] - ws[4], 3 * d, atol=1e-6)
    assert torch.equal(frames[1], ws)


def test_conditional_walk_uses_the_class(fixtures_dir):
    Gc = load_generator(fixtures_dir / "ada_tiny_cond.pkl")
    z = z_from_seeds([0, 1], Gc.z_dim)
    c = torch.zeros([1, Gc.c_dim])
    c[0, 2] = 1
    frames = torch.cat(list(walk(Gc, 2, z=z, kind="slerp", c=c)))
    ref = Gc.mapping(z, c.expand(2, -1))
    assert torch.allclose(frames[0], ref[0], atol=1e-5) and torch.allclose(frames[-1], ref[1], atol=1e-5)
