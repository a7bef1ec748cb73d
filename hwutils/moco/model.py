"""MoCo v2 in one file: the encoders, the momentum update, the queue of keys and the InfoNCE loss.

Momentum Contrast (He et al., 2020; v2: Chen et al., 2020) learns an image encoder without labels.
Two random augmentations ("views") of one image are a positive pair; views of other images are
negatives. Read from top to bottom:

1. :class:`SplitBatchNorm`: batch norm that normalises groups of the batch separately, so one GPU
   behaves like the paper's eight (the official single-GPU CIFAR-10 demo does the same).
2. :class:`ResNet`: the CIFAR variant of a ResNet (3x3 stem, stride 1, no max-pool). Widths
   ``(64, 128, 256, 512)`` and depths ``(2, 2, 2, 2)`` make it ResNet-18.
3. :class:`Encoder`: the ResNet and MoCo v2's projection head (a 2-layer MLP); the loss is computed
   on the head's output, downstream tasks use the backbone's features.
4. :class:`MoCo`: a *query* encoder trained by gradient descent; a *key* encoder that is never
   trained, only moved towards the query encoder by a momentum (exponential moving average) update;
   a *queue* of the keys of recent batches, which serve as negatives; and the InfoNCE loss
   (:func:`info_nce`). Next to each queued key the queue keeps the id of the image it came from,
   so the number of "false negatives" (keys of the query's own source image) is counted exactly.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from hwutils.core.errors import ConfigError


@dataclass(frozen=True)
class MoCoConfig:
    widths: tuple[int, ...] = (64, 128, 256, 512)  # channels of the ResNet's stages (ResNet-18)
    depths: tuple[int, ...] = (2, 2, 2, 2)  # residual blocks per stage (ResNet-18)
    feature_dim: int = 128  # dimension of the keys and queries (the projection head's output)
    queue_size: int = 4096  # K: negatives per query
    momentum: float = 0.99  # m: key encoder <- m * key encoder + (1 - m) * query encoder
    temperature: float = 0.1  # tau: InfoNCE's logits are cosine similarities / tau
    bn_splits: int = 8  # groups of the batch normalised separately (1: ordinary batch norm)
    exclude_same_source: bool = False  # experiment 3's remedy: a query's own source image is never its negative

    def as_dict(self) -> dict:
        return {**asdict(self), "widths": list(self.widths), "depths": list(self.depths)}

    def replace(self, **changes) -> "MoCoConfig":
        """This configuration with some values changed (one run of a sweep)."""
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------------------------
# 1. Batch norm over groups of the batch ("shuffle BN" on one GPU)
# ---------------------------------------------------------------------------------------------


class SplitBatchNorm(nn.BatchNorm2d):
    """Batch norm that, in training, normalises each of ``num_splits`` groups of the batch with that
    group's own mean and variance, as ``num_splits`` GPUs with ordinary batch norm would.

    Why MoCo needs it: with one batch-norm group, the statistics of the batch that a query is
    normalised with also contain its positive key's image, and the network can "cheat" by finding its
    positive through those statistics instead of learning good features. MoCo shuffles the key
    batch before the key encoder, so a query and its key fall into different groups (see
    :meth:`MoCo.encode_keys`). In evaluation it is ordinary batch norm with the running statistics.
    """

    def __init__(self, num_features: int, num_splits: int, **kwargs):
        super().__init__(num_features, **kwargs)
        self.num_splits = num_splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.num_splits == 1:
            return super().forward(x)
        n, c, h, w = x.shape
        if n % self.num_splits:
            raise ConfigError(f"a batch of {n} cannot be split into {self.num_splits} batch-norm groups; "
                              "choose a batch size divisible by bn_splits")
        s = self.num_splits
        # (n, c, h, w) -> (n/s, s*c, h, w): sample i*s + g becomes channels g*c ... g*c + c - 1 of row i,
        # so plain batch norm over s*c channels normalises each group g on its own.
        running_mean, running_var = self.running_mean.repeat(s), self.running_var.repeat(s)
        out = F.batch_norm(x.reshape(-1, s * c, h, w), running_mean, running_var, self.weight.repeat(s),
                           self.bias.repeat(s), True, self.momentum, self.eps)
        with torch.no_grad():  # one running estimate: the mean of the groups'
            self.running_mean.copy_(running_mean.view(s, c).mean(dim=0))
            self.running_var.copy_(running_var.view(s, c).mean(dim=0))
        return out.view(n, c, h, w)


# ---------------------------------------------------------------------------------------------
# 2. The backbone: a ResNet for 32x32 images
# ---------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to a shortcut (a 1x1 convolution when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = norm(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), norm(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet for small images: a 3x3 stem with stride 1 and no max-pool (a 7x7 stride-2 stem and a
    max-pool would shrink a 32x32 image to 8x8 before the first block), then one stage per width,
    each halving the resolution except the first, and global average pooling."""

    def __init__(self, widths: tuple[int, ...], depths: tuple[int, ...], norm):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, padding=1, bias=False), norm(widths[0]), nn.ReLU())
        blocks, c_in = [], widths[0]
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            for index in range(depth):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(c_in, width, stride, norm))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


# ---------------------------------------------------------------------------------------------
# 3. Backbone + projection head
# ---------------------------------------------------------------------------------------------


class Encoder(nn.Module):
    """``head(backbone(x))``: the backbone's features projected by MoCo v2's MLP head (hidden
    layer as wide as the features, ReLU, then ``feature_dim`` outputs)."""

    def __init__(self, config: MoCoConfig):
        super().__init__()
        norm = partial(SplitBatchNorm, num_splits=config.bn_splits)
        self.backbone = ResNet(config.widths, config.depths, norm)
        d = self.backbone.out_dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, config.feature_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


