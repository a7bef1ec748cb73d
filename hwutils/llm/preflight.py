"""Notebook 03 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

Llama-3-8B is built on the meta device from its published configuration
(:data:`hwutils.llm.architecture.LLAMA_3_8B`). Its linear layers are stored in NF4 (about 0.53
bytes a weight with double-quantised block scales); embeddings, norms and the output layer stay in
16 bits for inference, and ``prepare_model_for_kbit_training`` casts them to float32 for training
(so a QLoRA run holds them at 4 bytes). Prompt lengths are assumptions of
``full_tokens_per_example`` tokens per question (the zero-shot prompt); a k-shot prompt is k + 1
questions. The merge streams the checkpoint one shard at a time on the CPU (nothing on the GPU);
on a T4 the merged model is then evaluated re-quantised to NF4, the same size as the inference
workload (on larger GPUs in 16 bits, when the device's free memory holds it).
"""

from __future__ import annotations

import torch

from hwutils.core.preflight import Workload
from hwutils.core.profiles import Settings
from hwutils.llm.architecture import LLAMA_3_8B, llama_config, llama_parameters
from hwutils.llm.quantization import nf4_weight_bytes


def _llama(model_class_name: str = "AutoModelForCausalLM"):
    import transformers

    from hwutils.core.models import on_meta_device

    config = llama_config()
    config.num_labels, config.pad_token_id = 3, config.eos_token_id  # read by the classification head only
    return on_meta_device(getattr(transformers, model_class_name), config)


def stored_bytes_per_parameter(other_bytes: float) -> float:
    """Mean bytes a Llama-3-8B parameter takes with its linear layers in NF4 and the rest at ``other_bytes``."""
    model = _llama()
    return nf4_weight_bytes(model, other_bytes=other_bytes)["nf4_bytes"] / sum(p.numel() for p in model.parameters())


def _with_lora(settings: Settings, model, task_type: str):
    from hwutils.llm.qlora import add_lora, lora_config

    return add_lora(model, lora_config(settings, task_type=task_type), seed=0, prepare_4bit=False)


def _tokens(batch_size: int, length: int, **extra) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        ids = torch.zeros(batch_size, length, dtype=torch.long)
        return {"input_ids": ids, **{k: (v(ids) if callable(v) else v) for k, v in extra.items()}}


def workloads(settings: Settings) -> list[Workload]:
    """Inference on the 4-bit model (the prompts' scoring and generation at the longest prompt, and the
    merged models' scoring, which is the same model in NF4 on a T4), QLoRA SFT, and the QLoRA head."""
    per_question = settings.full_tokens_per_example
    longest_prompt = per_question * (max(settings.prompt_shots, default=0) + 1)
    train_length = min(settings.max_length, per_question + 4)  # batches pad to their longest example, not to max_length
    inference = stored_bytes_per_parameter(2.0)
    training = stored_bytes_per_parameter(4.0)  # prepare_model_for_kbit_training casts the unquantised layers to float32
    prompts = len(settings.prompt_styles) * len(settings.prompt_shots)
    scoring_batches = -(-settings.test_examples // settings.eval_batch_size)
    icl_batch = max(settings.eval_batch_size, settings.generation_batch_size)
    trainer = dict(frozen_bytes_per_parameter=training, optimizer=settings.optim,
                   gradient_checkpointing=settings.gradient_checkpointing, layers=LLAMA_3_8B["num_hidden_layers"],
                   remedy="per_device_batch_size=1 (batch_size kept by gradient accumulation)")
    return [
        Workload("icl, merged model (inference in NF4)", _llama, lambda: _tokens(icl_batch, longest_prompt, logits_to_keep=4),
                 loss=lambda model, batch: model(**batch).logits.float().mean(), training=False,
                 frozen_bytes_per_parameter=inference, forward_passes=(2 * prompts + 2) * -(-settings.test_examples // icl_batch),  # scoring + generation; the merge's two
                 remedy="eval_batch_size=4, generation_batch_size=4"),
        Workload("qlora_sft", lambda: _with_lora(settings, _llama(), "CAUSAL_LM"),
                 lambda: _tokens(settings.per_device_batch_size, train_length, labels=lambda ids: ids),
                 steps=settings.qlora_sft_epochs * settings.train_examples // settings.batch_size, **trainer),
        Workload("head (QLoRA + classification head)",
                 lambda: _with_lora(settings, _llama("AutoModelForSequenceClassification"), "SEQ_CLS"),
                 lambda: _tokens(settings.per_device_batch_size, train_length, labels=torch.zeros(
                     settings.per_device_batch_size, dtype=torch.long, device="meta")),
                 steps=settings.head_epochs * settings.train_examples // settings.batch_size, **trainer),
    ]


def disk(settings: Settings) -> dict[str, float]:
    """The bf16 checkpoint download, and the outputs: adapters, Trainer checkpoints, the merged
    model (written in the checkpoint's 16 bits, removed after its evaluation unless kept)."""
    parameters = llama_parameters(LLAMA_3_8B)
    return {"model download": parameters * 2, "dataset download": 0.23e9, "merged model (temporary)": parameters * 2,
            "checkpoints and adapters": 0.5e9}
