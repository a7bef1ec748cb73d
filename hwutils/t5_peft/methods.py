"""The training set-ups of notebook 01, written once.

Full fine-tuning, and three parameter-efficient families (soft prompt tuning, bottleneck adapters,
LoRA), each in three implementations: from scratch (this package) and with two libraries: the
assignment's ten runs. One more set-up is an ablation, not an implementation: the from-scratch soft
prompt started from random vectors instead of the embeddings of ``prompt_init_text``
(``prompt_tuning_random_init``), to measure what the text initialisation is worth.
Every set-up is a :class:`Method`: its results key, its family, its implementation, its learning
rate and how it turns a freshly loaded pre-trained T5 into the model to train (which parameters
train). :func:`method_table` builds all eleven from a notebook's settings; notebook 01 trains them,
``benchmarks/t5_peft_cost.py`` times them and :mod:`hwutils.t5_peft.preflight` estimates their GPU
memory, all from the same hyper-parameters in ``hwutils/settings/01_t5_imdb.toml``.

>>> table = method_table(settings, tokenizer)                  # doctest: +SKIP
>>> model = table["lora_peft"].build(pretrained_t5(settings.model, seed))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from hwutils.core.errors import ConfigError
from hwutils.t5_peft import adapters, lora, prompts
from hwutils.t5_peft.weights import MethodWeights

# family -> (what it is called, its learning-rate setting); a method's key is <family>_<implementation>
FAMILIES: dict[str, tuple[str, str]] = {
    "full_ft": ("full fine-tuning", "full_ft_lr"),
    "prompt_tuning": ("soft prompt tuning", "prompt_tuning_lr"),
    "adapter": ("bottleneck adapters", "adapter_lr"),
    "lora": ("LoRA", "lora_lr"),
}
IMPLEMENTATIONS: dict[str, tuple[str, ...]] = {
    "full_ft": ("pytorch",),
    "prompt_tuning": ("scratch", "peft", "opendelta"),
    "adapter": ("scratch", "adapters", "opendelta"),
    "lora": ("scratch", "peft", "opendelta"),
}
# ablations: results key -> (family, implementation, what differs from that implementation)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "prompt_tuning_random_init": ("prompt_tuning", "scratch", "random_init"),
}
# the from-scratch methods' weight files (hwutils.t5_peft.weights), named as the assignment asks for them
SCRATCH_WEIGHTS: dict[str, MethodWeights] = {"prompt_tuning": prompts.WEIGHTS, "adapter": adapters.WEIGHTS,
                                             "lora": lora.WEIGHTS}
WEIGHT_FILES: dict[str, str] = {"prompt_tuning": "prompts.pt", "adapter": "adapter.pt", "lora": "lora.pt"}


@dataclass(frozen=True)
class HyperParameters:
    """Every method's hyper-parameters, read from the settings once."""

    prompt: prompts.PromptConfig
    prompt_init_text: str
    prompt_init_ids: tuple[int, ...]  # the tokens of prompt_init_text, repeated or cut to the prompt's length
    tokenizer_source: str | None  # where peft loads the same tokenizer from; None: shapes only (random values)
    adapter: adapters.AdapterConfig
    lora: lora.LoraConfig

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], tokenizer: Any) -> HyperParameters:
        n = settings["prompt_tokens"]
        return cls(
            prompt=prompts.PromptConfig(n),
            prompt_init_text=settings["prompt_init_text"],
            prompt_init_ids=tuple(prompts.init_token_ids(tokenizer, settings["prompt_init_text"], n)),
            tokenizer_source=tokenizer.name_or_path,
            adapter=adapters.AdapterConfig(settings["adapter_reduction_factor"], settings["adapter_placement"],
                                           settings["adapter_activation"]),
            lora=lora.LoraConfig(settings["lora_r"], settings["lora_alpha"], settings["lora_dropout"],
                                 tuple(settings["lora_targets"])),
        )

    @classmethod
    def for_shapes(cls, settings: Mapping[str, Any]) -> HyperParameters:
        """The same hyper-parameters without a tokenizer (none is downloaded): every prompt starts from
        token 0 (peft's from random values), which changes the values but no shape, size or cost. For
        models built on the meta device (:mod:`hwutils.t5_peft.preflight`)."""
        n = settings["prompt_tokens"]
        return cls(
            prompt=prompts.PromptConfig(n), prompt_init_text=settings["prompt_init_text"], prompt_init_ids=(0,) * n,
            tokenizer_source=None,
            adapter=adapters.AdapterConfig(settings["adapter_reduction_factor"], settings["adapter_placement"],
                                           settings["adapter_activation"]),
            lora=lora.LoraConfig(settings["lora_r"], settings["lora_alpha"], settings["lora_dropout"],
                                 tuple(settings["lora_targets"])),
        )


