"""Notebook 01 at full-profile size, for the GPU preflight (:mod:`hwutils.core.preflight`).

Every set-up of :func:`hwutils.t5_peft.methods.method_table` (the ten runs and the random-init
prompt) is built as the notebook builds it, on the meta device, on t5-small's architecture (its
``config.json``, kept offline as ``fixture:t5_small_config``): the same libraries wrap the same
layers, so what trains and what autograd saves are the notebook's. A soft prompt's initial values
do not change its memory, so no tokenizer is needed (:meth:`HyperParameters.for_shapes`). One
training step is ``batch_size`` reviews of ``max_length`` tokens and a two-token target (the label
word and ``</s>``), in the precision of the ``precision`` setting.
"""

from __future__ import annotations

import math

import torch

from hwutils.core.preflight import Workload, bytes_of
from hwutils.core.profiles import Settings

IMDB_TEST_REVIEWS = 25_000  # the test split the full profile scores every run on (test_examples = 0)
IMDB_DOWNLOAD_BYTES = 84_000_000  # the Hub's parquet files of `imdb` (train, test, unsupervised), about 84 MB
TARGET_TOKENS = 2  # a label word and </s>
# Built as another set-up with the same shapes: opendelta's soft prompt copies token embeddings into a
# CPU tensor, which a model on the meta device refuses; the from-scratch prompt has the same size.
SHAPE_TWINS = {"prompt_tuning_opendelta": "prompt_tuning_scratch"}


def reference_config(settings: Settings):
    """t5-small's configuration, read offline from the settings' ``reference_config``."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(settings.reference_config)


def evaluation_forward_passes(settings: Settings) -> int:
    """Inference batches of ``batch_size`` reviews a run also computes: the validation accuracy every
    ``eval_every`` steps and the test accuracy at the end."""
    evaluations = settings.max_steps // settings.eval_every + 1
    test = settings.test_examples or IMDB_TEST_REVIEWS
    return math.ceil((evaluations * settings.validation_examples + test) / settings.batch_size)


def workloads(settings: Settings) -> list[Workload]:
    """One workload per set-up of the notebook (full fine-tuning, the nine PEFT runs, the ablation)."""
    from transformers import T5ForConditionalGeneration

    from hwutils.t5_peft import methods, text2text

    config = reference_config(settings)
    table = methods.method_table(settings, None, hyper=methods.HyperParameters.for_shapes(settings))

    def builder(method: methods.Method):
        def build() -> torch.nn.Module:
            with torch.device("meta"):  # the libraries' new layers are created on the meta device too
                return method.build(T5ForConditionalGeneration(config))
        return build

    def batch() -> dict[str, torch.Tensor]:
        shape = (settings.batch_size, settings.max_length)
        return {"input_ids": torch.zeros(shape, dtype=torch.long, device="meta"),
                "attention_mask": torch.ones(shape, dtype=torch.long, device="meta"),
                "labels": torch.zeros((settings.batch_size, TARGET_TOKENS), dtype=torch.long, device="meta")}

    return [Workload(key, builder(table[SHAPE_TWINS.get(key, key)]), batch, loss=text2text.seq2seq_loss,
                     autocast=settings.precision != "float32", steps=settings.max_steps,
                     forward_passes=evaluation_forward_passes(settings),
                     remedy="batch_size=8 (or max_length=128)") for key in table]


def disk(settings: Settings) -> dict[str, float]:
    """Bytes on disk: t5-small's weights and IMDB from the Hub; in ``OUTPUT_DIR`` at the peak, full
    fine-tuning's training checkpoint (the model and AdamW's two moments, float32). A finished run
    keeps only its trained parameters (full fine-tuning: one model; a PEFT run: kilobytes), and a PEFT
    run's checkpoint holds the frozen model once, so later runs stay below that peak."""
    from hwutils.core.models import count_parameters, on_meta_device
    from transformers import T5ForConditionalGeneration

    parameters = count_parameters(on_meta_device(T5ForConditionalGeneration, reference_config(settings))).total
    return {"downloads": bytes_of(parameters, 4) + IMDB_DOWNLOAD_BYTES,
            "outputs": bytes_of(parameters, 4 * 3)}
