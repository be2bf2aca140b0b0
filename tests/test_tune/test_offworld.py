"""The off-world test set: deterministic, every kind adds something the world face does not have."""

import numpy as np
import pytest

from projector.world import render_from_labels
from projector.world.offworld import KINDS, offworld_image, offworld_set
from stylegan2_core import InputError


def test_set_is_deterministic_and_cycles_through_the_kinds():
    a, b = offworld_set(len(KINDS), seed=5, size=32), offworld_set(len(KINDS), seed=5, size=32)
    assert [x.kind for x in a] == list(KINDS)
    assert all(np.array_equal(x.image, y.image) and x.labels == y.labels for x, y in zip(a, b))
    assert not np.array_equal(a[0].image, offworld_set(1, seed=6, size=32)[0].image)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_changes_the_world_face(kind):
    item = offworld_image(3, kind, size=32)
    assert item.image.shape == (32, 32, 3) and item.image.dtype == np.uint8
    face = render_from_labels(item.labels, 32).astype(np.float64)
    changed = np.abs(item.image.astype(np.float64) - face).max(axis=2) > 24
    assert 0.01 < changed.mean() < 0.95  # something was added, the face is still there


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="kind"):
        offworld_image(0, "hat")
    with pytest.raises(InputError, match="count"):
        offworld_set(-1)