@dataclass(frozen=True)
class Method:
    """One training set-up: ``build(model)`` freezes what it keeps fixed and adds what it trains."""

    key: str  # the results key, e.g. "lora_peft"
    family: str  # a key of FAMILIES
    implementation: str  # "pytorch", "scratch", "peft", "adapters" or "opendelta"
    lr: float
    hyper: HyperParameters
    variant: str = ""  # "" for the ten runs; an ablation's difference, e.g. "random_init"

    def build(self, model: nn.Module) -> nn.Module:
        """``model`` (a freshly loaded pre-trained T5) set up for this method; may be a wrapper."""
        return BUILDERS[self.family](model, self)

    @property
    def family_name(self) -> str:
        return FAMILIES[self.family][0]

    @property
    def label(self) -> str:
        """How plots and tables name it within its family: the implementation, and the variant if any."""
        return self.implementation + (f" ({self.variant.replace('_', ' ')})" if self.variant else "")

    @property
    def weights(self) -> MethodWeights | None:
        """How the from-scratch methods of the ten runs save and load their weights; ``None`` for the others."""
        return SCRATCH_WEIGHTS.get(self.family) if self.implementation == "scratch" and not self.variant else None

    @property
    def weights_file(self) -> str | None:
        """The file name of :attr:`weights` (the assignment's: ``prompts.pt``, ``adapter.pt``, ``lora.pt``)."""
        return WEIGHT_FILES[self.family] if self.weights is not None else None


# -- the four families: each function applies one family in the implementation asked for --------


def full_fine_tuning(model: nn.Module, method: Method) -> nn.Module:
    """Every parameter stays trainable: the model itself."""
    return model


def soft_prompt(model: nn.Module, method: Method) -> nn.Module:
    """``prompt_tokens`` trainable vectors in front of the frozen encoder's input."""
    hyper, implementation = method.hyper, method.implementation
    n = hyper.prompt.num_virtual_tokens
    if implementation == "scratch" and method.variant == "random_init":
        return prompts.add_random_soft_prompt(model, hyper.prompt)
    if implementation == "scratch":
        return prompts.add_soft_prompt(model, hyper.prompt, hyper.prompt_init_ids)
    if implementation == "peft":
        import peft

        text = {"prompt_tuning_init": peft.PromptTuningInit.TEXT, "prompt_tuning_init_text": hyper.prompt_init_text,
                "tokenizer_name_or_path": hyper.tokenizer_source} if hyper.tokenizer_source else {}
        config = peft.PromptTuningConfig(
            task_type=peft.TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=n,
            num_transformer_submodules=1,  # peft would also allocate (unused) decoder tokens for seq2seq models
            **text)
        return peft.get_peft_model(model, config)
    # token_init=True starts from the embeddings of the first n vocabulary entries (no text initialisation)
    opendelta().SoftPromptModel(backbone_model=model, soft_token_num=n, token_init=True).freeze_module(
        exclude=["deltas"], set_state_dict=False)
    return model


