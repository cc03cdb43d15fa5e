"""BART-style corruptions (P6): each does what its name says, reproducibly."""

import doctest
import random
from collections import Counter

import pytest

from deepnotes.errors import ConfigError
from deepnotes.tasks import denoising as dn

TEXT = "in the beginning god created the heavens and the earth . now the earth was empty ; " \
       "darkness was on the surface of the deep .".split()


def test_P6_masking_keeps_length_and_masks_about_p():
    out = [dn.mask_tokens(TEXT, 0.3, random.Random(s)) for s in range(200)]
    assert all(len(o) == len(TEXT) for o in out)
    share = sum(o.count(dn.MASK) for o in out) / (200 * len(TEXT))
    assert 0.25 < share < 0.35
    # unmasked tokens stay in place
    assert all(a == b for o in out for a, b in zip(o, TEXT) if a != dn.MASK)


def test_P6_deletion_keeps_order_and_drops_about_p():
    out = [dn.delete_tokens(TEXT, 0.3, random.Random(s)) for s in range(200)]
    assert 0.65 < sum(len(o) for o in out) / (200 * len(TEXT)) < 0.75
    for o in out:  # what is left is a subsequence of the text
        it = iter(TEXT)
        assert all(t in it for t in o)
    assert dn.delete_tokens(["a"], 1.0, random.Random(0)) == ["a"]  # never empty


def test_P6_infilling_replaces_spans_by_one_mask_each():
    rng = random.Random(5)
    lengths = Counter()
    for _ in range(300):
        out = dn.infill_spans(TEXT, 0.3, rng)
        removed = len(TEXT) - (len(out) - out.count(dn.MASK))
        # never more than 30 % of the words are gone (each span left one <mask>)
        assert removed <= round(0.3 * len(TEXT)) and out.count(dn.MASK) >= 1
        lengths[removed] += 1
        kept = [t for t in out if t != dn.MASK]
        it = iter(TEXT)
        assert all(t in it for t in kept)
    assert max(lengths, key=lengths.get) == round(0.3 * len(TEXT))
    # span lengths follow Poisson(3): mean 3
    draws = [dn._poisson(3.0, rng) for _ in range(5000)]
    assert abs(sum(draws) / len(draws) - 3.0) < 0.1


def test_P6_permutation_and_rotation_keep_every_token():
    for s in range(20):
        rng = random.Random(s)
        p = dn.permute_sentences(TEXT, rng)
        assert Counter(p) == Counter(TEXT)
        sentences = {" ".join(x.split()) for x in " ".join(TEXT).replace(". ", ".|").replace(
            "; ", ";|").split("|")}
        assert all(x in " ".join(p) for x in sentences)  # whole sentences moved
        r = dn.rotate(TEXT, rng)
        k = r.index(TEXT[0]) if r[0] != TEXT[0] else 0
        assert r[k:] + r[:k] == TEXT or r == TEXT


def test_P6_corrupt_chains_and_is_reproducible():
    a = dn.corrupt(TEXT, ("infill", "permute"), 0.3, random.Random(9))
    b = dn.corrupt(TEXT, ("infill", "permute"), 0.3, random.Random(9))
    assert a == b and a != TEXT
    with pytest.raises(ConfigError, match="unknown corruption"):
        dn.corrupt(TEXT, ("shuffle",), 0.3, random.Random(0))
    with pytest.raises(ConfigError, match="rate"):
        dn.mask_tokens(TEXT, 1.5, random.Random(0))


def test_docstring_examples():
    result = doctest.testmod(dn)
    assert result.attempted > 0 and result.failed == 0


def test_P6_the_lesson_partition_keeps_pre_training_apart_from_every_translation_pair():
    from deepnotes.data.parallel import split_of
    from deepnotes.lessons.denoising_pretraining import Config, partition

    keys = [f"Book {c}:{v}" for c in range(1, 60) for v in range(1, 40)]
    rng = random.Random(0)
    en = [rng.randint(1, 40) for _ in keys]
    es = [rng.randint(1, 40) for _ in keys]
    cfg = Config(parallel_pairs=200, mono_sentences=0)
    split, parallel, lang = partition(cfg, keys, en, es)
    assert split == [split_of(k) for k in keys]
    assert len(parallel) == 200 and all(split[i] == "train" for i in parallel)
    assert all(en[i] <= 15 and es[i] <= 15 for i in parallel)
    mono = set(lang)
    assert not mono & set(parallel)  # no parallel pair is pre-trained on
    assert all(split[i] == "train" for i in mono)  # nor any validation or test verse
    assert all(en[i] <= 30 and es[i] <= 30 for i in mono)
    assert set(lang.values()) == {"en", "es"}  # each verse one language, both languages used
    assert 0.4 < sum(v == "en" for v in lang.values()) / len(lang) < 0.6
