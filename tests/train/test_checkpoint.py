"""Checkpoints: exact round trips, clear errors for every kind of damage, atomic saves (a
process killed at any step of a save leaves a checkpoint that loads), never pickle (B11)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from deepnotes import optim as dn_optim
from deepnotes.errors import CheckpointError
from deepnotes.train import load_checkpoint, peek_checkpoint, save_checkpoint
from deepnotes.train.checkpoint import checkpoint_paths
from tests.train.helpers import classifier_trainer, dropout_mlp, params_equal


def trained_pair(tmp_path, make_opt=lambda m: dn_optim.Adam(m.parameters(), lr=0.01)):
    """A model and optimizer with real state, saved under ``tmp_path/ckpt``."""
    model = dropout_mlp()
    opt = make_opt(model)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 5)).pow(2).mean().backward()
        opt.step()
        sched.step()
    path = save_checkpoint(tmp_path / "ckpt", model, opt, sched,
                           trainer_state={"epoch": 3, "note": ("a", 1), "t": torch.arange(3)},
                           model_info={"name": "mlp", "config": {"hidden": 16}})
    return model, opt, sched, path


def test_checkpoint_paths():
    for given in ("run/best", "run/best.safetensors", "run/best.json"):
        st, js = checkpoint_paths(given)
        assert (st.as_posix(), js.as_posix()) == ("run/best.safetensors", "run/best.json")


def test_round_trip_restores_model_optimizer_schedule_and_state(tmp_path):
    model, opt, sched, path = trained_pair(tmp_path)
    assert path == tmp_path / "ckpt.safetensors"
    model2 = dropout_mlp(seed=9)
    opt2 = dn_optim.Adam(model2.parameters(), lr=0.5)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    loaded = load_checkpoint(tmp_path / "ckpt", model2, opt2, sched2)
    assert params_equal(model, model2)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]  # lr, betas (a tuple again), eps ...
    assert isinstance(opt2.param_groups[0]["betas"], tuple)
    for i in s1["state"]:
        for key in s1["state"][i]:
            assert torch.equal(s1["state"][i][key], s2["state"][i][key])
    assert sched2.state_dict() == sched.state_dict()
    state = loaded["trainer_state"]
    assert state["epoch"] == 3 and state["note"] == ("a", 1) and torch.equal(state["t"], torch.arange(3))
    assert loaded["model_info"] == {"name": "mlp", "config": {"hidden": 16}}
    assert loaded["versions"]["torch"] == torch.__version__
    # both continue identically
    x = torch.randn(4, 5)
    for m, o in ((model, opt), (model2, opt2)):
        m.eval()
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    assert params_equal(model, model2)


def test_peek_reads_only_the_header(tmp_path):
    _, _, _, path = trained_pair(tmp_path)
    data = bytearray(path.read_bytes())
    data[-8:] = b"\xff" * 8  # damaged tensor bytes: peek does not read them, load does
    path.write_bytes(bytes(data))
    info = peek_checkpoint(tmp_path / "ckpt")
    assert info["model_info"]["name"] == "mlp"
    assert info["trainer_state"]["epoch"] == 3 and info["trainer_state"]["t"] is None
    assert info["has_optimizer"] and info["has_scheduler"]
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path, dropout_mlp())


def test_version_1_pairs_still_load(tmp_path):
    """The earlier format: metadata in the JSON, the .safetensors file's hash in it."""
    import hashlib

    from safetensors.torch import save_file

    model = dropout_mlp()
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={"format": "deepnotes-checkpoint"})
    digest = hashlib.sha256((tmp_path / "old.safetensors").read_bytes()).hexdigest()
    meta = {"format": "deepnotes-checkpoint", "version": 1, "model_info": {"name": "mlp"},
            "trainer_state": {"epoch": 2}, "sha256": digest}
    (tmp_path / "old.json").write_text(json.dumps(meta))
    fresh = dropout_mlp()
    assert load_checkpoint(tmp_path / "old", fresh)["trainer_state"] == {"epoch": 2}
    assert params_equal(fresh, model)
    assert peek_checkpoint(tmp_path / "old")["model_info"] == {"name": "mlp"}
    meta["sha256"] = "0" * 64  # the pair of two saves is still caught in the old format
    (tmp_path / "old.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(tmp_path / "old", dropout_mlp())


def test_tied_weights_are_saved(tmp_path):
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5, bias=False))
    model[1].weight = model[0].weight  # shared storage: safetensors needs a copy
    save_checkpoint(tmp_path, model)
    other = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5, bias=False))
    load_checkpoint(tmp_path, other, strict=True)
    assert torch.equal(other[0].weight, model[0].weight) and torch.equal(other[1].weight, model[0].weight)


