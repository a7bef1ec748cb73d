"""4-bit NF4 loading for QLoRA (bitsandbytes), and what it saves in memory.

* :func:`load_quantized` loads any ``Auto*`` model in 4-bit NF4 (``BitsAndBytesConfig``, double
  quantisation, matmuls in the run's precision). When 4-bit cannot run here it says why and loads
  the model unquantised, so the notebook continues.
* On CPUs with AVX512-BF16, bitsandbytes rewrites a ``Linear4bit``'s weights into an inference
  layout (computed in bf16) at the first no-grad forward; after that some LoRA tensors stop
  receiving gradients, and evaluation rounds to bf16. :func:`keep_cpu_4bit_layout` switches that
  off on every 4-bit layer (it does nothing on a GPU).
* :func:`nf4_weight_bytes` and :func:`memory_row`: the weight memory of an architecture in NF4
  against 16-bit, computed on the meta device (no download, no allocation).

Merging an adapter into these weights is :mod:`hwutils.llm.merging`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from hwutils.core.models import from_pretrained
from hwutils.llm.architecture import llama_parameters


@dataclass(frozen=True)
class FourBitSupport:
    """Whether 4-bit NF4 layers run on a device, and why (or why not)."""

    available: bool
    reason: str


@lru_cache(maxsize=None)
def four_bit_support(device: str) -> FourBitSupport:
    """Can bitsandbytes quantise to NF4 and run a 4-bit matmul with gradients on ``device``? Tried
    on a small layer, so the answer is what happens, not what the version numbers promise."""
    try:
        import bitsandbytes as bnb
    except Exception as error:  # not installed, or a binary that does not load
        return FourBitSupport(False, f"bitsandbytes does not import ({type(error).__name__}: {error})")
    try:
        layer = bnb.nn.Linear4bit(64, 64, bias=False, compute_dtype=torch.float32, quant_type="nf4")
        layer = layer.to(device)
        layer.support_avx512bf16_for_cpu = False
        x = torch.randn(2, 64, device=device, requires_grad=True)
        layer(x).sum().backward()
        if x.grad is None or not torch.isfinite(x.grad).all():
            raise RuntimeError("no finite gradient through the 4-bit layer")
    except Exception as error:
        return FourBitSupport(False, f"bitsandbytes {bnb.__version__} cannot run 4-bit layers on {device} "
                                     f"({type(error).__name__}: {error})")
    return FourBitSupport(True, f"bitsandbytes {bnb.__version__} runs 4-bit NF4 layers on {device}")


def nf4_config(compute_dtype: torch.dtype, double_quant: bool = True):
    """The QLoRA recipe: 4-bit NormalFloat weights, double-quantised scales, ``compute_dtype`` matmuls."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=double_quant,
                              bnb_4bit_compute_dtype=compute_dtype)


@dataclass
class LoadedModel:
    """A model, whether it is in 4-bit, and a sentence saying how it was loaded."""

    model: Any
    quantized: bool
    note: str


def load_quantized(model_class: Any, source: str, device: torch.device | str, compute_dtype: torch.dtype,
                   quantize: bool = True, **kwargs: Any) -> LoadedModel:
    """``model_class.from_pretrained(source)`` in 4-bit NF4 on ``device`` when it can run there,
    else unquantised in ``compute_dtype`` (with a note saying why). Other parameters (norms,
    embeddings, a classification head) are kept in ``compute_dtype``."""
    device = torch.device(device)
    support = four_bit_support(str(device))
    if quantize and support.available:  # from_pretrained turns Hub refusals into one AccessError
        model = from_pretrained(model_class, source, quantization_config=nf4_config(compute_dtype),
                                device_map={"": str(device)}, dtype=compute_dtype, **kwargs)
        keep_cpu_4bit_layout(model)
        return LoadedModel(model, True, f"loaded in 4-bit NF4 ({support.reason}), compute dtype {compute_dtype}")
    model = from_pretrained(model_class, source, dtype=compute_dtype, **kwargs).to(device)
    why = "4-bit loading was switched off" if not quantize else f"4-bit NF4 is unavailable: {support.reason}"
    return LoadedModel(model, False, f"{why}; continuing UNQUANTISED in {compute_dtype} (same code, more memory)")


def linear4bit_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Every bitsandbytes ``Linear4bit`` of ``model`` (none if bitsandbytes is missing)."""
    try:
        import bitsandbytes as bnb
    except Exception:
        return []
    return [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]


def keep_cpu_4bit_layout(model: torch.nn.Module) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for AVX512-BF16 CPU inference (DESIGN.md):
    that layout computes in bf16 and, once made, silently cuts some LoRA gradients. Returns the
    number of layers set; harmless on a GPU (the flag is only read for CPU inputs)."""
    layers = linear4bit_layers(model)
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)


def nf4_weight_bytes(model: torch.nn.Module, other_bytes: int = 2, blocksize: int = 64,
                     double_quant: bool = True, skip: tuple[str, ...] = ("lm_head", "score")) -> dict[str, float]:
    """Memory of ``model``'s weights when its linear layers are stored in NF4 (works on the meta device).

    Every ``nn.Linear`` except the output layers in ``skip`` (which transformers keeps unquantised)
    costs 4 bits per weight plus its block scales: one absmax per ``blocksize`` weights, in fp32, or
    with double quantisation in 8 bits plus one fp32 per 256 blocks. Everything else (embeddings,
    norms, output layer) costs ``other_bytes`` per parameter (2 for bf16).
    """
    quantized = sum(m.weight.numel() for n, m in model.named_modules()
                    if isinstance(m, torch.nn.Linear) and n.split(".")[-1] not in skip)
    total = sum(p.numel() for p in model.parameters())
    scale_bits = (8 + 32 / 256) / blocksize if double_quant else 32 / blocksize
    nf4_bytes = quantized * (4 + scale_bits) / 8
    other = total - quantized
    return {"quantized_parameters": quantized, "other_parameters": other,
            "nf4_bytes": nf4_bytes + other * other_bytes, "full_precision_bytes": total * other_bytes}


def memory_row(name: str, meta_model: torch.nn.Module, config: Any, other_bytes: int,
               loaded_bytes: int | None = None) -> dict[str, Any]:
    """One line of the weight-memory table: ``meta_model``'s parameters (analytic, from ``config``),
    how many sit in the linear layers NF4 quantises, its weights in 16 bits and in NF4 (other
    parameters at ``other_bytes`` each), and, when given, what the loaded model really takes."""
    memory = nf4_weight_bytes(meta_model, other_bytes=other_bytes)
    return {"model": name, "parameters": llama_parameters(config), "in quantised linear layers": memory["quantized_parameters"],
            "bf16 weights (GB)": (memory["quantized_parameters"] + memory["other_parameters"]) * 2 / 1e9,
            "NF4 weights (GB)": memory["nf4_bytes"] / 1e9,
            "loaded (GB)": loaded_bytes / 1e9 if loaded_bytes is not None else float("nan")}
