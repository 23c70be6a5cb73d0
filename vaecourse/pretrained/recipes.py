"""The recipes of the shipped models: how each is built, trained, evaluated.

:data:`RECIPES` names every shipped model. :func:`load` builds the model of
a recipe and gives it the weights of its file (read and checked by
:mod:`vaecourse.pretrained.files`), :func:`record` returns its record, and
:func:`evaluate` its evaluation loss, which the tests compare with the
record's. A recipe that needs another shipped model (the β-VAE_DAE needs
its DAE, the prior its VQ-VAE) loads it from the same folder.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaecourse._validation import check_device
from vaecourse.pretrained import files

__all__ = ["Recipe", "RECIPES", "load", "record", "evaluate"]


@dataclass(frozen=True)
class Recipe:
    """How to build, train and evaluate one shipped model.

    Attributes
    ----------
    description : str
        One line: the model and its data.
    build : callable
        ``build()`` returns the untrained model (its weights seeded).
    fit : callable
        ``fit(model, length, device, iw_k, iw_images, directory=folder)``
        trains the model in place for ``length`` epochs or steps and
        returns the record's results: a dict with the loss curves, the
        final losses and the metrics. ``directory`` is where the files are
        written, and where a model that needs another shipped model (the
        β-VAE_DAE needs its DAE) finds it.
    evaluate : callable
        ``evaluate(model, directory)`` returns the evaluation loss of a
        trained model on the evaluation set, a float; :func:`evaluate`
        calls it and the tests check it against the record. ``directory``
        is where to find another shipped model it needs (the prior needs
        its VQ-VAE).
    evaluation_set : str
        The data the evaluation loss is computed on, in words.
    length : int
        Epochs or steps of the shipped run.
    unit : {"epochs", "steps"}
        What ``length`` counts.
    seed : int
        The seed of the initial weights and of the training.
    iw_k : int
        Importance samples of the shipped run's log p(x) estimate (0: none).
    iw_images : int
        On how many evaluation images (the first ones) it is computed.
    """

    description: str
    build: Callable[[], torch.nn.Module]
    fit: Callable[..., dict]
    evaluate: Callable[[torch.nn.Module], float]
    evaluation_set: str
    length: int
    unit: str = "epochs"
    seed: int = 0
    iw_k: int = 0
    iw_images: int = 0


# --- the chapter's VAE, trained long -----------------------------------------

_VAE_SEED = 0
_VAE_SETTINGS = {"batch_size": 100, "lr": 1e-3, "seed": _VAE_SEED}


def _cpu_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of a trained model on the CPU, in eval mode, to evaluate.

    The model itself stays on the device it was trained on, which the
    command checks before it writes the record.
    """
    return copy.deepcopy(model).cpu().eval()


# --- long runs on the sprites (chapters 11 and 13) ---------------------------

# A long run writes a checkpoint this often and goes on from it when it is
# started again (the command removes it once the files are written).
_CHECKPOINT_EVERY = 5_000
# From this many steps a run reads its batches from the pre-drawn grid:
# building it then costs a few per cent of the run.
_GRID_FROM_STEPS = 20_000


def _long_run(
    name: str, steps: int, length: int, directory: str | Path | None
) -> tuple[object, Path | None]:
    """The pre-drawn grid and the checkpoint of a run on the sprites.

    A long run reads its batches from the grid (built once in the cache
    folder, a minute or two): the same bits as drawing them, faster. A
    short trial or test run draws them. The shipped run (``steps ==
    length``) keeps a checkpoint beside its files: stopped, it goes on from
    there when the same command is run again.
    """
    from vaecourse import sprites

    grid = None
    if steps >= _GRID_FROM_STEPS or steps == length:
        grid = sprites.ReducedGrid(build=True)
    checkpoint = None
    if steps == length and directory is not None:
        checkpoint = Path(directory) / f"{name}.checkpoint.safetensors"
    return grid, checkpoint


