"""docs/concepts.md is what the generator makes now; cited IDs exist; the parser is exact."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from deepnotes import concepts
from deepnotes.concepts import (
    CONCEPTS,
    GROUPS,
    build_table,
    cited_in_tests,
    ids_in_test_doc,
    marker_ids,
    render_markdown,
    unknown_ids,
)

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "concepts.md"
COMMAND = "python -m deepnotes.concepts > docs/concepts.md"


def test_docs_concepts_md_is_up_to_date():
    fresh = render_markdown(build_table(TESTS))
    committed = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    if fresh != committed:
        diff = "".join(list(difflib.unified_diff(
            committed.splitlines(keepends=True), fresh.splitlines(keepends=True),
            "docs/concepts.md (committed)", "docs/concepts.md (fresh)"))[:60])
        raise AssertionError(
            f"docs/concepts.md is stale; regenerate it from the repository root with\n"
            f"    {COMMAND}\n(or `make concepts`) and commit it. Difference:\n{diff}")


def test_every_cited_concept_id_exists():
    bad = unknown_ids(TESTS)
    assert not bad, "IDs not in deepnotes.concepts.CONCEPTS (a typo?):\n" + "\n".join(bad)


def test_the_concept_list_is_ordered_grouped_and_numbered_without_gaps():
    assert len(CONCEPTS) == 90
    letters = [cid[0] for cid in CONCEPTS]
    # groups in GROUPS order, each contiguous, numbered 1..n
    assert list(dict.fromkeys(letters)) == list(GROUPS)
    for letter in GROUPS:
        numbers = [int(cid[1:]) for cid in CONCEPTS if cid[0] == letter]
        assert numbers == list(range(1, len(numbers) + 1)), letter
    assert all(title and "\n" not in title and "|" not in title for title in CONCEPTS.values())


def test_markers_name_ids_in_the_forms_the_code_base_uses():
    assert marker_ids("Notes: R8") == ["R8"]
    assert marker_ids("Notes: S2, A14") == ["S2", "A14"]
    assert marker_ids("Rows (notes B5, B6)") == ["B5", "B6"]
    assert marker_ids("Notes: B4, B8 (minibatch training)") == ["B4", "B8"]
    # comments hold commas and one level of brackets; the list may wrap lines
    text = "Notes: R9 (many-to-one, e.g. (sentiment)), R4 (bidirectional),\n    R5 (LSTM)."
    assert marker_ids(text) == ["R9", "R4", "R5"]
    assert marker_ids("Notes: G1 and G2.") == ["G1", "G2"]
    # ranges within one group
    assert marker_ids("Claim (notes O4–O7; d2l 12.6)") == ["O4", "O5", "O6", "O7"]
    assert marker_ids("Notes: A2-A4") == ["A2", "A3", "A4"]
    # repeated IDs are listed once, in order of first mention
    assert marker_ids("Notes: B3, B7.\n\nNotes: B7, B3, O8.") == ["B3", "B7", "O8"]


def test_markers_ignore_what_is_not_a_concept_citation():
    assert marker_ids("Cost O(n) per step; noqa: E402; the R2 score; see B3 and C3.") == []
    assert marker_ids("the notes: noisy small-batch updates (R2)") == []  # lower-case notes:
    assert marker_ids("Footnotes: B3") == []
    # the list ends at the first item that is not an ID
    assert marker_ids("Notes: R1 (load text), data for R2/R8 language models.") == ["R1"]
    assert marker_ids("Notes: R9 (tagging); data for P4 fine-tuning.") == ["R9"]
    assert marker_ids("(notes R10, \"CTC\", R9)") == ["R10"]
    assert marker_ids("(notes G1, G2; d2l 3.6/4.4; He et al. 2016)") == ["G1", "G2"]
    # an ID glued to more characters is no ID
    assert marker_ids("Notes: B3x, B4") == []
    assert marker_ids("Notes: R2/R8") == ["R2"]


def test_bad_ranges_and_unknown_ids_are_kept_for_the_typo_check():
    assert marker_ids("Notes: O7–O4") == ["O7–O4"]
    assert marker_ids("Notes: O4–R7") == ["O4–R7"]
    assert marker_ids("Notes: R11, B3") == ["R11", "B3"]  # parsed; unknown_ids reports R11


def test_test_docstrings_also_cite_by_a_bracket_of_ids_only():
    text = "Losses (B3, B7) against torch; layers (A2-A4, A7). O(n) time (see C3 too); (E402)."
    assert ids_in_test_doc(text) == ["B3", "B7", "A2", "A3", "A4", "A7"]
    assert ids_in_test_doc("Quick runs (Notes: O1, O4–O5).") == ["O1", "O4", "O5"]
    assert ids_in_test_doc("The command line (no concept).") == []
    # a bracket with an ID outside the concept list is no citation at all
    assert ids_in_test_doc("Style (E402, B3) and (B3)") == ["B3"]


def test_tests_are_found_by_docstring_and_name_without_importing_them(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "test_demo.py").write_text(
        '"""Demo module (S4)."""\n'
        "raise RuntimeError('test files are parsed, never imported')\n"
        "def test_s4_s5_worked_example():\n    pass\n"
        "def test_plain():\n    '''Checks the loss. Notes: B3.'''\n"
        "def test_bleu_p1_precision():\n    pass\n"
        "def helper():\n    '''Notes: O3.'''\n"
        "class TestAdam:\n    '''Adam (O6).'''\n"
        "    def test_o3_momentum(self):\n        pass\n",
        encoding="utf-8")
    (tmp_path / "helpers.py").write_text('"""Notes: E1."""\n', encoding="utf-8")
    found = cited_in_tests(tmp_path)
    assert found == {
        "S4": {("sub/test_demo.py", ""), ("sub/test_demo.py", "test_s4_s5_worked_example")},
        "S5": {("sub/test_demo.py", "test_s4_s5_worked_example")},
        "B3": {("sub/test_demo.py", "test_plain")},
        "O6": {("sub/test_demo.py", "TestAdam")},
        "O3": {("sub/test_demo.py", "TestAdam::test_o3_momentum")},
    }


def test_unknown_ids_report_typos_with_their_place(tmp_path):
    (tmp_path / "test_typo.py").write_text(
        '"""Typo. Notes: B3, R11."""\n\ndef test_s44_thing():\n    pass\n', encoding="utf-8")
    bad = unknown_ids(tmp_path)
    assert f"R11 at {tmp_path.name}/test_typo.py:1" in bad
    assert f"S44 at {tmp_path.name}/test_typo.py:3" in bad
    assert not any("B3" in line.split()[0] for line in bad)


def test_table_rows_and_markdown_shape():
    rows = build_table(TESTS)
    assert [r.cid for r in rows] == list(CONCEPTS)
    by_id = {r.cid: r for r in rows}
    # the code base's own citations: the SGD docstring cites B4, lesson "linear-regression"
    # lists B2, the golden test test_s4_bleu_of_the_worked_example cites S4 by its name
    assert ("optim.sgd", "SGD") in by_id["B4"].code
    assert "linear-regression" in by_id["B2"].lessons
    assert ("golden/test_seq2seq_examples.py", "test_s4_bleu_of_the_worked_example") in \
        by_id["S4"].tests
    # this module's own docstrings show the syntax and are not code for any concept
    assert not any(where == "concepts" for r in rows for where, _ in r.code)
    text = render_markdown(rows)
    assert COMMAND in text
    for letter, heading in GROUPS.items():
        assert f"## {letter}. {heading}" in text
    table_rows = [line for line in text.splitlines() if re.match(r"\| [A-Z][0-9]+ \|", line)]
    assert len(table_rows) == len(CONCEPTS)
    assert all(line.count(" | ") == 4 for line in table_rows)
    assert "&lt;bos&gt;" in text and "<bos>" not in text
    # open work is visible: a concept with nothing yet has "—" in all three columns
    for r in rows:
        if not (r.code or r.tests or r.lessons):
            title = r.title.replace("<", "&lt;").replace(">", "&gt;")
            assert f"| {r.cid} | {title} | — | — | — |" in text
    assert concepts.__doc__ and COMMAND in concepts.__doc__
