"""The results database (SQLite): every score of every fine-tuning job, and its learning curves.

One job is identified by (model, checkpoint hash, task, seed, hyperparameters).
Storing a job replaces all of that job's rows in one transaction, so re-running
a job never duplicates a row and never leaves a mix of old and new scores.
A primary key on (job, split, metric) enforces it at the database level too.

Concurrent jobs (a multirun's parallel evaluations) share the file: each write is one ``BEGIN IMMEDIATE``
transaction, and a job waits for SQLite's write lock up to ``timeout`` seconds (transactions take
milliseconds), so jobs never fail because others write; only a lock held longer stops with a message.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

from workbench.evaluation.errors import ResultsError

SCHEMA_VERSION = "2"  # 2: results.benchmark, .squad_normalization, .weights_id (version 1 files are migrated)
LOCK_TIMEOUT_SECONDS = 120.0  # how long a writer waits for another one's transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    model TEXT NOT NULL,
    checkpoint_hash TEXT NOT NULL,
    task TEXT NOT NULL,
    language TEXT NOT NULL,
    primary_metric TEXT NOT NULL,
    split TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    seed INTEGER NOT NULL,
    hparams_hash TEXT NOT NULL,
    hparams TEXT NOT NULL,
    created TEXT NOT NULL,
    code_version TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    benchmark TEXT NOT NULL DEFAULT '',
    squad_normalization TEXT NOT NULL DEFAULT '',
    weights_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (model, checkpoint_hash, task, seed, hparams_hash, split, metric)
);
CREATE TABLE IF NOT EXISTS curves (
    model TEXT NOT NULL,
    checkpoint_hash TEXT NOT NULL,
    task TEXT NOT NULL,
    seed INTEGER NOT NULL,
    hparams_hash TEXT NOT NULL,
    split TEXT NOT NULL,
    metric TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch REAL NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (model, checkpoint_hash, task, seed, hparams_hash, split, metric, step)
);
"""

# columns added after version 1, with the value a version-1 row gets ('' = not recorded)
_ADDED_COLUMNS = {"benchmark": "TEXT NOT NULL DEFAULT ''", "squad_normalization": "TEXT NOT NULL DEFAULT ''",
                  "weights_id": "TEXT NOT NULL DEFAULT ''"}

_JOB = "model = ? AND checkpoint_hash = ? AND task = ? AND seed = ? AND hparams_hash = ?"


def hparams_hash(hparams: Mapping[str, Any]) -> str:
    """Stable identity of a hyperparameter set (canonical JSON, sorted keys)."""
    return hashlib.sha256(canonical_json(hparams).encode("utf-8")).hexdigest()[:16]


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class JobKey:
    model: str
    checkpoint_hash: str
    task: str
    seed: int
    hparams: Mapping[str, Any]

    @property
    def hparams_hash(self) -> str:
        return hparams_hash(self.hparams)

    def values(self) -> tuple:
        return (self.model, self.checkpoint_hash, self.task, int(self.seed), self.hparams_hash)


@dataclass(frozen=True)
class CurvePoint:
    split: str  # "train" (loss) or an evaluation split
    metric: str
    step: int
    epoch: float
    value: float


@dataclass
class JobRecord:
    key: JobKey
    language: str
    primary_metric: str
    scores: Dict[str, Dict[str, float]]  # split -> metric -> value
    curves: List[CurvePoint] = field(default_factory=list)
    created: str = ""
    code_version: str = ""
    run_dir: str = ""
    benchmark: str = "none"  # the task's benchmark (task.benchmark): flue, glue or none
    squad_normalization: str = ""  # extractive QA: the answer normalisation of EM/F1 (official, french); else ''
    # the encoder weights' identity in any folder format (workbench.evaluation.weights_identity); '' for none
    # (random init, a format without one): the report shows the model names of one weights_id as one row
    weights_id: str = ""


@dataclass(frozen=True)
class ResultRow:
    model: str
    checkpoint_hash: str
    task: str
    language: str
    primary_metric: str
    split: str
    metric: str
    value: float
    seed: int
    hparams_hash: str
    hparams: Dict[str, Any]
    created: str
    code_version: str
    run_dir: str
    benchmark: str = ""  # '' in rows stored by a version-1 database (benchmark not recorded)
    squad_normalization: str = ""
    weights_id: str = ""


