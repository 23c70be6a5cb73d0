r"""Figures of the course: image grids, latent spaces, loss curves.

Every function returns a :class:`matplotlib.figure.Figure` built with the
object-oriented API and never calls ``plt.show()``: in a notebook, end the
cell with the figure (or ``plt.show()``) to display it once, and
``plt.close(fig)`` a figure you do not show.

Images are given flat, shape ``(N, H * W)`` (or ``(N, H, W)``), with values in
[0, 1], and drawn in grey (0 black, 1 white). A grid of images is one picture,
built by :func:`make_grid`, so tests can compare it with the images it shows.

**The figure rule.** The book's figures are set in one place,
:data:`STYLE`, which :func:`use_course_style` applies (every chapter calls
it in its imports): PNGs at twice the resolution at which they are shown,
shown at their own size (no wider than the text column, so the browser
never scales them down) and no text below 9 pt there. A figure inch is a
CSS inch (96 px), so a point of text in the figure is a point on the
reader's screen. :func:`figure_problems` lists what breaks the rule; the
tests run it on every figure of this module, and the book's tests check
the stored PNGs and the chapters' font sizes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from vaecourse._validation import check_generator, check_int, check_real
from vaecourse.train import History

__all__ = [
    "COLUMN_WIDTH_PX",
    "SCREEN_DPI",
    "MIN_FONT_PT",
    "MAX_FIGURE_WIDTH_IN",
    "STYLE",
    "use_course_style",
    "figure_problems",
    "Table",
    "make_grid",
    "image_grid",
    "reconstruction_grid",
    "prior_samples",
    "latent_scatter",
    "manifold_coordinates",
    "latent_manifold",
    "latent_traversal",
    "latent_sliders",
    "loss_curves",
]

_PAD_VALUE = 0.5  # grey lines between black-background digits

#: Width of the book's text column at a 1280 px screen, in CSS pixels
#: (``book/css/course.css``). A figure no wider is shown at its own size.
COLUMN_WIDTH_PX = 688
#: The CSS pixels in an inch. A figure drawn at this dpi and shown at its
#: own size has its points of text at the reader's points.
SCREEN_DPI = 96
#: The smallest text a figure may have, in points at the size shown.
MIN_FONT_PT = 9.0
#: The widest figure, in inches (its tight bounding box must fit too).
MAX_FIGURE_WIDTH_IN = COLUMN_WIDTH_PX / SCREEN_DPI

#: The course's Matplotlib settings, applied by :func:`use_course_style`.
#: Sizes are absolute, so that no text falls below :data:`MIN_FONT_PT`.
STYLE: dict[str, object] = {
    "figure.dpi": SCREEN_DPI,
    "savefig.dpi": "figure",
    "figure.figsize": (6.4, 3.6),
    "font.size": 10.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 10.0,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "legend.title_fontsize": 9.0,
    "figure.titlesize": 11.0,
    "figure.labelsize": 10.0,
}


def use_course_style() -> None:
    """Set the book's figure style: :data:`STYLE`, and PNGs at twice the
    resolution in a notebook (IPython's "retina" format, which stores the
    size to show beside the image).

    Call it once, after importing Matplotlib; outside IPython only the
    Matplotlib settings change.
    """
    plt.rcParams.update(STYLE)
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # no IPython: nothing displays inline
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def figure_problems(fig: Figure) -> list[str]:
    """What in a figure breaks the figure rule (see the module's docstring).

    The figure is drawn as IPython draws it inline (at its own dpi, with a
    tight bounding box); its width must be at most
    :data:`COLUMN_WIDTH_PX`, and each visible, non-empty text at least
    :data:`MIN_FONT_PT`.

    Returns
    -------
    list of str
        One line per problem; empty when the figure follows the rule.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=SCREEN_DPI, bbox_inches="tight")
    width = int.from_bytes(buffer.getvalue()[16:20], "big")  # PNG IHDR
    problems = []
    if width > COLUMN_WIDTH_PX:
        problems.append(
            f"{width} px wide, wider than the {COLUMN_WIDTH_PX} px column"
        )
    for text in fig.findobj(Text):
        if not (text.get_visible() and text.get_text().strip()):
            continue
        if text.get_fontsize() < MIN_FONT_PT:
            problems.append(
                f"text {text.get_text()!r} at {text.get_fontsize():g} pt, "
                f"below {MIN_FONT_PT:g} pt"
            )
    return problems


