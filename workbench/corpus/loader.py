"""The training loader over a shard split: seeded epochs, exact rank partition, exact mid-epoch resume.

Samples form one endless global stream: global position ``g`` belongs to epoch
``g // N`` and is sample ``order(epoch)[g % N]``, where ``order(epoch)`` is a
permutation seeded by (seed, epoch) (or, for a multilingual set with language
probabilities, a seeded resampling of N indices per epoch, then shuffled).
Rank ``r`` of ``W`` takes the global positions ``g ≡ r (mod W)``: within every
epoch the ranks see each sample exactly once together, without overlap or gap,
and every rank has the same number of batches. A batch step consumes
``micro_batch_size * W`` global positions; the loader's position is the global
position of its next batch, so training resumes exactly (even with another
world size) without replaying or skipping a batch.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch

from workbench.corpus.mixing import allocate
from workbench.corpus.packing import seeded_rng
from workbench.corpus.shards import ShardSet, ShardSplit


class EpochSampler:
    """Index order of each epoch; ``groups``/``group_probs`` resample languages (XLM exponent smoothing)."""

    def __init__(
        self,
        num_samples: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        groups: Optional[np.ndarray] = None,
        group_probs: Optional[List[float]] = None,
    ) -> None:
        if num_samples <= 0:
            raise ValueError("EpochSampler needs at least one sample; the split is empty")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        if (groups is None) != (group_probs is None):
            raise ValueError("groups and group_probs go together")
        self.num_samples = num_samples
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.groups = None if groups is None else np.asarray(groups)
        self.group_probs = None if group_probs is None else list(group_probs)
        self._order = lru_cache(maxsize=2)(self._compute_order)

    def _compute_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_samples, dtype=np.int64)
        rng = seeded_rng(self.seed, epoch)
        if self.groups is None:
            return rng.permutation(self.num_samples).astype(np.int64)
        counts = allocate(self.group_probs, self.num_samples)
        parts = []
        for group, count in enumerate(counts):
            members = np.flatnonzero(self.groups == group)
            if count == 0 or len(members) == 0:
                continue
            copies, rest = divmod(int(count), len(members))
            parts.extend(rng.permutation(members) for _ in range(copies))
            parts.append(rng.choice(members, size=rest, replace=False))
        order = np.concatenate(parts) if parts else np.arange(self.num_samples)
        return rng.permutation(order).astype(np.int64)

    def order(self, epoch: int) -> np.ndarray:
        """The global order of ``epoch`` (all ranks): N sample indices."""
        return self._order(epoch)

    def indices(self, epoch: int) -> np.ndarray:
        """This rank's samples of ``epoch``, in order (the global order's positions ≡ rank mod world_size)."""
        return self.order(epoch)[self.rank :: self.world_size]

    def __len__(self) -> int:
        """Samples of this rank in one epoch (ranks differ by at most one)."""
        return len(range(self.rank, self.num_samples, self.world_size))

    def at(self, positions: np.ndarray) -> np.ndarray:
        """Sample indices at global stream positions (may span an epoch boundary)."""
        positions = np.asarray(positions, dtype=np.int64)
        epochs = positions // self.num_samples
        out = np.empty(len(positions), dtype=np.int64)
        for epoch in np.unique(epochs):
            mask = epochs == epoch
            out[mask] = self.order(int(epoch))[positions[mask] % self.num_samples]
        return out


def language_probs(shards: ShardSet) -> Optional[List[float]]:
    """The smoothed language probabilities q of a multilingual shard set, in language-id order (None for one
    language): pass them as ``BatchLoader(..., language_probs=...)`` to sample languages XLM-style."""
    languages = shards.manifest["languages"]
    if len(languages) < 2:
        return None
    sampling = shards.manifest["language_sampling"]["languages"]
    return [float(sampling[language]["q"]) for language in languages]


class BatchLoader:
    """Padded batches of one split for one rank: ``for batch in loader`` (endless unless ``num_epochs``)."""

    def __init__(
        self,
        split: ShardSplit,
        micro_batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        pad_id: int = 0,
        start_sample: int = 0,
        shuffle: bool = True,
        num_epochs: Optional[int] = None,
        pad_to: Optional[int] = None,
        language_probs: Optional[List[float]] = None,
    ) -> None:
        """``start_sample``: global position to start from (a ``state_dict()['sample_index']``).

        ``num_epochs``: stop after that many epochs (e.g. 1 with ``shuffle=False`` for evaluation);
        None: endless. ``pad_to``: pad every batch to this length (None: to the longest sequence in it).
        ``language_probs``: per-language sampling probabilities (language id order), from the
        manifest's ``language_sampling``; None keeps every sequence once per epoch.
        """
        if micro_batch_size <= 0:
            raise ValueError(f"micro_batch_size={micro_batch_size} must be > 0")
        self.split = split
        self.micro_batch_size = micro_batch_size
        self.world_size = world_size
        self.rank = rank
        self.pad_id = pad_id
        self.pad_to = pad_to
        self.num_epochs = num_epochs
        groups = split.langs if language_probs is not None else None
        if language_probs is not None and groups is None:
            raise ValueError("language_probs given but the split has no language ids (single-language shard set)")
        self.sampler = EpochSampler(len(split), seed, rank, world_size, shuffle, groups, language_probs)
        self.position = int(start_sample)
        self._lengths = split.lengths
        self._nsp = split.nsp_labels
        self._langs = split.langs
        self._segments = split.segment_starts

    # -- position ------------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.position // len(self.split)

    @property
    def steps_per_epoch(self) -> int:
        per_step = self.micro_batch_size * self.world_size
        return -(-len(self.split) // per_step)

    def state_dict(self) -> Dict[str, int]:
        return {"epoch": self.epoch, "sample_index": self.position, "world_size": self.world_size, "micro_batch_size": self.micro_batch_size}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        self.position = int(state["sample_index"])

    # -- batches -------------------------------------------------------------------------------------------
    def _positions(self) -> np.ndarray:
        step = self.micro_batch_size * self.world_size
        end = self.position + step
        if self.num_epochs is not None:
            end = min(end, self.num_epochs * len(self.split))
        return np.arange(self.position + self.rank, end, self.world_size, dtype=np.int64)

    def collate(self, indices: np.ndarray) -> Dict[str, torch.Tensor]:
        lengths = self._lengths[indices]
        width = int(lengths.max()) if len(indices) else 0
        if self.pad_to is not None:
            if width > self.pad_to:
                raise ValueError(f"a sequence of {width} tokens does not fit pad_to={self.pad_to}")
            width = self.pad_to
        ids = np.full((len(indices), width), self.pad_id, dtype=np.int64)
        for row, index in enumerate(indices):
            ids[row, : lengths[row]] = self.split.view(int(index))
        mask = np.arange(width)[None, :] < lengths[:, None]
        batch: Dict[str, torch.Tensor] = {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
        }
        if self._segments is not None:
            starts = self._segments[indices].astype(np.int64)
            types = (np.arange(width)[None, :] >= starts[:, None]) & mask
            if not self.split.token_types:
                types[:] = False
            batch["token_type_ids"] = torch.from_numpy(types.astype(np.int64))
        if self._nsp is not None:
            batch["nsp_labels"] = torch.from_numpy(self._nsp[indices].astype(np.int64))
        if self._langs is not None:  # XLM convention: one language id per token, [B, T]
            per_row = self._langs[indices].astype(np.int64)
            batch["langs"] = torch.from_numpy(np.repeat(per_row[:, None], width, axis=1))
        return batch

    def next_batch(self) -> Optional[Dict[str, torch.Tensor]]:
        """The next batch of this rank (None at the end when ``num_epochs`` is set); advances the position."""
        if self.num_epochs is not None and self.position >= self.num_epochs * len(self.split):
            return None
        positions = self._positions()
        start = self.position
        self.position += self.micro_batch_size * self.world_size
        if self.num_epochs is not None:
            self.position = min(self.position, self.num_epochs * len(self.split))
        if len(positions) == 0:  # the last, partial global step may leave nothing for this rank
            return self.next_batch() if self.num_epochs is None else None
        sample_ids = self.sampler.at(positions)
        batch = self.collate(sample_ids)
        # Per-row identities for masking seeds: which sequence (static masking) and which draw of the
        # endless stream (dynamic masking; distinct even when language resampling repeats a sequence).
        batch["sample_ids"] = torch.from_numpy(np.asarray(sample_ids, dtype=np.int64))
        batch["positions"] = torch.from_numpy(np.asarray(positions, dtype=np.int64))
        batch["epoch"] = torch.tensor(start // len(self.split))
        batch["sample_index"] = torch.tensor(start)
        return batch

    def __iter__(self) -> Iterator[Dict[str, torch.Tensor]]:
        while True:
            batch = self.next_batch()
            if batch is None:
                return
            yield batch
