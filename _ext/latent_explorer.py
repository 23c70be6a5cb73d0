"""Sphinx extension: a shipped VAE's decoder, live in the reader's page.

The directive ``{latent-explorer}`` (option ``:model:``, a shipped VAE of
:mod:`vaecourse.pretrained` with a Bernoulli decoder of linear, ReLU and
transposed-convolution layers; its content is the alt text) writes a
``<div class="latent-explorer">`` that ``book/explorer/explorer.js`` turns
into the model in the page: for a 2-D code, the plane of the held-out
digits' codes and the decoded image of the one the reader chooses; for a
larger code, a slider for each active unit (mean KL in the record above
:data:`ACTIVE_UNIT_NATS`), a latent traversal. A ``<noscript>`` image
stands in where JavaScript is off.

At the end of the build, for each model a page asked for, the extension
exports from the shipped safetensors file (so the page cannot drift from
the weights) into ``_static/explorer/``:

- ``NAME.js``: the decoder's layers, weights and biases (float32, base64),
  and the encoder means of the 1,000 held-out digits with their labels
  (the dots of the plane) or the active units;
- ``NAME.png``: the decoded latent manifold, or the traversal of the
  active units, the stand-in image.

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


#: A unit is shown with a slider when its mean KL in the record is above
#: this, in nats (an inactive unit decodes to nothing, chapter 11).
ACTIVE_UNIT_NATS = 0.1


def decoder_layers(model) -> list[dict]:
    """The decoder as the list of layers explorer.js runs, weights as
    base64 float32 in PyTorch's layouts."""
    from torch import nn

    layers = []
    for module in model.decoder:
        if isinstance(module, nn.Linear):
            layers.append(
                {
                    "type": "linear",
                    "in": module.in_features,
                    "out": module.out_features,
                    "w": _floats(module.weight),
                    "b": _floats(module.bias),
                }
            )
        elif isinstance(module, nn.ReLU):
            layers.append({"type": "relu"})
        elif isinstance(module, nn.Unflatten):
            layers.append(
                {"type": "unflatten", "shape": list(module.unflattened_size)}
            )
        elif isinstance(module, nn.Flatten):
            layers.append({"type": "flatten"})
        elif isinstance(module, nn.ConvTranspose2d) and (
            module.groups == 1
            and module.dilation == (1, 1)
            and module.output_padding == (0, 0)
            and module.kernel_size[0] == module.kernel_size[1]
            and module.stride[0] == module.stride[1]
            and module.padding[0] == module.padding[1]
        ):
            layers.append(
                {
                    "type": "conv_transpose",
                    "in": module.in_channels,
                    "out": module.out_channels,
                    "kernel": module.kernel_size[0],
                    "stride": module.stride[0],
                    "padding": module.padding[0],
                    "w": _floats(module.weight),
                    "b": _floats(module.bias),
                }
            )
        else:
            raise ValueError(
                f"the explorer cannot run a decoder layer {module!r}"
            )
    if getattr(model, "likelihood", "bernoulli") != "bernoulli":
        raise ValueError("the explorer draws Bernoulli means (a sigmoid)")
    return layers


def export_model(name: str, directory: Path) -> None:
    """Write ``NAME.js`` and ``NAME.png`` of a shipped VAE: the plane of
    the held-out digits' codes for a 2-D code, sliders for the active units
    of a larger one."""
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from vaecourse import data, plotting, pretrained

    model = pretrained.load(name)
    record = pretrained.record(name)
    payload = {
        "latent_dim": model.latent_dim,
        "layers": decoder_layers(model),
        "extent": [-EXTENT, EXTENT],
        "sha256": record["sha256"],
    }
    plotting.use_course_style()
    if model.latent_dim == 2:
        held_out = data.load_mnist_subset("test")
        with torch.no_grad():
            codes, _ = model.encode(held_out.images)
        shape = held_out.image_shape
        payload["codes"] = _floats(codes)
        payload["labels"] = held_out.labels.tolist()
        fig = plotting.latent_manifold(model, shape, n=15)
    else:
        if getattr(model, "channels", 1) != 1:
            raise ValueError(f"{name}: the explorer draws grey images")
        shape = (model.image_size, model.image_size)
        kl = record["final"]["kl_per_unit"]
        units = [j for j, nats in enumerate(kl) if nats > ACTIVE_UNIT_NATS]
        payload["units"] = units
        fig = plotting.latent_traversal(
            model,
            torch.zeros(model.latent_dim),
            units,
            torch.linspace(-EXTENT, EXTENT, 9),
            shape,
        )
    payload["image_shape"] = list(shape)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.js").write_text(
        "window.VAE_MODELS = window.VAE_MODELS || {};\n"
        f"window.VAE_MODELS[{json.dumps(name)}] = {json.dumps(payload)};\n",
        encoding="utf-8",
    )
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
