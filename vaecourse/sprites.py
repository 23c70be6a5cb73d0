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

Part III trains on **reduced** images (:func:`reduced_images`): each
``FULL_SIZE`` x ``FULL_SIZE`` (64 x 64) image averaged over 2 x 2 blocks to
``REDUCED_SIZE`` x ``REDUCED_SIZE`` (32 x 32), so that its pixels take the
values 0, 1/4, ..., 1. They live here, beside the drawing, so that the
chapters that use them share one definition.

Drawing dominates a training step, so a long training reads its batches
from a :class:`ReducedGrid`: every reduced image of the grid drawn once
(:func:`build_reduced_grid`, about two minutes) and kept as 2 x 2 block
counts 0..4 in a ``uint8`` file of 755 MB, outside the repository, in
:func:`cache_dir`, checked by its SHA-256 when it is opened. Its images are
the bits of :func:`reduced_images`, so a training gives the same numbers
with it or without it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from vaecourse._validation import (
    check_instance,
    check_int,
    check_real,
    check_shape,
)

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "FACTOR_VALUES",
    "N_IMAGES",
    "FULL_SIZE",
    "REDUCED_SIZE",
    "factors_to_index",
    "index_to_factors",
    "factor_values",
    "sample_factors",
    "draw",
    "reduced_images",
    "cache_dir",
    "build_reduced_grid",
    "ReducedGrid",
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
#: Side of the full images in pixels (64 x 64, like dSprites').
FULL_SIZE = 64
#: Side of the reduced images of :func:`reduced_images`, in pixels: the
#: full images averaged over 2 x 2 blocks.
REDUCED_SIZE = FULL_SIZE // 2
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


def _as_array(what: str, value: object) -> np.ndarray:
    """``numpy.asarray(value)``, with a message that names ``what``."""
    try:
        return np.asarray(value)
    except ValueError:
        # NumPy refuses a ragged sequence (rows of different lengths) with
        # a message about "setting an array element with a sequence".
        raise ValueError(
            f"{what} must form a rectangular array, got a ragged "
            f"{type(value).__name__} (its rows differ in length)"
        ) from None


def _as_classes(classes: object) -> np.ndarray:
    """Factor indices as an (N, 6) int array, checked factor by factor."""
    array = _as_array("factor indices", classes)
    # An empty (0, 6) array selects nothing, whatever its dtype: NumPy
    # makes ``np.empty((0, 6))`` float64.
    if array.size and (
        array.dtype == bool or not np.issubdtype(array.dtype, np.integer)
    ):
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
        outside = (column < 0) | (column >= size)
        if outside.any():
            raise ValueError(
                f"factor {name} has {size} values (indices 0 to "
                f"{size - 1}), got index {column[outside][0]}"
            )
    return array.astype(np.int64)


