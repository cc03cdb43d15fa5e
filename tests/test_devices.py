"""Devices (B11): resolve_device / device_count with and without CUDA, and the device check
script (run here CPU against CPU; on a GPU machine it compares CUDA with the CPU)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from deepnotes.errors import ConfigError
from deepnotes.runtime import device_count, resolve_device


def _fake_cuda(monkeypatch, n: int):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


def test_b11_cpu_only_machine(monkeypatch):
    _fake_cuda(monkeypatch, 0)
    assert device_count() == 0
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")


def test_b11_two_gpus(monkeypatch):
    _fake_cuda(monkeypatch, 2)
    assert device_count() == 2
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda", 0)) == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match="has 2 CUDA device"):
        resolve_device("cuda:2")


def test_b11_unknown_device_name():
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


def test_b11_device_check_script_runs_cpu_against_cpu(capsys):
    path = Path(__file__).parents[1] / "scripts" / "device_check.py"
    spec = importlib.util.spec_from_file_location("device_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--device", "cpu", "--skip-lesson"]) == 0
    out = capsys.readouterr().out
    assert "ok    models:" in out
    assert "ok    trainer:" in out and "FAIL" not in out
