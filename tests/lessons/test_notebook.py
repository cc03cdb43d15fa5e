"""Lessons as Jupyter notebooks (``deepnotes notebook``): built from the lesson's own parts,
valid nbformat for every lesson, and executed on a local kernel to the CLI's numbers."""

import importlib.util
import json
import math
import subprocess
import sys
import textwrap

import pytest

from deepnotes import lessons
from deepnotes.concepts import cited_in_code
from deepnotes.lessons.notebook import (build_notebook, concept_sources, config_fields,
                                       split_run, write_notebook)

nbformat = pytest.importorskip("nbformat")


def _module(tmp_path, source, name="fake_lesson"):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[name] = mod  # as a registered lesson module is (the import cell needs it)
    return mod


def _code(nb):
    return [c["source"] for c in nb["cells"] if c["cell_type"] == "code"]


def test_split_run_cells_imports_and_result(tmp_path):
    mod = _module(tmp_path, '''
        import math
        import os
        from pathlib import Path

        SCALE = 3


        def _double(x):
            return 2 * x


        def run(cfg, out):
            """Docstring: not a cell."""
            a = _double(cfg) * SCALE
            # the second step
            b = math.sqrt(a)

            def inner(v):
                return v + 1  # a nested return is the nested function's own

            return {"a": a,
                    "b": inner(b)}
        ''')
    steps = split_run(mod)
    assert steps.params == ("cfg", "out")
    # only the names the body uses are imported, from where the module imports them
    assert steps.imports == ["import math", "from fake_lesson import SCALE, _double"]
    assert steps.cells[0] == "a = _double(cfg) * SCALE\n# the second step\nb = math.sqrt(a)"
    assert steps.cells[-1].endswith('result = {"a": a,\n          "b": inner(b)}')
    ns = {"cfg": 2, "out": None}
    exec("\n".join(steps.imports + steps.cells), ns)  # the cells run as top-level code
    assert ns["result"] == {"a": 12, "b": math.sqrt(12) + 1}


@pytest.mark.parametrize("body, why", [
    ("    if cfg:\n        return 1\n    return 2\n", "returns early"),
    ("    x = 0\n    def f():\n        nonlocal x\n        x = 1\n    f()\n    return x\n",
     "rebinds a variable"),
    ("    print(cfg)\n", "does not end with `return"),
])
def test_split_run_refuses_bodies_that_cannot_be_cells(tmp_path, body, why):
    mod = _module(tmp_path, "def run(cfg, out_dir):\n" + body, name=f"bad_{abs(hash(body))}")
    with pytest.raises(ValueError, match=why):
        split_run(mod)


def test_config_fields_show_defaults_quick_values_and_comments():
    rows = {r["name"]: r for r in config_fields(lessons.get("mlp").config_class)}
    assert rows["epochs"]["default"] == "15" and rows["epochs"]["quick"] == "3"
    assert rows["epochs"]["meaning"] == "passes over the training images"
    assert rows["lr"]["quick"] == ""  # no quick value: the default serves both
    assert rows["seed"]["meaning"].startswith("seeds initial weights")  # from LessonConfig


def test_concept_sources_prefer_what_the_lesson_uses():
    src = concept_sources(lessons.get("linear-regression"))
    assert set(src) == set(lessons.get("linear-regression").concepts)
    shown = [q for pairs in src.values() for q, _ in pairs]
    assert any(q.startswith("deepnotes.models.linear.") for q in shown), shown
    for pairs in src.values():
        for _, excerpt in pairs:
            assert "Example:" not in excerpt and "Args:" not in excerpt


def test_every_lesson_gets_a_valid_notebook(tmp_path):
    """The registry-wide check: every lesson's notebook builds, is valid nbformat 4, and every
    code cell compiles."""
    index = cited_in_code()
    for name in lessons.names():
        nb = nbformat.from_dict(build_notebook(lessons.get(name), index=index))
        nbformat.validate(nb)
        for src in _code(nb):
            compile(src, f"<{name}>", "exec")
        assert nb.cells[-1].source.startswith("result.metrics")
    path = write_notebook(lessons.get("mlp"), tmp_path / "nb", index=index)
    assert path.name == "mlp.ipynb"
    assert json.loads(path.read_text())["metadata"]["deepnotes"]["steps"] is True


def test_cli_writes_one_or_all_notebooks_and_refuses_neither(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "deepnotes.cli", "notebook", *args],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300)

    p = cli("k-fold", "--out", "nb")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "nb" / "k-fold.ipynb").exists()
    p = cli()
    assert p.returncode == 2 and "name one lesson" in p.stderr and "Traceback" not in p.stderr
    p = cli("k-fol")
    assert p.returncode == 2 and "k-fold" in p.stderr


def _timing(key):
    return any(w in key for w in ("second", "time"))


@pytest.mark.parametrize("lesson", ["linear-regression", "text-preprocessing"])
def test_executed_notebook_reproduces_the_cli_quick_run(tmp_path, lesson):
    """Run the generated notebook cell by cell on a local ipykernel; its last cell's metrics
    equal ``deepnotes run LESSON --quick`` with the same seed (timings aside)."""
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = write_notebook(lessons.get(lesson), tmp_path)
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["deepnotes"]["steps"]  # the run body was split into cells
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
    shown = nb.cells[-2].outputs  # show(result): markdown with the claim, then figures
    assert any("text/markdown" in o.get("data", {}) for o in shown)
    text = nb.cells[-1].outputs[0]["data"]["text/plain"]
    got = eval(text, {"__builtins__": {}}, {"nan": math.nan, "inf": math.inf})

    out = tmp_path / "cli"
    p = subprocess.run([sys.executable, "-m", "deepnotes.cli", "run", lesson, "--quick",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    want = json.loads((out / "summary.json").read_text())["metrics"]
    assert set(got) == set(want)
    same = {k: got[k] for k in got if not _timing(k)}
    assert same == {k: want[k] for k in same}


def test_docstring_formulas_become_notebook_maths():
    import doctest

    import deepnotes.lessons.notebook as mod
    from deepnotes.lessons.notebook import rst_to_markdown

    assert doctest.testmod(mod).failed == 0
    md = rst_to_markdown("SGD.\n\n.. math::\n    b_t &= \\mu b_{t-1} + g_t \\\\\n"
                         "    w_t &= w_{t-1} - \\eta b_t\n\nDone :func:`~torch.optim.SGD`.")
    assert md == ("SGD.\n\n$$\n\\begin{aligned}\nb_t &= \\mu b_{t-1} + g_t \\\\\n"
                  "w_t &= w_{t-1} - \\eta b_t\n\\end{aligned}\n$$\n\nDone `torch.optim.SGD`.")