@dataclass(frozen=True)
class CurveRow:
    model: str
    checkpoint_hash: str
    task: str
    seed: int
    hparams_hash: str
    split: str
    metric: str
    step: int
    epoch: float
    value: float


class ResultsDB:
    """A results database file; created with its schema on first use."""

    def __init__(self, path: str | Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            for statement in _SCHEMA.split(";"):  # not executescript: it would commit our transaction
                if statement.strip():
                    connection.execute(statement)
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            elif row[0] == "1":  # same tables, fewer result columns: add them (old rows: not recorded)
                present = {info[1] for info in connection.execute("PRAGMA table_info(results)")}
                for column, declaration in _ADDED_COLUMNS.items():
                    if column not in present:
                        connection.execute(f"ALTER TABLE results ADD COLUMN {column} {declaration}")
                connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise ResultsError(
                    f"{self.path}: results schema version {row[0]}, this workbench writes {SCHEMA_VERSION};"
                    " use another finetune.database or migrate the file"
                )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as error:
            raise ResultsError(f"cannot open results database {self.path}: {error}") from None
        with closing(connection):
            try:
                connection.execute("BEGIN IMMEDIATE")  # one writer at a time (parallel multirun jobs)
                yield connection
                connection.execute("COMMIT")
            except sqlite3.OperationalError as error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if "locked" in str(error) or "busy" in str(error):
                    raise ResultsError(
                        f"results database {self.path}: another process held its write lock for more than"
                        f" {self.timeout:g} s (sqlite: {error}), nothing was written; find the process that keeps it open"
                        " (e.g. `fuser` on the file; a database on a network filesystem without working locks needs a"
                        " local finetune.database), then rerun the job"
                    ) from None
                raise ResultsError(f"results database {self.path}: {error}") from None
            except sqlite3.DatabaseError as error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise ResultsError(f"results database {self.path}: {error}") from None
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def store(self, record: JobRecord) -> int:
        """Replace every row of ``record.key``'s job with ``record``; returns the number of result rows written."""
        key = record.key.values()
        hparams = canonical_json(record.key.hparams)
        rows = [
            (*key[:3], record.language, record.primary_metric, split, metric, float(value), key[3], key[4], hparams,
             record.created, record.code_version, record.run_dir, record.benchmark, record.squad_normalization,
             record.weights_id)
            for split, metrics in sorted(record.scores.items())
            for metric, value in sorted(metrics.items())
        ]
        with self._connect() as connection:
            connection.execute(f"DELETE FROM results WHERE {_JOB}", key)
            connection.execute(f"DELETE FROM curves WHERE {_JOB}", key)
            connection.executemany(
                "INSERT INTO results (model, checkpoint_hash, task, language, primary_metric, split, metric, value,"
                " seed, hparams_hash, hparams, created, code_version, run_dir, benchmark, squad_normalization, weights_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            connection.executemany(
                "INSERT OR REPLACE INTO curves VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(*key, p.split, p.metric, int(p.step), float(p.epoch), float(p.value)) for p in record.curves],
            )
        return len(rows)

    def _where(self, models: Optional[Sequence[str]], tasks: Optional[Sequence[str]]) -> tuple[str, list]:
        clauses, params = [], []
        for column, values in (("model", models), ("task", tasks)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def results(self, models: Optional[Sequence[str]] = None, tasks: Optional[Sequence[str]] = None) -> List[ResultRow]:
        where, params = self._where(models, tasks)
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT model, checkpoint_hash, task, language, primary_metric, split, metric, value, seed, hparams_hash,"
                f" hparams, created, code_version, run_dir, benchmark, squad_normalization, weights_id FROM results{where}"
                " ORDER BY model, checkpoint_hash, task, hparams_hash, seed, split, metric",
                params,
            ).fetchall()
        return [ResultRow(*row[:10], json.loads(row[10]), *row[11:]) for row in rows]

    def curves(self, models: Optional[Sequence[str]] = None, tasks: Optional[Sequence[str]] = None) -> List[CurveRow]:
        where, params = self._where(models, tasks)
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT * FROM curves{where} ORDER BY model, checkpoint_hash, task, hparams_hash, seed, split, metric, step",
                params,
            ).fetchall()
        return [CurveRow(*row) for row in rows]

    def count(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM results").fetchone()[0])
