"""Every lesson as a Jupyter notebook, generated from the lesson itself (``deepnotes notebook``).

A lesson already has the parts a notebook needs: a module docstring (the title and the notes'
claim), concept IDs, a ``Config`` dataclass with a comment per field and quick-mode values, a
``run(cfg, out_dir)`` function and a :class:`~deepnotes.lessons.base.LessonResult`.
:func:`build_notebook` turns them into cells, so a new lesson gets its notebook with no extra
work:

1. the title, the claim and the command-line equivalent (markdown);
2. each concept ID with its title and the formula docstrings of the library functions that
   implement it, those the lesson itself uses first (:func:`concept_sources`);
3. a table of the config's fields (default, quick value, meaning) and a cell that builds the
   config — quick by default, one line to switch to the full run — then seeds every generator;
4. the steps: the body of ``run`` split at its blank lines, one paragraph per cell, after the
   imports it needs (:func:`split_run`); its final ``return`` becomes ``result = ...``. Each
   cell calls the library; nothing of the library's code is copied. A ``run`` that cannot be
   split this way (a ``return`` inside a loop, a ``nonlocal``, ...) gets one honest cell,
   ``result = lesson.run(cfg, out_dir)``, and the notebook says why;
5. the result: the claim, the numbers, the tables and the figures inline (:func:`show`), and
   last ``result.metrics``, the numbers the lesson's test asserts its claim on.

Because the steps run in the same order after the same seeding as :meth:`Lesson.run
<deepnotes.lessons.base.Lesson.run>`, a notebook's final metrics equal ``deepnotes run LESSON
--quick`` with the same seed (the test suite checks this by executing notebooks).

The notebook is nbformat 4.5 JSON written without any Jupyter package; open it in Jupyter or
VS Code.

Example:
    >>> from deepnotes import lessons
    >>> nb = build_notebook(lessons.get("mlp"))
    >>> nb["nbformat"], nb["cells"][0]["cell_type"]
    (4, 'markdown')
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import io
import json
import re
import textwrap
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

__all__ = ["Steps", "build_notebook", "concept_sources", "config_fields", "rst_to_markdown",
           "show", "split_run", "start", "write_notebook"]

# docstring sections after the formula: the excerpt shown for a concept stops at the first one
_SECTIONS = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Yields|Raises|Shape|Example|"
                       r"Examples|Attributes|Note|Notes on use|References)\s*:\s*$")
_MAX_EXCERPT_LINES = 14
_MAX_OBJECTS_PER_CONCEPT = 3
_CELL_LINES = 16  # a longer paragraph of run's body is split between statements


# ----------------------------------------------------------------------------- the run's steps

@dataclass
class Steps:
    """The body of a lesson's ``run`` as notebook cells.

    Attributes:
        params: the names of ``run``'s two parameters (the config, the output folder).
        imports: import lines that bind every module-level name the body uses.
        cells: the body's paragraphs (split at blank lines between top-level statements),
            dedented; the last ends with ``result = ...`` instead of ``return ...``.
    """

    params: tuple[str, str]
    imports: list[str]
    cells: list[str] = field(default_factory=list)


class _Unsplittable(Exception):
    """Why a run function stays one cell."""


def _module_of(lesson: Any) -> ModuleType:
    return importlib.import_module(lesson.run_fn.__module__)


def _own_nodes(nodes: Iterable[ast.AST]) -> Iterable[ast.AST]:
    """Every node under ``nodes`` that belongs to this function's own scope (nested function
    and class bodies are left out; their ``return`` is theirs)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _check_splittable(fn: ast.FunctionDef, body: list[ast.stmt]) -> None:
    args = fn.args
    if args.vararg or args.kwarg or args.kwonlyargs or len(args.posonlyargs + args.args) != 2:
        raise _Unsplittable("its run function does not take exactly (cfg, out_dir)")
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        raise _Unsplittable("its run function does not end with `return <result>`")
    for node in _own_nodes(body[:-1]):
        if isinstance(node, ast.Return):
            raise _Unsplittable(f"its run function returns early (line {node.lineno})")
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            raise _Unsplittable("its run function is a generator or coroutine")
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, (ast.Nonlocal, ast.Global)):
            raise _Unsplittable(f"it rebinds a variable of run from a nested function "
                                f"(line {node.lineno})")


