"""Soft prompt tuning from scratch (Lester et al., 2021): trainable virtual tokens in front of the input.

The frozen model's encoder normally reads the embeddings of the input tokens. Prompt tuning
prepends ``n`` extra vectors, the only trainable parameters, and extends the attention mask so
that every real token can attend to them. They start as the embeddings of real vocabulary tokens
(the tokens of an initialisation text, repeated or cut to ``n``, as peft's ``TEXT`` init does), or,
for comparison, as random vectors (:func:`add_random_soft_prompt`). Lester et al. (2021) compared
such initialisations and found that they matter for small models and hardly at all at 11B
parameters; notebook 01 measures the difference on its own model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.core.models import freeze
from hwutils.t5_peft.weights import MethodWeights


@dataclass(frozen=True)
class PromptConfig:
    """How many virtual tokens are prepended to the encoder's input."""

    num_virtual_tokens: int = 20

    def __post_init__(self):
        if self.num_virtual_tokens < 1:
            raise ConfigError(f"num_virtual_tokens must be at least 1, got {self.num_virtual_tokens}")


def init_token_ids(tokenizer, text: str, n: int) -> list[int]:
    """The ids of ``text`` (as the tokenizer encodes it, ``</s>`` included), repeated or cut to ``n``."""
    ids = tokenizer(text)["input_ids"]
    if not ids:
        raise ConfigError(f"the prompt initialisation text {text!r} has no tokens")
    return (ids * (n // len(ids) + 1))[:n]


class SoftPromptModel(nn.Module):
    """A frozen encoder-decoder whose encoder input starts with ``n`` trainable embeddings.

    ``forward`` and ``generate`` take the model's usual ``input_ids``/``attention_mask`` (and any
    other keyword, e.g. ``labels`` or ``decoder_input_ids``) and pass ``inputs_embeds`` instead.
    """

    def __init__(self, model: nn.Module, config: PromptConfig, init_ids: Sequence[int]):
        super().__init__()
        if len(init_ids) != config.num_virtual_tokens:
            raise ConfigError(f"{len(init_ids)} initialisation ids for {config.num_virtual_tokens} virtual tokens")
        self.model = freeze(model)
        self.prompt_config = config
        embeddings = model.get_input_embeddings().weight
        ids = torch.as_tensor(list(init_ids), device=embeddings.device)
        self.prompt_embeddings = nn.Parameter(embeddings[ids].detach().clone())  # (n, d_model)
        self.train(model.training)  # keep the wrapped model's mode (from_pretrained returns it in eval mode)

    @property
    def config(self):
        return self.model.config

    def prepend_prompt(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """``(inputs_embeds, attention_mask)`` with the virtual tokens in front of every sequence."""
        embeds = self.model.get_input_embeddings()(input_ids)
        batch = embeds.shape[0]
        prompts = self.prompt_embeddings.to(embeds.dtype).unsqueeze(0).expand(batch, -1, -1)
        if attention_mask is None:
            attention_mask = torch.ones(input_ids.shape, dtype=torch.long, device=input_ids.device)
        prompt_mask = attention_mask.new_ones(batch, self.prompt_config.num_virtual_tokens)
        return torch.cat([prompts, embeds], dim=1), torch.cat([prompt_mask, attention_mask], dim=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        inputs_embeds, attention_mask = self.prepend_prompt(input_ids, attention_mask)
        return self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        inputs_embeds, attention_mask = self.prepend_prompt(input_ids, attention_mask)
        return self.model.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)


def add_soft_prompt(model: nn.Module, config: PromptConfig, init_ids: Sequence[int]) -> SoftPromptModel:
    """Freeze ``model`` and wrap it with ``config.num_virtual_tokens`` virtual tokens initialised from
    the embeddings of ``init_ids`` (see :func:`init_token_ids`)."""
    return SoftPromptModel(model, config, init_ids)


RANDOM_INIT_RANGE = 0.5  # random prompts are drawn uniformly from [-0.5, 0.5]


def add_random_soft_prompt(model: nn.Module, config: PromptConfig) -> SoftPromptModel:
    """Like :func:`add_soft_prompt`, but the virtual tokens start as random vectors drawn uniformly
    from ``[-RANDOM_INIT_RANGE, RANDOM_INIT_RANGE]`` (torch's global generator: seed it first),
    not as the embeddings of any token."""
    wrapped = SoftPromptModel(model, config, init_ids=[0] * config.num_virtual_tokens)
    with torch.no_grad():
        wrapped.prompt_embeddings.uniform_(-RANDOM_INIT_RANGE, RANDOM_INIT_RANGE)
    return wrapped


def count_parameters(model_config, config: PromptConfig) -> int:
    """Trainable parameters of the soft prompt: one ``d_model`` vector per virtual token."""
    return config.num_virtual_tokens * model_config.d_model


def parameter_formula(model_config, config: PromptConfig) -> str:
    return f"n × d_model = {config.num_virtual_tokens} × {model_config.d_model}"


def _wrap_for_loading(model: nn.Module, config: PromptConfig) -> SoftPromptModel:
    return SoftPromptModel(model, config, init_ids=[0] * config.num_virtual_tokens)  # the file's values replace these


# prompts.pt: only the virtual-token embeddings, with the prompt configuration (see hwutils.t5_peft.weights)
WEIGHTS = MethodWeights("soft_prompt", PromptConfig, "prompt_config", _wrap_for_loading,
                        is_own=lambda name: name == "prompt_embeddings")
save, load = WEIGHTS.save, WEIGHTS.load
