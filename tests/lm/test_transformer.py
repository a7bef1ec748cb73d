from __future__ import annotations

import torch

from hwutils.core import models
from hwutils.lm import transformer
from hwutils.lm.nanogpt import GPT, GPTConfig, gpt_parameters


def test_assignment_architecture_counts_agree():
    config = transformer.TransformerConfig()
    with torch.device("meta"):
        model = transformer.EncoderDecoder(config)
    counted = transformer.counted_parameters(model)
    for row in transformer.block_parameter_rows(config):
        assert row["analytic"] == counted[row["part"]], row["part"]
    assert counted["whole model"] == 87_731_712


def test_other_configuration_counts_agree():
    config = transformer.TransformerConfig(d_model=48, n_heads=3, head_dim=5, ffn_hidden=(7,), n_encoder_layers=2, n_decoder_layers=1)
    model = transformer.EncoderDecoder(config)
    counted = transformer.counted_parameters(model)
    assert all(row["analytic"] == counted[row["part"]] for row in transformer.block_parameter_rows(config))


def test_shapes_traced_on_a_short_input_scale_to_the_full_size():
    config = transformer.TransformerConfig(n_encoder_layers=2, n_decoder_layers=2)
    model = transformer.EncoderDecoder(config).eval()
    traced = models.trace_shapes(model, torch.randn(3, 7, 1024), torch.randn(3, 5, 1024), max_depth=4)
    assert traced[0] == {"module": "encoder.0", "type": "EncoderBlock", "input": [(3, 7, 1024)], "output": [(3, 7, 1024)]}
    query = next(r for r in traced if r["module"] == "encoder.0.self_attention.query")
    assert query["output"] == [(3, 7, 768)]  # 6 heads x 128 concatenated
    with torch.device("meta"):
        meta_model = transformer.EncoderDecoder(config)
        full = models.trace_shapes(meta_model, torch.empty(32, 4096, 1024), torch.empty(32, 4096, 1024), max_depth=4)
    assert models.scale_shapes(traced, {3: 32, 7: 4096, 5: 4096}) == full


def test_decoder_self_attention_is_causal():
    torch.manual_seed(0)
    attention = transformer.MultiHeadAttention(16, 2, 8, causal=True).eval()
    x = torch.randn(1, 6, 16)
    changed = x.clone()
    changed[:, 4:] += 1.0  # change the future
    assert torch.allclose(attention(x)[:, :4], attention(changed)[:, :4], atol=1e-6)
    assert not torch.allclose(attention(x)[:, 4:], attention(changed)[:, 4:])


def test_gpt_counts_shapes_and_generation():
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
    torch.manual_seed(0)
    model = GPT(config).eval()
    assert models.count_parameters(model).total == gpt_parameters(config)
    idx = torch.randint(0, 11, (3, 8))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 8, 11) and loss.item() > 0
    out = model.generate(idx[:, :2], max_new_tokens=10, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 12) and torch.equal(out[:, :2], idx[:, :2])
    again = model.generate(idx[:, :2], max_new_tokens=10, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_meta_device_models_tie_weights_like_from_pretrained():
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=100, d_model=16, d_ff=32, d_kv=4, num_layers=1, num_heads=4)
    model = models.on_meta_device(T5ForConditionalGeneration, config)
    assert model.lm_head.weight is model.shared.weight
