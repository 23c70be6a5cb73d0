"""The GPU path: training, log p(x) and the conv VAE on CUDA against the CPU.

Every test here skips, with the reason, where no CUDA device is present;
the course must pass everything without one. On a GPU, results agree with
the CPU's to a tolerance, not bit for bit (other kernels, other rounding,
and the noise of a CUDA generator is not the CPU's: the tests draw it on
the CPU, or compare what does not depend on it).
"""

from __future__ import annotations

import pytest
import torch

from vaecourse.models import VAE, ConvVAE
from vaecourse.selfcheck import PPCA_X, ppca_log_px, ppca_vae
from vaecourse.train import (
    evaluate_vae,
    importance_weighted_log_px,
    set_seed,
    train_vae,
)

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device: the GPU path is tested only where one exists",
)


def binary_images(n, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, *shape, generator=g) > 0.6).float()


def prototypes(n, d, seed=0):
    """Binary vectors from 3 noisy prototypes: easy to learn."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(3, d, generator=g) > 0.5).float()
    picks = protos[torch.randint(0, 3, (n,), generator=g)]
    flips = torch.rand(n, d, generator=g) < 0.05
    return torch.where(flips, 1 - picks, picks)


def twin_models(build):
    """The same initial weights, one copy on the CPU and one on CUDA."""
    set_seed(0)
    cpu = build()
    set_seed(0)
    gpu = build().to("cuda")
    return cpu, gpu


@pytest.fixture(autouse=True)
def exact_float32():
    # TF32 matmuls would round to 10 bits: keep float32 for the comparison.
    previous = torch.backends.cuda.matmul.allow_tf32
    cudnn_previous = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = previous
    torch.backends.cudnn.allow_tf32 = cudnn_previous


def test_the_loss_and_its_gradients_agree_with_the_cpu():
    cpu, gpu = twin_models(lambda: VAE(64, 32, 4))
    x = binary_images(16, (64,))
    terms = {}
    for name, model in (("cpu", cpu), ("gpu", gpu)):
        device = next(model.parameters()).device
        mu, logvar = model.encode(x.to(device))
        eps = torch.randn(
            mu.shape, generator=torch.Generator().manual_seed(1)
        ).to(device)  # the same noise on both
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = model.decode(z)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x.to(device), reduction="sum"
        ) / len(x) - 0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp()) / len(
            x
        )
        loss.backward()
        terms[name] = (
            loss.detach().cpu(),
            [p.grad.cpu() for p in model.parameters()],
        )
    torch.testing.assert_close(terms["gpu"][0], terms["cpu"][0])
    for g_gpu, g_cpu in zip(terms["gpu"][1], terms["cpu"][1], strict=True):
        torch.testing.assert_close(g_gpu, g_cpu, rtol=1e-4, atol=1e-5)


def test_train_vae_on_cuda_reaches_the_cpus_loss():
    # The noise comes from a CUDA generator there: other draws, so the
    # two runs agree in distribution, to a tolerance on the final loss.
    data = prototypes(600, 64)
    histories = {}
    for device in ("cpu", "cuda"):
        set_seed(0)
        model = VAE(64, 32, 4)
        histories[device] = train_vae(
            model,
            data[:500],
            data[500:],
            epochs=8,
            batch_size=50,
            lr=3e-3,
            device=device,
        )
        assert next(model.parameters()).device.type == device
    cpu, gpu = histories["cpu"], histories["cuda"]
    assert gpu.test_loss[-1] < 0.7 * gpu.test_loss[0]
    assert abs(gpu.test_loss[-1] - cpu.test_loss[-1]) < 0.05 * abs(
        cpu.test_loss[-1]
    )
    # reproducible on the GPU too, for a given seed
    set_seed(0)
    again = train_vae(
        VAE(64, 32, 4),
        data[:500],
        data[500:],
        epochs=8,
        batch_size=50,
        lr=3e-3,
        device="cuda",
    )
    assert again.train_loss == pytest.approx(gpu.train_loss, rel=1e-5)


def test_evaluation_on_cuda_agrees_with_the_cpu_for_the_same_weights():
    cpu, gpu = twin_models(lambda: VAE(64, 32, 4))
    x = binary_images(200, (64,))
    # z = mu + sigma * eps with sigma -> 0: the noise no longer matters
    with torch.no_grad():
        for model in (cpu, gpu):
            model.logvar_head.bias.fill_(-30.0)
    a = evaluate_vae(cpu, x, seed=0)
    b = evaluate_vae(gpu, x, seed=0)
    torch.testing.assert_close(b.loss, a.loss, rtol=1e-5, atol=1e-4)


def test_the_blocked_estimator_on_cuda_gives_the_exact_log_px():
    # Probabilistic PCA with its exact posterior: every importance weight
    # equals p(x), so any draws give log p(x) (known in closed form).
    model = ppca_vae(exact_posterior=True).to("cuda")
    x = PPCA_X.to("cuda")
    for block in (3, 10**6):  # many blocks, and one
        estimate = importance_weighted_log_px(
            model,
            x,
            k=500,
            generator=torch.Generator("cuda").manual_seed(0),
            samples_per_block=block,
        )
        assert estimate.device.type == "cuda"
        torch.testing.assert_close(
            estimate.cpu(), ppca_log_px(PPCA_X), rtol=1e-5, atol=1e-4
        )


@pytest.mark.parametrize("size", [32, 64])
def test_the_conv_vae_on_cuda_agrees_with_the_cpu(size):
    cpu, gpu = twin_models(lambda: ConvVAE(size))
    x = binary_images(8, (1, size, size))
    mu_cpu, logvar_cpu = cpu.encode(x)
    mu_gpu, logvar_gpu = gpu.encode(x.cuda())
    torch.testing.assert_close(mu_gpu.cpu(), mu_cpu, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        logvar_gpu.cpu(), logvar_cpu, rtol=1e-4, atol=1e-5
    )
    z = torch.randn(8, 10, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        gpu.decode(z.cuda()).cpu(), cpu.decode(z), rtol=1e-4, atol=1e-4
    )
    # a few training steps on the GPU lower the loss
    history = train_vae(
        gpu, x.repeat(4, 1, 1, 1), epochs=3, batch_size=16, device="cuda"
    )
    assert history.train_loss[-1] < history.train_loss[0]


# --- every recipe of the shipped weights, on the GPU ------------------------


def _quick(name):
    from vaecourse import pretrained

    recipe = pretrained.RECIPES[name]
    return {recipe.unit: 1 if recipe.unit == "epochs" else 2, "iw_k": 2}


RECIPE_ORDER = [
    # the prior and the beta-VAE_DAE need the model before them in the folder
    "mnist_vae_m20",
    "sprites_beta1",
    "sprites_beta4",
    "sprites_capacity",
    "mnist_vqvae",
    "mnist_vqvae_prior",
    "darla_dae",
    "darla_vae_beta1",
    "darla_vae_beta4",
    "darla_vae_dae",
]


def test_every_recipe_trains_on_cuda_and_says_so(tmp_path):
    from vaecourse import pretrained

    assert sorted(RECIPE_ORDER) == sorted(pretrained.RECIPES)
    for name in RECIPE_ORDER:
        result = pretrained.train(
            name, device="cuda", out=tmp_path, **_quick(name)
        )
        assert result["machine"]["device"].startswith("cuda"), name
        assert "gpu" in result["machine"], name
        assert result["command"].endswith("--device cuda") or (
            "--device cuda " in result["command"]
        )


def test_a_cuda_checkpoint_goes_on_on_cuda_and_is_refused_on_the_cpu(
    tmp_path,
):
    from bad_inputs import raises

    from vaecourse.loop import load_checkpoint, save_checkpoint

    model = torch.nn.Linear(2, 1).to("cuda")
    optimizer = torch.optim.Adam(model.parameters())
    generator = torch.Generator(device="cuda").manual_seed(4)
    path = tmp_path / "run.checkpoint.safetensors"
    save_checkpoint(
        path,
        model=model,
        optimizer=optimizer,
        generators={"noise": generator},
        state={"taken": 0},
    )
    following = torch.rand(3, device="cuda", generator=generator)
    again = torch.Generator(device="cuda")
    load_checkpoint(
        path, model=model, optimizer=optimizer, generators={"noise": again}
    )
    assert torch.equal(
        torch.rand(3, device="cuda", generator=again), following
    )
    cpu_model = torch.nn.Linear(2, 1)
    raises(
        lambda: load_checkpoint(
            path,
            model=cpu_model,
            optimizer=torch.optim.Adam(cpu_model.parameters()),
            generators={"noise": torch.Generator()},
        ),
        ValueError,
        "was saved on cuda and this run's is on cpu",
    )
