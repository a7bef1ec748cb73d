"""hwutils.llm.preflight: notebook 03's full profile (Llama-3-8B in NF4) on the meta device, against a T4."""

from __future__ import annotations

import pytest

from hwutils.core import preflight as core_preflight
from hwutils.core.profiles import Settings, profile_table
from hwutils.llm import preflight
from hwutils.llm.architecture import LLAMA_3_8B, llama_lora_parameters

NAME = "03_llama_mnli"
T4 = core_preflight.GPUS["t4"]


def test_nf4_weights_cost_about_half_a_byte_and_the_unquantised_layers_their_precision():
    inference, training = preflight.stored_bytes_per_parameter(2.0), preflight.stored_bytes_per_parameter(4.0)
    assert 0.53 < inference < training < 1.2  # embeddings and the output layer (13% of the weights) stay unquantised


@pytest.mark.slow
def test_every_workload_of_the_full_profile_fits_a_t4_and_trains_only_lora(full):
    workloads = {w.name: w for w in preflight.workloads(full)}
    sft = workloads["qlora_sft"]
    trainable = sum(p.numel() for p in sft.build().parameters() if p.requires_grad)
    assert trainable == llama_lora_parameters(LLAMA_3_8B, full.lora_r, full.lora_targets)
    assert sft.optimizer == "paged_adamw_8bit" and sft.gradient_checkpointing
    estimates = core_preflight.estimate_all(list(workloads.values()), [T4])
    assert all(e.fits for e in estimates), [(e.workload, e.total / core_preflight.GIB) for e in estimates]


@pytest.mark.slow
def test_without_its_memory_savings_qlora_sft_would_not_fit_a_t4():
    values = {**profile_table(NAME)["full"], "per_device_batch_size": 16, "gradient_checkpointing": False,
              "optim": "adamw_torch", "full_tokens_per_example": 380}
    sft = next(w for w in preflight.workloads(Settings(NAME, "full", values)) if w.name == "qlora_sft")
    assert not core_preflight.estimate(sft, T4).fits
