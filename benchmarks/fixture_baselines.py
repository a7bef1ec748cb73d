"""Print how far shortcuts get on each smoke fixture (the table in data/README.md).

    python benchmarks/fixture_baselines.py

A hypothesis-only or premise-only model of the NLI fixture, a word-count lexicon of the sentiment
fixture, and a mean-colour classifier of the image fixtures should all stay near chance: what the
notebooks' methods reach above that is their own doing. The numbers come from
:mod:`hwutils.core.fixtures.baselines`; the tests hold them to their bounds.
"""

from hwutils.core.display import markdown_table
from hwutils.core.fixtures.baselines import all_baselines

if __name__ == "__main__":
    rows = all_baselines()
    for row in rows:
        row["above chance (points)"] = 100 * (row["accuracy"] - row["chance"])
    print(markdown_table(rows, digits=3))
