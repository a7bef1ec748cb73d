"""CoOp (Zhou et al. 2022, "Learning to Prompt for Vision-Language Models"): learn the prompt's words.

Instead of writing "a photo of a {}.", CoOp learns the context: ``n_context`` vectors in the
token-embedding space replace the words before the class name, shared by all classes. The class
name's own tokens stay as the tokenizer made them. The sequence goes through CLIP's frozen text
transformer to give each class embedding, so the gradient of the classification loss flows
back through the whole text encoder into the context vectors only (``n_context`` x width
parameters). The image side uses the cached image features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hwutils.clip.models import ClipModel
from hwutils.core.errors import ConfigError


class CoOpClassifier(nn.Module):
    """Zero-shot-style classifier whose class embeddings come from learned context + class-name tokens."""

    def __init__(self, clip: ClipModel, class_names: Sequence[str], n_context: int = 4, init_text: str = "a photo of a"):
        super().__init__()
        model = clip.model
        if not hasattr(model, "token_embedding"):
            raise ConfigError(f"CoOp here needs open_clip's own text transformer; {clip.name} uses another text tower")
        model.requires_grad_(False)  # CLIP stays frozen: gradients reach only the context vectors
        placeholder = " ".join(["X"] * n_context)  # one token each, replaced by the context vectors
        tokens = clip.tokenizer([f"{placeholder} {name}." for name in class_names]).to(clip.device)
        with torch.no_grad():
            embedded = model.token_embedding(tokens)
            init_tokens = clip.tokenizer([init_text]).to(clip.device)[0]
            n_init = int((init_tokens > 0).sum()) - 2  # without start and end tokens
            if init_text and n_init == n_context:  # CoOp's initialisation: the embeddings of "a photo of a"
                context = model.token_embedding(init_tokens[1:1 + n_context]).clone()
            else:
                context = torch.randn(n_context, embedded.shape[-1], device=clip.device) * 0.02
        self.init_text = init_text if init_text and n_init == n_context else ""  # "" when the context started random
        self.class_names = list(class_names)
        self.context = nn.Parameter(context.float())
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("prefix", embedded[:, :1].clone(), persistent=False)  # start token
        self.register_buffer("suffix", embedded[:, 1 + n_context:].clone(), persistent=False)  # name, ".", end, padding
        self.register_buffer("logit_scale", torch.tensor(clip.logit_scale), persistent=False)
        # the frozen text encoder (shared with the CLIP model, never updated here)
        self.transformer, self.ln_final = model.transformer, model.ln_final
        self._frozen = {"positional_embedding": model.positional_embedding, "text_projection": model.text_projection,
                        "attn_mask": getattr(model, "attn_mask", None), "pool_type": model.text_pool_type,
                        "eos_id": getattr(model, "text_eos_id", None)}

    def class_embeddings(self) -> torch.Tensor:
        """Unit-norm class embeddings (C x D) for the current context vectors."""
        from open_clip.transformer import text_global_pool

        frozen = self._frozen
        n_classes = self.prefix.shape[0]
        x = torch.cat([self.prefix, self.context.unsqueeze(0).expand(n_classes, -1, -1), self.suffix], dim=1)
        x = x + frozen["positional_embedding"]
        x = self.transformer(x, attn_mask=frozen["attn_mask"])
        x = self.ln_final(x)
        x = text_global_pool(x, self.tokens, frozen["pool_type"], eos_token_id=frozen["eos_id"])
        projection = frozen["text_projection"]
        x = projection(x) if isinstance(projection, nn.Module) else x @ projection
        return F.normalize(x, dim=-1)

    @torch.no_grad()
    def init_prompt_gap(self, clip: ClipModel) -> float:
        """The largest difference between these class embeddings and the text encoder's own embeddings of
        ``"<init_text> <class name>."``. Before training, with the context taken from ``init_text``, it is 0 up
        to rounding: CoOp starts as zero-shot CLIP with that prompt. (Meaningless for a random start.)"""
        if not self.init_text:
            raise ConfigError("the context started random: there is no initial prompt to compare with")
        expected = clip.encode_text([f"{self.init_text} {name}." for name in self.class_names])
        return float((self.class_embeddings().float().cpu() - expected).abs().max())

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * F.normalize(image_features, dim=-1) @ self.class_embeddings().T
