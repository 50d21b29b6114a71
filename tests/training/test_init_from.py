"""Continued pretraining (``init_from``, issue #21 section 1): a run starts from another model's weights,
architecture and tokenizer, with a fresh optimizer and schedule, and optionally an extended vocabulary."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers import randomize_weights
from workbench.artifacts.model_folder import load_model_folder
from workbench.config.choices import ConfigError
from workbench.corpus.loader import BatchLoader, language_probs
from workbench.corpus.shards import ShardSet
from workbench.model.pretraining import PretrainingModel
from workbench.stages.prepare import prepare_shards
from workbench.stages.train import train
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training.batches import mask_batch
from workbench.training.validator import VALIDATION_EPOCH
from workbench.training.metrics_log import read_metrics
from workbench.training.schedule import lr_multiplier

from tests.interop.test_fairseq_import import handmade, prose, unigram_vocabulary  # noqa: F401 (fixtures)

from .conftest import compose_config

REPO_ROOT = Path(__file__).resolve().parents[2]
# float32 rounding of the same loss computed by transformers' and workbench's kernels (other summation orders); the
# loss is ~8 (ln of a 3000-entry vocabulary): 1e-5 relative is ~80 float32 eps of it, several times what was seen
LOSS_RTOL = 1e-5
# a short run (no dropout, masking like pretraining): the trainer block of every run here
RUN = [
    "trainer=quickstart", "trainer.max_steps=6", "trainer.global_batch_size=8", "trainer.micro_batch_size=8",
    "trainer.log_every=1", "trainer.eval_every=0", "trainer.checkpoint_every=6", "trainer.scheduler.warmup_steps=2",
    "trainer.optimizer.lr=3e-3", "packing.max_seq_len=64", "hardware.num_threads=1", "trainer.export_transformers=false",
]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _paths(root: Path):
    return [f"paths.tokenizers={root}/tokenizers", f"paths.shards={root}/shards", f"paths.runs={root}/runs"]


def _in_repo(function, cfg):
    """Stages read the shipped sample corpus by its path relative to the repository root."""
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        return function(cfg)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def camembert_folder(tmp_path_factory, sample_artifacts, transformers) -> Path:
    """A tiny CamembertForMaskedLM written by transformers, with the sample SentencePiece tokenizer's files."""
    tokenizer_dir = sample_artifacts.root / "tokenizers" / "sample-sentencepiece"
    tokenizer = Tokenizer.load(tokenizer_dir)
    config = transformers.CamembertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64 + 2, type_vocab_size=1, pad_token_id=tokenizer.pad_id,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-5,
    )
    torch.manual_seed(0)
    model = transformers.CamembertForMaskedLM(config)
    randomize_weights(model, seed=1)
    model.tie_weights()
    folder = tmp_path_factory.mktemp("camembert-tiny")
    model.save_pretrained(str(folder), safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copy2(tokenizer_dir / name, folder / name)
    return folder


def _prepare_and_train(root: Path, init_from: Path, run_name: str, *extra: str):
    overrides = [f"init_from={init_from}", f"run_name={run_name}", *_paths(root), *RUN, *extra]
    _in_repo(prepare_shards, compose_config("prepare", overrides))
    cfg = compose_config("pipeline", overrides)
    return cfg, _in_repo(train, cfg)


def _first_batch(cfg, shards: ShardSet, tokenizer: Tokenizer):
    """The masked batch of the run's step 1 (one micro-batch per step), drawn as the training loop draws it."""
    loader = BatchLoader(shards.split("train"), cfg.trainer.micro_batch_size, seed=cfg.seed, pad_id=tokenizer.pad_id,
                         language_probs=language_probs(shards))
    return mask_batch(next(iter(loader)), tokenizer, cfg.trainer.objective, seed=cfg.seed,
                      samples_per_epoch=len(shards.split("train")))


def _held_out_batch(cfg, shards: ShardSet, tokenizer: Tokenizer):
    """32 sequences of the valid split, masked as validation masks them."""
    loader = BatchLoader(shards.split("valid"), 32, seed=cfg.seed, pad_id=tokenizer.pad_id, shuffle=False, num_epochs=1)
    return mask_batch(next(iter(loader)), tokenizer, cfg.trainer.objective, seed=cfg.seed, epoch=VALIDATION_EPOCH)


def test_continued_run_starts_from_the_transformers_model(camembert_folder, tmp_path, transformers):
    torch.set_num_threads(1)
    cfg, result = _prepare_and_train(tmp_path, camembert_folder, "continued", "trainer.max_steps=20")
    run = tmp_path / "runs" / "continued"
    rows = read_metrics(run, "train")
    loaded = load_model_folder(run / "model")
    # the architecture is the folder's (no +model given), and so is the tokenizer the shards were made with
    assert (loaded.encoder_config.family, loaded.encoder_config.hidden_size, loaded.encoder_config.position_offset) == ("camembert", 32, 2)
    typed_name = json.loads((run / "model" / "manifest.json").read_text())["config"]["tokenizer"]["name"]
    assert typed_name.startswith("init-camembert-tiny") and (tmp_path / "tokenizers" / typed_name / "manifest.json").exists()
    shards = ShardSet.open(tmp_path / "shards" / f"sample_fr-{typed_name}-full_sentences64")

    # step 1's loss is the source model's loss on the same masked batch, before any update
    hf_tokenizer = Tokenizer.load(tmp_path / "tokenizers" / typed_name)
    batch = _first_batch(cfg, shards, hf_tokenizer)
    source = transformers.CamembertForMaskedLM.from_pretrained(str(camembert_folder)).eval()
    with torch.no_grad():
        expected = source(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss
    assert rows[0]["loss"] == pytest.approx(float(expected), rel=LOSS_RTOL)
    # a fresh optimizer and schedule: step 1 runs at the warmup's first learning rate
    assert rows[0]["lr"] == pytest.approx(cfg.trainer.optimizer.lr * lr_multiplier(0, cfg.trainer.scheduler, cfg.trainer.max_steps))
    assert rows[1]["lr"] > rows[0]["lr"]
    # it learned the new text: on held-out sequences of the corpus, the trained model's MLM loss is lower than the
    # source's (by 1.06 nats measured: 9.60 -> 8.53; 0.5 asked)
    model = PretrainingModel(loaded.encoder_config)
    model.load_state_dict(loaded.state_dict)
    held_out = _held_out_batch(cfg, shards, hf_tokenizer)
    with torch.no_grad():
        before = source(input_ids=held_out.input_ids, attention_mask=held_out.attention_mask, labels=held_out.labels).loss
        after = model.eval()(held_out.input_ids, held_out.attention_mask, held_out.labels).mlm_loss
    assert float(after) < float(before) - 0.5, (float(before), float(after))
    # provenance: the folder and its weights' hash
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    from workbench.artifacts.hashing import sha256_file

    assert manifest["init_from"]["path"] == str(camembert_folder.resolve())
    assert manifest["init_from"]["weights_sha256"] == sha256_file(camembert_folder / "model.safetensors")
    assert manifest["init_from"]["kind"] == "transformers"


def test_a_checkpoint_starts_a_new_run_with_a_fresh_schedule(camembert_folder, tmp_path):
    """init_from a run's checkpoint: its weights, but step 1 at the warmup's first lr (not where the source
    stopped) and the source's loss on the batch; the source run is untouched."""
    torch.set_num_threads(1)
    _prepare_and_train(tmp_path, camembert_folder, "source")
    checkpoint = tmp_path / "runs" / "source" / "checkpoints" / "step-00000006"
    cfg, _ = _prepare_and_train(tmp_path, checkpoint, "second", "trainer.max_steps=2", "trainer.checkpoint_every=2")
    rows = read_metrics(tmp_path / "runs" / "second", "train")
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["lr"] == pytest.approx(cfg.trainer.optimizer.lr * lr_multiplier(0, cfg.trainer.scheduler, 2))
    source = load_model_folder(tmp_path / "runs" / "source" / "model")  # the checkpoint at step 6 is the final model
    model = PretrainingModel(source.encoder_config)
    model.load_state_dict(source.state_dict)
    tokenizer = Tokenizer.load(Path(cfg.paths.tokenizers) / source.tokenizer.meta["name"])
    shards = ShardSet.open(next((tmp_path / "shards").glob(f"sample_fr-{source.tokenizer.meta['name']}-*")))
    batch = _first_batch(cfg, shards, tokenizer)
    with torch.no_grad():
        expected = model.eval()(batch.input_ids, batch.attention_mask, batch.labels).mlm_loss
    # same code, same weights, same batch: only the order of float32 sums may differ (none here: rel 1e-6)
    assert rows[0]["loss"] == pytest.approx(float(expected), rel=1e-6)
    manifest = json.loads((tmp_path / "runs" / "second" / "model" / "manifest.json").read_text())
    assert manifest["init_from"]["kind"] == "checkpoint"
    meta = json.loads((checkpoint / "meta.json").read_text())
    assert manifest["init_from"]["weights_sha256"] == meta["sha256"]["model.safetensors"]


def test_a_contradicting_model_is_one_error_naming_both_values(camembert_folder, tmp_path):
    overrides = [f"init_from={camembert_folder}", "+model=camembert_tiny", "model.hidden_size=64", *_paths(tmp_path), *RUN]
    with pytest.raises(ConfigError) as error:
        _in_repo(train, compose_config("pipeline", overrides))
    message = str(error.value)
    assert "model.hidden_size=32 in the folder, 64 in +model=camembert_tiny" in message
    assert str(camembert_folder) in message and "Drop +model" in message
    # a +model that agrees is accepted: its training settings (dropout) are the run's
    matching = [f"init_from={camembert_folder}", "+model=camembert_tiny", "model.hidden_size=32", "model.num_layers=2",
                "model.num_heads=2", "model.intermediate_size=64", "model.max_positions=64", "model.dropout=0.2",
                *_paths(tmp_path), *RUN]
    from workbench.training.init_from import plan_init_from

    plan = plan_init_from(compose_config("pipeline", matching))
    assert plan.cfg.model.dropout == 0.2 and plan.cfg.model.hidden_size == 32


def test_train_without_prepared_shards_says_which_prepare_to_run(camembert_folder, tmp_path):
    with pytest.raises(ConfigError, match="python -m workbench prepare corpus=sample_fr init_from="):
        _in_repo(train, compose_config("pipeline", [f"init_from={camembert_folder}", *_paths(tmp_path), *RUN]))


def test_extend_vocab_without_init_from_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="init_from_extend_vocab=10 extends the vocabulary of init_from"):
        compose_config("pipeline", ["init_from_extend_vocab=10", *_paths(tmp_path)])


def _old_pieces(tokenizer: Tokenizer, word: str):
    return [token.id for token in tokenizer.backend.model.tokenize(word)]


def _check_extension(plan, source, transformers, export: Path, text: str):
    """The new rows are the mean of their old pieces' rows (the old rows untouched); AutoTokenizer and
    AutoModelForMaskedLM load the export with the extended tokenizer."""
    tokenizer, state, old_state = plan.tokenizer, plan.source.state_dict, source.state_dict
    start = source.tokenizer.vocab_size
    recorded = json.loads((tokenizer.directory / "added_tokens_pieces.json").read_text(encoding="utf-8"))
    assert [row["token"] for row in recorded] == plan.source.added_words
    assert plan.source.added_words and tokenizer.vocab_size == start + len(recorded) == plan.cfg.model.vocab_size
    embeddings, old_embeddings = (s["encoder.embeddings.word_embeddings.weight"] for s in (state, old_state))
    assert torch.equal(embeddings[:start], old_embeddings)
    scale = old_embeddings.abs().max().item()
    for index, row in enumerate(recorded):
        new_id, pieces = start + index, row["pieces"]
        assert tokenizer.backend.token_to_id(row["token"]) == new_id and all(p < start for p in pieces) and len(pieces) > 1
        # the pieces spell the token (WordPiece continuation pieces without their ##)
        spelled = [source.tokenizer.backend.id_to_token(p) for p in pieces]
        assert spelled[0] + "".join(piece.removeprefix("##") for piece in spelled[1:]) == row["token"]
        if tokenizer.encode(row["token"].lstrip("\u2581")) == [new_id]:  # a word: its pieces are its old tokenization
            assert pieces == [t.id for t in source.tokenizer.backend.model.tokenize(row["token"])]
        # a float64 mean of a few float32 rows, rounded once: within one float32 ulp of the rows' scale
        expected = old_embeddings[pieces].double().mean(0).float()
        assert (embeddings[new_id] - expected).abs().max().item() <= 2 * torch.finfo(torch.float32).eps * scale
        if "mlm_head.bias" in old_state:
            bias = old_state["mlm_head.bias"]
            assert state["mlm_head.bias"][new_id].item() == pytest.approx(bias[pieces].double().mean().item(), rel=1e-6, abs=1e-7)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(export))
    ids = hf_tokenizer(text)["input_ids"]
    assert ids == tokenizer.build_inputs(tokenizer.encode(text))[0]
    assert any(i >= start for i in ids)  # the text is tokenized with new entries
    model = transformers.AutoModelForMaskedLM.from_pretrained(str(export)).eval()
    assert model.get_input_embeddings().weight.shape[0] == tokenizer.vocab_size
    with torch.no_grad():
        logits = model(**hf_tokenizer(text, return_tensors="pt")).logits
    assert logits.shape[-1] == tokenizer.vocab_size and torch.isfinite(logits).all()


