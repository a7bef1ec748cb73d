"""Reasoning methods on Persian word problems: direct answers, chains of thought, self-consistency.

Every prompt shows a problem as ``مسئله: <question>`` and then asks for one of two things:

* a **direct answer**: the prompt ends with ``پاسخ:`` ("answer:"), the model writes a number;
* a **chain of thought**: the prompt ends with ``راه‌حل:`` ("solution:"), the model writes the steps,
  then ``پاسخ: <number>``.

Zero-shot prompts show the problem alone; a **zero-shot chain of thought** adds the Persian
"let's think step by step" (``بیایید گام به گام فکر کنیم.``, after Kojima et al., 2022). Few-shot
prompts first show solved problems, with their worked chains for the **few-shot chain of thought**
(Wei et al., 2022) or with the bare answers for the **few-shot direct** baseline, separated by a
blank line. **Self-consistency** (Wang et al., 2023) samples ``k`` chains at a temperature and
takes the majority answer; :func:`self_consistency_curve` scores every ``k`` from one set of
samples (the first ``k`` of them).

:func:`generate` counts the tokens each method spends: the prompt's tokens (processed once per
sampled sequence) and the generated ones up to the stop (a blank line, or the start of another
problem).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hwutils.core.progress import progress
from hwutils.persian.arithmetic import WordProblem
from hwutils.persian.text import ZWNJ, extract_answer, normalise, persian_number, same_number, to_ascii_digits

QUESTION = "مسئله: {question}"  # "problem: ..."
DIRECT_CUE = "\nپاسخ:"  # "answer:"
COT_CUE = "\nراه" + ZWNJ + "حل:"  # "solution:"
STEP_BY_STEP = " بیایید گام به گام فکر کنیم."  # "let's think step by step."
SEPARATOR = "\n\n"
STOP_STRINGS = (SEPARATOR, "مسئله:")
METHODS = ("direct_zero_shot", "direct_few_shot", "cot_zero_shot", "cot_few_shot")


def solved(problem: WordProblem, with_chain: bool, step_by_step: bool = False) -> str:
    """A solved problem as a demonstration: the question, then its chain and answer, or the answer alone."""
    question = QUESTION.format(question=problem.question)
    if with_chain:
        return question + COT_CUE + (STEP_BY_STEP if step_by_step else "") + " " + problem.chain()
    return question + DIRECT_CUE + " " + persian_number(problem.answer)


def build_prompt(method: str, problem: WordProblem, demonstrations: Sequence[WordProblem] = ()) -> str:
    """The prompt of ``method`` (one of :data:`METHODS`) for ``problem``; few-shot methods show
    ``demonstrations`` first (with chains for ``cot_few_shot``, answers only for ``direct_few_shot``)."""
    question = QUESTION.format(question=problem.question)
    if method == "direct_zero_shot":
        return question + DIRECT_CUE
    if method == "cot_zero_shot":
        return question + COT_CUE + STEP_BY_STEP
    if method in ("direct_few_shot", "cot_few_shot"):
        with_chain = method == "cot_few_shot"
        shots = [solved(d, with_chain) for d in demonstrations]
        return SEPARATOR.join([*shots, question + (COT_CUE if with_chain else DIRECT_CUE)])
    raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")


@dataclass(frozen=True)
class Generation:
    """One generated continuation: its text (cut at the stop), the answer read from it, its cost."""

    text: str
    answer: float | int | None
    generated_tokens: int
    prompt_tokens: int


def cut_at_stop(text: str, stops: Sequence[str] = STOP_STRINGS) -> str:
    """``text`` up to the first stop string (a blank line, or the start of another problem)."""
    positions = [text.find(stop) for stop in stops if stop in text]
    return text[:min(positions)] if positions else text


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int,
             samples: int = 1, temperature: float = 0.0, top_k: int = 0, seed: int = 0,
             desc: str = "generating") -> list[list[Generation]]:
    """``samples`` continuations of every prompt: greedy when ``temperature`` is 0, else sampled at
    that temperature (``top_k`` > 0 keeps only the k likeliest tokens); sampling is seeded per
    batch with ``seed``, so a run repeats. Generation stops at :data:`STOP_STRINGS` or after
    ``max_new_tokens``. The model's own generation defaults (repetition penalty, top-p, ...) are
    replaced by these explicit settings, so every method decodes the same way."""
    from transformers import GenerationConfig

    device = next(model.parameters()).device
    sampling = temperature > 0
    config = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=sampling, num_return_sequences=samples,
        temperature=temperature if sampling else None, top_k=top_k if sampling and top_k else None,
        top_p=None, repetition_penalty=None, stop_strings=list(STOP_STRINGS),
        pad_token_id=tokenizer.pad_token_id, eos_token_id=model.generation_config.eos_token_id)
    stop_ids = {tokenizer.pad_token_id, *([config.eos_token_id] if isinstance(config.eos_token_id, int)
                                          else (config.eos_token_id or []))}
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # generation appends on the right
    results: list[list[Generation]] = []
    try:
        for batch_index, start in enumerate(progress(range(0, len(prompts), batch_size), desc=desc)):
            batch = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt", padding=True,
                              return_token_type_ids=False).to(device)
            torch.manual_seed(seed + batch_index)
            out = model.generate(**batch, generation_config=config, tokenizer=tokenizer)
            new_tokens = out[:, batch["input_ids"].shape[1]:].tolist()
            prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
            for row, tokens in enumerate(new_tokens):
                length = next((i for i, t in enumerate(tokens) if t in stop_ids), len(tokens))
                text = cut_at_stop(tokenizer.decode(tokens[:length], skip_special_tokens=True))
                generation = Generation(text, extract_answer(text), length, prompt_lengths[row // samples])
                if row % samples == 0:
                    results.append([])
                results[-1].append(generation)
    finally:
        tokenizer.padding_side = side
    return results


def majority_vote(answers: Sequence[float | int | None]) -> float | int | None:
    """The most frequent answer (unreadable ones ignored); a tie goes to the answer seen first."""
    readable = [a for a in answers if a is not None]
    if not readable:
        return None
    counts = Counter(float(a) for a in readable)
    best = max(counts.values())
    return next(a for a in readable if counts[float(a)] == best)


def accuracy(answers: Sequence[float | int | None], gold: Sequence[int]) -> float:
    """Share of answers equal to the gold answer."""
    return sum(same_number(a, g) for a, g in zip(answers, gold)) / len(gold)


def self_consistency_curve(samples: Sequence[Sequence[Generation]], gold: Sequence[int],
                           ks: Sequence[int]) -> list[dict[str, float]]:
    """Accuracy of the majority vote over the first ``k`` sampled chains, for every ``k`` in ``ks``,
    with the tokens a problem costs at that ``k``."""
    rows = []
    for k in ks:
        votes = [majority_vote([g.answer for g in chains[:k]]) for chains in samples]
        tokens = [sum(g.prompt_tokens + g.generated_tokens for g in chains[:k]) for chains in samples]
        rows.append({"k": int(k), "accuracy": accuracy(votes, gold),
                     "tokens_per_problem": sum(tokens) / len(tokens)})
    return rows


_EQUATION = re.compile(r"(\d+(?:\.\d+)?)\s*([-+\u2212×*/÷])\s*(\d+(?:\.\d+)?)\s*=\s*(\d+(?:\.\d+)?)")
_OPERATIONS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "\u2212": lambda a, b: a - b, "×": lambda a, b: a * b,
               "*": lambda a, b: a * b, "/": lambda a, b: a / b if b else float("nan"), "÷": lambda a, b: a / b if b else float("nan")}


def equations(text: str) -> list[tuple[float, str, float, float]]:
    """The equations ``a op b = c`` written in ``text`` (any digit set), as numbers."""
    plain = to_ascii_digits(normalise(text))
    return [(float(a), op, float(b), float(c)) for a, op, b, c in _EQUATION.findall(plain)]


def chain_is_correct(text: str) -> bool:
    """True when ``text`` writes at least one equation and every one of them holds."""
    found = equations(text)
    return bool(found) and all(abs(_OPERATIONS[op](a, b) - c) < 1e-9 for a, op, b, c in found)


def summarise(generations: Sequence[Generation], gold: Sequence[int]) -> dict[str, float]:
    """Accuracy, share of unreadable answers, share of outputs whose written equations all hold
    (0 for an output with none, such as a direct answer), and tokens per problem."""
    n = len(generations)
    return {
        "accuracy": accuracy([g.answer for g in generations], gold),
        "unreadable_share": sum(g.answer is None for g in generations) / n,
        "correct_chain_share": sum(chain_is_correct(g.text) for g in generations) / n,
        "generated_tokens_per_problem": sum(g.generated_tokens for g in generations) / n,
        "tokens_per_problem": sum(g.prompt_tokens + g.generated_tokens for g in generations) / n,
    }


def describe_chain(problem: WordProblem, generation: Generation) -> str:
    """A problem, the chain the model wrote for it, and the answer read from it against the expected one."""
    return f"{problem.question}\n\n{generation.text.strip()}\n\n[read: {generation.answer} · expected: {problem.answer}]"
