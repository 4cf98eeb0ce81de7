"""A module's state-dict key set and shapes without allocating it (a 7B model would need 30 GB in fp32).

torch 1.13 has no `with torch.device('meta')`; a TorchFunctionMode that sends every tensor factory call to the
meta device does the same job: parameters and buffers get shapes and dtypes but no storage.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

_FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn, torch.randint,
              torch.arange, torch.tensor, torch.eye, torch.linspace}


class _MetaFactories(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _FACTORIES:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def meta_module(build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with every parameter and buffer on the meta device (shapes only, no memory)."""
    with _MetaFactories():
        return build()


def state_dict_specs(module: nn.Module) -> dict[str, tuple[tuple, bool]]:
    """key -> (shape, is_parameter), in state-dict order (the order transformers writes shards in)."""
    params = {name for name, _ in module.named_parameters()}
    return {k: (tuple(v.shape), k in params) for k, v in module.state_dict().items()}
