"""Checkpoints as one ``checkpoint.safetensors`` file (+ a readable ``checkpoint.json`` copy):
no pickle, written atomically.

Layout of one checkpoint (``path`` is a directory, or a base path such as ``runs/a/best``)::

    checkpoint.safetensors   tensors:
                               model.<key>                 model state_dict tensors
                               optim.state.<idx>.<key>     optimizer per-parameter tensor state
                               sched.<...>                 scheduler tensors (rare)
                               rng.torch, rng.cuda.<i>     torch CPU / CUDA generator states
                             header metadata:
                               meta            JSON: optimizer param_groups and non-tensor
                                               state, scheduler state_dict, trainer state
                                               (epoch, step, history), model_info, NumPy and
                                               Python RNG states, versions, a save id
                               meta_sha256     SHA-256 of ``meta``
                               tensors_sha256  SHA-256 of every tensor's bytes (key order)
    checkpoint.json          a readable copy of ``meta`` (with its save id and hash)

Everything a load needs is inside the ``.safetensors`` file, which is written to a temporary
file in the same directory, flushed to disk and moved into place with one ``os.replace``: a
crash at any moment leaves either the previous checkpoint or the new one, never a mixture. The
JSON copy is written after it; a copy from an earlier save (a crash between the two moves) is
recognised by its save id and ignored, while a copy edited by hand (same save id, other
content) is an error, since it would no longer describe the checkpoint. Temporary files that a
killed save left behind are removed by the next save into that directory. Loading reads only
safetensors and JSON (never ``torch.load``/pickle); checkpoints of the earlier two-file format
(version 1: metadata in the JSON, the file's hash in it) still load.

Notes: B11 (saving and loading parameters).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from deepnotes.errors import CheckpointError
from deepnotes.runtime import is_main_process

FORMAT = "deepnotes-checkpoint"
VERSION = 2
_SUFFIXES = (".safetensors", ".json")
_MAX_NAMED = 5  # keys named in one error message


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``(tensors_file, json_file)`` for a checkpoint ``path``.

    An existing directory holds ``checkpoint.safetensors``/``checkpoint.json``; a path ending in
    ``.safetensors`` or ``.json`` names one file of the pair; any other path is a base path that
    gets the two suffixes (``runs/a/best`` -> ``runs/a/best.safetensors`` + ``runs/a/best.json``).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint"
    elif p.suffix in _SUFFIXES:
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


# ----------------------------------------------------------------------------- encoding
def _encode(obj: Any, name: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-safe copy of ``obj``; tensors go to ``tensors[name]`` and leave a marker behind."""
    if isinstance(obj, torch.Tensor):
        tensors[name] = obj
        return {"__tensor__": name}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, f"{name}.{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[_encode(k, f"{name}.key", tensors), _encode(v, f"{name}.{k}", tensors)]
                              for k, v in obj.items()]}
    raise CheckpointError(
        f"cannot store a {type(obj).__name__} at {name!r} in a checkpoint; only tensors, numbers, "
        f"strings, None, lists, tuples and dicts can be saved without pickle"
    )


def _decode(obj: Any, tensors: dict[str, torch.Tensor] | None) -> Any:
    """Inverse of :func:`_encode` (``tensors=None``: tensors read as None, for a JSON-only peek)."""
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            name = obj["__tensor__"]
            if tensors is None:
                return None
            if name not in tensors:
                raise CheckpointError(f"checkpoint tensor {name!r} named in the JSON is missing from "
                                      f"the .safetensors file; the checkpoint is incomplete")
            return tensors[name]
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
        return {k: _decode(v, tensors) for k, v in obj.items()}
    return obj


