r"""Weights that ship with the package, and the command that remakes them.

A model that cannot train within a chapter's minute ships its weights in
``vaecourse/weights/``, so that ``pip install`` (and Colab) gets them:

- ``<name>.safetensors``: the weights, in the safetensors format (never
  pickle, which can run code when it is loaded);
- ``<name>.json``: the record of the run that made them: the exact command,
  the seed, the epochs or steps, the wall time, the machine and device, the
  library versions, the loss curves, the final losses and the metrics.

Three modules, each importing only the ones before it:

- :mod:`vaecourse.pretrained.files`: where the files are, how they are
  read, checked (size, SHA-256, finite weights, a valid record) and
  written;
- :mod:`vaecourse.pretrained.recipes`:
  :data:`~vaecourse.pretrained.recipes.RECIPES`, how each model is built,
  trained and evaluated, and :func:`~vaecourse.pretrained.recipes.load`,
  :func:`~vaecourse.pretrained.recipes.record`,
  :func:`~vaecourse.pretrained.recipes.evaluate`;
- :mod:`vaecourse.pretrained.cli`: :func:`~vaecourse.pretrained.cli.train`
  and the command line::

    python -m vaecourse.pretrained list
    python -m vaecourse.pretrained train NAME [--device cpu|cuda|cuda:K]
        [--epochs N | --steps N] [--iw-k K] [--out DIR]

A missing or corrupt file raises
:class:`~vaecourse.pretrained.files.WeightsError`, whose message names
the file and this command.
"""

from vaecourse.pretrained.cli import main, train
from vaecourse.pretrained.files import (
    MAX_BYTES,
    WeightsError,
    command,
    weights_dir,
)
from vaecourse.pretrained.recipes import (
    RECIPES,
    Recipe,
    evaluate,
    load,
    record,
)

__all__ = [
    "Recipe",
    "RECIPES",
    "MAX_BYTES",
    "WeightsError",
    "weights_dir",
    "command",
    "load",
    "record",
    "evaluate",
    "train",
    "main",
]
