"""A made-up English -> Spanish parallel corpus, generated in code: the quick translation data.

The corpus (registered as ``toy-en-es``; no data to install) holds sentences like
``the small cat sees the red house .`` -> ``el gato pequeño ve a la casa roja.``. Spanish puts
the adjective after the noun and makes article and adjective agree with the noun's gender, so a
word-by-word copy fails and the model has to reorder. Some words have several translations
picked at random (``car`` -> ``coche`` or ``carro``), so even a perfect model is unsure; the
intransitive verbs are the notes' greedy trap (S5): ``waits`` -> ``espera`` (0.4), or ``está
esperando``, ``está aguardando``, ``está quieto`` (0.2 each), so greedy search takes the likelier
first word ``está`` (0.6) and ends with probability 0.2, while beam search finds ``espera``
(0.4). Small enough to learn in seconds, hard enough that BLEU separates a
trained model from the baselines.

Notes: S1, S5.
"""

from __future__ import annotations

import random

__all__ = ["TOY_NAME", "TOY_PAIRS", "toy_pairs"]

TOY_NAME = "toy-en-es"
TOY_PAIRS = 600  # pairs in the registered corpus (quick translation lessons)

# noun -> (Spanish, gender); adjective -> (masculine, feminine); verb -> Spanish
NOUNS = {"cat": ("gato", "m"), "dog": ("perro", "m"), "boy": ("niño", "m"),
         "book": ("libro", "m"), "man": ("hombre", "m"), "horse": ("caballo", "m"),
         "house": ("casa", "f"), "girl": ("niña", "f"), "table": ("mesa", "f"),
         "woman": ("mujer", "f"), "city": ("ciudad", "f"), "car": ("coche|carro", "m")}
ADJECTIVES = {"small": ("pequeño", "pequeña"), "red": ("rojo", "roja"), "new": ("nuevo", "nueva"),
              "old": ("viejo", "vieja"), "white": ("blanco", "blanca"),
              "black": ("negro", "negra"), "pretty": ("bonito", "bonita"),
              "big": ("grande", "grande")}
VERBS = {"sees": "ve|mira", "likes": "quiere", "finds": "encuentra|halla", "follows": "sigue"}
INTRANSITIVE = {"sleeps": "duerme|está durmiendo|está dormido|está descansando",
                "runs": "corre|va corriendo|va deprisa|va rápido",
                "waits": "espera|está esperando|está aguardando|está quieto", "eats": "come"}
# "a|b": either translation, chosen at random per sentence (irreducible uncertainty);
# "a|b|c|d" with probabilities 0.4, 0.2, 0.2, 0.2 (b, c, d share their first word: greedy's trap)


def _either(rng: random.Random, word: str) -> str:
    options = word.split("|")
    weights = (0.4, 0.2, 0.2, 0.2) if len(options) == 4 else (1.0,) * len(options)
    return rng.choices(options, weights)[0]


def _noun_phrase(rng: random.Random, obj: bool) -> tuple[str, str]:
    noun = rng.choice(sorted(NOUNS))
    es_noun, gender = NOUNS[noun]
    es_noun = _either(rng, es_noun)
    words_en, words_es = ["the"], [("al" if obj else "el") if gender == "m" else
                                   ("a la" if obj else "la")]
    if rng.random() < 0.7:
        adj = rng.choice(sorted(ADJECTIVES))
        words_en += [adj, noun]
        words_es += [es_noun, ADJECTIVES[adj][gender == "f"]]
    else:
        words_en.append(noun)
        words_es.append(es_noun)
    return " ".join(words_en), " ".join(words_es)


def toy_pairs(n: int = 600, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` made-up (English, Spanish) sentence pairs, reproducible from ``seed``.

    Example:
        >>> toy_pairs(1, seed=3)
        [('the white cat eats.', 'el gato blanco come.')]
    """
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        subj_en, subj_es = _noun_phrase(rng, obj=False)
        if rng.random() < 0.6:
            verb = rng.choice(sorted(VERBS))
            obj_en, obj_es = _noun_phrase(rng, obj=True)
            es_verb = _either(rng, VERBS[verb])
            pairs.append((f"{subj_en} {verb} {obj_en}.", f"{subj_es} {es_verb} {obj_es}."))
        else:
            verb = rng.choice(sorted(INTRANSITIVE))
            es_verb = _either(rng, INTRANSITIVE[verb])
            pairs.append((f"{subj_en} {verb}.", f"{subj_es} {es_verb}."))
    return pairs
