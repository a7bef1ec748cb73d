"""Soft prompts with peft: configs, parameter counts, the TEXT init = the hard prompt, training, resuming, precision."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from hwutils.core.errors import ConfigError
from hwutils.core.models import count_parameters
from hwutils.core.precision import Precision, choose_precision
from hwutils.persian import classification, soft_prompts

PROMPT = classification.SentimentPrompt("آیا احساس این نظر مثبت است یا منفی؟", ("منفی", "مثبت"))
TEXTS = ["کباب خوشمزه بود.", "برنج سرد بود ولی پیک عالی بود.", "سالاد کهنه بود.", "غذا گرم بود ولی سس بد بود."]
LABELS = [1, 1, 0, 0]
METHOD = "p_tuning"  # the hardest case: peft alone saves only its MLP's output


@pytest.fixture
def base(smoke_settings):
    """A fresh copy of the tiny model for each test (peft freezes and wraps it)."""
    return AutoModelForCausalLM.from_pretrained(smoke_settings.model).eval()


def config(method, tokenizer, smoke_settings):
    n = len(classification.instruction_ids(tokenizer, PROMPT))
    return soft_prompts.soft_prompt_config(method, n, PROMPT.instruction, smoke_settings.model, encoder_hidden_size=16)


@pytest.mark.parametrize("method", soft_prompts.METHODS)
def test_only_the_prompt_trains_and_its_size_is_known_in_advance(method, base, tiny_lm, smoke_settings):
    _, tokenizer = tiny_lm
    cfg = config(method, tokenizer, smoke_settings)
    model = soft_prompts.soft_prompt_model(base, cfg, seed=0)
    counted = count_parameters(model)
    assert counted.trainable == soft_prompts.prompt_parameters(cfg, base.config.hidden_size) > 0
    assert counted.total == count_parameters(base).total + counted.trainable
    assert not any(p.requires_grad for p in base.parameters())
    assert soft_prompts.prompt_vectors(model).shape == (cfg.num_virtual_tokens, base.config.hidden_size)


def test_an_unknown_method_fails_with_the_valid_ones():
    with pytest.raises(ConfigError, match="valid methods: prompt_tuning_text, prompt_tuning_random, p_tuning"):
        soft_prompts.soft_prompt_config("prefix", 4, "x", "x", 8)


def test_text_init_is_the_instruction_and_scores_like_the_hard_prompt(base, tiny_lm, smoke_settings):
    model_for_hard, tokenizer = tiny_lm
    cfg = config("prompt_tuning_text", tokenizer, smoke_settings)
    model = soft_prompts.soft_prompt_model(base, cfg, seed=0)
    vectors = soft_prompts.prompt_vectors(model)
    instruction = classification.instruction_ids(tokenizer, PROMPT)
    torch.testing.assert_close(vectors, base.get_input_embeddings().weight[instruction].float())
    ids, similarity = soft_prompts.nearest_tokens(vectors, base.get_input_embeddings().weight)
    assert ids == instruction and min(similarity) > 0.9999
    soft = soft_prompts.score_soft_prompt(model, tokenizer, PROMPT, TEXTS, batch_size=3)
    hard = classification.score_hard_prompt(model_for_hard, tokenizer, PROMPT, TEXTS)
    np.testing.assert_allclose(soft, hard, atol=1e-4)
    np.testing.assert_allclose(soft_prompts.score_soft_prompt(model, tokenizer, PROMPT, TEXTS, batch_size=1), soft, atol=1e-5)


def test_random_init_is_seeded_and_far_from_every_word(base, tiny_lm, smoke_settings):
    _, tokenizer = tiny_lm
    cfg = config("prompt_tuning_random", tokenizer, smoke_settings)
    first = soft_prompts.prompt_vectors(soft_prompts.soft_prompt_model(base, cfg, seed=1))
    again = soft_prompts.prompt_vectors(soft_prompts.soft_prompt_model(base, cfg, seed=1))
    torch.testing.assert_close(first, again)
    _, similarity = soft_prompts.nearest_tokens(first, base.get_input_embeddings().weight)
    assert max(similarity) < 0.6


def test_training_rows_put_the_loss_on_the_label_word_only(tiny_lm):
    _, tokenizer = tiny_lm
    rows = soft_prompts.training_rows(tokenizer, PROMPT, TEXTS[:2], [1, 0])
    words = classification.continuation_ids(tokenizer, PROMPT)
    for row, label in zip(rows, [1, 0]):
        n = len(words[label])
        assert row["input_ids"][-n:] == words[label] and row["labels"][-n:] == words[label]
        assert set(row["labels"][:-n]) == {-100} and row["attention_mask"] == [1] * len(row["input_ids"])
    batch = soft_prompts.pad_right(pad_id=0)(rows)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    shorter = int(np.argmin([len(r["input_ids"]) for r in rows]))
    assert batch["labels"][shorter, -1] == -100 and batch["attention_mask"][shorter, -1] == 0


def train(model, tokenizer, folder, steps=4, precision=None):
    rows = soft_prompts.training_rows(tokenizer, PROMPT, TEXTS * 4, LABELS * 4)
    return soft_prompts.train_soft_prompt(
        model, rows, rows[:4], output_dir=folder, pad_id=tokenizer.pad_token_id, steps=steps, batch_size=4,
        eval_batch_size=4, lr=3e-2, weight_decay=0.0, warmup_ratio=0.0, eval_every=2, checkpoint_every=2,
        logging_steps=1, seed=0, precision=precision or choose_precision("cpu", "float32"), device=torch.device("cpu"))


@pytest.mark.slow
def test_training_moves_the_prompt_and_logs_losses(smoke_settings, tiny_lm, tmp_path):
    _, tokenizer = tiny_lm
    base = AutoModelForCausalLM.from_pretrained(smoke_settings.model)
    model = soft_prompts.soft_prompt_model(base, config("prompt_tuning_text", tokenizer, smoke_settings), seed=0)
    before = soft_prompts.prompt_vectors(model)
    history = train(model, tokenizer, tmp_path / "run")
    assert not torch.allclose(before, soft_prompts.prompt_vectors(model))
    assert [h["step"] for h in history.losses] == [1, 2, 3, 4] and [e["step"] for e in history.evals] == [2, 4]
    assert history.resumed_from_step == 0 and history.stats.steps == 4 and history.stats.samples == 16


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_prompt(smoke_settings, tiny_lm, tmp_path, monkeypatch):
    _, tokenizer = tiny_lm

    def fresh():
        base = AutoModelForCausalLM.from_pretrained(smoke_settings.model)
        return soft_prompts.soft_prompt_model(base, config(METHOD, tokenizer, smoke_settings), seed=0)

    uninterrupted = fresh()
    train(uninterrupted, tokenizer, tmp_path / "whole")

    from transformers import Trainer

    original, calls = Trainer.training_step, []

    def crash_at_step_three(self, *args, **kwargs):  # a disconnect after the checkpoint of step 2
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", crash_at_step_three)
    with pytest.raises(KeyboardInterrupt):
        train(fresh(), tokenizer, tmp_path / "interrupted")
    monkeypatch.setattr(Trainer, "training_step", original)
    resumed_model = fresh()
    resumed = train(resumed_model, tokenizer, tmp_path / "interrupted")
    assert resumed.resumed_from_step == 2
    torch.testing.assert_close(soft_prompts.prompt_vectors(resumed_model), soft_prompts.prompt_vectors(uninterrupted))
    assert [h["step"] for h in resumed.losses] == [1, 2, 3, 4]  # the logs before the interruption come back too

    # a finished run found again is reloaded, not repeated
    reloaded_model = fresh()
    reloaded = train(reloaded_model, tokenizer, tmp_path / "whole")
    assert reloaded.resumed_from_step == 4
    torch.testing.assert_close(soft_prompts.prompt_vectors(reloaded_model), soft_prompts.prompt_vectors(uninterrupted))


def test_the_checkpoint_folder_depends_on_every_setting(tmp_path):
    one = soft_prompts.checkpoint_folder(tmp_path, "p_tuning", {"lr": 0.03, "steps": 150})
    assert one == soft_prompts.checkpoint_folder(tmp_path, "p_tuning", {"steps": 150, "lr": 0.03})
    assert one != soft_prompts.checkpoint_folder(tmp_path, "p_tuning", {"lr": 0.01, "steps": 150})
    assert one != soft_prompts.checkpoint_folder(tmp_path, "prompt_tuning_text", {"lr": 0.03, "steps": 150})


@pytest.mark.slow
def test_half_precision_training_keeps_the_prompt_in_float32(smoke_settings, tiny_lm, tmp_path):
    """The GPU path in bfloat16 (float16 needs a GPU): weights in half precision, autocast, a float32 prompt."""
    _, tokenizer = tiny_lm
    base = AutoModelForCausalLM.from_pretrained(smoke_settings.model, dtype=torch.bfloat16)
    model = soft_prompts.soft_prompt_model(base, config("prompt_tuning_text", tokenizer, smoke_settings), seed=0)
    history = train(model, tokenizer, tmp_path / "bf16", steps=2,
                    precision=Precision("bfloat16", "cpu", "asked for by the test"))
    assert all(np.isfinite(h["loss"]) for h in history.losses)
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    scores = soft_prompts.score_soft_prompt(model, tokenizer, PROMPT, TEXTS)
    assert np.isfinite(scores).all()


def test_nearest_token_rows_report_drift(tiny_lm, base):
    _, tokenizer = tiny_lm
    table = base.get_input_embeddings().weight
    before = table[[5, 6, 7]].detach().float()
    after = before.clone()
    after[1] = table[9].detach().float()
    rows = soft_prompts.nearest_token_rows(tokenizer, table, before, after)
    assert [r["same token"] for r in rows] == [True, False, True]
    assert rows[0]["cosine(before, after)"] == pytest.approx(1.0) and rows[1]["nearest after"] == soft_prompts.token_text(tokenizer, 9)
