"""The one training loop (vaecourse/loop.py) that every trainer calls.

Each property is checked on tiny hand-made objectives whose numbers can be
worked out by hand: the logged means, the order of the checks and the step,
the modes, the errors.
"""

from __future__ import annotations

import json

import pytest
import torch
from bad_inputs import raises
from torch import nn

from vaecourse.loop import (
    History,
    TrainingDiverged,
    _gradients_are_finite,
    checkpoint_state,
    epoch_batches,
    epoch_data,
    load_checkpoint,
    save_checkpoint,
    train_loop,
)


def linear_model() -> nn.Linear:
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    return model


def squared_error(model):
    """The objective of fitting y = 2x: terms 'loss' and 'half'."""

    def objective(x):
        loss = ((model(x) - 2 * x) ** 2).mean()
        return {"loss": loss, "half": loss / 2}

    return objective


def test_logged_means_weight_each_batch_by_its_examples():
    # lr = 0: the weight stays 1, so each example's loss is x^2 and the
    # log is the mean over examples, not the mean of the batch means.
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    batches = [torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0]])]
    logged = []
    train_loop(
        model,
        squared_error(model),
        batches,
        optimizer,
        log=lambda step, means: logged.append((step, means)),
    )
    per_example = (1 + 9 + 4) / 3  # batch means would give (5 + 4) / 2
    assert logged == [(2, {"loss": per_example, "half": per_example / 2})]


def test_logs_every_k_steps_and_after_the_last():
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    batches = [torch.full((1, 1), float(k)) for k in range(1, 6)]
    logged = []
    last = train_loop(
        model,
        squared_error(model),
        batches,
        optimizer,
        log_every=2,
        log=lambda step, means: logged.append((step, means["loss"])),
    )
    assert last == 5
    assert logged == [(2, (1 + 4) / 2), (4, (9 + 16) / 2), (5, 25.0)]


def test_a_step_is_an_sgd_step_on_the_minimised_term():
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.tensor([[1.0], [3.0]])
    train_loop(model, squared_error(model), [x], optimizer, minimise="half")
    # d/dw of mean((w - 2)^2 x^2) / 2 at w = 1 is -(1 + 9) / 2 = -5
    assert model.weight.item() == pytest.approx(1.0 + 0.1 * 5.0)


def test_steps_count_on_from_first_step():
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    steps = []
    train_loop(
        model,
        squared_error(model),
        [torch.ones(1, 1)] * 3,
        optimizer,
        first_step=11,
        log_every=1,
        log=lambda step, means: steps.append(step),
    )
    assert steps == [11, 12, 13]


def test_trains_in_training_mode_and_leaves_evaluation_mode():
    model = linear_model()
    model.eval()
    modes = []

    def objective(x):
        modes.append(model.training)
        return squared_error(model)(x)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_loop(model, objective, [torch.ones(1, 1)] * 2, optimizer)
    assert modes == [True, True]
    assert not model.training


def test_after_step_sees_the_updated_weights():
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    train_loop(
        model,
        squared_error(model),
        [torch.ones(1, 1)],
        optimizer,
        after_step=lambda batch, terms: seen.append(model.weight.item()),
    )
    # gradient of (w - 2)^2 at w = 1 is -2: w = 1 + 0.1 * 2
    assert seen == [pytest.approx(1.2)]


def nan_term_objective(model):
    def objective(x):
        loss = ((model(x) - 2 * x) ** 2).mean()
        return {"loss": loss, "kl": loss * float("nan")}

    return objective


def test_a_term_that_is_not_finite_stops_before_any_gradient():
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [torch.ones(1, 1)] * 3
    calls = []
    with pytest.raises(
        TrainingDiverged,
        match="training diverged at step 1: the kl term is nan",
    ) as info:
        train_loop(
            model,
            nan_term_objective(model),
            batches,
            optimizer,
            after_step=lambda *_: calls.append(1),
        )
    assert (info.value.step, info.value.term) == (1, "kl")
    assert info.value.epoch is None and info.value.batch is None
    assert model.weight.item() == 1.0 and model.weight.grad is None
    assert calls == []


