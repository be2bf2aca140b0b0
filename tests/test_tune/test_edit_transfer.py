"""Edit transfer: the projection and cosine of a tuned edit's image change on the base generator's."""

import math
from types import SimpleNamespace

import pytest
import torch

from projector.metrics.edit_transfer import edit_transfer, measure_edit_transfer
from stylegan2_core import z_from_seeds


def test_projection_and_cosine_on_constructed_changes():
    base = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [3.0, -1.0]], dtype=torch.float64)
    tuned = torch.tensor([[0.6, 0.8], [3.0, 4.0], [1.0, 1.0], [-3.0, 1.0]], dtype=torch.float64)
    projection, cosine = edit_transfer(tuned, base)
    # row 0: <t,b> 0.6 / |b|² 1, |t| 1; row 1: 8 / 4, 8 / (5·2); row 2: no base change; row 3: t = -b
    assert projection[[0, 1, 3]].tolist() == [0.6, 2.0, -1.0]
    assert cosine[[0, 1, 3]].tolist() == pytest.approx([0.6, 0.8, -1.0], abs=1e-15)
    assert math.isnan(projection[2]) and math.isnan(cosine[2])
    assert projection.dtype == torch.float64


def test_image_shaped_changes_are_taken_per_row():
    base = torch.zeros(2, 3, 4, 4)
    base[0, 0, 0, 0], base[1, 2, 3, 3] = 2.0, -1.0
    tuned = base * torch.tensor([0.25, 0.75]).reshape(2, 1, 1, 1)
    tuned[0, 1, 2, 2] = 0.5  # orthogonal to the base change: lowers the cosine, not the projection
    projection, cosine = edit_transfer(tuned, base)
    assert projection.tolist() == [0.25, 0.75]
    assert cosine.tolist() == pytest.approx([0.5 / math.sqrt(0.5), 1.0], abs=1e-15)
    with pytest.raises(ValueError, match="differ"):
        edit_transfer(tuned[:1], base)


def test_measured_on_generators(G):
    """The base generator carries its own edit whole; one drawing every image at half contrast carries half."""
    halved = SimpleNamespace(synthesis=lambda ws, **kw: 0.5 * G.synthesis(ws, **kw) + 0.1)
    with torch.no_grad():
        ws = G.mapping(z_from_seeds([3, 4], G.z_dim))
    direction = torch.randn(G.w_dim, generator=torch.Generator().manual_seed(0))
    same = measure_edit_transfer(G, G, ws, direction, [-2.0, 2.0])
    half = measure_edit_transfer(halved, G, ws, direction, [-2.0, 2.0])
    assert same[0].tolist() == [1.0, 1.0] and same[1].tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    # 0.5·x + 0.1 - (0.5·y + 0.1) is 0.5·(x - y) to float32 rounding of the added constant
    assert half[0].tolist() == pytest.approx([0.5, 0.5], abs=1e-5)
    assert half[1].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    noise = [torch.randn(1, 1, b.resolution, b.resolution) for b in _noise_blocks(G)]
    assert measure_edit_transfer(G, G, ws, direction, [2.0], noise=noise)[0].tolist() == [1.0, 1.0]


def _noise_blocks(G):
    return [SimpleNamespace(resolution=m.noise_const.shape[-1]) for m in G.synthesis.modules()
            if hasattr(m, "noise_const")]
