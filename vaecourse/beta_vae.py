r"""β-VAEs on the course's sprites: data, training step and loop (Part III).

Chapter "β-VAE" trains :class:`vaecourse.models.ConvVAE` on the
dSprites-like images of :mod:`vaecourse.sprites` with one of two
objectives, written out in :func:`beta_vae_objective` (one step of either
in :func:`beta_vae_step`; :func:`train_beta_vae` minimises it with the
package's one training loop, :func:`vaecourse.loop.train_loop`):

- the β-weighted negative ELBO (Higgins et al. 2017),
  :math:`\mathbb E_q[-\log p(x \mid z)] + \beta\,\mathrm{KL}`;
- the capacity-annealed objective (Burgess et al. 2018),
  :math:`\mathbb E_q[-\log p(x \mid z)] + \gamma\,|\mathrm{KL} - C(t)|`.

The course's reduced set-up, chosen because the 64 x 64 one does not
train on a 2-core CPU within the shipped weights' budget (chapter
"β-VAE" gives the measurements): images drawn at 64 x 64 and averaged over
2 x 2 blocks to 32 x 32 (:func:`sprite_images`; pixels then take the
values 0, 1/4, ..., 1, and the Bernoulli log-likelihood is the binary
cross-entropy of these grey values), batches drawn afresh at every step
from the whole grid, and far fewer steps than the papers' 300,000.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from vaecourse import sprites
from vaecourse._validation import (
    check_device,
    check_instance,
    check_int,
    check_real,
    values_checked,
)
from vaecourse.loop import History, Resumable, train_loop
from vaecourse.losses import (
    ELBOTerms,
    capacity_objective,
    capacity_schedule,
)
from vaecourse.models import ConvVAE

__all__ = [
    "UNIT_PROBE_SIZE",
    "IMAGE_SIZE",
    "EVALUATION_SIZE",
    "EVALUATION_SEED",
    "Capacity",
    "Curves",
    "sprite_images",
    "evaluation_classes",
    "beta_vae_objective",
    "beta_vae_step",
    "train_beta_vae",
    "evaluate_beta_vae",
    "kl_per_unit",
    "encoder_representation",
    "CHAPTER_METRIC_SIZES",
    "RECORD_METRIC_SIZES",
    "disentanglement_scores",
]

#: Side of the reduced images, in pixels (64 x 64 sprites averaged over
#: 2 x 2 blocks): :data:`vaecourse.sprites.REDUCED_SIZE`.
IMAGE_SIZE = sprites.REDUCED_SIZE
#: Images of the evaluation set on which a training probes its units.
UNIT_PROBE_SIZE = 1_000
#: Images of the fixed evaluation set.
EVALUATION_SIZE = 2_000
#: Seed of the evaluation set's factors; training draws with other seeds.
EVALUATION_SEED = 1_000_003


class Capacity(NamedTuple):
    r"""Settings of the capacity objective.

    :math:`C(t)` rises linearly from 0 to ``c_max`` nats over
    ``anneal_steps`` steps (:func:`vaecourse.losses.capacity_schedule`),
    weighted by ``gamma``.
    """

    c_max: float = 25.0
    anneal_steps: int = 100_000
    gamma: float = 1000.0


#: The record of :func:`train_beta_vae` (a :class:`vaecourse.loop.History`
#: counted in steps, with series step, objective, reconstruction, kl and
#: capacity).
Curves = History


#: Sprites from factor indices, averaged down to 32 x 32:
#: :func:`vaecourse.sprites.reduced_images`, under the name the chapters use.
sprite_images = sprites.reduced_images


def evaluation_classes() -> np.ndarray:
    """The factor indices of the fixed evaluation set, ``(2000, 6)``."""
    return sprites.sample_factors(EVALUATION_SIZE, seed=EVALUATION_SEED)


def _check_model(model: object) -> ConvVAE:
    if not isinstance(model, ConvVAE) or model.image_size != IMAGE_SIZE:
        raise TypeError(
            "model must be a vaecourse.models.ConvVAE with image_size="
            f"{IMAGE_SIZE}, got {model!r:.60}"
        )
    return model


def _check_weights(
    beta: object, capacity: object, gamma: object
) -> tuple[float, float | None, float]:
    beta = check_real("beta", beta, minimum=0.0)
    if capacity is not None:
        capacity = check_real("capacity", capacity, minimum=0.0)
    return beta, capacity, check_real("gamma", gamma, minimum=0.0)


def beta_vae_objective(
    model: ConvVAE,
    x: torch.Tensor,
    *,
    beta: float = 1.0,
    capacity: float | None = None,
    gamma: float = 1000.0,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    r"""The β-VAE or the capacity objective of a batch, with its terms.

    :math:`\mathbb E_q[-\log p(x \mid z)] + \beta\,\mathrm{KL}` (the
    chapter's β-VAE objective) when ``capacity`` is None, else
    :math:`\mathbb E_q[-\log p(x \mid z)] + \gamma\,|\mathrm{KL} - C|`
    (the capacity objective, :func:`vaecourse.losses.capacity_objective`)
    with :math:`C` = ``capacity``; both in nats per image, from one sample
    :math:`z \sim q(z \mid x)` per image.

    Returns
    -------
    dict
        ``objective``, the minimised scalar; ``loss``, ``reconstruction``
        and ``kl``, the batch means of the negative ELBO (β = 1) and its
        two terms.
    """
    beta, capacity, gamma = _check_weights(beta, capacity, gamma)
    terms = model.loss(x, generator=generator)  # beta = 1: the ELBO
    if capacity is None:
        objective = terms.reconstruction + beta * terms.kl
    else:
        objective = capacity_objective(terms, capacity, gamma)
    return {"objective": objective, **terms._asdict()}


def beta_vae_step(
    model: ConvVAE,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    *,
    beta: float = 1.0,
    capacity: float | None = None,
    gamma: float = 1000.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, ELBOTerms]:
    r"""One optimizer step on :func:`beta_vae_objective`, written out.

    The checks of :func:`vaecourse.loop.train_loop`, which
    :func:`train_beta_vae` uses, are left out: this is the step as a
    reader would write it.

    Returns
    -------
    objective : torch.Tensor
        The minimised scalar, detached.
    terms : vaecourse.losses.ELBOTerms
        The batch means of the negative ELBO (β = 1) and its two terms.
    """
    terms = beta_vae_objective(
        model,
        x,
        beta=beta,
        capacity=capacity,
        gamma=gamma,
        generator=generator,
    )
    optimizer.zero_grad()
    terms["objective"].backward()
    optimizer.step()
    detached = {name: value.detach() for name, value in terms.items()}
    return detached.pop("objective"), ELBOTerms(**detached)


def train_beta_vae(
    model: ConvVAE,
    *,
    steps: int,
    beta: float = 1.0,
    capacity: Capacity | None = None,
    batch_size: int = 64,
    lr: float = 5e-4,
    seed: int = 0,
    log_every: int = 250,
    device: str | torch.device = "cpu",
    grid: sprites.ReducedGrid | None = None,
    units_every: int | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 5_000,
) -> History:
    r"""Train on fresh batches of sprites drawn uniformly from the grid.

    Each step draws ``batch_size`` images (:func:`sprite_images` of
    uniform grid indices, from ``numpy.random.default_rng(seed)``) and
    minimises :func:`beta_vae_objective`, the β objective, or the capacity
    objective at :math:`C(t)` of ``capacity`` when it is given (then
    ``beta`` is not used), with Adam at learning rate ``lr``, in
    :func:`vaecourse.loop.train_loop`. The noise of the
    reparameterization comes from a generator seeded with ``seed``; the
    global random state is not touched. The model is left in evaluation
    mode.

    With ``grid``, a :class:`vaecourse.sprites.ReducedGrid` of the whole
    grid, the images are read from it instead of drawn: the same bits, the
    same numbers, faster.

    With ``units_every``, every that many steps (and after the last) the
    record also takes, on the first :data:`UNIT_PROBE_SIZE` images of the
    evaluation set, each unit's KL to the prior and its information
    :math:`I(x; z_j)` (:func:`vaecourse.metrics.unit_information`, with a
    generator of its own): Burgess et al.'s picture of units switching on
    as the capacity grows. The training's numbers do not change.

    With ``checkpoint``, a path, the run writes its state there every
    ``checkpoint_every`` steps (a multiple of ``log_every``) with
    :func:`vaecourse.loop.save_checkpoint`, and a run started with a
    checkpoint that exists goes on from it: the weights, Adam's state, the
    generators, the curves and the step, so that a run stopped and resumed
    takes the same steps as one that never stopped. The checkpoint must
    come from a run with the same settings; it is left in place at the
    end (the caller removes it once the result is safe).

    Returns
    -------
    vaecourse.loop.History
        Counted in steps: ``step``, and the means over each ``log_every``
        steps of ``objective``, ``reconstruction`` and ``kl``, nats per
        image; ``capacity``, :math:`C` at the logged step (0 for the β
        objective).

    Raises
    ------
    vaecourse.loop.TrainingDiverged
        If a term or a gradient is not finite; its message names the step
        (from 1) and the term, or what the model returned.
    """
    model = _check_model(model)
    steps = check_int("steps", steps, minimum=1)
    beta = check_real("beta", beta, minimum=0.0)
    if capacity is not None:
        check_instance("capacity", capacity, Capacity)
        _check_weights(beta, capacity.c_max, capacity.gamma)
        check_int("capacity.anneal_steps", capacity.anneal_steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_real("lr", lr, positive=True)
    seed = check_int("seed", seed, minimum=0)
    log_every = check_int("log_every", log_every, minimum=1)
    device = check_device(device)
    if grid is not None:
        check_instance("grid", grid, sprites.ReducedGrid)
        if len(grid) != sprites.N_IMAGES:
            raise ValueError(
                f"grid holds the first {len(grid):,} images only: uniform "
                f"draws over the {sprites.N_IMAGES:,} of the grid need all "
                "of them (vaecourse.sprites.build_reduced_grid())"
            )
    checkpoint_every = check_int(
        "checkpoint_every", checkpoint_every, minimum=1
    )
    model.to(device)
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curves = History(
        x="step", step=[], objective=[], reconstruction=[], kl=[], capacity=[]
    )
    probe_noise = torch.Generator().manual_seed(seed)
    if units_every is not None:
        units_every = check_int("units_every", units_every, minimum=1)
        curves.series.update(unit_step=[], unit_kl=[], unit_information=[])
        probe_images = sprite_images(evaluation_classes()[:UNIT_PROBE_SIZE])
    # What a checkpoint must agree with to go on from it (drawn or read
    # from the grid, the batches are the same bits).
    settings = {
        "steps": steps,
        "beta": beta,
        "capacity": None if capacity is None else list(capacity),
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "log_every": log_every,
        "units_every": units_every,
        "checkpoint_every": checkpoint_every,
    }
    resumable = Resumable(
        checkpoint,
        checkpoint_every,
        log_every=log_every,
        settings=settings,
        model=model,
        optimizer=optimizer,
        generators={
            "reparameterization": generator,
            "unit_probe": probe_noise,
        },
        rng=rng,
        curves=curves,
    )
    taken = resumable.restore()

    def probe_units(step: int) -> None:
        # Without gradients, with a generator of its own: the training's
        # noise and weights are not touched.
        from vaecourse.metrics import unit_information

        with torch.no_grad():
            mu, logvar = model.encode(probe_images.to(device))
        mu, logvar = mu.double().cpu(), logvar.double().cpu()
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)
        information = unit_information(mu, logvar, generator=probe_noise)
        curves.unit_step.append(step)
        curves.unit_kl.append(kl.mean(0).tolist())
        curves.unit_information.append(information.tolist())

    def c_at(step: int) -> float | None:  # step from 0
        if capacity is None:
            return None
        return capacity_schedule(step, capacity.c_max, capacity.anneal_steps)

    def batches() -> Iterator[torch.Tensor]:
        for _ in range(steps - taken):
            index = rng.integers(0, sprites.N_IMAGES, batch_size)
            if grid is None:
                x = sprite_images(sprites.index_to_factors(index))
            else:
                x = grid.images(index)
            yield x.to(device)

    def after_step(x: torch.Tensor, terms: Mapping) -> None:
        if units_every is not None and (
            taken % units_every == 0 or taken == steps
        ):
            probe_units(taken)

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        nonlocal taken
        c, taken = c_at(taken), taken + 1
        # The batches are drawn here, in [0, 1]: no scans of the data.
        with values_checked():
            return beta_vae_objective(
                model,
                x,
                beta=beta,
                capacity=c,
                gamma=1000.0 if capacity is None else capacity.gamma,
                generator=generator,
            )

    def explain(x: torch.Tensor, terms: Mapping) -> tuple[str, str]:
        # The loss functions with their checks on say what the model
        # returned (the noise differs, the model is the same).
        try:
            with torch.no_grad():
                model.loss(x, generator=generator)
        except ValueError as error:
            return "loss", f"the model's output is not finite: {error}"
        name = next(n for n, v in terms.items() if not torch.isfinite(v))
        return name, f"the {name} term is {terms[name].item()}"

    def log(step: int, means: dict[str, float]) -> None:
        curves.step.append(step)
        for name in ("objective", "reconstruction", "kl"):
            curves.series[name].append(means[name])
        c = c_at(step - 1)
        curves.capacity.append(0.0 if c is None else c)
        resumable.logged(step)

    if taken == steps:
        model.eval()
        return curves
    train_loop(
        model,
        objective,
        batches(),
        optimizer,
        minimise="objective",
        log_every=log_every,
        log=log,
        after_step=after_step,
        explain=explain,
        first_step=taken + 1,
    )
    return curves


def evaluate_beta_vae(
    model: ConvVAE, classes: object | None = None, *, seed: int = 0
) -> ELBOTerms:
    """Negative ELBO (β = 1) on sprites, nats per image, one z per image.

    ``classes`` defaults to :func:`evaluation_classes`; the noise comes from
    a generator seeded with ``seed``.
    """
    from vaecourse.train import evaluate_vae

    model = _check_model(model)
    if classes is None:
        classes = evaluation_classes()
    return evaluate_vae(model, sprite_images(classes), seed=seed)


def kl_per_unit(model: ConvVAE, classes: object | None = None) -> np.ndarray:
    r"""Mean KL of each latent unit to :math:`\mathcal N(0, 1)`, in nats.

    :math:`\frac1N \sum_n \mathrm{KL}[q(z_j \mid x_n) \,\|\, \mathcal N(0,
    1)]` for each unit :math:`j`, on ``classes`` (the evaluation set by
    default); the units sum to the model's KL term.
    """
    model = _check_model(model)
    if classes is None:
        classes = evaluation_classes()
    x = sprite_images(classes).to(next(model.parameters()).device)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        per_unit = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)
    return per_unit.mean(0).double().cpu().numpy()


def encoder_representation(
    model: ConvVAE,
    batch_size: int = 1_000,
    images: Callable[[np.ndarray], torch.Tensor] = sprite_images,
):
    r"""The representation the metrics score: :math:`\mu(x)` of the sprites.

    Parameters
    ----------
    model : ConvVAE
    batch_size : int, default 1000
        Images encoded at once.
    images : callable, default :func:`sprite_images`
        ``(N, 6)`` factor indices to ``(N, 1024)`` images (a cache of
        :func:`sprite_images`, to score several models on the same draws).

    Returns
    -------
    callable
        ``(N, 5)`` factor indices of dSprites' five varying factors (shape,
        scale, orientation, x, y) to the ``(N, m)`` encoder means of the
        images they draw, as :mod:`vaecourse.metrics` expects.
    """
    model = _check_model(model)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device

    def representation(factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors)
        colour = np.zeros((len(factors), 1), dtype=np.int64)
        classes = np.concatenate([colour, factors], axis=1)
        means = []
        with torch.no_grad():
            for start in range(0, len(classes), batch_size):
                x = images(classes[start : start + batch_size])
                means.append(model.encode(x.to(device))[0].cpu())
        return torch.cat(means).double().numpy()

    return representation


#: The metrics' sample sizes in the chapter (small, to run in seconds).
CHAPTER_METRIC_SIZES = {
    "beta_vae": {"batch_size": 16, "n_train": 200, "n_eval": 100},
    "factor_vae": {
        "batch_size": 16,
        "n_train": 200,
        "n_eval": 100,
        "n_variance": 1_000,
    },
    "mig": {"n_points": 2_000},
}
#: The metrics' sample sizes in the shipped records, those of
#: disentanglement_lib's unsupervised study (its ``beta_vae_sklearn``,
#: ``factor_vae_metric`` and ``mig`` configurations), 10,000 training and
#: 5,000 evaluation points in batches of 64, 10,000 points for the
#: variances, and MIG on 10,000 points in 20 bins.
RECORD_METRIC_SIZES = {
    "beta_vae": {"batch_size": 64, "n_train": 10_000, "n_eval": 5_000},
    "factor_vae": {
        "batch_size": 64,
        "n_train": 10_000,
        "n_eval": 5_000,
        "n_variance": 10_000,
    },
    "mig": {"n_points": 10_000},
}


def _check_sizes(sizes: object) -> dict:
    """``sizes`` has the keys of :data:`CHAPTER_METRIC_SIZES`, and each
    metric's dict the keys of that metric's."""
    check_instance("sizes", sizes, Mapping)
    for metric, expected in CHAPTER_METRIC_SIZES.items():
        if metric not in sizes:
            raise ValueError(
                f"sizes must have a key {metric!r} (the keys are "
                f"{sorted(CHAPTER_METRIC_SIZES)}), got {sorted(sizes)}"
            )
        check_instance(f"sizes[{metric!r}]", sizes[metric], Mapping)
        if set(sizes[metric]) != set(expected):
            raise ValueError(
                f"sizes[{metric!r}] must have the keys {sorted(expected)}, "
                f"got {sorted(sizes[metric])}"
            )
    return sizes


def disentanglement_scores(
    models: Mapping[str, ConvVAE],
    sizes: dict | None = None,
    seed: int = 0,
    grid: sprites.ReducedGrid | None = None,
) -> dict[str, dict[str, float]]:
    """The β-VAE metric, the FactorVAE metric and MIG of each model.

    Each model's representation is its encoder means
    (:func:`encoder_representation`) on dSprites' five varying factors.
    The sample sizes are ``sizes`` (:data:`CHAPTER_METRIC_SIZES` by
    default); with the same ``seed`` every model is scored on the same
    factor draws, so the images are drawn once and shared. With ``grid``
    (a whole :class:`vaecourse.sprites.ReducedGrid`) they are read from it
    instead, the same bits, and not kept: the way to score at
    ``disentanglement_lib``'s sizes, whose millions of images would not
    fit in memory. The two classifier metrics give their evaluation
    accuracy.

    Returns
    -------
    dict
        ``{name: {"beta_vae_metric": ..., "factor_vae_metric": ...,
        "mig": ...}}``.
    """
    from vaecourse import metrics

    sizes = _check_sizes(CHAPTER_METRIC_SIZES if sizes is None else sizes)
    seed = check_int("seed", seed, minimum=0)
    drawn: dict[bytes, torch.Tensor] = {}

    if grid is not None:
        check_instance("grid", grid, sprites.ReducedGrid)

    def shared_images(classes: np.ndarray) -> torch.Tensor:
        if grid is not None:
            return grid.images(sprites.factors_to_index(classes))
        key = classes.tobytes()
        if key not in drawn:
            drawn[key] = sprite_images(classes)
        return drawn[key]

    factor_sizes = sprites.FACTOR_SIZES[1:]
    scores = {}
    for name, model in models.items():
        representation = encoder_representation(model, images=shared_images)
        beta = metrics.beta_vae_score(
            representation, factor_sizes, seed=seed, **sizes["beta_vae"]
        )
        factor = metrics.factor_vae_score(
            representation, factor_sizes, seed=seed, **sizes["factor_vae"]
        )
        mig = metrics.mig_score(
            representation, factor_sizes, seed=seed, **sizes["mig"]
        )
        scores[name] = {
            "beta_vae_metric": beta.eval_accuracy,
            "factor_vae_metric": factor.eval_accuracy,
            "mig": mig,
        }
    return scores
