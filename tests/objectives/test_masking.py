"""Statistical and exact properties of mask_tokens."""

from __future__ import annotations

import pytest
import torch

from workbench.objectives.masking import (
    IGNORE_INDEX,
    draw_rows,
    generator_for,
    mask_sequences,
    mask_tokens,
    masking_seed,
    replacement_ids,
)

VOCAB = 1000
PAD, CLS, SEP, MASK, UNK = 0, 1, 2, 3, 4
SPECIALS = frozenset({PAD, CLS, SEP, MASK, UNK})


def batch(rows=256, length=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (rows, length), generator=g)
    ids[:, 0] = CLS
    lengths = torch.randint(length // 2, length, (rows,), generator=g)
    for row, n in enumerate(lengths.tolist()):
        ids[row, n - 1] = SEP
        ids[row, n:] = PAD
    return ids


def run(ids, seed=1, **kwargs):
    return mask_tokens(ids, vocab_size=VOCAB, special_ids=SPECIALS, mask_id=MASK, generator=generator_for(seed, 0, 0), **kwargs)


def test_rates_and_80_10_10_split():
    ids = batch()
    masked, labels = run(ids)
    candidates = ~torch.isin(ids, torch.tensor(sorted(SPECIALS)))
    selected = labels != IGNORE_INDEX
    n = int(candidates.sum())
    rate = float(selected.sum()) / n
    # binomial(n, 0.15): 5 standard deviations
    assert abs(rate - 0.15) < 5 * (0.15 * 0.85 / n) ** 0.5
    k = int(selected.sum())
    as_mask = float((masked[selected] == MASK).sum()) / k
    unchanged = float((masked[selected] == ids[selected]).sum()) / k
    randomized = 1 - as_mask - unchanged
    for observed, expected in ((as_mask, 0.8), (randomized, 0.1)):
        assert abs(observed - expected) < 5 * (expected * (1 - expected) / k) ** 0.5
    # random draws may equal the original token (1/995): "unchanged" is 10% + 10% * 1/995
    assert abs(unchanged - (0.1 + 0.1 / 995)) < 5 * (0.1 * 0.9 / k) ** 0.5


def test_labels_hold_originals_and_unselected_tokens_are_untouched():
    ids = batch(rows=32)
    masked, labels = run(ids)
    selected = labels != IGNORE_INDEX
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(masked[~selected], ids[~selected])


def test_specials_and_padding_never_masked_and_random_tokens_never_special():
    ids = batch()
    # everything selected, everything randomized: every replacement is a random draw
    masked, labels = run(ids, mlm_probability=1.0, mask_token_fraction=0.0, random_token_fraction=1.0)
    special = torch.isin(ids, torch.tensor(sorted(SPECIALS)))
    assert (labels[special] == IGNORE_INDEX).all()
    assert torch.equal(masked[special], ids[special])
    assert (labels[~special] != IGNORE_INDEX).all()
    replaced = masked[~special]
    assert not torch.isin(replaced, torch.tensor(sorted(SPECIALS))).any()
    assert int(replaced.min()) >= 5 and int(replaced.max()) < VOCAB
    # uniform over the 995 non-special ids: chi-square test on 10 equal bins
    counts = torch.histc(replaced.float(), bins=10, min=5, max=VOCAB)
    expected = replaced.numel() / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 27.9  # 9 degrees of freedom, p = 0.001


def test_replacement_pool_excludes_specials():
    pool = replacement_ids(10, {0, 3, 9, 42})
    assert pool.tolist() == [1, 2, 4, 5, 6, 7, 8]


def test_same_generator_seed_same_result_and_input_untouched():
    ids = batch(rows=8)
    before = ids.clone()
    a = run(ids, seed=7)
    b = run(ids, seed=7)
    c = run(ids, seed=8)
    assert torch.equal(ids, before)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_generator_for_depends_on_each_of_seed_epoch_index():
    draws = {key: torch.rand(4, generator=generator_for(*key)).tolist() for key in [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]}
    assert len({tuple(v) for v in draws.values()}) == 4
    assert torch.rand(4, generator=generator_for(0, 0, 0)).tolist() == draws[(0, 0, 0)]


def test_bad_arguments_raise_clear_errors():
    ids = batch(rows=2)
    with pytest.raises(ValueError, match="sum to at most 1"):
        run(ids, mask_token_fraction=0.9, random_token_fraction=0.2)
    with pytest.raises(ValueError, match=r"\[batch, seqlen\]"):
        run(ids[0])


def _lengths(ids):
    return (ids != PAD).sum(dim=1).tolist()


def _sequences(ids, seeds, **kwargs):
    return mask_sequences(ids, _lengths(ids), seeds, vocab_size=VOCAB, special_ids=SPECIALS, mask_id=MASK, **kwargs)


@pytest.mark.parametrize("whole_word", [False, True])
def test_each_row_of_a_batch_is_masked_as_it_would_be_alone(whole_word):
    # mask_sequences is the batched form of mask_tokens on each row's real tokens with that row's own generator
    ids = batch(rows=24, length=96, seed=3)
    starts = torch.rand(ids.shape, generator=torch.Generator().manual_seed(4)) < 0.6 if whole_word else None
    keys = [(1, 2, 100 + row) for row in range(len(ids))]
    masked, labels = _sequences(ids, [masking_seed(*key) for key in keys], mlm_probability=0.4, word_starts=starts)
    for row, (key, length) in enumerate(zip(keys, _lengths(ids))):
        alone_masked, alone_labels = mask_tokens(
            ids[row : row + 1, :length], vocab_size=VOCAB, special_ids=SPECIALS, mask_id=MASK,
            generator=generator_for(*key), mlm_probability=0.4,
            word_starts=None if starts is None else starts[row : row + 1, :length],
        )
        assert torch.equal(masked[row, :length], alone_masked[0]) and torch.equal(labels[row, :length], alone_labels[0])
        assert torch.equal(masked[row, length:], ids[row, length:]) and bool((labels[row, length:] == IGNORE_INDEX).all())


def test_batched_masking_rates_80_10_10_and_uniform_replacements():
    ids = batch(rows=512, length=128, seed=5)
    masked, labels = _sequences(ids, [masking_seed(0, 0, row) for row in range(len(ids))])
    candidates = ~torch.isin(ids, torch.tensor(sorted(SPECIALS)))
    selected = labels != IGNORE_INDEX
    assert not (selected & ~candidates).any()
    n, k = int(candidates.sum()), int(selected.sum())
    assert abs(k / n - 0.15) < 5 * (0.15 * 0.85 / n) ** 0.5
    as_mask = float((masked[selected] == MASK).sum()) / k
    unchanged = float((masked[selected] == ids[selected]).sum()) / k
    assert abs(as_mask - 0.8) < 5 * (0.8 * 0.2 / k) ** 0.5
    assert abs(unchanged - (0.1 + 0.1 / 995)) < 5 * (0.1 * 0.9 / k) ** 0.5
    # every selected token randomized: replacements uniform over the 995 non-special ids
    masked, labels = _sequences(ids, [masking_seed(0, 1, row) for row in range(len(ids))], mlm_probability=1.0,
                                mask_token_fraction=0.0, random_token_fraction=1.0)
    replaced = masked[candidates]
    assert not torch.isin(replaced, torch.tensor(sorted(SPECIALS))).any() and int(replaced.max()) < VOCAB
    counts = torch.histc(replaced.float(), bins=10, min=5, max=VOCAB)
    expected = replaced.numel() / 10
    assert float(((counts - expected) ** 2 / expected).sum()) < 27.9  # chi-square, 9 degrees of freedom, p = 0.001
    # rows with different seeds are independent: the same sequence twice gets two different masks
    twin = torch.cat([ids[:1], ids[:1]])
    _, twin_labels = _sequences(twin, [masking_seed(0, 0, 1), masking_seed(0, 0, 2)], mlm_probability=0.5)
    assert not torch.equal(twin_labels[0], twin_labels[1])


def test_positions_past_a_rows_length_are_never_selected_even_without_a_special_padding_id():
    ids = torch.randint(5, VOCAB, (4, 32), generator=torch.Generator().manual_seed(6))  # "padding" of ordinary ids
    masked, labels = mask_sequences(ids, [32, 10, 0, 20], [1, 2, 3, 4], vocab_size=VOCAB, special_ids=SPECIALS,
                                    mask_id=MASK, mlm_probability=1.0)
    for row, length in enumerate([32, 10, 0, 20]):
        assert bool((labels[row, :length] != IGNORE_INDEX).all()) and bool((labels[row, length:] == IGNORE_INDEX).all())
        assert torch.equal(masked[row, length:], ids[row, length:])


def test_row_draws_depend_on_the_seed_and_length_only():
    draws = draw_rows([5, 3], width=8, pool_size=995, seeds=[11, 12])
    alone = draw_rows([3], width=3, pool_size=995, seeds=[12])
    assert torch.equal(draws.select[1, :3], alone.select[0]) and torch.equal(draws.replacement[1, :3], alone.replacement[0])
    assert bool((draws.select[1, 3:] == 0).all())
    with pytest.raises(ValueError, match="one seed per row"):
        draw_rows([5, 3], width=8, pool_size=995, seeds=[11])
    with pytest.raises(ValueError, match="batch width 8"):
        draw_rows([9], width=8, pool_size=995, seeds=[11])
