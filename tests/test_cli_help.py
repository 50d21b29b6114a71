"""Each stage's --help shows its own config groups, keys and an example (not the whole composed config)."""

from __future__ import annotations

import os
import subprocess
import sys

from workbench.config.resolvers import eval_job_name, model_label

HYDRA_HELP_LINES = 174  # what every stage printed before: Hydra's help with the whole composed config


def _help(repo_root, *stage):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo_root)}
    result = subprocess.run([sys.executable, "-m", "workbench", *stage, "--help"], capture_output=True, text=True,
                            cwd=repo_root, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_train_help_shows_trainer_keys_and_an_example_only(repo_root):
    text = _help(repo_root, "train")
    assert "python -m workbench train +experiment=quickstart" in text  # the example
    for key in ("trainer:", "max_steps:", "global_batch_size:", "optimizer:", "hardware:", "packing:"):
        assert key in text, key
    assert "+model: bert_base" in text and "model.hidden_size" in text  # the group's choices and the model keys
    for other in ("fill_mask", "embed:", "finetune:", "tokenizer_report"):
        assert other not in text, other
    assert len(text.splitlines()) < HYDRA_HELP_LINES // 2


def test_eval_help_shows_finetune_and_task_keys(repo_root):
    text = _help(repo_root, "eval")
    assert "python -m workbench eval task=" in text
    assert "finetune:" in text and "group_by_length:" in text and "task.max_seq_len" in text and "task: allocine_fr" in text
    assert "trainer:" not in text and "fill_mask" not in text
    assert len(text.splitlines()) < HYDRA_HELP_LINES // 2


def test_inference_help_lists_short_keys_and_its_own_section(repo_root):
    text = _help(repo_root, "fill-mask")
    assert "short keys: model, text, input_file" in text and "fill_mask:" in text and "top_k:" in text
    assert "trainer:" not in text and len(text.splitlines()) < HYDRA_HELP_LINES // 4


def test_help_shows_values_composed_with_the_overrides_given(repo_root):
    text = _help(repo_root, "train", "+experiment=quickstart")
    assert "family: camembert" in text and "model.hidden_size" not in text  # the chosen model's values, not the key list


def test_eval_multirun_job_names_are_short_and_do_not_nest_the_model_path():
    assert model_label("runs/quickstart/model") == "quickstart" and model_label("/m/camembert-base/") == "camembert-base"
    name = eval_job_name("runs/quickstart/model", "sample_sentiment", 2, "finetune.lr=0.0001,task.train=data/a.tsv")
    assert name == "quickstart_sample_sentiment_seed2_finetune.lr=0.0001,task.train=data-a.tsv" and "/" not in name
    assert eval_job_name(None, "", 0, "") == "model_tasks_seed0"


def test_eval_multirun_folder_is_named_by_model_task_and_seed(repo_root, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo_root)}
    # the model does not exist: the first job stops at once, after Hydra made its folder
    subprocess.run([sys.executable, "-m", "workbench", "eval", "task=sample_sentiment", "-m",
                    f"finetune.model={tmp_path}/runs/quickstart/model", "seed=3,4", "finetune.lr=1e-4",
                    f"paths.evals={tmp_path}/evals"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    (sweep,) = (tmp_path / "evals" / "logs").glob("multirun-*")
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs[0] == "quickstart_sample_sentiment_seed3_finetune.lr=0.0001", jobs


def test_a_job_unpickled_in_another_process_can_name_its_folder(repo_root, tmp_path):
    """Launchers running jobs in other processes (submitit/SLURM) unpickle the task there, then resolve the job's
    folder name: unpickling registers the resolver it needs."""
    import pickle

    from workbench.cli import StageTask

    (tmp_path / "task.pkl").write_bytes(pickle.dumps(StageTask("eval")))
    script = ("import pickle, sys; from omegaconf import OmegaConf\n"
              "task = pickle.loads(open(sys.argv[1], 'rb').read())\n"
              "cfg = OmegaConf.create({'m': 'runs/r1/model', 'name': OmegaConf.create({'s': '${wb_eval_job:${m},nli,1,}'})})\n"
              "print(type(task).__name__, task.stage, cfg.name.s)")
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "task.pkl")], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["StageTask", "eval", "r1_nli_seed1"]
