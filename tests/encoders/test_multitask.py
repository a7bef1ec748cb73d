"""Several tasks on one frozen base, with LoRA adapters or with task heads: switching, checksums, merging, costs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import RobertaConfig, RobertaForMaskedLM, RobertaForSequenceClassification

from hwutils.encoders import multitask

CONFIG = RobertaConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                       max_position_embeddings=40, type_vocab_size=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
TASKS = {"nli": 3, "sentiment": 2}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A base checkpoint (masked LM, like roberta-large) and one trained-looking LoRA adapter per task."""
    folder = tmp_path_factory.mktemp("multitask")
    torch.manual_seed(0)
    RobertaForMaskedLM(CONFIG).save_pretrained(folder / "base")
    inputs = {"input_ids": torch.randint(3, CONFIG.vocab_size, (5, 9), generator=torch.Generator().manual_seed(1)),
              "attention_mask": torch.ones(5, 9, dtype=torch.long)}
    own_logits = {}
    for i, (task, labels) in enumerate(TASKS.items()):
        torch.manual_seed(10 + i)
        model = RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=labels)
        # init_lora_weights=False: B is random, so each adapter really changes the model
        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=["query", "value"],
                                                 init_lora_weights=False)).eval()
        with torch.no_grad():
            own_logits[task] = model(**inputs).logits
        model.save_pretrained(folder / task)
    return folder, inputs, own_logits


def shared_model(folder):
    torch.manual_seed(0)
    base = RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=3).eval()
    checksum = multitask.base_weights_checksum(base)
    model = base
    for task in TASKS:
        model = multitask.load_task_adapter(model, folder / task, task)
    return model, checksum


def test_switching_gives_each_task_its_own_predictions_and_leaves_the_base_bit_identical(saved):
    folder, inputs, own_logits = saved
    model, checksum_before = shared_model(folder)
    for task in ["nli", "sentiment", "nli", "sentiment"]:
        model.set_adapter(task)
        with torch.no_grad():
            logits = model(**inputs).logits
        assert logits.shape[1] == TASKS[task]
        torch.testing.assert_close(logits, own_logits[task], rtol=0, atol=1e-6)
    assert multitask.base_weights_checksum(model) == checksum_before
    assert not any(p.requires_grad for p in multitask.base_state(model).values())


def test_the_adapters_really_differ(saved):
    """Guards the test above: the two NLI-shaped outputs would be equal if the adapters did nothing."""
    folder, inputs, own_logits = saved
    model, _ = shared_model(folder)
    model.set_adapter("nli")
    with torch.no_grad():
        with model.disable_adapter():
            base_logits = model(**inputs).logits
        adapted = model(**inputs).logits
    assert (adapted - base_logits).abs().max() > 1e-3


def test_checksum_sees_a_single_changed_value(saved):
    folder, _, _ = saved
    model, checksum = shared_model(folder)
    assert multitask.base_weights_checksum(model) == checksum
    with torch.no_grad():
        model.base_model.model.roberta.encoder.layer[1].attention.self.query.base_layer.weight[0, 0] += 1e-3
    assert multitask.base_weights_checksum(model) != checksum


def test_base_state_names_match_the_plain_model(saved):
    folder, _, _ = saved
    model, _ = shared_model(folder)
    plain = RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=3)
    assert set(multitask.base_state(model)) == set(plain.state_dict())


def test_merged_equals_unmerged_within_tolerance(saved):
    folder, inputs, own_logits = saved
    torch.manual_seed(0)
    base = RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=3).eval()
    unmerged = multitask.load_task_adapter(copy.deepcopy(base), folder / "nli", "nli")
    merged = multitask.load_task_adapter(copy.deepcopy(base), folder / "nli", "nli").merge_and_unload()
    assert type(merged) is RobertaForSequenceClassification  # an ordinary model again
    with torch.no_grad():
        difference = (merged(**inputs).logits - unmerged(**inputs).logits).abs().max().item()
    assert difference <= 1e-4
    changed = multitask.changed_tensors(merged, base)
    assert sorted(n for n in changed if not n.startswith("classifier")) == [
        f"roberta.encoder.layer.{i}.attention.self.{p}.weight" for i in range(2) for p in ("query", "value")]