def test_an_epoch_trainer_is_told_the_epoch_and_batch():
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    good = [torch.ones(1, 1)] * 2

    def objective(x):
        terms = squared_error(model)(x)
        if x.item() > 1:
            terms["loss"] = terms["loss"] * float("inf")
        return terms

    with pytest.raises(
        TrainingDiverged,
        match=r"at epoch 4, batch 3: the loss term is inf",
    ) as info:
        train_loop(
            model,
            objective,
            good + [torch.full((1, 1), 2.0)],
            optimizer,
            epoch=4,
            first_step=7,
        )
    assert (info.value.epoch, info.value.batch, info.value.step) == (4, 3, 9)


def test_explain_names_the_term_when_given():
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TrainingDiverged, match="step 1: the decoder is NaN"):
        train_loop(
            model,
            nan_term_objective(model),
            [torch.ones(1, 1)],
            optimizer,
            explain=lambda batch, terms: ("kl", "the decoder is NaN"),
        )


def test_a_gradient_that_is_not_finite_stops_before_the_step():
    # sqrt at 0: a finite loss whose gradient is infinite
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def objective(x):
        return {"loss": torch.sqrt(model(x).abs()).mean()}

    with pytest.raises(
        TrainingDiverged,
        match="step 1: the gradient of weight is not finite",
    ) as info:
        train_loop(model, objective, [torch.ones(1, 1)], optimizer)
    assert info.value.term == "gradient"
    assert model.weight.item() == 0.0  # no step was taken


def test_the_fused_gradient_check_sees_nan_and_inf_anywhere():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model(torch.randn(5, 3)).sum().backward()
    assert _gradients_are_finite(model)
    for bad in (float("nan"), float("inf"), -float("inf")):
        for parameter in model.parameters():
            saved = parameter.grad.view(-1)[-1].clone()
            parameter.grad.view(-1)[-1] = bad
            assert not _gradients_are_finite(model)
            parameter.grad.view(-1)[-1] = saved
            assert _gradients_are_finite(model)
    # large but finite gradients are not mistaken for overflow
    for parameter in model.parameters():
        parameter.grad.fill_(3e38)
    assert _gradients_are_finite(model)


def test_epoch_batches_cut_a_seeded_permutation():
    generator = torch.Generator().manual_seed(5)
    batches = list(epoch_batches(10, 4, generator))
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(5))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat(batches), expected)
    assert torch.equal(
        torch.cat(list(epoch_batches(5, 2, None))), torch.arange(5)
    )


def test_history_series_are_attributes_and_columns_skip_empty_ones():
    history = History(x="step", step=[250, 500], objective=[3.0, 2.5], kl=[])
    assert history.step == [250, 500] and history.kl == []
    assert history.columns() == {"step": [250, 500], "objective": [3.0, 2.5]}
    assert history.epochs == 2
    assert history.to_table(decimals=1).splitlines() == [
        "step  objective",
        " 250        3.0",
        " 500        2.5",
    ]
    with pytest.raises(AttributeError, match="has no series 'loss'"):
        _ = history.loss
    assert history == History(
        x="step", step=[250, 500], objective=[3.0, 2.5], kl=[]
    )
    with pytest.raises(ValueError, match="x must be 'epoch' or 'step'"):
        History(x="batch")


def test_epoch_data_are_the_rows_of_epoch_batches():
    data = torch.arange(20.0).reshape(10, 2)
    batches = list(epoch_data(data, 4, torch.Generator().manual_seed(5)))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(5))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat(batches), data[order])


def adam_after_two_steps():
    model = linear_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    batches = [
        torch.randn(4, 1, generator=torch.Generator().manual_seed(k))
        for k in range(2)
    ]
    train_loop(model, squared_error(model), batches, optimizer)
    return model, optimizer


