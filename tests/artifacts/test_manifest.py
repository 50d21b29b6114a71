"""Typed manifests (workbench.artifacts.manifest): what the current code writes reads back typed and is written
again byte for byte; a bad manifest is one error naming the file and the field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import List

import pytest

from workbench.artifacts.atomic import write_json
from workbench.artifacts.manifest import ManifestError, read_manifest, write_manifest
from workbench.artifacts.provenance import config_hash, provenance


@dataclass
class _Config:
    name: str = "toy"
    vocab_size: int = 100
    sources: List[str] = field(default_factory=lambda: ["a.txt", "b.txt"])
    accents: str = "é"


def test_a_manifest_written_by_the_current_code_reads_back_typed_and_byte_identical(tmp_path):
    record = provenance(_Config(), artifact="tokenizer", vocab_size=100, files={"tokenizer.json": 12}, ratio=0.1)
    (tmp_path / "a").mkdir()
    write_json(tmp_path / "a" / "manifest.json", record)  # how every stage writes its manifest today
    manifest = read_manifest(tmp_path / "a")
    assert manifest is not None and manifest.path == tmp_path / "a" / "manifest.json"
    assert manifest.config == {"name": "toy", "vocab_size": 100, "sources": ["a.txt", "b.txt"], "accents": "é"}
    assert manifest.config_hash == config_hash(_Config()) and manifest.artifact == "tokenizer"
    assert manifest.code == record["code"] and manifest.libraries["torch"] == record["libraries"]["torch"]
    assert manifest.created == record["created"] and tuple(manifest.argv) == tuple(record["argv"]) and manifest.cpu == record["cpu"]
    assert manifest.require("vocab_size", int) == 100 and manifest.require("ratio", float) == 0.1
    (tmp_path / "b").mkdir()
    write_manifest(tmp_path / "b", manifest.as_json())
    assert (tmp_path / "b" / "manifest.json").read_bytes() == (tmp_path / "a" / "manifest.json").read_bytes()
    assert read_manifest(tmp_path / "absent") is None  # an unfinished folder has none


@pytest.mark.parametrize("text, message", [
    ('{"config": {}, "config_hash": 12}', r"manifest.json: field 'config_hash' should be a string, not 12; .*delete .* to build it again"),
    ('{"config": {}, "code": []}', r"manifest.json: field 'code' should be an object, not \[\]"),
    ('[1, 2]', r"manifest.json: a manifest is a JSON object, not list"),
    ('{"config": ', r"manifest.json: not valid JSON \(Expecting value"),
])
def test_a_bad_manifest_is_one_error_naming_the_file_and_the_field(tmp_path, text, message):
    (tmp_path / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match=message) as error:
        read_manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(error.value)


def test_a_missing_field_is_named_where_it_is_needed_and_nothing_bad_is_written(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {}, "note": "hand-made"}), encoding="utf-8")
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.config_hash is None and manifest.has("note")
    with pytest.raises(ManifestError, match=r"manifest.json: field 'steps' is missing; .*delete"):
        manifest.require("steps", int)
    with pytest.raises(ManifestError, match=r"field 'note' should be an integer, not \"hand-made\""):
        manifest.require("note", int)
    (tmp_path / "out").mkdir()
    with pytest.raises(ManifestError, match="field 'created' should be a string"):
        write_manifest(tmp_path / "out", {"config": {}, "created": 5})
    assert not (tmp_path / "out" / "manifest.json").exists()
