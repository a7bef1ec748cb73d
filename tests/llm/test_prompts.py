"""MultiNLI's prompts: styles, demonstrations in the prompt, SFT pairs, answer parsing, label scoring."""

from __future__ import annotations

import numpy as np
import pytest

from hwutils.llm import prompts
from hwutils.llm.prompts import LABEL_WORDS, UNPARSEABLE, YES_MAYBE_NO


@pytest.fixture(scope="module")
def rows():
    import datasets

    return datasets.Dataset.from_dict({"premise": [f"P{i}." for i in range(6)], "hypothesis": [f"H{i}." for i in range(6)],
                                       "label": [0, 1, 2] * 2, "genre": ["fiction"] * 6})


def test_parse_answer_reads_the_first_word_only():
    assert prompts.parse_answer(" Entailment.\n\nPremise:", LABEL_WORDS) == 0
    assert prompts.parse_answer(" contradiction", LABEL_WORDS) == 2
    assert prompts.parse_answer(" maybe, not sure", YES_MAYBE_NO) == 1
    assert prompts.parse_answer(" The answer is yes", YES_MAYBE_NO) == UNPARSEABLE
    assert prompts.parse_answer("\n\n", LABEL_WORDS) == UNPARSEABLE


def test_a_prompt_shows_solved_demonstrations_then_the_unsolved_query(rows):
    demos = [rows[1]]
    prompt = prompts.build_prompt(LABEL_WORDS, "A man sleeps.", "A man is awake.", demos)
    first, query = prompt.split(prompts.DEMONSTRATION_SEPARATOR)
    assert first.endswith("Answer:" + LABEL_WORDS.continuation(1)) and first.startswith("Premise: P1.\nHypothesis: H1.")
    assert query.startswith("Premise: A man sleeps.\nHypothesis: A man is awake.") and query.endswith("Answer:")
    assert prompts.build_prompts(LABEL_WORDS, rows, demos)[2] == prompts.build_prompt(LABEL_WORDS, "P2.", "H2.", demos)


def test_styles_are_keyed_as_in_the_settings_and_their_continuations_follow_label_order():
    assert set(prompts.STYLES) == {"label_words", "yes_maybe_no", "true_false"}
    assert all(key == style.key for key, style in prompts.STYLES.items())
    assert YES_MAYBE_NO.continuations() == [" yes", " maybe", " no"]
    assert LABEL_WORDS.continuations() == [" entailment", " neutral", " contradiction"]


def test_sft_pairs_are_the_zero_shot_prompt_and_the_label_word(rows):
    pairs = prompts.prompt_answer_pairs(rows, YES_MAYBE_NO)
    assert pairs.column_names == ["prompt", "answer"] and len(pairs) == len(rows)
    assert pairs[2] == {"prompt": prompts.build_prompt(YES_MAYBE_NO, "P2.", "H2."), "answer": " no"}


def test_score_labels_scores_the_styles_continuations(monkeypatch):
    seen = {}

    def fake_scores(model, tokenizer, texts, continuations, batch_size, desc):
        seen["continuations"] = continuations
        return np.zeros((len(texts), len(continuations)))

    monkeypatch.setattr(prompts, "score_continuations", fake_scores)
    assert prompts.score_labels(None, None, ["a", "b"], YES_MAYBE_NO).shape == (2, 3)
    assert seen["continuations"] == [" yes", " maybe", " no"]


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
    def lengths(style):
        return [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in style.continuations()]

    assert lengths(LABEL_WORDS) == lengths(YES_MAYBE_NO) == [1, 1, 1]  # the main run's answer words: one token each
    assert max(lengths(prompts.TRUE_FALSE)) > 1  # the full_branches run scores multi-token answers, as Llama-3's tokenizer needs
    assert "pre-trained for 100 steps" in (folder / "README.md").read_text()