def _training_time(checkpoint: Path | None) -> dict:
    """The wall time over every process of a checkpointed run, and starts."""
    from vaecourse import loop

    if checkpoint is None:
        return {}
    state = loop.checkpoint_state(checkpoint)
    return {
        "training_wall_time_s": round(state["wall_s"], 1),
        "started_at_steps": state["starts"],
    }


def _batches(grid, drawn_by: str) -> str:
    """Where a run's batches came from, for its record."""
    if grid is None:
        return f"drawn at each step ({drawn_by})"
    return (
        "read from the pre-drawn grid (vaecourse.sprites.ReducedGrid, "
        f"sha256 {grid.sha256})"
    )


def _mnist_binarized():
    from vaecourse import data

    train_images = data.load_mnist_subset("train", binarized=True).images
    test_images = data.load_mnist_subset("test", binarized=True).images
    return train_images, test_images


def _build_vae():
    from vaecourse.models import VAE
    from vaecourse.train import set_seed

    set_seed(_VAE_SEED)  # the initial weights
    return VAE(input_dim=784, hidden_dim=400, latent_dim=20)


def _evaluate_vae(model, directory=None) -> float:
    from vaecourse.train import evaluate_vae

    _, test_images = _mnist_binarized()
    device = next(model.parameters()).device
    return evaluate_vae(model, test_images.to(device), seed=0).loss.item()


def _fit_vae(
    model, epochs: int, device: str, iw_k: int, iw_images: int, **_
) -> dict:
    """Train ``epochs`` epochs, then again up to the best test epoch.

    Training is deterministic, so the second run stops with the weights
    the first had at its best epoch: early stopping without a copy of
    every epoch's weights.
    """
    from vaecourse.train import importance_weighted_log_px, train_vae

    train_images, test_images = _mnist_binarized()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    curves = train_vae(
        model,
        train_images,
        test_images,
        epochs=epochs,
        device=device,
        **_VAE_SETTINGS,
    )
    best = int(np.argmin(curves.test_loss)) + 1
    model.load_state_dict(initial)
    rerun = train_vae(
        model,
        train_images,
        test_images,
        epochs=best,
        device=device,
        **_VAE_SETTINGS,
    )
    model.eval()
    generator = torch.Generator(device=device).manual_seed(_VAE_SEED)
    log_px = importance_weighted_log_px(
        model,
        test_images[:iw_images],
        k=iw_k,
        generator=generator,
        batch_size=1,
    )
    return {
        "curves": curves.columns(),
        "best_epoch": best,
        "rerun_matches_curve": (
            rerun.test_loss[-1] == curves.test_loss[best - 1]
        ),
        "final": {
            "train_loss": rerun.train_loss[-1],
            "test_loss": rerun.test_loss[-1],
            "test_reconstruction": rerun.test_reconstruction[-1],
            "test_kl": rerun.test_kl[-1],
        },
        "importance_weighted": {
            "k": iw_k,
            "images": iw_images,
            "log_px_mean": log_px.double().mean().item(),
            "log_px_std_error": (
                log_px.double().std() / len(log_px) ** 0.5
            ).item(),
        },
    }


# --- chapter 0's first look: the 2-D VAE of the latent explorer --------------

# The settings of book/00_first_look.ipynb, which trains the same model in
# its first code cell: the book's latent explorer decodes these weights.
_FIRST_LOOK_SETTINGS = {"batch_size": 100, "lr": 3e-3, "seed": 0}


def _mnist_grey():
    from vaecourse import data

    train_images = data.load_mnist_subset("train").images
    test_images = data.load_mnist_subset("test").images
    return train_images, test_images


def _build_first_look_vae():
    from vaecourse.models import VAE
    from vaecourse.train import set_seed

    set_seed(0)  # the initial weights, as in chapter 0
    return VAE(input_dim=784, hidden_dim=128, latent_dim=2)


def _evaluate_first_look(model, directory=None) -> float:
    from vaecourse.train import evaluate_vae

    _, test_images = _mnist_grey()
    device = next(model.parameters()).device
    return evaluate_vae(model, test_images.to(device), seed=0).loss.item()


