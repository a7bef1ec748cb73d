"""Reasoning prompts, answer voting, the self-consistency curve, chain checking and seeded generation."""

from __future__ import annotations

import pytest

from hwutils.persian import arithmetic, reasoning
from hwutils.persian.reasoning import Generation

PROBLEMS = arithmetic.generate_problems(4, seed=5, max_number=5, templates=["buy_and_give", "together"])


def test_each_method_builds_its_own_prompt():
    problem, shots = PROBLEMS[0], PROBLEMS[1:3]
    direct = reasoning.build_prompt("direct_zero_shot", problem)
    assert direct.endswith(reasoning.DIRECT_CUE) and problem.question in direct
    zero_cot = reasoning.build_prompt("cot_zero_shot", problem)
    assert zero_cot.endswith(reasoning.COT_CUE + reasoning.STEP_BY_STEP)
    few_cot = reasoning.build_prompt("cot_few_shot", problem, shots)
    assert few_cot.count(reasoning.SEPARATOR) == 2 and all(s.chain() in few_cot for s in shots)
    assert few_cot.endswith(reasoning.COT_CUE)
    few_direct = reasoning.build_prompt("direct_few_shot", problem, shots)
    assert not any(s.steps[0] in few_direct for s in shots) and few_direct.endswith(reasoning.DIRECT_CUE)
    with pytest.raises(ValueError, match="unknown method"):
        reasoning.build_prompt("tree_of_thought", problem)


def test_majority_vote_ignores_unreadable_answers_and_breaks_ties_by_first_seen():
    assert reasoning.majority_vote([3, None, 5, 5, 3.0, 5]) == 5
    assert reasoning.majority_vote([7, 4, 4, 7]) == 7
    assert reasoning.majority_vote([None, None]) is None


def generation(answer, tokens=10):
    return Generation(f"پاسخ: {answer}", answer, tokens, 100)


def test_self_consistency_curve_votes_over_the_first_k_samples():
    gold = [5, 9]
    samples = [[generation(a) for a in (4, 5, 5, 4, 4)],  # majority at k=1: 4, k=3: 5, k=5: 4
               [generation(a) for a in (9, 1, 2, 9, 9)]]  # right at every k
    curve = reasoning.self_consistency_curve(samples, gold, [1, 3, 5])
    assert [r["accuracy"] for r in curve] == [0.5, 1.0, 0.5]
    assert [r["tokens_per_problem"] for r in curve] == [110, 330, 550]


def test_equations_are_checked_in_any_digit_set():
    assert reasoning.equations("۳ + ۲ = ۵. ۵ − ۲ = ۳") == [(3.0, "+", 2.0, 5.0), (5.0, "−", 2.0, 3.0)]
    assert reasoning.chain_is_correct("۴ × 6 = ٢٤")
    assert not reasoning.chain_is_correct("۱۰ − ۱ = ۱")
    assert not reasoning.chain_is_correct("بدون معادله")


def test_summary_counts_accuracy_unreadable_answers_correct_chains_and_tokens():
    outputs = [Generation("۲ + ۳ = ۵\nپاسخ: ۵", 5, 12, 40), Generation("نمی‌دانم", None, 4, 40)]
    summary = reasoning.summarise(outputs, [5, 7])
    assert summary == {"accuracy": 0.5, "unreadable_share": 0.5, "correct_chain_share": 0.5,
                       "generated_tokens_per_problem": 8.0, "tokens_per_problem": 48.0}


def test_text_is_cut_at_a_blank_line_or_at_the_next_problem():
    assert reasoning.cut_at_stop("۲ + ۳ = ۵\nپاسخ: ۵\n\nمسئله: ...") == "۲ + ۳ = ۵\nپاسخ: ۵"
    assert reasoning.cut_at_stop("پاسخ: ۵ مسئله: بعدی") == "پاسخ: ۵ "


@pytest.mark.slow
def test_generation_is_greedy_or_seeded_sampling_and_counts_its_tokens(tiny_lm):
    model, tokenizer = tiny_lm
    prompts = [reasoning.build_prompt("cot_few_shot", p, PROBLEMS[2:]) for p in PROBLEMS[:2]]
    greedy = reasoning.generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=2)
    assert [len(g) for g in greedy] == [1, 1]
    assert greedy == reasoning.generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=1)  # padding changes nothing
    sampled = reasoning.generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=2, samples=3, temperature=1.0, seed=4)
    again = reasoning.generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=2, samples=3, temperature=1.0, seed=4)
    other = reasoning.generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=2, samples=3, temperature=1.0, seed=5)
    assert sampled == again != other
    assert [len(s) for s in sampled] == [3, 3]
    for chains, prompt in zip(sampled, prompts):
        for g in chains:
            assert 0 < g.generated_tokens <= 12
            assert g.prompt_tokens == len(tokenizer(prompt)["input_ids"])
            assert reasoning.SEPARATOR not in g.text
    assert tokenizer.padding_side == "right"  # restored
