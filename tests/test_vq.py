"""Tests of vaecourse.vq.

References: brute-force nearest neighbours (a Python loop), hand-derived
gradients and recursions written with Python loops, the
``vector-quantize-pytorch`` package's EMA update, closed forms of the
perplexity, ``torch.distributions`` for the likelihoods.
"""

from __future__ import annotations

import math

import pytest
import torch
from bad_inputs import raises, table
from torch.distributions import Bernoulli, Categorical

from vaecourse import vq
from vaecourse.loop import History, TrainingDiverged
from vaecourse.vq import (
    VQVAE,
    MaskedConv2d,
    PixelCNNPrior,
    ResidualBlock,
    VectorQuantizer,
    bits_per_dim,
    codebook_loss,
    codes_used,
    commitment_loss,
    ema_codebook_update,
    nearest_codes,
    negative_elbo,
    perplexity,
    quantize,
    straight_through,
    train_prior,
    train_vq_vae,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these tiny models run faster on one, and many
    times faster on a busy 2-core machine, where two threads wait for each
    other. Restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randn(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype)


def seeded(factory, seed=0):
    """Build a module with PyTorch's global generator seeded, then restore."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return factory()


def tiny_digits(n=48, seed=0):
    """Binary 28 x 28 images: blocks at a few positions (no files)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 28, 28)
    rows = torch.randint(0, 20, (n,), generator=g)
    cols = torch.randint(0, 20, (n,), generator=g)
    for i in range(n):
        r, c = rows[i].item(), cols[i].item()
        x[i, r : r + 8, c : c + 8] = 1.0
    return x.reshape(n, 784)


# --- nearest codes -----------------------------------------------------------


def brute_force_nearest(z, codebook):
    """Python loop over vectors and codes; ties to the smallest index."""
    out = []
    for vector in z.tolist():
        best, best_j = math.inf, -1
        for j, code in enumerate(codebook.tolist()):
            d = sum((a - b) ** 2 for a, b in zip(vector, code, strict=True))
            if d < best:
                best, best_j = d, j
        out.append(best_j)
    return torch.tensor(out)


def test_nearest_codes_equal_a_brute_force_search():
    z, codebook = randn(200, 5, seed=1), randn(17, 5, seed=2)
    expected = brute_force_nearest(z, codebook)
    assert torch.equal(nearest_codes(z, codebook), expected)


def test_nearest_codes_in_float32_pick_a_code_at_minimum_distance():
    z = randn(500, 8, seed=3, dtype=torch.float32)
    codebook = randn(64, 8, seed=4, dtype=torch.float32)
    indices = nearest_codes(z, codebook)
    exact = torch.cdist(z.double(), codebook.double())
    chosen = exact.gather(1, indices[:, None])[:, 0]
    torch.testing.assert_close(chosen, exact.min(1).values, rtol=0, atol=1e-5)
    assert (indices == exact.argmin(1)).float().mean() > 0.99


def test_nearest_codes_keep_the_leading_shape():
    z, codebook = randn(3, 4, 6, 2, seed=5), randn(9, 2, seed=6)
    indices = nearest_codes(z, codebook)
    assert indices.shape == (3, 4, 6) and indices.dtype == torch.int64
    flat = brute_force_nearest(z.reshape(-1, 2), codebook)
    assert torch.equal(indices.reshape(-1), flat)


def test_quantizer_assignments_equal_brute_force_on_a_grid():
    q = seeded(lambda: VectorQuantizer(12, 3)).double()
    z_e = randn(2, 3, 4, 5, seed=7) * 0.1
    out = q.eval()(z_e)
    rows = z_e.movedim(1, -1).reshape(-1, 3)
    expected = brute_force_nearest(rows, q.codebook.detach())
    assert torch.equal(out.indices.reshape(-1), expected)
    assert out.indices.shape == (2, 4, 5)
    codes = q.codebook.detach()[expected].reshape(2, 4, 5, 3)
    torch.testing.assert_close(out.z_q, codes.movedim(-1, 1))


# --- straight-through --------------------------------------------------------


def test_straight_through_gradient_equals_the_incoming_gradient_exactly():
    z_e = randn(4, 6, seed=8).requires_grad_()
    e = randn(4, 6, seed=9).requires_grad_()
    z_q = straight_through(z_e, e)
    torch.testing.assert_close(z_q, e)  # forward: the code
    incoming = randn(4, 6, seed=10)
    z_q.backward(incoming)
    assert torch.equal(z_e.grad, incoming)
    assert e.grad is None


def test_quantizer_passes_the_decoder_gradient_to_the_encoder_unchanged():
    q = seeded(lambda: VectorQuantizer(8, 4)).double()
    z_e = randn(3, 4, 5, 5, seed=11).requires_grad_()
    out = q.train()(z_e)
    incoming = randn(3, 4, 5, 5, seed=12)
    out.z_q.backward(incoming)
    assert torch.equal(z_e.grad, incoming)
    assert q.codebook.grad is None


# --- the two loss terms: where their gradients go, and their values ----------


def hand_codebook_gradient(z, codebook, indices, batch):
    """d/de_j of (1/B) sum_p ||z_p - e_k(p)||^2, with loops.

    It is (2/B) times the sum of (e_j - z_p) over the p assigned to j.
    """
    grad = [[0.0] * codebook.shape[1] for _ in range(codebook.shape[0])]
    for p, j in enumerate(indices.tolist()):
        for d in range(codebook.shape[1]):
            grad[j][d] += 2.0 / batch * (codebook[j, d] - z[p, d]).item()
    return torch.tensor(grad, dtype=torch.float64)


def test_codebook_term_value_and_gradient_reach_only_the_chosen_codes():
    batch, grid, dim = 3, 4, 2
    z_e = randn(batch, grid, dim, seed=13).requires_grad_()
    codebook = torch.nn.Parameter(randn(10, dim, seed=14))
    indices = nearest_codes(z_e, codebook)
    e = quantize(indices, codebook)
    per_example = codebook_loss(z_e, e)
    hand = [
        sum(
            (z_e[b, p, d] - codebook[indices[b, p], d]).item() ** 2
            for p in range(grid)
            for d in range(dim)
        )
        for b in range(batch)
    ]
    torch.testing.assert_close(per_example, torch.tensor(hand).double())
    per_example.mean().backward()
    flat_z, flat_i = z_e.detach().reshape(-1, dim), indices.reshape(-1)
    expected = hand_codebook_gradient(flat_z, codebook.detach(), flat_i, 3)
    torch.testing.assert_close(codebook.grad, expected)
    unused = [j for j in range(10) if j not in flat_i.tolist()]
    assert unused and (codebook.grad[unused] == 0).all()
    assert z_e.grad is None  # nothing reaches the encoder