def _fit_first_look(model, epochs: int, device: str, *_, **__) -> dict:
    from vaecourse.train import train_vae

    train_images, test_images = _mnist_grey()
    curves = train_vae(
        model,
        train_images,
        test_images,
        epochs=epochs,
        device=device,
        **_FIRST_LOOK_SETTINGS,
    )
    return {
        "settings": _FIRST_LOOK_SETTINGS,
        "curves": curves.columns(),
        "final": {
            "evaluation_loss": _evaluate_first_look(model),
            "train_loss": curves.train_loss[-1],
            "test_loss": curves.test_loss[-1],
            "test_reconstruction": curves.test_reconstruction[-1],
            "test_kl": curves.test_kl[-1],
        },
    }


# --- chapter 11's beta-VAEs on the sprites -----------------------------------

_SPRITES_SEED = 0
_SPRITES_STEPS = 100_000
_CAPACITY_STEPS = 120_000
_SPRITES_SETTINGS = {"batch_size": 64, "lr": 5e-4, "log_every": 250}
# Each unit's KL and information I(x; z_j) are recorded this often.
_UNITS_EVERY = 1_000
_SPRITES_EVALUATION_SET = (
    "vaecourse.beta_vae.evaluation_classes(): 2,000 sprites drawn uniformly "
    "from the grid (seed 1,000,003), 32x32; negative ELBO (beta = 1) with "
    "one z per image, evaluate_beta_vae(seed=0)"
)
# Burgess et al. use gamma = 1000 on 64 x 64 images. The reconstruction
# term is a sum over pixels, so on the course's 32 x 32 images (a quarter
# of the pixels) the same balance between the two terms is gamma = 250.
# Unscaled, gamma = 1000 collapses the encoder before C has grown
# (chapter "β-VAE" and the appendix "How the shipped models were made").
_CAPACITY = (25.0, 100_000, 1000.0 * 32**2 / 64**2)
_SPRITES_MODELS = [
    (
        "sprites_beta1",
        "ConvVAE(32), 10 latents, beta = 1 (a plain VAE) on 32x32 sprites, "
        "100,000 steps of 64, Adam lr 5e-4",
        {"beta": 1.0},
        _SPRITES_STEPS,
    ),
    (
        "sprites_beta4",
        "ConvVAE(32), 10 latents, beta = 4 on 32x32 sprites, 100,000 steps "
        "of 64, Adam lr 5e-4",
        {"beta": 4.0},
        _SPRITES_STEPS,
    ),
    (
        "sprites_beta16",
        "ConvVAE(32), 10 latents, beta = 16 on 32x32 sprites, 100,000 steps "
        "of 64, Adam lr 5e-4",
        {"beta": 16.0},
        _SPRITES_STEPS,
    ),
    (
        "sprites_capacity",
        "ConvVAE(32), 10 latents, capacity objective (C from 0 to 25 nats "
        "over 100,000 steps, gamma 250: Burgess et al.'s 1000 scaled to a "
        "quarter of the pixels) on 32x32 sprites, 120,000 steps of 64, "
        "Adam lr 5e-4",
        {"capacity": _CAPACITY},
        _CAPACITY_STEPS,
    ),
    (
        "sprites_capacity_unscaled",
        "ConvVAE(32), 10 latents, capacity objective with Burgess et al.'s "
        "gamma = 1000 not scaled to 32x32 images (C from 0 to 25 nats over "
        "100,000 steps) on 32x32 sprites, 5,000 steps of 64, Adam lr 5e-4: "
        "the collapse that scaling gamma avoids",
        {"capacity": (25.0, 100_000, 1000.0), "units_every": 250},
        5_000,
    ),
]


def _build_sprites_vae():
    from vaecourse.beta_vae import IMAGE_SIZE
    from vaecourse.models import ConvVAE
    from vaecourse.train import set_seed

    set_seed(_SPRITES_SEED)  # the initial weights: the same for all
    return ConvVAE(image_size=IMAGE_SIZE, latent_dim=10)