def test_rng_state_is_restored_only_when_asked(tmp_path):
    torch.manual_seed(3)
    save_checkpoint(tmp_path, nn.Linear(2, 2))
    expected = torch.rand(5)
    torch.manual_seed(99)
    load_checkpoint(tmp_path)
    assert not torch.equal(torch.rand(5), expected)
    load_checkpoint(tmp_path, restore_rng=True)
    assert torch.equal(torch.rand(5), expected)


# ----------------------------------------------------------------------------- damage
def test_shape_mismatch_names_the_key(tmp_path):
    save_checkpoint(tmp_path, nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)))
    with pytest.raises(CheckpointError, match=r"'0\.weight' with shape \(4, 3\).*expects \(5, 3\)"):
        load_checkpoint(tmp_path, nn.Sequential(nn.Linear(3, 5), nn.Linear(4, 2)))
    # shapes are checked even when strict=False
    with pytest.raises(CheckpointError, match=r"'1\.weight'"):
        load_checkpoint(tmp_path, nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 3)), strict=False)


def test_missing_and_unexpected_keys(tmp_path):
    save_checkpoint(tmp_path, nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    bigger = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match=r"lacks model key\(s\) '3\.weight', '3\.bias'"):
        load_checkpoint(tmp_path, bigger)
    smaller = nn.Sequential(nn.Linear(3, 4))
    with pytest.raises(CheckpointError, match=r"unexpected model key\(s\) '2\.(weight|bias)'"):
        load_checkpoint(tmp_path, smaller)
    # strict=False loads what fits and leaves the rest
    before = bigger[3].weight.clone()
    load_checkpoint(tmp_path, bigger, strict=False)
    assert torch.equal(bigger[3].weight, before)
    assert torch.equal(bigger[0].weight, load_checkpoint(tmp_path)["model_state"]["0.weight"])


def test_truncated_tensors_file(tmp_path):
    _, _, _, path = trained_pair(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(path, dropout_mlp())


def test_corrupted_header(tmp_path):
    _, _, _, path = trained_pair(tmp_path)
    data = bytearray(path.read_bytes())
    header_len = struct.unpack("<Q", bytes(data[:8]))[0]
    data[8:8 + header_len] = b"{" * header_len  # not JSON any more
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="cannot be read as safetensors"):
        load_checkpoint(path, dropout_mlp())
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(path, dropout_mlp())


def test_flipped_byte_in_the_data_is_caught_by_the_hash(tmp_path):
    _, _, _, path = trained_pair(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # readable safetensors, wrong numbers
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path, dropout_mlp())


