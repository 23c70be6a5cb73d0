r"""dSprites-like images, drawn by the course on dSprites' factor grid.

DeepMind's dSprites (Matthey et al. 2017) holds 737,280 binary 64x64
images of a white sprite, one for every combination of five factors:

============  ======  =====================================
factor        values  grid
============  ======  =====================================
colour        1       white
shape         3       square, ellipse, heart (stored 1, 2, 3)
scale         6       ``linspace(0.5, 1, 6)``
orientation   40      ``linspace(0, 2*pi, 40)``
position x    32      ``linspace(0, 1, 32)``
position y    32      ``linspace(0, 1, 32)``
============  ======  =====================================

The file cannot be downloaded here, and its sprites were drawn with a game
engine whose exact heart is not published, so the course draws
**dSprites-like** images with NumPy, on the same grid and in the same index
order (the last factor varies fastest). They are not DeepMind's sprites:
shapes, sizes and the position margin are the course's own. A reader who
has the real ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` loads it
with :class:`DSpritesFile`, which has the same interface as
:class:`DrawnSprites`.

Images are drawn on demand from an index: the whole grid would take about
3 GB, one image well under a millisecond.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vaecourse._validation import check_int

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "FACTOR_VALUES",
    "N_IMAGES",
    "IMAGE_SIZE",
    "factors_to_index",
    "index_to_factors",
    "factor_values",
    "sample_factors",
    "draw",
    "DrawnSprites",
    "DSpritesFile",
]

#: The factors, in dSprites' order (the last varies fastest).
FACTOR_NAMES: tuple[str, ...] = (
    "colour",
    "shape",
    "scale",
    "orientation",
    "position_x",
    "position_y",
)
#: The number of values of each factor.
FACTOR_SIZES: tuple[int, ...] = (1, 3, 6, 40, 32, 32)
#: The value of each factor at each of its indices, as in dSprites'
#: ``latents_values`` (shape is stored as 1, 2, 3).
FACTOR_VALUES: tuple[np.ndarray, ...] = (
    np.array([1.0]),
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
#: The number of images of the grid, 737,280.
N_IMAGES = math.prod(FACTOR_SIZES)
#: Images are ``IMAGE_SIZE`` x ``IMAGE_SIZE`` pixels.
IMAGE_SIZE = 64
# Index of a factor vector = its dot product with these strides (dSprites'
# [737280, 245760, 40960, 1024, 32, 1]): the last factor varies fastest.
_STRIDES = np.array(
    [math.prod(FACTOR_SIZES[k + 1 :]) for k in range(len(FACTOR_SIZES))]
)
_SHAPES = ("square", "ellipse", "heart")

# Geometry of the course's sprites, in pixels. At scale 1 every shape fits
# in a circle of radius _HALF_SIZE * sqrt(2) (the square's corner), so a
# centre at least _MARGIN from each edge keeps every sprite in the frame
# at every orientation.
_HALF_SIZE = 10.0
_MARGIN = 16.0


def _as_classes(classes: object) -> np.ndarray:
    """Factor indices as an (N, 6) int array, checked factor by factor."""
    array = np.asarray(classes)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            "factor indices must be integers, got dtype "
            f"{array.dtype}; use the index of each value on the grid"
        )
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != len(FACTOR_SIZES):
        raise ValueError(
            f"a factor vector has {len(FACTOR_SIZES)} entries "
            f"({', '.join(FACTOR_NAMES)}), got shape {np.shape(classes)}"
        )
    for k, (name, size) in enumerate(
        zip(FACTOR_NAMES, FACTOR_SIZES, strict=True)
    ):
        column = array[:, k]
        if column.size and (column.min() < 0 or column.max() >= size):
            bad = column[(column < 0) | (column >= size)][0]
            raise ValueError(
                f"factor {name} has {size} values (indices 0 to "
                f"{size - 1}), got index {bad}"
            )
    return array.astype(np.int64)


def factors_to_index(classes: object) -> np.ndarray:
    r"""Index in dSprites' order of each factor vector.

    Parameters
    ----------
    classes : array-like
        Integer factor indices, shape ``(6,)`` or ``(N, 6)``: colour,
        shape, scale, orientation, x, y.

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``: :math:`\sum_k c_k s_k` with the strides
        :math:`s = (737280, 245760, 40960, 1024, 32, 1)`.
    """
    return _as_classes(classes) @ _STRIDES


def index_to_factors(index: object) -> np.ndarray:
    """Factor indices of each image index (the inverse of the above).

    Parameters
    ----------
    index : int or array-like
        Integer indices in ``[0, 737280)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(N, 6)``, int64.
    """
    indices = np.atleast_1d(np.asarray(index))
    if indices.dtype == bool or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(
            f"image indices must be integers, got dtype {indices.dtype}"
        )
    if indices.ndim != 1:
        raise ValueError(
            f"image indices must be a number or a 1-D array, got shape "
            f"{indices.shape}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= N_IMAGES):
        raise ValueError(
            f"image indices must lie in [0, {N_IMAGES}), found "
            f"[{indices.min()}, {indices.max()}]"
        )
    sizes = np.array(FACTOR_SIZES)
    return (indices[:, None].astype(np.int64) // _STRIDES) % sizes


def factor_values(classes: object) -> np.ndarray:
    """The value of each factor (dSprites' ``latents_values``), (N, 6)."""
    array = _as_classes(classes)
    return np.stack(
        [FACTOR_VALUES[k][array[:, k]] for k in range(len(FACTOR_SIZES))],
        axis=1,
    )


def sample_factors(n: int, seed: int = 0) -> np.ndarray:
    """``n`` factor vectors drawn uniformly from the grid, seeded.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 6)``, int64 factor indices.
    """
    n = check_int("n", n, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, size, n) for size in FACTOR_SIZES], 1)


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the point (u, v) of the sprite's own frame is inside it.

    (u, v) are in units of half the sprite's size; every shape lies within
    the square max(|u|, |v|) <= 1.
    """
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == "ellipse":
        # Twice as wide as it is tall, like dSprites' ellipse.
        return u**2 + (v / 0.5) ** 2 <= 1.0
    # The heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0 spans x in [-1.14, 1.14]
    # and y in [-1, 1.25]; shrunk and centred to fit the unit square. The
    # image's y axis points down, so v is flipped to keep the heart upright.
    x = u * 1.15
    y = 0.125 - v * 1.15
    return (x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0


def draw(
    shape: str,
    scale: float,
    orientation: float,
    position_x: float,
    position_y: float,
) -> np.ndarray:
    """Draw one dSprites-like image from factor values.

    Parameters
    ----------
    shape : {"square", "ellipse", "heart"}
    scale : float
        In [0.5, 1] on the grid; the sprite's half-size is ``10 * scale``
        pixels.
    orientation : float
        Rotation in radians, counter-clockwise as seen in the image.
    position_x, position_y : float
        In [0, 1]: the centre moves from 16 to 48 pixels (columns, rows).

    Returns
    -------
    numpy.ndarray
        ``(64, 64)`` uint8 image of 0 and 1: a pixel is 1 when its centre
        lies inside the sprite.
    """
    if shape not in _SHAPES:
        raise ValueError(f"shape must be one of {_SHAPES}, got {shape!r}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must lie in (0, 1], got {scale}")
    if not math.isfinite(orientation):
        raise ValueError(f"orientation must be finite, got {orientation}")
    for name, value in (
        ("position_x", position_x),
        ("position_y", position_y),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    values = (scale, orientation, position_x, position_y)
    return _draw_many(
        np.array([_SHAPES.index(shape) + 1]),
        *(np.array([value], dtype=float) for value in values),
    )[0]


def _draw_many(
    shapes: np.ndarray,
    scale: np.ndarray,
    orientation: np.ndarray,
    position_x: np.ndarray,
    position_y: np.ndarray,
) -> np.ndarray:
    """:func:`draw` for arrays of checked factor values, ``(N, 64, 64)``."""
    span = IMAGE_SIZE - 2 * _MARGIN
    centre_x = (_MARGIN + position_x * span)[:, None, None]
    centre_y = (_MARGIN + position_y * span)[:, None, None]
    pixel = np.arange(IMAGE_SIZE) + 0.5  # pixel centres
    dx = pixel[None, None, :] - centre_x
    dy = pixel[None, :, None] - centre_y
    cos = np.cos(orientation)[:, None, None]
    sin = np.sin(orientation)[:, None, None]
    # Rotate the pixel grid back by the orientation; y points down in an
    # image, so this turns the sprite counter-clockwise on screen.
    size = (_HALF_SIZE * scale)[:, None, None]
    u = (cos * dx - sin * dy) / size
    v = (sin * dx + cos * dy) / size
    images = np.zeros((len(shapes), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for number, shape in enumerate(_SHAPES, start=1):
        chosen = shapes == number
        if chosen.any():
            images[chosen] = _inside(shape, u[chosen], v[chosen])
    return images


class DrawnSprites:
    """The course's dSprites-like images on dSprites' grid, drawn on demand.

    The same interface as :class:`DSpritesFile`: ``len``, ``images``,
    ``factor_classes`` and ``factor_values`` of image indices.
    """

    def __len__(self) -> int:
        return N_IMAGES

    def factor_classes(self, indices: object) -> np.ndarray:
        """Factor indices of the images, ``(N, 6)``."""
        return index_to_factors(indices)

    def factor_values(self, indices: object) -> np.ndarray:
        """Factor values of the images, ``(N, 6)``."""
        return factor_values(index_to_factors(indices))

    def images(self, indices: object) -> np.ndarray:
        """The images, ``(N, 64, 64)`` uint8 of 0 and 1."""
        values = self.factor_values(indices)
        images = np.zeros((len(values), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        # Blocks of images small enough for the temporaries to stay in the
        # cache: faster than one image at a time, or all at once.
        for start in range(0, len(values), 16):
            block = values[start : start + 16]
            images[start : start + 16] = _draw_many(
                block[:, 1].astype(np.int64), *block[:, 2:].T
            )
        return images


class DSpritesFile:
    """DeepMind's dSprites file, with the interface of :class:`DrawnSprites`.

    Parameters
    ----------
    path : str or pathlib.Path
        ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (arrays
        ``imgs``, ``latents_values``, ``latents_classes``). Not shipped:
        for readers who have it.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no dSprites file at {path}")
        with np.load(path, allow_pickle=False) as data:
            missing = {"imgs", "latents_classes"} - set(data.files)
            if missing:
                raise ValueError(
                    f"{path} is not a dSprites file: it lacks "
                    f"{sorted(missing)}"
                )
            self._images = data["imgs"]
            self._classes = data["latents_classes"].astype(np.int64)
        if self._images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(
                f"{path}: images must be 64x64, got {self._images.shape[1:]}"
            )

    def __len__(self) -> int:
        return len(self._images)

    def _check(self, indices: object) -> np.ndarray:
        indices = np.atleast_1d(np.asarray(indices))
        if indices.dtype == bool or not np.issubdtype(
            indices.dtype, np.integer
        ):
            raise TypeError(
                f"image indices must be integers, got dtype {indices.dtype}"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise ValueError(
                f"image indices must lie in [0, {len(self)}), found "
                f"[{indices.min()}, {indices.max()}]"
            )
        return indices

    def factor_classes(self, indices: object) -> np.ndarray:
        """Factor indices of the images, ``(N, 6)`` (from the file)."""
        return self._classes[self._check(indices)]

    def factor_values(self, indices: object) -> np.ndarray:
        """Factor values on the grid, ``(N, 6)``."""
        return factor_values(self.factor_classes(indices))

    def images(self, indices: object) -> np.ndarray:
        """The images, ``(N, 64, 64)`` uint8 of 0 and 1."""
        return self._images[self._check(indices)].astype(np.uint8)