def _evaluate_sprites_vae(model, directory=None) -> float:
    from vaecourse.beta_vae import evaluate_beta_vae

    return evaluate_beta_vae(model, seed=0).loss.item()


def _sprites_fit(
    name: str,
    length: int,
    beta: float = 1.0,
    capacity: tuple | None = None,
    units_every: int | None = _UNITS_EVERY,
    metric_sizes: dict | None = None,
):
    """The ``fit`` of a sprites recipe: the beta or capacity objective.

    The record's metrics are at ``metric_sizes``
    (:data:`vaecourse.beta_vae.RECORD_METRIC_SIZES` by default); a
    shortened run (a test, a trial) scores at the chapter's sizes.
    """

    def fit(
        model,
        steps: int,
        device: str,
        iw_k: int,
        iw_images: int,
        directory=None,
    ):
        from vaecourse import beta_vae

        schedule = None if capacity is None else beta_vae.Capacity(*capacity)
        # The grid also serves a shipped run's scoring, whose millions of
        # metric images would not fit in memory if drawn and kept.
        grid, checkpoint = _long_run(name, steps, length, directory)
        curves = beta_vae.train_beta_vae(
            model,
            steps=steps,
            beta=beta,
            capacity=schedule,
            seed=_SPRITES_SEED,
            device=device,
            grid=grid,
            units_every=units_every,
            checkpoint=checkpoint,
            checkpoint_every=_CHECKPOINT_EVERY,
            **_SPRITES_SETTINGS,
        )
        # Evaluated on the CPU, on a copy: the model stays where it was
        # trained (the command checks it), the numbers do not depend on it.
        trained = _cpu_copy(model)
        terms = beta_vae.evaluate_beta_vae(trained, seed=0)
        if steps != length:
            sizes = beta_vae.CHAPTER_METRIC_SIZES
        elif metric_sizes is None:
            sizes = beta_vae.RECORD_METRIC_SIZES
        else:
            sizes = metric_sizes
        scores = beta_vae.disentanglement_scores(
            {"model": trained}, sizes, grid=grid
        )["model"]
        return {
            "objective": (
                {"beta": beta}
                if schedule is None
                else {"capacity": schedule._asdict()}
            ),
            "settings": _SPRITES_SETTINGS,
            "batches": _batches(grid, "vaecourse.sprites.reduced_images"),
            **_training_time(checkpoint),
            "curves": curves.columns(),
            "final": {
                "evaluation_loss": terms.loss.item(),
                "evaluation_reconstruction": terms.reconstruction.item(),
                "evaluation_kl": terms.kl.item(),
                "kl_per_unit": beta_vae.kl_per_unit(trained).tolist(),
            },
            "metrics": {"sizes": sizes, "seed": 0, **scores},
        }

    return fit


# --- chapter 13's DARLA models on coloured sprites ---------------------------

_DARLA_SEED = 0
_DARLA_EVALUATION_SIZE = 1_000
_DARLA_EVALUATION_SEED = 3_000_017
_DARLA_EVALUATION_SET = (
    "1,000 source-colour sprites, vaecourse.darla.sample_sprites(1000, "
    "'source', 3000017), 32x32 RGB"
)
_DARLA_DAE_SETTINGS = {"mask_fraction": 0.5, "lr": 1e-3, "batch_size": 64}
_DARLA_VAE_SETTINGS = {"lr": 5e-4, "batch_size": 64}
# The DAE, a plain autoencoder with no KL to balance, needs fewer steps
# than the VAEs; the VAEs train as long as chapter 11's.
_DARLA_DAE_STEPS = 20_000
_DARLA_VAE_STEPS = 100_000
# beta of the beta-VAE_DAE. Its loss is a squared distance in the DAE's
# logits, not nats, so the beta-VAE's 4 does not carry over. The rule:
# the smallest beta on the grid of scripts/darla_beta_trials.py whose
# trial run ends with no more KL than the beta-VAE's (beta = 4) at the
# same step, so that the two spend about the same nats on the code and
# differ in how they measure the reconstruction.
# tests/test_pretrained.py checks the shipped records: the beta-VAE_DAE's
# KL below the VAE's. The trials (5,000 steps, means of the last 250):
# the beta-VAE's KL 6.77 nats; beta = 1,140: 8.59; beta = 2,280: 6.71,
# the first at most the beta-VAE's. (An earlier rule, less KL than the
# VAE's at 5,000 steps, chose 570: 10.44 against 11.22 nats, but that
# run's KL rose to 11.7 by 50,000 steps, above the VAE's.)
_DARLA_DAE_BETA = 2280.0


