"""One training loop for every model of the course.

Every trainer of the package is an *objective*, a function from a batch to
named loss terms, plus a call to :func:`train_loop`, which does the rest in
the same way for all of them. For each batch it

1. computes the objective's terms (0-d tensors, in nats per example);
2. tests them all for finiteness, in one check, before any gradient exists;
3. ``optimizer.zero_grad()`` and ``terms[minimise].backward()``;
4. tests every gradient, in one fused check, before ``optimizer.step()``
   touches a weight;
5. ``optimizer.step()``, then the trainer's ``after_step`` if it has one
   (the VQ-VAE re-seeds its dead codes there);

and every ``log_every`` steps it hands the mean of each term over the
examples of those steps to ``log``. A term or a gradient that is not finite
raises :class:`TrainingDiverged`, which names the step and the term or the
parameter; the optimizer step of that batch is not taken. The model trains
in training mode and is left in evaluation mode.

The loop takes batches from any iterable: :func:`epoch_batches` gives the
index sets of one pass over a data set in a seeded random order, which
every epoch-based trainer uses.

A long run can stop and go on where it stopped: :func:`save_checkpoint`
writes everything a run's next steps depend on (the weights, the
optimizer's state, the random generators' states and the trainer's own
JSON state) to one safetensors file, and :func:`load_checkpoint` puts it
back, so that the resumed run takes the same steps, bit for bit, as one
that never stopped (on the same machine and settings).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "History",
    "TrainingDiverged",
    "epoch_batches",
    "epoch_data",
    "train_loop",
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_state",
    "Resumable",
]


class TrainingDiverged(FloatingPointError):
    """A loss term or a gradient became NaN or infinite during training.

    A subclass of :class:`FloatingPointError`. The message names where:
    the epoch and the batch (both from 1) for the trainers that count
    epochs, the step (from 1) for those that count steps; then the term
    (``"reconstruction"``, ``"kl"``, ``"loss"``, ..., or ``"gradient"``)
    and what is wrong. The same are kept as attributes (``epoch`` and
    ``batch`` are None for a trainer that counts steps).
    """

    def __init__(
        self,
        epoch: int | None,
        batch: int | None,
        term: str,
        detail: str,
        *,
        step: int | None = None,
    ) -> None:
        self.epoch, self.batch, self.term = epoch, batch, term
        self.step = batch if step is None else step
        where = (
            f"step {self.step}"
            if epoch is None
            else f"epoch {epoch}, batch {batch}"
        )
        super().__init__(f"training diverged at {where}: {detail}")


class History:
    """The record of a training: named series, one entry per log point.

    In nats per example unless a series says otherwise. Every trainer of
    the package returns one: the epoch trainers with a log point per epoch
    (``x="epoch"``), the step trainers every ``log_every`` steps
    (``x="step"``, and a series ``step`` that holds them). Series are
    attributes (``history.train_loss``); :meth:`columns` gives the
    non-empty ones, in the order they were declared.

    Parameters
    ----------
    x : {"epoch", "step"}, default "epoch"
        What the log points count.
    **series : list
        The series, by name, each a list (possibly empty).
    """

    def __init__(self, *, x: str = "epoch", **series: list) -> None:
        if x not in ("epoch", "step"):
            raise ValueError(f"x must be 'epoch' or 'step', got {x!r}")
        self.x = x
        self.series = {name: list(values) for name, values in series.items()}

    def __getattr__(self, name: str) -> list:
        series = self.__dict__.get("series", {})
        if name in series:
            return series[name]
        raise AttributeError(
            f"{type(self).__name__} has no series {name!r}; "
            f"it has {sorted(series)}"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return (self.x, self.series) == (other.x, other.series)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.series.items())
        return f"History(x={self.x!r}, {inner})"

    @property
    def epochs(self) -> int:
        """The number of log points (of epochs, for an epoch trainer)."""
        return max((len(v) for v in self.series.values()), default=0)

    def columns(self) -> dict[str, list]:
        """The non-empty series, by name, in the order they were declared."""
        return {name: v for name, v in self.series.items() if v}

    def to_table(self, decimals: int = 2) -> str:
        """A text table, one row per log point, rounded to ``decimals``."""
        cols = {k: v for k, v in self.columns().items() if k != "step"}
        steps = self.series.get("step")
        header = [self.x] + [
            name.replace("reconstruction", "recon") for name in cols
        ]
        rows = [
            [str(steps[e] if steps else e + 1)]
            + [f"{series[e]:.{decimals}f}" for series in cols.values()]
            for e in range(self.epochs)
        ]
        widths = [
            max(len(r[i]) for r in [header] + rows) for i in range(len(header))
        ]
        return "\n".join(
            "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
            for row in [header] + rows
        )

    def __str__(self) -> str:
        return self.to_table()


def epoch_batches(
    n: int, batch_size: int, generator: torch.Generator | None
) -> Iterator[torch.Tensor]:
    """The index sets of one pass over ``n`` examples, ``batch_size`` each.

    In the order ``torch.randperm(n, generator=generator)`` (``0, ..., n-1``
    with ``generator=None``), cut into consecutive batches; the last one is
    smaller when ``batch_size`` does not divide ``n``.
    """
    order = (
        torch.arange(n)
        if generator is None
        else torch.randperm(n, generator=generator)
    )
    yield from order.split(batch_size)


def epoch_data(
    data: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
) -> Iterator[torch.Tensor]:
    """The batches of one pass over ``data``, moved to ``device``.

    ``data[index]`` for each ``index`` of :func:`epoch_batches`: what every
    epoch trainer hands to :func:`train_loop`.
    """
    for index in epoch_batches(len(data), batch_size, generator):
        yield data[index].to(device)


def _all_finite(values: torch.Tensor) -> bool:
    return bool(torch.isfinite(values).all())


def _gradients_are_finite(model: nn.Module) -> bool:
    """One fused check of every gradient, exact where it raises a doubt.

    ``torch._foreach_norm`` takes the 2-norm of every gradient in one call
    and one ``isfinite`` tests them all: a NaN or an infinity anywhere makes
    its norm NaN or infinite. Only then is each gradient tested alone, since
    a norm can also overflow for finite gradients (beyond about 1e19 in
    float32).
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return True
    if _all_finite(torch.stack(torch._foreach_norm(grads))):
        return True
    return all(_all_finite(grad) for grad in grads)