def test_extend_vocab_adds_corpus_words_initialised_as_their_pieces_mean(camembert_folder, tmp_path, transformers):
    """SentencePiece BPE (merges appended): prepare and train with init_from_extend_vocab; the export loads."""
    torch.set_num_threads(1)
    extra = ["init_from_extend_vocab=40", "trainer.max_steps=2", "trainer.checkpoint_every=2", "trainer.export_transformers=true"]
    cfg, _ = _prepare_and_train(tmp_path, camembert_folder, "extended", *extra)
    from workbench.training.init_from import load_init_source, plan_init_from

    plan = _in_repo(plan_init_from, cfg)  # the same plan train ran with (the tokenizer folder is reused)
    source = load_init_source(str(camembert_folder))
    assert 0 < len(plan.source.added_words) <= 40
    word = next(w for w in plan.source.added_words if plan.tokenizer.encode(w.lstrip("\u2581")) == [plan.tokenizer.backend.token_to_id(w)])
    text = f"Voici {word.lstrip(chr(0x2581))} et encore {word.lstrip(chr(0x2581))}."
    _check_extension(plan, source, transformers, tmp_path / "runs" / "extended" / "transformers", text)
    manifest = json.loads((tmp_path / "runs" / "extended" / "model" / "manifest.json").read_text())
    assert manifest["init_from"]["added_tokens"] == len(plan.source.added_words)
    shards = json.loads(next((tmp_path / "shards").glob("sample_fr-init-camembert-tiny*-ext40-*")).joinpath("manifest.json").read_text())
    assert shards["tokenizer"]["vocab_size"] == plan.tokenizer.vocab_size


