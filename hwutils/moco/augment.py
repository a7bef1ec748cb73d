"""Views for MoCo: the random augmentation, pairs of views, fixed augmented copies, endless batches.

* :func:`moco_augmentation`: MoCo v2's augmentation for small images (torchvision's ``transforms.v2``):
  a random resized crop, a horizontal flip, colour jitter (80% of the time), grayscale (20%). Two
  independent draws of it on one image make a positive pair. MoCo v2's Gaussian blur is left out,
  as the official CIFAR-10 demo leaves it out: at 32 pixels there is little detail to blur.
* :class:`TwoViews`: a dataset of ``(view_q, view_k, source id)``; the source id says which original
  image an item came from (experiment 3 needs it), and an item can group several stored copies.
* :func:`with_fixed_copies`: question (c)'s recipe, every image plus ``copies`` augmented versions of
  it drawn once and stored as separate images.
* :class:`Batches`: endless shuffled batches (a new permutation every epoch), a callable for
  :func:`hwutils.core.training.train`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from hwutils.core.errors import ConfigError

Transform = Callable[[torch.Tensor], torch.Tensor]


def moco_augmentation(size: int, crop_min_scale: float, mean: Sequence[float], std: Sequence[float]) -> Transform:
    """A random view of a ``uint8`` image (3 x H x W) as a normalised float tensor (3 x size x size)."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.ToPILImage(),  # the PIL kernels are faster than the tensor ones on one small image
        v2.RandomResizedCrop(size, scale=(crop_min_scale, 1.0)),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),  # 0..255 -> 0..1
        v2.Normalize(list(mean), list(std)),
    ])


def copy_augmentation(size: int) -> Transform:
    """The kind of offline augmentation question (c)'s team would use: a milder crop, a flip and some
    colour change, kept as a ``uint8`` image (MoCo's own augmentation is applied on top of it)."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.ToPILImage(),
        v2.RandomResizedCrop(size, scale=(0.5, 1.0)),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(0.3, 0.3, 0.3, 0.05),
        v2.PILToTensor(),
    ])


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``uint8`` images (N x 3 x H x W) as the encoder sees them in evaluation: scaled to 0..1 and
    normalised per channel, without augmentation."""
    mean_ = torch.tensor(mean, device=images.device).view(1, 3, 1, 1)
    std_ = torch.tensor(std, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255 - mean_) / std_


class TwoViews(Dataset):
    """Item i: two random views, one from each of two stored images of item i, and the item's source id.

    ``members`` (items x m) lists the stored images (rows of ``images``) that make up each item.
    With one member per item, both views come from the same image, as in standard MoCo. With several
    (the stored copies of one original), the two views come from two different copies: the copies of
    one image are each other's positives (one of experiment 3's remedies). ``sources`` gives each
    item the id of the original image it came from.
    """

    def __init__(self, images: torch.Tensor, members: torch.Tensor, sources: torch.Tensor, transform: Transform):
        if members.dim() != 2 or len(members) != len(sources):
            raise ConfigError(f"members must be (items x m) with one row per source id; got {tuple(members.shape)} "
                              f"for {len(sources)} source ids")
        self.images, self.members, self.sources, self.transform = images, members, sources, transform

    @classmethod
    def one_image_per_item(cls, images: torch.Tensor, sources: torch.Tensor, transform: Transform) -> "TwoViews":
        """Every stored image is an item of its own (its source id says which original it came from)."""
        return cls(images, torch.arange(len(images)).unsqueeze(1), sources, transform)

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        members = self.members[index]
        if len(members) == 1:
            row_q = row_k = int(members[0])
        else:  # two different stored copies of the same original
            row_q, row_k = (int(members[i]) for i in torch.randperm(len(members))[:2])
        return self.transform(self.images[row_q]), self.transform(self.images[row_k]), self.sources[index]


@contextlib.contextmanager
def fixed_randomness(seed: int) -> Iterator[None]:
    """Draw augmentations from ``seed`` inside the block, and leave the global random state as it was."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(state)


def fixed_views(images: torch.Tensor, transform: Transform, seed: int) -> torch.Tensor:
    """One view of every image, the same on every call with the same ``seed`` (an evaluation input)."""
    with fixed_randomness(seed):
        return torch.stack([transform(image) for image in images])


def with_fixed_copies(images: torch.Tensor, copies: int, transform: Transform, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image followed by ``copies`` augmented versions of it, drawn once (seeded) and stored:
    ``(images, source ids)`` with ``len(images) * (copies + 1)`` rows; rows ``i * (copies + 1)`` to
    ``i * (copies + 1) + copies`` come from original ``i``."""
    with fixed_randomness(seed):
        expanded = [view for image in images for view in (image, *(transform(image) for _ in range(copies)))]
    return torch.stack(expanded), torch.arange(len(images)).repeat_interleave(copies + 1)


class Batches:
    """``batches()`` returns the next batch of a shuffled, endless pass over ``dataset`` (incomplete
    batches dropped); the shuffling is drawn from ``generator``, which the training checkpoint saves."""

    def __init__(self, dataset: Dataset, batch_size: int, generator: torch.Generator, workers: int = 0,
                 pin_memory: bool = False):
        if len(dataset) < batch_size:
            raise ConfigError(f"a batch of {batch_size} needs at least as many images; the dataset has {len(dataset)}")
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, generator=generator,
                                 num_workers=workers, persistent_workers=workers > 0, pin_memory=pin_memory)
        self._batches = None

    def __call__(self):
        if self._batches is None:
            self._batches = iter(self.loader)
        try:
            return next(self._batches)
        except StopIteration:  # the epoch is over: reshuffle
            self._batches = iter(self.loader)
            return next(self._batches)