def test_a_json_copy_from_another_save_is_ignored(tmp_path):
    model = dropout_mlp()
    save_checkpoint(tmp_path / "a", model, model_info={"name": "a"})
    with torch.no_grad():
        model[0].weight.add_(1.0)
    save_checkpoint(tmp_path / "b", model, model_info={"name": "b"})
    # a crash between the two moves leaves the new tensors file beside the previous save's JSON:
    # the .safetensors file holds everything, so it is loaded as it is
    shutil.copy(tmp_path / "b.safetensors", tmp_path / "a.safetensors")
    fresh = dropout_mlp()
    loaded = load_checkpoint(tmp_path / "a", fresh)
    assert loaded["model_info"] == {"name": "b"} and peek_checkpoint(tmp_path / "a")["model_info"] == {"name": "b"}
    assert torch.equal(fresh[0].weight, model[0].weight)
    # and without any JSON copy too
    (tmp_path / "a.json").unlink()
    assert load_checkpoint(tmp_path / "a")["model_info"] == {"name": "b"}


@pytest.mark.parametrize("edit", ["vocabulary", "rng", "epoch"])
def test_a_hand_edited_json_copy_is_an_error(tmp_path, edit):
    model = dropout_mlp()
    save_checkpoint(tmp_path, model, model_info={"name": "mlp", "vocab": ["<unk>", "a", "b"]},
                    trainer_state={"epoch": 3})
    json_path = tmp_path / "checkpoint.json"
    meta = json.loads(json_path.read_text())
    if edit == "vocabulary":
        meta["model_info"]["vocab"][1] = "z"
    elif edit == "rng":
        del meta["rng"]
    else:
        meta["trainer_state"]["epoch"] = 5
    json_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="was edited after saving"):
        load_checkpoint(tmp_path, dropout_mlp(), restore_rng=True)
    with pytest.raises(CheckpointError, match="was edited after saving"):
        peek_checkpoint(tmp_path)


def test_a_damaged_header_hash_is_caught(tmp_path):
    path = save_checkpoint(tmp_path, dropout_mlp(), model_info={"name": "mlp", "tag": "qzxq"})
    data = path.read_bytes()
    # change one letter inside the JSON metadata of the header, keeping its length
    assert data.count(b"qzxq") == 1
    path.write_bytes(data.replace(b"qzxq", b"qzxw"))
    with pytest.raises(CheckpointError, match="damaged header"):
        load_checkpoint(path)


def test_json_damage_and_missing_files(tmp_path):
    _, _, _, path = trained_pair(tmp_path)
    json_path = path.with_suffix(".json")
    text = json_path.read_text()
    json_path.write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path)
    json_path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a deepnotes checkpoint"):
        load_checkpoint(path)
    json_path.write_text(text)
    path.unlink()
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint at .* does not exist"):
        load_checkpoint(tmp_path / "elsewhere")


def test_a_checkpoint_without_rng_state_cannot_restore_it(tmp_path):
    model = dropout_mlp()
    save_checkpoint(tmp_path, model)
    raw = load_checkpoint(tmp_path)["model_state"]
    from safetensors.torch import save_file

    # a hand-made file with model tensors only, in the version-2 layout but without an RNG
    from deepnotes.train import checkpoint as ck

    tensors = {f"model.{k}": v for k, v in raw.items()}
    meta = {"format": ck.FORMAT, "version": ck.VERSION, "model_info": None, "save_id": "x"}
    text = json.dumps(meta, sort_keys=True)
    save_file(tensors, str(tmp_path / "bare.safetensors"), metadata={
        "format": ck.FORMAT, "version": "2", "meta": text, "meta_sha256": ck._text_sha256(text),
        "tensors_sha256": ck._tensors_sha256(tensors)})
    load_checkpoint(tmp_path / "bare", dropout_mlp())  # fine without RNG restore
    with pytest.raises(CheckpointError, match="no random-generator state"):
        load_checkpoint(tmp_path / "bare", dropout_mlp(), restore_rng=True)


# a save killed at each of its steps (os._exit: no cleanup runs, as with SIGKILL)
_KILLED_SAVE = textwrap.dedent("""
    import os, sys, torch
    from deepnotes.train import checkpoint as ck
    step, folder = sys.argv[1], sys.argv[2]
    def die(s):
        if s == step:
            os._exit(9)
    ck._after = die
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.fill_(2.0)
    ck.save_checkpoint(folder, model, model_info={"name": "new"})
""")