def test_minilm_continued_pretraining_with_an_extended_wordpiece_vocabulary(minilm_dir, tmp_path, transformers):
    """The real all-MiniLM-L6-v2 (a bare BertModel: its MLM head starts fresh) on French prose, its WordPiece
    vocabulary extended: the MLM loss goes down, the new rows are their pieces' mean, the export loads."""
    torch.set_num_threads(1)
    extra = ["init_from_extend_vocab=100", "trainer.max_steps=8", "trainer.checkpoint_every=8", "trainer.export_transformers=true",
             "trainer.optimizer.lr=1e-3"]
    cfg, result = _prepare_and_train(tmp_path, minilm_dir, "minilm", *extra)
    from workbench.training.init_from import load_init_source, load_initial_weights, plan_init_from
    from workbench.training.loop import resolve_encoder_config

    plan = _in_repo(plan_init_from, cfg)
    # held-out French sequences: the model the run started from (MiniLM's encoder, the extension's mean rows and a
    # fresh MLM head, drawn as the loop draws it) against the trained one (11.7 -> 7.2 measured; 1.0 asked)
    start = load_model_folder(tmp_path / "runs" / "minilm" / "model")
    torch.manual_seed(cfg.seed)
    initial = PretrainingModel(resolve_encoder_config(plan.cfg.model, plan.tokenizer))
    load_initial_weights(initial, plan.source.state_dict, plan.source.path)
    trained = PretrainingModel(start.encoder_config)
    trained.load_state_dict(start.state_dict)
    shards = ShardSet.open(tmp_path / "shards" / f"sample_fr-{plan.cfg.tokenizer.name}-full_sentences64")
    held_out = _held_out_batch(cfg, shards, plan.tokenizer)
    with torch.no_grad():
        before, after = (m.eval()(held_out.input_ids, held_out.attention_mask, held_out.labels).mlm_loss for m in (initial, trained))
    assert float(after) < float(before) - 1.0, (float(before), float(after))
    assert len(plan.source.added_words) == 100 and plan.cfg.model.family == "bert"
    word = plan.source.added_words[0]
    _check_extension(plan, load_init_source(str(minilm_dir)), transformers,
                     tmp_path / "runs" / "minilm" / "transformers", f"voici {word} et {word}")


