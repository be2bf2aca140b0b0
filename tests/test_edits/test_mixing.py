"""Style mixing: layer groups, layer parsing, exactly-the-chosen-layers mixing, the official grid layout."""

import pytest
import torch

from projector.edits import layer_ranges, mixing_grid, parse_layers, style_mix
from stylegan2_core import InputError, z_from_seeds


def test_layer_ranges_follow_resolution():
    assert layer_ranges(18) == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": list(range(8, 18))}
    assert layer_ranges(14) == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": list(range(8, 14))}
    assert layer_ranges(8) == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": []}


def test_parse_layers():
    assert parse_layers("0-6", 18) == list(range(7))
    assert parse_layers("coarse", 18) == [0, 1, 2, 3]
    assert parse_layers("0,2,4-5", 18) == [0, 2, 4, 5]
    assert parse_layers("fine,1", 18) == [1, *range(8, 18)]
    assert parse_layers("all", 8) == list(range(8))
    for bad in ("0-18", "5-3", "x", "", "fine"):
        with pytest.raises(InputError):
            parse_layers(bad, 18 if bad != "fine" else 8)


def test_style_mix_changes_exactly_the_chosen_layers():
    g = torch.Generator().manual_seed(0)
    row, col = torch.randn(3, 8, 64, generator=g), torch.randn(3, 8, 64, generator=g)
    layers = [0, 2, 3]
    mixed = style_mix(row, col, layers)
    other = [i for i in range(8) if i not in layers]
    assert torch.equal(mixed[:, layers], col[:, layers])
    assert torch.equal(mixed[:, other], row[:, other])
    assert torch.equal(row, style_mix(row, col, []))  # inputs untouched, nothing mixed
    assert style_mix(row[:, None], col[None], layers).shape == (3, 3, 8, 64)


def test_mixing_grid_layout(G):
    rows = G.mapping(z_from_seeds([0, 1], G.z_dim), None)
    cols = G.mapping(z_from_seeds([2, 3, 4], G.z_dim), None)
    layers = [0, 1, 2, 3]
    grid, cells = mixing_grid(G, rows, cols, layers)
    R = G.img_resolution
    assert grid.shape == (1, 3, 3 * R, 4 * R)
    assert sorted(cells) == [(i, j) for i in range(2) for j in range(3)]
    assert torch.all(grid[0, :, :R, :R] == -1)
    with torch.no_grad():
        col_img = G.synthesis(cols[1:2], noise_mode="const")
        row_img = G.synthesis(rows[1:2], noise_mode="const")
        mix_img = G.synthesis(style_mix(rows[1:2], cols[2:3], layers), noise_mode="const")
    assert torch.allclose(grid[0, :, :R, 2 * R:3 * R], col_img[0], atol=1e-5)
    assert torch.allclose(grid[0, :, 2 * R:, :R], row_img[0], atol=1e-5)
    assert torch.allclose(cells[(1, 2)], mix_img, atol=1e-5)
    assert torch.equal(grid[0, :, 2 * R:, 3 * R:], cells[(1, 2)][0])