def _as_indices(indices: object, count: int) -> np.ndarray:
    """Image indices as a 1-D int64 array, each in ``[0, count)``."""
    array = np.atleast_1d(_as_array("image indices", indices))
    if array.ndim != 1:
        raise ValueError(
            f"image indices must be a number or a 1-D array, got shape "
            f"{array.shape}"
        )
    if array.size == 0:
        # No index selects no image, as in NumPy's own indexing; ``[]`` is
        # float64 to NumPy, so its dtype is not held against it.
        return np.zeros(0, np.int64)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"image indices must be integers, got dtype {array.dtype}"
        )
    if array.min() < 0 or array.max() >= count:
        raise ValueError(
            f"image indices must lie in [0, {count}), found "
            f"[{array.min()}, {array.max()}]"
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

    Raises
    ------
    TypeError
        If the indices are not integers.
    ValueError
        If the array is ragged, has not 6 columns, or an index is off the
        grid (the message names the factor and its range).
    """
    return _as_classes(classes) @ _STRIDES


def index_to_factors(index: object) -> np.ndarray:
    """Factor indices of each image index (the inverse of the above).

    Parameters
    ----------
    index : int or array-like
        Integer indices in ``[0, 737280)``; an empty array gives an empty
        result.

    Returns
    -------
    numpy.ndarray
        Shape ``(N, 6)``, int64.
    """
    indices = _as_indices(index, N_IMAGES)
    sizes = np.array(FACTOR_SIZES)
    return (indices[:, None] // _STRIDES) % sizes


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
        In (0, 1], [0.5, 1] on the grid; the sprite's half-size is
        ``10 * scale`` pixels.
    orientation : float
        Rotation in radians, counter-clockwise as seen in the image.
    position_x, position_y : float
        In [0, 1]: the centre moves from 16 to 48 pixels (columns, rows).

    Returns
    -------
    numpy.ndarray
        ``(64, 64)`` uint8 image of 0 and 1: a pixel is 1 when its centre
        lies inside the sprite.

    Raises
    ------
    TypeError
        If ``shape`` is not a string or a number is not a real number.
    ValueError
        If ``shape`` is not one of the three, or a number is NaN,
        infinite or outside its interval.
    """
    check_instance("shape", shape, str)
    if shape not in _SHAPES:
        raise ValueError(f"shape must be one of {_SHAPES}, got {shape!r}")
    values = (
        check_real("scale", scale, positive=True, maximum=1.0),
        check_real("orientation", orientation),
        check_real("position_x", position_x, minimum=0.0, maximum=1.0),
        check_real("position_y", position_y, minimum=0.0, maximum=1.0),
    )
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
    span = FULL_SIZE - 2 * _MARGIN
    centre_x = (_MARGIN + position_x * span)[:, None, None]
    centre_y = (_MARGIN + position_y * span)[:, None, None]
    pixel = np.arange(FULL_SIZE) + 0.5  # pixel centres
    dx = pixel[None, None, :] - centre_x
    dy = pixel[None, :, None] - centre_y
    cos = np.cos(orientation)[:, None, None]
    sin = np.sin(orientation)[:, None, None]
    # Rotate the pixel grid back by the orientation; y points down in an
    # image, so this turns the sprite counter-clockwise on screen.
    size = (_HALF_SIZE * scale)[:, None, None]
    u = (cos * dx - sin * dy) / size
    v = (sin * dx + cos * dy) / size
    images = np.zeros((len(shapes), FULL_SIZE, FULL_SIZE), np.uint8)
    for number, shape in enumerate(_SHAPES, start=1):
        chosen = shapes == number
        if chosen.any():
            images[chosen] = _inside(shape, u[chosen], v[chosen])
    return images


def _draw_classes(classes: np.ndarray) -> np.ndarray:
    """Images of checked ``(N, 6)`` factor indices, ``(N, 64, 64)`` uint8."""
    values = factor_values(classes)
    images = np.zeros((len(values), FULL_SIZE, FULL_SIZE), np.uint8)
    # Blocks of images small enough for the temporaries to stay in the
    # cache: faster than one image at a time, or all at once.
    for start in range(0, len(values), 16):
        block = values[start : start + 16]
        images[start : start + 16] = _draw_many(
            block[:, 1].astype(np.int64), *block[:, 2:].T
        )
    return images


def reduced_images(classes: object) -> torch.Tensor:
    """Draw sprites from factor indices and average them down to 32 x 32.

    The images of Part III: each 64 x 64 binary image of
    :class:`DrawnSprites` averaged over 2 x 2 blocks of pixels, so that a
    pixel of the result is 0, 1/4, 1/2, 3/4 or 1.

    Parameters
    ----------
    classes : array-like
        Integer factor indices, shape ``(6,)`` or ``(N, 6)`` (as for
        :func:`factors_to_index`).

    Returns
    -------
    torch.Tensor
        ``(N, REDUCED_SIZE**2)`` = ``(N, 1024)`` float32 in [0, 1], each
        image flattened row by row: pixel ``(i, j)`` is the mean of pixels
        ``(2i, 2j)``, ``(2i, 2j + 1)``, ``(2i + 1, 2j)`` and
        ``(2i + 1, 2j + 1)`` of the full image.

    Raises
    ------
    TypeError, ValueError
        As :func:`factors_to_index`.
    """
    images = _draw_classes(_as_classes(classes))
    n = len(images)
    blocks = images.reshape(n, REDUCED_SIZE, 2, REDUCED_SIZE, 2)
    # The mean of four 0/1 pixels is a multiple of 1/4: exact in float32.
    means = blocks.mean(axis=(2, 4), dtype=np.float32)
    return torch.from_numpy(means.reshape(n, REDUCED_SIZE * REDUCED_SIZE))


def cache_dir() -> Path:
    """Where the course caches what it computes once: outside the repository.

    ``$VAECOURSE_CACHE`` if set, else ``$XDG_CACHE_HOME/vaecourse``, else
    ``~/.cache/vaecourse``.
    """
    if os.environ.get("VAECOURSE_CACHE"):
        return Path(os.environ["VAECOURSE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vaecourse"


#: The version of the grid file's layout; a change makes a new file.
_GRID_FORMAT = 1
_GRID_NAME = f"reduced_grid_v{_GRID_FORMAT}"


def _block_counts(indices: np.ndarray) -> np.ndarray:
    """The 2 x 2 block counts (0..4) of the drawn images, ``uint8``."""
    images = _draw_classes(index_to_factors(indices))
    blocks = images.reshape(len(indices), REDUCED_SIZE, 2, REDUCED_SIZE, 2)
    return blocks.sum(axis=(2, 4), dtype=np.uint8)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_reduced_grid(
    path: str | os.PathLike | None = None,
    *,
    count: int = N_IMAGES,
    chunk: int = 8192,
) -> Path:
    """Draw the reduced images of the grid once and write them to a file.

    Image ``i`` of the file is :func:`reduced_images` of
    ``index_to_factors(i)``, stored as the counts of white pixels in its
    2 x 2 blocks (0..4, ``uint8``): ``count`` x 1024 bytes, 755 MB for the
    whole grid. The file is written under a temporary name and renamed
    when complete, then its record (``.json`` beside it: count and SHA-256)
    is written: a build that is stopped leaves no file that looks whole.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``.npy`` file; by default ``reduced_grid_v1.npy`` in
        :func:`cache_dir`.
    count : int, default 737280
        Draw the first ``count`` images only (for tests and trials).
    chunk : int, default 8192
        Images drawn at a time (memory: about 4 KB an image).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    count = check_int("count", count, minimum=1)
    if count > N_IMAGES:
        raise ValueError(
            f"count must be at most the {N_IMAGES:,} images of the grid, "
            f"got {count:,}"
        )
    chunk = check_int("chunk", chunk, minimum=1)
    path = _grid_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    array = np.lib.format.open_memmap(
        partial,
        mode="w+",
        dtype=np.uint8,
        shape=(count, REDUCED_SIZE, REDUCED_SIZE),
    )
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        array[start:stop] = _block_counts(np.arange(start, stop))
    array.flush()
    del array
    os.replace(partial, path)
    record = {
        "format": _GRID_FORMAT,
        "count": count,
        "sha256": _sha256_of(path),
    }
    path.with_suffix(".json").write_text(json.dumps(record) + "\n")
    return path


def _grid_path(path: str | os.PathLike | None) -> Path:
    if path is None:
        return cache_dir() / f"{_GRID_NAME}.npy"
    check_instance("path", path, (str, os.PathLike))
    return Path(path)


class ReducedGrid:
    """The reduced images of the grid, pre-drawn (:func:`build_reduced_grid`).

    ``images(indices)`` returns the same bits as
    ``reduced_images(index_to_factors(indices))``, read from the file
    instead of drawn: the counts divided by 4, exact in float32.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The grid file; by default the one in :func:`cache_dir`.
    build : bool, default False
        Build the whole grid first (about two minutes) when the file is
        missing; otherwise a missing file is an error that says how to
        build it.

    Raises
    ------
    FileNotFoundError
        If the file or its record is missing (and ``build`` is False).
    ValueError
        If the file does not match its record (SHA-256, count, shape).
    """

    def __init__(
        self, path: str | os.PathLike | None = None, *, build: bool = False
    ) -> None:
        path = _grid_path(path)
        record_path = path.with_suffix(".json")
        if not (path.is_file() and record_path.is_file()):
            if not isinstance(build, bool):
                raise TypeError(f"build must be True or False, got {build!r}")
            if not build:
                raise FileNotFoundError(
                    f"{path}: no pre-drawn grid there; build it with "
                    "vaecourse.sprites.build_reduced_grid() (about two "
                    "minutes, 755 MB) or ReducedGrid(build=True)"
                )
            build_reduced_grid(path)
        try:
            record = json.loads(record_path.read_text())
            count, expected = int(record["count"]), str(record["sha256"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{record_path}: not a grid record ({error}); build the "
                "grid again with vaecourse.sprites.build_reduced_grid()"
            ) from None
        if _sha256_of(path) != expected:
            raise ValueError(
                f"{path}: its SHA-256 differs from its record's: the file "
                "is damaged or incomplete; build it again with "
                "vaecourse.sprites.build_reduced_grid()"
            )
        counts = np.load(path, mmap_mode="r", allow_pickle=False)
        if counts.shape != (count, REDUCED_SIZE, REDUCED_SIZE):
            raise ValueError(
                f"{path}: shape {counts.shape}, but its record says "
                f"({count}, {REDUCED_SIZE}, {REDUCED_SIZE})"
            )
        self.path = path
        #: The SHA-256 of the file, checked when it was opened.
        self.sha256 = expected
        self._counts = counts

    def __len__(self) -> int:
        return len(self._counts)

    def images(self, indices: object) -> torch.Tensor:
        """Reduced images ``(N, 1024)``, float32 in [0, 1], of image indices.

        The indices are those of :func:`factors_to_index`, below
        ``len(self)``.
        """
        indices = _as_indices(indices, len(self))
        counts = self._counts[indices].reshape(len(indices), REDUCED_SIZE**2)
        # k / 4 for k in 0..4 is exact in float32: the bits of the mean.
        return torch.from_numpy(counts.astype(np.float32) / np.float32(4))


class DrawnSprites:
    """The course's dSprites-like images on dSprites' grid, drawn on demand.

    The same interface as :class:`DSpritesFile`: ``len``, ``images``,
    ``factor_classes`` and ``factor_values`` of image indices (an int or a
    1-D array of ints in ``[0, 737280)``; an empty array gives empty
    results).
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
        return _draw_classes(index_to_factors(indices))


# Pixels are scanned this many images at a time: the temporaries stay
# small even for the 737,280 images (3 GB) of the real file.
_SCAN_BLOCK = 4096
# What np.load takes for an .npz archive (a zip), and the start of a .npy.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``imgs`` and ``latents_classes`` of the archive at ``path``.

    Nothing is unpickled: an array of Python objects is refused. The real
    file also holds ``metadata``, a pickled dict, which is never read.
    """
    with path.open("rb") as file:
        magic = file.read(len(_NPY_MAGIC))
    if magic.startswith(_NPY_MAGIC):
        raise ValueError(
            f"{path} is a .npy file (one array), not a dSprites file: "
            "dSprites is an .npz archive holding imgs and latents_classes"
        )
    if not magic.startswith(_ZIP_MAGIC):
        # np.load would take it for a pickle, and refuse it as one.
        raise ValueError(
            f"{path} is not a dSprites file: it is not an .npz archive "
            "(a zip of .npy arrays)"
        )
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{path} is not a dSprites file: it is a damaged .npz "
            f"archive ({error})"
        ) from error
    with data:
        missing = {"imgs", "latents_classes"} - set(data.files)
        if missing:
            raise ValueError(
                f"{path} is not a dSprites file: it lacks {sorted(missing)}"
            )
        return (
            _read_array(path, data, "imgs"),
            _read_array(path, data, "latents_classes"),
        )


def _read_array(
    path: Path, data: np.lib.npyio.NpzFile, name: str
) -> np.ndarray:
    """The array ``name`` of an open archive, with errors that name it."""
    try:
        array = data[name]
    except MemoryError:
        raise  # the file may be fine: the 3 GB of images do not fit
    except ValueError as error:
        # With allow_pickle=False, NumPy refuses an object array before it
        # unpickles anything; its message names allow_pickle.
        if "allow_pickle" not in str(error):
            raise ValueError(
                f"{path}: {name} is damaged and cannot be read ({error})"
            ) from error
        raise ValueError(
            f"{path}: {name} holds Python objects (dtype object), "
            "stored as a pickle; the course never unpickles a file "
            f"(that can run any code): save {name} as an array of "
            "numbers"
        ) from None
    except Exception as error:
        # A damaged member fails in many ways: a bad CRC or stream
        # (zipfile.BadZipFile, zlib.error), a header NumPy cannot parse
        # (tokenize.TokenError, SyntaxError), missing data (EOFError).
        raise ValueError(
            f"{path}: {name} is damaged and cannot be read ({error})"
        ) from error
    if not isinstance(array, np.ndarray):
        # NpzFile returns the raw bytes of a member that is not a .npy.
        raise ValueError(
            f"{path}: {name} is not a NumPy array (its {name}.npy in the "
            "archive is not a .npy file)"
        )
    return array


def _file_classes(path: Path, classes: np.ndarray) -> np.ndarray:
    """``latents_classes`` of a file, checked column by column, as int64."""
    # Signed or unsigned integers, or floats (checked to be whole below).
    if classes.dtype.kind not in "iuf":
        raise ValueError(
            f"{path}: latents_classes must hold class indices (integers), "
            f"got dtype {classes.dtype}"
        )
    floating = classes.dtype.kind == "f"
    for k, (name, size) in enumerate(
        zip(FACTOR_NAMES, FACTOR_SIZES, strict=True)
    ):
        column = classes[:, k]
        bad = (column < 0) | (column >= size)
        if floating:
            # Whole numbers survive a re-save through floats; NaN or a
            # fraction is no class.
            bad |= ~np.isfinite(column) | (column != np.round(column))
        if bad.any():
            raise ValueError(
                f"{path}: latents_classes column {k} (factor {name}) must "
                f"hold the class indices 0 to {size - 1}, found "
                f"{column[bad][0]}"
            )
    return classes.astype(np.int64)


def _first_other_than(images: np.ndarray, white: int) -> object | None:
    """The first pixel that is neither 0 nor ``white``, or None."""
    for start in range(0, len(images), _SCAN_BLOCK):
        block = images[start : start + _SCAN_BLOCK]
        other = (block != 0) & (block != white)
        if other.any():
            return block[other][0]
    return None


def _binary_images(path: Path, images: np.ndarray) -> np.ndarray:
    """A file's images as uint8 0 and 1 (0 and 255 read as 0 and 1)."""
    # Booleans, signed or unsigned integers, or floats.
    if images.dtype.kind not in "biuf":
        raise ValueError(
            f"{path}: imgs must hold pixel values (numbers), got dtype "
            f"{images.dtype}"
        )
    bad = _first_other_than(images, 1)
    if bad is None:
        return images.astype(np.uint8, copy=False)
    if _first_other_than(images, 255) is None:
        # Binary images re-saved as 8-bit grey levels (by PIL, OpenCV or
        # an image viewer) store white as 255: it is dSprites' 1.
        return (images != 0).view(np.uint8)
    raise ValueError(
        f"{path}: imgs must be binary images, every pixel 0 or 1 (or "
        f"every pixel 0 or 255, read as 0 and 1), found {bad}"
    )


class DSpritesFile:
    """DeepMind's dSprites file, with the interface of :class:`DrawnSprites`.

    The file is read and checked once, when the object is made: images of
    64 x 64 pixels, one row of 6 class indices per image, each on dSprites'
    grid. Images are returned as uint8 0 and 1, as dSprites stores them; a
    file re-saved with white as 255 (8-bit grey levels) is read as 0 and 1
    too, since a user expects the same images either way. Nothing in the
    file is unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (arrays
        ``imgs``, ``latents_values``, ``latents_classes``). Not shipped:
        for readers who have it.

    Raises
    ------
    TypeError
        If ``path`` is not a str or path.
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not an .npz archive (a text file, a .npy file), is
        damaged, lacks ``imgs`` or ``latents_classes``, holds an array of
        Python objects, or its arrays are not dSprites': ``imgs`` not
        ``(N, 64, 64)``, empty, or not binary; ``latents_classes`` not
        ``(N, 6)``, or a class off the grid (the message names the column,
        its factor and the range); a number of images and of class rows
        that differ. Each message names the file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        check_instance("path", path, (str, os.PathLike))
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no dSprites file at {path}")
        images, classes = _read_npz(path)
        check_shape(f"{path}: imgs", images, (None, FULL_SIZE, FULL_SIZE))
        if len(images) == 0:
            raise ValueError(f"{path}: imgs holds no image")
        check_shape(
            f"{path}: latents_classes",
            classes,
            (None, len(FACTOR_SIZES)),
            "(N, 6), one column per factor (" + ", ".join(FACTOR_NAMES) + ")",
        )
        if len(classes) != len(images):
            raise ValueError(
                f"{path}: imgs holds {len(images)} images but "
                f"latents_classes holds {len(classes)} rows; there must be "
                "one row of classes per image"
            )
        self._classes = _file_classes(path, classes)
        self._images = _binary_images(path, images)

    def __len__(self) -> int:
        return len(self._images)

    def factor_classes(self, indices: object) -> np.ndarray:
        """Factor indices of the images, ``(N, 6)`` (from the file)."""
        return self._classes[_as_indices(indices, len(self))]

    def factor_values(self, indices: object) -> np.ndarray:
        """Factor values on the grid, ``(N, 6)``."""
        return factor_values(self.factor_classes(indices))

    def images(self, indices: object) -> np.ndarray:
        """The images, ``(N, 64, 64)`` uint8 of 0 and 1."""
        return self._images[_as_indices(indices, len(self))]