def _import_lines(tree: ast.Module, module: ModuleType, used: set[str]) -> list[str]:
    """Import statements binding the ``used`` names: the lesson module's own top-level imports
    (trimmed to what is used), then ``from <lesson module> import ...`` for the rest."""
    lines, bound = [], set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used]
            if names:
                lines.append("import " + ", ".join(
                    a.name + (f" as {a.asname}" if a.asname else "") for a in names))
                bound.update(a.asname or a.name.split(".")[0] for a in names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            names = [a for a in node.names if (a.asname or a.name) in used]
            if names:
                lines.append(f"from {node.module} import " + ", ".join(
                    a.name + (f" as {a.asname}" if a.asname else "") for a in names))
                bound.update(a.asname or a.name for a in names)
    rest = sorted(n for n in used - bound if n in vars(module))
    if rest:
        lines.append(f"from {module.__name__} import " + ", ".join(rest))
    return lines


def split_run(module: ModuleType) -> Steps:
    """The lesson module's ``run`` body as :class:`Steps`.

    Raises ``ValueError`` with the reason when the body cannot run as top-level cells (an early
    ``return``, a generator, ``nonlocal``/``global``, a signature other than ``(cfg, out_dir)``).
    """
    source = inspect.getsource(module)
    tree = ast.parse(source)
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"]
    try:
        if not fns:
            raise _Unsplittable("its run function is not a plain `def run` in the module")
        fn = fns[0]
        body = list(fn.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]  # the docstring
        _check_splittable(fn, body)
    except _Unsplittable as e:
        raise ValueError(str(e)) from None
    params = (fn.args.posonlyargs + fn.args.args)
    param_names = (params[0].arg, params[1].arg)

    lines = source.splitlines()

    def first_line(stmt: ast.stmt) -> int:
        decos = getattr(stmt, "decorator_list", [])
        return min([stmt.lineno] + [d.lineno for d in decos])

    spans = [(first_line(s), s.end_lineno or s.lineno) for s in body]
    start = spans[0][0]
    while start - 1 > fn.lineno and lines[start - 2].strip().startswith("#"):
        start -= 1  # comment lines right above the first statement belong to it
    indent = re.match(r"\s*", lines[spans[0][0] - 1]).group(0)
    ret_line = spans[-1][0]

    # one unit per top-level statement, with the comment lines above it; a blank line before
    # it starts a new cell, and so does a long cell (> _CELL_LINES) or a comment heading
    paragraphs: list[list[str]] = [[]]
    prev_end = start - 1
    for stmt, (a, b) in zip(body, spans):
        gap = [lines[no - 1] for no in range(prev_end + 1, a)]
        blank = any(not t.strip() for t in gap)
        comment = [t for t in gap if t.strip()]
        unit = []
        for no, text in [(None, t) for t in comment] + [(n, lines[n - 1])
                                                         for n in range(a, b + 1)]:
            text = text[len(indent):] if text.startswith(indent) else text
            if no == ret_line:
                text = re.sub(r"^return\b\s*", "result = ", text, count=1)
            elif no is not None and no > ret_line:  # keep continuation lines aligned
                text = "  " + text
            unit.append(text)
        cur = paragraphs[-1]
        if cur and (blank or len(cur) + len(unit) > _CELL_LINES
                    or (comment and len(cur) >= 3)):
            paragraphs.append([])
        paragraphs[-1].extend(unit)
        prev_end = b
    cells = ["\n".join(p).rstrip() for p in paragraphs if p]
    try:
        compile("\n".join(cells), f"<{module.__name__}.run>", "exec")
    except SyntaxError as e:
        raise ValueError(f"its run body does not compile as top-level code ({e.msg})") from None

    used = {n.id for s in body for n in ast.walk(s) if isinstance(n, ast.Name)}
    used -= set(param_names)
    return Steps(param_names, _import_lines(tree, module, used), cells)


# ------------------------------------------------------------------------------- the config

def _field_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment at the end of its line, for ``cls`` and its dataclass bases."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass.__module__ == "builtins":
            continue
        try:
            src = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        comments = {tok.start[0]: tok.string.lstrip("# ").strip()
                    for tok in tokenize.generate_tokens(io.StringIO(src).readline)
                    if tok.type == tokenize.COMMENT}
        for node in ast.parse(src).body[0].body:  # type: ignore[attr-defined]
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                line = node.end_lineno or node.lineno
                if line in comments:
                    out[node.target.id] = comments[line]
    return out


def config_fields(cfg_cls: type) -> list[dict[str, str]]:
    """One row per config field: ``name``, ``default``, ``quick`` (the quick-mode value when
    it differs) and ``meaning`` (the field's comment)."""
    quick = getattr(cfg_cls, "QUICK", {}) or {}
    comments = _field_comments(cfg_cls)
    rows = []
    for f in dataclasses.fields(cfg_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = "(required)"
        rows.append({"name": f.name, "default": repr(default),
                     "quick": repr(quick[f.name]) if f.name in quick else "",
                     "meaning": comments.get(f.name, "")})
    return rows


# ------------------------------------------------------------------------------- the concepts

def _docstring_excerpt(obj: Any) -> str:
    """The summary and formula part of ``obj``'s docstring: up to its first section header
    (``Args:``, ``Shape:``, ``Example:`` ...), at most a screenful."""
    doc = inspect.getdoc(obj) or ""
    out = []
    for line in doc.splitlines():
        if _SECTIONS.match(line):
            break
        out.append(line)
    text = "\n".join(out).strip()
    kept = text.splitlines()
    if len(kept) > _MAX_EXCERPT_LINES:
        text = "\n".join(kept[:_MAX_EXCERPT_LINES]) + "\n..."
    return text


def rst_to_markdown(text: str) -> str:
    r"""A docstring excerpt as notebook markdown: ``.. math::`` blocks become ``$$ ... $$``
    display maths (an aligned block when it has ``&`` or ``\\``), ``:math:`x``` becomes
    ``$x$``, double-backtick literals and ``:func:``-style roles become code.

    Example:
        >>> print(rst_to_markdown(".. math::\n    y = w x + b\n\nwith :math:`w` the ``weight``."))
        $$
        y = w x + b
        $$
        <BLANKLINE>
        with $w$ the `weight`.
    """
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        head = re.match(r"^(\s*)\.\. math::\s*(.*)$", line)
        if not head:
            out.append(line)
            i += 1
            continue
        block = [head.group(2)] if head.group(2) else []
        i += 1
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip())
                                  > len(head.group(1))):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        body = "\n".join(t for t in textwrap.dedent("\n".join(block)).splitlines() if t.strip())
        if "&" in body or "\\\\" in body:
            body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
        out += ["$$", body, "$$", ""]
    md = "\n".join(out).strip()
    md = re.sub(r":math:`([^`]+)`", r"$\1$", md)
    md = re.sub(r":(?:func|class|meth|mod|attr|data|obj):`~?\.?([^`]+)`", r"`\1`", md)
    return re.sub(r"``([^`]+)``", r"`\1`", md)


