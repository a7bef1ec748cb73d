"""What a training step costs on the real t5-small architecture, per fine-tuning method (CPU, offline).

    PYTHONPATH=. python benchmarks/t5_peft_cost.py [--steps 6] [--batch 8] [--length 256] [--threads N]

t5-small is built from its configuration (``fixture:t5_small_config``) with random weights, so
nothing is downloaded. The set-ups are notebook 01's own: ``hwutils.t5_peft.methods.method_table``
builds them from the settings of ``hwutils/settings/01_t5_imdb.toml`` (profile ``--profile``,
``full`` by default: t5-small's hyper-parameters and learning rates), so the benchmark and the
notebook cannot drift apart. The soft prompts' initial tokens come from the smoke profile's fixture
tokenizer (t5-small's own is on the Hub); a step's cost does not depend on those values. For full
fine-tuning, each of the nine PEFT runs (soft prompt, bottleneck adapter and LoRA, each from
scratch, with peft / adapters and with opendelta) and the random-init prompt ablation, one fresh
process builds the model, applies the method and times AdamW training steps on a batch of
``--batch`` inputs of ``--length`` tokens (target: 2 tokens, as in the notebook), in float32 (the
full profile's ``precision``). Each method runs in
its own process so that its peak memory (the process's peak resident set, minus what the
interpreter and the frozen model take before training starts) is its own. Finally, the inference
latency of a LoRA model merged into its weights is compared with the base model's, and the step
times of the from-scratch and peft LoRA are compared in one process with alternating steps
(interleaved repetitions and medians, so that load from other processes affects both sides alike).

Targets (issue 3): from-scratch LoRA step time within 5% of peft's; LoRA peak training memory at
most 60% of full fine-tuning's; merged LoRA latency within 3% of the base model's.
Results: ``reports/bench/t5_peft_cost.json`` and ``.md``; a table is printed.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOTEBOOK = "01_t5_imdb"


def rss_mb() -> float:
    from hwutils.core.training import peak_memory_mb

    return peak_memory_mb("cpu")[0]  # this process's peak resident set so far


def t5_small(seed: int = 0):
    import torch
    from transformers import AutoConfig, T5ForConditionalGeneration

    from hwutils.core.profiles import resolve_fixture

    config = AutoConfig.from_pretrained(resolve_fixture("fixture:t5_small_config"))
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(config)


def notebook_methods(profile: str, keys: list[str] | None = None) -> dict:
    """Notebook 01's method table (:func:`hwutils.t5_peft.methods.method_table`) under ``profile``."""
    from transformers import AutoTokenizer

    from hwutils.core.profiles import load_settings
    from hwutils.t5_peft.methods import method_table

    tokenizer = AutoTokenizer.from_pretrained(load_settings(NOTEBOOK, "smoke").model)  # offline; see the module docstring
    return method_table(load_settings(NOTEBOOK, profile), tokenizer, keys)


def batch(size: int, length: int, vocab: int, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(3, vocab, (size, length), generator=generator),
            "attention_mask": torch.ones(size, length, dtype=torch.long),
            "labels": torch.randint(3, vocab, (size, 2), generator=generator)}


def measure_training(name: str, profile: str, steps: int, size: int, length: int, threads: int, queue) -> None:
    """(In a child process.) Median seconds per AdamW step and peak memory of method ``name``."""
    import logging
    import warnings

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import torch

    if threads:
        torch.set_num_threads(threads)
    method = notebook_methods(profile, [name])[name]
    model = method.build(t5_small())
    model.train()
    inputs = batch(size, length, model.config.vocab_size)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=method.lr)
    before_training = rss_mb()
    seconds = []
    for step in range(steps + 2):  # two warm-up steps: first calls allocate buffers and optimizer state
        start = time.perf_counter()
        loss = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"].clone(), labels=inputs["labels"]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 2:
            seconds.append(time.perf_counter() - start)
    peak = rss_mb()
    queue.put({"method": name, "trainable": sum(p.numel() for p in trainable), "step_s": statistics.median(seconds),
               "peak_rss_mb": peak, "model_rss_mb": before_training, "training_extra_mb": peak - before_training})