def test_commitment_term_value_and_gradient_reach_only_the_encoder():
    batch, dim, kappa = 4, 3, 0.25
    z_e = randn(batch, dim, seed=15).requires_grad_()
    codebook = torch.nn.Parameter(randn(6, dim, seed=16))
    e = quantize(nearest_codes(z_e, codebook), codebook)
    per_example = commitment_loss(z_e, e, kappa)
    hand = [
        kappa * sum((z_e[b, d] - e[b, d]).item() ** 2 for d in range(dim))
        for b in range(batch)
    ]
    torch.testing.assert_close(per_example, torch.tensor(hand).double())
    per_example.mean().backward()
    expected = 2 * kappa / batch * (z_e - e).detach()
    torch.testing.assert_close(z_e.grad, expected)
    assert codebook.grad is None


def test_quantizer_terms_come_from_the_codes_before_the_substitution():
    # The module's forward: the codebook term's gradient reaches only the
    # chosen codes with the hand-derived value, the commitment term's only
    # the encoder output, with 2 kappa (z_e - e) / B.
    q = seeded(lambda: VectorQuantizer(16, 2, commitment_cost=0.25)).double()
    z_e = (randn(2, 2, 3, 3, seed=17) * 0.05).requires_grad_()
    out = q.train()(z_e)
    out.codebook_loss.mean().backward()
    rows = z_e.detach().movedim(1, -1).reshape(-1, 2)
    flat_i = out.indices.reshape(-1)
    expected = hand_codebook_gradient(rows, q.codebook.detach(), flat_i, 2)
    torch.testing.assert_close(q.codebook.grad, expected)
    assert z_e.grad is None or (z_e.grad == 0).all()
    assert expected.abs().sum() > 0
    q.codebook.grad = None

    z_e.grad = None
    out = q(z_e)
    out.commitment_loss.mean().backward()
    e = q.codebook.detach()[out.indices].movedim(-1, 1)
    torch.testing.assert_close(z_e.grad, 2 * 0.25 / 2 * (z_e - e).detach())
    assert q.codebook.grad is None or (q.codebook.grad == 0).all()


def test_the_commitment_cost_weighs_the_commitment_term_only():
    z_e, e = randn(2, 5, seed=18), randn(2, 5, seed=19)
    torch.testing.assert_close(
        commitment_loss(z_e, e, commitment_cost=1.0) * 0.25,
        commitment_loss(z_e, e),
    )
    q = seeded(lambda: VectorQuantizer(4, 5, commitment_cost=3.0)).double()
    out = q.eval()(z_e)
    e = q.codebook.detach()[out.indices]
    squares = (z_e - e).pow(2).sum(1)
    torch.testing.assert_close(out.codebook_loss, squares)
    torch.testing.assert_close(out.commitment_loss, 3.0 * squares)


# --- EMA codebook ------------------------------------------------------------


def hand_ema_step(size, sums, z, indices, decay, eps):
    """The EMA recursion, Laplace smoothing included, with Python loops."""
    k, d = len(size), len(sums[0])
    counts = [0] * k
    batch_sums = [[0.0] * d for _ in range(k)]
    for vector, j in zip(z, indices, strict=True):
        counts[j] += 1
        for i in range(d):
            batch_sums[j][i] += vector[i]
    new_size = [decay * size[j] + (1 - decay) * counts[j] for j in range(k)]
    new_sums = [
        [decay * sums[j][i] + (1 - decay) * batch_sums[j][i] for i in range(d)]
        for j in range(k)
    ]
    n = sum(new_size)
    smoothed = [(new_size[j] + eps) / (n + k * eps) * n for j in range(k)]
    codes = [[m / smoothed[j] for m in new_sums[j]] for j in range(k)]
    return new_size, new_sums, codes


def test_one_ema_step_equals_the_hand_written_recursion():
    k, d, decay, eps = 6, 3, 0.9, 1e-3
    size = torch.rand(k, dtype=torch.float64) + 0.5
    sums = randn(k, d, seed=20)
    z = randn(40, d, seed=21)
    codebook = sums / size[:, None]
    indices = nearest_codes(z, codebook)
    state = ema_codebook_update(size, sums, z, indices, decay, eps)
    hand = hand_ema_step(
        size.tolist(), sums.tolist(), z.tolist(), indices.tolist(), decay, eps
    )
    torch.testing.assert_close(
        state.cluster_size, torch.tensor(hand[0]).double()
    )
    torch.testing.assert_close(state.embed_sum, torch.tensor(hand[1]).double())
    torch.testing.assert_close(state.codebook, torch.tensor(hand[2]).double())


def test_quantizer_ema_step_equals_the_recursion_from_a_fresh_codebook():
    q = seeded(lambda: VectorQuantizer(8, 2, ema=True)).double()
    start = q.codebook.clone()
    z_e = randn(5, 2, 3, seed=22) * 0.1
    out = q.train()(z_e)
    rows = z_e.movedim(1, -1).reshape(-1, 2)
    hand = hand_ema_step(
        [1.0] * 8,  # a fresh code: N = 1, m = e
        start.tolist(),
        rows.tolist(),
        out.indices.reshape(-1).tolist(),
        0.99,
        1e-5,
    )
    torch.testing.assert_close(q.cluster_size, torch.tensor(hand[0]).double())
    torch.testing.assert_close(q.codebook, torch.tensor(hand[2]).double())
    assert (out.codebook_loss == 0).all()  # the term is dropped
    q.eval()(z_e)  # evaluation updates nothing
    torch.testing.assert_close(q.codebook, torch.tensor(hand[2]).double())


def test_ema_step_equals_vector_quantize_pytorch():
    # a declared test dependency (the "test" extra): fail, not skip, when
    # it is missing
    import vector_quantize_pytorch as vqp

    k, d, n = 16, 4, 300
    ours = seeded(lambda: VectorQuantizer(k, d, ema=True, decay=0.99))
    theirs = vqp.VectorQuantize(
        dim=d,
        codebook_size=k,
        decay=0.99,
        eps=1e-5,
        commitment_weight=0.25,
        rotation_trick=False,
        threshold_ema_dead_code=0,
        kmeans_init=False,
    )
    book = theirs._codebook
    with torch.no_grad():  # the same starting state: N = 1, m = e
        book.embed.copy_(ours.codebook[None])
        book.embed_avg.copy_(ours.codebook[None])
        book.cluster_size.fill_(1.0)
    ours.train(), theirs.train()
    for step in range(3):
        x = randn(1, n, d, seed=23 + step, dtype=torch.float32) * 0.05
        _, their_indices, their_loss = theirs(x)
        out = ours(x.transpose(1, 2))  # channels first
        assert torch.equal(out.indices, their_indices)
        torch.testing.assert_close(ours.cluster_size, book.cluster_size[0])
        torch.testing.assert_close(ours.embed_sum, book.embed_avg[0])
        torch.testing.assert_close(ours.codebook, book.embed[0])
        # their commitment term is a mean over the n * d elements, ours a
        # sum over them (one example here)
        torch.testing.assert_close(
            out.commitment_loss[0], their_loss * n * d, rtol=1e-5, atol=0
        )


