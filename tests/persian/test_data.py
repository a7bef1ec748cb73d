"""The sentiment loader: label strings mapped by setting, rows with other labels dropped, text normalised and cut."""

from __future__ import annotations

import datasets
import pytest

from hwutils.core.errors import DataError
from hwutils.core.fixtures import write_dataset_splits
from hwutils.persian import data


@pytest.fixture
def hub_like(tmp_path):
    rows = {"comment": ["غذا خوب بود", "پيتزا سرد بود", "نظری ندارم", "كباب عالی بود"],
            "label": ["HAPPY", "SAD", None, "HAPPY"]}
    write_dataset_splits(tmp_path, {"test": datasets.Dataset.from_dict(rows)})
    return str(tmp_path)


def test_labels_follow_label_values_and_other_rows_are_dropped(hub_like):
    split = data.load_sentiment(hub_like, "test", "comment", "label", ["SAD", "HAPPY"])
    assert split.dataset["label"] == [1, 0, 1] and split.rows_read == 4 and split.rows_dropped == 1
    reversed_order = data.load_sentiment(hub_like, "test", "comment", "label", ["HAPPY", "SAD"])
    assert reversed_order.dataset["label"] == [0, 1, 0]


def test_comments_are_normalised_and_counted(hub_like):
    split = data.load_sentiment(hub_like, "test", "comment", "label", ["SAD", "HAPPY"])
    assert split.dataset["text"] == ["غذا خوب بود", "پیتزا سرد بود", "کباب عالی بود"]
    assert split.texts_normalised == 2


def test_a_wrong_column_or_label_set_fails_with_one_clear_line(hub_like):
    with pytest.raises(DataError, match="no column 'text'"):
        data.load_sentiment(hub_like, "test", "text", "label", ["SAD", "HAPPY"])
    with pytest.raises(DataError, match="labels found: \\['HAPPY', 'SAD'\\]"):
        data.load_sentiment(hub_like, "test", "comment", "label", ["negative", "positive"])


def test_truncation_cuts_at_a_token_boundary(tiny_lm):
    _, tokenizer = tiny_lm
    long = "غذا خیلی خوشمزه بود ولی پیک دیر رسید و سالاد سرد بود."
    cut = data.truncate(tokenizer, long, 5)
    assert long.startswith(cut) and len(tokenizer(cut, add_special_tokens=False)["input_ids"]) == 5
    assert data.truncate(tokenizer, long, 500) == long