# ---------------------------------------------------------------------------------------------
# 4. MoCo
# ---------------------------------------------------------------------------------------------


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float,
             excluded: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE: cross-entropy of picking each query's own key among it and the queue's keys.

    ``q`` and ``k`` (N x d) and ``queue`` (K x d) are L2-normalised, so dot products are cosine
    similarities. Row n's logits are ``[q_n.k_n, q_n.queue_1, ..., q_n.queue_K] / temperature`` and
    the right answer is column 0: ``-log(exp(q.k/t) / (exp(q.k/t) + sum_j exp(q.queue_j/t)))``.
    ``excluded`` (N x K, bool) removes some negatives of some queries from the sum.
    """
    positives = (q * k).sum(dim=1, keepdim=True)  # N x 1
    negatives = q @ queue.T  # N x K
    if excluded is not None:
        negatives = negatives.masked_fill(excluded, float("-inf"))  # exp(-inf) = 0: left out of the sum
    logits = torch.cat([positives, negatives], dim=1).float() / temperature  # the softmax in float32
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


class MoCo(nn.Module):
    """Query encoder, momentum key encoder, and a queue of ``queue_size`` keys with their source ids.

    ``loss = moco(view_q, view_k, sources)`` runs one step's forward pass: it moves the key encoder
    towards the query encoder, encodes the keys (shuffled across batch-norm groups), computes InfoNCE
    against the queue, counts the negatives that came from each query's own source image, and only
    then enqueues the new keys (dropping the oldest). Gradients reach the query encoder only.
    """

    def __init__(self, config: MoCoConfig):
        super().__init__()
        self.config = config
        self.encoder_q = Encoder(config)
        self.encoder_k = copy.deepcopy(self.encoder_q)  # starts equal to the query encoder
        for parameter in self.encoder_k.parameters():
            parameter.requires_grad_(False)  # moved by the momentum update, never by gradients
        # The queue: row i is a key, queue_sources[i] the id of the image it was encoded from (-1: the
        # random initial keys), queue_pointer the row of the oldest key, the next to be replaced.
        self.register_buffer("queue", F.normalize(torch.randn(config.queue_size, config.feature_dim), dim=1))
        self.register_buffer("queue_sources", torch.full((config.queue_size,), -1, dtype=torch.long))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))
        # Bookkeeping of false negatives (keys in the queue from the query's own source image).
        self.register_buffer("queries_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("same_source_negatives", torch.zeros((), dtype=torch.long))
        self.register_buffer("queries_with_same_source", torch.zeros((), dtype=torch.long))

    def forward(self, view_q: torch.Tensor, view_k: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        q = F.normalize(self.encoder_q(view_q), dim=1)
        with torch.no_grad():
            self.momentum_update()
            k = self.encode_keys(view_k)
        same_source = sources[:, None] == self.queue_sources[None, :]  # N x K: false negatives
        self.count_false_negatives(same_source)
        queue = self.queue.clone()  # enqueue() below rewrites the buffer that backward still needs
        loss = info_nce(q, k, queue, self.config.temperature,
                        excluded=same_source if self.config.exclude_same_source else None)
        self.enqueue(k, sources)
        return loss

    @torch.no_grad()
    def momentum_update(self) -> None:
        """key encoder <- m * key encoder + (1 - m) * query encoder, parameter by parameter.

        m = 0 makes the key encoder a copy of the query encoder; m = 1 freezes it at its start.
        """
        m = self.config.momentum
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            param_k.mul_(m).add_(param_q.detach(), alpha=1 - m)

    @torch.no_grad()
    def encode_keys(self, view_k: torch.Tensor) -> torch.Tensor:
        """The normalised keys of ``view_k``, encoded in a shuffled order and put back in order, so
        that each key is normalised in a different batch-norm group than its query ("shuffle BN")."""
        order = torch.randperm(len(view_k)).to(view_k.device)  # the CPU generator: seeded and checkpointed
        keys = F.normalize(self.encoder_k(view_k[order]), dim=1)
        return keys[torch.argsort(order)]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, sources: torch.Tensor) -> None:
        """Replace the ``len(keys)`` oldest keys by ``keys`` (a ring buffer: the queue keeps its size)."""
        size = len(self.queue)
        if len(keys) > size:
            raise ConfigError(f"a batch of {len(keys)} keys does not fit a queue of {size}; use queue_size >= batch size")
        rows = (self.queue_pointer + torch.arange(len(keys), device=keys.device)) % size
        self.queue[rows] = keys.to(self.queue.dtype)
        self.queue_sources[rows] = sources
        self.queue_pointer.copy_((self.queue_pointer + len(keys)) % size)

    @torch.no_grad()
    def count_false_negatives(self, same_source: torch.Tensor) -> None:
        self.queries_seen += same_source.shape[0]
        self.same_source_negatives += same_source.sum()
        self.queries_with_same_source += same_source.any(dim=1).sum()

    def false_negative_stats(self) -> dict[str, float]:
        """Share of all (query, queued key) pairs whose key came from the query's own source image, and
        share of queries that had at least one such key among their negatives (exact counts)."""
        queries = max(int(self.queries_seen), 1)
        return {"false_negative_share": int(self.same_source_negatives) / (queries * len(self.queue)),
                "false_negatives_per_query": int(self.same_source_negatives) / queries,
                "queries_with_false_negative": int(self.queries_with_same_source) / queries}

    def backbone(self) -> ResNet:
        """The query encoder's backbone: the representation that downstream tasks use."""
        return self.encoder_q.backbone