# --- usage: perplexity and codes used ----------------------------------------


@pytest.mark.parametrize("k", [1, 2, 7, 64])
def test_perplexity_is_k_for_uniform_use(k):
    indices = torch.arange(k).repeat(3)
    torch.testing.assert_close(
        perplexity(indices, k), torch.tensor(float(k)).double()
    )
    assert codes_used(indices, k) == k


def test_perplexity_is_one_for_a_single_code():
    indices = torch.full((5, 7, 7), 3)
    torch.testing.assert_close(
        perplexity(indices, 64), torch.tensor(1.0).double()
    )
    assert codes_used(indices, 64) == 1


def test_perplexity_of_uneven_use_is_exp_of_the_entropy():
    indices = torch.tensor([0, 0, 1, 2])  # p = 1/2, 1/4, 1/4; 0 for code 3
    entropy = 0.5 * math.log(2) + 2 * 0.25 * math.log(4)
    torch.testing.assert_close(
        perplexity(indices, 4), torch.tensor(math.exp(entropy)).double()
    )
    assert codes_used(indices, 4) == 3


# --- dead codes --------------------------------------------------------------


def test_reseeding_raises_the_number_of_codes_used():
    # Eight clusters of data, and a codebook where only code 0 is near them:
    # every vector picks code 0 and the other 15 codes are dead.
    g = torch.Generator().manual_seed(24)
    centres = torch.randn(8, 2, generator=g, dtype=torch.float64) * 5
    data = centres.repeat(20, 1) + 0.01 * torch.randn(
        160, 2, generator=g, dtype=torch.float64
    )
    z_e = data[:, :, None]  # (batch, d, 1): channels first
    q = VectorQuantizer(16, 2, decay=0.5).double()
    with torch.no_grad():
        q.codebook.fill_(100.0)
        q.codebook[0] = 0.0
    q.train()
    for _ in range(3):
        before = q(z_e).codes_used
    assert before == 1
    torch.testing.assert_close(
        q.cluster_size[1:], torch.full((15,), 0.125).double()
    )
    n = q.reseed_dead_codes(z_e, 0.5, torch.Generator().manual_seed(0))
    assert n == 15
    after = q.eval()(z_e).codes_used
    assert after > before and after >= 6
    # the new codes are data vectors, and fresh (N = 1)
    new = q.codebook.detach()[1:]
    assert (new[:, None, :] == data[None]).all(2).any(1).all()
    torch.testing.assert_close(q.cluster_size[1:], torch.ones(15).double())
    assert q.reseed_dead_codes(z_e, 0.5) == 0


def test_a_code_used_exactly_at_the_threshold_is_not_dead():
    # dead means N_j < threshold, strictly: N_j = threshold stays, and
    # threshold 0 re-seeds nothing, not even a code with N_j = 0
    q = VectorQuantizer(4, 2).double()
    with torch.no_grad():
        q.cluster_size.copy_(torch.tensor([0.5, 0.25, 1.0, 0.0]))
        before = q.codebook.clone()
    z_e = randn(6, 2, seed=25)
    assert q.reseed_dead_codes(z_e, 0.0) == 0
    assert q.reseed_dead_codes(z_e, 0.5, torch.Generator()) == 2
    changed = (q.codebook != before).any(1).tolist()
    assert changed == [False, True, False, True]
    torch.testing.assert_close(
        q.cluster_size, torch.tensor([0.5, 1.0, 1.0, 1.0]).double()
    )


# --- PixelCNN prior ----------------------------------------------------------


def test_masks_keep_rows_above_and_the_left_of_the_centre():
    a = MaskedConv2d(1, 1, 3, "A").mask
    b = MaskedConv2d(1, 1, 3, "B").mask
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_the_prior_s_residual_blocks_use_type_b_masks():
    # Type A in the blocks would still be causal (the no-future test below
    # passes) but a block would not see its own position's features.
    prior = seeded(lambda: PixelCNNPrior(5, grid_size=4, channels=4))
    assert prior.input_conv.mask_type == "A"
    assert prior.input_conv.kernel_size == (7, 7)
    for block in prior.blocks:
        conv = block["masked"]
        assert conv.mask_type == "B"
        assert conv.mask.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
        # its output at a position depends on its input there
        x = torch.zeros(1, 4, 4, 4, requires_grad=True)
        (grad,) = torch.autograd.grad(conv(x)[0, :, 2, 1].sum(), x)
        assert grad[0, :, 2, 1].abs().sum() > 0


def tampered(state, key):
    """A copy of ``state`` with the mask ``key`` turned into type A."""
    state = {name: value.clone() for name, value in state.items()}
    state[key][1, 1] = 0.0
    return state


@pytest.mark.parametrize("strict", [True, False])
def test_a_state_dict_cannot_change_a_mask(strict):
    source = seeded(lambda: PixelCNNPrior(5, grid_size=3, channels=4), 1)
    prior = seeded(lambda: PixelCNNPrior(5, grid_size=3, channels=4), 2)
    state = tampered(source.state_dict(), "blocks.0.masked.mask")
    with pytest.raises(
        RuntimeError,
        match="blocks.0.masked.mask is not the type-B mask that the model "
        "builds",
    ):
        prior.load_state_dict(state, strict=strict)
    masks = [block["masked"].mask for block in prior.blocks]
    assert all(m.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]] for m in masks)
    assert state["blocks.0.masked.mask"][1, 1] == 0  # the caller's, as given
    # an untouched state dict loads, masks and all
    prior.load_state_dict(source.state_dict())
    for name, value in source.state_dict().items():
        assert torch.equal(prior.state_dict()[name], value), name


def test_the_mask_is_checked_in_the_model_s_dtype():
    source = PixelCNNPrior(5, grid_size=3, channels=4)
    prior = PixelCNNPrior(5, grid_size=3, channels=4).double()
    prior.load_state_dict(source.double().state_dict())
    assert prior.input_conv.mask.dtype == torch.float64


def test_pixelcnn_output_depends_only_on_earlier_positions():
    prior = seeded(
        lambda: PixelCNNPrior(
            5, grid_size=4, channels=8, embed_dim=3, n_blocks=2
        )
    )
    prior = prior.double()
    g = 4
    codes = torch.randint(
        0, 5, (1, g, g), generator=torch.Generator().manual_seed(0)
    )
    h = prior.embedding(codes).permute(0, 3, 1, 2).detach().requires_grad_()
    logits = prior.logits_from_embedded(h)
    for i in range(g * g):
        row, col = divmod(i, g)
        (grad,) = torch.autograd.grad(
            logits[0, :, row, col].sum(), h, retain_graph=True
        )
        per_position = grad[0].abs().sum(0).reshape(-1)  # raster order
        assert (per_position[i:] == 0).all(), f"position {i} sees the future"
        # every earlier position is seen: no blind spot
        assert (per_position[:i] > 0).all(), f"position {i} misses the past"


