"""Sphinx extension: a shipped VAE's decoder, live in the reader's page.

The directive ``{latent-explorer}`` (option ``:model:``, a shipped model of
:mod:`vaecourse.pretrained` with a 2-D code and an MLP decoder; its content
is the alt text) writes a ``<div class="latent-explorer">`` that
``book/explorer/explorer.js`` turns into a plane of latent codes and the
decoded image of the chosen one. A ``<noscript>`` image stands in where
JavaScript is off.

At the end of the build, for each model a page asked for, the extension
exports from the shipped safetensors file (so the page cannot drift from
the weights) into ``_static/explorer/``:

- ``NAME.js``: the decoder's weights and biases (float32, base64) and the
  encoder means of the 1,000 held-out digits with their labels, the dots of
  the plane;
- ``NAME.png``: the decoded grid of the latent manifold, the stand-in image.

``tests/test_browser.py`` checks the pixels the page draws against
PyTorch's decoder.
"""

from __future__ import annotations

import base64
import json
import posixpath
from pathlib import Path

import numpy as np
from docutils import nodes
from docutils.parsers.rst import Directive, directives

EXPORT_DIR = "explorer"
#: The plane shows codes in [-EXTENT, EXTENT]^2: the prior's 3 sigma.
EXTENT = 3.0


class latent_explorer_node(nodes.General, nodes.Element):
    """A latent explorer: its model and its alt text."""


class LatentExplorerDirective(Directive):
    """``{latent-explorer}``: the model in the page (see the module doc)."""

    has_content = True
    option_spec = {"model": directives.unchanged_required}

    def run(self):
        env = self.state.document.settings.env
        model = self.options.get("model", "mnist_vae_m2")
        alt = " ".join(self.content).strip()
        if not alt:
            raise self.error("latent-explorer needs alt text as its content")
        env.latent_explorer_models = getattr(
            env, "latent_explorer_models", set()
        ) | {model}
        return [latent_explorer_node(model=model, alt=alt)]


def _visit_html(translator, node) -> None:
    docname = translator.builder.current_docname
    static = posixpath.relpath(
        f"_static/{EXPORT_DIR}/{node['model']}.png",
        posixpath.dirname(docname) or ".",
    )
    alt = node["alt"].replace('"', "&quot;")
    translator.body.append(
        f'<div class="latent-explorer" data-model="{node["model"]}">'
        f'<noscript><img src="{static}" alt="{alt}"></noscript></div>'
    )
    raise nodes.SkipNode


def _skip(translator, node) -> None:
    raise nodes.SkipNode


def _floats(array) -> str:
    if hasattr(array, "detach"):  # a parameter: its values, no gradient
        array = array.detach().cpu().numpy()
    data = np.ascontiguousarray(array, dtype="<f4")
    return base64.b64encode(data.tobytes()).decode("ascii")


def export_model(name: str, directory: Path) -> None:
    """Write ``NAME.js`` and ``NAME.png`` of a shipped 2-D VAE."""
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from vaecourse import data, plotting, pretrained

    model = pretrained.load(name)
    layers = [m for m in model.decoder if isinstance(m, torch.nn.Linear)]
    if model.latent_dim != 2 or len(layers) != 2:
        raise ValueError(
            f"{name}: the explorer needs a 2-D code and an MLP decoder of "
            "two linear layers"
        )
    held_out = data.load_mnist_subset("test")
    with torch.no_grad():
        codes, _ = model.encode(held_out.images)
    payload = {
        "latent_dim": model.latent_dim,
        "hidden_dim": layers[0].out_features,
        "image_shape": list(held_out.image_shape),
        "w1": _floats(layers[0].weight),
        "b1": _floats(layers[0].bias),
        "w2": _floats(layers[1].weight),
        "b2": _floats(layers[1].bias),
        "codes": _floats(codes),
        "labels": held_out.labels.tolist(),
        "extent": [-EXTENT, EXTENT],
        "sha256": pretrained.record(name)["sha256"],
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.js").write_text(
        "window.VAE_MODELS = window.VAE_MODELS || {};\n"
        f"window.VAE_MODELS[{json.dumps(name)}] = {json.dumps(payload)};\n",
        encoding="utf-8",
    )
    plotting.use_course_style()
    fig = plotting.latent_manifold(model, held_out.image_shape, n=15)
    fig.savefig(directory / f"{name}.png")
    matplotlib.pyplot.close(fig)


def _on_build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    models = getattr(app.env, "latent_explorer_models", set())
    for name in sorted(models):
        export_model(name, Path(app.outdir) / "_static" / EXPORT_DIR)


def _on_env_merge_info(app, env, docnames, other) -> None:
    env.latent_explorer_models = getattr(
        env, "latent_explorer_models", set()
    ) | getattr(other, "latent_explorer_models", set())


def setup(app):
    app.add_node(
        latent_explorer_node,
        html=(_visit_html, None),
        latex=(_skip, None),
        text=(_skip, None),
    )
    app.add_directive("latent-explorer", LatentExplorerDirective)
    app.add_js_file("explorer.js", defer="defer")
    app.add_css_file("explorer.css")
    app.connect("build-finished", _on_build_finished)
    app.connect("env-merge-info", _on_env_merge_info)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