def _darla_images():
    from vaecourse import darla

    return darla.sample_sprites(
        _DARLA_EVALUATION_SIZE, "source", _DARLA_EVALUATION_SEED
    ).images


def _build_dae():
    from vaecourse import darla
    from vaecourse.train import set_seed

    set_seed(_DARLA_SEED)
    return darla.DenoisingAutoencoder()


def _fit_dae(model, steps, device, iw_k, iw_images, directory=None):
    from vaecourse import darla

    grid, checkpoint = _long_run(
        "darla_dae", steps, _DARLA_DAE_STEPS, directory
    )
    curves = darla.train_dae(
        model,
        steps=steps,
        seed=_DARLA_SEED,
        device=device,
        grid=grid,
        checkpoint=checkpoint,
        checkpoint_every=_CHECKPOINT_EVERY,
        **_DARLA_DAE_SETTINGS,
    )
    return {
        "settings": _DARLA_DAE_SETTINGS,
        "batches": _batches(grid, "vaecourse.darla.sample_sprites"),
        **_training_time(checkpoint),
        "curves": curves.columns(),
        "final": {"evaluation_loss": _evaluate_dae(_cpu_copy(model))},
    }


def _evaluate_dae(model, directory=None) -> float:
    """The DAE's cross-entropy on masked evaluation images, seed 0."""
    from vaecourse import darla
    from vaecourse.losses import bernoulli_nll_with_logits

    x = _darla_images()
    generator = torch.Generator().manual_seed(0)
    noisy = darla.mask_pixels(
        x, _DARLA_DAE_SETTINGS["mask_fraction"], generator
    )
    with torch.no_grad():
        return bernoulli_nll_with_logits(x, model(noisy)).mean().item()


def _build_colour_vae():
    from vaecourse import darla
    from vaecourse.train import set_seed

    set_seed(_DARLA_SEED)  # the same initial weights for all three
    return darla.ColourConvVAE(latent_dim=10)


def _evaluate_colour_vae(model, directory=None) -> float:
    """Bernoulli negative ELBO (beta = 1) on the evaluation images."""
    from vaecourse.train import evaluate_vae

    return evaluate_vae(model, _darla_images(), seed=0).loss.item()


def _darla_fit(name: str, objective: str, beta: float):
    def fit(model, steps, device, iw_k, iw_images, directory=None):
        from vaecourse import darla, readouts
        from vaecourse.train import evaluate_vae

        dae = None
        if objective == "dae":  # J, trained first, from the same folder
            dae = darla.freeze(load("darla_dae", directory, device=device))
        grid, checkpoint = _long_run(name, steps, _DARLA_VAE_STEPS, directory)
        curves = darla.train_darla_vae(
            model,
            objective=objective,
            steps=steps,
            beta=beta,
            dae=dae,
            seed=_DARLA_SEED,
            device=device,
            grid=grid,
            checkpoint=checkpoint,
            checkpoint_every=_CHECKPOINT_EVERY,
            **_DARLA_VAE_SETTINGS,
        )
        trained = _cpu_copy(model)
        terms = evaluate_vae(trained, _darla_images(), seed=0)
        sets = darla.transfer_sets()

        def encode(x):
            return darla.encoder_means(trained, x)

        rotation = readouts.random_rotation(trained.latent_dim, seed=0)
        return {
            "objective": {"name": objective, "beta": beta},
            "settings": _DARLA_VAE_SETTINGS,
            "batches": _batches(grid, "vaecourse.darla.sample_sprites"),
            **_training_time(checkpoint),
            "curves": curves.columns(),
            "final": {
                "evaluation_loss": terms.loss.item(),
                "evaluation_reconstruction": terms.reconstruction.item(),
                "evaluation_kl": terms.kl.item(),
            },
            "readouts": darla.readout_transfer(encode, sets),
            "readouts_rotated": darla.readout_transfer(
                encode, sets, rotation=rotation
            ),
            "transfer": darla.transfer_scores(trained),
        }

    return fit


