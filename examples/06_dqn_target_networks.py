"""06 - DQN with target networks: the Learner makes them, keeps them frozen and syncs them.

A short DQN run on CartPole-v1 with the default dueling, double-Q module. The module's
target networks (attributes named ``_target_*``) are part of its state; between two
syncs they stay fixed while the online networks learn, a sync (every
``target_update_frequency`` updates, here a hard copy with tau=1) makes them equal, and
an inference-only copy for deployment leaves them out.

Run: python examples/06_dqn_target_networks.py [framework]   (default torch; or tf, jax)
"""

import sys

import numpy as np

import rlmodule_core as rlm
from rlmodule_core.train.algorithms import DQN, DQNConfig


def targets_and_mains(module):
    state = module.get_state()
    targets = {k: v for k, v in state.items() if k.startswith("_target_")}
    mains = {k.removeprefix("_target_"): state[k.removeprefix("_target_")] for k in targets}
    return targets, mains


def main(framework: str = "torch") -> None:
    config = DQNConfig(learning_starts=200, target_update_frequency=100, train_batch_size=32)
    algo = DQN(config, "CartPole-v1", framework=framework, seed=0)
    targets, _ = targets_and_mains(algo.module)
    print(f"{framework}: the Learner made {len(targets)} target arrays, e.g. {sorted(targets)[0]}")

    metrics = algo.train_iteration(env_steps=350)   # 150 updates: one sync at update 100
    updates = metrics["num_updates"]
    targets, mains = targets_and_mains(algo.module)
    moved = max(float(np.abs(mains[k.removeprefix("_target_")] - v).max()) for k, v in targets.items())
    print(f"after {updates} updates ({updates % 100} since the last sync): online and target "
          f"networks differ by up to {moved:.4f}")
    assert moved > 0

    algo.learner.sync_targets(tau=1.0)              # what the Learner does every 100 updates
    targets, mains = targets_and_mains(algo.module)
    assert all(np.array_equal(mains[k.removeprefix("_target_")], v) for k, v in targets.items())
    print("after a sync (tau=1.0): every target array equals its online array")

    deployed = rlm.RLModule.from_checkpoint(
        algo.module.save_to_path(), framework="numpy", inference_only=True
    )
    assert not any("target" in key for key in deployed.get_state())
    print(f"inference-only NumPy copy: {len(deployed.get_state())} arrays, no target networks")
    algo.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
