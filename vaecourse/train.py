r"""The trainers of Parts I and II, and an estimate of log p(x).

- :func:`train_vae` minimises the negative ELBO of a
  :class:`vaecourse.models.VAE`, :func:`train_autoencoder` the
  reconstruction loss of an autoencoder, both with Adam in the package's
  one training loop, :func:`vaecourse.loop.train_loop`. They shuffle and
  sample with seeded ``torch.Generator`` objects of their own (so two runs
  on the CPU give the same numbers, and the global random state is left
  alone), and return a :class:`vaecourse.loop.History` of the loss terms
  per epoch on the training and test data.
- Losses follow the course convention: summed over pixels and latent units,
  averaged over the examples, in nats per example. The training loss of an
  epoch is the average over its examples, taken while the model changes
  (as in the PyTorch examples VAE); the test loss is computed after the
  epoch.
- The data are checked once, before the first step (shape, dtype, range).
  The steps then run without scanning the values again: one test of each
  step's loss and terms, and one of its gradients, says whether all is
  finite.
- A NaN or infinite loss or gradient stops training with
  :class:`vaecourse.loop.TrainingDiverged`, whose message names the epoch,
  the batch and the term or parameter, found by running the step again
  with every check on.
- :func:`importance_weighted_log_px` estimates :math:`\log p(x)` of a
  trained VAE (Burda et al., 2016), used in chapter "Training a VAE end to
  end". ``History`` and ``TrainingDiverged`` stay importable from here.
"""

from __future__ import annotations

import math
import random
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from vaecourse._validation import (
    check_batched,
    check_device,
    check_generator,
    check_in_unit_interval,
    check_int,
    check_real,
    values_checked,
)
from vaecourse.loop import (
    History,
    TrainingDiverged,  # noqa: F401  (importable from here, as before)
    epoch_batches,
    epoch_data,
    train_loop,
)
from vaecourse.losses import (
    ELBOTerms,
    bernoulli_nll_with_logits,
    negative_elbo,
    reconstruction_nll,
    sum_of_squares,
)
from vaecourse.models import (
    VAE,
    Autoencoder,
    LinearAutoencoder,
    flatten_batch,
)

__all__ = [
    "set_seed",
    "train_vae",
    "train_autoencoder",
    "evaluate_vae",
    "log_likelihood",
    "importance_weighted_log_px",
    "active_units",
]

# Seed offset of the noise used to evaluate on test data: fixed, so every
# epoch (and every run) sees the same noise.
_TEST_SEED_OFFSET = 1_000_003