_DARLA_MODELS = [
    (
        "darla_vae_beta1",
        "ColourConvVAE, 10 latents, beta = 1, Bernoulli loss, source-colour "
        "sprites, 100,000 steps of 64, Adam lr 5e-4",
        "bernoulli",
        1.0,
    ),
    (
        "darla_vae_beta4",
        "ColourConvVAE, 10 latents, beta = 4, Bernoulli loss, source-colour "
        "sprites, 100,000 steps of 64, Adam lr 5e-4",
        "bernoulli",
        4.0,
    ),
    (
        "darla_vae_dae",
        "ColourConvVAE, 10 latents, beta-VAE_DAE: squared distance in the "
        f"frozen darla_dae's output logits + {_DARLA_DAE_BETA:,.0f} KL, "
        "source-colour sprites, 100,000 steps of 64, Adam lr 5e-4",
        "dae",
        _DARLA_DAE_BETA,
    ),
]


# --- chapter 12's VQ-VAE and its PixelCNN prior ------------------------------

_VQ_SEED = 0
_VQ_SETTINGS = {
    "batch_size": 64,
    "lr": 1e-3,
    "seed": _VQ_SEED,
    "dead_code_threshold": 1.0,
}
_PRIOR_SETTINGS = {"batch_size": 64, "lr": 1e-3, "seed": _VQ_SEED}


def _build_vqvae():
    from vaecourse import vq
    from vaecourse.train import set_seed

    set_seed(_VQ_SEED)
    return vq.VQVAE(64, 16, hidden=32, n_blocks=2, ema=True)


def _evaluate_vqvae(model, directory=None) -> float:
    """Negative ELBO with the uniform prior on the held-out digits."""
    from vaecourse import vq

    _, test_images = _mnist_binarized()
    return vq.negative_elbo(model, test_images).mean().item()


def _fit_vqvae(model, epochs, device, iw_k, iw_images, **_):
    from vaecourse import vq

    train_images, test_images = _mnist_binarized()
    history = vq.train_vq_vae(
        model,
        train_images,
        epochs=epochs,
        test_images=test_images,
        device=device,
        **_VQ_SETTINGS,
    )
    trained = _cpu_copy(model)
    codes = trained.encode_codes(test_images)
    return {
        "settings": _VQ_SETTINGS,
        "curves": history.columns(),
        "final": {
            "evaluation_loss": _evaluate_vqvae(trained),
            "test_reconstruction": history.test_reconstruction[-1],
            "test_perplexity": vq.perplexity(codes, model.num_codes).item(),
            "test_codes_used": vq.codes_used(codes, model.num_codes),
        },
    }


def _build_prior():
    from vaecourse import vq
    from vaecourse.train import set_seed

    set_seed(_VQ_SEED + 1)
    return vq.PixelCNNPrior(64)


def _prior_codes(directory=None):
    """The VQ-VAE's code grids of the training and held-out digits."""
    train_images, test_images = _mnist_binarized()
    model = load("mnist_vqvae", directory)
    with torch.no_grad():
        return model.encode_codes(train_images), model.encode_codes(
            test_images
        )


