"""What the full profile costs on a GPU, computed from the real architecture on the meta device.

PyTorch's ``meta`` device runs a model on shapes alone (nothing is allocated or computed), so the
full-size MoCo (two ResNet-18 encoders and the queue) is measured here on any machine:

* parameters, counted;
* floating-point operations of one training step, counted by ``torch.utils.flop_counter`` (the
  query encoder's forward and backward pass, the key encoder's forward pass);
* the activations the backward pass keeps, summed by a saved-tensors hook.

Turning these into memory and time needs assumptions about the GPU, which are arguments here and
stated next to every estimate in the notebook.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from hwutils.moco.augment import Transform
from hwutils.moco.model import MoCo, MoCoConfig


@dataclass(frozen=True)
class Footprint:
    """Per-model and per-image costs of one MoCo training step."""

    encoder_parameters: int  # one encoder (backbone + projection head)
    backbone_parameters: int
    head_parameters: int
    queue_floats: int  # K x feature_dim keys
    flops_per_image: float  # query forward + backward, key forward
    saved_activation_bytes_per_image: float  # float32; autocast to float16 halves most of it


def measure_footprint(config: MoCoConfig, image_size: int) -> Footprint:
    """The :class:`Footprint` of ``config`` on ``image_size`` x ``image_size`` images (meta device)."""
    batch = max(2, config.bn_splits)  # the smallest batch split batch norm accepts
    saved: dict[int, torch.Tensor] = {}  # by identity: a tensor saved by two operations is stored once

    def keep_size(tensor: torch.Tensor) -> torch.Tensor:
        saved[id(tensor)] = tensor
        return tensor

    with torch.device("meta"):
        moco = MoCo(config)
        images = torch.empty(batch, 3, image_size, image_size)
        sources = torch.arange(batch)
        with FlopCounterMode(display=False) as counter:
            with torch.autograd.graph.saved_tensors_hooks(keep_size, lambda tensor: tensor):
                loss = moco(images, images, sources)
            loss.backward()
    encoder = moco.encoder_q
    backbone = sum(p.numel() for p in encoder.backbone.parameters())
    head = sum(p.numel() for p in encoder.head.parameters())
    return Footprint(encoder_parameters=backbone + head, backbone_parameters=backbone, head_parameters=head,
                     queue_floats=config.queue_size * config.feature_dim,
                     flops_per_image=counter.get_total_flops() / batch,
                     saved_activation_bytes_per_image=sum(t.numel() * t.element_size() for t in saved.values()) / batch)


def memory_estimate_gb(footprint: Footprint, batch_size: int, activation_bytes_factor: float = 0.5,
                       workspace_gb: float = 1.0) -> dict[str, float]:
    """GPU memory of a training step, in GB (10^9 bytes), by part.

    Weights in float32 for both encoders, gradients and SGD's momentum buffer for the query encoder,
    the queue, the saved activations of ``batch_size`` images (``activation_bytes_factor`` = 0.5
    for float16 autocast), and ``workspace_gb`` for the CUDA context and cuDNN workspaces.
    """
    parts = {
        "weights (2 encoders)": 2 * footprint.encoder_parameters * 4,
        "gradients + SGD momentum": 2 * footprint.encoder_parameters * 4,
        "queue": footprint.queue_floats * 4,
        "saved activations": footprint.saved_activation_bytes_per_image * batch_size * activation_bytes_factor,
        "CUDA context and workspaces": workspace_gb * 1e9,
    }
    gb = {name: value / 1e9 for name, value in parts.items()}
    gb["total"] = sum(gb.values())
    return gb


def seconds_per_step(footprint: Footprint, batch_size: int, sustained_flops: float, views_per_second: float) -> float:
    """A step's time: the GPU's (FLOPs / a sustained throughput) or the data loader's (two views per
    image at ``views_per_second``), whichever is slower, as the loader works while the GPU computes."""
    gpu = footprint.flops_per_image * batch_size / sustained_flops
    loader = 2 * batch_size / views_per_second
    return max(gpu, loader)


def views_per_second(transform: Transform, repeats: int = 200, image_size: int = 32, seed: int = 0) -> float:
    """How many views per second ``transform`` makes from ``uint8`` images on one CPU core, measured."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (repeats, 3, image_size, image_size), dtype=torch.uint8, generator=generator)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a DataLoader worker is one process on one core
    try:
        start = time.perf_counter()
        for image in images:
            transform(image)
        return repeats / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
