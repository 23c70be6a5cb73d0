"""Tests of vaecourse.sprites: dSprites' grid, its index order, the drawing.

References: the dSprites README (factor sizes, values, strides) and
geometry computed by hand.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from vaecourse import sprites

GRID = sprites.DrawnSprites()


def test_the_grid_is_dsprites_grid():
    assert sprites.FACTOR_SIZES == (1, 3, 6, 40, 32, 32)
    assert sprites.N_IMAGES == 737_280
    expected = [
        [1.0],
        [1.0, 2.0, 3.0],
        [0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        [2 * math.pi * k / 39 for k in range(40)],
        [k / 31 for k in range(32)],
        [k / 31 for k in range(32)],
    ]
    for values, reference in zip(sprites.FACTOR_VALUES, expected, strict=True):
        np.testing.assert_allclose(values, reference, rtol=0, atol=1e-15)
    # The first and last orientations are the same pose (0 and 2 pi).
    assert sprites.FACTOR_VALUES[3][-1] == pytest.approx(2 * math.pi)


def test_index_uses_dsprites_strides_last_factor_fastest():
    strides = [737280, 245760, 40960, 1024, 32, 1]
    classes = np.array([[0, 2, 3, 17, 5, 30]])
    assert sprites.factors_to_index(classes)[0] == np.dot(classes[0], strides)
    # Consecutive indices change position y first, then position x.
    np.testing.assert_array_equal(
        sprites.index_to_factors([0, 1, 32]),
        [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0]],
    )


def test_index_and_factors_round_trip():
    rng = np.random.default_rng(0)
    indices = np.concatenate(
        [
            [0, 1, 31, 32, 1023, 1024, 40959, 40960, 245759, 245760],
            [sprites.N_IMAGES - 1],
            rng.integers(0, sprites.N_IMAGES, 1000),
        ]
    )
    classes = sprites.index_to_factors(indices)
    np.testing.assert_array_equal(sprites.factors_to_index(classes), indices)
    assert (classes >= 0).all()
    assert (classes < np.array(sprites.FACTOR_SIZES)).all()
    # The last index is the last value of every factor.
    np.testing.assert_array_equal(
        classes[10], np.array(sprites.FACTOR_SIZES) - 1
    )


def test_factor_values_read_the_grid():
    classes = np.array([[0, 1, 4, 39, 31, 0]])
    values = sprites.factor_values(classes)[0]
    np.testing.assert_array_equal(
        values, [1.0, 2.0, 0.9, sprites.FACTOR_VALUES[3][39], 1.0, 0.0]
    )


def test_images_are_binary_64_by_64():
    images = GRID.images(sprites.factors_to_index(sprites.sample_factors(50)))
    assert images.shape == (50, 64, 64)
    assert images.dtype == np.uint8
    assert set(np.unique(images)) <= {0, 1}
    assert (images.reshape(50, -1).sum(1) > 0).all()


@pytest.mark.parametrize(
    "shape", [0, 1, 2], ids=["square", "ellipse", "heart"]
)
def test_every_sprite_stays_inside_the_frame(shape):
    # The largest scale at the four corner positions and every orientation:
    # nothing may touch the outermost two rings of pixels.
    rows = [
        [0, shape, 5, o, x, y]
        for o in range(40)
        for x in (0, 31)
        for y in (0, 31)
    ]
    images = GRID.images(sprites.factors_to_index(rows))
    border = images.copy()
    border[:, 2:-2, 2:-2] = 0
    assert border.sum() == 0
    # And the sprite is not cut: the same area wherever it is, up to the
    # pixel grid (a cut sprite would lose a quarter of it or more).
    centred = GRID.images(
        sprites.factors_to_index([[0, shape, 5, o, 15, 15] for o in range(40)])
    )
    areas = images.reshape(40, 4, -1).sum(-1).astype(np.int64)
    reference = centred.reshape(40, 1, -1).sum(-1).astype(np.int64)
    assert (np.abs(areas - reference) <= 0.1 * reference).all()


@pytest.mark.parametrize(
    "shape", [0, 1, 2], ids=["square", "ellipse", "heart"]
)
def test_area_grows_with_scale(shape):
    rows = [[0, shape, s, 0, 16, 16] for s in range(6)]
    areas = GRID.images(sprites.factors_to_index(rows)).sum((1, 2))
    assert (np.diff(areas) > 0).all()
    # The area scales as the square of the size, to the pixel grid's
    # precision: scale 1 has about four times the area of scale 0.5.
    assert areas[-1] / areas[0] == pytest.approx(4.0, rel=0.1)


def test_square_area_is_its_side_squared():
    # Half-size 10 px at scale 1: a 20 x 20 square, 400 pixels.
    image = sprites.draw("square", 1.0, 0.0, 0.5, 0.5)
    assert image.sum() == 400


def test_a_square_turned_by_a_right_angle_is_the_same_image():
    for x, y, scale in [(0.5, 0.5, 1.0), (0.1, 0.8, 0.7), (0.33, 0.0, 0.5)]:
        upright = sprites.draw("square", scale, 0.0, x, y)
        turned = sprites.draw("square", scale, math.pi / 2, x, y)
        np.testing.assert_array_equal(upright, turned)


def test_orientation_zero_and_two_pi_are_the_same_pose():
    for shape in range(3):
        first, last = GRID.images(
            sprites.factors_to_index(
                [[0, shape, 3, 0, 7, 20], [0, shape, 3, 39, 7, 20]]
            )
        )
        np.testing.assert_array_equal(first, last)


def test_a_heart_is_not_symmetric_under_a_half_turn():
    upright = sprites.draw("heart", 1.0, 0.0, 0.5, 0.5)
    turned = sprites.draw("heart", 1.0, math.pi, 0.5, 0.5)
    assert (upright != turned).sum() > 20
    # An upright heart has its lobes on top: more pixels in the upper half.
    assert upright[:32].sum() > upright[32:].sum()


def test_position_moves_the_sprite():
    left = sprites.draw("ellipse", 1.0, 0.0, 0.0, 0.5)
    right = sprites.draw("ellipse", 1.0, 0.0, 1.0, 0.5)
    cols = np.arange(64)
    centre_left = (left.sum(0) * cols).sum() / left.sum()
    centre_right = (right.sum(0) * cols).sum() / right.sum()
    # Centres at 16 and 48 pixels (pixel centres are at i + 0.5).
    assert centre_left + 0.5 == pytest.approx(16.0, abs=0.01)
    assert centre_right + 0.5 == pytest.approx(48.0, abs=0.01)


def test_sampling_is_seeded_and_uniform_over_the_grid():
    a = sprites.sample_factors(20_000, seed=3)
    np.testing.assert_array_equal(a, sprites.sample_factors(20_000, seed=3))
    assert not np.array_equal(a, sprites.sample_factors(20_000, seed=4))
    for k, size in enumerate(sprites.FACTOR_SIZES):
        counts = np.bincount(a[:, k], minlength=size)
        assert counts.min() > 0.8 * 20_000 / size


def test_the_real_file_loads_with_the_same_interface(tmp_path):
    indices = np.array([0, 5, 700_000, sprites.N_IMAGES - 1])
    classes = sprites.index_to_factors(indices)
    images = GRID.images(indices)
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez(
        path,
        imgs=images,
        latents_classes=classes,
        latents_values=sprites.factor_values(classes),
    )
    real = sprites.DSpritesFile(path)
    assert len(real) == 4
    np.testing.assert_array_equal(real.images([1, 2]), images[[1, 2]])
    np.testing.assert_array_equal(real.factor_classes([3]), classes[[3]])
    np.testing.assert_allclose(
        real.factor_values([0, 3]), sprites.factor_values(classes[[0, 3]])
    )
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\)"):
        real.images([4])


def test_a_file_that_is_not_dsprites_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match="lacks"):
        sprites.DSpritesFile(path)
    with pytest.raises(FileNotFoundError, match="no dSprites file"):
        sprites.DSpritesFile(tmp_path / "missing.npz")


BAD = [
    (
        lambda: sprites.factors_to_index([0, 3, 0, 0, 0, 0]),
        ValueError,
        "factor shape has 3 values (indices 0 to 2), got index 3",
    ),
    (
        lambda: sprites.factors_to_index([0, 0, 0, 40, 0, 0]),
        ValueError,
        "factor orientation has 40 values (indices 0 to 39), got index 40",
    ),
    (
        lambda: sprites.factors_to_index([0, 0, 0, 0, -1, 0]),
        ValueError,
        "factor position_x has 32 values (indices 0 to 31), got index -1",
    ),
    (
        lambda: sprites.factors_to_index([0, 0, 0, 0, 0]),
        ValueError,
        "a factor vector has 6 entries",
    ),
    (
        lambda: sprites.factors_to_index([0, 0, 0.5, 0, 0, 0]),
        TypeError,
        "factor indices must be integers, got dtype float64",
    ),
    (
        lambda: sprites.index_to_factors(737_280),
        ValueError,
        "image indices must lie in [0, 737280)",
    ),
    (
        lambda: sprites.index_to_factors(1.0),
        TypeError,
        "image indices must be integers",
    ),
    (
        lambda: sprites.draw("circle", 1.0, 0.0, 0.5, 0.5),
        ValueError,
        "shape must be one of ('square', 'ellipse', 'heart')",
    ),
    (
        lambda: sprites.draw("square", 0.0, 0.0, 0.5, 0.5),
        ValueError,
        "scale must lie in (0, 1], got 0.0",
    ),
    (
        lambda: sprites.draw("square", 1.0, 0.0, 1.5, 0.5),
        ValueError,
        "position_x must lie in [0, 1], got 1.5",
    ),
    (
        lambda: sprites.draw("square", 1.0, math.inf, 0.5, 0.5),
        ValueError,
        "orientation must be finite",
    ),
    (lambda: sprites.sample_factors(0), ValueError, "n must be at least 1"),
]


@pytest.mark.parametrize(
    "call, error, message", BAD, ids=[message for _, _, message in BAD]
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
