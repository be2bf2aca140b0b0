"""Video writing: frames decode back with the right count and size; partial files never survive."""

import imageio
import numpy as np
import pytest
import torch

from projector.edits import walk
from projector.images import image_grid
from projector.video import VideoWriter, render_video
from stylegan2_core import InputError, to_uint8, z_from_seeds


def _decode(path):
    reader = imageio.get_reader(path)
    try:
        return [np.asarray(f) for f in reader]
    finally:
        reader.close()


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_writer_streams_frames(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    rs = np.random.RandomState(0)
    with VideoWriter(path, fps=10) as writer:
        writer.append(rs.randint(0, 255, (3, 32, 48, 3)).astype(np.uint8))
        writer.append(rs.randint(0, 255, (32, 48, 3)).astype(np.uint8))
    frames = _decode(path)
    assert len(frames) == 4 and frames[0].shape[:2] == (32, 48)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_odd_sizes_are_padded_to_even(tmp_path):
    with VideoWriter(tmp_path / "odd.mp4", fps=5) as writer:
        writer.append(np.full((2, 31, 45, 3), 128, np.uint8))
    frames = _decode(tmp_path / "odd.mp4")
    assert len(frames) == 2 and frames[0].shape[:2] == (32, 46)


def test_failure_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "v.mp4") as writer:
        writer.append(np.zeros((1, 16, 16, 3), np.uint8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="differs"), VideoWriter(tmp_path / "v.mp4") as writer:
        writer.append(np.zeros((1, 16, 16, 3), np.uint8))
        writer.append(np.zeros((1, 8, 8, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="unsupported"):
        VideoWriter(tmp_path / "v.avi")


def test_image_grid_row_major():
    cells = np.arange(6).reshape(6, 1, 1, 1).repeat(3, -1).astype(np.uint8)
    grid = image_grid(cells, cols=3, rows=2)
    assert grid.shape == (2, 3, 3)
    assert grid[:, :, 0].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_image_grid_pads_missing_cells_and_keeps_pixels():
    rng = np.random.RandomState(0)
    cells = rng.randint(0, 256, size=(5, 4, 6, 3)).astype(np.uint8)
    grid = image_grid(cells, cols=3)  # 2 rows, last cell black
    assert grid.shape == (8, 18, 3)
    assert np.array_equal(grid[4:8, 6:12], cells[4])
    assert np.array_equal(grid[0:4, 12:18], cells[2])
    assert not grid[4:8, 12:18].any()
    as_tensor = image_grid(torch.from_numpy(cells).float(), cols=3, fill=-1.0)
    assert torch.equal(as_tensor[:4, :6], torch.from_numpy(cells[0]).float())
    assert (as_tensor[4:8, 12:18] == -1).all()
    with pytest.raises(InputError):
        image_grid(cells, cols=2, rows=2)


def test_render_video_walk(G, tmp_path):
    z = z_from_seeds([0, 1, 2], G.z_dim)
    counted = []
    n = render_video(G, walk(G, 3, z=z, batch_size=4), tmp_path / "walk.mp4", batch_size=3, fps=10,
                     progress=counted.append)
    frames = _decode(tmp_path / "walk.mp4")
    assert n == 7 == len(frames) == sum(counted)
    assert frames[0].shape == (32, 32, 3)
    with torch.no_grad():
        first = to_uint8(G.synthesis(G.mapping(z[:1], None), noise_mode="const"))[0]
    assert np.abs(frames[0].astype(float) - first).mean() < 12  # lossy, but the same picture
    grid_z = torch.stack([z, z_from_seeds([3, 4, 5], G.z_dim)], dim=1)
    n = render_video(G, walk(G, 2, z=grid_z), tmp_path / "grid.gif", grid=(2, 1), fps=10)
    frames = _decode(tmp_path / "grid.gif")
    assert n == 5 == len(frames) and frames[0].shape[:2] == (32, 64)