def _non_finite_term(terms: Mapping[str, torch.Tensor]) -> tuple[str, str]:
    for name, value in terms.items():
        if not _all_finite(value.detach()):
            return name, f"the {name} term is {value.item()}"
    raise AssertionError("no term is non-finite")


def _non_finite_gradient(model: nn.Module) -> tuple[str, str]:
    for name, parameter in model.named_parameters():
        if parameter.grad is not None and not _all_finite(parameter.grad):
            return (
                "gradient",
                f"the gradient of {name} is not finite (the loss was finite)",
            )
    raise AssertionError("no gradient is non-finite")


Terms = Mapping[str, torch.Tensor]


def train_loop(
    model: nn.Module,
    objective: Callable[[Any], Terms],
    batches: Iterable[Any],
    optimizer: torch.optim.Optimizer,
    *,
    minimise: str = "loss",
    log_every: int | None = None,
    log: Callable[[int, dict[str, float]], None] | None = None,
    after_step: Callable[[Any, Terms], None] | None = None,
    explain: Callable[[Any, Terms], tuple[str, str]] | None = None,
    epoch: int | None = None,
    first_step: int = 1,
    examples: Callable[[Any], int] = len,
) -> int:
    """Train ``model`` on ``batches``: the steps listed in the module's doc.

    Parameters
    ----------
    model : torch.nn.Module
        Put in training mode for the steps, left in evaluation mode.
    objective : callable
        ``objective(batch)`` returns the step's terms, a mapping from names
        to 0-d tensors, each a mean over the batch's examples.
    batches : iterable
        What ``objective`` takes, one step each.
    optimizer : torch.optim.Optimizer
    minimise : str, default "loss"
        The term whose gradient is followed.
    log_every : int, optional
        Log after every ``log_every`` steps, and after the last; by default
        once, after the last.
    log : callable, optional
        ``log(step, means)``, with the mean of each term over the examples
        of the steps since the last log.
    after_step : callable, optional
        ``after_step(batch, terms)``, after ``optimizer.step()``.
    explain : callable, optional
        ``explain(batch, terms)`` when a term is not finite: returns
        ``(term, detail)`` for the error; by default the first non-finite
        term is named.
    epoch : int, optional
        For an epoch trainer: the errors then name the epoch and the batch
        (from 1 in each epoch) instead of the step.
    first_step : int, default 1
        The number of the first step (a trainer that calls the loop once per
        epoch counts on).
    examples : callable, default len
        The number of examples in a batch, which weights its terms in the
        logged means.

    Returns
    -------
    int
        The number of the last step taken.

    Raises
    ------
    TrainingDiverged
        If a term or a gradient is not finite.
    """
    step = first_step - 1
    sums: torch.Tensor | None = None
    count = 0

    def diverged(batch_number: int, term: str, detail: str):
        if epoch is None:
            return TrainingDiverged(None, None, term, detail, step=step)
        return TrainingDiverged(epoch, batch_number, term, detail, step=step)

    model.train()
    for batch_number, batch in enumerate(batches, start=1):
        step += 1
        terms = objective(batch)
        values = torch.stack([value.detach() for value in terms.values()])
        if not _all_finite(values):
            why = (explain or (lambda _, t: _non_finite_term(t)))(batch, terms)
            raise diverged(batch_number, *why)
        optimizer.zero_grad()
        terms[minimise].backward()
        if not _gradients_are_finite(model):
            raise diverged(batch_number, *_non_finite_gradient(model))
        optimizer.step()
        if after_step is not None:
            after_step(batch, terms)
        n = examples(batch)
        weighted = n * values.to("cpu", torch.float64)
        sums = weighted if sums is None else sums + weighted
        count += n
        if log_every is not None and (step - first_step + 1) % log_every == 0:
            if log is not None:
                log(
                    step,
                    dict(zip(terms, (sums / count).tolist(), strict=True)),
                )
            sums, count = None, 0
    if count and log is not None:
        log(step, dict(zip(terms, (sums / count).tolist(), strict=True)))
    model.eval()
    return step


