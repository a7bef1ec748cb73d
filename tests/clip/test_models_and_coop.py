"""Loading open_clip models (registered configs, local checkpoints, clear errors) and CoOp's prompt learner."""

from __future__ import annotations

import pytest
import torch

from hwutils.clip import heads
from hwutils.clip.coop import CoOpClassifier
from hwutils.clip.models import load_clip, weights_digest
from hwutils.core.errors import ConfigError
from hwutils.core.models import count_parameters
from tests.clip.helpers import SPEC, single_torch_thread, tiny_clip  # noqa: F401 (autouse fixture)

NAMES = ["beagle", "golden retriever", "Shih-Tzu"]


def test_load_clip_uses_the_registered_config_and_checkpoint(tmp_path):
    clip = tiny_clip(tmp_path)
    counts = clip.parameter_counts()
    assert counts["total"] == count_parameters(clip.model).total
    assert counts["image_encoder"] + counts["text_encoder"] + 1 == counts["total"]  # + the logit scale
    assert clip.embed_dim == SPEC.width
    reloaded = tiny_clip(tmp_path)  # the same file again: the same weights
    assert weights_digest(reloaded.model) == weights_digest(clip.model)
    assert weights_digest(tiny_clip(tmp_path, seed=1).model) != weights_digest(clip.model)
    texts = clip.encode_text(["a photo of a beagle.", "a photo of a pug."])
    assert texts.shape == (2, SPEC.width) and torch.allclose(texts.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_load_clip_errors_are_one_clear_line(tmp_path):
    with pytest.raises(ConfigError, match="open_clip has no model config 'convnext_gigantic'"):
        load_clip("convnext_gigantic", "laion400m_s13b_b51k")
    with pytest.raises(ConfigError, match="neither a file nor a tag of convnext_base; its tags: laion400m_s13b_b51k"):
        load_clip("convnext_base", "laion9000")
    with pytest.raises(ConfigError, match="does not exist"):
        load_clip("convnext_base", "laion400m_s13b_b51k", config_dir=str(tmp_path / "missing"))


def test_coop_with_the_initial_context_reproduces_the_text_encoder(tmp_path):
    clip = tiny_clip(tmp_path)
    coop = CoOpClassifier(clip, NAMES, n_context=4, init_text="a photo of a")
    expected = clip.encode_text([f"a photo of a {name}." for name in NAMES])
    assert torch.allclose(coop.class_embeddings().detach(), expected, atol=1e-5)
    assert coop.init_text == "a photo of a" and coop.init_prompt_gap(clip) < 1e-5
    with torch.no_grad():
        coop.context.add_(torch.randn(coop.context.shape, generator=torch.Generator().manual_seed(0)))  # as training would
    assert coop.init_prompt_gap(clip) > 1e-3


def test_coop_starts_random_when_the_init_words_do_not_fill_the_context(tmp_path):
    clip = tiny_clip(tmp_path)
    coop = CoOpClassifier(clip, NAMES, n_context=3, init_text="a photo of a")  # four words for three vectors
    assert coop.init_text == "" and coop.context.abs().max() < 0.2
    with pytest.raises(ConfigError, match="started random"):
        coop.init_prompt_gap(clip)


def test_coop_trains_only_the_context_vectors(tmp_path):
    clip = tiny_clip(tmp_path)
    coop = CoOpClassifier(clip, NAMES, n_context=3, init_text="")  # random initialisation
    counts = count_parameters(coop)
    assert counts.trainable == 3 * SPEC.width
    frozen_before = {k: v.clone() for k, v in clip.model.state_dict().items()}
    context_before = coop.context.detach().clone()
    features = torch.nn.functional.normalize(torch.randn(12, SPEC.width, generator=torch.Generator().manual_seed(0)), dim=-1)
    labels = torch.tensor([0, 1, 2] * 4)
    heads.fit(coop, features, labels, steps=5, lr=0.05, batch_size=12)
    assert not torch.equal(coop.context.detach(), context_before)
    assert all(torch.equal(v, frozen_before[k]) for k, v in clip.model.state_dict().items())
    assert all(p.grad is None for p in clip.model.parameters())


def test_class_prompt_search_changes_only_the_searched_class(tmp_path):
    from hwutils.clip import zero_shot

    clip = tiny_clip(tmp_path)
    templates = ["a photo of a {}.", "a {}."]
    per_template = {t: zero_shot.class_embeddings(clip, NAMES, t) for t in templates}
    ensemble = zero_shot.ensemble(list(per_template.values()))
    features = torch.nn.functional.normalize(torch.randn(9, SPEC.width, generator=torch.Generator().manual_seed(0)), dim=-1)
    labels = torch.tensor([0, 1, 2] * 3)
    rows, variants = zero_shot.class_prompt_search(clip, ensemble, 1, NAMES[1], ["a {} dog.", "my {}."], per_template,
                                                   features, labels)
    assert [r["variant"] for r in rows] == ["unchanged", "alone", "added to the ensemble", "alone", "added to the ensemble"]
    assert rows[1]["prompt"] == "a golden retriever dog." and torch.equal(variants[0], ensemble)
    for embs in variants:
        assert torch.equal(embs[[0, 2]], ensemble[[0, 2]])  # the other classes keep their embeddings
    assert torch.allclose(variants[1][1], clip.encode_text(["a golden retriever dog."])[0], atol=1e-6)
    expected_added = zero_shot.ensemble([per_template[t][1] for t in templates] + [clip.encode_text(["a golden retriever dog."])[0]])
    assert torch.allclose(variants[2][1], expected_added, atol=1e-6)
    for row, embs in zip(rows, variants):  # each row scores its own variant
        predicted = zero_shot.zero_shot_logits(features, embs).argmax(dim=1).numpy()
        assert row["accuracy"] == pytest.approx((predicted == labels.numpy()).mean())
