"""The RoBERTa subclass that makes peft's prefix tuning (deep prompts) work."""

from __future__ import annotations

import pytest
import torch
from peft import PrefixTuningConfig, TaskType, get_peft_model
from transformers import RobertaConfig, RobertaForSequenceClassification

from hwutils.encoders.prefix_tuning import RobertaPrefixForSequenceClassification

CONFIG = RobertaConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                       max_position_embeddings=40, type_vocab_size=1, num_labels=3, hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0)
PAD = CONFIG.pad_token_id


def batch(lengths=(7, 4), seed=0):
    generator = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    ids = torch.full((len(lengths), longest), PAD)
    mask = torch.zeros((len(lengths), longest), dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(3, CONFIG.vocab_size, (n,), generator=generator)
        mask[i, :n] = 1
    return ids, mask


def prefixed_model(seed=0):
    torch.manual_seed(seed)
    return get_peft_model(RobertaPrefixForSequenceClassification(CONFIG), PrefixTuningConfig(task_type=TaskType.SEQ_CLS,
                                                                                             num_virtual_tokens=5))


def test_plain_peft_prefix_tuning_fails_on_roberta_classifier():
    """The bug being worked around: if a peft release fixes it, this test says the subclass can go."""
    torch.manual_seed(0)
    broken = get_peft_model(RobertaForSequenceClassification(CONFIG),
                            PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=5))
    ids, mask = batch()
    with pytest.raises(TypeError, match="not supported between instances of 'tuple' and 'int'"):
        broken(input_ids=ids, attention_mask=mask)


def test_without_prefix_it_is_the_original_model():
    torch.manual_seed(0)
    ours = RobertaPrefixForSequenceClassification(CONFIG).eval()
    original = RobertaForSequenceClassification(CONFIG).eval()
    original.load_state_dict(ours.state_dict())
    ids, mask = batch()
    labels = torch.tensor([0, 2])
    a, b = ours(input_ids=ids, attention_mask=mask, labels=labels), original(input_ids=ids, attention_mask=mask, labels=labels)
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=0)
    torch.testing.assert_close(a.loss, b.loss)


def test_only_the_prefix_and_the_head_train_and_receive_gradients():
    model = prefixed_model()
    ids, mask = batch()
    model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1])).loss.backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("prompt_encoder" in n or "modules_to_save" in n for n in trainable), trainable
    assert any("prompt_encoder" in n for n in trainable)
    for name, parameter in model.named_parameters():
        has_gradient = parameter.grad is not None and parameter.grad.abs().sum() > 0
        assert has_gradient == parameter.requires_grad, name


def test_the_prefix_changes_the_output():
    model = prefixed_model().eval()
    ids, mask = batch()
    with torch.no_grad():
        before = model(input_ids=ids, attention_mask=mask).logits
        model.prompt_encoder["default"].embedding.weight.add_(1.0)
        after = model(input_ids=ids, attention_mask=mask).logits
    assert not torch.allclose(before, after)


def test_padding_does_not_change_the_prediction():
    model = prefixed_model().eval()
    ids, mask = batch(lengths=(6,))
    padded_ids = torch.cat([ids, torch.full((1, 5), PAD)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros((1, 5), dtype=torch.long)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits,
                                   model(input_ids=padded_ids, attention_mask=padded_mask).logits, rtol=1e-5, atol=1e-5)


def test_text_keeps_its_pre_training_positions():
    """Positions 2, 3, ... as without a prefix (RoBERTa would otherwise start after the prefix)."""
    model = prefixed_model().eval()
    seen = []
    handle = model.base_model.roberta.embeddings.position_embeddings.register_forward_hook(
        lambda module, args, output: seen.append(args[0].clone()))
    ids, mask = batch(lengths=(4,))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    handle.remove()
    assert seen[0].tolist() == [[2, 3, 4, 5]]


@pytest.mark.slow
def test_prefix_tuning_learns_a_simple_task():
    """A few steps on a separable toy task reduce the loss (the prefix and the head learn)."""
    model = prefixed_model()
    ids, mask = batch(lengths=(6, 6, 6, 6, 6, 6), seed=1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(30):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