def _evaluate_prior(prior, directory=None) -> float:
    """Mean NLL of the held-out digits' code grids, nats per grid."""
    _, test_codes = _prior_codes(directory)
    return prior.nll(test_codes).mean().item()


def _fit_prior(prior, epochs, device, iw_k, iw_images, directory=None):
    from vaecourse import vq

    train_codes, test_codes = _prior_codes(directory)
    history = vq.train_prior(
        prior,
        train_codes,
        epochs=epochs,
        test_codes=test_codes,
        device=device,
        **_PRIOR_SETTINGS,
    )
    trained = _cpu_copy(prior)
    _, test_images = _mnist_binarized()
    model = load("mnist_vqvae", directory)
    return {
        "settings": _PRIOR_SETTINGS,
        "curves": history.columns(),
        "final": {
            "evaluation_loss": trained.nll(test_codes).mean().item(),
            "test_negative_elbo": vq.negative_elbo(model, test_images, trained)
            .mean()
            .item(),
            "test_bits_per_dim": vq.bits_per_dim(model, test_images, trained),
        },
    }


#: The shipped models, by name.
RECIPES: dict[str, Recipe] = {
    "mnist_vae_m2": Recipe(
        description=(
            "784-128-2 VAE of chapter 0, Bernoulli decoder on grey MNIST "
            "subset (4,000 training images), Adam lr 3e-3, batch 100, 10 "
            "epochs, in the portable numerical mode (scripts/"
            "portable_numerics.py), so that its weights are chapter 0's, "
            "bit for bit: the model of the book's latent explorer"
        ),
        build=_build_first_look_vae,
        fit=_fit_first_look,
        evaluate=_evaluate_first_look,
        evaluation_set=(
            "the 1,000 held-out grey images of vaecourse.data."
            "load_mnist_subset('test'); negative ELBO with one z per "
            "image, evaluate_vae(seed=0)"
        ),
        length=10,
        unit="epochs",
        seed=0,
        iw_k=0,
        iw_images=0,
    ),
    "mnist_vae_m20": Recipe(
        description=(
            "784-400-20 VAE, Bernoulli decoder, binarized MNIST subset "
            "(4,000 training images), Adam lr 1e-3, batch 100, best test "
            "epoch of 100"
        ),
        build=_build_vae,
        fit=_fit_vae,
        evaluate=_evaluate_vae,
        evaluation_set=(
            "the 1,000 held-out images of vaecourse.data.load_mnist_subset"
            "('test', binarized=True), drawn from MNIST's training set; "
            "negative ELBO with one z per image, evaluate_vae(seed=0)"
        ),
        length=100,
        unit="epochs",
        seed=_VAE_SEED,
        iw_k=5000,
        iw_images=500,
    ),
    **{
        name: Recipe(
            description=description,
            build=_build_sprites_vae,
            fit=_sprites_fit(name, length, **settings),
            evaluate=_evaluate_sprites_vae,
            evaluation_set=_SPRITES_EVALUATION_SET,
            length=length,
            unit="steps",
            seed=_SPRITES_SEED,
        )
        for name, description, settings, length in _SPRITES_MODELS
    },
    "mnist_vqvae": Recipe(
        description=(
            "VQ-VAE, 7x7 grid of K = 64 codes of dimension 16, EMA codebook, "
            "dead codes re-seeded, binarized MNIST subset (4,000 training "
            "images), Adam lr 1e-3, batch 64, 40 epochs"
        ),
        build=_build_vqvae,
        fit=_fit_vqvae,
        evaluate=_evaluate_vqvae,
        evaluation_set=(
            "the 1,000 held-out images of vaecourse.data.load_mnist_subset"
            "('test', binarized=True); negative ELBO with a uniform prior "
            "over the codes, vaecourse.vq.negative_elbo"
        ),
        length=40,
        unit="epochs",
        seed=_VQ_SEED,
    ),
    "mnist_vqvae_prior": Recipe(
        description=(
            "PixelCNN prior over mnist_vqvae's 7x7 code grids (3 blocks, 64 "
            "channels), Adam lr 1e-3, batch 64, 12 epochs"
        ),
        build=_build_prior,
        fit=_fit_prior,
        evaluate=_evaluate_prior,
        evaluation_set=(
            "the code grids of mnist_vqvae for the 1,000 held-out images; "
            "mean negative log-likelihood per grid, in nats"
        ),
        length=12,
        unit="epochs",
        seed=_VQ_SEED + 1,
    ),
    "darla_dae": Recipe(
        description=(
            "DenoisingAutoencoder J: half the pixels masked to 0, Bernoulli "
            "loss on the clean image, source-colour sprites, 20,000 steps of "
            "64, Adam lr 1e-3"
        ),
        build=_build_dae,
        fit=_fit_dae,
        evaluate=_evaluate_dae,
        evaluation_set=_DARLA_EVALUATION_SET
        + "; cross-entropy of the clean images given masked copies "
        "(mask seed 0)",
        length=_DARLA_DAE_STEPS,
        unit="steps",
        seed=_DARLA_SEED,
    ),
    **{
        name: Recipe(
            description=description,
            build=_build_colour_vae,
            fit=_darla_fit(name, objective, beta),
            evaluate=_evaluate_colour_vae,
            evaluation_set=_DARLA_EVALUATION_SET
            + "; Bernoulli negative ELBO (beta = 1), one z per image, seed 0",
            length=_DARLA_VAE_STEPS,
            unit="steps",
            seed=_DARLA_SEED,
        )
        for name, description, objective, beta in _DARLA_MODELS
    },
}


