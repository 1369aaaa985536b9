"""The gradient step on PyTorch: torch.optim.Adam with global-norm clipping."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .module import convert_batch

__all__ = ["TorchOptimizer"]


class TorchOptimizer:
    """Adam over a module's trainable parameters (target networks are frozen, so excluded).

    Example:
        >>> opt = backend.make_optimizer(module, lr=3e-4, grad_clip=0.5)
        >>> metrics = opt.update(lambda m, b: (loss_of(m, b), {}), batch)
    """

    def __init__(self, module: torch.nn.Module, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8) -> None:
        self.module = module
        self.params = [p for p in module.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError(f"{type(module).__qualname__} has no trainable parameters to optimize.")
        self.optimizer = torch.optim.Adam(self.params, lr=lr, eps=eps)
        self.grad_clip = grad_clip

    def update(self, loss_fn: Callable[[Any, Any], tuple[Any, dict[str, Any]]], batch: Any) -> dict[str, float]:
        loss, metrics = loss_fn(self.module, convert_batch(batch, self.module))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip if self.grad_clip else math.inf)
        self.optimizer.step()
        out = {"loss": float(loss.detach()), "grad_norm": float(norm)}
        out.update({k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in metrics.items()})
        return out

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = float(value)

    def get_state(self) -> dict[str, np.ndarray]:
        """``state.<param index>.<exp_avg|exp_avg_sq|step>`` and ``lr``, as NumPy arrays."""
        flat = {"lr": np.asarray(self.learning_rate, np.float64)}
        for index, entry in self.optimizer.state_dict()["state"].items():
            for name, value in entry.items():
                flat[f"state.{index}.{name}"] = value.detach().cpu().numpy().copy()
        return flat

    def set_state(self, state: dict[str, Any]) -> None:
        entries: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in state.items():
            if key == "lr":
                continue
            _, index, name = key.split(".", 2)
            entries.setdefault(int(index), {})[name] = torch.as_tensor(np.asarray(value))
        current = self.optimizer.state_dict()
        unknown = sorted(set(entries) - set(range(len(self.params))))
        if unknown:
            raise ValueError(
                f"Optimizer state has entries for parameters {unknown}, but the module has "
                f"{len(self.params)}. Restore a state saved from the same module."
            )
        current["state"] = entries
        self.optimizer.load_state_dict(current)
        if "lr" in state:
            self.learning_rate = float(np.asarray(state["lr"]))
