"""Deep prompts (prefix tuning, P-tuning v2) with peft on RoBERTa classifiers: a small fix.

peft's prefix tuning hands every layer a learned prefix of keys and values through the model's
``past_key_values`` argument. ``RobertaForSequenceClassification.forward`` has no such argument,
so peft 0.21 falls back to calling the RoBERTa body itself and feeds ``outputs[1]`` to the
classifier, assuming BERT's layout where ``outputs[1]`` is the pooled vector. RoBERTa's
classification body has no pooler, so ``outputs[1]`` is the key/value cache, and the head fails
with ``TypeError: '<' not supported between instances of 'tuple' and 'int'``.

:class:`RobertaPrefixForSequenceClassification` is the same model (same weights, same head) whose
``forward`` accepts ``past_key_values`` and passes it to the body, so peft takes its ordinary path.
It also keeps the text's position ids where RoBERTa was pre-trained to see them: given a prefix of
``P`` keys and values, ``RobertaModel`` would otherwise number the tokens from ``P + 2``, as if the
text continued a generated sequence.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F
from transformers import RobertaForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.roberta.modeling_roberta import create_position_ids_from_input_ids


class RobertaPrefixForSequenceClassification(RobertaForSequenceClassification):
    """``RobertaForSequenceClassification`` that accepts peft's prefix (``past_key_values``).

    Load it like the original (``from_pretrained`` reads the same checkpoints). Without a prefix it
    computes exactly what the original computes. Single-label classification only (the loss is
    cross-entropy), which is what notebook 02 needs.
    """

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        past_key_values: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        if past_key_values is not None and input_ids is not None and kwargs.get("position_ids") is None:
            # number the text 2, 3, ... as in pre-training, not after the prefix
            kwargs["position_ids"] = create_position_ids_from_input_ids(input_ids, self.config.pad_token_id)
        outputs = self.roberta(
            input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            past_key_values=past_key_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(outputs.last_hidden_state)  # RoBERTa's head reads the <s> position itself
        loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1)) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                        attentions=outputs.attentions)
