"""The QLoRA recipe: adapters on a 4-bit model (counted, seeded), TrainingArguments from settings and precision."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from hwutils.core.precision import Precision
from hwutils.core.profiles import Settings, profile_table
from hwutils.llm import qlora
from hwutils.llm.architecture import llama_lora_parameters
from tests.llm.helpers import load_4bit, random_llama  # noqa: F401 (random_llama: a fixture)

NOTEBOOK = "03_llama_mnli"


def settings(profile: str = "smoke", **changes) -> Settings:
    """The notebook's settings as written in its TOML (fixtures not built)."""
    return Settings(NOTEBOOK, profile, {**profile_table(NOTEBOOK)[profile], **changes})


def fake_run(precision: Precision, profile: str = "smoke", output_dir: Path = Path("/tmp/qlora-test"), **changes):
    return SimpleNamespace(settings=settings(profile, **changes), device=torch.device("cpu"), precision=precision, seed=7,
                           output_dir=output_dir)


def test_lora_on_a_4bit_model_counts_as_the_analytic_formula_and_is_seeded(random_llama):
    config = qlora.lora_config(settings(lora_r=4, lora_targets=["q_proj", "v_proj"]), task_type="CAUSAL_LM")
    first = qlora.add_lora(load_4bit(random_llama), config, seed=1)
    row = qlora.lora_count_row("tiny", first, first.config, 4, ["q_proj", "v_proj"])
    assert row["trainable (analytic)"] == row["trainable (counted)"] == llama_lora_parameters(first.config, 4, ["q_proj", "v_proj"])
    assert row["trainable (counted)"] == sum(p.numel() for p in first.parameters() if p.requires_grad)
    assert config.base_model_name_or_path is None  # the caller's config is not written into

    def lora_a(model):
        return next(p for n, p in model.named_parameters() if "lora_A" in n).detach().clone()

    assert torch.equal(lora_a(first), lora_a(qlora.add_lora(load_4bit(random_llama), config, seed=1)))
    assert not torch.equal(lora_a(first), lora_a(qlora.add_lora(load_4bit(random_llama), config, seed=2)))


@pytest.mark.parametrize(("precision", "bf16", "fp16"), [
    (Precision("bfloat16", "cuda", "compute capability 8.0"), True, False),
    (Precision("float16", "cuda", "compute capability 7.5 (a T4)"), False, True),
    (Precision("float32", "cpu", "CPU"), False, False),
])
def test_training_arguments_take_mixed_precision_from_the_run(precision, bf16, fp16):
    args = qlora.training_arguments(fake_run(precision), "qlora_sft", 1e-3)
    assert (args.bf16, args.fp16) == (bf16, fp16)


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_training_arguments_follow_the_settings(profile):
    run = fake_run(Precision("float32", "cpu", "CPU"), profile)
    args = qlora.training_arguments(run, "head", 3e-4, remove_unused_columns=False)
    s = run.settings
    assert args.learning_rate == 3e-4 and args.num_train_epochs == s.head_epochs and args.seed == args.data_seed == 7
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps == s.batch_size
    assert args.optim.value == s.optim and args.lr_scheduler_type.value == s.scheduler
    assert Path(args.output_dir).parent.name == "trainer" and Path(args.output_dir).name.startswith("head-")
    assert not args.remove_unused_columns and args.save_strategy.value == "steps" and args.save_steps == s.checkpoint_every
    other = qlora.training_arguments(fake_run(Precision("float32", "cpu", "CPU"), profile, head_epochs=s.head_epochs + 1), "head", 3e-4)
    assert other.output_dir != args.output_dir  # other settings never resume this run's checkpoint


def test_classification_dataset_and_logged_losses():
    from transformers import AutoTokenizer

    from hwutils.core import fixtures

    tokenizer = AutoTokenizer.from_pretrained(fixtures.fixture_path("tiny_llama"))
    data = qlora.classification_dataset(["Premise: A.\nAnswer:", "Premise: " + "long " * 50], [2, 0], tokenizer, max_length=16)
    assert data["label"] == [2, 0] and len(data[1]["input_ids"]) == 16 and set(data.column_names) == {"input_ids", "attention_mask", "label"}
    trainer = SimpleNamespace(state=SimpleNamespace(log_history=[{"step": 5, "loss": 1.0}, {"step": 5, "eval_loss": 2.0},
                                                                 {"step": 10, "loss": 0.5}, {"train_runtime": 3.0}]))
    assert qlora.logged_losses(trainer) == [{"step": 5, "loss": 1.0}, {"step": 10, "loss": 0.5}]


@pytest.mark.slow
def test_an_interrupted_qlora_run_resumes_to_the_uninterrupted_result(random_llama, tmp_path):
    from transformers import Trainer, TrainerCallback

    class CountSteps(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            CountSteps.steps += 1

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt("killed at step 3")

    torch.manual_seed(0)
    rows = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 64, (12, 8)).tolist()]
    config = qlora.lora_config(settings(lora_r=4), task_type="CAUSAL_LM")

    def trainer(folder: Path, callbacks=()) -> Trainer:
        run = fake_run(Precision("float32", "cpu", "CPU"), output_dir=folder, qlora_sft_epochs=1, batch_size=2, per_device_batch_size=2,
                       checkpoint_every=2, logging_steps=1, lora_dropout=0.0)
        model = qlora.add_lora(load_4bit(random_llama), config, seed=1)
        return Trainer(model=model, args=qlora.training_arguments(run, "qlora_sft", 1e-2), train_dataset=rows, callbacks=list(callbacks))

    def lora_weights(t: Trainer) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in t.model.named_parameters() if "lora_" in n}

    straight = trainer(tmp_path / "straight")
    _, resumed = qlora.train_resumable(straight)
    assert resumed == 0 and straight.state.global_step == 6
    with pytest.raises(KeyboardInterrupt):
        qlora.train_resumable(trainer(tmp_path / "killed", [Interrupt()]))
    again = trainer(tmp_path / "killed", [CountSteps()])
    stats, resumed = qlora.train_resumable(again)
    assert resumed == 2 and stats.steps == CountSteps.steps == 4 and again.state.global_step == 6  # steps 3 to 6 only
    for name, weight in lora_weights(straight).items():
        torch.testing.assert_close(lora_weights(again)[name], weight, rtol=0, atol=1e-6)
    _, finished = qlora.train_resumable(trainer(tmp_path / "killed"))
    assert finished == 6  # a finished run is reloaded at its last step, not trained again
