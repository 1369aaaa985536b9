"""torch: the default contiguous Dense weights against ``column_major_weights`` (opt-in).

The ~10M-parameter module of the state benchmarks ([2048, 2048, 2048] PPO), built twice
with the same weights; one copy gets ``rlmodule_torch.nn.column_major_weights``.
Reported: ratios contiguous / column-major (above 1: column-major is faster) for
``get_state``, ``set_state``, ``forward_inference`` and a ``forward_train`` + backward,
measured interleaved in one process, one thread.

Usage:
    python benchmarks/torch_weight_layout.py [--rounds 7]
"""

from __future__ import annotations

import argparse

import torch
from _common import LARGE_OBS, interleaved, large_ppo, observations
from rlmodule_torch.nn import column_major_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    contiguous, column = large_ppo("torch"), column_major_weights(large_ppo("torch"))
    state = contiguous.get_state()

    def train_step(module, obs):
        module.forward_train(obs)["action_dist_inputs"].sum().backward()

    print("| operation | contiguous (ms) | column-major (ms) | contiguous / column-major |")
    print("|---|---:|---:|---:|")
    cases = {
        "get_state": ({"a": contiguous.get_state, "b": column.get_state}, 1),
        "set_state": ({"a": lambda: contiguous.set_state(state), "b": lambda: column.set_state(state)}, 1),
    }
    for batch in (1, 256):
        obs = {"obs": observations(batch, LARGE_OBS)}
        cases[f"forward_inference, batch {batch}"] = (
            {"a": lambda o=obs: contiguous.forward_inference(o), "b": lambda o=obs: column.forward_inference(o)}, 10)
        cases[f"forward_train + backward, batch {batch}"] = (
            {"a": lambda o=obs: train_step(contiguous, o), "b": lambda o=obs: train_step(column, o)}, 3)
    for name, (fns, calls) in cases.items():
        t = interleaved(fns, rounds=args.rounds, calls=calls)
        print(f"| {name} | {t.median('a') * 1e3:.2f} | {t.median('b') * 1e3:.2f} | {t.ratio('a', 'b'):.2f}x |")


if __name__ == "__main__":
    main()
