"""The write step of ``prepare``: the pack step's events into shard files, one part (a shard per split) at a time.

``write_parts`` appends the sequences to the open part's ``ShardWriter`` of their split, accounts for the
consumed documents in the run's ``Progress``, and when a part is full closes it: its files are renamed
into place, then ``commit`` saves the progress (the only claim that the part is complete), then the next
part opens. It yields the number of input documents consumed after each event that consumed some (for a
progress bar). On any error the open part's temporary files are removed; finished parts stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List

import numpy as np

from workbench.corpus.pack_splits import Consumed, InputEnd, PackEvent, Sequences
from workbench.corpus.packing import PackedBatch
from workbench.corpus.progress import Progress
from workbench.corpus.shards import SPLITS, ShardWriter


class ShardParts:
    """The open part: a ``ShardWriter`` per split, shard number ``part``."""

    def __init__(self, folder: Path, dtype: np.dtype, extras: List[str]) -> None:
        self.folder = folder
        self.dtype = dtype
        self.extras = extras
        self.writers: Dict[str, ShardWriter] = {}

    def open(self, part: int) -> None:
        self.writers = {split: ShardWriter(self.folder, split, part, self.dtype, self.extras) for split in SPLITS}

    def add(self, split: str, lang: int, batch: PackedBatch) -> None:
        self.writers[split].add_batch(batch, lang)

    def close(self) -> Dict[str, Dict]:
        """Finish the part: the records of the splits that got sequences (the others write no file)."""
        records = {}
        for split, writer in self.writers.items():
            if writer.sequences:
                records[split] = writer.close()
            else:
                writer.abort()
        self.writers = {}
        return records

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()
        self.writers = {}


def write_parts(events: Iterable[PackEvent], parts: ShardParts, progress: Progress, commit: Callable[[], None]) -> Iterator[int]:
    """Consume the pack step's events (see the module docstring); ``commit`` saves ``progress`` after a part."""

    def close_part() -> None:
        progress.finish_part(parts.close())
        commit()

    parts.open(progress.part)
    try:
        for event in events:
            if isinstance(event, Sequences):
                parts.add(event.split, event.lang, event.batch)
                progress.add_sequences(event.split, event.lang, len(event.batch))
            elif isinstance(event, Consumed):
                progress.account(event.marked, event.start, event.end)
                if event.part_full:
                    close_part()
                    parts.open(progress.part)
                yield progress.docs_consumed
            elif isinstance(event, InputEnd):
                close_part()
            else:  # pragma: no cover - the pack step yields only these
                raise TypeError(f"write_parts: unexpected event {event!r}")
    except BaseException:
        parts.abort()
        raise