def _used_modules(module: ModuleType) -> tuple[set[str], set[str]]:
    """(qualified names imported by the lesson module, modules those come from or whose
    registered models it creates by name)."""
    tree = ast.parse(inspect.getsource(module))
    objects, modules = set(), set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("deepnotes"):
            for a in node.names:
                obj = getattr(module, a.asname or a.name, None)
                if inspect.ismodule(obj):
                    modules.add(obj.__name__)
                elif obj is not None:
                    objects.add(f"{getattr(obj, '__module__', node.module)}."
                                f"{getattr(obj, '__qualname__', a.name)}")
                    modules.add(getattr(obj, "__module__", node.module))
    from deepnotes.models import MODELS

    for node in ast.walk(tree):  # create("lenet", ...) -> the lenet model's module
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "create" \
                and node.args and isinstance(node.args[0], ast.Constant):
            try:
                modules.add(MODELS.get(node.args[0].value).__module__)
            except Exception:  # a name built at run time or unknown: nothing to add
                pass
    return objects, modules


def concept_sources(lesson: Any, index: dict[str, set[tuple[str, str]]] | None = None
                    ) -> dict[str, list[tuple[str, str]]]:
    """Concept ID -> ``[(qualified name, docstring excerpt), ...]`` for the lesson's concepts.

    The candidates are the functions and classes whose docstrings cite the concept
    (:func:`deepnotes.concepts.cited_in_code`, pass it as ``index`` to reuse it); those the
    lesson imports come first, then those in modules it uses, then the rest, at most three.
    """
    from deepnotes.concepts import cited_in_code

    index = cited_in_code() if index is None else index
    objects, modules = _used_modules(_module_of(lesson))
    out: dict[str, list[tuple[str, str]]] = {}
    for cid in lesson.concepts:
        places = [(f"deepnotes.{m}", name) for m, name in index.get(cid, ()) if name]

        def rank(place: tuple[str, str]) -> tuple[int, str, str]:
            qual = f"{place[0]}.{place[1]}"
            return (0 if qual in objects else 1 if place[0] in modules else 2, *place)

        ranked = sorted(places, key=rank)
        used = [p for p in ranked if rank(p)[0] < 2]
        chosen = []  # what the lesson uses (up to three), else the first documented one
        for mod, name in (used or ranked[:1])[:_MAX_OBJECTS_PER_CONCEPT]:
            obj = getattr(importlib.import_module(mod), name)
            chosen.append((f"{mod}.{name}", _docstring_excerpt(obj)))
        out[cid] = chosen
    return out


