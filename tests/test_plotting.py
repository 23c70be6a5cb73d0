"""Tests of vaecourse.plotting: each figure shows the data it is given.

Checked on the figure's artists.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.stats import norm  # noqa: E402

from vaecourse.models import VAE, Autoencoder  # noqa: E402
from vaecourse.plotting import (  # noqa: E402
    COLUMN_WIDTH_PX,
    MIN_FONT_PT,
    STYLE,
    Table,
    figure_problems,
    image_grid,
    latent_manifold,
    latent_scatter,
    latent_sliders,
    latent_traversal,
    loss_curves,
    make_grid,
    manifold_coordinates,
    prior_samples,
    reconstruction_grid,
    use_course_style,
)
from vaecourse.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def shown_image(fig: Figure) -> np.ndarray:
    (ax,) = fig.axes
    (image,) = ax.get_images()
    return np.asarray(image.get_array())


def small_vae(latent_dim=2, seed=0):
    torch.manual_seed(seed)
    return VAE(input_dim=12, hidden_dim=8, latent_dim=latent_dim)


# --- grids of images ---------------------------------------------------------


def test_make_grid_places_image_i_at_row_i_div_nrow_column_i_mod_nrow():
    images = (
        torch.arange(5 * 6, dtype=torch.float32).reshape(5, 6) / 30
    )  # 5 images of 2 x 3
    grid = make_grid(images, (2, 3), nrow=2, padding=1, pad_value=-1.0)
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1)
    for i in range(5):
        top, left = 1 + (i // 2) * 3, 1 + (i % 2) * 4
        np.testing.assert_array_equal(
            grid[top : top + 2, left : left + 3],
            images[i].reshape(2, 3).double().numpy(),
        )
    # the empty sixth cell and the separators are padding
    assert (grid[7:9, 5:8] == -1).all()
    assert (grid[0] == -1).all() and (grid[:, 4] == -1).all()
    np.testing.assert_array_equal(
        make_grid(images.reshape(5, 2, 3), (2, 3), 2, pad_value=-1.0), grid
    )


def test_image_grid_shows_the_grid_in_grey_from_0_to_1():
    images = torch.rand(7, 16, generator=torch.Generator().manual_seed(0))
    fig = image_grid(images, (4, 4), nrow=3, title="seven")
    np.testing.assert_array_equal(
        shown_image(fig), make_grid(images, (4, 4), 3)
    )
    (image,) = fig.axes[0].get_images()
    assert image.get_clim() == (0.0, 1.0)
    assert image.get_cmap().name == "gray"
    assert fig.axes[0].get_title() == "seven"


def test_reconstruction_grid_puts_data_above_reconstructions():
    data = np.random.default_rng(0).random((10, 9))
    recon = np.random.default_rng(1).random((10, 9))
    fig = reconstruction_grid(data, recon[:4], (3, 3), n=4)
    np.testing.assert_array_equal(
        shown_image(fig),
        make_grid(np.concatenate([data[:4], recon[:4]]), (3, 3), 4),
    )
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        "data",
        "reconstruction",
    ]


def test_prior_samples_decode_standard_normal_draws():
    model = small_vae(latent_dim=3)
    fig = prior_samples(model, 6, (3, 4), torch.Generator().manual_seed(1))
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(z))
    np.testing.assert_allclose(
        shown_image(fig), make_grid(expected, (3, 4), 3), rtol=1e-6
    )
    # an autoencoder's latent space can be sampled the same way (to show
    # it is not generative)
    torch.manual_seed(0)
    assert isinstance(prior_samples(Autoencoder(12, 8, 2), 4, (3, 4)), Figure)


# --- latent spaces -----------------------------------------------------------


def test_latent_scatter_plots_the_codes_coloured_by_label():
    rng = np.random.default_rng(2)
    mu = torch.from_numpy(rng.normal(size=(50, 2)))
    labels = torch.from_numpy(rng.integers(0, 10, size=50))
    fig = latent_scatter(mu, labels, title="codes")
    ax = fig.axes[0]
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), mu.numpy())
    np.testing.assert_array_equal(points.get_array(), labels.numpy())
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$"
    assert len(fig.axes) == 2  # the scatter and its colour bar


def test_manifold_coordinates_are_the_inverse_normal_cdf_of_a_grid():
    for n in (1, 4, 15):
        expected = norm.ppf((np.arange(n) + 0.5) / n)
        np.testing.assert_allclose(
            manifold_coordinates(n).numpy(), expected, rtol=1e-12, atol=1e-12
        )
    coords = manifold_coordinates(15).numpy()
    assert np.isfinite(coords).all() and (np.diff(coords) > 0).all()
    np.testing.assert_allclose(
        coords, -coords[::-1], atol=1e-12
    )  # symmetric about 0


def test_latent_manifold_decodes_the_ppf_grid_with_z2_increasing_upwards():
    model = small_vae()
    n = 4
    fig = latent_manifold(model, (3, 4), n=n)
    c = norm.ppf((np.arange(n) + 0.5) / n)
    z = torch.tensor(
        [[c[j], c[n - 1 - i]] for i in range(n) for j in range(n)],
        dtype=torch.float32,
    )
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(z))
    np.testing.assert_allclose(
        shown_image(fig), make_grid(expected, (3, 4), n), rtol=1e-5, atol=1e-6
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        f"{v:.1f}" for v in c
    ]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        f"{v:.1f}" for v in c[::-1]
    ]


def test_latent_manifold_of_a_larger_latent_space_fixes_the_others_at_0():
    model = small_vae(latent_dim=4)
    fig = latent_manifold(model, (3, 4), n=2, dims=(3, 1))
    c = norm.ppf([0.25, 0.75])
    z = torch.zeros(4, 4)
    for i in range(2):
        for j in range(2):
            z[2 * i + j, 3], z[2 * i + j, 1] = c[j], c[1 - i]
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(z))
    np.testing.assert_allclose(
        shown_image(fig), make_grid(expected, (3, 4), 2), rtol=1e-5, atol=1e-6
    )
    assert (
        fig.axes[0].get_xlabel() == "$z_{4}$"
        and fig.axes[0].get_ylabel() == "$z_{2}$"
    )


def test_latent_traversal_changes_one_coordinate_per_row():
    model = small_vae(latent_dim=3)
    z = torch.tensor([0.5, -1.0, 2.0])
    values = [-2.0, 0.0, 2.0]
    fig = latent_traversal(
        model, z, dims=[2, 0], values=values, image_shape=(3, 4)
    )
    codes = torch.tensor(
        [
            [0.5, -1.0, -2.0],
            [0.5, -1.0, 0.0],
            [0.5, -1.0, 2.0],
            [-2.0, -1.0, 2.0],
            [0.0, -1.0, 2.0],
            [2.0, -1.0, 2.0],
        ]
    )
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(codes))
    np.testing.assert_allclose(
        shown_image(fig), make_grid(expected, (3, 4), 3), rtol=1e-5, atol=1e-6
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "$z_{3}$",
        "$z_{1}$",
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "-2.0",
        "0.0",
        "2.0",
    ]


def test_latent_traversal_draws_into_given_axes_side_by_side():
    fig, axes = plt.subplots(1, 2)
    for ax, latent_dim in zip(axes, (2, 3), strict=True):
        model = small_vae(latent_dim=latent_dim)
        returned = latent_traversal(
            model, torch.zeros(latent_dim), [1], [0.0, 1.0], (3, 4), ax=ax
        )
        assert returned is fig
        with torch.no_grad():
            codes = torch.zeros(2, latent_dim)
            codes[1, 1] = 1.0
            expected = torch.sigmoid(model.decode(codes))
        np.testing.assert_allclose(
            ax.images[0].get_array(),
            make_grid(expected, (3, 4), 2),
            rtol=1e-5,
            atol=1e-6,
        )
    assert len(fig.axes) == 2
    plt.close(fig)


# --- loss curves -------------------------------------------------------------


def test_loss_curves_of_a_vae_show_each_term_for_train_and_test():
    history = vae_history()
    fig = loss_curves(history)
    assert [ax.get_title() for ax in fig.axes] == [
        "loss (negative ELBO)",
        "reconstruction term",
        "KL term",
    ]
    for ax, term in zip(
        fig.axes, ["loss", "reconstruction", "kl"], strict=True
    ):
        train, test = ax.get_lines()
        assert train.get_label() == "train" and test.get_label() == "test"
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(
            train.get_ydata(), getattr(history, f"train_{term}")
        )
        np.testing.assert_array_equal(
            test.get_ydata(), getattr(history, f"test_{term}")
        )
    assert [ax.get_ylabel() for ax in fig.axes] == ["nats per example", "", ""]


def test_loss_curves_of_an_autoencoder_without_test_data_have_one_line():
    fig = loss_curves(
        History(train_loss=[5.0, 4.0], train_reconstruction=[5.0, 4.0])
    )
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert ax.get_title() == "reconstruction loss"
    np.testing.assert_array_equal(line.get_ydata(), [5.0, 4.0])


# --- the figure rule -------------------------------------------------------


# Every setting of Matplotlib that sizes text.
TEXT_SIZES = [
    "font.size",
    "axes.titlesize",
    "axes.labelsize",
    "xtick.labelsize",
    "ytick.labelsize",
    "legend.fontsize",
    "legend.title_fontsize",
    "figure.titlesize",
    "figure.labelsize",
]


def test_the_course_style_sets_every_text_size_to_at_least_9_pt():
    with plt.rc_context():
        use_course_style()
        for key, value in STYLE.items():
            assert plt.rcParams[key] == (
                list(value) if isinstance(value, tuple) else value
            ), key
        sizes = {
            key: matplotlib.font_manager.FontProperties(
                size=plt.rcParams[key]
            ).get_size_in_points()
            for key in TEXT_SIZES
        }
        assert min(sizes.values()) >= MIN_FONT_PT, sizes


def test_figure_problems_finds_a_figure_too_wide_and_text_too_small():
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
        ax.plot([0, 1], label="line")
        ax.legend()
        assert figure_problems(fig) == []
        ax.set_title("small", fontsize=8)
        assert figure_problems(fig) == ["text 'small' at 8 pt, below 9 pt"]
        fig.set_size_inches(9.0, 3.0)  # cropped to about 7.6 in
        (wide, small) = figure_problems(fig)
        assert wide.endswith(f"wider than the {COLUMN_WIDTH_PX} px column")
        # the tick labels of matplotlib's own default (10 pt) pass; its
        # "small" legend (8.33 pt) does not
    with plt.rc_context({"legend.fontsize": "small"}):
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
        ax.plot([0, 1], label="line")
        ax.legend()
        assert figure_problems(fig) == ["text 'line' at 8.33 pt, below 9 pt"]


def vae_history() -> History:
    return History(
        train_loss=[3.0, 2.0, 1.5],
        test_loss=[3.5, 2.5, 2.0],
        train_reconstruction=[2.0, 1.0, 0.5],
        test_reconstruction=[2.5, 1.5, 1.0],
        train_kl=[1.0, 1.0, 1.0],
        test_kl=[1.0, 1.0, 1.0],
    )


# Every figure of the module at the largest sizes the chapters use.
RULE_FIGURES = {
    "image_grid, 16 a row": lambda: image_grid(
        torch.rand(64, 784), (28, 28), nrow=16, title="samples"
    ),
    "reconstruction_grid, 12": lambda: reconstruction_grid(
        torch.rand(12, 784), torch.rand(12, 784), (28, 28), n=12
    ),
    "prior_samples": lambda: prior_samples(small_vae(), 40, (3, 4)),
    "latent_scatter": lambda: latent_scatter(
        torch.randn(500, 2) * 3, torch.arange(500) % 10, title="codes"
    ),
    "latent_manifold, 20": lambda: latent_manifold(small_vae(), (3, 4), n=20),
    "latent_traversal, 11": lambda: latent_traversal(
        small_vae(latent_dim=3),
        torch.zeros(3),
        [0, 1, 2],
        torch.linspace(-2.5, 2.5, 11),
        (3, 4),
    ),
    "loss_curves": lambda: loss_curves(vae_history(), title="a VAE"),
}


@pytest.mark.parametrize("make", RULE_FIGURES.values(), ids=RULE_FIGURES)
def test_every_figure_of_the_module_follows_the_figure_rule(make):
    with plt.rc_context(STYLE):
        assert figure_problems(make()) == []


def test_latent_manifold_labels_every_second_point_of_a_fine_grid():
    fig = latent_manifold(small_vae(), (3, 4), n=20)
    shown = [
        t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_visible()
    ]
    coords = manifold_coordinates(20).tolist()
    assert len(shown) == 10 and "-0.1" in shown  # the middle one is kept
    assert shown == [f"{c:.1f}" for c in coords[1::2]]


# --- tables ----------------------------------------------------------------


def test_a_table_renders_as_markdown_and_prints_aligned():
    table = Table(
        ["model", "$\\beta$", "KL"],
        [["VAE", 1, 8.412], ["beta-VAE", 16, 2.8]],
        formats=["", "d", ".1f"],
    )
    assert table._repr_markdown_() == (
        "| model    | $\\beta$ |  KL |\n"
        "| -------- | ------: | --: |\n"
        "| VAE      |       1 | 8.4 |\n"
        "| beta-VAE |      16 | 2.8 |"
    )
    assert (
        repr(table)
        == str(table)
        == (
            "model    | $\\beta$ |  KL\n"
            "-------- | ------- | ---\n"
            "VAE      |       1 | 8.4\n"
            "beta-VAE |      16 | 2.8"
        )
    )


def test_a_table_escapes_bars_and_keeps_a_dash_in_narrow_rules():
    table = Table(["d", "step"], [[1, "|I| = 1"]])
    assert table._repr_markdown_() == (
        "|  d | step      |\n| -: | --------- |\n|  1 | \\|I\\| = 1 |"
    )
    assert str(table) == "d | step\n- | -------\n1 | |I| = 1"


def test_a_table_writes_a_0d_tensor_as_a_number():
    table = Table(
        ["loss"], [[torch.tensor(1.25, dtype=torch.float64)]], [".1f"]
    )
    assert str(table) == "loss\n----\n 1.2"
    assert table.numeric == [True]


def test_a_table_refuses_rows_and_formats_of_the_wrong_length():
    with pytest.raises(ValueError, match="row 1 has 1 cells for 2 columns"):
        Table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="formats has 1 entries for 2"):
        Table(["a", "b"], [[1, 2]], formats=[".1f"])


def test_no_function_shows_its_figure(monkeypatch):
    # A figure shown inside a function would appear twice in a notebook.
    def refuse():
        raise AssertionError("plt.show() called")

    monkeypatch.setattr(plt, "show", refuse)
    model = small_vae()
    figures = [
        image_grid(torch.rand(4, 12), (3, 4)),
        reconstruction_grid(torch.rand(4, 12), torch.rand(4, 12), (3, 4), n=2),
        prior_samples(model, 4, (3, 4)),
        latent_scatter(torch.rand(5, 2), torch.arange(5)),
        latent_manifold(model, (3, 4), n=3),
        latent_traversal(model, torch.zeros(2), [0], [1.0], (3, 4)),
        loss_curves(History(train_loss=[1.0], train_reconstruction=[1.0])),
    ]
    assert all(isinstance(fig, Figure) for fig in figures)


# --- bad inputs --------------------------------------------------------------

BAD_INPUTS = [
    (
        lambda: image_grid(torch.rand(4, 10), (3, 3)),
        ValueError,
        r"images must have shape \(N, 9\) or \(N, 3, 3\) for image_shape "
        r"\(3, 3\), got \(4, 10\)",
    ),
    (
        lambda: image_grid([[0.0]], (1, 1)),
        TypeError,
        "images must be a torch.Tensor or numpy.ndarray",
    ),
    (
        lambda: image_grid(torch.rand(4, 9), (3, 0)),
        ValueError,
        "image_shape width must be at least 1, got 0",
    ),
    (
        lambda: image_grid(torch.rand(4, 9), (3.0, 3)),
        TypeError,
        "image_shape height must be an integer, got float 3.0",
    ),
    (
        lambda: image_grid(torch.rand(4, 9), "3x3"),
        TypeError,
        r"image_shape must be a pair \(height, width\), got str",
    ),
    (
        lambda: image_grid(torch.rand(4, 9), (3, 3, 1)),
        ValueError,
        r"image_shape must be a pair \(height, width\), got 3 values",
    ),
    (
        lambda: image_grid(torch.full((1, 4), float("nan")), (2, 2)),
        ValueError,
        "images contains NaN",
    ),
    (
        lambda: make_grid(torch.rand(4, 9), (3, 3), nrow=0),
        ValueError,
        "nrow must be at least 1, got 0",
    ),
    (
        lambda: make_grid(torch.rand(4, 9), (3, 3), nrow=2.0),
        TypeError,
        "nrow must be an integer, got float 2.0",
    ),
    (
        lambda: make_grid(torch.rand(4, 9), (3, 3), nrow=2, padding=-1),
        ValueError,
        "padding must be at least 0, got -1",
    ),
    (
        lambda: reconstruction_grid(
            torch.rand(4, 9), torch.rand(3, 9), (3, 3), n=4
        ),
        ValueError,
        "n must be at most the number of images, got n=4 for 4 originals "
        "and 3 reconstructions",
    ),
    (
        lambda: latent_scatter(torch.rand(5, 3), torch.zeros(5)),
        ValueError,
        r"mu_2d must have shape \(N, 2\)",
    ),
    (
        lambda: latent_scatter(torch.rand(5, 2), torch.zeros(4)),
        ValueError,
        r"labels must have shape \(5,\)",
    ),
    (
        lambda: manifold_coordinates(0),
        ValueError,
        "n must be at least 1, got 0",
    ),
    (
        lambda: manifold_coordinates(15.0),
        TypeError,
        "n must be an integer, got float 15.0",
    ),
    (
        lambda: latent_manifold(small_vae(latent_dim=1), (3, 4)),
        ValueError,
        "latent_dim >= 2, got 1",
    ),
    (
        lambda: latent_manifold(small_vae(), (3, 4), dims=(0, 0)),
        ValueError,
        r"dims must be two different latent coordinates in \[0, 2\), "
        r"got \(0, 0\)",
    ),
    (
        lambda: latent_manifold(small_vae(), (3, 4), dims=(0, 0.5)),
        TypeError,
        "dims must be an integer, got float 0.5",
    ),
    (
        lambda: latent_traversal(
            small_vae(), torch.zeros(3), [0], [0.0], (3, 4)
        ),
        ValueError,
        r"z must have shape \(2,\) or \(1, 2\), got \(3,\)",
    ),
    (
        lambda: latent_traversal(
            small_vae(), torch.zeros(2), [2], [0.0], (3, 4)
        ),
        ValueError,
        r"dims must be a non-empty list of latent coordinates in "
        r"\[0, 2\), got \[2\]",
    ),
    (
        lambda: latent_traversal(
            small_vae(), torch.zeros(2), [1.0], [0.0], (3, 4)
        ),
        TypeError,
        "dims must be an integer, got float 1.0",
    ),
    (
        lambda: latent_traversal(small_vae(), torch.zeros(2), [0], [], (3, 4)),
        ValueError,
        "values must not be empty",
    ),
    (
        lambda: prior_samples(torch.nn.Linear(2, 2), 4, (1, 2)),
        TypeError,
        "model must be one of the vaecourse.models",
    ),
    (
        lambda: prior_samples(small_vae(), 4, (3, 4), generator=0),
        TypeError,
        r"generator must be a torch.Generator or None, got int 0; "
        r"for a seed s, "
        r"pass torch.Generator\(\).manual_seed\(s\)",
    ),
    (
        lambda: prior_samples(small_vae(), 4, (3, 4), nrow=0),
        ValueError,
        "nrow must be at least 1, got 0",
    ),
    (
        lambda: loss_curves({"train_loss": [1.0]}),
        TypeError,
        "history must be a vaecourse.loop.History",
    ),
    (lambda: loss_curves(History()), ValueError, "history is empty"),
]


@pytest.mark.parametrize(
    "call, error, message",
    BAD_INPUTS,
    ids=[message for _, _, message in BAD_INPUTS],
)
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_self_check_rejects_a_grid_that_includes_0_and_1():
    from vaecourse import selfcheck

    assert selfcheck.check("manifold_coordinates", manifold_coordinates).ok
    with np.errstate(divide="ignore"):
        report = selfcheck.check(
            "manifold_coordinates",
            lambda n: torch.from_numpy(norm.ppf(np.linspace(0, 1, n))),
        )
    assert not report.ok and "avoid 0 and 1" in str(report)


# --- the latent explorer as sliders -----------------------------------------


def test_latent_sliders_show_the_decoders_image_of_their_code():
    import io

    from PIL import Image

    from vaecourse import pretrained

    model = pretrained.load("mnist_vae_m2")
    explorer = latent_sliders(model, (28, 28), scale=6)
    first = explorer.image.value
    explorer.sliders[0].value = 1.2
    explorer.sliders[1].value = -0.7
    assert explorer.image.value != first
    shown = np.array(Image.open(io.BytesIO(explorer.image.value)))
    assert shown.shape == (168, 168)
    with torch.no_grad():
        mean = model.decode_mean(torch.tensor([[1.2, -0.7]]))[0]
    expected = torch.round(255 * mean).reshape(28, 28).int().numpy()
    # every 6 x 6 square is one pixel of the decoder's image
    assert np.array_equal(shown[::6, ::6].astype(int), expected)
    assert np.array_equal(shown[5::6, 5::6].astype(int), expected)


def test_latent_sliders_traverse_the_units_chosen_of_a_larger_code():
    import io

    from PIL import Image

    model = VAE(latent_dim=5).eval()
    explorer = latent_sliders(model, (28, 28), units=[3, 1], scale=2)
    assert [s.description for s in explorer.sliders] == ["z4", "z2"]
    explorer.sliders[0].value = 2.0
    explorer.sliders[1].value = -1.0
    shown = np.array(Image.open(io.BytesIO(explorer.image.value)))
    z = torch.tensor([[0.0, -1.0, 0.0, 2.0, 0.0]])
    with torch.no_grad():
        expected = torch.round(255 * model.decode_mean(z)[0]).reshape(28, 28)
    assert np.array_equal(shown[::2, ::2].astype(int), expected.int().numpy())


@pytest.mark.parametrize(
    "units, message",
    [
        (None, "needs the units to show for a model with latent_dim 20"),
        ([20], "units must be latent units in [0, 20), got [20]"),
        ([], "units must be latent units"),
    ],
)
def test_latent_sliders_name_bad_units(units, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        latent_sliders(VAE(latent_dim=20), (28, 28), units=units)