@pytest.mark.parametrize("step", ["tensors written", "tensors in place", "json written",
                                  "json in place"])
def test_a_save_killed_at_any_step_leaves_a_checkpoint_that_loads(tmp_path, step):
    old = nn.Linear(3, 2)
    with torch.no_grad():
        old.weight.fill_(1.0)
    save_checkpoint(tmp_path, old, model_info={"name": "old"})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-c", _KILLED_SAVE, step, str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 9, p.stderr
    fresh = nn.Linear(3, 2)
    info = load_checkpoint(tmp_path, fresh)["model_info"]
    # before the move the old checkpoint stands, after it the new one: never a mixture
    expected = "old" if step == "tensors written" else "new"
    assert info == {"name": expected} == peek_checkpoint(tmp_path)["model_info"]
    assert float(fresh.weight.detach()[0, 0]) == (1.0 if expected == "old" else 2.0)
    leftovers = [f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")]
    if step != "json in place":
        assert leftovers  # the killed save's temporary files ...
    save_checkpoint(tmp_path, old, model_info={"name": "again"})
    # ... are cleaned by the next save
    assert sorted(f.name for f in tmp_path.iterdir()) == ["checkpoint.json", "checkpoint.safetensors"]
    assert peek_checkpoint(tmp_path)["model_info"] == {"name": "again"}


def test_optimizer_state_that_does_not_fit(tmp_path):
    _, _, _, path = trained_pair(tmp_path)
    small = nn.Linear(5, 2)
    with pytest.raises(CheckpointError, match="optimizer state does not fit"):
        load_checkpoint(path, None, dn_optim.Adam(small.parameters()))
    save_checkpoint(tmp_path / "bare", small)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(tmp_path / "bare", small, dn_optim.Adam(small.parameters()))


def test_unsavable_state_is_refused_and_nothing_is_left_behind(tmp_path):
    with pytest.raises(CheckpointError, match="cannot store a object at 'trainer.fn'"):
        save_checkpoint(tmp_path, nn.Linear(2, 2), trainer_state={"fn": object()})
    with pytest.raises(CheckpointError, match="model_info must be plain JSON"):
        save_checkpoint(tmp_path, nn.Linear(2, 2), model_info={"x": {1, 2}})
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_atomic_and_leaves_no_temporary_files(tmp_path):
    model = nn.Linear(2, 2)
    for _ in range(3):
        save_checkpoint(tmp_path, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "checkpoint.safetensors"]


# ----------------------------------------------------------------------------- no pickle
def test_loading_never_unpickles(tmp_path, monkeypatch):
    trainer = classifier_trainer(lambda m: dn_optim.Adam(m.parameters(), lr=0.01),
                                 lambda o: dn_optim.warmup_cosine(o, 3, 20), epochs=2,
                                 out_dir=str(tmp_path))
    trainer.fit()

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint must never be unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    resumed = classifier_trainer(lambda m: dn_optim.Adam(m.parameters(), lr=0.01),
                                 lambda o: dn_optim.warmup_cosine(o, 3, 20), epochs=3)
    resumed.fit(resume=tmp_path)
    assert resumed.epoch == 3
    load_checkpoint(tmp_path, dropout_mlp())
    peek_checkpoint(tmp_path)
    # the files themselves: a safetensors header of plain JSON, a JSON side file, no pickle opcodes
    raw = (tmp_path / "checkpoint.safetensors").read_bytes()
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    meta = header["__metadata__"]
    assert meta["format"] == "deepnotes-checkpoint" and meta["version"] == "2"
    assert json.loads(meta["meta"])["trainer_state"]["epoch"] == 2
    assert all(not key.startswith("__") or key == "__metadata__" for key in header)
    json.loads((tmp_path / "checkpoint.json").read_text())
    assert not raw.startswith(b"\x80") and b"PK\x03\x04" not in raw[:4]
