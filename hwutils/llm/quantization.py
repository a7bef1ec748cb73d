"""4-bit NF4 loading for QLoRA (bitsandbytes), and merging a LoRA adapter back into the model.

* :func:`load_quantized` loads any ``Auto*`` model in 4-bit NF4 (``BitsAndBytesConfig``, double
  quantisation, a bf16 compute dtype where the device supports it). When 4-bit cannot run here it
  says why and loads the model unquantised, so the notebook continues.
* On CPUs with AVX512-BF16, bitsandbytes rewrites a ``Linear4bit``'s weights into an inference
  layout (computed in bf16) at the first no-grad forward; after that some LoRA tensors stop
  receiving gradients, and evaluation rounds to bf16. :func:`keep_cpu_4bit_layout` switches that
  off on every 4-bit layer (it does nothing on a GPU).
* Merging: a QLoRA adapter was trained against the *dequantised* 4-bit weights. Merging it into a
  bf16/fp32 copy of exactly those weights (:func:`dequantized_base`) reproduces the adapter model;
  merging it into the 4-bit weights themselves (peft's ``merge_and_unload`` on the 4-bit model)
  re-quantises ``W + BA`` and rounds much of the update away (:func:`merge_error` measures how much).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

# bitsandbytes logs, at import on AVX512-BF16 CPUs, that an optional Hub kernel ("kernels-community")
# is not installed; its built-in CPU kernels are used instead. Silence it before anything imports it.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

from hwutils.core.errors import ConfigError  # noqa: E402  (imports after the logger is silenced)
from hwutils.core.models import from_pretrained  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str, device: torch.device | str) -> torch.dtype:
    """``"auto"``: bf16 on a GPU that supports it, fp16 on an older GPU, fp32 on a CPU (where
    bitsandbytes' bf16 path is the AVX512-BF16 inference layout, and fp32 is exact enough to check
    a merge to 1e-6); or an explicit ``"float32"``, ``"bfloat16"``, ``"float16"``."""
    device = torch.device(device)
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; valid dtypes: auto, {', '.join(DTYPES)}")
    return DTYPES[name]


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


def dequantized_base(model_class: Any, source: str, device: torch.device | str, dtype: torch.dtype,
                     quantize: bool = True, **kwargs: Any) -> Any:
    """The base model with exactly the weights the QLoRA adapter was trained against: loaded as
    for training (4-bit NF4 when ``quantize`` and the device allows it), then dequantised to
    ``dtype`` (bf16 on a GPU, fp32 on a CPU). An unquantised load is returned as it is."""
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
