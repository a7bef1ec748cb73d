"""The smoke fixtures need the skill being taught: shortcuts stay near chance."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from hwutils.core.fixtures import baselines
from hwutils.core.fixtures.text_datasets import ACTIONS, GENRES, NLI_LABELS, nli_pair


@pytest.mark.parametrize("split", ["validation_matched", "validation_mismatched"])
def test_one_sentence_alone_says_nothing_about_the_nli_label(split):
    result = baselines.nli_baselines(split=split)
    for shortcut in ("hypothesis_only", "premise_only", "hypothesis_lookup", "both_as_one_bag"):
        assert result[shortcut] <= 1 / 3 + 0.10, (shortcut, result)


def test_every_hypothesis_and_negation_appears_under_every_label():
    rng = random.Random(0)
    labels_of = defaultdict(set)
    negated_labels = set()
    for _ in range(3000):
        label = rng.randint(0, 2)
        _, hypothesis = nli_pair(label, rng.choice(GENRES["fiction"]), rng.choice(ACTIONS), rng)
        labels_of[hypothesis].add(label)
        if " not " in hypothesis:
            negated_labels.add(label)
    assert negated_labels == set(range(len(NLI_LABELS)))
    assert sum(len(labels) == 3 for labels in labels_of.values()) / len(labels_of) > 0.9


def test_a_word_counting_lexicon_is_fooled_by_negation_and_contrast():
    result = baselines.sentiment_baselines()
    assert result["lexicon"] <= 0.80 and result["bag_of_words"] <= 0.80, result


def test_a_lexicon_would_solve_reviews_without_negations_and_contrasts():
    """The baseline can fail: on plain opinions only, the same lexicon is right every time."""
    from hwutils.core.fixtures.text_datasets import opinion

    rng = random.Random(0)
    labels = [rng.randint(0, 1) for _ in range(200)]
    texts = [opinion(y, "plain", rng) for y in labels]
    assert (baselines.lexicon_predictions(texts) == labels).all()


@pytest.mark.parametrize("fixture, train, test", [("food_images", "train", "validation"),
                                                  ("stanford_dogs_mini", "train", "test")])
def test_mean_colour_does_not_separate_the_image_classes(fixture, train, test):
    assert baselines.mean_colour_baseline(fixture, train, test) <= 0.5
