"""Reading a released-layout MLLM folder (config.json + safetensors shards): config, key validation against the
module tree, and streamed float32 weights for the graph builder.
"""
from __future__ import annotations

import json
import os
import re
from typing import Iterator, Mapping

import numpy as np

from ..mllm_config import MLLMConfig, from_hf_config, get_mllm_config
from ..safetensors import SafetensorsCheckpoint
from .meta import meta_module, state_dict_specs

FLOAT_DTYPES = {"F32", "F16", "BF16"}
# transformers < 4.31 saved RoPE's inverse frequencies as a persistent buffer; they follow from rope_theta.
IGNORED_KEYS = re.compile(r"(^|\.)rotary_emb\.inv_freq$")


class MLLMCheckpointError(ValueError):
    """The folder does not fit the architecture; `problems` lists every missing, unexpected or mis-shaped key."""

    def __init__(self, problems: list[str], hint: str = ""):
        self.problems = problems
        super().__init__(f"{len(problems)} MLLM checkpoint problem(s):\n  " + "\n  ".join(problems) + hint)


def mllm_specs(cfg: MLLMConfig) -> dict[str, tuple[tuple, bool]]:
    """The released MLLM state-dict keys -> (shape, is_parameter), from the module tree on the meta device."""
    from ..modules.mllm import UniTokMLLM

    return state_dict_specs(meta_module(lambda: UniTokMLLM(cfg)))


def read_mllm_config(folder: str, preset: str = "7b") -> MLLMConfig:
    """Language-model sizes from the folder's config.json; the visual sizes, which the released code hard-codes
    rather than stores, from the named preset."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found (expected a Hugging Face model folder)")
    with open(path) as f:
        hf = json.load(f)
    return from_hf_config(hf, base=get_mllm_config(preset))


def check_mllm_checkpoint(ckpt: SafetensorsCheckpoint, cfg: MLLMConfig) -> tuple[list[str], list[str]]:
    """(problems, notes): every key the module tree expects is checked for presence, shape and a float dtype.
    Absent buffers (zero_k_bias, vocab_usage: zeros or training statistics) are only noted."""
    expected = mllm_specs(cfg)
    problems, notes = [], []
    for key, (shape, is_param) in expected.items():
        if key not in ckpt:
            (problems.append(f"missing: {key} {shape}") if is_param
             else notes.append(f"buffer {key} absent; zeros used"))
        elif tuple(ckpt.shape(key)) != shape:
            problems.append(f"shape mismatch: {key} checkpoint {tuple(ckpt.shape(key))} vs model {shape}")
        elif ckpt.dtype(key) not in FLOAT_DTYPES:
            problems.append(f"dtype: {key} is {ckpt.dtype(key)}, expected one of {sorted(FLOAT_DTYPES)}")
    ignored = [k for k in ckpt if k not in expected and IGNORED_KEYS.search(k)]
    problems += [f"unexpected: {k} {tuple(ckpt.shape(k))}" for k in ckpt if k not in expected and k not in ignored]
    if ignored:
        notes.append(f"ignored {len(ignored)} rotary_emb.inv_freq buffer(s) (recomputed from rope_theta)")
    return problems, notes


def visual_hint(problems: list[str], preset: str) -> str:
    if any(".multi_embedder." in p or p.split(": ", 1)[-1].startswith("ar_head.") for p in problems):
        return (f"\n(the visual embedder and depth-head sizes come from the --mllm-config preset {preset!r}, "
                "not from config.json; pick the preset the checkpoint was made with)")
    return ""


class StreamedWeights(Mapping):
    """The expected keys as a lazy mapping to float32 arrays: each read goes to disk, so only the tensors the
    caller holds are in memory. Absent buffers read as zeros. on_read(key, stored bytes) reports progress."""

    def __init__(self, ckpt: SafetensorsCheckpoint, cfg: MLLMConfig, on_read=None):
        self.ckpt, self.specs, self.on_read = ckpt, mllm_specs(cfg), on_read

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.specs:
            raise KeyError(f"{key!r} is not a weight of the MLLM")
        if key not in self.ckpt:
            return np.zeros(self.specs[key][0], np.float32)
        arr = self.ckpt[key].astype(np.float32, copy=False)
        if self.on_read:
            self.on_read(key, self.ckpt.nbytes(key))
        return arr

    def stored_bytes(self) -> int:
        return sum(self.ckpt.nbytes(k) for k in self.specs if k in self.ckpt)


def open_mllm(folder: str, preset: str = "7b") -> tuple[MLLMConfig, SafetensorsCheckpoint]:
    """Config and checked checkpoint of a folder; raises MLLMCheckpointError listing every problem."""
    cfg = read_mllm_config(folder, preset)
    ckpt = SafetensorsCheckpoint(folder)
    problems, _ = check_mllm_checkpoint(ckpt, cfg)
    if problems:
        raise MLLMCheckpointError(problems, visual_hint(problems, preset))
    return cfg, ckpt


def load_mllm_torch(folder: str, preset: str = "7b"):
    """The PyTorch UniTokMLLM with the folder's weights in float32 (for tests and small models: a 7B needs 30 GB)."""
    import torch

    from ..modules.mllm import UniTokMLLM

    cfg, ckpt = open_mllm(folder, preset)
    model = UniTokMLLM(cfg)
    weights = StreamedWeights(ckpt, cfg)
    model.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights})
    return model.eval()