def _plain_tensors(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors under ``prefix.key``; storage shared between keys is copied."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in state.items():
        t = value.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen:  # tied weights/views: safetensors refuses shared storage
            t = t.clone()
        seen.add(ptr)
        out[f"{prefix}{key}"] = t
    return out


# ----------------------------------------------------------------------------- RNG
def get_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, json_part)`` holding the torch CPU/CUDA, NumPy and Python RNG states."""
    tensors = {"rng.torch": torch.get_rng_state()}
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for i in range(n_cuda):
        tensors[f"rng.cuda.{i}"] = torch.cuda.get_rng_state(i)
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    json_part = {
        "cuda_devices": n_cuda,
        "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss_next],
    }
    return tensors, json_part


def set_rng_state(tensors: dict[str, torch.Tensor], json_part: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured (CUDA states only for devices present)."""
    torch.set_rng_state(tensors["rng.torch"].cpu())
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for i in range(min(n_cuda, int(json_part.get("cuda_devices", 0)))):
        torch.cuda.set_rng_state(tensors[f"rng.cuda.{i}"].cpu(), i)
    kind, keys, pos, has_gauss, cached = json_part["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = json_part["python"]
    random.setstate((version, tuple(internal), gauss_next))


# ----------------------------------------------------------------------------- save
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import safetensors

    from deepnotes import __version__

    return {"deepnotes": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def _temp_in(directory: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, trainer_state: dict[str, Any] | None = None,
                    model_info: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and optimizer, scheduler, RNG and trainer state) as a checkpoint pair.

    Args:
        path: directory, base path, or either file name of the pair (see :func:`checkpoint_paths`).
        model: its ``state_dict()`` is stored under ``model.<key>``.
        optimizer: any ``torch.optim.Optimizer`` (default: None, not stored).
        scheduler: anything with ``state_dict()`` (default: None).
        trainer_state: JSON-able dict (tensors allowed) such as epoch, step and history rows.
        model_info: JSON dict that rebuilds the model, e.g. ``{"name": "mlp", "config": {...}}``.

    Returns:
        The path of the ``.safetensors`` file.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> save_checkpoint(d, nn.Linear(2, 1)).name
        'checkpoint.safetensors'

    Notes: B11.
    """
    st_path, json_path = checkpoint_paths(path)
    if not is_main_process():  # under torchrun only rank 0 writes (the ranks hold equal weights)
        return st_path
    st_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = _plain_tensors(model.state_dict(), "model.")
    rng_tensors, rng_json = get_rng_state()
    tensors.update(rng_tensors)
    extra: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "tensors_file": st_path.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(),
        "model_info": model_info,
        "optimizer": _encode(optimizer.state_dict(), "optim", extra) if optimizer is not None else None,
        "scheduler": _encode(scheduler.state_dict(), "sched", extra) if scheduler is not None else None,
        # class names: torch's and our optimizers of one kind share state names, so only the
        # kind is checked at load time (SGD state would silently misfeed Adam)
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
        "scheduler_class": type(scheduler).__name__ if scheduler is not None else None,
        "trainer_state": _encode(trainer_state, "trainer", extra) if trainer_state is not None else None,
        "rng": rng_json,
    }
    tensors.update(_plain_tensors(extra, ""))
    try:
        json.dumps(model_info)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"model_info must be plain JSON (dicts, lists, numbers, strings): {exc}") from exc

    meta["save_id"] = uuid.uuid4().hex
    meta_text = json.dumps(meta, sort_keys=True)
    header = {"format": FORMAT, "version": str(VERSION), "meta": meta_text,
              "meta_sha256": _text_sha256(meta_text), "tensors_sha256": _tensors_sha256(tensors)}
    copy = {**json.loads(meta_text), "meta_sha256": header["meta_sha256"],
            "note": f"a readable copy of the metadata inside {st_path.name}"}

    _remove_stale_temporaries(st_path.parent, (st_path.name, json_path.name))
    tmp_st = _temp_in(st_path.parent, st_path.name)
    tmp_json = _temp_in(json_path.parent, json_path.name)
    try:
        save_file(tensors, str(tmp_st), metadata=header)
        _fsync(tmp_st)
        _after("tensors written")
        os.replace(tmp_st, st_path)  # the commit point: the checkpoint is this one file
        _fsync_dir(st_path.parent)
        _after("tensors in place")
        with open(tmp_json, "w", encoding="utf-8") as f:
            json.dump(copy, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        _after("json written")
        os.replace(tmp_json, json_path)
        _after("json in place")
    finally:
        for tmp in (tmp_st, tmp_json):
            if tmp.exists():
                tmp.unlink()
    return st_path


def _after(step: str) -> None:
    """Hook between the steps of a save (tests make a process die here to prove atomicity)."""


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's key, dtype, shape and bytes, in key order."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _remove_stale_temporaries(directory: Path, names: tuple[str, ...]) -> None:
    """Delete ``.NAME.*.tmp`` files a killed save left in ``directory``."""
    for name in names:
        for stale in directory.glob(f".{name}.*.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- load
def _read_json(json_path: Path) -> dict[str, Any]:
    if not json_path.is_file():
        raise CheckpointError(f"checkpoint file {json_path} does not exist; pass the directory or "
                              f"base path of a checkpoint written by save_checkpoint")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint file {json_path} is not valid JSON ({exc}); it is "
                              f"truncated or corrupted, so restore it or re-run training") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{json_path} is not a deepnotes checkpoint (no format={FORMAT!r} field)")
    return meta


def _header(st_path: Path) -> dict[str, str] | None:
    """The safetensors header metadata (``None`` when the file does not exist)."""
    if not st_path.is_file():
        return None
    try:
        with safe_open(str(st_path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"checkpoint file {st_path} is truncated or corrupted and cannot be "
                              f"read as safetensors ({exc}); restore it or re-run training") from exc


_COPY_ONLY = ("meta_sha256", "note")  # keys of the JSON copy that are not part of ``meta``


def _read_meta(st_path: Path, json_path: Path) -> dict[str, Any]:
    """The checkpoint's metadata: from the ``.safetensors`` header (version 2) after checking its
    hash and the JSON copy, or from the JSON (version 1)."""
    header = _header(st_path)
    if header is None:
        if json_path.is_file():
            raise CheckpointError(f"checkpoint file {st_path} does not exist; it must sit next to "
                                  f"{json_path.name}")
        raise CheckpointError(f"no checkpoint at {st_path} (the file does not exist); pass the "
                              "directory or base path of a checkpoint written by save_checkpoint")
    if "meta" not in header:  # version 1: the metadata lives in the JSON
        meta = _read_json(json_path)
        meta["_tensors_check"] = ("file", meta.get("sha256"))
        return meta
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{st_path} is not a deepnotes checkpoint (no format={FORMAT!r})")
    text = header["meta"]
    if _text_sha256(text) != header.get("meta_sha256"):
        raise CheckpointError(f"checkpoint file {st_path} has a damaged header (its metadata does "
                              "not match its hash); restore it or re-run training")
    meta = json.loads(text)
    if json_path.is_file():
        copy = _read_json(json_path)
        if copy.get("save_id") == meta.get("save_id"):  # else: a copy from an earlier save
            stripped = {k: v for k, v in copy.items() if k not in _COPY_ONLY}
            if stripped != meta:
                changed = sorted(k for k in set(stripped) | set(meta)
                                 if stripped.get(k) != meta.get(k))
                raise CheckpointError(
                    f"{json_path} was edited after saving ({', '.join(changed[:_MAX_NAMED])} "
                    f"differ from the metadata inside {st_path.name}); a checkpoint is only "
                    f"loaded as it was saved: restore the JSON or delete it (the .safetensors "
                    f"file holds everything)")
    meta["_tensors_check"] = ("tensors", header.get("tensors_sha256"))
    return meta


def peek_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's metadata only: ``model_info``, ``trainer_state``, ``versions``, ...

    Reads the ``.safetensors`` header, not its tensors, so ``deepnotes eval`` learns which
    model to build before loading them.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = save_checkpoint(d, nn.Linear(2, 1), model_info={"name": "linear"})
        >>> peek_checkpoint(d)["model_info"]
        {'name': 'linear'}
    """
    st_path, json_path = checkpoint_paths(path)
    meta = _read_meta(st_path, json_path)
    state = meta.get("trainer_state")
    return {
        "model_info": meta.get("model_info"),
        "trainer_state": _decode(state, None),
        "versions": meta.get("versions", {}),
        "created": meta.get("created"),
        "has_optimizer": meta.get("optimizer") is not None,
        "has_scheduler": meta.get("scheduler") is not None,
        "tensors_file": st_path,
        "json_file": json_path,
    }


def _read_tensors(st_path: Path, meta: dict[str, Any], map_location: str | torch.device) -> dict[str, torch.Tensor]:
    try:
        tensors = load_file(str(st_path), device=str(map_location))
    except Exception as exc:  # safetensors raises its own error types for bad headers/lengths
        raise CheckpointError(f"checkpoint file {st_path} is truncated or corrupted and cannot be "
                              f"read as safetensors ({exc}); restore it or re-run training") from exc
    kind, expected = meta["_tensors_check"]
    digest = _sha256(st_path) if kind == "file" else _tensors_sha256(tensors)
    if digest != expected:
        raise CheckpointError(
            f"checkpoint file {st_path} has SHA-256 {digest[:12]}... but its metadata expects "
            f"{str(expected)[:12]}...: the file was corrupted or replaced by another save's"
        )
    return tensors


def _names(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:_MAX_NAMED])
    return shown + (f" and {len(keys) - _MAX_NAMED} more" if len(keys) > _MAX_NAMED else "")


def _load_model(model: nn.Module, tensors: dict[str, torch.Tensor], st_path: Path, strict: bool) -> None:
    saved = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    own = model.state_dict()
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    if strict and missing:
        raise CheckpointError(f"checkpoint {st_path} lacks model key(s) {_names(missing)}; it was "
                              f"saved from a different model (or load with strict=False)")
    if strict and unexpected:
        raise CheckpointError(f"checkpoint {st_path} has unexpected model key(s) {_names(unexpected)}; "
                              f"it was saved from a different model (or load with strict=False)")
    for key in own:  # in the model's order, so the first layer that differs is named
        value = saved.get(key)
        if value is not None and own[key].shape != value.shape:
            raise CheckpointError(
                f"checkpoint {st_path} has model key {key!r} with shape {tuple(value.shape)} but the "
                f"model expects {tuple(own[key].shape)}; build the model with the checkpoint's config"
            )
    model.load_state_dict({k: v for k, v in saved.items() if k in own}, strict=strict)


def _match_types(loaded: Any, current: Any) -> Any:
    """Give loaded param_group values the container type the live optimizer uses (tuple betas)."""
    if isinstance(current, tuple) and isinstance(loaded, list):
        return tuple(loaded)
    return loaded


def _check_class(saved: str | None, live: Any, what: str, st_path: Path) -> None:
    if saved is not None and saved != type(live).__name__:
        raise CheckpointError(f"checkpoint {st_path} holds {what} state of a {saved} but the {what} "
                              f"given is a {type(live).__name__}; resume with the same kind of {what}")


def load_checkpoint(path: str | Path, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    map_location: str | torch.device = "cpu", strict: bool = True,
                    restore_rng: bool = False) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` into the objects given.

    Args:
        path: directory, base path, or either file of the pair.
        model: receives the ``model.*`` tensors (default: None, not loaded).
        optimizer: receives the optimizer state (default: None).
        scheduler: receives the scheduler state (default: None).
        map_location: device the tensors are read to before copying (default: ``"cpu"``).
        strict: missing/unexpected model keys are errors (default: True); shapes must match always.
        restore_rng: also restore the torch/CUDA/NumPy/Python RNG states (default: False).

    Returns:
        ``{"trainer_state", "model_info", "versions", "created", "model_state"}``; ``model_state``
        holds the raw model tensors (useful when ``model`` is None).

    Raises:
        CheckpointError: missing file, corrupted/truncated file, a hash that does not match, a
            hand-edited JSON copy, missing/unexpected model key or a shape mismatch (the
            message names the key).

    Notes: B11.
    """
    st_path, json_path = checkpoint_paths(path)
    meta = _read_meta(st_path, json_path)
    tensors = _read_tensors(st_path, meta, map_location)
    if model is not None:
        _load_model(model, tensors, st_path, strict)
    if optimizer is not None:
        if meta.get("optimizer") is None:
            raise CheckpointError(f"checkpoint {st_path} holds no optimizer state; resume needs a "
                                  f"checkpoint saved with its optimizer")
        _check_class(meta.get("optimizer_class"), optimizer, "optimizer", st_path)
        state = _decode(meta["optimizer"], tensors)
        for group, live in zip(state.get("param_groups", []), optimizer.param_groups):
            for key, value in group.items():
                group[key] = _match_types(value, live.get(key))
        try:
            optimizer.load_state_dict(state)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {st_path} optimizer state does not fit this optimizer "
                                  f"({exc}); use the same optimizer and parameters as when saving") from exc
    if scheduler is not None:
        if meta.get("scheduler") is None:
            raise CheckpointError(f"checkpoint {st_path} holds no scheduler state; resume with the "
                                  f"same (or no) scheduler as when saving")
        _check_class(meta.get("scheduler_class"), scheduler, "scheduler", st_path)
        scheduler.load_state_dict(_decode(meta["scheduler"], tensors))
    if restore_rng:
        if not isinstance(meta.get("rng"), dict) or "rng.torch" not in tensors:
            raise CheckpointError(f"checkpoint {st_path} holds no random-generator state, so a "
                                  "resumed run could not continue exactly; resume from a "
                                  "checkpoint written by the Trainer")
        try:
            set_rng_state(tensors, meta["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {st_path} has a damaged random-generator state "
                                  f"({exc}); resume from an intact checkpoint") from exc
    trainer_state = meta.get("trainer_state")
    return {
        "trainer_state": _decode(trainer_state, tensors) if trainer_state is not None else None,
        "model_info": meta.get("model_info"),
        "versions": meta.get("versions", {}),
        "created": meta.get("created"),
        "model_state": {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
    }


def save_model(model: nn.Module, out_dir: str | Path) -> str:
    """Save ``model`` as the run folder's ``checkpoint.safetensors`` (+ ``.json``); return its path.

    ``deepnotes eval`` rebuilds the model from the stored ``model_info`` (a model built by
    :func:`deepnotes.models.create`).
    """
    from deepnotes.models import model_info

    return str(save_checkpoint(Path(out_dir) / "checkpoint", model, model_info=model_info(model)))
