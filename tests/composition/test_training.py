"""Training a module: the same result when interrupted and resumed, reuse of a finished module, precision."""

from __future__ import annotations

import datasets
import pytest
import torch
from transformers import TrainerCallback

from hwutils.composition import tasks
from hwutils.composition.training import CausalLMCollator, Seq2SeqCollator, pad, train_module
from hwutils.core.precision import Precision, choose_precision
from tests.composition.helpers import tiny_tokenizer, wrapped

CPU = torch.device("cpu")
FLOAT32 = choose_precision(CPU, "float32")


class Interrupt(TrainerCallback):
    """Raises at ``step``, as a disconnect would (after the checkpoint of an earlier step was saved)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"interrupted at step {self.step}")


@pytest.fixture(scope="module")
def features():
    tokenizer = tiny_tokenizer()
    rows = {"sentence": ["the plot was great", "the food was awful", "a lovely ending", "a boring script"] * 8,
            "label": [1, 0, 1, 0] * 8}
    data = datasets.Dataset.from_dict(rows, features=datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}))
    task = tasks.TextTask("sentiment", "review: {sentence}", ("negative", "positive"))
    return tokenizer, tasks.seq2seq_features(data, task, tokenizer, 16)


def run_training(folder, features, precision=FLOAT32, callbacks=(), recipe=None, method="lora"):
    tokenizer, data = features
    return train_module("m", wrapped(method), data, Seq2SeqCollator(tokenizer.pad_token_id), folder,
                        recipe=recipe or {"case": 1}, steps=10, lr=1e-2, batch_size=4, seed=0, precision=precision,
                        device=CPU, checkpoint_every=5, logging_steps=2, callbacks=callbacks)


@pytest.mark.slow
def test_interrupted_training_resumes_from_its_checkpoint_to_the_same_module(tmp_path, features):
    straight = run_training(tmp_path / "straight", features)
    with pytest.raises(KeyboardInterrupt):
        run_training(tmp_path / "interrupted", features, callbacks=[Interrupt(7)])
    assert (tmp_path / "interrupted" / "checkpoint-5").is_dir()
    resumed = run_training(tmp_path / "interrupted", features)
    assert resumed.resumed_from_step == 5 and straight.resumed_from_step == 0
    assert resumed.stats.steps == 5
    for name, tensor in straight.state.items():
        torch.testing.assert_close(resumed.state[name], tensor, rtol=1e-5, atol=1e-6)
    assert any(torch.count_nonzero(t) for n, t in straight.state.items() if "lora_B" in n), "training should move B"
    assert not list((tmp_path / "interrupted").glob("checkpoint-*")), "the final module replaces the checkpoints"


@pytest.mark.slow
def test_a_finished_module_is_reused_and_another_recipe_retrains(tmp_path, features):
    first = run_training(tmp_path / "m", features)
    again = run_training(tmp_path / "m", features)
    assert again.reused and not first.reused
    assert again.losses == first.losses and again.stats.steps == first.stats.steps
    assert all(torch.equal(again.state[n], t) for n, t in first.state.items())
    assert (tmp_path / "m" / "final" / "adapter_config.json").exists()  # a standard peft adapter folder
    other = run_training(tmp_path / "m", features, recipe={"case": 2})
    assert not other.reused


@pytest.mark.slow
def test_training_in_bfloat16_autocast_runs_on_the_cpu(tmp_path, features):
    """The branch a GPU takes (mixed precision flags passed to the Trainer), exercised with CPU bfloat16."""
    bf16 = Precision("bfloat16", "cpu", "test")
    module = run_training(tmp_path / "bf16", features, precision=bf16, method="ia3")
    assert module.losses and all(torch.isfinite(torch.tensor(r["loss"])) for r in module.losses)
    assert all(t.dtype == torch.float32 for t in module.state.values()), "the module stays in float32"


def test_collators_pad_and_mask():
    batch = Seq2SeqCollator(0)([{"input_ids": [5, 6, 1], "labels": [7, 1]}, {"input_ids": [5, 1], "labels": [1]}])
    assert batch["input_ids"].tolist() == [[5, 6, 1], [5, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[7, 1], [1, -100]]
    lm = CausalLMCollator(9)([{"input_ids": [9, 4, 5]}, {"input_ids": [9, 4]}])
    assert lm["labels"].tolist() == [[9, 4, 5], [9, 4, -100]]
    assert pad([[1], [2, 3]], 0)["input_ids"].tolist() == [[1, 0], [2, 3]]
