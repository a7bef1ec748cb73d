"""In-context learning helpers: label scoring (hand-computed), generation parsing, calibration, prompts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from hwutils.llm import prompts as llm_prompts
from hwutils.llm.prompts import LABEL_WORDS, UNPARSEABLE, YES_MAYBE_NO


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


def test_label_scoring_on_a_hand_made_two_example_case():
    model = BigramLM(TABLE.clone())
    prompts = [[1, 2], [5, 1, 2, 2]]  # two examples of different lengths: left padding is exercised
    continuations = [[3, 5], [4]]      # a two-token label and a one-token label
    scores = llm_prompts.score_token_continuations(model, prompts, continuations, pad_id=0, batch_size=4)
    expected = np.array([[logp(2, 3) + logp(3, 5), logp(2, 4)],
                         [logp(2, 3) + logp(3, 5), logp(2, 4)]])
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert scores.argmax(axis=1).tolist() == [0, 0]  # log(0.4) + log(0.5) > log(0.2)
    # each row is scored alone the same as in a batch (padding changes nothing)
    alone = llm_prompts.score_token_continuations(model, prompts[1:], continuations, pad_id=0, batch_size=1)
    np.testing.assert_allclose(alone[0], scores[1], rtol=1e-6)


def test_single_token_labels_need_one_forward_row_per_prompt_and_agree_with_the_general_path():
    model = BigramLM(TABLE.clone())
    prompts = [[1, 2], [3, 4, 1]]
    fast = llm_prompts.score_token_continuations(model, prompts, [[3], [4], [5]], pad_id=0, batch_size=8)
    assert model.calls == [(2, 3)]  # one batch of 2 prompt rows, not 6 prompt+label rows
    general = llm_prompts.score_token_continuations(model, prompts, [[3, 5], [4], [5]], pad_id=0, batch_size=8)
    np.testing.assert_allclose(fast[:, 1:], general[:, 1:], rtol=1e-6)
    np.testing.assert_allclose(fast[1], [logp(1, 3), logp(1, 4), logp(1, 5)], rtol=1e-6)


def test_scoring_always_answers_even_when_the_model_prefers_other_words():
    table = TABLE.clone()
    table[2] = torch.log(torch.tensor([0.01, 0.9, 0.01, 0.01, 0.06, 0.01]))  # token 1 dominates after 2
    scores = llm_prompts.score_token_continuations(BigramLM(table), [[1, 2]], [[3], [4], [5]], pad_id=0)
    assert scores.argmax(axis=1).tolist() == [1]  # the best of the labels, whatever else the model wants


def test_parse_answer_reads_the_first_word_only():
    assert llm_prompts.parse_answer(" Entailment.\n\nPremise:", LABEL_WORDS) == 0
    assert llm_prompts.parse_answer(" contradiction", LABEL_WORDS) == 2
    assert llm_prompts.parse_answer(" maybe, not sure", YES_MAYBE_NO) == 1
    assert llm_prompts.parse_answer(" The answer is yes", YES_MAYBE_NO) == UNPARSEABLE
    assert llm_prompts.parse_answer("\n\n", LABEL_WORDS) == UNPARSEABLE


def test_contextual_calibration_removes_a_constant_label_bias():
    # The model adds +2 to label 0 whatever the input; the content-free input shows exactly that.
    true_scores = np.log(np.array([[0.2, 0.5, 0.3], [0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]))
    biased = true_scores + np.array([2.0, 0.0, 0.0])
    content_free = np.array([2.0, 0.0, 0.0])  # uniform + the bias
    assert biased.argmax(axis=1).tolist() == [0, 0, 0]
    calibrated = llm_prompts.contextual_calibration(biased, content_free)
    assert calibrated.argmax(axis=1).tolist() == [1, 2, 0]
    np.testing.assert_allclose(llm_prompts.normalised_label_probabilities(calibrated),
                               llm_prompts.normalised_label_probabilities(true_scores), rtol=1e-9)


def test_prompts_and_demonstrations():
    import datasets

    rows = datasets.Dataset.from_dict({"premise": [f"P{i}." for i in range(9)], "hypothesis": [f"H{i}." for i in range(9)],
                                       "label": [0, 1, 2] * 3})
    demos = llm_prompts.pick_demonstrations(rows, 3, seed=0)
    assert sorted(d["label"] for d in demos) == [0, 1, 2]  # few-shot: one per class
    assert llm_prompts.pick_demonstrations(rows, 3, seed=0) == demos  # seeded
    prompt = llm_prompts.build_prompt(LABEL_WORDS, "A man sleeps.", "A man is awake.", demos[:1])
    first, query = prompt.split(llm_prompts.DEMONSTRATION_SEPARATOR)
    assert first.endswith("Answer:" + LABEL_WORDS.continuation(demos[0]["label"]))
    assert query.startswith("Premise: A man sleeps.\nHypothesis: A man is awake.") and query.endswith("Answer:")
    assert YES_MAYBE_NO.continuation(2) == " no" and len(llm_prompts.STYLES) == 2


def test_tiny_llama_fixture_loads_like_a_llama_3_checkpoint():
    from transformers import AutoConfig, AutoTokenizer

    from hwutils.core import fixtures

    folder = fixtures.fixture_path("tiny_llama")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == "llama" and config.num_key_value_heads < config.num_attention_heads
    assert tokenizer.pad_token is None  # as Llama-3: the notebook must set one
    ids = tokenizer("Premise: x")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id == config.bos_token_id
    for style in llm_prompts.STYLES.values():  # every answer word is one token after "Answer:"
        for label in range(3):
            assert len(tokenizer(style.continuation(label), add_special_tokens=False)["input_ids"]) == 1
