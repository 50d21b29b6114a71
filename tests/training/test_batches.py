"""Masks are seeded per (seed, epoch, sample): the same whatever the micro-batch / process split."""

import torch

from workbench.objectives.config import ObjectiveConfig
from workbench.training.batches import mask_batch


class _Tok:
    vocab_size = 1000
    special_ids = frozenset({0, 1, 2, 3, 4})
    mask_id = 4
    algorithm = "wordpiece"
    pad_id = 0


def _batch(ids, sample_ids, epoch=0, positions=None):
    positions = sample_ids if positions is None else positions  # one epoch read in order unless told otherwise
    return {"input_ids": ids, "attention_mask": ids != 0, "sample_ids": torch.tensor(sample_ids),
            "positions": torch.tensor(positions), "epoch": torch.tensor(epoch)}


def test_masks_do_not_depend_on_how_the_batch_is_split():
    ids = torch.randint(5, 1000, (8, 64), generator=torch.Generator().manual_seed(0))
    objective = ObjectiveConfig()
    whole = mask_batch(_batch(ids, list(range(8))), _Tok(), objective, seed=3)
    even = mask_batch(_batch(ids[0::2], [0, 2, 4, 6]), _Tok(), objective, seed=3)
    odd = mask_batch(_batch(ids[1::2], [1, 3, 5, 7]), _Tok(), objective, seed=3)
    assert torch.equal(whole.input_ids[0::2], even.input_ids) and torch.equal(whole.labels[1::2], odd.labels)


def test_dynamic_masks_change_across_epochs_static_ones_cycle():
    ids = torch.randint(5, 1000, (4, 128), generator=torch.Generator().manual_seed(1))
    dynamic = ObjectiveConfig(masking="dynamic")
    static = ObjectiveConfig(masking="static", static_duplicates=2)
    first = mask_batch(_batch(ids, [0, 1, 2, 3], epoch=0), _Tok(), dynamic, seed=0)
    second = mask_batch(_batch(ids, [0, 1, 2, 3], epoch=1), _Tok(), dynamic, seed=0)
    assert not torch.equal(first.labels, second.labels)
    s0 = mask_batch(_batch(ids, [0, 1, 2, 3], epoch=0), _Tok(), static, seed=0)
    s2 = mask_batch(_batch(ids, [0, 1, 2, 3], epoch=2), _Tok(), static, seed=0)
    s1 = mask_batch(_batch(ids, [0, 1, 2, 3], epoch=1), _Tok(), static, seed=0)
    assert torch.equal(s0.labels, s2.labels) and not torch.equal(s0.labels, s1.labels)


def test_masked_rate_and_labels():
    ids = torch.randint(5, 1000, (64, 128), generator=torch.Generator().manual_seed(2))
    out = mask_batch(_batch(ids, list(range(64))), _Tok(), ObjectiveConfig(mlm_probability=0.15), seed=0)
    selected = out.labels != -100
    assert abs(selected.float().mean().item() - 0.15) < 0.01
    assert torch.equal(out.labels[selected], ids[selected])
    assert abs((out.input_ids[selected] == 4).float().mean().item() - 0.8) < 0.03


class _WordPieceTok(_Tok):
    def id_to_token(self, token_id):
        return f"##p{token_id}" if token_id % 2 else f"w{token_id}"  # odd ids continue the previous word


def test_whole_word_masking_masks_every_piece_of_a_chosen_word():
    ids = torch.tensor([[2] + [10, 11, 13, 20, 21, 30, 31, 33, 35] * 12 + [3]])
    out = mask_batch(_batch(ids, [0]), _WordPieceTok(), ObjectiveConfig(whole_word=True, mlm_probability=0.3), seed=5)
    selected = (out.labels != -100)[0].tolist()
    assert any(selected)
    words, current = [], []
    for token_id, chosen in zip(ids[0].tolist()[1:-1], selected[1:-1]):
        if token_id % 2 == 0 and current:
            words.append(current)
            current = []
        current.append(chosen)
    words.append(current)
    assert all(all(word) or not any(word) for word in words)


