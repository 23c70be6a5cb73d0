"""Tests of vaecourse.sprites: the grid, its index order, the drawing, the
reduced images and the loader of the real file.

References: the dSprites README (factor sizes, values, strides),
geometry computed by hand, and a loop over 2 x 2 blocks for the reduced
images.
"""

from __future__ import annotations

import json
import math
import re
import zipfile

import numpy as np
import pytest
import torch
from bad_inputs import raises, table

from vaecourse import beta_vae, sprites

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


# The images of the small files written by the tests.
_INDICES = np.array([0, 5, 700_000, sprites.N_IMAGES - 1])
_IMAGES = GRID.images(_INDICES)


def _dsprites(directory, **arrays):
    """A 4-image dSprites-like .npz; ``arrays`` replace or add arrays."""
    classes = sprites.index_to_factors(_INDICES)
    contents = {
        "imgs": _IMAGES,
        "latents_classes": classes,
        "latents_values": sprites.factor_values(classes),
    }
    contents.update(arrays)
    path = directory / "dsprites.npz"
    np.savez(path, **contents)
    return path


def test_empty_index_lists_give_empty_results(tmp_path):
    # [] is float64 to NumPy; no index selects no image, as in NumPy.
    real = sprites.DSpritesFile(_dsprites(tmp_path))
    for source in (GRID, real):
        for empty in ([], np.array([], dtype=np.int64)):
            images = source.images(empty)
            assert images.shape == (0, 64, 64)
            assert images.dtype == np.uint8
            assert source.factor_classes(empty).shape == (0, 6)
            assert source.factor_values(empty).shape == (0, 6)
    assert sprites.index_to_factors([]).shape == (0, 6)
    assert sprites.factors_to_index(np.empty((0, 6))).shape == (0,)
    assert sprites.reduced_images(np.empty((0, 6))).shape == (0, 1024)


def test_the_sizes_have_unambiguous_names():
    assert sprites.FULL_SIZE == 64
    # One name per size: IMAGE_SIZE is a Part III module's own image side.
    assert not hasattr(sprites, "IMAGE_SIZE")
    assert sprites.REDUCED_SIZE == 32
    assert sprites.REDUCED_SIZE == beta_vae.IMAGE_SIZE


def test_reduced_images_are_the_means_of_2_by_2_blocks():
    classes = sprites.sample_factors(12, seed=5)
    full = GRID.images(sprites.factors_to_index(classes))
    reduced = sprites.reduced_images(classes)
    assert reduced.shape == (12, 32 * 32)
    assert reduced.dtype == torch.float32
    # Reference: a plain loop over the blocks, in float64.
    expected = np.zeros((12, 32, 32))
    for n in range(12):
        for i in range(32):
            for j in range(32):
                block = full[n, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                expected[n, i, j] = block.astype(np.float64).sum() / 4
    np.testing.assert_array_equal(
        reduced.numpy().reshape(12, 32, 32), expected
    )
    assert set(np.unique(reduced.numpy())) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    # One factor vector is one image.
    np.testing.assert_array_equal(
        sprites.reduced_images(classes[3]), reduced[3:4]
    )


def test_beta_vae_draws_its_sprites_with_reduced_images():
    # The old beta_vae.sprite_images was checked bit for bit against
    # reduced_images before it was replaced by it.
    assert beta_vae.sprite_images is sprites.reduced_images


@pytest.mark.parametrize(
    "stored",
    [
        lambda images: images * 255,
        lambda images: images.astype(bool),
        lambda images: images.astype(np.float32),
        lambda images: (images * 255).astype(np.float64),
    ],
    ids=["uint8 0 and 255", "bool", "float 0 and 1", "float 0 and 255"],
)
def test_a_file_resaved_with_other_binary_values_reads_as_0_and_1(
    tmp_path, stored
):
    # A user who re-saved the images as 8-bit grey levels, or as another
    # dtype, expects the same images back, not 255 where dSprites has 1.
    real = sprites.DSpritesFile(_dsprites(tmp_path, imgs=stored(_IMAGES)))
    read = real.images([0, 1, 2, 3])
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, _IMAGES)


def test_classes_resaved_as_whole_floats_are_read(tmp_path):
    classes = sprites.index_to_factors(_INDICES)
    real = sprites.DSpritesFile(
        _dsprites(tmp_path, latents_classes=classes.astype(np.float32))
    )
    assert real.factor_classes([0, 1, 2, 3]).dtype == np.int64
    np.testing.assert_array_equal(real.factor_classes([0, 1, 2, 3]), classes)


