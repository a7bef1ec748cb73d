"""A synthetic sitcom transcript: the smoke profile's stand-in for the Friends dialogue corpus.

Utterances come from a small grammar (greetings, questions, complaints, plans), so a character-level
model has real structure to learn: frequent words, names, punctuation, line breaks.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from hwutils.core.fixtures import fixture

NAMES = ["Ross", "Rachel", "Monica", "Chandler", "Joey", "Phoebe", "Gunther", "Janice"]
PLACES = ["the coffee house", "the apartment", "the museum", "the restaurant", "Central Perk", "the airport"]
THINGS = ["the cheesecake", "my sandwich", "the duck", "the couch", "that sweater", "the chick", "a turkey"]
FEELINGS = ["happy", "so tired", "really nervous", "totally fine", "starving", "a little jealous"]
TEMPLATES = [
    "Hey {name}! How you doin'?",
    "Oh my God, {name}, you ate {thing}?",
    "We were on a break!",
    "Could this BE any more {feeling}?",
    "I'll meet you at {place} at {hour} o'clock.",
    "{name}, have you seen {thing}?",
    "No, I left {thing} at {place}.",
    "Joey doesn't share {thing}!",
    "Pivot! Pivot! PIVOT!",
    "I'm {feeling} because {name} took {thing}.",
    "Why are you so {feeling}, {name}?",
    "Okay, everybody relax. {name} is just going to {place}.",
    "Smelly cat, smelly cat, what are they feeding you?",
    "Is {name} coming to {place} tonight?",
    "Yes, and {name} is bringing {thing}.",
]
N_UTTERANCES = 1600


def dialogue_lines(n: int, seed: int = 0) -> list[str]:
    """``n`` utterances from the grammar above, deterministic for a given seed."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        lines.append(
            template.format(
                name=rng.choice(NAMES),
                place=rng.choice(PLACES),
                thing=rng.choice(THINGS),
                feeling=rng.choice(FEELINGS),
                hour=rng.randint(1, 12),
            )
        )
    return lines


@fixture("dialogue_corpus", version=1)
def build_dialogue_corpus(folder: Path) -> None:
    """Sitcom utterances in a ``text`` column, as ``train.jsonl`` (read by ``datasets.load_dataset``)."""
    with open(folder / "train.jsonl", "w") as f:
        for line in dialogue_lines(N_UTTERANCES):
            f.write(json.dumps({"text": line}) + "\n")