def test_a_sample_gets_the_same_mask_whatever_the_padding_of_its_batch():
    # 1 process and N processes group samples differently, so batches are padded to different widths
    ids = torch.randint(5, 1000, (1, 40), generator=torch.Generator().manual_seed(4))
    objective = ObjectiveConfig(mlm_probability=0.3)
    alone = mask_batch(_batch(ids, [7]), _Tok(), objective, seed=1)
    padded_ids = torch.cat([ids, torch.zeros(1, 24, dtype=torch.long)], dim=1)
    padded = mask_batch(_batch(padded_ids, [7]), _Tok(), objective, seed=1)
    assert torch.equal(padded.input_ids[:, :40], alone.input_ids) and torch.equal(padded.labels[:, :40], alone.labels)
    assert torch.equal(padded.input_ids[:, 40:], padded_ids[:, 40:]) and bool((padded.labels[:, 40:] == -100).all())


def test_a_sequence_drawn_twice_gets_two_dynamic_masks_but_one_static_mask():
    row = torch.randint(5, 1000, (1, 128), generator=torch.Generator().manual_seed(3))
    ids = torch.cat([row, row])
    dynamic = mask_batch(_batch(ids, [7, 7], positions=[10, 11]), _Tok(), ObjectiveConfig(masking="dynamic"), seed=0)
    static = mask_batch(_batch(ids, [7, 7], positions=[10, 11]), _Tok(), ObjectiveConfig(masking="static"), seed=0)
    assert not torch.equal(dynamic.labels[0], dynamic.labels[1])
    assert torch.equal(static.labels[0], static.labels[1])


def test_a_batch_straddling_an_epoch_boundary_masks_each_row_as_its_own_epoch_would():
    # 10 samples per epoch: positions 8..11 hold epoch 0's last two draws and epoch 1's first two. One process
    # with micro-batches of 4 reads them in one batch (starting in epoch 0), another split reads 8-9 and 10-11 apart.
    ids = torch.randint(5, 1000, (4, 64), generator=torch.Generator().manual_seed(5))
    for masking in ("dynamic", "static"):
        objective = ObjectiveConfig(masking=masking, static_duplicates=3, mlm_probability=0.3)
        whole = mask_batch(_batch(ids, [3, 7, 7, 3], epoch=0, positions=[8, 9, 10, 11]), _Tok(), objective, seed=2, samples_per_epoch=10)
        first = mask_batch(_batch(ids[:2], [3, 7], epoch=0, positions=[8, 9]), _Tok(), objective, seed=2, samples_per_epoch=10)
        second = mask_batch(_batch(ids[2:], [7, 3], epoch=1, positions=[10, 11]), _Tok(), objective, seed=2, samples_per_epoch=10)
        assert torch.equal(whole.labels, torch.cat([first.labels, second.labels]))
        assert torch.equal(whole.input_ids, torch.cat([first.input_ids, second.input_ids]))
        # the epoch-1 rows are not masked with epoch 0's stream (what the batch's start epoch would give)
        stale = mask_batch(_batch(ids[2:], [7, 3], epoch=0, positions=[10, 11]), _Tok(), objective, seed=2, epoch=0)
        assert not torch.equal(second.labels, stale.labels)
    # static: sample 3 at position 8 (epoch 0) and at position 11 (epoch 1) gets two of its fixed duplicates
    static = ObjectiveConfig(masking="static", static_duplicates=3)
    row = ids[:1].repeat(2, 1)
    twice = mask_batch(_batch(row, [3, 3], positions=[8, 11]), _Tok(), static, seed=2, samples_per_epoch=10)
    assert not torch.equal(twice.labels[0], twice.labels[1])
    again = mask_batch(_batch(row, [3, 3], positions=[8, 38]), _Tok(), static, seed=2, samples_per_epoch=10)  # epochs 0 and 3
    assert torch.equal(again.labels[0], again.labels[1])
