"""Merging a QLoRA adapter back into the model: the naive way and the right way, measured.

A LoRA adapter can be folded into its layer, ``W' = W + (alpha / r) B A``, so the model runs
without the adapter's extra products. A QLoRA adapter was trained against the *dequantised* 4-bit
weights ``dequant(NF4(W))``:

* :func:`merge_into_4bit` (naive, peft's ``merge_and_unload`` on the 4-bit model) dequantises,
  adds the update and **re-quantises** the sum to NF4, which rounds much of the update away;
* :func:`merge_streamed` (right) reads the base checkpoint one shard at a time on the CPU, brings
  each quantised weight to exactly what the adapter was trained against (``dequant(NF4(W))``),
  adds the update in fp32 and saves the shard: no model is ever in memory, so it runs beside a
  16 GB GPU. :func:`dequantized_base` + peft's ``merge_and_unload`` is the same merge in memory
  (the tests compare the two bit for bit).

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


def checkpoint_folder(source: str | Path) -> Path:
    """The folder holding ``source``'s ``config.json`` and ``*.safetensors``: a local path as it is,
    a Hub id from the local cache (already there once the model has been loaded)."""
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(source), allow_patterns=["*.json", "*.safetensors"]))


def lora_updates(adapter_dir: str | Path) -> dict[str, torch.Tensor]:
    """``{checkpoint weight name: delta W}`` of a saved LoRA adapter, computed as peft computes it
    (``(B @ A) * alpha / r``, fp32)."""
    import json

    from safetensors.torch import load_file

    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    scaling = config["lora_alpha"] / (config["r"] ** 0.5 if config.get("use_rslora") else config["r"])
    weights = load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))
    updates = {}
    for key, a in weights.items():
        if key.endswith(".lora_A.weight"):
            module = key.removesuffix(".lora_A.weight").removeprefix("base_model.model.")
            b = weights[key.replace(".lora_A.", ".lora_B.")]
            updates[f"{module}.weight"] = (b.float() @ a.float()) * scaling
    return updates


def nf4_round_trip(weight: torch.Tensor, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    """``dequant(NF4(W))`` as the 4-bit load computed it: ``W`` cast to ``dtype``, quantised on
    ``device`` with 64-weight blocks and double-quantised scales (bitsandbytes' defaults), dequantised."""
    import bitsandbytes as bnb

    quantized, state = bnb.functional.quantize_4bit(weight.to(device=device, dtype=dtype), blocksize=64,
                                                   compress_statistics=True, quant_type="nf4")
    return bnb.functional.dequantize_4bit(quantized, state).cpu()


def merge_streamed(source: str | Path, adapter_dir: str | Path, save_dir: str | Path, device: torch.device | str,
                   dtype: torch.dtype, quantized: bool) -> dict[str, float]:
    """The right merge, one checkpoint shard at a time on the CPU: each decoder-layer weight is
    brought to what the adapter was trained against (``dequant(NF4(W))`` when the training model
    was ``quantized``, else ``W`` in ``dtype``), its LoRA update is added in fp32, and the shard is
    saved in ``dtype``. Memory holds one shard, never a model. Returns the largest shard's bytes."""
    import json
    import shutil

    from safetensors import safe_open
    from safetensors.torch import save_file

    source, save_dir = checkpoint_folder(source), Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    updates, largest = lora_updates(adapter_dir), 0
    for shard in sorted(source.glob("*.safetensors")):
        merged = {}
        with safe_open(str(shard), framework="pt") as tensors:
            for name in tensors.keys():
                weight = tensors.get_tensor(name)
                if quantized and name.startswith("model.layers.") and weight.dim() == 2:  # the linear layers NF4 stores
                    weight = nf4_round_trip(weight, device, dtype)
                if name in updates:
                    weight = weight.float() + updates.pop(name)
                merged[name] = weight.to(dtype) if weight.is_floating_point() else weight
        largest = max(largest, sum(t.numel() * t.element_size() for t in merged.values()))
        save_file(merged, str(save_dir / shard.name), metadata={"format": "pt"})
        del merged
    if updates:
        raise ValueError(f"{len(updates)} LoRA updates found no weight in {source}, e.g. {next(iter(updates))}")
    for extra in source.glob("*.json"):
        shutil.copy(extra, save_dir / extra.name)
    config = json.loads((save_dir / "config.json").read_text())
    config["torch_dtype"] = str(dtype).removeprefix("torch.")
    (save_dir / "config.json").write_text(json.dumps(config, indent=2))
    return {"largest_shard_bytes": float(largest)}


def merged_in_4bit(setting: str, folder: str | Path, device: torch.device | str) -> bool:
    """Whether to evaluate the merged model of ``folder`` re-quantised to NF4: ``setting`` "nf4"
    always; "auto" on a GPU whose free memory cannot hold the merged 16-bit weights with a fifth to
    spare (a T4 with Llama-3-8B); "full" never (the CPU, or a large GPU)."""
    if setting not in ("auto", "nf4", "full"):
        raise ValueError(f"merged_precision must be 'auto', 'nf4' or 'full', not {setting!r}")
    if setting != "auto" or torch.device(device).type != "cuda":
        return setting == "nf4"
    weights = sum(f.stat().st_size for f in Path(folder).glob("*.safetensors"))
    return torch.cuda.mem_get_info(torch.device(device))[0] < 1.2 * weights


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
