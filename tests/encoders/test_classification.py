"""Encoding, dynamic padding, batches, prediction and fine-tuning of sequence classifiers, in float32,
in bfloat16 and in float16 with the core loop's loss scaling; resuming after a run is killed mid-epoch."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification

from hwutils.core import fixtures
from hwutils.core.errors import ConfigError
from hwutils.core.precision import choose_precision
from hwutils.encoders.classification import (BatchStream, TrainableState, encode, fine_tune, first_batches, length_summary,
                                             make_optimizer, pad_batch, padded_positions, predict, sample, steps_for)

FLOAT32 = choose_precision("cpu", "float32")
FLOAT16 = choose_precision("cpu", "float16")  # a CPU autocasts to float16 too: how the tests reach the T4's branch
BFLOAT16 = choose_precision("cpu", "bfloat16")  # the A100 / L4 branch


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(fixtures.fixture_path("tiny_roberta"))


@pytest.fixture(scope="module")
def pairs():
    words = ["red", "blue", "green"]
    rows = {"premise": [f"The car is {w} today." for w in words * 6],
            "hypothesis": [f"The car is {w}." for w in words * 6],
            "label": [i % 3 for i in range(18)], "genre": ["x"] * 18}
    return datasets.Dataset.from_dict(rows)


def tiny_classifier(tokenizer, seed=0):
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=80, type_vocab_size=1, num_labels=3,
                           pad_token_id=tokenizer.pad_token_id, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return RobertaForSequenceClassification(config)


def test_encode_pairs_and_single_texts_without_padding(tokenizer, pairs):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)
    assert set(encoded.column_names) == {"input_ids", "attention_mask", "label"}
    ids = encoded[0]["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.eos_token_id) == 3  # <s> A </s></s> B </s>
    assert tokenizer.pad_token_id not in ids
    single = encode(pairs, tokenizer, ["premise"], max_length=4)
    assert all(len(row) == 4 for row in single["input_ids"])  # truncated
    with pytest.raises(ConfigError):
        encode(pairs, tokenizer, ["premise", "hypothesis", "genre"], max_length=8)


def test_pad_batch_pads_to_the_longest_row_only():
    rows = [{"input_ids": [0, 5, 2], "label": 1}, {"input_ids": [0, 5, 6, 7, 2], "label": 0}]
    batch = pad_batch(rows, pad_token_id=1)
    assert batch["input_ids"].tolist() == [[0, 5, 2, 1, 1], [0, 5, 6, 7, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [1, 0]


def test_batch_stream_covers_an_epoch_without_repeats_and_is_seeded(tokenizer, pairs):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)

    def first_epoch(seed):
        stream = BatchStream(encoded, tokenizer.pad_token_id, 6, torch.Generator().manual_seed(seed))
        return [stream()["input_ids"] for _ in range(3)]

    epoch = first_epoch(0)
    rows = sorted(tuple(r[r != tokenizer.pad_token_id].tolist()) for b in epoch for r in b)
    assert rows == sorted(tuple(r) for r in encoded["input_ids"])
    assert all(torch.equal(a, b) for a, b in zip(epoch, first_epoch(0)))
    assert not all(torch.equal(a, b) for a, b in zip(epoch, first_epoch(1)))


def test_predict_keeps_the_dataset_order(tokenizer, pairs):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)
    model = tiny_classifier(tokenizer).eval()
    logits = predict(model, encoded, tokenizer.pad_token_id, batch_size=4)
    with torch.no_grad():
        one_by_one = np.concatenate([model(input_ids=torch.tensor([row["input_ids"]])).logits.numpy() for row in encoded])
    np.testing.assert_allclose(logits, one_by_one, atol=1e-5)


def test_trainable_state_holds_only_trainable_weights_and_restores_them(tokenizer):
    model = tiny_classifier(tokenizer)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("classifier"))
    wrapped = TrainableState(model)
    state = wrapped.state_dict()
    assert set(state) == {n for n, p in model.named_parameters() if n.startswith("classifier")}
    with torch.no_grad():
        model.classifier.out_proj.weight.zero_()
    wrapped.load_state_dict(state)
    assert model.classifier.out_proj.weight.abs().sum() > 0
    with pytest.raises(RuntimeError):
        wrapped.load_state_dict({})


def test_optimizer_does_not_decay_biases_and_needs_trainable_parameters(tokenizer):
    model = tiny_classifier(tokenizer)
    optimizer = make_optimizer(model, lr=1e-3, weight_decay=0.1)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and all(p.ndim >= 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.ndim < 2 for p in plain["params"])
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with pytest.raises(ConfigError):
        make_optimizer(model, lr=1e-3, weight_decay=0.1)


@pytest.mark.slow
def test_fine_tune_learns_and_resumes_from_its_checkpoint(tokenizer, pairs, tmp_path):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)

    def run(checkpoint):
        model = tiny_classifier(tokenizer)
        stream = BatchStream(encoded, tokenizer.pad_token_id, 6, torch.Generator().manual_seed(0))
        result = fine_tune(model, stream, lr=1e-2, steps=80, checkpoint=checkpoint, fingerprint={"test": 1},
                           precision=FLOAT32, desc="test")
        return model, result

    model, result = run(tmp_path / "ckpt.pt")
    losses = [r["loss"] for r in result.losses]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert result.losses[0]["lr"] < result.losses[5]["lr"]  # warm-up ...
    assert result.losses[-1]["lr"] < result.losses[10]["lr"]  # ... then decay
    again, resumed = run(tmp_path / "ckpt.pt")  # a rerun finds the finished checkpoint
    assert resumed.resumed_from_step == 80 and resumed.losses == result.losses
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)


def test_steps_samples_and_fixed_batches(tokenizer, pairs):
    assert steps_for(3, 3000, 32) == 281 and steps_for(0.001, 10, 32) == 1
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)
    assert sample(encoded, 0, seed=0) is encoded and sample(encoded, 100, seed=0) is encoded
    five = sample(encoded, 5, seed=0)
    assert len(five) == 5 and five["input_ids"] == sample(encoded, 5, seed=0)["input_ids"]
    assert five["input_ids"] != sample(encoded, 5, seed=1)["input_ids"]
    batches = first_batches(encoded, n_batches=2, batch_size=4, pad_token_id=tokenizer.pad_token_id)
    assert [len(b["input_ids"]) for b in batches] == [4, 4]
    assert batches[1]["input_ids"][0, : len(encoded[4]["input_ids"])].tolist() == encoded[4]["input_ids"]  # in order


def test_padding_and_length_summaries():
    positions = padded_positions([2, 4, 6, 8], batch_size=2, max_length=10, seed=0)
    assert positions["fixed"] == 40 and positions["tokens"] == 20
    assert positions["tokens"] <= positions["dynamic"] <= 2 * (8 + 6)  # each batch costs twice its longest row
    same_lengths = padded_positions([5] * 6, batch_size=4, max_length=10, seed=0)
    assert same_lengths["dynamic"] == same_lengths["tokens"] == 30
    rows = length_summary({"a": {"input_ids": [[1] * 3, [1] * 10]}}, max_length=10)
    assert rows == [{"split": "a", "mean tokens": 6.5, "95th percentile": 9.65, "longest": 10, "truncated share": 0.5}]


@pytest.mark.slow
def test_float16_fine_tuning_learns_and_resumes(tokenizer, pairs, tmp_path):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)

    def run():
        model = tiny_classifier(tokenizer)
        stream = BatchStream(encoded, tokenizer.pad_token_id, 6, torch.Generator().manual_seed(0))
        return model, fine_tune(model, stream, lr=1e-2, steps=80, checkpoint=tmp_path / "fp16.pt", fingerprint={"test": 2},
                                precision=FLOAT16, desc="test")

    model, result = run()
    losses = [r["loss"] for r in result.losses]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    assert torch.load(tmp_path / "fp16.pt", weights_only=True)["grad_scaler"]["scale"] > 0  # the core loop saved its scale
    again, resumed = run()
    assert resumed.resumed_from_step == 80 and resumed.losses == result.losses


@pytest.mark.slow
def test_same_seed_gives_identical_training(tokenizer, pairs):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)

    def losses():
        model = tiny_classifier(tokenizer)
        stream = BatchStream(encoded, tokenizer.pad_token_id, 6, torch.Generator().manual_seed(0))
        return [r["loss"] for r in fine_tune(model, stream, lr=1e-2, steps=8, precision=FLOAT32, desc="test").losses]

    assert losses() == losses()


@pytest.mark.slow
def test_bfloat16_fine_tuning_autocasts_and_learns(tokenizer, pairs):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)
    model = tiny_classifier(tokenizer)
    dtypes = []
    model.classifier.out_proj.register_forward_hook(lambda module, args, output: dtypes.append(output.dtype))
    stream = BatchStream(encoded, tokenizer.pad_token_id, 6, torch.Generator().manual_seed(0))
    result = fine_tune(model, stream, lr=1e-2, steps=80, precision=BFLOAT16, desc="test")
    assert set(dtypes) == {torch.bfloat16}  # every training forward ran under bfloat16 autocast
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay float32
    losses = [r["loss"] for r in result.losses]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    assert predict(model, encoded, tokenizer.pad_token_id, batch_size=4, precision=BFLOAT16).dtype == np.float32


def test_batch_stream_state_restores_the_position_within_an_epoch(tokenizer, pairs):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)
    stream = BatchStream(encoded, tokenizer.pad_token_id, 4, torch.Generator().manual_seed(0))
    for _ in range(2):
        stream()
    state = stream.get_state()
    expected = [stream()["input_ids"] for _ in range(6)]  # crosses into the next epoch (18 rows, 4 per batch)
    fresh = BatchStream(encoded, tokenizer.pad_token_id, 4, torch.Generator().manual_seed(123))
    fresh.set_state(state)
    assert all(torch.equal(a, fresh()["input_ids"]) for a in expected)


class Killed(Exception):
    """Stands for the process being killed: nothing after it runs, only what is on disk survives."""


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_final_weights(tokenizer, pairs, tmp_path):
    encoded = encode(pairs, tokenizer, ["premise", "hypothesis"], max_length=64)

    def run(checkpoint, kill_at_batch=0):
        model = tiny_classifier(tokenizer)
        stream = BatchStream(encoded, tokenizer.pad_token_id, 4, torch.Generator().manual_seed(0))
        calls = []

        def batches():
            calls.append(1)
            if len(calls) == kill_at_batch:
                raise Killed
            return stream()

        batches.get_state, batches.set_state = stream.get_state, stream.set_state
        result = fine_tune(model, batches, lr=1e-2, steps=30, checkpoint=checkpoint, checkpoint_every=7, fingerprint={"test": 3},
                           precision=FLOAT32, desc="test")
        return model, result

    uninterrupted, reference = run(tmp_path / "whole.pt")
    with pytest.raises(Killed):
        run(tmp_path / "killed.pt", kill_at_batch=17)  # mid-epoch (4 batches per epoch), after the checkpoint at step 14
    resumed_model, resumed = run(tmp_path / "killed.pt")
    assert resumed.resumed_from_step == 14
    assert resumed.losses == reference.losses
    for a, b in zip(uninterrupted.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)
