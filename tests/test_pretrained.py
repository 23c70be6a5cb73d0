"""The shipped weights: they load, reproduce their record, and can be remade.

Every file in ``vaecourse/weights`` is checked against its JSON record; the
command that remakes them runs for a few steps into a temporary folder; a
missing or corrupt file gives an error naming the file and the command.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vaecourse import pretrained
from vaecourse.pretrained import files

NAMES = sorted(pretrained.RECIPES)
ROOT = Path(__file__).resolve().parents[1]

# What every record must say (the shipped-weights convention).
RECORD_KEYS = {
    "name",
    "command",
    "seed",
    "wall_time_s",
    "machine",
    "versions",
    "evaluation_set",
    "evaluation_loss",
    "sha256",
    "bytes",
    "curves",
    "final",
}
MACHINE_KEYS = {"platform", "cpu_count", "torch_threads", "device"}
VERSION_KEYS = {"python", "torch", "numpy", "safetensors"}


def check_record(result: dict, name: str) -> None:
    assert RECORD_KEYS <= result.keys(), RECORD_KEYS - result.keys()
    assert MACHINE_KEYS <= result["machine"].keys()
    assert VERSION_KEYS <= result["versions"].keys()
    assert result["command"].startswith(pretrained.command(name))
    assert result["wall_time_s"] > 0
    recipe = pretrained.RECIPES[name]
    assert result["seed"] == recipe.seed
    curves = result["curves"]
    if recipe.unit == "epochs":  # one point per epoch
        lengths = {len(v) for v in curves.values() if v}
        assert lengths == {result["epochs"]}, lengths
    else:  # one point per log_every steps, the last at the last step
        assert curves["step"][-1] == result["steps"]
        assert len(curves["step"]) == len(curves["objective"])
    if name != "mnist_vae_m20":  # its final losses are the curves' best
        assert result["final"]["evaluation_loss"] == pytest.approx(
            result["evaluation_loss"], rel=1e-6
        )


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Evaluate with one thread, as the records were made reproducibly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- the shipped files ------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_exist_are_small_and_are_safetensors(name):
    path = pretrained.weights_dir() / f"{name}.safetensors"
    data = path.read_bytes()
    assert len(data) <= pretrained.MAX_BYTES
    # safetensors: an 8-byte little-endian header length, then a JSON
    # header. Not pickle (b"\x80") and not torch.save's zip (b"PK").
    assert data[:2] != b"PK" and data[:1] != b"\x80"
    header_length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_length])
    assert header["__metadata__"]["name"] == name


@pytest.mark.parametrize("name", NAMES)
def test_shipped_record_is_complete(name):
    result = pretrained.record(name)
    check_record(result, name)
    recipe = pretrained.RECIPES[name]
    assert result[recipe.unit] == recipe.length


@pytest.mark.parametrize("name", NAMES)
def test_shipped_weights_reproduce_the_recorded_evaluation_loss(name):
    model = pretrained.load(name)
    assert not model.training
    loss = pretrained.evaluate(model, name)
    assert loss == pytest.approx(
        pretrained.record(name)["evaluation_loss"], rel=1e-5
    )


def test_the_first_look_model_is_chapter_0s_bit_for_bit():
    # Chapter 0 trains this model in its first code cell, and the book's
    # latent explorer decodes the shipped weights: they must be the same.
    # The suite runs in the portable numerical mode, as the recipe did.
    from vaecourse import data, train
    from vaecourse.models import VAE

    digits = data.load_mnist_subset("train")
    held_out = data.load_mnist_subset("test")
    train.set_seed(0)
    vae = VAE(input_dim=784, hidden_dim=128, latent_dim=2)
    train.train_vae(
        vae,
        digits.images,
        held_out.images,
        epochs=10,
        batch_size=100,
        lr=3e-3,
        seed=0,
    )
    shipped = pretrained.load("mnist_vae_m2").state_dict()
    for name, value in vae.state_dict().items():
        assert torch.equal(value, shipped[name]), name


def test_vae_record_keeps_the_best_epoch_and_its_estimate():
    result = pretrained.record("mnist_vae_m20")
    test_loss = result["curves"]["test_loss"]
    best = result["best_epoch"]
    assert test_loss[best - 1] == min(test_loss)
    assert result["rerun_matches_curve"]
    assert result["final"]["test_loss"] == test_loss[best - 1]
    iw = result["importance_weighted"]
    assert iw["k"] == 5000
    # log p(x) lies above the ELBO's estimate: -loss <= IW bound < 0.
    assert -result["final"]["test_loss"] < iw["log_px_mean"] < 0


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("darla")])
def test_darla_records_score_transfer_on_both_domains(name):
    result = pretrained.record(name)
    if name == "darla_dae":
        assert "transfer" not in result
        return
    transfer = result["transfer"]
    assert set(transfer) == {"source", "target"}
    for scores in transfer.values():
        assert set(scores) == {
            "shape",
            "scale",
            "orientation",
            "position_x",
            "position_y",
        }
        assert 0.0 <= scores["shape"] <= 1.0


FACTORS = {"shape", "scale", "orientation", "position_x", "position_y"}


@pytest.mark.parametrize(
    "name", ["darla_vae_beta1", "darla_vae_beta4", "darla_vae_dae"]
)
def test_darla_records_hold_readouts_with_their_rotation_control(name):
    result = pretrained.record(name)
    assert result["steps"] == 100_000
    for key in ("readouts", "readouts_rotated"):
        assert set(result[key]) == {"source", "target"}
        for scores in result[key].values():
            assert set(scores) == FACTORS
            assert 0.0 <= scores["shape"] <= 1.0
            assert all(value <= 1.0 for value in scores.values())


def test_the_beta_vae_dae_spends_fewer_nats_than_the_vae():
    # The rule of recipes._DARLA_DAE_BETA, checked on the shipped models:
    # the beta-VAE_DAE is a beta-VAE, with less KL than the beta = 1 VAE.
    dae = pretrained.record("darla_vae_dae")
    vae = pretrained.record("darla_vae_beta1")
    assert dae["final"]["evaluation_kl"] < vae["final"]["evaluation_kl"]
    assert dae["objective"] == {"name": "dae", "beta": 2280.0}


def test_vq_records_count_codes_and_the_prior_beats_uniform():
    import math

    vqvae = pretrained.record("mnist_vqvae")
    codes = vqvae["curves"]["codes_used"]
    assert len(codes) == vqvae["epochs"] and max(codes) <= 64
    assert 1.0 <= vqvae["final"]["test_perplexity"] <= 64.0
    prior = pretrained.record("mnist_vqvae_prior")
    # A learned prior must beat the uniform one, 49 log 64 nats per grid.
    assert prior["evaluation_loss"] < 49 * math.log(64)


def test_weights_are_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["vaecourse"]
    shipped = sorted(p.name for p in pretrained.weights_dir().iterdir())
    for file in shipped:
        assert any(Path("weights", file).match(p) for p in patterns), file


# --- the command ------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``train NAME --epochs 1 --iw-k 2 --out DIR``, in-process."""
    out = tmp_path_factory.mktemp("weights")
    name = "mnist_vae_m20"
    args = ["train", name, "--epochs", "1", "--iw-k", "2", "--out", str(out)]
    assert pretrained.main(args) == 0
    return name, out


