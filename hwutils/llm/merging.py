"""Merging a QLoRA adapter back into the model: the naive way and the right way, measured.

A LoRA adapter can be folded into its layer, ``W' = W + (alpha / r) B A``, so the model runs
without the adapter's extra products. A QLoRA adapter was trained against the *dequantised* 4-bit
weights ``dequant(NF4(W))``:

* :func:`merge_into_4bit` (naive, peft's ``merge_and_unload`` on the 4-bit model) dequantises,
  adds the update and **re-quantises** the sum to NF4, which rounds much of the update away;
* :func:`merge_into_copy` (right) loads the base exactly as for training, dequantises it to the
  run's precision (:func:`dequantized_base`), merges there and saves the merged model.

:func:`intended_merge` records, before merging, the weights a merge should produce;
:func:`merge_error` measures how far a merged model is from them; :func:`merge_row` compares a
merged model's label scores and predictions with the adapter model's.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwutils.core import metrics
from hwutils.llm.quantization import keep_cpu_4bit_layout, load_quantized


def dequantized_base(model_class: Any, source: str, device: torch.device | str, dtype: torch.dtype,
                     quantize: bool = True, **kwargs: Any) -> Any:
    """The base model with exactly the weights the QLoRA adapter was trained against: loaded as
    for training (4-bit NF4 when ``quantize`` and the device allows it), then dequantised to
    ``dtype`` (the run's precision). An unquantised load is returned as it is."""
    loaded = load_quantized(model_class, source, device, dtype, quantize=quantize, **kwargs)
    return loaded.model.dequantize() if loaded.quantized else loaded.model


def intended_merge(peft_model: torch.nn.Module, suffix: str = "q_proj") -> dict[str, tuple[torch.Tensor, float]]:
    """For each LoRA layer whose name ends in ``suffix``: the weight a merge should produce,
    ``dequant(W) + delta W`` (fp32, on the CPU), and the norm of ``delta W``. Call before merging."""
    intended = {}
    for name, module in peft_model.named_modules():
        if name.endswith(suffix) and hasattr(module, "get_delta_weight"):
            delta = module.get_delta_weight(module.active_adapters[0]).float()
            intended[name.replace("base_model.model.", "", 1)] = ((dense_weight(module) + delta).cpu(), delta.norm().item())
    return intended


def merge_error(merged_model: torch.nn.Module, intended: dict[str, tuple[torch.Tensor, float]]) -> float:
    """Mean over layers of ``||merged W - intended W|| / ||delta W||``: 0 for an exact merge, about 1
    when the merge loses as much as the whole update."""
    ratios = [(dense_weight(module).cpu() - intended[name][0]).norm().item() / intended[name][1]
              for name, module in merged_model.named_modules() if name in intended]
    return float(sum(ratios) / len(ratios))


def dense_weight(module: torch.nn.Module) -> torch.Tensor:
    """A linear layer's weight as a float32 matrix, dequantising 4-bit weights (LoRA ignored)."""
    base = module.get_base_layer() if hasattr(module, "get_base_layer") else module
    weight = base.weight
    if weight.__class__.__name__ == "Params4bit":
        import bitsandbytes as bnb

        return bnb.functional.dequantize_4bit(weight.data, weight.quant_state).float()
    return weight.detach().float()


def merge_into_4bit(peft_model: Any) -> tuple[Any, list[str]]:
    """The naive merge: peft's ``merge_and_unload`` on the 4-bit model, in place. Returns the merged
    model and the distinct warnings peft gave about merging into 4-bit weights."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merged = peft_model.merge_and_unload()
    keep_cpu_4bit_layout(merged)
    return merged, sorted({str(w.message) for w in caught if "4-bit" in str(w.message)})


def merge_into_copy(model_class: Any, source: str, adapter_dir: str | Path, save_dir: str | Path,
                    device: torch.device | str, dtype: torch.dtype, quantize: bool,
                    intended: dict[str, tuple[torch.Tensor, float]]) -> float:
    """The right merge: the base loaded as for training and dequantised to ``dtype``, the adapter
    of ``adapter_dir`` added and merged there, the result saved to ``save_dir`` (reload it like any
    checkpoint). Returns its :func:`merge_error` against ``intended``."""
    from peft import PeftModel

    base = dequantized_base(model_class, source, device, dtype, quantize=quantize)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    error = merge_error(merged, intended)
    merged.save_pretrained(save_dir)
    del base, merged
    free_memory()
    return error


def merge_row(name: str, scores: np.ndarray, reference_scores: np.ndarray, y_true: Sequence[int],
              weight_error: float) -> dict[str, Any]:
    """How a merged model compares with the adapter model (``reference_scores``) on the same prompts."""
    predicted, reference = scores.argmax(axis=1), reference_scores.argmax(axis=1)
    return {"model": name, "max abs Δ label score": float(np.abs(scores - reference_scores).max()),
            "same prediction as adapter": float(np.mean(predicted == reference)),
            "q_proj weight error ÷ norm of ΔW": weight_error,
            **metrics.classification_summary(y_true, predicted, range(scores.shape[1]))}


def free_memory() -> None:
    """Give memory back after ``del``-ing a model: collect cycles, empty CUDA's cache."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
