"""One frozen base model, many tasks: LoRA adapters or task heads side by side, switching, merging, costs.

Two ways to serve several tasks from one frozen RoBERTa are compared in notebook 02:

* **one LoRA adapter per task**: low-rank updates inside the attention layers, plus the task's head;
* **one head per task on a frozen base**: the body is a fixed feature extractor, only a head is
  trained per task (:func:`swap_head` puts a task's head on the shared body).

peft keeps every adapter of a ``PeftModel`` under its own name and runs the active one
(``set_adapter``); the frozen base weights are shared and never written. For a classifier, each
adapter also carries its own copy of the classification head (peft's ``modules_to_save``).

:func:`load_task_adapter` loads a saved adapter under a task name, also when its head has a
different number of classes than the base model's (peft 0.21's ``load_adapter`` copies the base's
head for every adapter and then fails with a size mismatch, e.g. 2-class sentiment next to 3-class
NLI). :func:`switching_rows` serves each task from the shared base and compares it with the
task's own model; :func:`base_weights_checksum` proves the base was left untouched;
:func:`latency_rows` and the byte counts measure what serving several tasks costs.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hwutils.core import metrics, models

ADAPTER_MARKERS = ("lora_", "modules_to_save", "prompt_encoder")  # names of tensors that belong to adapters


def base_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The base model's tensors under their original names, whether or not ``model`` is wrapped by peft
    (``base_layer.`` and ``original_module.`` are peft's wrappers around the untouched originals)."""
    state = {}
    for name, tensor in model.state_dict().items():
        if any(marker in name for marker in ADAPTER_MARKERS):
            continue
        for wrapper in ("base_model.model.", "base_layer.", "original_module."):
            name = name.replace(wrapper, "")
        state[name] = tensor
    return state


def base_weights_checksum(model: nn.Module) -> str:
    """SHA-256 of every base tensor (names, shapes and bytes, in name order): equal checksums mean
    bit-identical base weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(base_state(model).items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_task_adapter(model: nn.Module, folder: str | Path, task: str) -> nn.Module:
    """Load the adapter saved in ``folder`` (``save_pretrained``) into ``model`` under the name ``task``,
    frozen, for inference; returns the ``PeftModel`` (``model`` itself is wrapped on the first call).

    Heads saved with the adapter (``modules_to_save``) may have another shape than the base's head:
    the task's copy of the head is resized to the saved weights before they are loaded.
    """
    from peft import MODEL_TYPE_TO_PEFT_MODEL_MAPPING, PeftConfig, PeftModel
    from peft.utils import load_peft_weights, set_peft_model_state_dict

    config = PeftConfig.from_pretrained(str(folder))
    config.inference_mode = True
    if isinstance(model, PeftModel):
        model.add_adapter(task, config)
    else:
        peft_class = MODEL_TYPE_TO_PEFT_MODEL_MAPPING.get(config.task_type, PeftModel)  # as PeftModel.from_pretrained
        model = peft_class(model, config, adapter_name=task)
    weights = load_peft_weights(str(folder), device="cpu")
    _resize_task_heads(model, weights, task)
    result = set_peft_model_state_dict(model, weights, adapter_name=task)
    unexpected = [k for k in result.unexpected_keys if task in k or "lora_" in k]
    if unexpected:
        raise RuntimeError(f"adapter {folder} has weights the model cannot take: {unexpected[:3]}")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()


def _resize_task_heads(model: nn.Module, weights: Mapping[str, torch.Tensor], task: str) -> None:
    """Give the task's copy of each saved head module the shapes of the saved tensors."""
    parameters = dict(model.named_parameters())
    for key, saved in weights.items():
        # saved "...classifier.out_proj.weight" lives at "...classifier.modules_to_save.<task>.out_proj.weight"
        for name, current in parameters.items():
            if f"modules_to_save.{task}." in name and name.replace(f"modules_to_save.{task}.", "") == key:
                if current.shape != saved.shape:
                    owner_name, _, attribute = name.rpartition(".")
                    owner = model.get_submodule(owner_name)
                    setattr(owner, attribute, nn.Parameter(torch.empty_like(saved, device=current.device),
                                                           requires_grad=False))
                    if isinstance(owner, nn.Linear):
                        owner.out_features, owner.in_features = owner.weight.shape
                break


