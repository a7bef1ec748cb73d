"""Hard prompts: the token layout shared with soft prompts, label scoring, calibration, the one-word baseline."""

from __future__ import annotations

import numpy as np

from hwutils.core.prompting import score_continuations
from hwutils.persian import classification

PROMPT = classification.SentimentPrompt("آیا این نظر مثبت است یا منفی؟", ("منفی", "مثبت"))
DEMOS = [{"text": "غذا سرد بود.", "label": 0}, {"text": "پیتزا داغ بود.", "label": 1}]


def test_the_prompt_is_the_instruction_tokenized_alone_then_the_rest(tiny_lm):
    _, tokenizer = tiny_lm
    ids = classification.prompt_ids(tokenizer, PROMPT, "کباب خوشمزه بود.", DEMOS)
    instruction = tokenizer(PROMPT.instruction)["input_ids"]  # what peft's TEXT initialisation tokenizes
    body = tokenizer("\nنظر: غذا سرد بود.\nپاسخ: منفی\nنظر: پیتزا داغ بود.\nپاسخ: مثبت\nنظر: کباب خوشمزه بود.\nپاسخ:",
                     add_special_tokens=False)["input_ids"]
    assert ids == instruction + body
    assert classification.prompt_ids(tokenizer, PROMPT, "کباب خوشمزه بود.", DEMOS, with_instruction=False) == body
    assert PROMPT.render("کباب خوشمزه بود.", DEMOS) == PROMPT.instruction + tokenizer.decode(body)


class MergingTokenizer:
    """Characters as tokens, except that "؟" followed by a newline is one token, as in Qwen's
    tokenizer (punctuation and the line breaks after it form one pre-token)."""

    MERGED = 10**6

    def __call__(self, text, add_special_tokens=True):
        ids, i = [], 0
        while i < len(text):
            if text[i:i + 2] == "؟\n":
                ids.append(self.MERGED)
                i += 2
            else:
                ids.append(ord(text[i]))
                i += 1
        return {"input_ids": ids}


def test_the_instruction_is_tokenized_alone_even_where_the_join_would_merge():
    tokenizer = MergingTokenizer()
    ids = classification.prompt_ids(tokenizer, PROMPT, "غذا سرد بود.")
    assert ids[:len(PROMPT.instruction)] == [ord(c) for c in PROMPT.instruction]  # ends with "؟" on its own
    assert MergingTokenizer.MERGED not in ids
    assert MergingTokenizer.MERGED in tokenizer(PROMPT.render("غذا سرد بود."))["input_ids"]  # what joining would give


def test_scoring_gives_the_log_probability_of_each_label_word(tiny_lm):
    model, tokenizer = tiny_lm
    texts = ["کباب خوشمزه بود.", "برنج سرد بود ولی پیک عالی بود."]
    scores = classification.score_hard_prompt(model, tokenizer, PROMPT, texts, DEMOS, batch_size=2)
    assert scores.shape == (2, 2) and np.all(scores < 0)
    # the same numbers as scoring the rendered text with the core's string interface
    rendered = score_continuations(model, tokenizer, [PROMPT.render(t, DEMOS) for t in texts], [" منفی", " مثبت"])
    np.testing.assert_allclose(scores, rendered, atol=1e-4)


def test_calibration_removes_the_bias_shown_for_an_empty_comment(tiny_lm):
    model, tokenizer = tiny_lm
    texts = ["کباب خوشمزه بود.", "سالاد کهنه بود."]
    raw = classification.score_hard_prompt(model, tokenizer, PROMPT, texts)
    calibrated = classification.calibrated(model, tokenizer, PROMPT, raw, [""])
    empty = classification.score_hard_prompt(model, tokenizer, PROMPT, [""])
    # the content-free comment itself becomes exactly neutral after calibration
    np.testing.assert_allclose(np.diff(classification.calibrated(model, tokenizer, PROMPT, empty, [""])), 0, atol=1e-9)
    assert not np.allclose(np.diff(raw), np.diff(calibrated))


def test_the_one_word_rule_finds_a_deciding_word_and_fails_when_order_decides():
    deciding = (["خوب بود", "بد بود", "خیلی خوب", "خیلی بد"], [1, 0, 1, 0])
    rule = classification.best_single_word_rule(*deciding, *deciding)
    assert rule["test_accuracy"] == 1.0 and rule["word"] in {"خوب", "بد"}
    # the same two words in every comment: only their order tells, so no word beats the majority class
    order = (["خوب ولی بد"] * 3 + ["بد ولی خوب"], [0, 0, 0, 1])
    rule = classification.best_single_word_rule(*order, *order)
    assert rule["word"] == "" and rule["predicts"] == 0 and rule["test_accuracy"] == 0.75