def test_pixelcnn_nll_matches_categorical_log_prob():
    prior = seeded(
        lambda: PixelCNNPrior(
            6, grid_size=3, channels=8, embed_dim=4, n_blocks=1
        )
    ).double()
    codes = torch.randint(
        0, 6, (4, 3, 3), generator=torch.Generator().manual_seed(1)
    )
    logits = prior(codes)
    assert logits.shape == (4, 6, 3, 3)
    log_p = Categorical(logits=logits.permute(0, 2, 3, 1)).log_prob(codes)
    torch.testing.assert_close(prior.nll(codes), -log_p.sum((1, 2)))


class PositionPrior(PixelCNNPrior):
    """All the mass on code ``G * row + col`` at (row, col)."""

    def forward(self, indices):
        g = self.grid_size
        logits = torch.full((len(indices), self.num_codes, g, g), -1e4)
        for row in range(g):
            for col in range(g):
                logits[:, g * row + col, row, col] = 0.0
        return logits


class NextCodePrior(PixelCNNPrior):
    """All the mass on the previous code (raster order) plus one; 2 first."""

    def forward(self, indices):
        g, k = self.grid_size, self.num_codes
        flat = indices.reshape(len(indices), -1)
        first = torch.ones_like(flat[:, :1])  # so that 2 comes first
        previous = torch.cat([first, flat[:, :-1]], 1)
        chosen = (previous + 1) % k
        logits = torch.full((len(indices), k, g * g), -1e4)
        logits.scatter_(1, chosen[:, None, :], 0.0)
        return logits.reshape(len(indices), k, g, g)


def test_sampling_reads_the_logits_of_row_then_column():
    # G * row + col is not symmetric in (row, col): logits read at
    # [col, row] would give the transposed grid
    prior = PositionPrior(9, grid_size=3, channels=2)
    grids = prior.sample(2, torch.Generator().manual_seed(0))
    expected = torch.arange(9).reshape(3, 3)
    assert torch.equal(grids, expected.expand(2, 3, 3))


def test_sampling_feeds_each_drawn_code_to_the_next_position():
    prior = NextCodePrior(7, grid_size=3, channels=2)
    grids = prior.sample(1, torch.Generator().manual_seed(0))
    expected = (torch.arange(9) + 2) % 7  # 2, 3, ..., in raster order
    assert torch.equal(grids[0], expected.reshape(3, 3))


def test_pixelcnn_sampling_is_reproducible_and_in_range():
    prior = seeded(lambda: PixelCNNPrior(5, grid_size=3, channels=8))
    first = prior.sample(6, torch.Generator().manual_seed(2))
    second = prior.sample(6, torch.Generator().manual_seed(2))
    assert first.shape == (6, 3, 3) and first.dtype == torch.int64
    assert torch.equal(first, second)
    assert first.min() >= 0 and first.max() < 5


# --- the VQ-VAE --------------------------------------------------------------


def test_residual_blocks_are_distinct_objects():
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=3))
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 6  # model.modules() lists a shared block once
    pointers = [p.data_ptr() for b in blocks for p in b.parameters()]
    assert len(set(pointers)) == len(pointers)
    children = list(model.encoder) + list(model.decoder)
    assert sum(isinstance(c, ResidualBlock) for c in children) == 6


def test_vq_vae_shapes_for_every_input_layout():
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1)).eval()
    x = tiny_digits(3)
    for view in (x, x.reshape(3, 28, 28), x.reshape(3, 1, 28, 28)):
        logits, out = model(view)
        assert logits.shape == (3, 784)
        assert out.z_q.shape == (3, 4, 7, 7)
        assert out.indices.shape == (3, 7, 7)
    assert model.encode(x).shape == (3, 4, 7, 7)
    assert model.encode_codes(x).shape == (3, 7, 7)
    assert model.reconstruct(x).shape == (3, 784)
    terms = model.loss(x)
    torch.testing.assert_close(
        terms.loss, terms.reconstruction + terms.codebook + terms.commitment
    )


def test_vq_vae_loss_is_the_bernoulli_nll_plus_the_terms():
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1, ema=False))
    model.eval()
    x = tiny_digits(5)
    terms = model.loss(x)
    logits = model.decode_codes(model.encode_codes(x))
    nll = -Bernoulli(logits=logits).log_prob(x).sum(1).mean()
    torch.testing.assert_close(terms.reconstruction, nll)
    z_e = model.encode(x)
    e = model.quantizer.codebook[model.encode_codes(x)].movedim(-1, 1)
    squares = (z_e - e).pow(2).sum((1, 2, 3)).mean()
    torch.testing.assert_close(terms.codebook, squares)
    torch.testing.assert_close(terms.commitment, 0.25 * squares)


def test_negative_elbo_and_bits_per_dim():
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    prior = seeded(lambda: PixelCNNPrior(8, channels=8, n_blocks=1))
    x = tiny_digits(6)
    codes = model.encode_codes(x)
    logits = model.decode_codes(codes)
    reconstruction = -Bernoulli(logits=logits).log_prob(x).sum(1)
    uniform = reconstruction + 49 * math.log(8)  # KL = log K per latent
    torch.testing.assert_close(negative_elbo(model, x), uniform)
    log_prior = Categorical(logits=prior(codes).permute(0, 2, 3, 1))
    learned = reconstruction - log_prior.log_prob(codes).sum((1, 2))
    torch.testing.assert_close(negative_elbo(model, x, prior), learned)
    expected = uniform.mean().item() / (784 * math.log(2))
    assert bits_per_dim(model, x) == pytest.approx(expected, rel=1e-6)


def test_the_kl_of_a_one_hot_posterior_is_minus_the_log_prior_of_its_code():
    # Chapter 12's KL(q(z | x) || p(z)) = -log p(c(x)), against torch's
    # categorical KL (which takes 0 log 0 as 0), for every code of a K = 7
    # prior.
    g = torch.Generator().manual_seed(0)
    prior = torch.randn(7, generator=g, dtype=torch.float64).softmax(0)
    for k in range(7):
        one_hot = torch.nn.functional.one_hot(torch.tensor(k), 7).double()
        kl = torch.distributions.kl_divergence(
            Categorical(probs=one_hot), Categorical(probs=prior)
        )
        torch.testing.assert_close(kl, -prior[k].log())


