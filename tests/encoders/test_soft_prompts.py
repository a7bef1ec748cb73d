"""Soft prompts among the vocabulary: the learned vectors are read from peft, and their nearest words found."""

from __future__ import annotations

import pytest
import torch
from peft import PromptTuningConfig, TaskType, get_peft_model
from transformers import RobertaConfig, RobertaForSequenceClassification

from hwutils.encoders import soft_prompts


class Tokens:
    """A tokenizer stand-in: token i is called "w<i>"."""

    def convert_ids_to_tokens(self, ids):
        return [f"w{i}" for i in ids]


def test_soft_prompt_reads_the_prompt_vectors_of_a_peft_model():
    config = RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                           max_position_embeddings=40, type_vocab_size=1, num_labels=3)
    model = get_peft_model(RobertaForSequenceClassification(config),
                           PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=7))
    prompt = soft_prompts.soft_prompt(model)
    assert prompt.shape == (7, 16)
    with torch.no_grad():
        model.prompt_encoder["default"].embedding.weight[0, 0] = 123.0
    assert prompt[0, 0] != 123.0 and soft_prompts.soft_prompt(model)[0, 0] == 123.0  # a copy, read afresh
    assert soft_prompts.soft_prompt(RobertaForSequenceClassification(config)) is None


def test_nearest_tokens_find_the_word_a_vector_points_at_and_compare_norms():
    words = torch.eye(4) * torch.tensor([[1.0], [2.0], [3.0], [4.0]])  # word i points along axis i, norm i + 1
    vectors = torch.tensor([[0.0, 5.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    rows = soft_prompts.nearest_tokens(vectors, words, Tokens())
    assert [r["nearest word"] for r in rows] == ["w1", "w0"]
    assert rows[0]["cosine"] == pytest.approx(1.0) and rows[1]["cosine"] == pytest.approx(2 ** -0.5)
    assert rows[0]["norm / median word norm"] == pytest.approx(5.0 / 2.0)  # torch's median of 1, 2, 3, 4 is 2


def test_vocabulary_neighbours_exclude_the_word_itself():
    words = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    similarity = soft_prompts.vocabulary_neighbour_similarity(words, sample=4)
    cos01 = float(torch.nn.functional.cosine_similarity(words[0], words[1], dim=0))
    cos12 = float(torch.nn.functional.cosine_similarity(words[1], words[2], dim=0))
    # nearest other words: 0 -> 1, 1 -> 0, 2 -> 1, 3 -> 2 (cosine 0); torch's median of four is the lower middle value
    assert similarity == pytest.approx(cos12)
    assert similarity < 1.0  # never a word's similarity to itself