def set_seed(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch; return a seeded generator.

    Call it before building a model, so its initial weights are
    reproducible. It is the one function of the package that touches the
    global random state: the training loops use generators of their own.

    Parameters
    ----------
    seed : int
        Any non-negative integer.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``.
    """
    seed = check_int("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


# --- checks and set-up -------------------------------------------------------


def _check_images(
    name: str, images: object, model: torch.nn.Module, unit_interval: bool
) -> torch.Tensor:
    """Check a data set for ``model`` before any step, naming the argument.

    Returns the images flattened to ``(N, input_dim)``.
    """
    dtype = next(model.parameters()).dtype
    images = flatten_batch(images, model.input_dim, name, dtype)
    check_batched(name, images)
    if unit_interval:  # a Bernoulli-type decoder models values in [0, 1]
        check_in_unit_interval(name, images)
    return images


def _set_up(
    model: torch.nn.Module,
    train_images: object,
    test_images: object,
    unit_interval: bool,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str | torch.device,
):
    """Checks and state shared by both training loops.

    Returns the checked (flattened) images, the device, the generator that
    shuffles the batches and the Adam optimizer. The global random state is
    not touched.
    """
    check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    lr = check_real("lr", lr, positive=True)
    seed = check_int("seed", seed, minimum=0)
    train_images = _check_images(
        "train_images", train_images, model, unit_interval
    )
    if test_images is not None:
        test_images = _check_images(
            "test_images", test_images, model, unit_interval
        )
    device = check_device(device)
    model.to(device)
    shuffle = torch.Generator().manual_seed(seed)
    # PyTorch's default Adam: on a CPU its loop over the parameters was
    # faster here than foreach=True (same numbers), and fused=True would
    # change the digits.
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return train_images, test_images, device, shuffle, optimizer


def _epoch_history(kl: bool) -> History:
    """An empty record of an epoch trainer: train and test series."""
    names = ["loss", "reconstruction"] + (["kl"] if kl else [])
    series = {
        f"{split}_{name}": [] for name in names for split in ("train", "test")
    }
    if not kl:  # an autoencoder's record keeps empty KL series
        series.update(train_kl=[], test_kl=[])
    return History(**series)


def _noise_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


# --- one step, and what went wrong when it is not finite ---------------------


def _elbo_step(
    model: VAE,
    x: torch.Tensor,
    beta: float,
    generator: torch.Generator,
    free_bits: float = 0.0,
) -> ELBOTerms:
    r"""The loss of one step: the one-sample negative ELBO of a batch.

    Encode, sample :math:`z \sim q(z \mid x)` once per example, decode, and
    score :math:`-\log p(x \mid z) + \beta\,\mathrm{KL}`.

    :func:`train_vae` runs it inside ``values_checked()`` (of
    ``vaecourse._validation``), on data it has checked: the loss functions
    then skip their scans for NaN and infinities, and one test of the
    three terms says whether the step is finite. Only when it is not is
    the step run again with every check on (``_checked_terms``).
    """
    output, mu, logvar = model(x, generator)
    return negative_elbo(
        x,
        output,
        mu,
        logvar,
        likelihood=model.likelihood,
        beta=beta,
        variance=model.decoder_variance,
        free_bits=free_bits,
    )


def _checked_terms(
    model: VAE,
    x: torch.Tensor,
    beta: float,
    noise: torch.Generator,
    state: torch.Tensor,
    terms: ELBOTerms,
) -> dict[str, torch.Tensor] | None:
    """The terms of a step that was not finite, computed again with checks.

    ``noise`` is set back to ``state``, its state before the step, so the
    step draws the same noise (the model has not changed). The loss
    functions, with every check on, then refuse a NaN or an infinity from
    the encoder or the decoder: ``None`` is returned. Any other
    ``ValueError`` of a check (a variance that is 0 in the data's dtype)
    is raised, as outside the training loop. Where the step run again is
    finite (kernels that are not deterministic), ``terms``, those of the
    step, are returned.
    """
    noise.set_state(state)
    with torch.no_grad():
        # No value scans in the forward pass: a NaN or an infinity from
        # the encoder reaches the loss functions, which are checked.
        with values_checked():
            output, mu, logvar = model(x, noise)
        try:
            again = negative_elbo(
                x,
                output,
                mu,
                logvar,
                likelihood=model.likelihood,
                beta=beta,
                variance=model.decoder_variance,
            )
        except ValueError:
            if not _is_finite(mu, logvar, output):
                return None
            raise
    if _is_finite(torch.stack(tuple(again))):
        again = terms
    return {name: value.detach() for name, value in again._asdict().items()}


def _is_finite(*values: torch.Tensor) -> bool:
    """Whether every value is finite, in one check (one synchronisation)."""
    if len(values) == 1:
        return bool(torch.isfinite(values[0]).all())
    flags = torch.stack([torch.isfinite(value).all() for value in values])
    return bool(flags.all())


def _diagnose_divergence(
    model: torch.nn.Module,
    x: torch.Tensor,
    terms: dict[str, torch.Tensor] | None,
) -> tuple[str, str]:
    """Why a step is not finite: the term and what is wrong with it.

    Called once a step's loss is NaN or infinite (``terms`` is ``None``
    when the VAE's forward pass already was, see ``_checked_terms``).
    Looks, in the order they are computed, at the encoder, the decoder,
    each loss term and the loss. Returns ``(term, detail)`` for
    :class:`vaecourse.loop.TrainingDiverged`.
    """
    if terms is None:
        with torch.no_grad():
            mu, logvar = model.encode(x)  # deterministic: the step's values
        mu_finite = _is_finite(mu)
        logvar_nan = bool(torch.isnan(logvar).any())
        if not mu_finite or logvar_nan:
            return (
                "kl",
                "the kl term is NaN: the encoder returned non-finite values "
                f"(mu finite: {mu_finite}, log-variance NaN: {logvar_nan}); "
                "an encoder that predicts sigma directly gives "
                "log(sigma^2) = NaN for sigma < 0",
            )
        if not _is_finite(logvar):
            return (
                "kl",
                "the kl term is inf: the encoder returned an infinite "
                "log-variance; an encoder that predicts sigma directly "
                "gives log(sigma^2) = -inf for sigma = 0",
            )
        return (
            "reconstruction",
            "the reconstruction term is NaN: the decoder returned NaN "
            "(or an infinity, which no likelihood can score)",
        )
    for term in ("reconstruction", "kl"):
        if term in terms and not _is_finite(terms[term]):
            return term, f"the {term} term is {terms[term].item()}"
    if "loss" in terms and not _is_finite(terms["loss"]):
        return (
            "loss",
            f"the loss is {terms['loss'].item()} though its terms are "
            f"finite: reconstruction + beta * kl overflows "
            f"{terms['loss'].dtype}",
        )
    raise AssertionError("_diagnose_divergence called on a finite step")


# --- evaluation --------------------------------------------------------------


def evaluate_vae(
    model: VAE,
    images: torch.Tensor,
    *,
    beta: float = 1.0,
    batch_size: int = 500,
    seed: int = 0,
) -> ELBOTerms:
    r"""Negative ELBO of a VAE on a data set, with sampled :math:`z`.

    In nats per example.

    Each example gets one sample :math:`z \sim q(z \mid x)` from a generator
    seeded with ``seed``: the one-sample estimate of :math:`-\mathrm{ELBO}`
    that training minimises. Decoding :math:`z = \mu` instead gives a smaller
    number that is not the ELBO (the pitfall of pytorch/examples PR #419).

    ``images`` are checked once (shape, dtype, values); the batches are then
    scored without scanning values again, and only a result that is not
    finite is computed again with every check on, which names what is wrong
    (a decoder that returns NaN, say).

    Returns
    -------
    vaecourse.losses.ELBOTerms
        ``(loss, reconstruction, kl)``, averages over ``images``, as floats
        in tensors.
    """
    if not isinstance(model, VAE):
        raise TypeError(
            f"model must be a vaecourse.models.VAE, got {type(model).__name__}"
        )
    images = _check_images("images", images, model, model.returns_logits)
    beta = check_real("beta", beta, minimum=0.0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    return _evaluate(model, images, beta, batch_size, seed)


def _evaluate(
    model: VAE,
    images: torch.Tensor,
    beta: float,
    batch_size: int,
    seed: int,
) -> ELBOTerms:
    """:func:`evaluate_vae` on checked images and arguments.

    The batches are scored without value scans; only if the result is not
    finite is the pass made again with every check on, which raises the
    error the checks give (or returns the same numbers).
    """
    with values_checked():
        terms = _evaluation_pass(model, images, beta, batch_size, seed)
    if _is_finite(torch.stack(tuple(terms))):
        return terms
    return _evaluation_pass(model, images, beta, batch_size, seed)


def _evaluation_pass(
    model: VAE,
    images: torch.Tensor,
    beta: float,
    batch_size: int,
    seed: int,
) -> ELBOTerms:
    device = next(model.parameters()).device
    return _mean_batch_terms(
        model,
        len(images),
        batch_size,
        seed,
        lambda index, noise: model.loss(
            images[index].to(device), beta=beta, generator=noise
        ),
    )


def _mean_batch_terms(model, n: int, batch_size: int, seed: int, terms_of):
    """The mean over ``n`` examples of ``terms_of(index, noise)``, the loss
    terms of the batch ``index`` (in order, ``batch_size`` at a time), in
    eval mode and without gradients; ``noise`` is one generator seeded with
    ``seed`` on the model's device. The evaluation of every VAE trainer."""
    device = next(model.parameters()).device
    generator = _noise_generator(seed, device)
    totals = torch.zeros(3, dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for index in epoch_batches(n, batch_size, None):
                terms = terms_of(index, generator)
                # float32 to float64 is exact: the sums of .item() values
                totals += len(index) * torch.stack(tuple(terms)).to(
                    "cpu", torch.float64
                )
    finally:
        model.train(was_training)
    mean = totals / n
    return ELBOTerms(loss=mean[0], reconstruction=mean[1], kl=mean[2])


# --- training ----------------------------------------------------------------


def train_vae(
    model: VAE,
    train_images: torch.Tensor,
    test_images: torch.Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    beta: float = 1.0,
    free_bits: float = 0.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    eval_every: int = 1,
) -> History:
    r"""Train a VAE with Adam on the negative ELBO.

    The loss is :meth:`vaecourse.models.VAE.loss`.

    Each step samples one :math:`z \sim q(z \mid x)` per example and minimises

    .. math::

        \frac1B \sum_{b=1}^{B} \left[-\log p(x_b \mid z_b)
        + \beta\, \mathrm{KL}\left(q(z \mid x_b) \,\|\,
                                 \mathcal N(0, I)\right)\right].

    The test loss is evaluated after each epoch (or every ``eval_every``
    epochs) with :func:`evaluate_vae`, on sampled :math:`z` (not
    :math:`z = \mu`), with the same fixed noise every time.

    What is seeded, exactly (so that a plain PyTorch loop reproduces the
    numbers bit for bit on the CPU):

    - ``shuffle = torch.Generator().manual_seed(seed)``; each epoch visits
      the examples in the order ``torch.randperm(N, generator=shuffle)``,
      cut into consecutive batches of ``batch_size`` (the last one smaller);
    - ``noise = torch.Generator(device).manual_seed(seed)`` draws
      :math:`\epsilon` of every step, through ``model(x, noise)``;
    - the optimizer is ``torch.optim.Adam(model.parameters(), lr=lr)``,
      and each step is ``zero_grad``, ``loss.backward()``, ``step``;
    - the test pass is ``evaluate_vae(model, test_images, beta=beta,
      seed=seed + 1_000_003)``: batches of 500 in order, in eval mode.

    The data are checked once, before the first step; the steps and the
    test passes then run without scanning values again. Each step's loss
    and its two terms are tested for finiteness in one check, and all
    gradients together in one fused check; only when a check fails is the
    step run again with every check on, and the culprit (term, parameter)
    looked for.

    Parameters
    ----------
    model : vaecourse.models.VAE
        Trained in place (moved to ``device``).
    train_images, test_images : torch.Tensor
        Shape ``(N, input_dim)`` or ``(N, ...)``, the dtype of the model's
        weights, values as the likelihood requires (in [0, 1] for the
        Bernoulli decoders). Checked before the first step.
    epochs, batch_size, lr : int, int, float
        Passes over the data, examples per step, Adam's learning rate.
    beta : float, default 1.0
        Weight of the KL term (1 for the ELBO), finite and non-negative.
    free_bits : float, default 0.0
        :math:`\lambda \ge 0`, nats per latent unit: above 0, the KL term
        of the training objective is
        :func:`vaecourse.losses.free_bits_kl` (no unit is pushed below
        :math:`\lambda`). ``train_loss`` is then that objective; the KL
        recorded, and every test value, are those of the ELBO.
    seed : int, default 0
        Seeds the shuffling and the noise, through generators of the
        function's own: the global random state of Python, NumPy and
        PyTorch is neither used nor changed. The initial weights are not set
        here: call :func:`set_seed` before building the model.
    device : str or torch.device, default "cpu"
        Where to train. Results are bit-for-bit reproducible on the CPU.
    progress : bool, default False
        Show a tqdm progress bar over epochs (keep it off in notebooks whose
        outputs are compared).
    eval_every : int, default 1
        Evaluate on ``test_images`` every ``eval_every`` epochs and after
        the last; the ``test_*`` lists hold NaN for the epochs skipped.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        If a loss term or a gradient becomes NaN or infinite; the message
        names the epoch, the batch and the term (or the parameter).
    """
    if not isinstance(model, VAE):
        raise TypeError(
            "model must be a vaecourse.models.VAE, "
            f"got {type(model).__name__}; "
            "use train_autoencoder for autoencoders"
        )
    beta = check_real("beta", beta, minimum=0.0)
    free_bits = check_real("free_bits", free_bits, minimum=0.0)
    eval_every = check_int("eval_every", eval_every, minimum=1)
    train_images, test_images, device, shuffle, optimizer = _set_up(
        model,
        train_images,
        test_images,
        model.returns_logits,
        epochs,
        batch_size,
        lr,
        seed,
        device,
    )
    noise = _noise_generator(seed, device)
    history = _epoch_history(kl=True)
    state = noise.get_state()

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        nonlocal state
        state = noise.get_state()  # to draw the same noise again
        with values_checked():  # the data were checked before epoch 1
            return _elbo_step(model, x, beta, noise, free_bits)._asdict()

    def explain(x: torch.Tensor, terms: dict) -> tuple[str, str]:
        terms = ELBOTerms(**terms)
        named = _checked_terms(model, x, beta, noise, state, terms)
        return _diagnose_divergence(model, x, named)

    def log(step: int, means: dict[str, float]) -> None:
        history.train_loss.append(means["loss"])
        history.train_reconstruction.append(means["reconstruction"])
        history.train_kl.append(means["kl"])

    step = 0
    for epoch in tqdm(
        range(1, epochs + 1), desc="epochs", disable=not progress
    ):
        batches = epoch_data(train_images, batch_size, shuffle, device)
        step = train_loop(
            model,
            objective,
            batches,
            optimizer,
            log=log,
            explain=explain,
            epoch=epoch,
            first_step=step + 1,
        )
        if test_images is None:
            continue
        if epoch % eval_every == 0 or epoch == epochs:
            # evaluate_vae without checking the test images again
            test = _evaluate(
                model, test_images, beta, 500, seed + _TEST_SEED_OFFSET
            )
            test_values = [t.item() for t in test]
        else:
            test_values = [math.nan] * 3
        history.test_loss.append(test_values[0])
        history.test_reconstruction.append(test_values[1])
        history.test_kl.append(test_values[2])
    model.eval()
    return history


def _reconstruction_loss(model, x: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-example reconstruction loss of an autoencoder, ``(batch,)``."""
    if loss == "bce":
        return bernoulli_nll_with_logits(x, model(x))
    return sum_of_squares(x, model.reconstruct(x))


def train_autoencoder(
    model: Autoencoder | LinearAutoencoder,
    train_images: torch.Tensor,
    test_images: torch.Tensor | None = None,
    *,
    loss: Literal["bce", "mse"] = "bce",
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> History:
    r"""Train an autoencoder with Adam on its reconstruction loss.

    ``loss="bce"``: binary cross-entropy from the decoder's logits,
    :math:`-\sum_i [x_i \log\hat x_i + (1 - x_i)\log(1 - \hat x_i)]`, for
    :class:`vaecourse.models.Autoencoder`. ``loss="mse"``: the squared error
    :math:`\|x - \hat x\|_2^2 = \sum_i (x_i - \hat x_i)^2` of the
    reconstruction (after the sigmoid for
    :class:`~vaecourse.models.Autoencoder`,
    the output itself for :class:`~vaecourse.models.LinearAutoencoder`).
    Either is summed over pixels and averaged over the batch; MSE per pixel
    is this number divided by ``input_dim``.

    Parameters
    ----------
    model : vaecourse.models.Autoencoder or vaecourse.models.LinearAutoencoder
        Trained in place.
    train_images, test_images : torch.Tensor
        Shape ``(N, input_dim)`` or ``(N, ...)``, the dtype of the model's
        weights, in [0, 1] for ``loss="bce"``. Checked before the first step.
    loss : {"bce", "mse"}, default "bce"
        The reconstruction loss; ``"bce"`` needs a model that returns logits.
    epochs, batch_size, lr, seed, device, progress
        As in :func:`train_vae` (the global random state is not touched).

    Returns
    -------
    History
        Loss and reconstruction (equal); the KL lists stay empty.

    Raises
    ------
    TrainingDiverged
        If the loss or a gradient becomes NaN or infinite.
    """
    if not isinstance(model, (Autoencoder, LinearAutoencoder)):
        raise TypeError(
            "model must be a vaecourse.models.Autoencoder or "
            f"LinearAutoencoder, got {type(model).__name__}"
            + ("; use train_vae for a VAE" if isinstance(model, VAE) else "")
        )
    if loss not in ("bce", "mse"):
        raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
    if loss == "bce" and not model.returns_logits:
        raise ValueError(
            "loss='bce' needs a model whose decoder returns logits; "
            f"{type(model).__name__} "
            "returns the reconstruction itself: use loss='mse'"
        )
    train_images, test_images, device, shuffle, optimizer = _set_up(
        model,
        train_images,
        test_images,
        loss == "bce",
        epochs,
        batch_size,
        lr,
        seed,
        device,
    )
    history = _epoch_history(kl=False)

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"reconstruction": _reconstruction_loss(model, x, loss).mean()}

    def log(step: int, means: dict[str, float]) -> None:
        history.train_loss.append(means["reconstruction"])
        history.train_reconstruction.append(means["reconstruction"])

    step = 0
    for epoch in tqdm(
        range(1, epochs + 1), desc="epochs", disable=not progress
    ):
        batches = epoch_data(train_images, batch_size, shuffle, device)
        step = train_loop(
            model,
            objective,
            batches,
            optimizer,
            minimise="reconstruction",
            log=log,
            epoch=epoch,
            first_step=step + 1,
        )
        if test_images is not None:
            model.eval()
            with torch.no_grad():
                test_total = sum(
                    _reconstruction_loss(
                        model, test_images[i].to(device), loss
                    )
                    .sum()
                    .item()
                    for i in epoch_batches(len(test_images), 500, None)
                )
            history.test_loss.append(test_total / len(test_images))
            history.test_reconstruction.append(history.test_loss[-1])
    model.eval()
    return history


# --- log p(x) ----------------------------------------------------------------


def log_likelihood(
    model: VAE, x: torch.Tensor, decoder_output: torch.Tensor
) -> torch.Tensor:
    r""":math:`\log p(x \mid z)` of the VAE's decoder, per example.

    Computed from the decoder's output for :math:`z` with the model's
    likelihood and variance, by
    :func:`vaecourse.losses.reconstruction_nll`.

    Parameters
    ----------
    model : vaecourse.models.VAE
        Gives the likelihood and the Gaussian variance.
    x, decoder_output : torch.Tensor
        Shape ``(batch, input_dim)``.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    if not isinstance(model, VAE):
        raise TypeError(
            f"model must be a vaecourse.models.VAE, got {type(model).__name__}"
        )
    return -reconstruction_nll(
        x, decoder_output, model.likelihood, model.decoder_variance
    )


def _log_normal(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension."""
    return -0.5 * (
        math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar)
    ).sum(-1)


def _sample_blocks(k: int, per_sample: int, samples: int) -> list[int]:
    """Split k draws into blocks of at most about ``samples`` draws.

    ``per_sample`` numbers are drawn per z. Every block but the last holds
    a multiple of 16 numbers: PyTorch's CPU ``randn`` fills 16 at a time,
    so the blocks then draw exactly the numbers one call for all k would
    (the last block never holds fewer than 16).
    """
    unit = 16 // math.gcd(16, per_sample)
    size = max(unit, samples // unit * unit)
    blocks = []
    left = k
    while left > 0:
        n = min(size, left)
        if 0 < (left - n) * per_sample < 16:
            n = left  # a tail under 16 numbers joins this block
        blocks.append(n)
        left -= n
    return blocks


def importance_weighted_log_px(
    model: VAE,
    x: torch.Tensor,
    k: int = 50,
    generator: torch.Generator | None = None,
    *,
    batch_size: int = 100,
    samples_per_block: int = 10_000,
) -> torch.Tensor:
    r"""Importance-weighted estimate of :math:`\log p(x)`, per example.

    The estimator of Burda et al. (2016).

    With :math:`z_1, \dots, z_k \sim q(z \mid x)` drawn independently,

    .. math::

        \begin{aligned}
        \hat{\mathcal L}_k(x)
        &= \log \frac1k \sum_{j=1}^{k}
            \frac{p(x \mid z_j)\, p(z_j)}{q(z_j \mid x)} \\
        &= \operatorname{logsumexp}_j \bigl[\log p(x \mid z_j)
            + \log p(z_j) \\
        &\qquad - \log q(z_j \mid x)\bigr] - \log k .
        \end{aligned}

    Its expectation is a lower bound on :math:`\log p(x)` that increases with
    :math:`k` and tends to :math:`\log p(x)` as :math:`k \to \infty`; for
    :math:`k = 1` its expectation is the ELBO. It is the usual way to report a
    VAE's test log-likelihood (chapter "Training a VAE end to end").

    Memory is bounded whatever :math:`k`: the :math:`k` samples of a batch
    are decoded in blocks of about ``samples_per_block`` decoded images
    (examples times samples), combined by a running log-sum-exp, so the
    largest tensors hold ``samples_per_block * input_dim`` numbers (31 MB
    in float32 for the default and 784 pixels). The draws are those of one
    call ``torch.randn((k, batch, latent_dim), generator=generator)`` per
    batch, so the result equals the all-at-once estimator up to rounding,
    and exactly when ``k * batch_size <= samples_per_block``.

    Parameters
    ----------
    model : vaecourse.models.VAE
        A trained VAE; evaluated in eval mode, and left in the mode it was in.
    x : torch.Tensor
        Shape ``(batch, input_dim)`` or ``(batch, ...)``, at least one example.
        Checked once.
    k : int, default 50
        Number of importance samples per example.
    generator : torch.Generator, optional
        Source of the samples.
    batch_size : int, default 100
        Examples encoded at once.
    samples_per_block : int, default 10000
        Images decoded at once (examples times samples), at least
        ``batch_size``; the bound on memory.

    Returns
    -------
    torch.Tensor
        :math:`\hat{\mathcal L}_k(x)` in nats, shape ``(batch,)``.
    """
    if not isinstance(model, VAE):
        raise TypeError(
            f"model must be a vaecourse.models.VAE, got {type(model).__name__}"
        )
    k = check_int("k", k, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    samples_per_block = check_int(
        "samples_per_block", samples_per_block, minimum=1
    )
    generator = check_generator(generator)
    x = _check_images("x", x, model, unit_interval=False)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    try:
        with torch.no_grad():
            for xb in x.split(batch_size):
                xb = xb.to(device)
                results.append(
                    _iw_batch(model, xb, k, generator, samples_per_block)
                )
    finally:
        model.train(was_training)
    return torch.cat(results)


def _iw_batch(
    model: VAE,
    xb: torch.Tensor,
    k: int,
    generator: torch.Generator | None,
    samples_per_block: int,
) -> torch.Tensor:
    """The estimate for one batch: blocks of k, a running log-sum-exp."""
    mu, logvar = model.encode(xb)
    std = torch.exp(0.5 * logvar)
    b, m = mu.shape
    running = None  # logsumexp of the log-weights seen so far, (b,)
    blocks = _sample_blocks(k, b * m, max(samples_per_block // b, 1))
    for size in blocks:
        eps = torch.randn(
            (size, b, m), generator=generator, dtype=mu.dtype, device=mu.device
        )
        z = mu + std * eps  # (size, b, m)
        output = model.decoder(z.reshape(-1, m))
        # x is not repeated k times: only within a block (bounded).
        targets = xb.expand(size, *xb.shape).reshape(size * b, -1)
        log_px_given_z = log_likelihood(model, targets, output).reshape(
            size, b
        )
        zeros = torch.zeros_like(z)
        log_weights = (
            log_px_given_z
            + _log_normal(z, zeros, zeros)
            - _log_normal(z, mu, logvar)
        )
        if running is not None:
            log_weights = torch.cat([running.unsqueeze(0), log_weights])
        running = torch.logsumexp(log_weights, dim=0)
    return running - math.log(k)


def active_units(
    model: VAE, images: torch.Tensor, threshold: float = 0.01
) -> torch.Tensor:
    r"""Which latent units the encoder uses (Burda et al., 2016).

    Their activity criterion:

    .. math::

        A_u = \operatorname{Cov}_x\left(\mathbb E_{q(z \mid x)}[z_u]\right)
            = \operatorname{Var}_x\left(\mu_u(x)\right) > \text{threshold}.

    A unit whose posterior mean does not change with :math:`x` carries no
    information about it: its :math:`q(z_u \mid x)` sits on the prior and its
    KL
    is near 0, the signature of posterior collapse (chapter "Training a VAE end
    to end").

    Parameters
    ----------
    model : vaecourse.models.VAE
    images : torch.Tensor
        Data, shape ``(N, input_dim)`` or ``(N, ...)``, with ``N >= 2``.
    threshold : float, default 0.01
        Burda et al.'s threshold on the variance.

    Returns
    -------
    torch.Tensor
        Boolean, shape ``(latent_dim,)``: True for an active unit.
    """
    if not isinstance(model, VAE):
        raise TypeError(
            f"model must be a vaecourse.models.VAE, got {type(model).__name__}"
        )
    images = _check_images("images", images, model, unit_interval=False)
    threshold = check_real("threshold", threshold, minimum=0.0)
    if len(images) < 2:
        raise ValueError(
            "images must hold at least 2 examples to measure a variance, "
            f"got {len(images)}"
        )
    device = next(model.parameters()).device
    with torch.no_grad():
        mu, _ = model.encode(images.to(device))
    return (mu.double().var(0, correction=0) > threshold).cpu()