def test_the_one_code_elbo_bounds_the_exact_log_evidence():
    # Chapter 12's -log p(x) <= -log p(x | c) - log p(c), for any code c,
    # against the exact evidence p(x) = sum_c p(c) p(x | c) of a model
    # small enough to enumerate: 5 codes, 30 random binary images.
    g = torch.Generator().manual_seed(1)
    log_prior = torch.randn(5, generator=g, dtype=torch.float64).log_softmax(0)
    logits = 3 * torch.randn(5, 16, generator=g, dtype=torch.float64)
    x = (torch.rand(30, 16, generator=g) > 0.5).double()
    log_likelihood = Bernoulli(logits=logits[None]).log_prob(x[:, None]).sum(2)
    log_evidence = (log_prior + log_likelihood).logsumexp(1)  # (30,)
    bound = -(log_likelihood + log_prior)  # (30, 5): one ELBO per code
    assert (bound >= -log_evidence[:, None]).all()
    # tightest at the most probable code, and the gap is the posterior's
    # missing mass: -log p(c* | x)
    gap = bound.min(1).values + log_evidence
    posterior = (log_prior + log_likelihood).softmax(1)
    torch.testing.assert_close(gap, -posterior.max(1).values.log())


# --- training ----------------------------------------------------------------


def test_a_few_training_steps_decrease_the_loss_and_record_usage():
    x = tiny_digits(48)
    model = seeded(lambda: VQVAE(16, 4, hidden=8, n_blocks=1))
    before = model.eval().loss(x).reconstruction.item()
    history = train_vq_vae(
        model, x, epochs=5, batch_size=8, lr=1e-2, dead_code_threshold=1.0
    )
    after = model.eval().loss(x).reconstruction.item()
    assert after < 0.5 * before  # from about 510 to about 140 nats
    assert history.loss[-1] < 0.5 * history.loss[0]
    for series in (history.perplexity, history.epoch_perplexity):
        assert len(series) == 5 and all(1 <= v <= 16 for v in series)
    assert all(1 <= c <= 16 for c in history.codes_used)
    assert history.reseeded[0] > 0


def test_training_is_deterministic_for_a_seed():
    x = tiny_digits(32)

    def run(seed):
        model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
        history = train_vq_vae(
            model,
            x,
            epochs=2,
            batch_size=8,
            seed=seed,
            dead_code_threshold=0.5,
            test_images=x[:8],
        )
        return history, model.state_dict()

    (h1, s1), (h2, s2), (h3, _) = run(0), run(0), run(1)
    assert h1 == h2
    assert all(torch.equal(s1[name], s2[name]) for name in s1)
    assert h1.loss != h3.loss


def plain_vq_training(model, x, epochs, batch_size, lr, seed, threshold):
    """The recipe the docstring of train_vq_vae states, as a plain loop."""
    shuffle = torch.Generator().manual_seed(seed)
    reseed = torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    images = x.reshape(-1, 1, 28, 28)
    for _ in range(epochs):
        model.train()
        for index in torch.randperm(len(x), generator=shuffle).split(
            batch_size
        ):
            terms = model.loss(images[index])
            optimizer.zero_grad()
            terms.loss.backward()
            optimizer.step()
            model.quantizer.reseed_dead_codes(terms.z_e, threshold, reseed)
    model.eval()


@pytest.mark.parametrize("ema", [True, False])
def test_training_equals_the_plain_loop_of_its_docstring_bit_for_bit(ema):
    # The weights and the codebook the shipped files were trained to: the
    # loop, its checks and the records must not change a single bit.
    x = tiny_digits(44)  # batches of 8, 8, 8, 8, 8 and 4
    settings = {"epochs": 3, "batch_size": 8, "lr": 1e-2, "seed": 5}
    ours = seeded(lambda: VQVAE(16, 4, hidden=8, n_blocks=1, ema=ema))
    plain = seeded(lambda: VQVAE(16, 4, hidden=8, n_blocks=1, ema=ema))
    train_vq_vae(ours, x, dead_code_threshold=1.0, **settings)
    plain_vq_training(plain, x, threshold=1.0, **settings)
    ours_state, plain_state = ours.state_dict(), plain.state_dict()
    assert ours_state.keys() == plain_state.keys()
    for name in ours_state:
        assert torch.equal(ours_state[name], plain_state[name]), name


def test_prior_training_equals_the_plain_loop_bit_for_bit():
    codes = torch.randint(
        0, 5, (20, 3, 3), generator=torch.Generator().manual_seed(4)
    )
    ours = seeded(lambda: PixelCNNPrior(5, grid_size=3, channels=8))
    plain = seeded(lambda: PixelCNNPrior(5, grid_size=3, channels=8))
    train_prior(ours, codes, epochs=2, batch_size=8, lr=1e-2, seed=3)
    shuffle = torch.Generator().manual_seed(3)
    optimizer = torch.optim.Adam(plain.parameters(), lr=1e-2)
    for _ in range(2):
        for index in torch.randperm(20, generator=shuffle).split(8):
            loss = plain.nll(codes[index]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for name, value in ours.state_dict().items():
        assert torch.equal(value, plain.state_dict()[name]), name


def test_epoch_means_weigh_each_batch_by_its_images():
    # Adam's steps are about lr = 1e-30, below a float32 ulp of every
    # weight, and the codebook is learned by its loss term: the model does
    # not change, so each image has one loss, and the epoch's record is
    # their mean over the images, not the mean of the batch means (the
    # last batch holds 2 images, the others 8). Half the images are blank,
    # the decoder predicts blank pixels and the codes are encoder outputs
    # of the digits, so that the batches' terms and perplexities differ.
    x = torch.cat([tiny_digits(13), torch.zeros(13, 784)])
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1, ema=False))
    with torch.no_grad():
        model.decoder[-2].bias.fill_(-5.0)  # logits of the pixels
        rows = model.encode(x[:13]).movedim(1, -1).reshape(-1, 4)
        model.quantizer.codebook.copy_(rows[::80][:8])
    start = {k: v.clone() for k, v in model.state_dict().items()}
    history = train_vq_vae(model, x, epochs=1, batch_size=8, lr=1e-30)
    for name in ("quantizer.codebook", "encoder.0.weight", "decoder.0.bias"):
        assert torch.equal(model.state_dict()[name], start[name])
    order = torch.randperm(26, generator=torch.Generator().manual_seed(0))
    batches = [x[index] for index in order.split(8)]
    with torch.no_grad():
        per_batch = [model.loss(b) for b in batches]
    sizes = torch.tensor([len(b) for b in batches], dtype=torch.float64)
    for name in ("loss", "reconstruction", "codebook", "commitment"):
        values = torch.tensor([getattr(t, name).item() for t in per_batch])
        per_image = (sizes * values.double()).sum().item() / 26
        batch_mean = values.double().mean().item()
        assert history.series[name][0] == pytest.approx(per_image, rel=1e-6)
        assert abs(per_image - batch_mean) > 1e-3 * abs(per_image)
    perplexities = torch.tensor(
        [t.perplexity for t in per_batch], dtype=torch.float64
    )
    weighted = (sizes * perplexities).sum().item() / 26
    assert history.perplexity[0] == pytest.approx(weighted, rel=1e-12)
    assert history.perplexity[0] != pytest.approx(perplexities.mean().item())


