"""One prompt read three ways: metrics from hand-made scores, the end-to-end reader, and the findings."""

from __future__ import annotations

import numpy as np
import pytest

from hwutils.core.results import snake_case_key
from hwutils.core.training import RunStats
from hwutils.llm import icl
from hwutils.llm.prompts import LABEL_WORDS, YES_MAYBE_NO

Y_TRUE = [0, 1, 2, 0, 1, 2]


def evaluation(style=LABEL_WORDS, demonstrations=(), scores=None, content_free=None, generated=None):
    scores = np.log(np.array([[0.8, 0.15, 0.05], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6],
                              [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.5, 0.1, 0.4]])) if scores is None else scores
    content_free = np.log(np.array([[0.6, 0.2, 0.2]])) if content_free is None else content_free
    generated = generated or [" entailment", " entailment.", " contradiction", " Entailment", " I think", " neutral"]
    return icl.PromptEvaluation(style, list(demonstrations), scores, content_free, generated, RunStats(wall_time_s=1.0),
                                RunStats(wall_time_s=2.0))


def test_method_keys_name_the_style_and_the_shots():
    assert icl.method_key(LABEL_WORDS, 0) == "icl_label_words_0_shot"
    assert icl.method_key(YES_MAYBE_NO, 3) == snake_case_key("icl_yes_maybe_no_3_shot")


def test_metrics_of_the_three_readers_on_hand_made_scores():
    e = evaluation()
    assert e.predicted.tolist() == [0, 0, 2, 0, 0, 0]
    assert e.parsed.tolist() == [0, 0, 2, 0, -1, 1]
    values = e.metrics(Y_TRUE)
    assert values["accuracy"] == pytest.approx(3 / 6) and "unparseable_scoring" not in values  # scoring always answers
    assert values["generation_accuracy"] == pytest.approx(3 / 6) and values["unparseable_generation"] == pytest.approx(1 / 6)
    # calibration divides out the content-free preference for label 0: rows 1, 4 and 5 move to their true labels
    assert e.calibrated.tolist() == [0, 1, 2, 0, 1, 2] and values["calibrated_accuracy"] == 1.0
    assert e.details()["most_predicted"] == "entailment" and e.details()["most_predicted_share"] == pytest.approx(5 / 6)
    assert "demo_label_share" not in e.details()  # only a one-shot prompt has a single demonstration to copy
    one_shot = evaluation(demonstrations=[{"premise": "p", "hypothesis": "h", "label": 2}])
    assert one_shot.key == "icl_label_words_1_shot" and one_shot.details()["demo_label_share"] == pytest.approx(1 / 6)
    assert one_shot.row(Y_TRUE)["generation accuracy"] == values["generation_accuracy"]


def test_findings_name_the_best_prompt_and_demonstration_copying():
    zero = evaluation()
    copied = evaluation(demonstrations=[{"premise": "p", "hypothesis": "h", "label": 2}],
                        scores=np.log(np.tile([0.1, 0.2, 0.7], (6, 1))))
    found = icl.findings([zero, copied], Y_TRUE)
    assert found["best"][0] == zero.name and found["worst"][0] == copied.name
    assert found["most_biased"][0] == copied.name and found["most_biased"][1]["most_predicted_share"] == 1.0
    assert found["copying"] == [{"prompt": copied.name, "label": "contradiction", "share": 1.0, "zero_shot_share": pytest.approx(1 / 6)}]
    assert found["mean_accuracy_by_style"] == {"label words": pytest.approx((3 / 6 + 2 / 6) / 2)}
    assert found["calibration_helped_accuracy"] == 1 and found["prompts"] == 2


@pytest.mark.slow
def test_evaluate_prompt_reads_the_tiny_llama_three_ways():
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hwutils.core import fixtures
    from hwutils.core.prompting import generate_greedy
    from hwutils.llm import pooling
    from hwutils.llm.prompts import build_prompts, score_labels

    folder = fixtures.fixture_path("tiny_llama")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    pooling.set_pad_token(tokenizer, model)
    rows = datasets.Dataset.from_dict({"premise": ["The editor is reading.", "Our guide is swimming in the lake today."],
                                       "hypothesis": ["The editor is reading.", "Our guide is asleep in bed."], "label": [0, 2]})
    demos = [{"premise": "A critic is singing.", "hypothesis": "A critic is performing.", "label": 0}]
    e = icl.evaluate_prompt(model, tokenizer, rows, YES_MAYBE_NO, demos, content_free_inputs=["N/A", ""], max_new_tokens=3,
                            batch_size=1, generation_batch_size=2)
    prompts = build_prompts(YES_MAYBE_NO, rows, demos)
    np.testing.assert_allclose(e.scores, score_labels(model, tokenizer, prompts, YES_MAYBE_NO, batch_size=2), atol=1e-5)
    content_free = build_prompts(YES_MAYBE_NO, [{"premise": "N/A", "hypothesis": "N/A"}, {"premise": "", "hypothesis": ""}], demos)
    np.testing.assert_allclose(e.content_free_scores, score_labels(model, tokenizer, content_free, YES_MAYBE_NO), atol=1e-5)
    assert e.generated == generate_greedy(model, tokenizer, prompts, max_new_tokens=3)
    assert e.scoring.samples == 2 and e.scoring.tokens == sum(len(ids) for ids in tokenizer(prompts)["input_ids"])
    assert e.key == "icl_yes_maybe_no_1_shot" and set(e.metrics(rows["label"])) >= {"accuracy", "calibrated_accuracy", "generation_accuracy"}


def test_temperature_study_counts_both_denominators(monkeypatch):
    sampled = {0.5: [" neutral", " nothing", " contradiction", " entailment", " ??", " contradiction"]}
    monkeypatch.setattr(icl, "generate_sampled", lambda model, tok, prompts, n, bs, temperature, seed: sampled[temperature])
    rows = [{"premise": "p", "hypothesis": "h"}] * len(Y_TRUE)
    greedy, hot = icl.temperature_study(None, None, rows, evaluation(), Y_TRUE, temperatures=[0.5], max_new_tokens=3,
                                        batch_size=2, seed=0)
    assert (greedy["temperature"], greedy["reader"], greedy["accuracy"]) == (0.0, "greedy", pytest.approx(3 / 6))
    assert hot["unparseable"] == pytest.approx(2 / 6) and hot["parseable"] == 4
    assert hot["accuracy"] == pytest.approx(3 / 6)  # rows 2, 3 and 5 right; unparseable answers count as wrong
    assert hot["accuracy_over_parseable"] == pytest.approx(3 / 4)  # the course report's denominator