def measure_lora_pair(profile: str, steps: int, size: int, length: int, threads: int) -> dict:
    """Median step time of the from-scratch LoRA and peft's LoRA on the same weights, measured in one
    process with their steps alternating, so that load from other processes hits both alike."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    table = notebook_methods(profile, ["lora_scratch", "lora_peft"])
    models = {name: method.build(t5_small()).train() for name, method in table.items()}
    optimizers = {name: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=table[name].lr)
                  for name, m in models.items()}
    inputs = batch(size, length, models["lora_scratch"].config.vocab_size)
    seconds = {name: [] for name in models}
    for step in range(steps + 2):
        order = list(models.items())
        for name, model in (order if step % 2 else order[::-1]):  # alternate which goes first: the second tends to be slower
            start = time.perf_counter()
            loss = model(**inputs).loss
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[name].step()
            if step >= 2:
                seconds[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    return {**{f"{name}_step_s": value for name, value in medians.items()},
            "ratio": medians["lora_scratch"] / medians["lora_peft"]}


def measure_merged_lora(profile: str, repeats: int, size: int, length: int, threads: int) -> dict:
    """Median inference latency (loss forward, no grad) of the base model and of a merged scratch LoRA
    model with the same weights plus a random update, measured alternately."""
    import torch

    from hwutils.t5_peft import lora as scratch_lora

    if threads:
        torch.set_num_threads(threads)
    base = t5_small().eval()
    merged = notebook_methods(profile, ["lora_scratch"])["lora_scratch"].build(t5_small())
    for layer in scratch_lora.lora_layers(merged).values():
        torch.nn.init.normal_(layer.lora_B.weight, std=0.01)  # a non-zero update, as after training
    merged.eval()
    inputs = batch(size, length, base.config.vocab_size)
    with torch.no_grad():
        unmerged_out = merged(**inputs).logits
        scratch_lora.merge_and_unload(merged)  # back to plain nn.Linear layers holding W + (alpha/r) B A
        merged_out = merged(**inputs).logits
        times = {"base": [], "merged": []}
        for repeat in range(repeats + 1):
            pair = (("base", base), ("merged", merged))
            for label, model in (pair if repeat % 2 else pair[::-1]):  # alternate the order: the second tends to be slower
                start = time.perf_counter()
                model(**inputs)
                times[label].append(time.perf_counter() - start)
    base_s, merged_s = statistics.median(times["base"][2:]), statistics.median(times["merged"][2:])
    return {"base_s": base_s, "merged_s": merged_s, "ratio": merged_s / base_s,
            "max_abs_logit_difference_merged_vs_unmerged": float((merged_out - unmerged_out).abs().max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per method (after 2 warm-up steps)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--latency-repeats", type=int, default=30)
    parser.add_argument("--profile", choices=["full", "smoke"], default="full",
                        help="whose hyper-parameters and learning rates (notebook 01's settings file)")
    parser.add_argument("--methods", nargs="*", default=None,
                        help="training set-ups to measure, by results key (default: all; none: only the LoRA comparisons)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    args = parser.parse_args(argv)
    # all set-ups by default; unknown keys fail here, with the valid ones
    args.methods = list(notebook_methods(args.profile, args.methods))

    context = multiprocessing.get_context("spawn")
    rows = []
    for name in args.methods:
        queue = context.Queue()
        process = context.Process(target=measure_training, args=(name, args.profile, args.steps, args.batch, args.length, args.threads, queue))
        process.start()
        row = queue.get()
        process.join()
        rows.append(row)
        print(f"{name:18s} {row['trainable']:>11,} trainable  {row['step_s']:6.2f} s/step  peak {row['peak_rss_mb']:7.0f} MB "
              f"(+{row['training_extra_mb']:.0f} MB for training)", flush=True)
    by_name = {row["method"]: row for row in rows}
    latency = measure_merged_lora(args.profile, args.latency_repeats, args.batch, args.length, args.threads)
    pair = measure_lora_pair(args.profile, args.steps, args.batch, args.length, args.threads)

    targets = {"scratch LoRA step time within 5% of peft's (alternating steps, one process)":
               {"value": pair["ratio"], "met": pair["ratio"] <= 1.05}}
    if {"lora_scratch", "full_ft"} <= by_name.keys():
        share = by_name["lora_scratch"]["peak_rss_mb"] / by_name["full_ft"]["peak_rss_mb"]
        targets["LoRA peak training memory <= 60% of full fine-tuning's"] = {"value": share, "met": share <= 0.60}
    targets["merged LoRA latency within 3% of the base model's"] = {"value": latency["ratio"], "met": latency["ratio"] <= 1.03}

    import torch

    hyper = next(iter(notebook_methods(args.profile, ["lora_scratch"]).values())).hyper
    document = {"setup": {"model": "t5-small (random weights, from its configuration)", "device": "cpu",
                          "threads": torch.get_num_threads() if not args.threads else args.threads,
                          "batch": args.batch, "input_tokens": args.length, "target_tokens": 2, "timed_steps": args.steps,
                          "settings": f"hwutils/settings/{NOTEBOOK}.toml [{args.profile}]",
                          "prompt_tokens": hyper.prompt.num_virtual_tokens, "adapter": asdict(hyper.adapter),
                          "lora": asdict(hyper.lora)},
                "training": rows, "lora_step_pair": pair, "merged_lora_latency": latency, "targets": targets}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "t5_peft_cost.json").write_text(json.dumps(document, indent=2) + "\n")
    lines = ["| method | trainable | s/step | peak RSS (MB) | training extra (MB) |", "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['trainable']:,} | {r['step_s']:.3f} | {r['peak_rss_mb']:.0f} | {r['training_extra_mb']:.0f} |"
              for r in rows]
    lines += ["", f"Inference (batch {args.batch} x {args.length}): base {latency['base_s'] * 1000:.0f} ms, merged LoRA "
                  f"{latency['merged_s'] * 1000:.0f} ms (ratio {latency['ratio']:.3f}); merged vs unmerged logits differ by "
                  f"{latency['max_abs_logit_difference_merged_vs_unmerged']:.1e}.", ""]
    lines += [f"LoRA training step, alternating in one process: scratch {pair['lora_scratch_step_s']:.3f} s, peft "
              f"{pair['lora_peft_step_s']:.3f} s (ratio {pair['ratio']:.3f}).", ""]
    lines += [f"- {'met' if t['met'] else 'NOT met'}: {goal} (measured {t['value']:.3f})" for goal, t in targets.items()]
    (args.out / "t5_peft_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out / 't5_peft_cost.json'} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