def bottleneck_adapters(model: nn.Module, method: Method) -> nn.Module:
    """A residual bottleneck MLP after every feed-forward block of the frozen model."""
    hyper, implementation = method.hyper, method.implementation
    if implementation == "scratch":
        return adapters.add_adapters(model, hyper.adapter)
    if implementation == "adapters":
        import adapters as adapterhub

        adapterhub.init(model)  # turns the transformers model into one that can hold AdapterHub adapters
        model.add_adapter("sentiment", config=adapterhub.SeqBnConfig(  # SeqBn: AdapterHub's name for Pfeiffer's
            reduction_factor=hyper.adapter.reduction_factor, non_linearity=hyper.adapter.activation))
        model.train_adapter("sentiment")  # freezes the model and leaves only the adapter trainable
        return model
    opendelta().AdapterModel(backbone_model=model, modified_modules=["DenseReluDense"],
                             bottleneck_dim=hyper.adapter.bottleneck(model.config.d_model),
                             non_linearity=hyper.adapter.activation).freeze_module(exclude=["deltas"], set_state_dict=False)
    return model


def low_rank_adaptation(model: nn.Module, method: Method) -> nn.Module:
    """A trainable low-rank update ``B A`` next to every targeted (frozen) linear layer."""
    config = method.hyper.lora
    if method.implementation == "scratch":
        return lora.add_lora(model, config)
    if method.implementation == "peft":
        import peft

        return peft.get_peft_model(model, peft.LoraConfig(
            task_type=peft.TaskType.SEQ_2_SEQ_LM, r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
            target_modules=list(config.target_modules)))
    opendelta().LoraModel(backbone_model=model, modified_modules=list(config.target_modules), lora_r=config.r,
                          lora_alpha=config.alpha, lora_dropout=config.dropout).freeze_module(
        exclude=["deltas"], set_state_dict=False)
    return model


BUILDERS: dict[str, Callable[[nn.Module, Method], nn.Module]] = {
    "full_ft": full_fine_tuning, "prompt_tuning": soft_prompt, "adapter": bottleneck_adapters,
    "lora": low_rank_adaptation,
}


def method_table(settings: Mapping[str, Any], tokenizer: Any, keys: Sequence[str] | None = None,
                 hyper: HyperParameters | None = None) -> dict[str, Method]:
    """The ten runs and the ablations (or those named in ``keys``) with the hyper-parameters and
    learning rates of ``settings``; ``tokenizer`` tokenizes the soft prompts' initialisation text
    (or pass ``hyper``, e.g. :meth:`HyperParameters.for_shapes`, and ``tokenizer=None``)."""
    quiet_libraries()
    hyper = hyper or HyperParameters.from_settings(settings, tokenizer)
    table = {}
    for family, implementations in IMPLEMENTATIONS.items():
        lr = settings[FAMILIES[family][1]]
        for implementation in implementations:
            key = family if family == "full_ft" else f"{family}_{implementation}"
            table[key] = Method(key, family, implementation, lr, hyper)
        for key, (of_family, implementation, variant) in VARIANTS.items():  # an ablation follows its family
            if of_family == family:
                table[key] = Method(key, family, implementation, lr, hyper, variant)
    if keys is None:
        return table
    unknown = [key for key in keys if key not in table]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; valid methods: {', '.join(table)}")
    return {key: table[key] for key in keys}


def opendelta():
    """The ``opendelta`` module (it needs import shims today: :mod:`hwutils.core.compat`), quiet."""
    from hwutils.core.compat import import_opendelta

    module = import_opendelta()
    module.utils.logging.set_verbosity_error()  # it logs every module it modifies
    return module


def quiet_libraries() -> None:
    """Silence the PEFT libraries' notes that say nothing about the run."""
    logging.getLogger("adapters").setLevel(logging.ERROR)  # AdapterHub notes deprecations of the transformers API it wraps
    # T5's cache API is being renamed; AdapterHub's T5 code still uses the old argument name
    warnings.filterwarnings("ignore", message=".*past_key_value.*")
