"""EpochSampler / BatchLoader: seeded epochs, exact rank partition, exact resume, padding, extras."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.loader import BatchLoader, EpochSampler
from workbench.corpus.prepare import prepare_corpus
from workbench.corpus.shards import ShardSet


@pytest.fixture(scope="module")
def pair_shards(tmp_path_factory, prose_files, bert_tokenizer) -> ShardSet:
    folder = tmp_path_factory.mktemp("loader")
    text = folder / "text"
    text.mkdir()
    for path in prose_files[:2]:
        (text / path.name).write_text("\n".join(path.read_text("utf-8").splitlines()[:250]) + "\n", encoding="utf-8")
    corpus = CorpusConfig(name="l", sources=[SourceConfig(path=str(text / "*.txt"))], document_boundary="line", validation_fraction=0.1)
    prepare_corpus(corpus, PackingConfig(mode="sentence_pairs", max_seq_len=64, shard_tokens=10_000), bert_tokenizer, folder / "s", seed=0, progress=False)
    return ShardSet.open(folder / "s")


def test_epoch_order_is_a_seeded_permutation_that_changes_each_epoch():
    sampler = EpochSampler(1000, seed=7)
    e0, e1 = sampler.order(0), sampler.order(1)
    assert sorted(e0.tolist()) == list(range(1000)) and sorted(e1.tolist()) == list(range(1000))
    assert not np.array_equal(e0, e1)
    assert np.array_equal(EpochSampler(1000, seed=7).order(1), e1)
    assert not np.array_equal(EpochSampler(1000, seed=8).order(0), e0)
    # uniformity: position of sample 0 over many epochs is spread over the whole range
    positions = [int(np.flatnonzero(sampler.order(e) == 0)[0]) for e in range(300)]
    assert 350 < np.mean(positions) < 650


@pytest.mark.parametrize("num_samples,world_size", [(1000, 4), (1003, 4), (7, 3)])
def test_ranks_partition_each_epoch_without_overlap_or_gap(num_samples, world_size):
    for epoch in range(3):
        parts = [EpochSampler(num_samples, 1, rank, world_size).indices(epoch) for rank in range(world_size)]
        joined = np.concatenate(parts)
        assert len(joined) == num_samples and len(np.unique(joined)) == num_samples
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert sum(len(EpochSampler(num_samples, 1, r, world_size)) for r in range(world_size)) == num_samples


def test_loader_ranks_cover_an_epoch_exactly(pair_shards):
    train = pair_shards.split("train")
    n = len(train)
    world = 3
    loaders = [BatchLoader(train, 5, seed=2, rank=r, world_size=world, pad_id=0, num_epochs=1) for r in range(world)]
    seen = []
    for loader in loaders:
        for batch in loader:
            seen.extend(batch["sample_ids"].tolist())
    assert sorted(seen) == list(range(n))


def test_resume_mid_epoch_continues_exactly_without_replay(pair_shards):
    train = pair_shards.split("train")
    straight = BatchLoader(train, 8, seed=3, pad_id=0)
    steps = straight.steps_per_epoch + 5  # crosses an epoch boundary
    reference = [next(iter(straight)) for _ in range(steps)]

    first = BatchLoader(train, 8, seed=3, pad_id=0)
    iterator = iter(first)
    got = [next(iterator) for _ in range(11)]
    state = first.state_dict()
    assert state["sample_index"] == 11 * 8
    second = BatchLoader(train, 8, seed=3, pad_id=0)
    second.load_state_dict(state)
    iterator = iter(second)
    got += [next(iterator) for _ in range(steps - 11)]
    for a, b in zip(got, reference):
        assert torch.equal(a["input_ids"], b["input_ids"]) and a["sample_index"] == b["sample_index"]
    # the epoch changes after N samples, and every sample was seen once in epoch 0
    epochs = [int(b["epoch"]) for b in reference]
    assert epochs[0] == 0 and epochs[-1] == 1
    flat = np.concatenate([b["sample_ids"].numpy() for b in reference])
    n = len(train)
    assert sorted(flat[:n].tolist()) == list(range(n))  # the first N stream positions are epoch 0
    assert len(np.unique(flat[n:])) == len(flat[n:])  # the next ones start epoch 1


def test_resume_with_another_world_size_keeps_the_global_stream(pair_shards):
    train = pair_shards.split("train")
    single = BatchLoader(train, 12, seed=4, pad_id=0)
    stream = [single.next_batch()["sample_ids"] for _ in range(6)]
    global_order = torch.cat(stream).tolist()
    # 2 steps on one process (24 samples), then continue on 2 ranks of 6
    ranks = [BatchLoader(train, 6, seed=4, rank=r, world_size=2, pad_id=0, start_sample=24) for r in range(2)]
    continued = []
    for _ in range(4):
        rows = [loader.next_batch()["sample_ids"].tolist() for loader in ranks]
        for i in range(6):  # rank r holds global positions start + 2*i + r
            continued.extend([rows[0][i], rows[1][i]])
    assert continued == global_order[24:72]


def test_batches_are_padded_with_mask_types_and_nsp(pair_shards, bert_tokenizer):
    train = pair_shards.split("train")
    loader = BatchLoader(train, 16, seed=0, pad_id=bert_tokenizer.pad_id)
    batch = loader.next_batch()
    ids, mask, types = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
    assert ids.dtype == torch.long and mask.dtype == torch.bool and ids.shape == mask.shape == types.shape
    for row, sample in enumerate(batch["sample_ids"].tolist()):
        stored = train[sample]
        length = len(stored)
        assert int(mask[row].sum()) == length and bool(mask[row, :length].all())
        assert ids[row, :length].tolist() == stored.tolist()
        assert bool((ids[row, length:] == bert_tokenizer.pad_id).all())
        # token types equal what Tokenizer.build_inputs gives for the two segments
        first_sep = stored.tolist().index(bert_tokenizer.sep_id)
        a, b = stored[1:first_sep].tolist(), stored[first_sep + 1 : -1].tolist()
        expected_ids, expected_types = bert_tokenizer.build_inputs(a, b)
        assert expected_ids == stored.tolist()
        assert types[row, :length].tolist() == expected_types
        assert int(batch["nsp_labels"][row]) == int(train.nsp_labels[sample])
    fixed = BatchLoader(train, 4, seed=0, pad_id=0, pad_to=64).next_batch()
    assert fixed["input_ids"].shape == (4, 64)


def test_language_probabilities_resample_each_epoch():
    groups = np.array([0] * 900 + [1] * 100)
    sampler = EpochSampler(1000, seed=0, groups=groups, group_probs=[0.6, 0.4])
    for epoch in range(3):
        order = sampler.order(epoch)
        assert len(order) == 1000
        share = (groups[order] == 1).mean()
        assert share == pytest.approx(0.4)  # exact allocation: 400 draws from the 100 en samples
        en = order[groups[order] == 1]
        assert np.all(np.bincount(en - 900, minlength=100) == 4)  # every en sample repeated 4 times
        fr = order[groups[order] == 0]
        assert len(np.unique(fr)) == 600  # fr subsampled without repetition
