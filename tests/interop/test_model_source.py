"""One resolver of model folders (workbench.interop.model_source) for eval, fill-mask, embed, predict and init_from:
each kind of folder, the short checkpoint form, and one set of error messages whatever stage asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.interop.model_source import ModelSource, ModelSourceError, resolve_model_source


def _touch(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("x", encoding="utf-8")
    return folder


@pytest.fixture()
def folders(tmp_path):
    run = tmp_path / "runs" / "study"
    _touch(run / "model", "model.safetensors", "manifest.json")
    for step in (20, 40):
        _touch(run / "checkpoints" / f"step-{step:08d}", "model.safetensors", "state.pt", "meta.json")
    _touch(run / "checkpoints" / "step-00000060.tmp-123", "model.safetensors")  # an unfinished write: not a step
    return {
        "run": run,
        "transformers": _touch(tmp_path / "camembert-base", "config.json", "model.safetensors"),
        "fairseq": _touch(tmp_path / "camembert-fairseq", "model.pt", "dict.txt", "sentencepiece.bpe.model"),
        "plain": _touch(tmp_path / "notes", "README.md"),
    }


def test_each_kind_of_folder_resolves_to_its_weights_folder(folders):
    run = folders["run"]
    assert resolve_model_source(str(run / "model"), "embed.model") == ModelSource("workbench", run / "model", str(run / "model"), run)
    by_run = resolve_model_source(str(run), "embed.model")  # a run folder: its final model
    assert (by_run.kind, by_run.folder, by_run.run, by_run.name) == ("workbench", run / "model", run, "study")
    long, short = (resolve_model_source(run / "checkpoints" / name, "finetune.model") for name in ("step-00000020", "20"))
    assert long.folder == short.folder == run / "checkpoints" / "step-00000020"
    assert (short.kind, short.run, short.step, short.name) == ("checkpoint", run, 20, "study@20")
    by_step = resolve_model_source(run, "init_from", step=40)  # the run folder and a step
    assert (by_step.kind, by_step.folder, by_step.step) == ("checkpoint", run / "checkpoints" / "step-00000040", 40)
    assert resolve_model_source(run / "model", "init_from", step=40).folder == by_step.folder
    hf = resolve_model_source(str(folders["transformers"]), "fill_mask.model")
    assert (hf.kind, hf.folder, hf.run, hf.name, hf.is_workbench) == ("transformers", folders["transformers"], None, "camembert-base", False)
    assert resolve_model_source(str(folders["fairseq"]), "embed.model").kind == "fairseq"


def test_the_errors_name_the_key_the_path_and_what_is_accepted(folders, tmp_path):
    run = folders["run"]
    with pytest.raises(ModelSourceError, match=r"^embed.model is required: a workbench model folder .* e.g. embed.model=runs/quickstart/model$"):
        resolve_model_source(None, "embed.model")
    with pytest.raises(ModelSourceError) as error:
        resolve_model_source(str(run / "checkpoints" / "30"), "finetune.model")
    assert str(error.value) == (f"finetune.model={run}/checkpoints/30: no such checkpoint; checkpoint"
                                f" {run}/checkpoints/step-00000030 does not exist ({run} has checkpoints at steps [20, 40])")
    with pytest.raises(ModelSourceError, match=r"no such checkpoint; .* has no checkpoint\)$"):
        resolve_model_source(str(tmp_path / "other" / "checkpoints" / "5"), "init_from")
    with pytest.raises(ModelSourceError) as error:
        resolve_model_source(str(tmp_path / "absent"), "fill_mask.model")
    assert str(error.value) == f"fill_mask.model={tmp_path}/absent: the folder does not exist"
    with pytest.raises(ModelSourceError) as error:
        resolve_model_source(str(folders["plain"]), "init_from")
    message = str(error.value)
    assert message.startswith(f"init_from={folders['plain']} is neither a workbench model folder (model.safetensors + manifest.json)")
    assert message.endswith("point init_from at runs/<run>/model, a saved transformers model or a fairseq RoBERTa/CamemBERT folder")


def test_every_stage_gives_the_resolver_message_as_its_own_error(folders, tmp_path):
    """eval, fill-mask/embed and init_from report a bad model path with the one message, under their own error type."""
    from workbench.evaluation.errors import FinetuneError
    from workbench.evaluation.models import load_for_task
    from workbench.inference.model_loading import InferenceError, load_embedder, load_masked_lm
    from workbench.inference.finetuned import load_finetuned
    from workbench.training.init_from import InitFromError, load_init_source

    for path in (folders["run"] / "checkpoints" / "30", tmp_path / "absent", folders["plain"]):
        with pytest.raises(ModelSourceError) as expected:
            resolve_model_source(str(path), "KEY")
        for call, error_type, key in ((lambda p: load_for_task(p, "classification", 2), FinetuneError, "finetune.model"),
                                      (load_masked_lm, InferenceError, "fill_mask.model"),
                                      (load_embedder, InferenceError, "embed.model"),
                                      (load_init_source, InitFromError, "init_from")):
            with pytest.raises(error_type) as error:
                call(str(path))
            assert str(error.value) == str(expected.value).replace("KEY", key)
    with pytest.raises(InferenceError, match=r"a pretrained encoder without a task head: fine-tune it first"):
        load_finetuned(str(folders["run"] / "checkpoints" / "20"))  # predict knows a checkpoint through the resolver too