def test_command_writes_loadable_files_with_a_complete_record(quick_run):
    name, out = quick_run
    result = pretrained.record(name, out)
    check_record(result, name)
    assert result["epochs"] == 1
    assert result["command"].endswith("--epochs 1 --iw-k 2")
    model = pretrained.load(name, out)
    assert pretrained.evaluate(model, name) == pytest.approx(
        result["evaluation_loss"], rel=1e-5
    )


def test_sprites_command_counts_steps_and_records_the_metrics(tmp_path):
    name = "sprites_capacity"
    args = ["train", name, "--steps", "3", "--out", str(tmp_path)]
    assert pretrained.main(args) == 0
    result = pretrained.record(name, tmp_path)
    check_record(result, name)
    assert result["steps"] == 3
    assert result["command"].endswith("--steps 3")
    assert result["batches"].startswith("drawn at each step")
    assert result["objective"]["capacity"]["c_max"] == 25.0
    assert set(result["metrics"]) >= {"beta_vae_metric", "mig", "sizes"}
    assert len(result["final"]["kl_per_unit"]) == 10
    model = pretrained.load(name, tmp_path)
    assert pretrained.evaluate(model, name) == pytest.approx(
        result["evaluation_loss"], rel=1e-5
    )


def test_a_recipe_finds_the_model_it_needs_in_its_own_folder(tmp_path):
    """The beta-VAE_DAE loads the DAE written by the run before it."""
    for name in ("darla_dae", "darla_vae_dae"):
        args = ["train", name, "--steps", "2", "--out", str(tmp_path)]
        assert pretrained.main(args) == 0
    result = pretrained.record("darla_vae_dae", tmp_path)
    check_record(result, "darla_vae_dae")
    assert result["objective"] == {"name": "dae", "beta": 2280.0}
    model = pretrained.load("darla_vae_dae", tmp_path)
    assert pretrained.evaluate(model, "darla_vae_dae") == pytest.approx(
        result["evaluation_loss"], rel=1e-5
    )


