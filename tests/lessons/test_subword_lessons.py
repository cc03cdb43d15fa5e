"""Subword lessons (E5, E6): quick runs assert each lesson's claim."""

from __future__ import annotations

from deepnotes import lessons
from deepnotes.cli import main


def test_subword_mt_translates_with_no_unk_and_its_checkpoint_translates(tmp_path, capsys):
    r = lessons.get("subword-mt").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # byte-level pieces spell every word: nothing in the output is <unk>
    assert m["unk_in_output"] == 0
    assert all("<unk>" not in row["translation"] for row in r.tables["samples"])
    # and it translates: far above copying the source
    assert m["test_bleu_beam4"] > m["copy_source_test_bleu"] + 5
    assert m["final_train_loss"] < 0.5 * m["first_epoch_train_loss"]
    # the checkpoint carries its BPE: `deepnotes translate` cuts new sentences the same way
    assert main(["translate", str(tmp_path), "the zebra sleeps."]) == 0
    out = capsys.readouterr().out.strip()
    assert out and "<unk>" not in out


def test_subword_vocab_bpe_has_no_unk_where_words_do_and_pays_in_length(tmp_path):
    r = lessons.get("subword-vocab").run(out_dir=tmp_path, quick=True)
    rows = r.tables["sizes"]
    for row in rows:
        # the same vocabulary size: words leave many held-out tokens unknown, BPE none
        assert row["bpe_unk_rate"] <= 0.001 < 0.1 < row["word_unk_rate"]
    # a bigger BPE vocabulary: fewer pieces per word, towards one
    per_word = [row["bpe_pieces_per_word"] for row in rows]
    assert per_word == sorted(per_word, reverse=True)
    assert per_word[0] > per_word[-1] + 0.5 and per_word[-1] >= 1.0
    # and a bigger word vocabulary still leaves unknown words (the long Zipf tail)
    assert rows[-1]["word_unk_rate"] > 0.05
    seg = r.tables["segmentations"][1]
    assert seg["wordpiece_minilm"].startswith("una ##ffa ##ble")  # DATA.md's reference