def test_switching_rows_compare_each_task_with_its_own_model(saved):
    folder, inputs, own_logits = saved
    model, _ = shared_model(folder)
    labels = {"nli": [0, 1, 2, 0, 1], "sentiment": [0, 1, 0, 1, 0]}
    tasks = {task: ({**inputs, "label": labels[task]}, own_logits[task].numpy()) for task in TASKS}

    def logits_of(module, data):
        with torch.no_grad():
            return module(input_ids=data["input_ids"], attention_mask=data["attention_mask"]).logits.numpy()

    rows = multitask.switching_rows(model, tasks, ["nli", "sentiment", "nli"], logits_of)
    assert [(r["active"], r["classes"]) for r in rows] == [("nli", 3), ("sentiment", 2), ("nli", 3)]
    assert all(r["same_predictions"] == 1.0 and r["max_abs_logit_difference"] < 1e-5 for r in rows)
    assert all(r["accuracy_shared_base"] == r["accuracy_own_model"] for r in rows)
    wrong = {**tasks, "nli": (tasks["nli"][0], -tasks["nli"][1])}  # another model's logits: the rows must say so
    assert multitask.switching_rows(model, wrong, ["nli"], logits_of)[0]["same_predictions"] < 1.0


def test_latency_rows_are_relative_to_the_first_model(saved):
    folder, inputs, _ = saved
    small = RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=3)
    rows = multitask.latency_rows({"a": small, "b": small}, [inputs], repeats=1)
    assert [r["model"] for r in rows] == ["a", "b"] and rows[0]["vs_first"] == 0.0
    assert rows[0]["parameters"] == sum(p.numel() for p in small.parameters())
    assert all(r["ms_per_batch"] > 0 and r["examples_per_s"] > 0 for r in rows)
    assert rows[1]["vs_first"] == pytest.approx(rows[1]["ms_per_batch"] / rows[0]["ms_per_batch"] - 1)


def test_sizes_and_latency(saved, tmp_path):
    folder, inputs, _ = saved
    assert 0 < multitask.folder_bytes(folder / "nli") < multitask.folder_bytes(folder / "base")
    model = RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=3)
    assert multitask.state_dict_bytes(model) == 4 * sum(t.numel() for t in model.state_dict().values())
    timing = multitask.latency(model, [{**inputs, "labels": torch.zeros(5, dtype=torch.long)}] * 2, repeats=2)
    assert timing["ms_per_batch"] > 0 and timing["timed_batches"] == 4 and timing["examples_per_s"] > 0


def trained_looking_head(folder, labels, seed):
    torch.manual_seed(seed)
    return RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=labels).classifier


def test_task_heads_round_trip_and_switch_on_one_body_without_touching_it(saved, tmp_path):
    folder, inputs, _ = saved
    heads = {task: trained_looking_head(folder, labels, seed=20 + i) for i, (task, labels) in enumerate(TASKS.items())}
    sizes = {task: multitask.save_head(head, tmp_path / f"{task}.safetensors") for task, head in heads.items()}
    assert sizes["sentiment"] < sizes["nli"] and sizes["nli"] > 4 * sum(p.numel() for p in heads["nli"].parameters())
    torch.manual_seed(0)
    body = RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=3).eval()
    checksum = multitask.base_weights_checksum(body)
    loaded = {task: multitask.load_head(tmp_path / f"{task}.safetensors", like=body.classifier) for task in TASKS}
    expected = {}
    for task, head in heads.items():  # each task's own model: the body with that head
        own = copy.deepcopy(body)
        own.classifier = head.eval()
        with torch.no_grad():
            expected[task] = own(**inputs).logits
    for task in ["nli", "sentiment", "nli"]:
        multitask.swap_head(body, loaded[task])
        with torch.no_grad():
            logits = body(**inputs).logits
        assert body.num_labels == TASKS[task]
        torch.testing.assert_close(logits, expected[task], rtol=0, atol=0)
    assert not any(p.requires_grad for head in loaded.values() for p in head.parameters())
    body.classifier = trained_looking_head(folder, 3, seed=0)  # the base's own head again: the body was never written
    assert multitask.base_weights_checksum(body) == checksum


def test_switching_rows_take_another_way_to_activate_a_task(saved):
    folder, inputs, _ = saved
    body = RobertaForSequenceClassification.from_pretrained(folder / "base", num_labels=3).eval()
    heads = {task: trained_looking_head(folder, labels, seed=30 + i).eval() for i, (task, labels) in enumerate(TASKS.items())}
    labels = {"nli": [0, 1, 2, 0, 1], "sentiment": [0, 1, 0, 1, 0]}

    def logits_of(module, data):
        with torch.no_grad():
            return module(input_ids=data["input_ids"], attention_mask=data["attention_mask"]).logits.numpy()

    own = {}
    for task in TASKS:
        multitask.swap_head(body, heads[task])
        own[task] = logits_of(body, inputs)
    tasks = {task: ({**inputs, "label": labels[task]}, own[task]) for task in TASKS}
    rows = multitask.switching_rows(body, tasks, ["sentiment", "nli"], logits_of,
                                    activate=lambda model, task: multitask.swap_head(model, heads[task]))
    assert [(r["active"], r["classes"], r["same_predictions"]) for r in rows] == [("sentiment", 2, 1.0), ("nli", 3, 1.0)]