def _to_numpy(name: str, values: object) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    raise TypeError(
        f"{name} must be a torch.Tensor or numpy.ndarray, "
        f"got {type(values).__name__}"
    )


def _check_image_shape(image_shape: object) -> tuple[int, int]:
    if not isinstance(image_shape, (tuple, list)):
        raise TypeError(
            "image_shape must be a pair (height, width), "
            f"got {type(image_shape).__name__}"
        )
    if len(image_shape) != 2:
        raise ValueError(
            "image_shape must be a pair (height, width), "
            f"got {len(image_shape)} values: {image_shape!r}"
        )
    height = check_int("image_shape height", image_shape[0], minimum=1)
    width = check_int("image_shape width", image_shape[1], minimum=1)
    return height, width


def _as_images(
    name: str, images: object, image_shape: tuple[int, int]
) -> np.ndarray:
    array = _to_numpy(name, images)
    height, width = _check_image_shape(image_shape)
    if array.ndim < 2 or math.prod(array.shape[1:]) != height * width:
        raise ValueError(
            f"{name} must have shape (N, {height * width}) or "
            f"(N, {height}, {width}) "
            f"for image_shape {(height, width)}, got {tuple(array.shape)}"
        )
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN")
    return array.reshape(len(array), height, width)


def make_grid(
    images: torch.Tensor | np.ndarray,
    image_shape: tuple[int, int],
    nrow: int,
    padding: int = 1,
    pad_value: float = _PAD_VALUE,
) -> np.ndarray:
    """Tile images into one array, ``nrow`` images per row, row by row.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        Shape ``(N, H * W)`` or ``(N, H, W)``.
    image_shape : tuple of int
        ``(H, W)``.
    nrow : int
        Images per row of the grid (columns); the last row is padded.
    padding : int, default 1
        Pixels between images and around the grid.
    pad_value : float, default 0.5
        Value of the padding pixels.

    Returns
    -------
    numpy.ndarray
        Shape ``(rows * (H + padding) + padding,
        nrow * (W + padding) + padding)``
        with ``rows = ceil(N / nrow)``; image ``i`` sits in row ``i // nrow``,
        column ``i % nrow``.
    """
    array = _as_images("images", images, image_shape)
    nrow = check_int("nrow", nrow, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    height, width = array.shape[1:]
    rows = math.ceil(len(array) / nrow)
    grid = np.full(
        (
            rows * (height + padding) + padding,
            nrow * (width + padding) + padding,
        ),
        pad_value,
        dtype=np.float64,
    )
    for i, image in enumerate(array):
        top = padding + (i // nrow) * (height + padding)
        left = padding + (i % nrow) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def _tick_label(value: float) -> str:
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _grid_figsize(
    grid: np.ndarray, columns: int, margin: tuple[float, float]
) -> tuple[float, float]:
    """Figure size for a grid of images: 0.6 in per image, narrowed to the
    column, plus ``margin`` (width, height) inches for the labels."""
    width = min(0.6 * columns, MAX_FIGURE_WIDTH_IN - margin[0])
    return width + margin[0], width * grid.shape[0] / grid.shape[1] + margin[1]


def _show_grid(ax, grid: np.ndarray) -> None:
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(
    images: torch.Tensor | np.ndarray,
    image_shape: tuple[int, int],
    nrow: int = 8,
    title: str | None = None,
) -> Figure:
    """Show images in a grid of ``nrow`` columns (see :func:`make_grid`).

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one image, the grid.
    """
    grid = make_grid(images, image_shape, nrow)
    fig, ax = plt.subplots(figsize=_grid_figsize(grid, nrow, (0.4, 0.6)))
    _show_grid(ax, grid)
    if title is not None:
        ax.set_title(title)
    return fig


def reconstruction_grid(
    originals: torch.Tensor | np.ndarray,
    reconstructions: torch.Tensor | np.ndarray,
    image_shape: tuple[int, int],
    n: int = 8,
) -> Figure:
    """The first ``n`` originals above their ``n`` reconstructions.

    Originals in the top row, reconstructions in the bottom row.

    Returns
    -------
    matplotlib.figure.Figure
        One axes showing ``make_grid`` of the two rows, labelled "data" and
        "reconstruction".
    """
    n = check_int("n", n, minimum=1)
    data = _as_images("originals", originals, image_shape)
    recon = _as_images("reconstructions", reconstructions, image_shape)
    if min(len(data), len(recon)) < n:
        raise ValueError(
            f"n must be at most the number of images, got n={n} for "
            f"{len(data)} originals "
            f"and {len(recon)} reconstructions"
        )
    grid = make_grid(np.concatenate([data[:n], recon[:n]]), image_shape, n)
    fig, ax = plt.subplots(figsize=_grid_figsize(grid, n, (1.4, 0.4)))
    _show_grid(ax, grid)
    height = image_shape[0]
    ax.set_yticks(
        [1 + height / 2, 2 + 1.5 * height], ["data", "reconstruction"]
    )
    ax.tick_params(axis="y", length=0)
    return fig


def _decode_mean(model: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    if not hasattr(model, "decode_mean") or not hasattr(model, "latent_dim"):
        raise TypeError(
            "model must be one of the vaecourse.models (with decode_mean "
            "and latent_dim), "
            f"got {type(model).__name__}"
        )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        images = model.decode_mean(
            z.to(device=device, dtype=next(model.parameters()).dtype)
        )
    model.train(was_training)
    return images.cpu()


def prior_samples(
    model: torch.nn.Module,
    n: int,
    image_shape: tuple[int, int],
    generator: torch.Generator | None = None,
    nrow: int | None = None,
) -> Figure:
    r"""Decode ``n`` draws of :math:`\mathcal N(0, I)` and show them in a grid.

    For a VAE these are samples of the model (the means of
    :math:`p(x \mid z)`); for an autoencoder, whose codes do not follow
    :math:`\mathcal N(0, I)`, they
    show why its latent space is not generative.

    Parameters
    ----------
    model : torch.nn.Module
        A model of :mod:`vaecourse.models`.
    n : int
        Number of samples.
    image_shape : tuple of int
        ``(H, W)``.
    generator : torch.Generator, optional
        Source of the draws.
    nrow : int, optional
        Images per row; default :math:`\lceil\sqrt n\rceil`.
    """
    n = check_int("n", n, minimum=1)
    generator = check_generator(generator)
    z = torch.randn(n, getattr(model, "latent_dim", 1), generator=generator)
    images = _decode_mean(model, z)
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    return image_grid(images, image_shape, nrow)


def latent_scatter(
    mu_2d: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    title: str | None = None,
) -> Figure:
    """Scatter plot of 2-D latent codes, coloured by digit (or integer label).

    Parameters
    ----------
    mu_2d : torch.Tensor or numpy.ndarray
        Shape ``(N, 2)``: for a VAE, the posterior means :math:`\\mu(x)`.
    labels : torch.Tensor or numpy.ndarray
        Integer labels, shape ``(N,)``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one scatter (a PathCollection whose offsets are
        ``mu_2d`` and whose colour array is ``labels``) and a colour bar.
    """
    points = _to_numpy("mu_2d", mu_2d)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"mu_2d must have shape (N, 2), got {tuple(points.shape)}"
        )
    classes = _to_numpy("labels", labels)
    if classes.shape != (len(points),):
        raise ValueError(
            f"labels must have shape ({len(points)},), "
            f"got {tuple(classes.shape)}"
        )
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    low, high = int(classes.min()), int(classes.max())
    cmap = plt.get_cmap("tab10", high - low + 1)
    scatter = ax.scatter(
        points[:, 0],
        points[:, 1],
        c=classes,
        cmap=cmap,
        s=6,
        vmin=low - 0.5,
        vmax=high + 0.5,
    )
    fig.colorbar(scatter, ax=ax, ticks=range(low, high + 1), label="label")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal", adjustable="datalim")
    if title is not None:
        ax.set_title(title)
    return fig


def manifold_coordinates(n: int) -> torch.Tensor:
    r"""The coordinates of the latent manifold: :math:`\Phi^{-1}` of a grid.

    .. math::

        z^{(i)} = \Phi^{-1}\left(\frac{i + 1/2}{n}\right),
        \qquad i = 0, \dots, n - 1,

    where :math:`\Phi` is the standard normal CDF: equally spaced points of
    the unit interval, avoiding 0 and 1 (where :math:`\Phi^{-1}` is infinite),
    mapped to equal-probability points of :math:`\mathcal N(0, 1)`, as in
    Kingma and Welling's Fig. 4.

    Returns
    -------
    torch.Tensor
        Shape ``(n,)``, increasing, float64.
    """
    n = check_int("n", n, minimum=1)
    grid = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return torch.distributions.Normal(0.0, 1.0).icdf(grid)


def latent_manifold(
    model: torch.nn.Module,
    image_shape: tuple[int, int],
    n: int = 15,
    dims: tuple[int, int] = (0, 1),
) -> Figure:
    r"""The learned 2-D manifold: decode a grid of latent points.

    As in Kingma and Welling, Fig. 4.

    The grid is the product of :func:`manifold_coordinates`, so equal areas of
    the figure hold equal prior probability. Column :math:`j` has
    :math:`z_{d_1} = c_j`, row :math:`i` (from the top) has
    :math:`z_{d_2} = c_{n-1-i}` (so :math:`z_{d_2}` increases upwards); the
    other latent coordinates are 0.

    Parameters
    ----------
    model : torch.nn.Module
        A model of :mod:`vaecourse.models` with ``latent_dim >= 2``.
    image_shape : tuple of int
        ``(H, W)``.
    n : int, default 15
        Points per axis.
    dims : tuple of int, optional
        The two latent coordinates :math:`(d_1, d_2)` that vary; the first two
        by default.

    Returns
    -------
    matplotlib.figure.Figure
        One axes showing ``make_grid`` of the ``n * n`` decoded images, with
        tick labels giving the :math:`z` values.
    """
    n = check_int("n", n, minimum=1)
    latent_dim = getattr(model, "latent_dim", 0)
    if latent_dim < 2:
        raise ValueError(
            "latent_manifold needs a model with latent_dim >= 2, "
            f"got {latent_dim}"
        )
    if len(dims) != 2:
        raise ValueError(f"dims must be two latent coordinates, got {dims!r}")
    dims = tuple(check_int("dims", d, minimum=0) for d in dims)
    if dims[0] == dims[1] or max(dims) >= latent_dim:
        raise ValueError(
            "dims must be two different latent coordinates in "
            f"[0, {latent_dim}), got {dims!r}"
        )
    coords = manifold_coordinates(n)
    z = torch.zeros(n * n, latent_dim, dtype=torch.float64)
    rows, cols = torch.meshgrid(
        torch.arange(n), torch.arange(n), indexing="ij"
    )
    z[:, dims[0]] = coords[cols.flatten()]
    z[:, dims[1]] = coords[n - 1 - rows.flatten()]
    images = _decode_mean(model, z)
    height, width = _check_image_shape(image_shape)
    grid = make_grid(images, (height, width), n)
    fig, ax = plt.subplots(figsize=(6.4, 6.4))
    _show_grid(ax, grid)
    centres_x = [1 + j * (width + 1) + width / 2 for j in range(n)]
    centres_y = [1 + i * (height + 1) + height / 2 for i in range(n)]
    labels = [_tick_label(c) for c in coords.tolist()]
    ax.set_xticks(centres_x, labels)
    ax.set_yticks(centres_y, labels[::-1])
    # Beyond 15 labels a row they would touch: keep every second (third...).
    keep = math.ceil(n / 15)
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        for index, label in enumerate(ticks):
            label.set_visible(index % keep == (n - 1) // 2 % keep)
    ax.set_xlabel(f"$z_{{{dims[0] + 1}}}$")
    ax.set_ylabel(f"$z_{{{dims[1] + 1}}}$")
    return fig


def latent_traversal(
    model: torch.nn.Module,
    z: torch.Tensor,
    dims: Sequence[int],
    values: Sequence[float] | torch.Tensor,
    image_shape: tuple[int, int],
    ax: Axes | None = None,
) -> Figure:
    """Vary one latent coordinate at a time from a code ``z`` and decode.

    Row ``r`` sets coordinate ``dims[r]`` of ``z`` to each of ``values`` in
    turn (one column per value), keeping the others fixed.

    Parameters
    ----------
    model : torch.nn.Module
        A model of :mod:`vaecourse.models`.
    z : torch.Tensor
        The starting code, shape ``(latent_dim,)`` or ``(1, latent_dim)``.
    dims : list of int
        Latent coordinates to traverse, one row each.
    values : list of float or torch.Tensor
        Values given to the coordinate, one column each.
    image_shape : tuple of int
        ``(H, W)``.
    ax : matplotlib.axes.Axes, optional
        Where to draw (to put several models side by side); a new figure
        by default.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of the axes showing ``make_grid`` of
        ``len(dims) * len(values)`` images.
    """
    latent_dim = getattr(model, "latent_dim", None)
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
    code = z.detach().reshape(-1).cpu().double()
    if latent_dim is None or code.shape != (latent_dim,):
        raise ValueError(
            f"z must have shape ({latent_dim},) or (1, {latent_dim}), "
            f"got {tuple(z.shape)}"
        )
    dims = [check_int("dims", d, minimum=0) for d in dims]
    if not dims or max(dims) >= latent_dim:
        raise ValueError(
            "dims must be a non-empty list of latent coordinates in "
            f"[0, {latent_dim}), got {dims!r}"
        )
    steps = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if len(steps) == 0:
        raise ValueError("values must not be empty")
    codes = code.repeat(len(dims) * len(steps), 1)
    for r, d in enumerate(dims):
        codes[r * len(steps) : (r + 1) * len(steps), d] = steps
    images = _decode_mean(model, codes)
    height, width = _check_image_shape(image_shape)
    grid = make_grid(images, (height, width), len(steps))
    if ax is None:
        fig, ax = plt.subplots(
            figsize=_grid_figsize(grid, len(steps), (1.0, 0.8))
        )
    else:
        fig = ax.figure
    _show_grid(ax, grid)
    ax.set_xticks(
        [1 + j * (width + 1) + width / 2 for j in range(len(steps))],
        [_tick_label(v) for v in steps.tolist()],
    )
    ax.set_yticks(
        [1 + r * (height + 1) + height / 2 for r in range(len(dims))],
        [f"$z_{{{d + 1}}}$" for d in dims],
    )
    ax.set_xlabel("value of the coordinate")
    return fig


def _grey_png(image: np.ndarray, scale: int) -> bytes:
    """An 8-bit grey PNG of values in [0, 1], each pixel a square of
    ``scale`` x ``scale`` (round(255 x), as the book's latent explorer)."""
    from PIL import Image

    levels = np.rint(255 * np.clip(image, 0.0, 1.0)).astype(np.uint8)
    levels = np.kron(levels, np.ones((scale, scale), dtype=np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(levels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def latent_sliders(
    model: torch.nn.Module,
    image_shape: tuple[int, int],
    units: Sequence[int] | None = None,
    limit: float = 3.0,
    scale: int = 6,
):
    r"""The latent explorer as ipywidgets: a slider for each chosen latent
    unit, and the image the decoder makes of the code.

    The same model in Jupyter and Colab as the book's web page shows with
    ``{latent-explorer}``: moving a slider decodes the code :math:`z`
    (the units not chosen stay at 0) and shows the decoder's mean, each
    pixel :math:`\operatorname{round}(255\,x)` drawn as a ``scale`` x
    ``scale`` square. For a 2-D code, the plane; for a larger one, a
    latent traversal of the units chosen.

    Parameters
    ----------
    model : torch.nn.Module
        A model of :mod:`vaecourse.models` (with ``latent_dim`` and
        ``decode_mean``).
    image_shape : tuple of int
        ``(H, W)``.
    units : list of int, optional
        The units with a slider; every unit of a 2-D code by default, and
        required for a larger one.
    limit : float, default 3.0
        The sliders run from ``-limit`` to ``limit`` (the prior's 3
        standard deviations).
    scale : int, default 6
        Screen pixels per image pixel.

    Returns
    -------
    ipywidgets.HBox
        The sliders (``.sliders``) beside the image (``.image``, PNG
        bytes in ``.image.value``).
    """
    import ipywidgets as widgets

    latent_dim = getattr(model, "latent_dim", None)
    if units is None and latent_dim != 2:
        raise ValueError(
            "latent_sliders needs the units to show for a model with "
            f"latent_dim {latent_dim} (every unit is shown only for 2)"
        )
    units = [0, 1] if units is None else [int(u) for u in units]
    if not units or any(not 0 <= u < latent_dim for u in units):
        raise ValueError(
            f"units must be latent units in [0, {latent_dim}), got {units}"
        )
    height, width = _check_image_shape(image_shape)
    limit = check_real("limit", limit, positive=True)
    scale = check_int("scale", scale, minimum=1)
    sliders = [
        widgets.FloatSlider(
            value=0.0,
            min=-limit,
            max=limit,
            step=0.05,
            description=f"z{u + 1}",
        )
        for u in units
    ]
    image = widgets.Image(
        format="png", width=width * scale, height=height * scale
    )

    def show(_change=None) -> None:
        z = torch.zeros(1, latent_dim)
        for unit, slider in zip(units, sliders, strict=True):
            z[0, unit] = slider.value
        mean = _decode_mean(model, z)[0].double().numpy()
        image.value = _grey_png(mean.reshape(height, width), scale)

    for slider in sliders:
        slider.observe(show, names="value")
    show()
    box = widgets.HBox([widgets.VBox(sliders), image])
    box.sliders, box.image = sliders, image
    return box


def loss_curves(history: History, title: str | None = None) -> Figure:
    """Training and test loss terms per epoch (nats per example).

    One axes for the loss, and for a VAE one each for the reconstruction and
    the KL term; each shows a "train" line and, when recorded, a "test" line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(history, History):
        raise TypeError(
            "history must be a vaecourse.loop.History, "
            f"got {type(history).__name__}"
        )
    if history.epochs == 0:
        raise ValueError("history is empty: train for at least one epoch")
    columns = history.columns()  # a series not recorded is absent or empty
    if "train_loss" not in columns:
        raise ValueError(
            "history has no train_loss: loss_curves draws the record of "
            "train_vae or train_autoencoder"
        )
    is_vae = "train_kl" in columns
    terms = ["loss"] + (["reconstruction", "kl"] if is_vae else [])
    fig, axes = plt.subplots(
        1,
        len(terms),
        figsize=(min(3.4 * len(terms), MAX_FIGURE_WIDTH_IN - 0.1), 2.8),
        squeeze=False,
    )
    epochs = np.arange(1, history.epochs + 1)
    names = {
        "loss": "loss (negative ELBO)" if is_vae else "reconstruction loss",
        "reconstruction": "reconstruction term",
        "kl": "KL term",
    }
    for ax, term in zip(axes[0], terms, strict=True):
        ax.plot(
            epochs,
            columns[f"train_{term}"],
            marker="o",
            label="train",
        )
        test = columns.get(f"test_{term}")
        if test:
            ax.plot(epochs, test, marker="o", label="test")
        ax.set_title(names[term])
        ax.set_xlabel("epoch")
        ax.legend()
    axes[0, 0].set_ylabel("nats per example")
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class Table:
    """A table of results, shown as a table: rendered from Markdown in a
    notebook and in the book, and aligned plain text when printed.

    Parameters
    ----------
    header : list of str
        The column names (Markdown: ``$\\beta$`` is typeset in the book).
    rows : list of list
        One list per row, as many cells as ``header``. A number (or a 0-d
        tensor) is written with its column's format; anything else with
        ``str``.
    formats : list of str, optional
        A format specification per column (``".3f"``, ``",d"``, ``""``);
        ``""`` for every column by default.

    Examples
    --------
    >>> print(Table(["model", "KL"], [["VAE", 8.4], ["beta-VAE", 5.9]],
    ...             formats=["", ".1f"]))
    model    |  KL
    -------- | ---
    VAE      | 8.4
    beta-VAE | 5.9
    """

    def __init__(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[object]],
        formats: Sequence[str] | None = None,
    ) -> None:
        self.header = [str(name) for name in header]
        formats = [""] * len(self.header) if formats is None else formats
        if len(formats) != len(self.header):
            raise ValueError(
                f"formats has {len(formats)} entries for "
                f"{len(self.header)} columns"
            )
        self.rows = []
        for index, row in enumerate(rows):
            if len(row) != len(self.header):
                raise ValueError(
                    f"row {index} has {len(row)} cells for "
                    f"{len(self.header)} columns"
                )
            self.rows.append(
                [
                    _cell(value, spec)
                    for value, spec in zip(row, formats, strict=True)
                ]
            )
        # A column of numbers reads best right-aligned.
        self.numeric = [
            bool(self.rows)
            and all(
                isinstance(row[j][1], (int, float, np.number))
                for row in self.rows
            )
            for j in range(len(self.header))
        ]

    def _lines(self, markdown: bool) -> list[str]:
        cells = [self.header] + [
            [text for text, _ in row] for row in self.rows
        ]
        if markdown:
            # A "|" inside a cell would end it; and a rule needs a "-".
            cells = [
                [text.replace("|", "\\|") for text in row] for row in cells
            ]
        widths = [
            max(2 if markdown else 1, *(len(row[j]) for row in cells))
            for j in range(len(cells[0]))
        ]

        def line(row: list[str]) -> str:
            parts = [
                text.rjust(width) if numeric else text.ljust(width)
                for text, width, numeric in zip(
                    row, widths, self.numeric, strict=True
                )
            ]
            if markdown:
                return "| " + " | ".join(parts) + " |"
            return " | ".join(parts).rstrip()

        rule = [
            ("-" * (width - 1) + ":") if markdown and numeric else "-" * width
            for width, numeric in zip(widths, self.numeric, strict=True)
        ]
        if markdown:
            rule_line = "| " + " | ".join(rule) + " |"
        else:
            rule_line = " | ".join(rule)
        return [line(cells[0]), rule_line] + [line(row) for row in cells[1:]]

    def __str__(self) -> str:
        return "\n".join(self._lines(markdown=False))

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        return "\n".join(self._lines(markdown=True))


def _cell(value: object, spec: str) -> tuple[str, object]:
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        value = value.item()  # a loss term, say
    if isinstance(value, (int, float, np.number)) and not isinstance(
        value, bool
    ):
        return format(value, spec), value
    return str(value), value