@pytest.mark.parametrize(
    "name, option",
    [("mnist_vae_m20", "--steps"), ("sprites_beta1", "--epochs")],
)
def test_command_refuses_the_other_unit(name, option, tmp_path):
    args = ["train", name, option, "2", "--out", str(tmp_path)]
    with pytest.raises(ValueError, match="counts"):
        pretrained.main(args)


def test_command_line_lists_the_models():
    completed = subprocess.run(
        [sys.executable, "-m", "vaecourse.pretrained", "list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    # In the order of RECIPES: by chapter.
    assert [line.split(":")[0] for line in completed.stdout.splitlines()] == (
        list(pretrained.RECIPES)
    )


# --- errors -----------------------------------------------------------------


def copy_files(quick_run, tmp_path) -> tuple[str, Path]:
    name, out = quick_run
    for suffix in (".safetensors", ".json"):
        shutil.copy(out / f"{name}{suffix}", tmp_path)
    return name, tmp_path


def assert_names_file_and_command(error, path: Path, name: str) -> None:
    message = str(error.value)
    assert str(path) in message
    assert pretrained.command(name) in message


@pytest.mark.parametrize("missing", [".safetensors", ".json"])
def test_missing_file_names_the_file_and_the_command(
    quick_run, tmp_path, missing
):
    name, folder = copy_files(quick_run, tmp_path)
    path = folder / f"{name}{missing}"
    path.unlink()
    with pytest.raises(pretrained.WeightsError, match="not found") as error:
        pretrained.load(name, folder)
    assert_names_file_and_command(error, path, name)


def test_corrupt_weights_name_the_file_and_the_command(quick_run, tmp_path):
    name, folder = copy_files(quick_run, tmp_path)
    path = folder / f"{name}.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte in the last weight
    path.write_bytes(bytes(data))
    with pytest.raises(pretrained.WeightsError, match="corrupt") as error:
        pretrained.load(name, folder)
    assert_names_file_and_command(error, path, name)


def test_truncated_weights_are_not_read(quick_run, tmp_path):
    """A file that matches its record but is no safetensors file."""
    name, folder = copy_files(quick_run, tmp_path)
    path = folder / f"{name}.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    record_path = folder / f"{name}.json"
    result = json.loads(record_path.read_text())
    result["sha256"] = files.sha256(path)
    record_path.write_text(json.dumps(result))
    with pytest.raises(pretrained.WeightsError, match="safetensors") as error:
        pretrained.load(name, folder)
    assert_names_file_and_command(error, path, name)


def test_corrupt_record_names_the_file_and_the_command(quick_run, tmp_path):
    name, folder = copy_files(quick_run, tmp_path)
    path = folder / f"{name}.json"
    path.write_text(path.read_text()[:50])
    with pytest.raises(pretrained.WeightsError, match="JSON") as error:
        pretrained.record(name, folder)
    assert_names_file_and_command(error, path, name)


def test_unknown_name_lists_the_names():
    with pytest.raises(KeyError, match="mnist_vae_m20"):
        pretrained.load("no_such_model")


# --- bad files and bad arguments ---------------------------------------------


def rewrite_record(folder: Path, name: str, change) -> None:
    path = folder / f"{name}.json"
    result = json.loads(path.read_text())
    path.write_text(change(result))


def nan_weights(folder: Path, name: str) -> None:
    """NaN weights, with a record whose SHA-256 matches them."""
    from safetensors.torch import load_file, save_file

    path = folder / f"{name}.safetensors"
    state = load_file(path)
    key = sorted(state)[0]
    state[key] = torch.full_like(state[key], float("nan"))
    save_file(state, path)
    digest = files.sha256(path)
    rewrite_record(folder, name, lambda r: json.dumps({**r, "sha256": digest}))


def oversized(folder: Path, name: str) -> None:
    """A weights file one byte over the limit (the record matches it)."""
    path = folder / f"{name}.safetensors"
    path.write_bytes(path.read_bytes().ljust(files.MAX_BYTES + 1, b" "))
    digest = files.sha256(path)
    rewrite_record(folder, name, lambda r: json.dumps({**r, "sha256": digest}))


BAD_FILES = [
    (
        lambda folder, name: rewrite_record(
            folder, name, lambda r: json.dumps({**r, "bytes": float("nan")})
        ),
        "not a valid JSON record (NaN is not a JSON number",
    ),
    (
        lambda folder, name: rewrite_record(folder, name, lambda r: "[1, 2]"),
        "not a JSON object (the record is a list)",
    ),
    (
        lambda folder, name: (folder / f"{name}.json").write_bytes(
            b'{"sha256": "\xff\xfe"}'
        ),
        "not UTF-8 text",
    ),
    (
        lambda folder, name: rewrite_record(
            folder,
            name,
            lambda r: json.dumps(
                {k: v for k, v in r.items() if k != "sha256"}
            ),
        ),
        "the record has no sha256 of the weights",
    ),
    (nan_weights, "hold NaN or an infinity"),
    (oversized, "5,000,001 bytes, over the 5,000,000 a shipped file may be"),
]


@pytest.mark.parametrize(
    "spoil, message", BAD_FILES, ids=[row[1] for row in BAD_FILES]
)
def test_bad_files_are_refused_naming_the_file_and_the_command(
    quick_run, tmp_path, spoil, message
):
    name, folder = copy_files(quick_run, tmp_path)
    spoil(folder, name)
    with pytest.raises(pretrained.WeightsError) as error:
        pretrained.load(name, folder)
    assert message in str(error.value)
    assert pretrained.command(name) in str(error.value)


NO_CUDA = not torch.cuda.is_available()
BAD_ARGUMENTS = [
    (
        lambda tmp_path: pretrained.load("mnist_vae_m20", device="tpu"),
        ValueError,
        "device 'tpu' is not a device this course can use",
    ),
    (
        lambda tmp_path: pretrained.train(
            "mnist_vae_m20", epochs=1, out=tmp_path / "a_file"
        ),
        ValueError,
        "out must be a folder, got the file",
    ),
    (
        lambda tmp_path: pretrained.train("mnist_vae_m20", epochs=0),
        ValueError,
        "epochs must be at least 1, got 0",
    ),
    (
        lambda tmp_path: pretrained.load(3),
        KeyError,
        "no shipped model named 3",
    ),
]
if NO_CUDA:
    BAD_ARGUMENTS += [
        (
            lambda tmp_path: pretrained.load("mnist_vae_m20", device="cuda"),
            ValueError,
            "device 'cuda' was asked for, but this PyTorch sees no CUDA",
        ),
        (
            lambda tmp_path: pretrained.main(
                ["train", "mnist_vqvae", "--device", "cuda", "--epochs", "1"]
            ),
            ValueError,
            "device 'cuda' was asked for, but this PyTorch sees no CUDA",
        ),
    ]


@pytest.mark.parametrize(
    "call, error, message",
    BAD_ARGUMENTS,
    ids=[row[2] for row in BAD_ARGUMENTS],
)
def test_bad_arguments_are_named_before_any_training(
    tmp_path, call, error, message
):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(error, match=re.escape(message)):
        call(tmp_path)


def test_the_record_states_the_device_used(quick_run):
    name, out = quick_run
    assert pretrained.record(name, out)["machine"]["device"] == "cpu"


def test_a_recipe_that_trains_elsewhere_is_caught(monkeypatch, tmp_path):
    """The record must not claim a device the model was not trained on."""

    def fit_elsewhere(model, length, device, iw_k, iw_images, **_):
        model.to("meta")  # not the device asked for
        return {"curves": {}, "final": {}}

    fake = dataclasses.replace(
        pretrained.RECIPES["mnist_vae_m20"], fit=fit_elsewhere
    )
    monkeypatch.setitem(pretrained.RECIPES, "mnist_vae_m20", fake)
    with pytest.raises(
        RuntimeError, match="asked to train on cpu but its model is on meta"
    ):
        pretrained.train("mnist_vae_m20", epochs=1, out=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_record_with_a_nan_is_not_written(tmp_path):
    state = {"w": torch.zeros(2)}
    with pytest.raises(ValueError, match="non-finite numbers at"):
        files.write("x", tmp_path, state, {"loss": float("nan")})


def test_a_long_sprites_run_reads_the_pre_drawn_grid(monkeypatch, tmp_path):
    from vaecourse import sprites
    from vaecourse.pretrained import recipes

    class SpyGrid(sprites.ReducedGrid):
        """The whole grid, drawn instead of read (no 755 MB in a test)."""

        def __init__(self, path=None, *, build=False):
            assert build  # a recipe builds the grid on first use
            self.sha256 = "spy"

        def __len__(self):
            return sprites.N_IMAGES

        def images(self, indices):
            return sprites.reduced_images(sprites.index_to_factors(indices))

    monkeypatch.setattr(recipes, "_GRID_FROM_STEPS", 2)
    monkeypatch.setattr(sprites, "ReducedGrid", SpyGrid)
    args = ["train", "sprites_beta4", "--steps", "2", "--out", str(tmp_path)]
    assert pretrained.main(args) == 0
    result = pretrained.record("sprites_beta4", tmp_path)
    assert result["batches"] == (
        "read from the pre-drawn grid (vaecourse.sprites.ReducedGrid, "
        "sha256 spy)"
    )


def test_a_recipe_resumes_from_its_checkpoint_and_the_command_removes_it(
    tmp_path, monkeypatch
):
    # A shipped-length run of 4 steps, stopped after its checkpoint at
    # step 2 and run again, writes the same file as one that never
    # stopped, byte for byte; the checkpoint is gone once the files are
    # written.
    import dataclasses

    from vaecourse import beta_vae, sprites
    from vaecourse.pretrained import recipes

    class SpyGrid(sprites.ReducedGrid):
        """The whole grid, drawn instead of read (no 755 MB in a test)."""

        def __init__(self, path=None, *, build=False):
            self.sha256 = "spy"

        def __len__(self):
            return sprites.N_IMAGES

        def images(self, indices):
            return sprites.reduced_images(sprites.index_to_factors(indices))

    monkeypatch.setattr(sprites, "ReducedGrid", SpyGrid)
    monkeypatch.setattr(recipes, "_CHECKPOINT_EVERY", 2)
    monkeypatch.setattr(
        recipes,
        "_SPRITES_SETTINGS",
        {"batch_size": 8, "lr": 5e-4, "log_every": 1},
    )
    fit = recipes._sprites_fit("sprites_beta4", 4, beta=4.0, units_every=2)
    monkeypatch.setitem(
        recipes.RECIPES,
        "sprites_beta4",
        dataclasses.replace(
            recipes.RECIPES["sprites_beta4"], fit=fit, length=4
        ),
    )
    tiny = {
        "beta_vae": {"batch_size": 4, "n_train": 20, "n_eval": 10},
        "factor_vae": {
            "batch_size": 4,
            "n_train": 20,
            "n_eval": 10,
            "n_variance": 100,
        },
        "mig": {"n_points": 100},
    }
    monkeypatch.setattr(beta_vae, "RECORD_METRIC_SIZES", tiny)
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    assert (
        pretrained.main(["train", "sprites_beta4", "--out", str(whole)]) == 0
    )
    assert not (whole / "sprites_beta4.checkpoint.safetensors").exists()

    real, calls = beta_vae.beta_vae_objective, []

    def stops_at_the_third_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(
        beta_vae, "beta_vae_objective", stops_at_the_third_step
    )
    with pytest.raises(KeyboardInterrupt):
        pretrained.main(["train", "sprites_beta4", "--out", str(stopped)])
    assert (stopped / "sprites_beta4.checkpoint.safetensors").exists()
    monkeypatch.setattr(beta_vae, "beta_vae_objective", real)
    assert (
        pretrained.main(["train", "sprites_beta4", "--out", str(stopped)]) == 0
    )
    assert not (stopped / "sprites_beta4.checkpoint.safetensors").exists()
    a = pretrained.record("sprites_beta4", whole)
    b = pretrained.record("sprites_beta4", stopped)
    assert a["curves"] == b["curves"]
    assert a["sha256"] == b["sha256"]
    assert b["started_at_steps"] == [0, 2]


def test_the_same_weights_always_give_the_same_file(tmp_path):
    # safetensors writes its metadata map in an order that can change from
    # one write to the next: with more than one entry the bytes would.
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2)}
    digests = set()
    for k in range(20):
        folder = tmp_path / str(k)
        folder.mkdir()
        digests.add(files.write("m", folder, state, {})["sha256"])
    assert len(digests) == 1