# ------------------------------------------------------------------------------- the notebook

def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return ""
    columns = columns or list(rows[0])
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "\n".join("| " + " | ".join(_md_escape(_fmt(r.get(c, ""))) for c in columns)
                            + " |" for r in rows)


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _cell(kind: str, source: str, n: int, name: str) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": f"{name}-{n}"[:64], "metadata": {},
                            "source": source.strip("\n")}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def build_notebook(lesson: Any, *, index: dict[str, set[tuple[str, str]]] | None = None
                   ) -> dict[str, Any]:
    """The notebook of ``lesson`` (a registered :class:`~deepnotes.lessons.base.Lesson`) as
    nbformat 4.5 JSON (a dict): see the module docstring for its cells."""
    from deepnotes.concepts import CONCEPTS

    module = _module_of(lesson)
    cid = re.sub(r"[^A-Za-z0-9_-]", "-", lesson.name)
    cells: list[dict[str, Any]] = []

    def add(kind: str, text: str) -> None:
        cells.append(_cell(kind, text, len(cells), cid))

    doc = inspect.getdoc(module) or lesson.summary
    title, _, claim = doc.partition("\n\n")
    add("markdown", f"# `{lesson.name}`: {' '.join(title.split())}\n\n{claim.strip()}\n\n"
                    f"The same run from the command line: `deepnotes run {lesson.name} --quick` "
                    f"(quick) or `deepnotes run {lesson.name}` (full). This notebook was "
                    f"generated from the lesson's code by `deepnotes notebook {lesson.name}`.")

    sources = concept_sources(lesson, index)
    parts = ["## Concepts\n"]
    for c in lesson.concepts:
        parts.append(f"**{c}** — {CONCEPTS.get(c, '(not in CONCEPTS.md)')}\n")
        for qual, excerpt in sources.get(c, []):
            parts.append(f"`{qual}`\n\n{rst_to_markdown(excerpt)}\n")
    add("markdown", "\n".join(parts))

    add("code", "from pathlib import Path\n\nfrom deepnotes import lessons\n"
                "from deepnotes.lessons.notebook import show, start\n\n"
                f"lesson = lessons.get({lesson.name!r})")

    rows = config_fields(lesson.config_class)
    add("markdown", "## Config\n\nEvery field, its default (the full run), its quick-mode value "
                    "where that differs, and what it means. Change any of them in the next "
                    "cell, e.g. `lesson.configure(quick=QUICK, seed=1)`.\n\n" + _md_table(rows))

    try:
        steps: Steps | None = split_run(module)
        reason = ""
    except ValueError as e:
        steps, reason = None, str(e)
    out_name = steps.params[1] if steps else "out_dir"
    cfg_name = steps.params[0] if steps else "cfg"
    add("code", "QUICK = True  # True: the seconds-long version the tests run; "
                "False: the full run (minutes)\n"
                f"{cfg_name} = lesson.configure(quick=QUICK, seed=0)\n"
                f"{out_name} = Path('runs') / 'notebooks' / {lesson.name!r}"
                "  # figures, tables and checkpoints go here\n"
                f"start({cfg_name}, {out_name})  # seed every generator, set the thread count\n"
                f"{cfg_name}")

    if steps is not None:
        add("markdown", f"## Steps\n\nThe body of the lesson's `run` function "
                        f"(`{module.__name__}`), one paragraph per cell. Each cell calls the "
                        f"library; run them in order, or change something and re-run from there.")
        add("code", "\n".join(steps.imports))
        for text in steps.cells:
            add("code", text)
    else:
        add("markdown", f"## Run\n\nThis lesson runs as one cell: {reason}. Its steps are in "
                        f"`{module.__name__}.run`.")
        add("code", f"result = lesson.run({cfg_name}, {out_name})")

    add("markdown", "## Result\n\nThe claim, the numbers, the tables and the figures.")
    add("code", "show(result)")
    add("code", "result.metrics  # the numbers the lesson's test asserts its claim on")
    return {"cells": cells, "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python",
                               "name": "python3"},
                "language_info": {"name": "python"},
                "deepnotes": {"lesson": lesson.name, "steps": steps is not None}},
            "nbformat": 4, "nbformat_minor": 5}