def test_the_records_are_histories_with_the_series_of_before():
    assert vq.VQHistory is History and vq.PriorHistory is History
    x = tiny_digits(16)
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    history = train_vq_vae(model, x, epochs=2, batch_size=8, test_images=x)
    assert history.x == "epoch"
    assert list(history.columns()) == [
        "loss",
        "reconstruction",
        "codebook",
        "commitment",
        "perplexity",
        "epoch_perplexity",
        "codes_used",
        "reseeded",
        "test_reconstruction",
    ]
    assert all(len(v) == 2 for v in history.columns().values())
    # the test record is the reconstruction NLL after the last epoch
    logits = model.decode_codes(model.encode_codes(x))
    nll = -Bernoulli(logits=logits).log_prob(x).sum(1).mean().item()
    assert history.test_reconstruction[-1] == pytest.approx(nll, rel=1e-6)
    prior = seeded(lambda: PixelCNNPrior(8, channels=8, n_blocks=1))
    codes = model.encode_codes(x)
    curves = train_prior(prior, codes, epochs=2, test_codes=codes)
    assert list(curves.columns()) == ["train_nll", "test_nll"]
    assert curves.test_nll[-1] == pytest.approx(
        prior.nll(codes).mean().item(), rel=1e-6
    )


def test_trainers_leave_every_module_in_evaluation_mode():
    x = tiny_digits(16)
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    train_vq_vae(model, x, epochs=1, batch_size=8)  # no test images
    assert not any(m.training for m in model.modules())
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    train_vq_vae(model, x, epochs=1, batch_size=8, test_images=x)
    assert not any(m.training for m in model.modules())
    prior = seeded(lambda: PixelCNNPrior(8, channels=8, n_blocks=1))
    train_prior(prior, model.encode_codes(x), epochs=1)
    assert not any(m.training for m in prior.modules())


def test_prior_training_decreases_the_nll_and_is_deterministic():
    g = torch.Generator().manual_seed(3)
    # codes with structure: each grid is constant
    codes = torch.randint(0, 4, (64, 1, 1), generator=g).expand(64, 3, 3)
    codes = codes.contiguous()

    def run():
        prior = seeded(lambda: PixelCNNPrior(4, grid_size=3, channels=16))
        return train_prior(prior, codes, epochs=5, batch_size=16, lr=3e-3)

    first, second = run(), run()
    assert first.train_nll[-1] < first.train_nll[0]
    assert first == second


def test_a_nan_in_the_encoder_stops_training_naming_z_e():
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    with torch.no_grad():
        model.encoder[0].weight[0, 0, 0, 0] = math.nan
    with pytest.raises(
        TrainingDiverged,
        match=r"epoch 1, batch 1: the loss is nan: z_e contains NaN",
    ):
        train_vq_vae(model, tiny_digits(16), epochs=1, batch_size=8)


def test_a_nan_in_the_decoder_stops_training_naming_the_logits():
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    with torch.no_grad():
        model.decoder[0].bias[0] = math.nan
    with pytest.raises(TrainingDiverged, match="logits contains NaN"):
        train_vq_vae(model, tiny_digits(16), epochs=1, batch_size=8)


def test_a_divergence_names_the_epoch_and_the_batch(monkeypatch):
    # The 6th step (epoch 2, batch 2, with 4 batches an epoch) returns an
    # infinite reconstruction term: the step is not taken.
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    real_loss, calls = model.loss, []

    def loss(x):
        terms = real_loss(x)
        calls.append(1)
        if len(calls) == 6:
            inf = terms.reconstruction * math.inf
            terms = terms._replace(loss=terms.loss + inf, reconstruction=inf)
        return terms

    monkeypatch.setattr(model, "loss", loss)
    with pytest.raises(TrainingDiverged) as info:
        train_vq_vae(model, tiny_digits(32), epochs=3, batch_size=8)
    assert (info.value.epoch, info.value.batch, info.value.step) == (2, 2, 6)
    assert "epoch 2, batch 2" in str(info.value)


def test_a_nan_in_the_prior_stops_its_training():
    prior = seeded(lambda: PixelCNNPrior(4, grid_size=3, channels=8))
    with torch.no_grad():
        prior.output_conv.bias[0] = math.nan
    codes = torch.zeros(8, 3, 3, dtype=torch.int64)
    with pytest.raises(
        TrainingDiverged, match=r"epoch 1, batch 1: the nll term is nan"
    ):
        train_prior(prior, codes, epochs=1)