# --- the models of the files -------------------------------------------------


def recipe(name: str) -> Recipe:
    """The recipe of ``name``; a ``KeyError`` lists the names there are."""
    if not isinstance(name, str) or name not in RECIPES:
        raise KeyError(
            f"no shipped model named {name!r}; the names are "
            + ", ".join(map(repr, RECIPES))
        )
    return RECIPES[name]


def record(name: str, directory: str | Path | None = None) -> dict:
    """The JSON record of the run that made the weights of ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`~vaecourse.pretrained.recipes.RECIPES`.
    directory : str or pathlib.Path, optional
        Where the files are; the package's ``weights`` folder by default.

    Returns
    -------
    dict
        The command, seed, epochs or steps, wall time, machine, library
        versions, curves, final losses and metrics.

    Raises
    ------
    vaecourse.pretrained.WeightsError
        If the file is missing or is not a valid record
        (:func:`vaecourse.pretrained.files.read_record`).
    """
    recipe(name)
    return files.read_record(name, directory)


def load(
    name: str,
    directory: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """The shipped model ``name``, with its weights, in eval mode.

    The weights are read with safetensors (no pickle) and checked: size,
    the SHA-256 of the record, finite numbers
    (:func:`vaecourse.pretrained.files.read_state`).

    Parameters
    ----------
    name : str
        A key of :data:`~vaecourse.pretrained.recipes.RECIPES`.
    directory : str or pathlib.Path, optional
        Where the files are; the package's ``weights`` folder by default.
    device : str or torch.device, default "cpu"
        Where to put the weights; one that this machine has.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    vaecourse.pretrained.WeightsError
        If the weights or the record are missing, corrupt, or do not fit
        the model; the message names the file and the command that
        remakes it.
    """
    chosen = recipe(name)
    device = check_device(device)
    state = files.read_state(name, directory, device)
    model = chosen.build().to(device)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        path, _ = files.paths(name, directory)
        raise files.fail(
            path, name, f"does not fit the model ({error})"
        ) from None
    return model.eval()


def evaluate(
    model: torch.nn.Module,
    name: str,
    directory: str | Path | None = None,
) -> float:
    """The evaluation loss of ``model`` as the record of ``name`` gives it.

    ``directory``: where the shipped files are (the package's by default),
    for a model whose evaluation needs another one.
    """
    with torch.no_grad():
        return recipe(name).evaluate(model, directory)
