"""Stanford Dogs loading: breed-name cleaning and the official-split check."""

from __future__ import annotations

import pytest

from hwutils.clip.data import breed_names, clean_breed_name, load_stanford_dogs
from hwutils.core.errors import DataError
from hwutils.clip.fixtures import DOG_BREED_FOLDERS
from hwutils.core.fixtures.synthetic_images import write_imagefolder


@pytest.mark.parametrize("raw, clean", [
    ("n02085620-Chihuahua", "Chihuahua"),
    ("n02099601-golden_retriever", "golden retriever"),
    ("n02086240-Shih-Tzu", "Shih-Tzu"),  # a hyphen inside the breed name stays
    ("n02113978-Mexican_hairless", "Mexican hairless"),
    ("n02105855-Shetland_sheepdog", "Shetland sheepdog"),
    ("n02087394-Rhodesian_ridgeback ", "Rhodesian ridgeback"),
    ("Chihuahua", "Chihuahua"),  # already clean: unchanged
    ("golden_retriever", "golden retriever"),
    ("n0208-short_id", "n0208-short id"),  # not an 8-digit WordNet id: only underscores change
])
def test_clean_breed_name(raw, clean):
    assert clean_breed_name(raw) == clean


def test_clean_breed_name_is_idempotent():
    for raw in DOG_BREED_FOLDERS:
        once = clean_breed_name(raw)
        assert clean_breed_name(once) == once and "_" not in once and not once.startswith("n0")


def test_loader_cleans_names_and_checks_the_split_size(tmp_path):
    write_imagefolder(tmp_path, DOG_BREED_FOLDERS[:3], {"train": 2, "test": 1}, size=8)
    train = load_stanford_dogs(str(tmp_path), "train", expected_size=6)
    assert breed_names(train) == ["Chihuahua", "Maltese dog", "beagle"]
    assert len(load_stanford_dogs(str(tmp_path), "train", n=3, seed=0)) == 3  # a balanced subset
    with pytest.raises(DataError, match="has 3 examples, but the official Stanford Dogs split has 8,580"):
        load_stanford_dogs(str(tmp_path), "test", expected_size=8580)
    with pytest.raises(DataError, match="no column 'img'"):
        load_stanford_dogs(str(tmp_path), "test", image_column="img")
