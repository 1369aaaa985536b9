"""Target networks on PyTorch: frozen deep copies and in-place polyak averaging."""

from __future__ import annotations

import copy

import torch

from rlmodule_core.backend.polyak import check_polyak

__all__ = ["make_target_network", "update_target_network"]


def make_target_network(net: torch.nn.Module) -> torch.nn.Module:
    """An independent copy of ``net`` with equal weights and ``requires_grad=False``.

    Example:
        >>> self._target_qf = make_target_network(self.qf)
    """
    if not isinstance(net, torch.nn.Module):
        raise TypeError(
            f"make_target_network expected a torch.nn.Module; received {type(net).__name__}. "
            "Pass the network (a layer, block or module) to copy."
        )
    target = copy.deepcopy(net)
    target.requires_grad_(False)
    return target


def _tensors(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Parameters and all buffers (running statistics too), by name, each listed once.
    return {**dict(net.named_parameters()), **dict(net.named_buffers())}


@torch.no_grad()
def update_target_network(main: torch.nn.Module, target: torch.nn.Module, tau: float) -> None:
    """``target <- tau * main + (1 - tau) * target`` in place; ``tau=1.0`` copies.

    Runs without autograd over parameters and buffers; integer buffers (counters) are
    copied.

    Raises:
        ValueError: ``tau`` outside [0, 1], or the two networks' tensors differ.
    """
    sources, targets = _tensors(main), _tensors(target)
    check_polyak(tau, sources, targets)
    for key, source in sources.items():
        dest = targets[key]
        if tau == 1.0 or not dest.is_floating_point():
            dest.copy_(source)
        else:
            dest.lerp_(source.to(dest.dtype), tau)
