r"""The notes' concepts by ID, and the table of where each one is implemented, tested and shown.

``CONCEPTS`` is the ordered concept list (ID -> one-line title, grouped B/G/O/C/A/R/S/E/P/N).
:func:`build_table` finds, for every concept:

- **code**: the modules of ``deepnotes`` (every one is imported with ``pkgutil.walk_packages``)
  whose module docstring carries a marker for it, and the public functions and classes defined
  in a module (top level, ``obj.__module__`` is that module) whose docstring carries one.
  Lesson modules (those with ``NAME`` and ``CONCEPTS``) are left out here: they are the
  lessons column.
- **tests**: parsed with :mod:`ast` (never imported) from ``tests/**/test_*.py``: a test file
  whose module docstring cites the concept, a ``Test*`` class or a ``test_*`` function or
  method whose docstring does, or whose name starts with its ID: ``test_s4_bleu_...``,
  ``test_s3_s5_...`` (IDs right after ``test_``, lower case). A test docstring cites by a
  marker or by a bracket that holds nothing but IDs: ``Losses (B3, B7) against torch``
  (:func:`ids_in_test_doc`).
- **lessons**: each lesson module's ``CONCEPTS`` tuple, read from its source.

A marker is ``Notes:`` (capital N) or ``(notes`` followed by a list of concept IDs: IDs
separated by commas or "and", each optionally followed by a comment in parentheses, a range of
one group written ``O4–O7`` (en dash or hyphen) standing for O4, O5, O6, O7. The list ends at
the first thing that is not an ID (a full stop, a semicolon, a word). So in
``Notes: R9 (many-to-one), R4; data for P4`` the IDs are R9 and R4; ``O(n)``, ``E402``,
``R2 score`` outside a marker are never IDs. Only IDs in :data:`CONCEPTS` enter the table;
:func:`unknown_ids` lists any other ID that a docstring cites (a typo) with where it is.

Regenerate ``docs/concepts.md`` from the repository root (``make concepts`` does the same)::

    python -m deepnotes.concepts > docs/concepts.md

Example:
    >>> marker_ids("Adam with decoupled decay. Notes: O6 (Adam / AdamW), G4. Cost O(n).")
    ['O6', 'G4']
    >>> marker_ids("Claim (notes O4–O6; d2l 12.6): the R2 score of an E402 fit")
    ['O4', 'O5', 'O6']
    >>> CONCEPTS["S4"]
    'BLEU: brevity penalty times weighted n-gram precisions'
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CONCEPTS",
    "GROUPS",
    "ConceptRow",
    "build_table",
    "cited_in_code",
    "cited_in_tests",
    "ids_in_test_doc",
    "lesson_concepts",
    "marker_ids",
    "render_markdown",
    "unknown_ids",
]

#: concept groups in the notes' order: letter -> heading
GROUPS: dict[str, str] = {
    "B": "Basics",
    "G": "Generalisation",
    "O": "Optimisation",
    "C": "Convolutional networks",
    "A": "Attention and Transformers",
    "R": "Recurrent networks and sequences",
    "S": "Sequence-to-sequence and machine translation",
    "E": "Word embeddings and subwords",
    "P": "Pre-training: BERT and GPT",
    "N": "Generative models",
}

#: every concept of the notes, ID -> short title, in the notes' order
CONCEPTS: dict[str, str] = {
    # B. Basics
    "B1": "Tasks: regression, classification, structured output",
    "B2": "Linear model y = b + w·x; closed-form (normal-equation) solution",
    "B3": "Losses: MAE, MSE, stable cross-entropy from logits, binary cross-entropy",
    "B4": "Gradient descent; the learning rate (too large oscillates, too small crawls)",
    "B5": "A curve as constant + sum of sigmoids; hard sigmoid from two ReLUs",
    "B6": "Activations: sigmoid, tanh, ReLU, GELU",
    "B7": "Softmax regression, one-hot labels, stable softmax",
    "B8": "Minibatch SGD: batches, epochs, shuffling",
    "B9": "Time-series prediction from previous days; k-step-ahead error grows with k",
    "B10": "Forward and backward pass, computation graph, automatic differentiation",
    "B11": "Devices: cpu / cuda:i, code that runs on either",
    # G. Generalisation
    "G1": "Overfitting: a flexible model fits few points and fails between them",
    "G2": "Training vs generalisation error; model bias vs optimisation failure",
    "G3": "Validation split, N-fold cross-validation, distribution mismatch",
    "G4": "Weight decay / L2: w ← (1−ηλ)w − η·grad",
    "G5": "Dropout (inverted, train only), noise injection, MC dropout",
    "G6": "Data augmentation: flips, crops, colour jitter, noise, erasing",
    # O. Optimisation
    "O1": "Critical points: local minimum vs saddle point by the Hessian's eigenvalues",
    "O2": "Batch size: time per update and epoch, noise, sharp vs flat minima",
    "O3": "Momentum",
    "O4": "Adagrad",
    "O5": "RMSProp",
    "O6": "Adam (RMSProp + momentum, bias correction) and AdamW",
    "O7": "Learning-rate schedules and warm-up",
    "O8": "MSE vs cross-entropy for classification",
    "O9": "Batch normalisation, running statistics for inference",
    "O10": "Layer normalisation",
    "O11": "Exploding / vanishing gradients; clipping by norm",
    # C. Convolutional networks
    "C1": "Images as (H, W, C) tensors; why a fully-connected net is too big",
    "C2": "Receptive field, kernel size, stride, padding, output shape",
    "C3": "Cross-correlation (corr2d), Conv2D, multiple input/output channels",
    "C4": "Parameter sharing, filters, feature maps, locality, translation invariance",
    "C5": "Max and average pooling; flatten → dense → softmax",
    "C6": "A classic CNN (LeNet) and a modern one (BN, ReLU, residual)",
    # A. Attention and Transformers
    "A1": "One-hot vs learned word embeddings",
    "A2": "Queries, keys, values; Nadaraya–Watson attention pooling",
    "A3": "Additive and scaled dot-product scoring; masked softmax",
    "A4": "Self-attention in matrix form",
    "A5": "Multi-head attention",
    "A6": "Positional encoding (sinusoidal, learned)",
    "A7": "Truncated (windowed) self-attention for long sequences",
    "A8": "Self-attention vs CNN and vs RNN",
    "A9": "Self-attention on graphs (attend along edges)",
    "A10": "Bahdanau attention in an RNN encoder–decoder",
    "A11": "Transformer encoder block (MHA, add & norm, FFN)",
    "A12": "Transformer decoder: masked self-attention, cross-attention, autoregressive decoding",
    "A13": "Non-autoregressive decoding",
    "A14": "Teacher forcing, exposure bias, scheduled sampling, copy, guided attention",
    # R. Recurrent networks and sequences
    "R1": "Text preprocessing: tokenize, vocabulary with special tokens, word hashing",
    "R2": "N-gram language models with Laplace smoothing; stop words; Zipf's law",
    "R3": "Long sequences: random sampling vs sequential partitioning",
    "R4": "Elman RNN, deep RNN, Jordan network, bidirectional RNN",
    "R5": "LSTM",
    "R6": "GRU",
    "R7": "BPTT, cross-entropy over time, clipping",
    "R8": "Character-level language model; perplexity",
    "R9": "Many-to-one and many-to-many RNN uses",
    "R10": "CTC: blank, all alignments, collapse repeats, decoding",
    # S. Sequence-to-sequence and machine translation
    "S1": "Parallel corpus preprocessing: vocabularies, <unk>, padding, valid lengths",
    "S2": "RNN encoder–decoder; masked cross-entropy; teacher forcing",
    "S3": "Prediction token by token from <bos> to <eos>",
    "S4": "BLEU: brevity penalty times weighted n-gram precisions",
    "S5": "Greedy, exhaustive and beam search; length penalty",
    "S6": "Training the decoder on BLEU with reinforcement learning",
    # E. Word embeddings and subwords
    "E1": "Skip-gram and CBOW",
    "E2": "Negative sampling; hierarchical softmax",
    "E3": "GloVe",
    "E4": "fastText subword n-grams",
    "E5": "Byte-pair encoding",
    "E6": "WordPiece tokenisation",
    "E7": "Word similarity and analogy evaluation",
    # P. Pre-training: BERT and GPT
    "P1": "Self-supervised learning",
    "P2": "BERT input: <cls>/<sep>, token + segment + position embeddings",
    "P3": "Masked LM, next-sentence and sentence-order prediction",
    "P4": "Fine-tuning: sequence, token and pair classification, extractive QA",
    "P5": "Contextual embeddings",
    "P6": "Seq2seq pre-training by corrupting and restoring the input",
    "P7": "GPT: next-token prediction; greedy, temperature and top-k generation",
    "P8": "Multilingual pre-training, cross-lingual transfer",
    "P9": "GLUE-style evaluation",
    "P10": "Frozen contextual features (ELMo/CoVe) vs fine-tuning",
    # N. Generative models
    "N1": "GAN: generator and discriminator trained in turn",
    "N2": "The GAN objective and JS divergence; why JS fails",
    "N3": "WGAN: Wasserstein distance, weight clipping",
    "N4": "WGAN-GP and spectral normalisation",
    "N5": "Evaluating generators: classifier confidence, mode collapse, FID",
    "N6": "Conditional GAN",
    "N7": "CycleGAN",
    "N8": "Auto-encoder: code, reconstruction, denoising, anomaly detection",
    "N9": "Generators output a distribution (noise input z)",
}

# ----------------------------------------------------------------------------- marker parsing

_ID = r"[BGOCARSEPN][0-9]+(?![0-9A-Za-z_])"
# "Notes:" (capital N) or "(notes" as a word
_MARKER = re.compile(r"(?<![A-Za-z])Notes:|\(notes(?![A-Za-z])")
# one item: an ID, or a range of one group (O4–O7, O4-O7), then an optional "(comment)" that
# may hold one level of nested parentheses
_ITEM = re.compile(rf"\s*({_ID})(?:\s*[–-]\s*({_ID}))?(?:\s*\((?:[^()]|\([^()]*\))*\))?")
_SEP = re.compile(r"\s*(?:,|and(?![A-Za-z]))")
_RANGE = rf"{_ID}(?:\s*[–-]\s*{_ID})?"
# a bracket that holds nothing but IDs and ranges: "(S3, S5, A14)", "(A2-A4, A7)"
_BRACKET = re.compile(rf"\(\s*({_RANGE}(?:\s*,\s*{_RANGE})*)\s*\)")
_RANGE_PARTS = re.compile(rf"({_ID})(?:\s*[–-]\s*({_ID}))?")


def _expand(first: str, last: str | None) -> list[str]:
    if last is None:
        return [first]
    lo, hi = int(first[1:]), int(last[1:])
    if first[0] != last[0] or hi < lo:
        return [f"{first}–{last}"]  # not a valid range: reported by unknown_ids
    return [f"{first[0]}{n}" for n in range(lo, hi + 1)]


def marker_ids(text: str) -> list[str]:
    """The concept IDs that ``Notes:`` / ``(notes`` markers in ``text`` name, in order, once each.

    IDs are not checked against :data:`CONCEPTS` here (see :func:`unknown_ids`).

    Example:
        >>> marker_ids("Notes: B4, B8 (minibatch training), B11 (devices, saving), O7.")
        ['B4', 'B8', 'B11', 'O7']
        >>> marker_ids("(notes B5, B6; d2l 4.2) costs O(n); flake8 E402")
        ['B5', 'B6']
        >>> marker_ids("the R2 score")
        []
    """
    found: list[str] = []
    for m in _MARKER.finditer(text):
        pos = m.end()
        while True:
            item = _ITEM.match(text, pos)
            if item is None:
                break
            for cid in _expand(item.group(1), item.group(2)):
                if cid not in found:
                    found.append(cid)
            pos = item.end()
            sep = _SEP.match(text, pos)
            if sep is None:
                break
            pos = sep.end()
    return found


def ids_in_test_doc(text: str) -> list[str]:
    """IDs a test docstring cites: :func:`marker_ids`, then brackets of IDs only, ``(B3, B7)``.

    A bracket counts only when every ID in it is in :data:`CONCEPTS`, so ``(E402)`` is no
    citation (markers are the form whose typos :func:`unknown_ids` catches).

    Example:
        >>> ids_in_test_doc("Losses (B3, B7) vs torch; layers (A2-A4, A7); O(n) (see C3) (E402)")
        ['B3', 'B7', 'A2', 'A3', 'A4', 'A7']
    """
    found = marker_ids(text)
    for m in _BRACKET.finditer(text):
        ids = [cid for part in _RANGE_PARTS.finditer(m.group(1))
               for cid in _expand(part.group(1), part.group(2))]
        if all(cid in CONCEPTS for cid in ids):
            found += [cid for cid in ids if cid not in found]
    return found


# ------------------------------------------------------------------------------ the three sources


def _package_root() -> Path:
    return Path(__file__).resolve().parent


def _repo_root() -> Path:
    # src/deepnotes/concepts.py -> the repository root
    return _package_root().parents[1]


def _module_names() -> list[str]:
    """Every module of the package but ``deepnotes.lessons`` (lessons are the lessons column,
    read from their source; nothing below the CLI imports lessons/) and ``__main__``."""
    names = []

    def walk(path: Path, prefix: str) -> None:
        for info in pkgutil.iter_modules([str(path)]):
            full = f"{prefix}.{info.name}"
            if full == "deepnotes.lessons" or info.name == "__main__":
                continue
            names.append(full)
            if info.ispkg:
                walk(path / info.name, full)

    walk(_package_root(), "deepnotes")
    return ["deepnotes", *sorted(names)]


def cited_in_code() -> dict[str, set[tuple[str, str]]]:
    """Concept ID -> ``(module, name)`` pairs whose docstrings cite it (``name`` is ``""`` for
    the module docstring; modules are named relative to ``deepnotes``)."""
    out: dict[str, set[tuple[str, str]]] = {}

    def cite(doc: str | None, place: tuple[str, str]) -> None:
        for cid in marker_ids(doc or ""):
            out.setdefault(cid, set()).add(place)

    for modname in _module_names():
        if modname == "deepnotes.concepts":
            continue  # this module's docstrings show the marker syntax
        mod = importlib.import_module(modname)
        short = modname.removeprefix("deepnotes.")
        cite(mod.__doc__, (short, ""))
        for attr, obj in sorted(vars(mod).items()):
            if attr.startswith("_") or getattr(obj, "__module__", None) != modname:
                continue
            if inspect.isclass(obj):
                cite(vars(obj).get("__doc__"), (short, attr))  # not a base class's doc
            elif inspect.isfunction(obj):
                cite(obj.__doc__, (short, attr))
    return out


def _name_ids(name: str) -> list[str]:
    """IDs right after ``test_`` in a test name: ``test_s3_s5_beam`` -> ``['S3', 'S5']``."""
    ids = []
    for part in name.split("_")[1:]:
        if not re.fullmatch(r"[bgocarsepn][0-9]+", part):
            break
        ids.append(part.upper())
    return ids


def cited_in_tests(tests_dir: Path | None = None) -> dict[str, set[tuple[str, str]]]:
    """Concept ID -> ``(path, name)`` pairs that cite it: ``path`` relative to ``tests/``,
    ``name`` a test function, ``Class`` or ``Class::test``, or ``""`` for the module docstring."""
    tests_dir = Path(tests_dir) if tests_dir is not None else _repo_root() / "tests"
    if not tests_dir.is_dir():
        raise FileNotFoundError(f"no tests folder at {tests_dir} (run from a source checkout)")
    out: dict[str, set[tuple[str, str]]] = {}

    def cite(ids: list[str], place: tuple[str, str]) -> None:
        for cid in ids:
            out.setdefault(cid, set()).add(place)

    def visit_test(node: ast.FunctionDef | ast.AsyncFunctionDef, place: tuple[str, str]) -> None:
        cite(ids_in_test_doc(ast.get_docstring(node) or "") + _name_ids(node.name), place)

    for path in sorted(tests_dir.rglob("test_*.py")):
        rel = path.relative_to(tests_dir).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        cite(ids_in_test_doc(ast.get_docstring(tree) or ""), (rel, ""))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name.startswith("test"):
                    visit_test(node, (rel, node.name))
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                cite(ids_in_test_doc(ast.get_docstring(node) or ""), (rel, node.name))
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                            sub.name.startswith("test"):
                        visit_test(sub, (rel, f"{node.name}::{sub.name}"))
    return out


def lesson_concepts() -> dict[str, set[str]]:
    """Concept ID -> names of the lessons whose ``CONCEPTS`` name it.

    Read from the lesson modules' source (their ``NAME`` and ``CONCEPTS`` literals) with
    :mod:`ast`, so building the table imports no lesson.
    """
    out: dict[str, set[str]] = {}
    for path in sorted((_package_root() / "lessons").glob("*.py")):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id in ("NAME", "CONCEPTS")):
                values[node.targets[0].id] = ast.literal_eval(node.value)
        if "NAME" in values and "CONCEPTS" in values:
            for cid in values["CONCEPTS"]:  # type: ignore[union-attr]
                out.setdefault(str(cid), set()).add(str(values["NAME"]))
    return out


def unknown_ids(tests_dir: Path | None = None) -> list[str]:
    """IDs that a docstring under ``src/deepnotes`` (by a marker) or ``tests`` (by a marker or
    a bracket of IDs) or a test's name cites, or that a lesson's ``CONCEPTS`` names, not in
    :data:`CONCEPTS`, as ``"ID at place"`` lines (empty: none).

    Docstrings are read with :mod:`ast`, so nested functions and methods count too.
    """
    tests_dir = Path(tests_dir) if tests_dir is not None else _repo_root() / "tests"
    bad = []
    roots = [(_package_root(), _package_root().parent, marker_ids),
             (tests_dir, tests_dir.parent, ids_in_test_doc)]
    for root, base, cited in roots:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                         ast.AsyncFunctionDef)):
                    continue
                ids = cited(ast.get_docstring(node, clean=False) or "")
                if cited is ids_in_test_doc and not isinstance(node, ast.Module) and \
                        node.name.startswith("test"):
                    ids += _name_ids(node.name)
                for cid in ids:
                    if cid not in CONCEPTS:
                        line = getattr(node, "lineno", 1)
                        bad.append(f"{cid} at {path.relative_to(base).as_posix()}:{line}")
    for cid, names in sorted(lesson_concepts().items()):
        if cid not in CONCEPTS:
            bad.append(f"{cid} in CONCEPTS of lesson(s) {', '.join(sorted(names))}")
    return bad


# --------------------------------------------------------------------------------- table, output


@dataclass
class ConceptRow:
    """One row of the table: a concept and where it lives."""

    cid: str
    title: str
    code: list[tuple[str, str]] = field(default_factory=list)  # (module, name or "")
    tests: list[tuple[str, str]] = field(default_factory=list)  # (path, test name or "")
    lessons: list[str] = field(default_factory=list)  # lesson names


def build_table(tests_dir: Path | None = None) -> list[ConceptRow]:
    """Every concept of :data:`CONCEPTS`, in order, with its code, tests and lessons (sorted)."""
    code, tests, shown = cited_in_code(), cited_in_tests(tests_dir), lesson_concepts()
    return [
        ConceptRow(cid, title, sorted(code.get(cid, ())), sorted(tests.get(cid, ())),
                   sorted(shown.get(cid, ())))
        for cid, title in CONCEPTS.items()
    ]




def _cell(places: list[tuple[str, str]]) -> str:
    """``[("nn.recurrent", ""), ("nn.recurrent", "GRU")]`` -> "`nn.recurrent` (`GRU`)"."""
    if not places:
        return "—"
    groups: dict[str, list[str]] = {}
    for where, name in places:
        members = groups.setdefault(where, [])
        if name:
            members.append(name)
    cells = []
    for where in sorted(groups):
        listed = ", ".join(f"`{m}`" for m in sorted(groups[where]))
        cells.append(f"`{where}`" + (f" ({listed})" if listed else ""))
    return "<br>".join(cells)


def _count(rows: list[ConceptRow], what: str) -> str:
    n = sum(1 for r in rows if getattr(r, what))
    return f"{n} of {len(rows)}"


_COMMAND = "python -m deepnotes.concepts > docs/concepts.md"


def render_markdown(rows: list[ConceptRow]) -> str:
    """``docs/concepts.md``: an introduction, the counts, then one table per concept group."""
    lines = [
        "# Concepts: code, tests and lessons",
        "",
        "<!-- Generated by deepnotes.concepts; do not edit. Regenerate with:",
        f"     {_COMMAND}   (or: make concepts) -->",
        "",
        "Every concept of the notes by its stable ID, with the code that implements it, the tests",
        "that check it and the lessons that show it. This file is generated from the docstrings",
        f"and lesson registry by `{_COMMAND}` (or `make concepts`);",
        "`tests/test_concepts.py` fails when it differs from a fresh run, so it cannot go stale.",
        "",
        "A docstring cites concepts with a marker, `Notes: B3, B7 (a comment), O4–O7.` or",
        "`(notes B3, B7; ...)`: IDs separated by commas, each with an optional comment in",
        "brackets, `O4–O7` a range; the list ends at the first word that is not an ID.",
        "",
        "- **code**: modules of `deepnotes` (names relative to it); in brackets, the public",
        "  functions and classes defined there whose docstrings cite the concept; a module on its",
        "  own is cited by its module docstring. Lesson modules are the lessons column.",
        "- **tests**: files under `tests/`; in brackets, the `Test*` classes and `test_*`",
        "  functions that cite the concept. A test docstring (module, class or function) cites by",
        "  a marker or by a bracket of IDs only, `Losses (B3, B7) against torch`; a test name by",
        "  starting with the ID, `test_s4_bleu_...`. A file on its own is cited by its module",
        "  docstring.",
        "- **lessons**: lessons whose `CONCEPTS` name the concept (`deepnotes run NAME`).",
        "",
        "\"—\" marks work still open.",
        "",
        f"Concepts with code: {_count(rows, 'code')}; with tests: {_count(rows, 'tests')}; "
        f"shown by a lesson: {_count(rows, 'lessons')}.",
    ]
    for letter, heading in GROUPS.items():
        lines += ["", f"## {letter}. {heading}", "",
                  "| ID | concept | code | tests | lessons |", "|---|---|---|---|---|"]
        for r in rows:
            if r.cid[0] != letter:
                continue
            shown = ", ".join(f"`{n}`" for n in r.lessons) or "—"
            title = r.title.replace("<", "&lt;").replace(">", "&gt;")  # <bos> is not HTML
            lines.append(f"| {r.cid} | {title} | {_cell(r.code)} | {_cell(r.tests)} | "
                         f"{shown} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import sys

    sys.stdout.write(render_markdown(build_table()))


if __name__ == "__main__":
    main()
