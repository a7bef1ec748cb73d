"""The preflight's memory estimate against peaks measured on this CPU, on the real t5-small architecture.

    PYTHONPATH=. python benchmarks/preflight_accuracy.py [--batch 8] [--length 256]

For full fine-tuning and LoRA (r = 8 on q and v, peft) of t5-small (random weights built from its
real configuration, nothing downloaded), the estimate of :mod:`hwutils.core.preflight` (float32, as a
CPU computes) is compared with the peak resident memory of a fresh process that builds the model and
takes three AdamW steps on a batch of ``--batch`` x ``--length`` tokens, above the process's memory
before the model is built.

Two measurements are given. The *tensor* peak runs with glibc told to give freed memory back at once
(``MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0``), so the resident set follows the live
tensors: the CPU's analogue of ``torch.cuda.max_memory_allocated``, which is what the estimate models
and what a GPU run reports. The *default* peak keeps glibc's defaults, under which freed memory stays
in the process and fragments: that difference is the allocator's, not the tensors'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TENSOR_PEAK_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
METHODS = ("full_fine_tuning", "lora")


def t5_small(method: str, device: str):
    import torch
    from transformers import AutoConfig, T5ForConditionalGeneration

    from hwutils.core.profiles import resolve_fixture

    config = AutoConfig.from_pretrained(resolve_fixture("fixture:t5_small_config"))
    with torch.device(device):
        model = T5ForConditionalGeneration(config)
    model.tie_weights()
    if method == "lora":
        import peft

        model = peft.get_peft_model(model, peft.LoraConfig(task_type="SEQ_2_SEQ_LM", r=8, lora_alpha=16,
                                                          target_modules=["q", "v"]))
    return model


def batch(size: int, length: int, device: str):
    import torch

    with torch.device(device):
        return {"input_ids": torch.zeros(size, length, dtype=torch.long),
                "attention_mask": torch.ones(size, length, dtype=torch.long),
                "labels": torch.zeros(size, 2, dtype=torch.long)}  # two target tokens, as notebook 01's label words


def estimated_mib(method: str, size: int, length: int) -> float:
    from hwutils.core.preflight import GIB, GPU, Workload, estimate

    cpu = GPU("cpu", "this CPU", 64 * 1024, (0, 0), 0.5, 0.5)
    workload = Workload(method, lambda: t5_small(method, "meta"), lambda: batch(size, length, "meta"))
    return estimate(workload, cpu).total / GIB * 1024


def measure_in_this_process(method: str, size: int, length: int) -> float:
    """Peak resident MiB above the baseline, over three AdamW steps (run in a fresh process)."""
    import peft  # noqa: F401  (imported before the baseline: library code is not the model's memory)
    import torch

    from hwutils.core.training import peak_memory_mb, reset_peak_memory

    torch.manual_seed(0)
    inputs = batch(size, length, "cpu")
    inputs["input_ids"] = torch.randint(0, 32000, (size, length))
    inputs["labels"] = torch.randint(0, 32000, (size, 2))
    reset_peak_memory("cpu")
    baseline = peak_memory_mb("cpu")[0]
    model = t5_small(method, "cpu")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for _ in range(3):  # from the second step on, AdamW's moments exist
        loss = model(**inputs).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return peak_memory_mb("cpu")[0] - baseline


def measured_mib(method: str, size: int, length: int, tensor_peak: bool) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(TENSOR_PEAK_ENV if tensor_peak else {})}
    done = subprocess.run([sys.executable, __file__, "--measure", method, "--batch", str(size), "--length", str(length)],
                          capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def compare(size: int = 8, length: int = 256) -> list[dict[str, float | str]]:
    rows = []
    for method in METHODS:
        predicted = estimated_mib(method, size, length)
        tensors = measured_mib(method, size, length, tensor_peak=True)
        default = measured_mib(method, size, length, tensor_peak=False)
        rows.append({"method": method, "estimated (MiB)": predicted, "measured, tensor peak (MiB)": tensors,
                     "error": predicted / tensors - 1, "measured, default allocator (MiB)": default})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--measure", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(measure_in_this_process(args.measure, args.batch, args.length))
        return
    from hwutils.core.display import markdown_table

    rows = compare(args.batch, args.length)
    print(markdown_table(rows, digits=4))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