_CHECKPOINT_FORMAT = "vaecourse-checkpoint-1"


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generators: Mapping[str, torch.Generator],
    state: Mapping[str, Any],
) -> None:
    """Write what a run's next steps depend on to one safetensors file.

    The tensors are the model's ``state_dict``, the optimizer's per-parameter
    state and each generator's state; the optimizer's parameter groups and
    ``state`` (anything JSON can hold: the step, a NumPy generator's
    ``bit_generator.state``, the curves so far) go into the file's metadata.
    No pickle: the file is read back with safetensors and JSON only. The
    file is written beside ``path`` and then renamed onto it, so a run
    stopped while writing leaves the previous checkpoint whole.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {
        f"model.{key}": value.detach().cpu().contiguous()
        for key, value in model.state_dict().items()
    }
    optimizer_state = optimizer.state_dict()
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(value)
            tensors[f"optimizer.{index}.{name}"] = value.cpu().contiguous()
    for name, generator in generators.items():
        tensors[f"generator.{name}"] = generator.get_state()
    metadata = {
        "format": _CHECKPOINT_FORMAT,
        "param_groups": json.dumps(optimizer_state["param_groups"]),
        "state": json.dumps(dict(state)),
        "generator_devices": json.dumps(
            {name: g.device.type for name, g in generators.items()}
        ),
    }
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, partial, metadata=metadata)
    os.replace(partial, path)


def load_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generators: Mapping[str, torch.Generator],
) -> dict[str, Any]:
    """Put a checkpoint of :func:`save_checkpoint` back; return its state.

    The model's weights, the optimizer's state and each generator's state
    are replaced in place (on the devices they are on); the trainer's JSON
    ``state`` is returned.

    Raises
    ------
    ValueError
        If the file is not a checkpoint of this format, or does not hold
        the tensors of this model, optimizer or generators, or a generator
        was saved on another kind of device (a CPU and a CUDA generator
        draw different streams, and neither state fits the other).
    """
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own error types
        raise ValueError(
            f"{path} is not a safetensors file ({error})"
        ) from None
    if metadata.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a training checkpoint of vaecourse (format "
            f"{metadata.get('format')!r}, expected {_CHECKPOINT_FORMAT!r})"
        )
    weights = {
        key.removeprefix("model."): value
        for key, value in tensors.items()
        if key.startswith("model.")
    }
    expected = set(model.state_dict())
    if set(weights) != expected:
        raise ValueError(
            f"{path} holds the weights of another model: "
            f"{sorted(set(weights) ^ expected)[:4]} differ"
        )
    model.load_state_dict(weights)
    per_parameter: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_parameter.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(
        {
            "state": per_parameter,
            "param_groups": json.loads(metadata["param_groups"]),
        }
    )
    saved_on = json.loads(metadata.get("generator_devices", "{}"))
    for name, generator in generators.items():
        key = f"generator.{name}"
        if key not in tensors:
            raise ValueError(
                f"{path} holds no state of the generator {name!r}"
            )
        here = generator.device.type
        # Older checkpoints name no device: a state of the wrong size does.
        there = saved_on.get(name, here)
        fits = tensors[key].numel() == generator.get_state().numel()
        if there != here or not fits:
            raise ValueError(
                f"{path}: the generator {name!r} was saved on "
                f"{there if there != here else 'another kind of device'} "
                f"and this run's is on {here}; a random stream cannot move "
                "between kinds of device: go on on the device it was "
                "saved on, or start the run again"
            )
        generator.set_state(tensors[key])
    return json.loads(metadata["state"])


def checkpoint_state(path: str | Path) -> dict[str, Any]:
    """The trainer's JSON ``state`` of a checkpoint, without loading it."""
    from safetensors import safe_open

    with safe_open(Path(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint of vaecourse")
    return json.loads(metadata["state"])


class Resumable:
    """A run counted in steps that keeps a checkpoint and goes on from it.

    A step trainer makes one with what its next steps depend on (the model,
    the optimizer, its torch generators, its NumPy generator, its curves)
    and the settings a checkpoint must agree with; :meth:`restore` puts
    back the state of an existing checkpoint and returns the number of
    steps already taken, and :meth:`logged`, called from the trainer's
    ``log``, writes a checkpoint every ``every`` steps. Without a ``path``
    both do nothing, so a trainer uses it whether or not it was asked for
    one. The state also keeps the training's wall time over every process
    that took part and the step each one started at.

    Raises
    ------
    ValueError
        If ``every`` is not a multiple of ``log_every`` (a checkpoint is
        written where the curves have just been logged, with no partial
        means pending), or, in :meth:`restore`, if the checkpoint is of a
        run with other settings.
    """

    def __init__(
        self,
        path: str | Path | None,
        every: int,
        *,
        log_every: int,
        settings: Mapping[str, Any],
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        generators: Mapping[str, torch.Generator],
        rng: Any,
        curves: History,
    ) -> None:
        import time

        if path is not None and every % log_every:
            raise ValueError(
                f"checkpoint_every ({every}) must be a multiple of "
                f"log_every ({log_every}): a checkpoint is written where "
                "the curves have just been logged"
            )
        self.path = None if path is None else Path(path)
        self.every = every
        self.settings = dict(settings)
        self.model, self.optimizer = model, optimizer
        self.generators, self.rng, self.curves = generators, rng, curves
        self.wall_before, self.starts, self.first = 0.0, [], 0
        self._clock = time.perf_counter
        self.started = self._clock()

    def restore(self) -> int:
        """Load an existing checkpoint; the number of steps it had taken."""
        if self.path is None or not self.path.exists():
            return 0
        state = load_checkpoint(
            self.path,
            model=self.model,
            optimizer=self.optimizer,
            generators=self.generators,
        )
        if state["settings"] != self.settings:
            differ = sorted(
                key
                for key in self.settings
                if state["settings"].get(key) != self.settings[key]
            )
            raise ValueError(
                f"checkpoint {self.path} is of a run with other settings "
                f"({', '.join(differ)} differ): remove it to start afresh"
            )
        self.rng.bit_generator.state = state["rng"]
        for name, values in state["curves"].items():
            self.curves.series[name][:] = values
        self.wall_before, self.starts = state["wall_s"], state["starts"]
        self.first = state["taken"]
        return self.first

    def logged(self, step: int) -> None:
        """After the log of ``step``: write a checkpoint if it is due."""
        if self.path is None or step % self.every:
            return
        save_checkpoint(
            self.path,
            model=self.model,
            optimizer=self.optimizer,
            generators=self.generators,
            state={
                "settings": self.settings,
                "taken": step,
                "rng": self.rng.bit_generator.state,
                "curves": self.curves.series,
                "wall_s": self.wall_before + self._clock() - self.started,
                "starts": [*self.starts, self.first],
            },
        )
