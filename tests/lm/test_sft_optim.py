"""Notebook 06's teaching helpers: the SFT loss mask, AdamW's decoupled decay, the cosine schedule,
the attention steps at full size, and the temperature analysis."""

from __future__ import annotations

import torch

from hwutils.lm import optim, sft, tokenization, transformer


def test_only_the_response_is_a_target():
    tokenizer = tokenization.CharTokenizer.fit("abc: xyz")
    ids, targets = sft.sft_example(tokenizer, "ab: ", "xyz")
    assert ids.tolist() == tokenizer.encode("ab: xy")
    assert targets.tolist() == [-100, -100, -100] + tokenizer.encode("xyz")


def test_adamw_decays_weights_alike_and_adam_with_l2_does_not():
    adam, adamw = optim.decay_comparison()
    small, large = list(adam)[1:]
    assert abs(adam[small]) > 10 * abs(adam[large]), adam
    assert abs(adamw[small] - adamw[large]) < 0.25 * abs(adamw[small]), adamw


def test_the_cosine_formula_is_what_cosine_annealing_does():
    weights = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weights], lr=0.3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=50)
    for step in range(1, 51):
        optimizer.step()
        scheduler.step()
        assert abs(optimizer.param_groups[0]["lr"] - optim.cosine_learning_rate(step, 0.3, 50)) < 1e-12


def test_attention_steps_at_the_assignments_size():
    config = transformer.TransformerConfig()
    with torch.device("meta"):
        attention = transformer.MultiHeadAttention(config.d_model, config.n_heads, config.head_dim)
        rows = transformer.attention_step_shapes(attention, torch.empty(32, 4096, config.d_model))
    shapes = {row["step"]: row["shape"] for row in rows}
    assert shapes["split into heads"] == (32, 6, 4096, 128)
    assert shapes["QKᵀ / √d_k (one score per pair of positions)"] == (32, 6, 4096, 4096)
    assert rows[-1]["shape"] == (32, 4096, 1024)


def test_the_report_typo_note_follows_the_reports_own_total():
    config = transformer.TransformerConfig()
    decoder = next(r["analytic"] for r in transformer.block_parameter_rows(config) if r["part"] == "decoder block")
    note = transformer.report_typo_note(decoder, config, 7_617_192, 4_465_920, 87_731_712)
    assert "implies a decoder block of 7,617,024" in note and "typo" in note and decoder == 7_617_024
    assert "equals the count" in transformer.report_typo_note(decoder, config, decoder, 4_465_920, 87_731_712)


def test_the_temperature_text_follows_the_measured_shares():
    rows = [{"temperature": t, "known words": k, "distinct words": d, "words": 50}
            for t, k, d in [(0.5, 0.9, 0.2), (1.0, 0.8, 0.4), (1.5, 0.6, 0.7)]]
    assert "That is what dividing the logits" in tokenization.temperature_analysis(rows)
    rows[1]["known words"] = 0.95
    assert "does not hold at every step" in tokenization.temperature_analysis(rows)