def test_training_on_a_cpu_device_object_is_training_on_the_cpu():
    x = tiny_digits(16)
    runs = []
    for device in ("cpu", torch.device("cpu")):
        model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
        runs.append(train_vq_vae(model, x, epochs=1, device=device))
    assert runs[0] == runs[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trainers_train_on_the_device_asked_for():
    x = tiny_digits(32)
    model = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    cpu = seeded(lambda: VQVAE(8, 4, hidden=8, n_blocks=1))
    settings = {"epochs": 2, "batch_size": 8, "dead_code_threshold": 1.0}
    history = train_vq_vae(
        model, x, device="cuda", test_images=x[:8], **settings
    )
    expected = train_vq_vae(cpu, x, test_images=x[:8], **settings)
    assert all(t.device.type == "cuda" for t in model.state_dict().values())
    # the same recipe, up to the GPU's rounding (TF32 convolutions)
    assert history.loss == pytest.approx(expected.loss, rel=1e-2)
    prior = seeded(lambda: PixelCNNPrior(8, channels=8, n_blocks=1))
    codes = cpu.encode_codes(x)
    train_prior(prior, codes, epochs=1, device="cuda", test_codes=codes)
    assert all(t.device.type == "cuda" for t in prior.state_dict().values())
    with pytest.raises(ValueError, match="generator is on cpu but the prior"):
        prior.sample(2, torch.Generator())
    grids = prior.sample(2, torch.Generator("cuda").manual_seed(0))
    assert grids.device.type == "cuda"


# --- bad inputs --------------------------------------------------------------

z2 = torch.zeros(4, 2)
book = torch.zeros(3, 2)
grid = torch.zeros(2, 4, 7, 7)
counts = torch.ones(3)
chosen = torch.zeros(4, dtype=torch.int64)
quantizer = VectorQuantizer(3, 2)
quantizer7 = VectorQuantizer(3, 7)
images = torch.zeros(4, 784)
inf_pixel = images.clone()
inf_pixel[1, 300] = math.inf
codes7 = torch.zeros(2, 7, 7, dtype=torch.int64)
NO_CUDA = not torch.cuda.is_available()


def vqvae():
    return VQVAE(8, 4, hidden=8, n_blocks=1)


BAD_INPUTS = [
    (
        lambda: nearest_codes(torch.zeros(4, 3), book),
        ValueError,
        "z_e must have shape (..., 2), the code dimension d of the codebook "
        "last, got (4, 3)",
    ),
    (
        lambda: nearest_codes(z2, torch.zeros(0, 2)),
        ValueError,
        "codebook must have shape (K, d) with K >= 1 codes, got (0, 2)",
    ),
    (
        lambda: nearest_codes(z2.double(), book),
        TypeError,
        "z_e and codebook must have the same dtype, got torch.float64 and "
        "torch.float32",
    ),
    (
        lambda: nearest_codes(z2 * math.nan, book),
        ValueError,
        "z_e contains NaN",
    ),
    (
        lambda: quantize(torch.tensor([0, 3]), book),
        ValueError,
        "indices must lie in [0, 2] for K = 3 codes, found values in [0, 3]",
    ),
    (
        lambda: quantize(torch.tensor([0.0]), book),
        TypeError,
        "indices must be an int64 tensor of code indices",
    ),
    (
        lambda: codebook_loss(z2, torch.zeros(4, 3)),
        ValueError,
        "z_e and e must have the same shape, got (4, 2) and (4, 3)",
    ),
    (
        lambda: codebook_loss(z2, z2.double()),
        TypeError,
        "z_e and e must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: commitment_loss(z2.double(), z2),
        TypeError,
        "z_e and e must have the same dtype, got torch.float64 and "
        "torch.float32",
    ),
    (
        lambda: straight_through(z2, z2.double()),
        TypeError,
        "z_e and e must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: straight_through(z2, z2 + math.inf),
        ValueError,
        "e must be finite, found inf",
    ),
    (
        lambda: commitment_loss(z2, z2, commitment_cost=-0.1),
        ValueError,
        "commitment_cost must be at least 0.0, got -0.1",
    ),
    (
        lambda: commitment_loss(z2, z2, commitment_cost="0.25"),
        TypeError,
        "commitment_cost must be a real number, got str",
    ),
    (
        lambda: VectorQuantizer(0, 2),
        ValueError,
        "num_codes must be at least 1, got 0",
    ),
    (
        lambda: VectorQuantizer(2.5, 2),
        TypeError,
        "num_codes must be an integer, got float 2.5",
    ),
    (
        lambda: VectorQuantizer(4, 2, commitment_cost=-1),
        ValueError,
        "commitment_cost must be at least 0.0, got -1.0",
    ),
    (
        lambda: VectorQuantizer(4, 2, decay=1.0),
        ValueError,
        "decay must lie in (0, 1), got 1.0",
    ),
    (
        lambda: VectorQuantizer(4, 2, decay=0),
        ValueError,
        "decay must lie in (0, 1), got 0.0",
    ),
    (
        lambda: VectorQuantizer(4, 2, ema=1),
        TypeError,
        "ema must be True or False, got int 1",
    ),
    (
        lambda: quantizer(torch.zeros(2, 3, 7, 7)),
        ValueError,
        "z_e must be channels first, shape (batch, 2, H, W) or (batch, 2): "
        "the code dimension d = 2 second, as a convolution gives it; got "
        "(2, 3, 7, 7)",
    ),
    (
        # channels last, (batch, H, W, d): refused, with the fix
        lambda: quantizer(torch.zeros(2, 7, 7, 2)),
        ValueError,
        "got (2, 7, 7, 2); its last dimension is 2: for channels-last "
        "vectors (batch, H, W, 2) pass z_e.movedim(-1, 1)",
    ),
    (
        # d = 7 and a 5 x 5 grid, channels last: dimension 1 is not d
        lambda: quantizer7(torch.zeros(2, 5, 5, 7)),
        ValueError,
        "for channels-last vectors (batch, H, W, 7) pass z_e.movedim(-1, 1)",
    ),
    (
        lambda: quantizer(torch.zeros(0, 2, 7, 7)),
        ValueError,
        "z_e must hold at least one example, got a batch of size 0",
    ),
    (
        lambda: quantizer(grid[:, :2].double()),
        TypeError,
        "codebook and z_e must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: ema_codebook_update(counts, book, z2, chosen, 1.5),
        ValueError,
        "decay must lie in (0, 1), got 1.5",
    ),
    (
        lambda: ema_codebook_update(torch.ones(2), book, z2, chosen),
        ValueError,
        "cluster_size must have shape (3,), one count per code, got (2,)",
    ),
    (
        # a negative count: n = 0 here, and the codes would be +-inf
        lambda: ema_codebook_update(
            torch.tensor([-1.0, 0.5, 0.5]), book, z2, chosen
        ),
        ValueError,
        "cluster_size must be non-negative, an average number of vectors "
        "per code; found -1",
    ),
    (
        lambda: ema_codebook_update(counts * math.inf, book, z2, chosen),
        ValueError,
        "cluster_size must be finite, found inf",
    ),
    (
        lambda: ema_codebook_update(counts, book * math.nan, z2, chosen),
        ValueError,
        "embed_sum contains NaN",
    ),
    (
        lambda: ema_codebook_update(counts, book, z2 - math.inf, chosen),
        ValueError,
        "z_e must be finite, found -inf",
    ),
    (
        lambda: ema_codebook_update(counts, book, z2, chosen, eps=math.inf),
        ValueError,
        "eps must be finite, got inf",
    ),
    (
        lambda: ema_codebook_update(counts.double(), book, z2, chosen),
        TypeError,
        "embed_sum and cluster_size must have the same dtype, got "
        "torch.float32 and torch.float64",
    ),
    (
        lambda: ema_codebook_update(counts, book, z2.double(), chosen),
        TypeError,
        "embed_sum and z_e must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: perplexity(torch.tensor([0, 1]), 0),
        ValueError,
        "num_codes must be at least 1, got 0",
    ),
    (
        lambda: quantizer.reseed_dead_codes(grid[:, :2], -1.0),
        ValueError,
        "threshold must be at least 0.0, got -1.0",
    ),
    (
        lambda: quantizer.reseed_dead_codes(grid[:, :2], 1.0, generator=0),
        TypeError,
        "generator must be a torch.Generator or None, got int 0",
    ),
    (
        lambda: ResidualBlock(4, 2)(torch.zeros(2, 3, 7, 7)),
        ValueError,
        "x must have shape (batch, 4, H, W), got (2, 3, 7, 7)",
    ),
    (
        lambda: vqvae()(torch.zeros(2, 785)),
        ValueError,
        "x must hold 28x28 images: shape (batch, 1, 28, 28), (batch, 28, "
        "28) or (batch, 784), got (2, 785)",
    ),
    (
        lambda: vqvae()(torch.zeros(2, 784, dtype=torch.float64)),
        TypeError,
        "x has dtype torch.float64 but the model's weights have dtype "
        "torch.float32",
    ),
    (
        # an infinite pixel: named at the images, not as a NaN of z_e
        lambda: vqvae().loss(inf_pixel),
        ValueError,
        "x must be finite, found inf",
    ),
    (
        lambda: vqvae().encode(inf_pixel * -1),
        ValueError,
        "x must be finite, found -inf",
    ),
    (
        lambda: vqvae().loss(images + 2.0),
        ValueError,
        "x must lie in [0, 1], found values in [2, 2]",
    ),
    (
        lambda: vqvae().decode(torch.full((2, 4, 7, 7), math.inf)),
        ValueError,
        "z_q must be finite, found inf",
    ),
    (
        lambda: vqvae().decode(torch.zeros(2, 4, 7, 7, dtype=torch.float64)),
        TypeError,
        "codebook and z_q must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: VQVAE(8, 4, hidden=7),
        ValueError,
        "hidden must be even, got 7",
    ),
    (
        lambda: vqvae().decode_codes(torch.zeros(2, 6, 6).long()),
        ValueError,
        "indices must have shape (batch, 7, 7), got (2, 6, 6)",
    ),
    (
        lambda: MaskedConv2d(1, 1, 4, "A"),
        ValueError,
        "kernel_size must be odd, got 4",
    ),
    (
        lambda: MaskedConv2d(1, 1, 3, "C"),
        ValueError,
        "mask_type must be 'A' or 'B', got 'C'",
    ),
    (
        lambda: MaskedConv2d(1, 1, 3, 1),
        TypeError,
        "mask_type must be 'A' or 'B', got int 1",
    ),
    (
        lambda: MaskedConv2d(0, 1, 3, "A"),
        ValueError,
        "in_channels must be at least 1, got 0",
    ),
    (
        lambda: MaskedConv2d(2, 1, 3, "A")(torch.zeros(1, 3, 5, 5)),
        ValueError,
        "x must have shape (batch, 2, H, W), got (1, 3, 5, 5)",
    ),
    (
        lambda: PixelCNNPrior(0),
        ValueError,
        "num_codes must be at least 1, got 0",
    ),
    (
        lambda: PixelCNNPrior(4).sample(0),
        ValueError,
        "n must be at least 1, got 0",
    ),
    (
        lambda: PixelCNNPrior(4, embed_dim=3).logits_from_embedded(
            torch.zeros(1, 3, 6, 6)
        ),
        ValueError,
        "h must have shape (batch, 3, 7, 7), got (1, 3, 6, 6)",
    ),
    (
        lambda: PixelCNNPrior(4, embed_dim=3).logits_from_embedded(
            torch.full((1, 3, 7, 7), math.nan)
        ),
        ValueError,
        "h contains NaN",
    ),
    (
        lambda: train_vq_vae(vqvae(), torch.full((4, 784), 2.0)),
        ValueError,
        "images must lie in [0, 1], found values in [2, 2]",
    ),
    (
        lambda: train_vq_vae(vqvae(), images * math.nan),
        ValueError,
        "images contains NaN",
    ),
    (
        lambda: train_vq_vae(vqvae(), images, test_images=images.double()),
        TypeError,
        "test_images has dtype torch.float64 but the model's weights have "
        "dtype torch.float32",
    ),
    (
        lambda: train_vq_vae(vqvae(), images, epochs=0),
        ValueError,
        "epochs must be at least 1, got 0",
    ),
    (
        lambda: train_vq_vae(vqvae(), images, dead_code_threshold=-1),
        ValueError,
        "dead_code_threshold must be at least 0.0, got -1.0",
    ),
    (
        lambda: train_vq_vae(PixelCNNPrior(4), images),
        TypeError,
        "model must be a vaecourse.vq.VQVAE, got PixelCNNPrior",
    ),
    (
        lambda: train_vq_vae(vqvae(), images, device="tpu"),
        ValueError,
        "device 'tpu' is not a device this course can use",
    ),
    (
        lambda: train_vq_vae(vqvae(), images, device=0),
        TypeError,
        "device must be a str or torch.device, got int 0",
    ),
    (
        lambda: train_prior(PixelCNNPrior(4), codes7, lr=0.0),
        ValueError,
        "lr must be positive, got 0.0",
    ),
    (
        lambda: train_prior(vqvae(), codes7),
        TypeError,
        "prior must be a vaecourse.vq.PixelCNNPrior, got VQVAE",
    ),
    (
        lambda: train_prior(PixelCNNPrior(4), codes7[:, :5, :5]),
        ValueError,
        "codes must have shape (batch, 7, 7), got (2, 5, 5)",
    ),
    (
        lambda: train_prior(PixelCNNPrior(4), codes7 + 4),
        ValueError,
        "codes must lie in [0, 3] for K = 4 codes, found values in [4, 4]",
    ),
    (
        lambda: train_prior(PixelCNNPrior(4), codes7, test_codes=codes7 - 1),
        ValueError,
        "test_codes must lie in [0, 3]",
    ),
    (
        lambda: train_prior(PixelCNNPrior(4), codes7, device="tpu"),
        ValueError,
        "device 'tpu' is not a device this course can use",
    ),
    (
        lambda: negative_elbo(vqvae(), images, PixelCNNPrior(5)),
        ValueError,
        "prior has 5 codes but the model has 8",
    ),
    (
        lambda: negative_elbo(vqvae(), images, PixelCNNPrior(8, 5)),
        ValueError,
        "prior models 5 x 5 grids of codes but the model's grids are 7 x 7",
    ),
    (
        lambda: negative_elbo(PixelCNNPrior(8), images),
        TypeError,
        "model must be a vaecourse.vq.VQVAE, got PixelCNNPrior",
    ),
    (
        lambda: negative_elbo(vqvae(), images, prior=vqvae()),
        TypeError,
        "prior must be a vaecourse.vq.PixelCNNPrior, got VQVAE",
    ),
    (
        lambda: negative_elbo(vqvae(), inf_pixel),
        ValueError,
        "images must be finite, found inf",
    ),
    (
        lambda: bits_per_dim(vqvae(), images - 1.0),
        ValueError,
        "images must lie in [0, 1], found values in [-1, -1]",
    ),
]
if NO_CUDA:
    BAD_INPUTS.append(
        (
            lambda: train_vq_vae(vqvae(), images, device="cuda"),
            ValueError,
            "device 'cuda' was asked for, but this PyTorch sees no CUDA",
        )
    )


@table(BAD_INPUTS)
def test_bad_input_raises_a_named_error(call, error, message):
    raises(call, error, message)


def test_a_batch_outside_0_1_updates_nothing():
    # checked before the forward pass, which in training mode would move
    # the usage and the EMA codebook
    model = vqvae().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        model.loss(images + 2.0)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_a_quantizer_with_d_equal_to_h_takes_channels_first_as_given():
    # (2, 7, 7, 7) is read as (batch, d, H, W): with d = H = 7 nothing can
    # tell the layouts apart, and dimension 1 decides
    z_e = randn(2, 7, 7, 7, seed=40, dtype=torch.float32)
    out = quantizer7.eval()(z_e)
    rows = z_e.movedim(1, -1).reshape(-1, 7)
    assert torch.equal(
        out.indices.reshape(-1), nearest_codes(rows, quantizer7.codebook)
    )


def test_module_lists_its_public_names():
    for name in vq.__all__:
        assert getattr(vq, name).__doc__, name
