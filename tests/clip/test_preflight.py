"""hwutils.clip.preflight: notebook 05's GPU work at full-profile size (open_clip ConvNeXt-Base and -XXLarge) on the meta device."""

from __future__ import annotations

import pytest

from hwutils.clip import preflight
from hwutils.core import preflight as core_preflight

# builds both open_clip models on the meta device (seconds): out of make test-fast
pytestmark = pytest.mark.slow

NAME = "05_clip_dogs"


def test_encoding_both_models_and_coop_on_the_real_architectures(full, workloads):
    assert list(workloads) == ["encode_images_base", "coop_context", "encode_images_xxlarge"]
    base, large = (workloads[name].build() for name in ("encode_images_base", "encode_images_xxlarge"))
    assert all(p.device.type == "meta" for p in large.parameters())
    assert sum(p.numel() for p in large.parameters()) > 5 * sum(p.numel() for p in base.parameters())
    coop = workloads["coop_context"].build()
    assert [n for n, p in coop.named_parameters() if p.requires_grad] == ["context"]
    assert coop.context.shape == (full.prompt_tokens, 512)  # convnext_base's text width (its token embeddings)
    assert workloads["encode_images_base"].forward_passes == -(-(12_000 + 8_580) // full.eval_batch_size)


def test_every_workload_fits_a_t4(workloads):
    t4 = core_preflight.GPUS["t4"]
    estimates = {name: core_preflight.estimate(workload, t4) for name, workload in workloads.items()}
    assert all(e.fits for e in estimates.values()), estimates
    assert estimates["encode_images_xxlarge"].precision == "float16" and estimates["coop_context"].precision == "float32"