class _Unpickled:
    """Unpickling this creates the file ``marker``: the proof of a load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_an_object_array_is_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    imgs = np.empty((4, 64, 64), dtype=object)
    imgs[...] = 0
    imgs[0, 0, 0] = _Unpickled(marker)
    path = _dsprites(tmp_path, imgs=imgs)
    with pytest.raises(ValueError, match="holds Python objects"):
        sprites.DSpritesFile(path)
    assert not marker.exists()


def _text_file(directory):
    path = directory / "dsprites.npz"
    path.write_text("imgs, latents_classes\n0, 1\n")
    return path


def _npy_file(directory):
    path = directory / "dsprites.npy"
    np.save(path, GRID.images([0, 1]))
    return path


def _truncated(directory):
    path = _dsprites(directory)
    path.write_bytes(path.read_bytes()[:1000])
    return path


def _bad_crc(directory):
    # np.savez stores without compression, imgs first: a flipped pixel
    # keeps every value binary but breaks the member's checksum.
    path = _dsprites(directory)
    data = bytearray(path.read_bytes())
    data[8000] ^= 1
    path.write_bytes(bytes(data))
    return path


def _with_member(directory, content):
    """An archive whose imgs.npy member is ``content``."""
    path = _dsprites(directory)
    with zipfile.ZipFile(path) as archive:
        kept = {
            name: archive.read(name)
            for name in archive.namelist()
            if name != "imgs.npy"
        }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("imgs.npy", content)
        for name, data in kept.items():
            archive.writestr(name, data)
    return path


def _classes_with(k, value, dtype=np.int64):
    """The 4 class rows of :func:`_dsprites`, column k of row 1 = value."""
    classes = sprites.index_to_factors(_INDICES)
    classes = classes.astype(dtype)
    classes[1, k] = value
    return classes


# Calls take the folder the bad file is written to; every message also
# names the file (checked by the test).
BAD_FILES = [
    (
        lambda d: sprites.DSpritesFile(_text_file(d)),
        ValueError,
        "is not a dSprites file: it is not an .npz archive",
    ),
    (
        lambda d: sprites.DSpritesFile(_npy_file(d)),
        ValueError,
        "is a .npy file (one array), not a dSprites file",
    ),
    (
        lambda d: sprites.DSpritesFile(_truncated(d)),
        ValueError,
        "is not a dSprites file: it is a damaged .npz archive",
    ),
    (
        lambda d: sprites.DSpritesFile(_bad_crc(d)),
        ValueError,
        "imgs is damaged and cannot be read (Bad CRC-32",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _with_member(d, b"\x93NUMPY\x01\x00\x10\x00[1, 2]          \n")
        ),
        ValueError,
        "imgs is damaged and cannot be read (Header is not a dictionary",
    ),
    (
        lambda d: sprites.DSpritesFile(_with_member(d, b"64 x 64 images")),
        ValueError,
        "imgs is not a NumPy array",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, imgs=np.array([None, 1], dtype=object))
        ),
        ValueError,
        "imgs holds Python objects (dtype object), stored as a pickle; the "
        "course never unpickles a file",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=np.array([{}], dtype=object))
        ),
        ValueError,
        "latents_classes holds Python objects (dtype object)",
    ),
    (
        lambda d: sprites.DSpritesFile(_dsprites(d, imgs=_IMAGES * 128)),
        ValueError,
        "imgs must be binary images, every pixel 0 or 1 (or every pixel 0 "
        "or 255, read as 0 and 1), found 128",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, imgs=np.where(_IMAGES == 1, np.nan, 0.0))
        ),
        ValueError,
        "imgs must be binary images, every pixel 0 or 1 (or every pixel 0 "
        "or 255, read as 0 and 1), found nan",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, imgs=np.full((4, 64, 64), "1"))
        ),
        ValueError,
        "imgs must hold pixel values (numbers), got dtype <U1",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, imgs=np.zeros((4, 32, 32), np.uint8))
        ),
        ValueError,
        "imgs must have shape (N, 64, 64), got (4, 32, 32)",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(
                d,
                imgs=np.zeros((0, 64, 64), np.uint8),
                latents_classes=np.zeros((0, 6), np.int64),
            )
        ),
        ValueError,
        "imgs holds no image",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=_classes_with(0, 0)[:, 1:])
        ),
        ValueError,
        "latents_classes must have shape (N, 6), one column per factor "
        "(colour, shape, scale, orientation, position_x, position_y), got "
        "(4, 5)",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=_classes_with(0, 0)[:3])
        ),
        ValueError,
        "imgs holds 4 images but latents_classes holds 3 rows; there must "
        "be one row of classes per image",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=_classes_with(2, np.nan, float))
        ),
        ValueError,
        "latents_classes column 2 (factor scale) must hold the class "
        "indices 0 to 5, found nan",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=_classes_with(3, 2.5, float))
        ),
        ValueError,
        "latents_classes column 3 (factor orientation) must hold the class "
        "indices 0 to 39, found 2.5",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=_classes_with(5, -1))
        ),
        ValueError,
        "latents_classes column 5 (factor position_y) must hold the class "
        "indices 0 to 31, found -1",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=np.ones((4, 6), dtype=bool))
        ),
        ValueError,
        "latents_classes must hold class indices (integers), got dtype bool",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=_classes_with(1, 1)[:, :0])
        ),
        ValueError,
        "latents_classes must have shape (N, 6)",
    ),
    (
        lambda d: sprites.DSpritesFile(
            _dsprites(d, latents_classes=_classes_with(0, 0)[0])
        ),
        ValueError,
        "latents_classes must have shape (N, 6)",
    ),
] + [
    # Each factor one past its last class: the shape class 7 of the issue
    # is the shape row's case with 3 + 4.
    (
        lambda d, k=k, bad=bad: sprites.DSpritesFile(
            _dsprites(d, latents_classes=_classes_with(k, bad))
        ),
        ValueError,
        f"latents_classes column {k} (factor {name}) must hold the class "
        f"indices 0 to {size - 1}, found {bad}",
    )
    for k, (name, size, bad) in enumerate(
        zip(
            sprites.FACTOR_NAMES,
            sprites.FACTOR_SIZES,
            [1, 7, 6, 40, 32, 32],
            strict=True,
        )
    )
]


@table(BAD_FILES)
def test_a_bad_file_is_refused_with_its_name(tmp_path, call, error, message):
    with pytest.raises(error, match=re.escape(message)) as caught:
        call(tmp_path)
    assert str(tmp_path / "dsprites.np") in str(caught.value)


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
        "scale must be positive, got 0.0",
    ),
    (
        lambda: sprites.draw("square", 1.0, 0.0, 1.5, 0.5),
        ValueError,
        "position_x must be at most 1.0, got 1.5",
    ),
    (
        lambda: sprites.draw("square", 1.0, math.inf, 0.5, 0.5),
        ValueError,
        "orientation must be finite",
    ),
    (lambda: sprites.sample_factors(0), ValueError, "n must be at least 1"),
    (
        lambda: sprites.sample_factors(2.0),
        TypeError,
        "n must be an integer, got float 2.0",
    ),
    (
        lambda: sprites.sample_factors(2, seed=-1),
        ValueError,
        "seed must be at least 0, got -1",
    ),
    (
        lambda: sprites.draw("square", "1", 0.0, 0.5, 0.5),
        TypeError,
        "scale must be a real number, got str '1'",
    ),
    (
        lambda: sprites.draw(1, 1.0, 0.0, 0.5, 0.5),
        TypeError,
        "shape must be a builtins.str, got int",
    ),
    (
        lambda: sprites.draw("square", 1.5, 0.0, 0.5, 0.5),
        ValueError,
        "scale must be at most 1.0, got 1.5",
    ),
    (
        lambda: sprites.draw("square", math.nan, 0.0, 0.5, 0.5),
        ValueError,
        "scale must be a number, got NaN",
    ),
    (
        lambda: sprites.draw("square", 1.0, "0", 0.5, 0.5),
        TypeError,
        "orientation must be a real number, got str '0'",
    ),
    (
        lambda: sprites.draw("square", 1.0, 0.0, None, 0.5),
        TypeError,
        "position_x must be a real number, got NoneType None",
    ),
    (
        lambda: sprites.draw("square", 1.0, 0.0, 0.5, -0.1),
        ValueError,
        "position_y must be at least 0.0, got -0.1",
    ),
    (
        lambda: sprites.draw("square", 1.0, 0.0, 0.5, [0.5]),
        TypeError,
        "position_y must be a real number, got list [0.5]",
    ),
    (
        lambda: sprites.factors_to_index([[0, 0, 0, 0, 0, 0], [0, 0]]),
        ValueError,
        "factor indices must form a rectangular array, got a ragged list",
    ),
    (
        lambda: sprites.factor_values([True] * 6),
        TypeError,
        "factor indices must be integers, got dtype bool",
    ),
    (
        lambda: sprites.index_to_factors([[0], [1, 2]]),
        ValueError,
        "image indices must form a rectangular array, got a ragged list",
    ),
    (
        lambda: sprites.index_to_factors([[0, 1]]),
        ValueError,
        "image indices must be a number or a 1-D array, got shape (1, 2)",
    ),
    (
        lambda: GRID.images([1.5]),
        TypeError,
        "image indices must be integers, got dtype float64",
    ),
    (
        lambda: GRID.images([-1, 3]),
        ValueError,
        "image indices must lie in [0, 737280), found [-1, 3]",
    ),
    (
        lambda: GRID.factor_values(np.array([True])),
        TypeError,
        "image indices must be integers, got dtype bool",
    ),
    (
        lambda: sprites.reduced_images([0, 3, 0, 0, 0, 0]),
        ValueError,
        "factor shape has 3 values (indices 0 to 2), got index 3",
    ),
    (
        lambda: sprites.reduced_images(np.zeros((2, 6))),
        TypeError,
        "factor indices must be integers, got dtype float64",
    ),
    (
        lambda: sprites.reduced_images(np.zeros((2, 5), np.int64)),
        ValueError,
        "a factor vector has 6 entries",
    ),
    (
        lambda: sprites.DSpritesFile(3),
        TypeError,
        "path must be a builtins.str or os.PathLike, got int",
    ),
]


@table(BAD)
def test_bad_input(call, error, message):
    raises(call, error, message)


# --- the pre-drawn grid of reduced images ------------------------------------


@pytest.fixture(scope="module")
def small_grid(tmp_path_factory):
    """The first 300 images of the grid, pre-drawn."""
    path = tmp_path_factory.mktemp("grid") / "grid.npy"
    return sprites.build_reduced_grid(path, count=300, chunk=128)


def test_the_grid_holds_the_bits_of_reduced_images(small_grid):
    grid = sprites.ReducedGrid(small_grid)
    assert len(grid) == 300
    indices = np.array([299, 0, 7, 7, 150, 1, 298])  # unsorted, repeated
    ours = grid.images(indices)
    drawn = sprites.reduced_images(sprites.index_to_factors(indices))
    assert ours.dtype == torch.float32 and ours.shape == (7, 1024)
    assert torch.equal(ours.view(torch.int32), drawn.view(torch.int32))
    assert grid.images([]).shape == (0, 1024)


def test_the_grid_file_stores_block_counts(small_grid):
    counts = np.load(small_grid)
    assert counts.dtype == np.uint8 and counts.shape == (300, 32, 32)
    full = GRID.images(np.arange(3))
    by_hand = full.reshape(3, 32, 2, 32, 2).sum(axis=(2, 4))
    np.testing.assert_array_equal(counts[:3], by_hand)
    record = json.loads(small_grid.with_suffix(".json").read_text())
    assert record["count"] == 300
    assert not small_grid.with_name(small_grid.name + ".partial").exists()


def test_the_cache_folder_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path / "c"))
    assert sprites.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("VAECOURSE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert sprites.cache_dir() == tmp_path / "x" / "vaecourse"


def damaged_copy(small_grid, tmp_path, damage):
    path = tmp_path / "grid.npy"
    path.write_bytes(small_grid.read_bytes())
    path.with_suffix(".json").write_text(
        small_grid.with_suffix(".json").read_text()
    )
    damage(path)
    return path


def flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


BAD_GRIDS = [
    (flip_last_byte, ValueError, "its SHA-256 differs from its record's"),
    (
        lambda path: path.with_suffix(".json").unlink(),
        FileNotFoundError,
        "no pre-drawn grid there; build it with",
    ),
    (
        lambda path: path.with_suffix(".json").write_text("{}"),
        ValueError,
        "not a grid record",
    ),
]


@pytest.mark.parametrize(
    "damage, error, message", BAD_GRIDS, ids=[row[2] for row in BAD_GRIDS]
)
def test_a_damaged_grid_is_refused(
    small_grid, tmp_path, damage, error, message
):
    path = damaged_copy(small_grid, tmp_path, damage)
    raises(lambda: sprites.ReducedGrid(path), error, message)


BAD_GRID_CALLS = [
    (
        lambda grid: grid.images([300]),
        ValueError,
        "image indices must lie in [0, 300), found [300, 300]",
    ),
    (
        lambda grid: sprites.build_reduced_grid(count=0),
        ValueError,
        "count must be at least 1, got 0",
    ),
    (
        lambda grid: sprites.build_reduced_grid(count=sprites.N_IMAGES + 1),
        ValueError,
        "count must be at most the 737,280 images of the grid, got 737,281",
    ),
    (
        lambda grid: sprites.ReducedGrid(3),
        TypeError,
        "path must be a builtins.str or os.PathLike, got int",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", BAD_GRID_CALLS, ids=[r[2] for r in BAD_GRID_CALLS]
)
def test_bad_grid_calls_are_named(small_grid, call, error, message):
    grid = sprites.ReducedGrid(small_grid)
    raises(lambda: call(grid), error, message)
