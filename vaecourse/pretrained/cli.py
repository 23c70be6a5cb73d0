"""The command that remakes a shipped model.

::

    python -m vaecourse.pretrained list
    python -m vaecourse.pretrained train NAME [--device cpu|cuda|cuda:K]
        [--epochs N | --steps N] [--iw-k K] [--out DIR]

:func:`train` runs a recipe of :mod:`vaecourse.pretrained.recipes` on the
device asked for (one this machine has), checks that the model was trained
there, and writes the weights and their record with
:func:`vaecourse.pretrained.files.write`. The record states the device
actually used. A long recipe keeps a checkpoint, ``NAME.checkpoint.
safetensors``, in the output folder while it trains: the same command,
started again after a stop, goes on from it, and it is removed once the
files are written.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vaecourse._validation import check_device, check_int
from vaecourse.pretrained import files
from vaecourse.pretrained.recipes import RECIPES, evaluate, recipe

__all__ = ["train", "main"]


def _machine(device: torch.device) -> dict:
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    return machine


def _versions() -> dict:
    import safetensors

    import vaecourse

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "vaecourse": vaecourse.__version__,
    }


def _trained_on(model: torch.nn.Module) -> set[torch.device]:
    return {p.device for p in model.parameters()}


def train(
    name: str,
    *,
    device: str | torch.device = "cpu",
    epochs: int | None = None,
    steps: int | None = None,
    iw_k: int | None = None,
    out: str | Path | None = None,
) -> dict:
    """Train the model ``name`` and write its weights and record.

    Parameters
    ----------
    name : str
        A key of :data:`vaecourse.pretrained.recipes.RECIPES`.
    device : str or torch.device, default "cpu"
        Where to train: "cpu", or "cuda" / "cuda:K" where CUDA has that
        device (``vaecourse._validation.check_device``).
    epochs, steps, iw_k : int, optional
        Override the recipe's (for a quick run); ``epochs`` or ``steps``,
        whichever the recipe counts.
    out : str or pathlib.Path, optional
        Folder to write to (made if missing); the package's ``weights``
        folder by default.

    Returns
    -------
    dict
        The record written beside the weights.

    Raises
    ------
    RuntimeError
        If the recipe left its model on another device than ``device``:
        the record would then be false.
    """
    chosen = recipe(name)
    device = check_device(device)
    other = "steps" if chosen.unit == "epochs" else "epochs"
    if (epochs if other == "epochs" else steps) is not None:
        raise ValueError(f"{name} counts {chosen.unit}, not {other}")
    length = epochs if chosen.unit == "epochs" else steps
    length = chosen.length if length is None else length
    length = check_int(chosen.unit, length, minimum=1)
    iw_k = check_int("iw_k", chosen.iw_k if iw_k is None else iw_k, minimum=0)
    folder = files.weights_dir() if out is None else Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"out must be a folder, got the file {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    argv = [files.command(name), f"--device {device}"]
    if length != chosen.length:
        argv.append(f"--{chosen.unit} {length}")
    if iw_k != chosen.iw_k:
        argv.append(f"--iw-k {iw_k}")
    start = time.perf_counter()
    model = chosen.build()
    results = chosen.fit(
        model, length, str(device), iw_k, chosen.iw_images, directory=folder
    )
    wall = time.perf_counter() - start
    # The recipes leave the model where they trained it (the evaluation
    # may move a copy): its parameters must be on the device asked for.
    used = _trained_on(model)
    if used != {device} and not (
        device.type == "cuda"
        and {d.type for d in used} == {"cuda"}
        and device.index is None
    ):
        raise RuntimeError(
            f"recipe {name} was asked to train on {device} but its model "
            f"is on {', '.join(sorted(map(str, used)))}"
        )
    model = model.to("cpu").eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    result = {
        "name": name,
        "description": chosen.description,
        "command": " ".join(argv),
        "seed": chosen.seed,
        chosen.unit: length,
        "wall_time_s": round(wall, 1),
        "machine": _machine(next(iter(used))),
        "versions": _versions(),
        "evaluation_set": chosen.evaluation_set,
        "evaluation_loss": evaluate(model, name, folder),
        **results,
    }
    written = files.write(name, folder, state, result)
    # A long recipe's checkpoint is no longer needed once the files are.
    (folder / f"{name}.checkpoint.safetensors").unlink(missing_ok=True)
    return written


def main(argv: list[str] | None = None) -> int:
    """The command line: ``list`` or ``train NAME [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m vaecourse.pretrained",
        description="List or remake the weights that ship with vaecourse.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="the shipped models")
    run = sub.add_parser("train", help="train a model, write its files")
    run.add_argument("name", choices=list(RECIPES))
    run.add_argument(
        "--device", default="cpu", help="cpu (default), cuda or cuda:K"
    )
    run.add_argument("--epochs", type=int, default=None)
    run.add_argument("--steps", type=int, default=None)
    run.add_argument("--iw-k", type=int, default=None)
    run.add_argument("--out", default=None, help="folder (default: package)")
    args = parser.parse_args(argv)
    if args.action == "list":
        for name, chosen in RECIPES.items():
            print(f"{name}: {chosen.description}")
        return 0
    # One thread: the same sums in the same order on every run (and, on a
    # busy machine, no threads waiting for each other).
    torch.set_num_threads(1)
    result = train(
        args.name,
        device=args.device,
        epochs=args.epochs,
        steps=args.steps,
        iw_k=args.iw_k,
        out=args.out,
    )
    print(
        f"wrote {args.name}: evaluation loss "
        f"{result['evaluation_loss']:.2f}, {result['wall_time_s']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