def switching_rows(model: nn.Module, tasks: Mapping[str, tuple[Any, np.ndarray]], order: Sequence[str],
                   logits_of: Callable[[nn.Module, Any], np.ndarray],
                   activate: Callable[[nn.Module, str], None] | None = None) -> list[dict[str, Any]]:
    """Activate each task on the shared ``model`` in ``order`` and score it on the task's data;
    ``tasks`` maps a task to ``(labelled data, logits of the task's own model on it)``. ``activate``
    switches the task in (default: peft's ``set_adapter``; :func:`swap_head` for task heads)."""
    rows = []
    for task in order:
        (activate or (lambda m, t: m.set_adapter(t)))(model, task)
        data, own = tasks[task]
        logits, labels = logits_of(model, data), np.asarray(data["label"])
        rows.append({"active": task, "classes": logits.shape[1],
                     "accuracy_shared_base": metrics.accuracy(labels, logits.argmax(-1)),
                     "accuracy_own_model": metrics.accuracy(labels, own.argmax(-1)),
                     "same_predictions": float(np.mean(logits.argmax(-1) == own.argmax(-1))),
                     "max_abs_logit_difference": float(np.abs(logits - own).max())})
    return rows


def swap_head(model: nn.Module, head: nn.Module) -> nn.Module:
    """Put ``head`` (a trained ``RobertaClassificationHead``) on ``model``'s shared body, in place;
    the body's weights are not touched."""
    model.classifier = head
    model.num_labels = model.config.num_labels = head.out_proj.out_features
    return model


def save_head(head: nn.Module, path: str | Path) -> int:
    """Save a task head's weights as safetensors at ``path``; returns the file's bytes."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: tensor.detach().cpu().contiguous() for name, tensor in head.state_dict().items()}, str(path))
    return path.stat().st_size


def load_head(path: str | Path, like: nn.Module) -> nn.Module:
    """A head saved by :func:`save_head`, in a module shaped like ``like`` (resized to the saved
    class count), on ``like``'s device, frozen and in eval mode."""
    import copy

    from safetensors.torch import load_file

    weights = load_file(str(path))
    head = copy.deepcopy(like)
    classes, hidden = weights["out_proj.weight"].shape
    head.out_proj = nn.Linear(hidden, classes, device=next(like.parameters()).device)
    head.load_state_dict(weights)
    return head.requires_grad_(False).eval()


def changed_tensors(model: nn.Module, reference: nn.Module) -> list[str]:
    """Names of the base tensors of ``model`` that differ from those of ``reference`` (e.g. after merging)."""
    ours, theirs = base_state(model), base_state(reference)
    return [name for name in sorted(ours) if name in theirs and not torch.equal(ours[name].cpu(), theirs[name].cpu())]


def folder_bytes(folder: str | Path) -> int:
    """Bytes on disk of the weight files in ``folder`` (``*.safetensors``/``*.bin``)."""
    folder = Path(folder)
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of all of ``model``'s tensors: the size of a full checkpoint of it (safetensors adds a
    small header)."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


@torch.no_grad()
def latency(model: nn.Module, batches: Sequence[Mapping[str, torch.Tensor]], repeats: int = 3) -> dict[str, Any]:
    """Median wall time per batch over ``repeats`` passes through ``batches`` (after one warm-up pass)."""
    device = next(model.parameters()).device
    model.eval()
    batches = [{k: v.to(device) for k, v in b.items() if k != "labels"} for b in batches]
    times = []
    for repeat in range(repeats + 1):
        for batch in batches:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(**batch)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if repeat:  # the first pass warms caches and kernels up
                times.append(time.perf_counter() - start)
    examples = sum(len(b["input_ids"]) for b in batches) / len(batches)
    median = statistics.median(times)
    return {"ms_per_batch": 1000 * median, "examples_per_s": examples / median, "timed_batches": len(times)}


def latency_rows(named_models: Mapping[str, nn.Module], batches: Sequence[Mapping[str, torch.Tensor]],
                 repeats: int = 3) -> list[dict[str, Any]]:
    """:func:`latency` of each model on the same ``batches``, relative to the first model's."""
    rows = []
    for name, model in named_models.items():
        timing = latency(model, batches, repeats=repeats)
        rows.append({"model": name, "parameters": models.count_parameters(model).total,
                     "ms_per_batch": timing["ms_per_batch"], "examples_per_s": timing["examples_per_s"]})
    for row in rows:
        row["vs_first"] = row["ms_per_batch"] / rows[0]["ms_per_batch"] - 1
    return rows