def write_notebook(lesson: Any, out_dir: str | Path, *,
                   index: dict[str, set[tuple[str, str]]] | None = None) -> Path:
    """Write ``<out_dir>/<lesson name>.ipynb`` and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{lesson.name}.ipynb"
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(json.dumps(build_notebook(lesson, index=index), indent=1,
                              ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------ used inside the notebooks

def start(cfg: Any, out_dir: str | Path) -> None:
    """What :meth:`Lesson.run <deepnotes.lessons.base.Lesson.run>` does before a lesson's
    code: create the output folder, seed every generator with ``cfg.seed``, and set
    ``cfg.threads`` torch threads when it is above 0 (for the rest of the session)."""
    import torch

    from deepnotes.runtime import seed_everything

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    threads = int(getattr(cfg, "threads", 0))
    if threads > 0:
        torch.set_num_threads(threads)
    seed_everything(int(getattr(cfg, "seed", 0)))


def show(result: Any, *, max_rows: int = 40) -> None:
    """Show a :class:`LessonResult` in a notebook: the claim, the metrics, every table (first
    ``max_rows`` rows) and the figures; outside IPython the same as text."""
    parts = [f"**Claim:** {result.claim}" if result.claim else "",
             _md_table([{"metric": k, "value": v} for k, v in result.metrics.items()])]
    for name, rows in result.tables.items():
        more = f"\n\n({len(rows) - max_rows} more rows)" if len(rows) > max_rows else ""
        parts.append(f"**{name}**\n\n" + _md_table(list(rows[:max_rows])) + more)
    try:
        from IPython.display import Image, Markdown, display
    except ImportError:  # plain Python: print the same
        print("\n\n".join(p for p in parts if p))
        for path in result.figures:
            print(f"figure: {path}")
        return
    display(Markdown("\n\n".join(p for p in parts if p)))
    for path in result.figures:
        if str(path).lower().endswith(".png") and Path(path).exists():
            display(Image(filename=str(path)))