def test_a_checkpoint_puts_back_weights_adam_and_generators(tmp_path):
    model, optimizer = adam_after_two_steps()
    generator = torch.Generator().manual_seed(7)
    torch.rand(3, generator=generator)
    path = tmp_path / "run.checkpoint.safetensors"
    save_checkpoint(
        path,
        model=model,
        optimizer=optimizer,
        generators={"noise": generator},
        state={"taken": 2, "rng": {"state": 2**100}},
    )
    other = nn.Linear(1, 1, bias=False)
    other_optimizer = torch.optim.Adam(other.parameters(), lr=0.1)
    other_generator = torch.Generator()
    state = load_checkpoint(
        path,
        model=other,
        optimizer=other_optimizer,
        generators={"noise": other_generator},
    )
    assert state == {"taken": 2, "rng": {"state": 2**100}}
    assert checkpoint_state(path) == state
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(p, q)
    # Adam goes on identically: its moments and step count came back.
    x = torch.randn(4, 1, generator=torch.Generator().manual_seed(9))
    for m, o in ((model, optimizer), (other, other_optimizer)):
        train_loop(m, squared_error(m), [x], o)
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.equal(
        torch.rand(3, generator=generator),
        torch.rand(3, generator=other_generator),
    )


def test_a_file_that_is_not_a_checkpoint_of_this_model_is_refused(tmp_path):
    from safetensors.torch import save_file

    model, optimizer = adam_after_two_steps()
    weights = tmp_path / "weights.safetensors"
    save_file({"weight": torch.zeros(1, 1)}, weights)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    path = tmp_path / "run.checkpoint.safetensors"
    save_checkpoint(
        path, model=model, optimizer=optimizer, generators={}, state={}
    )
    load = lambda file, m=model, g=None: load_checkpoint(  # noqa: E731
        file, model=m, optimizer=optimizer, generators=g or {}
    )
    raises(lambda: load(text), ValueError, "is not a safetensors file")
    raises(lambda: load(weights), ValueError, "not a training checkpoint")
    raises(
        lambda: load(path, nn.Linear(1, 1)),
        ValueError,
        "holds the weights of another model",
    )
    raises(
        lambda: load(path, g={"noise": torch.Generator()}),
        ValueError,
        "no state of the generator 'noise'",
    )


def _with_generator_state(path, new_path, state, devices):
    """A copy of a checkpoint whose generator 'noise' holds ``state``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    tensors["generator.noise"] = state
    if devices is None:  # a checkpoint written before devices were named
        del metadata["generator_devices"]
    else:
        metadata["generator_devices"] = json.dumps(devices)
    save_file(tensors, new_path, metadata=metadata)
    return new_path


def test_a_generator_saved_on_another_kind_of_device_is_refused(tmp_path):
    # A CUDA generator's state is 16 bytes, a CPU generator's 5,056: the
    # run must stop with the devices named, not in set_state's words.
    model, optimizer = adam_after_two_steps()
    path = tmp_path / "run.checkpoint.safetensors"
    generator = torch.Generator().manual_seed(3)
    save_checkpoint(
        path,
        model=model,
        optimizer=optimizer,
        generators={"noise": generator},
        state={},
    )
    cuda_like = torch.zeros(16, dtype=torch.uint8)

    def load(file):
        return load_checkpoint(
            file,
            model=model,
            optimizer=optimizer,
            generators={"noise": torch.Generator()},
        )

    named = _with_generator_state(
        path, tmp_path / "named.safetensors", cuda_like, {"noise": "cuda"}
    )
    raises(
        lambda: load(named),
        ValueError,
        "generator 'noise' was saved on cuda and this run's is on cpu",
    )
    unnamed = _with_generator_state(
        path, tmp_path / "unnamed.safetensors", cuda_like, None
    )
    raises(lambda: load(unnamed), ValueError, "another kind of device")
    # The CPU state itself, in a checkpoint that names no device, goes on.
    same = _with_generator_state(
        path, tmp_path / "same.safetensors", generator.get_state(), None
    )
    assert load(same) == {}
