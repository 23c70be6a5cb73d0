"""Draw the book's diagrams into book/images/ (PNG).

Usage (from the repository root)::

    .venv/bin/python scripts/draw_diagrams.py   # or: make diagrams

The diagrams are pictures of ideas, not of data, so they are drawn here with
matplotlib's patches rather than in the chapters. Each chapter shows its
diagram with a MyST ``figure`` directive that gives the alt text and the
width to show it at: half the PNG's width, since the diagrams follow the
figure rule of ``vaecourse.plotting`` (twice the resolution they are shown
at, no wider than the column, no text below 9 pt; tested in
``tests/test_book_structure.py``). Rerun this script after changing a
diagram, commit the PNG files, and update the widths the chapters give.

- ``autoencoder_bottleneck.png`` (chapter 1): encoder, code, decoder.
- ``reparameterization_graph.png`` (chapter 4): the VAE's computation graph
  before and after the reparameterization trick, in the style of Kingma and
  Welling (2019), Fig. 2.3.
- ``elbo_gap.png`` (chapter 6): log p(x) = ELBO + KL(q || p(z|x)) as one bar
  split in two.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import (  # noqa: E402
    Circle,
    FancyArrowPatch,
    Polygon,
    Rectangle,
    RegularPolygon,
)

from vaecourse.plotting import SCREEN_DPI  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "images"
DPI = 2 * SCREEN_DPI  # shown at half the PNG's size: twice the resolution
# PNG metadata without the matplotlib version, so a rerun with another
# version rewrites a file only when the picture changed.
METADATA = {"Software": None}

BLUE = "#4c72b0"
ORANGE = "#dd8452"
GREEN = "#55a868"
GREY = "#8c8c8c"
RED = "#c44e52"


def _arrow(ax, start, end, colour="black", style="-|>", **kwargs):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=14,
            color=colour,
            lw=1.6,
            shrinkA=0,
            shrinkB=0,
            **kwargs,
        )
    )


def _save(fig, name: str) -> Path:
    path = OUT / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata=METADATA)
    plt.close(fig)
    return path


def autoencoder_bottleneck() -> Figure:
    """Input x (n numbers), encoder, code z (m < n numbers), decoder, x_hat."""
    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4)
    ax.axis("off")

    def column(x0, height, colour, label, sub):
        y0 = 2 - height / 2
        ax.add_patch(
            Rectangle((x0, y0), 0.5, height, fc=colour, ec="black", lw=1)
        )
        for k in range(1, int(height / 0.25)):
            ax.plot([x0, x0 + 0.5], [y0 + 0.25 * k] * 2, color="white", lw=0.6)
        ax.text(
            x0 + 0.25, y0 - 0.25, label, ha="center", va="top", fontsize=13
        )
        ax.text(
            x0 + 0.25,
            y0 + height + 0.1,
            sub,
            ha="center",
            va="bottom",
            fontsize=9,
            color="#333333",
        )

    column(0.3, 3.0, "#a6bddb", "$x$", "$n$ numbers")
    column(4.75, 1.0, ORANGE, "$z$", "code: $m < n$")
    column(9.2, 3.0, "#a6bddb", r"$\hat x$", "$n$ numbers")
    ax.add_patch(
        Polygon(
            [[1.1, 3.5], [4.4, 2.6], [4.4, 1.4], [1.1, 0.5]],
            fc=BLUE,
            alpha=0.85,
            ec="black",
        )
    )
    ax.add_patch(
        Polygon(
            [[5.6, 2.6], [8.9, 3.5], [8.9, 0.5], [5.6, 1.4]],
            fc=GREEN,
            alpha=0.85,
            ec="black",
        )
    )
    ax.text(
        2.75,
        2.0,
        "encoder\n$z = f(x)$",
        ha="center",
        va="center",
        color="white",
        fontsize=12,
    )
    ax.text(
        7.25,
        2.0,
        "decoder\n" + r"$\hat x = g(z)$",
        ha="center",
        va="center",
        color="white",
        fontsize=12,
    )
    ax.text(
        5.0,
        0.05,
        r"trained to make $\hat x$ close to $x$ (a reconstruction loss)",
        ha="center",
        fontsize=10,
    )
    return fig


def _node(ax, xy, kind, label, colour):
    if kind == "stochastic":
        ax.add_patch(Circle(xy, 0.42, fc=colour, ec="black", lw=1.2))
    elif kind == "parameter":
        ax.add_patch(
            RegularPolygon(xy, 4, radius=0.5, fc="white", ec="black", lw=1.2)
        )
    else:
        ax.add_patch(
            RegularPolygon(xy, 4, radius=0.5, fc=colour, ec="black", lw=1.2)
        )
    ax.text(*xy, label, ha="center", va="center", fontsize=12)


def reparameterization_graph() -> Figure:
    """Before: z is sampled, no gradient passes. After: noise is an input."""
    fig, axes = plt.subplots(1, 2, figsize=(7.1, 3.4))
    for ax, title in zip(
        axes,
        [
            "before: $z \\sim q_\\phi(z\\mid x)$",
            "after: $z = \\mu + \\sigma \\odot \\varepsilon$",
        ],
        strict=True,
    ):
        ax.set_xlim(0, 6)
        ax.set_ylim(0, 6.2)
        ax.set_aspect("equal")  # circles stay round
        ax.axis("off")
        ax.set_title(title, fontsize=12)

    # Before: phi and x feed the stochastic node z, which feeds the loss f.
    ax = axes[0]
    _node(ax, (1.0, 1.2), "deterministic", "$x$", "#d9d9d9")
    _node(ax, (4.5, 1.2), "parameter", r"$\phi$", "white")
    _node(ax, (2.75, 3.0), "stochastic", "$z$", "#f4a582")
    _node(ax, (2.75, 5.0), "deterministic", "$f$", "#d9d9d9")
    _arrow(ax, (1.35, 1.55), (2.45, 2.7))
    _arrow(ax, (4.15, 1.55), (3.05, 2.7))
    _arrow(ax, (2.75, 3.45), (2.75, 4.5))
    # The gradient of f stops at the sampled node.
    _arrow(
        ax, (3.35, 4.6), (3.35, 3.55), colour=RED, style="-|>", linestyle="--"
    )
    ax.text(
        3.55, 4.1, r"$\nabla_\phi f$ ?", color=RED, fontsize=11, va="center"
    )
    ax.text(
        2.75,
        0.25,
        "sampling is not differentiable",
        ha="center",
        fontsize=9.5,
        color="#333333",
    )

    # After: noise eps is an input; z is a deterministic function.
    ax = axes[1]
    _node(ax, (0.9, 1.6), "parameter", r"$\phi$", "white")
    _node(ax, (2.75, 1.2), "deterministic", "$x$", "#d9d9d9")
    _node(ax, (4.6, 1.6), "stochastic", r"$\varepsilon$", "#f4a582")
    _node(ax, (2.75, 3.0), "deterministic", "$z$", "#92c5de")
    _node(ax, (2.75, 5.0), "deterministic", "$f$", "#d9d9d9")
    _arrow(ax, (1.25, 1.95), (2.4, 2.75))
    _arrow(ax, (2.75, 1.7), (2.75, 2.5))
    _arrow(ax, (4.2, 1.85), (3.1, 2.75))
    _arrow(ax, (2.75, 3.5), (2.75, 4.5))
    _arrow(
        ax,
        (2.2, 5.0),
        (0.75, 2.15),
        colour=GREEN,
        linestyle="--",
        connectionstyle="arc3,rad=0.35",
    )
    ax.text(
        0.75,
        4.3,
        r"$\nabla_\phi f$",
        color=GREEN,
        fontsize=11,
        ha="center",
        va="center",
    )
    ax.text(
        4.6,
        0.85,
        r"$\varepsilon \sim \mathcal{N}(0, I)$",
        ha="center",
        fontsize=10,
    )
    ax.text(
        2.75,
        0.25,
        "gradients flow through $z$ to $\\phi$",
        ha="center",
        fontsize=9.5,
        color="#333333",
    )

    # A legend of node kinds, below both panels.
    fig.text(
        0.5,
        -0.02,
        "circle: random node    diamond: deterministic node    "
        "white diamond: parameters",
        ha="center",
        fontsize=9.5,
    )
    return fig


def elbo_gap() -> Figure:
    """Bar of length log p(x): the ELBO, then the KL gap to the posterior."""
    fig, ax = plt.subplots(figsize=(7.0, 2.2))
    elbo, kl = 7.0, 2.0
    ax.barh([0], [elbo], color=BLUE, height=0.55, edgecolor="black")
    ax.barh(
        [0], [kl], left=[elbo], color=ORANGE, height=0.55, edgecolor="black"
    )
    ax.text(
        elbo / 2,
        0,
        r"ELBO $= \mathbb{E}_q[\log p(x \mid z)]"
        r" - \mathrm{KL}(q \,\|\, p(z))$",
        ha="center",
        va="center",
        color="white",
        fontsize=11,
    )
    ax.text(
        elbo + kl / 2,
        0,
        r"$\mathrm{KL}(q \,\|\, p(z \mid x))$",
        ha="center",
        va="center",
        fontsize=10,
    )
    ax.annotate(
        "",
        xy=(0, 0.55),
        xytext=(elbo + kl, 0.55),
        arrowprops={"arrowstyle": "<->", "lw": 1.3},
    )
    ax.text(
        (elbo + kl) / 2,
        0.62,
        r"$\log p(x)$ (fixed by the model)",
        ha="center",
        va="bottom",
        fontsize=11,
    )
    ax.text(
        0,
        -0.45,
        "a better $q$ moves the boundary right: the ELBO "
        "rises and the gap shrinks;\nat $q(z \\mid x) = p(z \\mid x)$ the gap "
        "is 0 and the ELBO equals $\\log p(x)$",
        ha="left",
        va="top",
        fontsize=9.5,
        color="#333333",
    )
    ax.set_xlim(-0.1, elbo + kl + 0.1)
    ax.set_ylim(-0.9, 1.0)
    ax.axis("off")
    return fig


# Each diagram's file and the function that draws it.
DIAGRAMS = {
    "autoencoder_bottleneck.png": autoencoder_bottleneck,
    "reparameterization_graph.png": reparameterization_graph,
    "elbo_gap.png": elbo_gap,
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, draw in DIAGRAMS.items():
        print(_save(draw(), name).relative_to(ROOT))


if __name__ == "__main__":
    main()
