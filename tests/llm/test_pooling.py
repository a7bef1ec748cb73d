"""Last-token pooling for causal models, with left and right padding; the first token sees nothing."""

from __future__ import annotations

import pytest
import torch

from hwutils.llm import pooling


def test_last_token_index_with_right_and_left_padding():
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    assert pooling.last_token_index(right).tolist() == [2, 4, 0]
    assert pooling.last_token_index(left).tolist() == [4, 4, 4]
    hidden = torch.arange(3 * 5, dtype=torch.float).view(3, 5, 1)
    assert pooling.pool_last_token(hidden, right).squeeze(1).tolist() == [2.0, 9.0, 10.0]
    assert pooling.pool_first_token(hidden, left).squeeze(1).tolist() == [2.0, 5.0, 14.0]


@pytest.fixture(scope="module")
def tiny_classifier():
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, num_labels=3, pad_token_id=1, bos_token_id=0, eos_token_id=1)
    return LlamaForSequenceClassification(config).eval()


def pad(rows, side, pad_id=1):
    width = max(map(len, rows))
    ids, mask = [], []
    for row in rows:
        fill = [pad_id] * (width - len(row))
        ids.append(row + fill if side == "right" else fill + row)
        mask.append([1] * len(row) + [0] * len(fill) if side == "right" else [0] * len(fill) + [1] * len(row))
    return torch.tensor(ids), torch.tensor(mask)


def test_llama_sequence_classification_reads_the_last_real_token_with_either_padding(tiny_classifier):
    rows = [[0, 5, 6, 7, 8, 9, 10], [0, 11, 12], [0, 13, 14, 15]]
    with torch.no_grad():
        alone = torch.cat([tiny_classifier(input_ids=torch.tensor([r])).logits for r in rows])
        for side in ("right", "left"):
            ids, mask = pad(rows, side)
            positions = (mask.cumsum(1) - 1).clamp(min=0)  # RoPE is relative: positions only need to be consistent
            batched = tiny_classifier(input_ids=ids, attention_mask=mask, position_ids=positions).logits
            torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)
            # our pooling of the per-position head outputs gives the same logits
            hidden = tiny_classifier.model(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state
            ours = pooling.pool_last_token(tiny_classifier.score(hidden), mask)
            torch.testing.assert_close(ours, alone, atol=1e-5, rtol=1e-4)


def test_without_a_pad_token_a_padded_batch_cannot_be_classified(tiny_classifier):
    from transformers import LlamaForSequenceClassification

    config = tiny_classifier.config.__class__(**{**tiny_classifier.config.to_dict(), "pad_token_id": None})
    model = LlamaForSequenceClassification(config).eval()
    with pytest.raises(ValueError, match="padding token"):
        model(input_ids=torch.tensor([[0, 5, 6], [0, 7, 8]]))


def test_first_token_state_is_identical_for_every_input(tiny_classifier):
    rows = [[0, 5, 6, 7], [0, 20, 21, 22], [0, 30, 31, 32]]
    with torch.no_grad():
        hidden = tiny_classifier.model(input_ids=torch.tensor(rows)).last_hidden_state
    first = pooling.pool_first_token(hidden, torch.ones(3, 4, dtype=torch.long))
    last = pooling.pool_last_token(hidden, torch.ones(3, 4, dtype=torch.long))
    assert (first - first[0]).abs().max() == 0  # causal: position 0 sees only <begin_of_text>
    assert (last - last[0]).abs().max() > 1e-3


def test_set_pad_token_uses_end_of_text_and_tells_the_model():
    from transformers import AutoTokenizer

    from hwutils.core import fixtures

    tokenizer = AutoTokenizer.from_pretrained(fixtures.fixture_path("tiny_llama"))
    model = type("M", (), {"config": type("C", (), {"pad_token_id": None})(), "generation_config": None})()
    message = pooling.set_pad_token(tokenizer, model)
    assert tokenizer.pad_token == tokenizer.eos_token and model.config.pad_token_id == tokenizer.eos_token_id
    assert "end-of-text" in message


def test_head_logits_by_position_match_the_model_and_first_token_features_are_constant():
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from hwutils.core import fixtures

    tokenizer = AutoTokenizer.from_pretrained(fixtures.fixture_path("tiny_llama"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, num_labels=3)
    model = LlamaForSequenceClassification(config).eval()
    pooling.set_pad_token(tokenizer, model)
    texts = ["Premise: The critic is reading.\nAnswer:", "Premise: A young girl is singing on a stage today.\nAnswer:",
             "Premise: Our guide is swimming.\nAnswer:"]
    logits = pooling.head_logits_by_position(model, tokenizer, texts, batch_size=2)
    torch.testing.assert_close(logits["last"], logits["model"])
    assert (logits["first"] - logits["first"][0]).abs().max() == 0
    features = pooling.pooled_features(model, tokenizer, texts, batch_size=3)
    assert features["last"].shape == (3, 32) and (features["first"] - features["first"][0]).abs().max() == 0


def test_each_linear_probe_reads_its_own_pooling_and_cannot_read_constant_features():
    generator = torch.Generator().manual_seed(0)
    labels = [i % 3 for i in range(90)]
    centres = torch.eye(3, 8) * 4

    def around(centre_of, rows):
        return torch.stack([centres[centre_of(labels[i])] for i in rows]) + 0.3 * torch.randn(len(rows), 8, generator=generator)

    def features(rows):  # "shifted" puts each class where "last" puts the next one
        return {"first": torch.ones(len(rows), 8), "last": around(lambda c: c, rows), "shifted": around(lambda c: (c + 1) % 3, rows)}

    train, test = features(range(60)), features(range(60, 90))
    probes = pooling.linear_probes(train, labels[:60], test)
    for pool in ("last", "shifted"):
        assert (probes[pool]["predicted"] == labels[60:]).mean() > 0.9, pool
    assert len(set(probes["first"]["predicted"].tolist())) == 1 and probes["first"]["feature_spread"] == 0
    assert probes["last"]["feature_spread"] == pooling.spread(test["last"]) > 1
    assert pooling.spread(torch.tensor([[0.0, 0.0], [1.0, -2.0], [0.5, 0.0]])) == 2.0  # measured from the first row