def test_an_interrupted_init_from_run_resumes_from_its_own_checkpoint(camembert_folder, tmp_path):
    """init_from is not resume: a run stopped early goes on from its checkpoint (step, schedule), not the folder."""
    torch.set_num_threads(1)
    cfg, first = _prepare_and_train(tmp_path, camembert_folder, "resumed", "trainer.stop_at_step=3", "trainer.checkpoint_every=3")
    assert first.stopped_early and first.steps == 3
    second_cfg = compose_config("pipeline", [f"init_from={camembert_folder}", "run_name=resumed", *_paths(tmp_path), *RUN,
                                             "trainer.checkpoint_every=3"])
    second = _in_repo(train, second_cfg)
    rows = read_metrics(tmp_path / "runs" / "resumed", "train")
    assert second.steps == 6 and [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[3]["lr"] == pytest.approx(cfg.trainer.optimizer.lr * lr_multiplier(3, cfg.trainer.scheduler, 6))


def test_model_camembert_base_agrees_with_the_released_camembert_base_config(transformers):
    """The issue's command, `train +model=camembert_base init_from=<camembert-base>`: no contradiction reported
    (camembert-base's published config.json values)."""
    from workbench.interop.hf_config import from_hf_config
    from workbench.training.init_from import merged_encoder_config

    released = json.loads(transformers.CamembertConfig(
        vocab_size=32005, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1,
        bos_token_id=5, eos_token_id=6).to_json_string())
    folder = from_hf_config(released, has_pooler=False)
    merged = merged_encoder_config(folder, compose_config("pipeline", ["+model=camembert_base"]).model, False, Path("camembert-base"))
    assert (merged.vocab_size, merged.max_positions, merged.position_offset, merged.layer_norm_eps) == (32005, 512, 2, 1e-5)
    with pytest.raises(ConfigError, match=r"model.num_layers=12 in the folder, 24 in \+model=camembert_large"):
        merged_encoder_config(folder, compose_config("pipeline", ["+model=camembert_large"]).model, False, Path("camembert-base"))


def test_a_fairseq_folder_gives_its_weights_and_an_extended_unigram_vocabulary(handmade, tmp_path):
    """A fairseq CamemBERT-layout folder (handmade: a known workbench model, a SentencePiece unigram vocabulary):
    its weights exactly; the tokenizer folder gives fairseq's ids; extension adds unigram pieces with mean rows."""
    from workbench.interop.fairseq_import import import_fairseq
    from workbench.training.init_from import plan_init_from

    folder, model = handmade
    base = [f"init_from={folder}", *_paths(tmp_path), *RUN, "packing.max_seq_len=40"]
    plan = _in_repo(plan_init_from, compose_config("pipeline", base))
    assert plan.source.kind == "fairseq" and plan.source.weights_sha256 == import_fairseq(folder).checkpoint_sha256
    for key, tensor in model.state_dict().items():
        assert torch.equal(plan.source.state_dict[key], tensor), key
    text = "Le chat dort sur le canapé depuis ce matin."
    assert plan.tokenizer.encode(text) == import_fairseq(folder).tokenizer.encode(text)

    extended = _in_repo(plan_init_from, compose_config("pipeline", [*base, "init_from_extend_vocab=20"]))
    assert json.loads(extended.tokenizer.backend.to_str())["model"]["type"] == "Unigram"
    start, state = plan.tokenizer.vocab_size, extended.source.state_dict
    assert 0 < len(extended.source.added_words) <= 20 and extended.tokenizer.vocab_size == start + len(extended.source.added_words)
    embeddings = state["encoder.embeddings.word_embeddings.weight"]
    for index, word in enumerate(extended.source.added_words):
        pieces = [t.id for t in plan.tokenizer.backend.model.tokenize(word)]
        assert extended.tokenizer.encode(word.lstrip("\u2581")) == [start + index]  # a word now encodes to its new id
        # a float64 mean of a few float32 rows, rounded once: within one float32 ulp of the rows' scale
        expected = embeddings[pieces].double().mean(0).float()
        assert (embeddings[start + index] - expected).abs().max().item() <= 2 * torch.finfo(torch.float32).eps * embeddings.abs().max().item()
        assert state["mlm_head.bias"][start + index].item() == pytest.approx(state["mlm_head.bias"][pieces].double().mean().item(), rel=1e-6, abs=1e-7)
