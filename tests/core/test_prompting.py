"""Prompting a causal LM: continuation scoring (hand-computed), calibration, demonstrations, greedy generation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hwutils.core import prompting


class BigramLM(torch.nn.Module):
    """A causal LM whose next-token logits depend only on the current token: ``table[token]``.

    Its log-probabilities can be computed by hand, and it honours the calling convention of
    ``score_token_continuations`` (attention mask, position ids, ``logits_to_keep``).
    """

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = torch.nn.Parameter(table, requires_grad=False)
        self.calls: list[tuple[int, ...]] = []

    def forward(self, input_ids, attention_mask=None, position_ids=None, logits_to_keep=0):
        self.calls.append(tuple(input_ids.shape))
        logits = self.table[input_ids]
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


VOCAB = 6  # 0 = pad, 1..5 ordinary tokens
TABLE = torch.log(torch.tensor([
    [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
    [0.1, 0.1, 0.5, 0.1, 0.1, 0.1],   # after token 1: token 2 is likely
    [0.1, 0.1, 0.1, 0.4, 0.2, 0.1],   # after token 2: 3 (0.4) or 4 (0.2)
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.5],   # after token 3: 5
    [0.1, 0.6, 0.1, 0.1, 0.0 + 1e-9, 0.1],
    [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
]))


def logp(prev: int, token: int) -> float:
    return torch.log_softmax(TABLE[prev], dim=-1)[token].item()


def test_continuation_scores_on_a_hand_made_two_example_case():
    model = BigramLM(TABLE.clone())
    prompts = [[1, 2], [5, 1, 2, 2]]  # two examples of different lengths: left padding is exercised
    continuations = [[3, 5], [4]]      # a two-token label and a one-token label
    scores = prompting.score_token_continuations(model, prompts, continuations, pad_id=0, batch_size=4)
    expected = np.array([[logp(2, 3) + logp(3, 5), logp(2, 4)],
                         [logp(2, 3) + logp(3, 5), logp(2, 4)]])
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert scores.argmax(axis=1).tolist() == [0, 0]  # log(0.4) + log(0.5) > log(0.2)
    # each row is scored alone the same as in a batch (padding changes nothing)
    alone = prompting.score_token_continuations(model, prompts[1:], continuations, pad_id=0, batch_size=1)
    np.testing.assert_allclose(alone[0], scores[1], rtol=1e-6)


def test_single_token_continuations_need_one_forward_row_per_prompt_and_agree_with_the_general_path():
    model = BigramLM(TABLE.clone())
    prompts = [[1, 2], [3, 4, 1]]
    fast = prompting.score_token_continuations(model, prompts, [[3], [4], [5]], pad_id=0, batch_size=8)
    assert model.calls == [(2, 3)]  # one batch of 2 prompt rows, not 6 prompt+label rows
    general = prompting.score_token_continuations(model, prompts, [[3, 5], [4], [5]], pad_id=0, batch_size=8)
    np.testing.assert_allclose(fast[:, 1:], general[:, 1:], rtol=1e-6)
    np.testing.assert_allclose(fast[1], [logp(1, 3), logp(1, 4), logp(1, 5)], rtol=1e-6)


def test_scoring_always_answers_even_when_the_model_prefers_other_words():
    table = TABLE.clone()
    table[2] = torch.log(torch.tensor([0.01, 0.9, 0.01, 0.01, 0.06, 0.01]))  # token 1 dominates after 2
    scores = prompting.score_token_continuations(BigramLM(table), [[1, 2]], [[3], [4], [5]], pad_id=0)
    assert scores.argmax(axis=1).tolist() == [1]  # the best of the candidates, whatever else the model wants


def test_no_prompts_give_an_empty_table_and_an_empty_continuation_is_refused():
    model = BigramLM(TABLE.clone())
    assert prompting.score_token_continuations(model, [], [[3], [4]], pad_id=0).shape == (0, 2)
    assert model.calls == []
    with pytest.raises(ValueError, match="at least one token"):
        prompting.score_token_continuations(model, [[1, 2]], [[3], []], pad_id=0)


def test_contextual_calibration_removes_a_constant_label_bias():
    # The model adds +2 to label 0 whatever the input; the content-free input shows exactly that.
    true_scores = np.log(np.array([[0.2, 0.5, 0.3], [0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]))
    biased = true_scores + np.array([2.0, 0.0, 0.0])
    content_free = np.array([2.0, 0.0, 0.0])  # uniform + the bias
    assert biased.argmax(axis=1).tolist() == [0, 0, 0]
    calibrated = prompting.contextual_calibration(biased, content_free)
    assert calibrated.argmax(axis=1).tolist() == [1, 2, 0]
    np.testing.assert_allclose(prompting.normalised_label_probabilities(calibrated),
                               prompting.normalised_label_probabilities(true_scores), rtol=1e-9)
    # several content-free inputs: their label distributions are averaged (these two average to the bias)
    bias = prompting.normalised_label_probabilities(content_free)
    spread = np.array([0.05, -0.05, 0.0])
    two_inputs = prompting.contextual_calibration(biased, np.log(np.stack([bias + spread, bias - spread])))
    np.testing.assert_allclose(two_inputs, calibrated, rtol=1e-9)


def test_demonstrations_show_each_class_in_turn_and_are_seeded():
    import datasets

    rows = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(12)], "label": [0, 1, 2, 2] * 3})
    three = prompting.pick_demonstrations(rows, 3, seed=0)
    assert sorted(d["label"] for d in three) == [0, 1, 2]  # one per class
    assert prompting.pick_demonstrations(rows, 3, seed=0) == three  # seeded
    five = prompting.pick_demonstrations(rows, 5, seed=1)
    assert sorted({d["label"] for d in five}) == [0, 1, 2] and len(five) == 5
    assert prompting.pick_demonstrations(rows, 0, seed=0) == []
    seen = {tuple(d["text"] for d in prompting.pick_demonstrations(rows, 3, seed=s)) for s in range(8)}
    assert len(seen) > 1  # the seed matters


class CharTokenizer:
    """Letters a..j as ids 1..10 (0 = padding), padded on ``padding_side``, as a Hub tokenizer is called."""

    pad_token_id = 0

    def __init__(self):
        self.padding_side = "right"

    def __call__(self, texts, return_tensors="pt", padding=True):
        from transformers import BatchEncoding

        rows = [[ord(ch) - ord("a") + 1 for ch in text] for text in texts]
        width = max(map(len, rows))
        ids, mask = [], []
        for row in rows:
            fill = [0] * (width - len(row))
            ids.append(fill + row if self.padding_side == "left" else row + fill)
            mask.append([0] * len(fill) + [1] * len(row) if self.padding_side == "left" else [1] * len(row) + [0] * len(fill))
        return BatchEncoding({"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)})

    def batch_decode(self, ids, skip_special_tokens=True):  # a generated padding id shows as "_"
        return ["".join(chr(ord("a") + t - 1) if t else "_" for t in row.tolist()) for row in ids]


def test_greedy_generation_of_a_batch_equals_each_prompt_generated_alone():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=11, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=None)
    model = LlamaForCausalLM(config).eval()
    tokenizer = CharTokenizer()
    prompts = ["abcdefg", "ab", "jihgf"]  # different lengths: padding must not change a continuation
    batched = prompting.generate_greedy(model, tokenizer, prompts, max_new_tokens=4, batch_size=3)
    alone = [prompting.generate_greedy(model, tokenizer, [p], max_new_tokens=4, batch_size=1)[0] for p in prompts]
    assert batched == alone and all(len(text) == 4 for text in batched)
    assert tokenizer.padding_side == "right"  # restored after generating
