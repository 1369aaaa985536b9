"""EnvRunnerGroup: N env runners as Ray actors, one weights upload, counted batches.

How the pieces fit:
- Weights: ``sync_weights`` puts the state into Ray's object store once and sends
  every runner the same object reference with a version number. Actors run their calls
  in submission order, so a ``sample`` requested after a sync always acts with the
  synced weights, and each batch carries the version that produced it.
- Accounting: every request is named ``(runner_id, seq)``; a batch comes back under
  that name exactly once, or is counted lost with the failure that lost it
  (``counts.requested == counts.received + counts.lost`` after every call).
- Faults: a runner whose process died or whose environment raised is killed, replaced
  by a fresh actor (new env seeds) and handed the current weights. It rejoins sampling
  once it is ready; until then the others keep sampling.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from rlmodule_core.backend import registry
from rlmodule_core.distributed.runner import RemoteEnvRunner
from rlmodule_core.spec import RLModuleSpec
from rlmodule_core.train.env_runner import EnvSpec
from rlmodule_core.train.sampling import RETURN_WINDOW, Rollout

__all__ = ["EnvRunnerGroup", "RunnerFailure", "SampleCounts", "split_envs"]

logger = logging.getLogger(__name__)

_RemoteRunner = ray.remote(RemoteEnvRunner)


@dataclasses.dataclass
class SampleCounts:
    """Batches asked for, returned and lost, and runner restarts, since the group started."""

    requested: int = 0
    received: int = 0
    lost: int = 0
    restarts: int = 0


@dataclasses.dataclass
class RunnerFailure:
    """One failure: which runner, which batch it lost (None: none was in flight), why."""

    runner_id: int
    seq: int | None
    reason: str


@dataclasses.dataclass
class _Slot:
    """One runner position: its current actor and its request numbering."""

    runner_id: int
    num_envs: int
    actor: Any = None
    incarnation: int = 0
    next_seq: int = 0
    #: None when the actor serves requests; else the reference that resolves once it can.
    ready: Any = None
    #: ``set_weights`` acknowledgements not yet checked.
    acks: list = dataclasses.field(default_factory=list)


def split_envs(num_envs: int, num_runners: int) -> list[int]:
    """``num_envs`` environments spread over ``num_runners`` runners (the first get one more).

    Raises:
        ValueError: fewer environments than runners.
    """
    if num_runners < 1 or num_envs < num_runners:
        raise ValueError(
            f"Expected num_envs >= num_env_runners >= 1 (each runner steps at least one env); received "
            f"num_envs={num_envs}, num_env_runners={num_runners}. Raise num_envs (e.g. --config with "
            f"num_envs = {max(num_runners, 1)}) or use fewer runners."
        )
    return [num_envs // num_runners + (i < num_envs % num_runners) for i in range(num_runners)]


class EnvRunnerGroup:
    """N Ray actors sampling gymnasium vector envs with inference-only copies of a module.

    Each actor builds its module from ``module_spec.to_dict()`` with ``inference_only=True``
    (on the spec's framework, or ``framework``) and samples through an ``EnvRunner``.
    Starts a small local Ray instance when none is running and stops it in ``stop``.

    Args:
        module_spec: the module to act with (an ``RLModuleSpec`` or its ``to_dict()``).
        env: a gymnasium id or a picklable factory returning an env.
        num_runners: how many actors.
        num_envs_per_runner: envs per runner (one number for all, or one per runner).
        seed: base seed; runner ``i``'s envs and action sampling get a seed derived from
            ``(seed, i, restart count)``, so a replacement does not replay its predecessor.
        framework: build the runners' modules on this backend instead of the spec's
            (weights use canonical layouts, so a torch learner can feed NumPy runners).
        num_cpus_per_runner: CPUs Ray reserves per actor.
        sample_timeout_s: a runner that has not returned its batch within this is treated
            as failed (None: wait indefinitely).
        max_restarts: restarts allowed over the group's life before ``sample`` raises
            instead (an environment that always crashes must not loop forever).
        threads: intra-op threads of each runner's framework (``Backend.set_threads``;
            default 1, right for the small models of RL); None leaves the framework's default.

    Example:
        >>> group = EnvRunnerGroup(spec, "CartPole-v1", num_runners=2, num_envs_per_runner=2, seed=0)
        >>> version = group.sync_weights(module.get_state(inference_only=True))
        >>> for rollout in group.sample(128):           # data arrays shaped (128, 2, ...)
        ...     assert rollout.weights_version == version
        >>> group.counts                                 # SampleCounts(requested=2, received=2, ...)
        >>> group.stop()
    """

    def __init__(
        self,
        module_spec: RLModuleSpec | Mapping[str, Any],
        env: EnvSpec,
        num_runners: int,
        *,
        num_envs_per_runner: int | Sequence[int] = 1,
        seed: int | None = None,
        framework: str | None = None,
        num_cpus_per_runner: float = 1.0,
        sample_timeout_s: float | None = None,
        max_restarts: int = 100,
        threads: int | None = 1,
    ) -> None:
        spec = self._spec_dict(module_spec, framework)
        envs = [num_envs_per_runner] * num_runners if isinstance(num_envs_per_runner, int) else list(num_envs_per_runner)
        if num_runners < 1 or len(envs) != num_runners or min(envs) < 1:
            raise ValueError(
                f"Expected num_runners >= 1 and num_envs_per_runner >= 1 for each runner; received "
                f"num_runners={num_runners}, num_envs_per_runner={num_envs_per_runner!r}."
            )
        self._spec, self._env, self._seed = spec, env, seed
        self.num_cpus_per_runner = num_cpus_per_runner
        self.sample_timeout_s = sample_timeout_s
        self.max_restarts = max_restarts
        self.threads = threads
        self._owns_ray = _ensure_ray(math.ceil(num_runners * num_cpus_per_runner))
        self._weights_ref: Any = None
        self._version = 0
        self.counts = SampleCounts()
        self.failures: list[RunnerFailure] = []
        self.num_env_steps = 0
        self.num_episodes = 0
        self.episode_returns: deque[float] = deque(maxlen=RETURN_WINDOW)
        self._slots = [_Slot(i, n) for i, n in enumerate(envs)]
        for slot in self._slots:
            slot.actor = self._spawn(slot)
        try:
            ray.get([slot.actor.ping.remote() for slot in self._slots])
        except RayError as err:
            self.stop()
            raise RuntimeError(
                f"An env runner could not start (module spec {spec.get('module_class', 'multi')}, env {env!r}): {err}"
            ) from err

    #: The actor class (a subclass may sample another kind of env, e.g. multi-agent).
    runner_actor: Any = _RemoteRunner

    def _spec_dict(self, module_spec: Any, framework: str | None) -> dict[str, Any]:
        """The JSON form of the runners' module spec, its framework resolved."""
        spec = module_spec.to_dict() if isinstance(module_spec, RLModuleSpec) else dict(module_spec)
        # Resolved here: an actor's RLMODULE_FRAMEWORK may differ from this process's.
        spec["framework"] = registry.resolve_framework(framework or spec.get("framework"))
        return spec

    def _runner_args(self) -> tuple:
        """Arguments after ``(runner_id, spec, env, num_envs, seed)`` of the actor's constructor."""
        return ()

    # ---- introspection ---------------------------------------------------------------------
    @property
    def num_runners(self) -> int:
        return len(self._slots)

    @property
    def num_healthy_runners(self) -> int:
        """Runners serving requests (the others are being replaced)."""
        return sum(slot.ready is None for slot in self._slots)

    @property
    def actors(self) -> list[Any]:
        """The current actor handle of each runner, by runner id."""
        return [slot.actor for slot in self._slots]

    @property
    def weights_version(self) -> int:
        """The version of the last ``sync_weights`` (0: none yet)."""
        return self._version

    # ---- weights -----------------------------------------------------------------------------
    def sync_weights(self, state: Mapping[str, Any], *, wait: bool = False) -> int:
        """Sends ``state`` (e.g. ``module.get_state(inference_only=True)``) to every runner.

        The state enters the object store once; every runner loads that one object. With
        ``wait=True`` it returns only after every serving runner has loaded it (a runner
        that died meanwhile is replaced, and its replacement loads the state on start).

        Returns:
            The new weights version, which every batch sampled from now on carries.
        """
        self._version += 1
        self._weights_ref = ray.put(dict(state))
        for slot in self._slots:
            ack = slot.actor.set_weights.remote(self._weights_ref, self._version)
            if slot.ready is None:
                slot.acks.append(ack)
            else:  # a replacement is ready once it holds the newest weights
                slot.ready = ack
        if wait:
            for slot in self._slots:
                if slot.ready is None:
                    try:
                        self._resolve_acks(slot)
                    except RayActorError as err:
                        self._fail(slot, None, err)
        return self._version

    def _resolve_acks(self, slot: _Slot) -> None:
        """Waits for the slot's weight acknowledgements.

        Raises:
            RayActorError: the runner died (the caller replaces it).
            ValueError: ``set_state`` refused the weights (a state that does not fit the
                module); not a runner fault, since a replacement would refuse them too.
        """
        acks, slot.acks = slot.acks, []
        try:
            ray.get(acks)
        except RayTaskError as err:
            raise ValueError(f"Env runner {slot.runner_id} refused the weights: {_describe(err)}") from err

    # ---- sampling ----------------------------------------------------------------------------
    def sample(self, num_steps: int, **forward_kwargs: Any) -> list[Rollout]:
        """One batch of ``num_steps`` steps from every serving runner, sorted by runner id.

        ``forward_kwargs`` (plain values) reach each runner's ``forward_exploration``.

        A runner that fails meanwhile loses its batch (counted in ``counts.lost`` and listed
        in ``failures``) and is replaced; the batches of the others are returned. When no
        runner is serving, waits for a replacement first.
        """
        if num_steps < 1:
            raise ValueError(f"Expected num_steps >= 1; received {num_steps}.")
        self._admit_replacements(block=self.num_healthy_runners == 0)
        requests: dict[Any, tuple[_Slot, int]] = {}
        for slot in self._slots:
            if slot.ready is None:
                requests[slot.actor.sample.remote(num_steps, slot.next_seq, **forward_kwargs)] = (slot, slot.next_seq)
                slot.next_seq += 1
        self.counts.requested += len(requests)
        rollouts = []
        waiting = list(requests)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=self.sample_timeout_s)
            if not done:
                for ref in waiting:
                    slot, seq = requests[ref]
                    self._lose(slot, seq, TimeoutError(f"no batch within {self.sample_timeout_s} s"))
                break
            slot, seq = requests[done[0]]
            rollout = self._receive(slot, seq, done[0])
            if rollout is not None:
                rollouts.append(rollout)
        return sorted(rollouts, key=lambda r: r.runner_id)

    def _receive(self, slot: _Slot, seq: int, ref: Any) -> Rollout | None:
        try:
            self._resolve_acks(slot)
            rollout: Rollout = ray.get(ref)
        except RayError as err:  # the process died, or the env or module raised in sample()
            self._lose(slot, seq, err)
            return None
        if (rollout.runner_id, rollout.seq) != (slot.runner_id, seq):
            raise RuntimeError(
                f"Env runner {slot.runner_id} answered request {seq} with batch "
                f"({rollout.runner_id}, {rollout.seq}); this is a bug in EnvRunnerGroup."
            )
        self.counts.received += 1
        self.num_env_steps += rollout.env_steps
        self.num_episodes += len(rollout.episode_returns)
        self.episode_returns.extend(rollout.episode_returns)
        return rollout

    def _lose(self, slot: _Slot, seq: int, err: BaseException) -> None:
        self.counts.lost += 1
        self._fail(slot, seq, err)

    # ---- faults ------------------------------------------------------------------------------
    def _spawn(self, slot: _Slot) -> Any:
        seed = None
        if self._seed is not None:
            seed = int(np.random.SeedSequence([self._seed, slot.runner_id, slot.incarnation]).generate_state(1)[0])
        options = {"num_cpus": self.num_cpus_per_runner, "max_restarts": 0, "max_task_retries": 0}
        return self.runner_actor.options(**options).remote(
            slot.runner_id, self._spec, self._env, slot.num_envs, seed, *self._runner_args(), threads=self.threads
        )

    def _fail(self, slot: _Slot, seq: int | None, err: BaseException) -> None:
        """Records the failure and replaces the slot's actor with a fresh one."""
        reason = _describe(err)
        self.failures.append(RunnerFailure(slot.runner_id, seq, reason))
        self.counts.restarts += 1
        lost = f"; its batch {seq} is lost" if seq is not None else ""
        logger.warning("Env runner %d failed (%s)%s. Restarting it.", slot.runner_id, reason, lost)
        if self.counts.restarts > self.max_restarts:
            raise RuntimeError(
                f"Env runners failed {self.counts.restarts} times, more than max_restarts="
                f"{self.max_restarts}; the last failure (runner {slot.runner_id}): {reason}. Fix the "
                "environment or the module, or raise max_restarts."
            ) from err
        # A crashed env leaves the process alive with a broken env: replace the process whole.
        ray.kill(slot.actor, no_restart=True)
        slot.incarnation += 1
        slot.acks = []
        slot.actor = self._spawn(slot)
        if self._weights_ref is None:
            slot.ready = slot.actor.ping.remote()
        else:
            slot.ready = slot.actor.set_weights.remote(self._weights_ref, self._version)

    def _admit_replacements(self, *, block: bool) -> None:
        """Puts replacements that are ready back into service (with ``block``, waits for one)."""
        while True:
            pending = {slot.ready: slot for slot in self._slots if slot.ready is not None}
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            if block and not done:
                done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                slot = pending[ref]
                try:
                    ray.get(ref)
                    slot.ready = None
                except RayActorError as err:  # died while starting: try again
                    self._fail(slot, None, err)
            if not block or self.num_healthy_runners:
                return

    def wait_until_healthy(self, timeout_s: float | None = None) -> bool:
        """Waits until every runner serves requests; False if ``timeout_s`` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.num_healthy_runners < self.num_runners:
            pending = [slot.ready for slot in self._slots if slot.ready is not None]
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            ray.wait(pending, num_returns=len(pending), timeout=left)
            self._admit_replacements(block=False)
            if deadline is not None and time.monotonic() >= deadline:
                break
        return self.num_healthy_runners == self.num_runners

    # ---- utilities ---------------------------------------------------------------------------
    def foreach_runner(self, func: Callable[[RemoteEnvRunner], Any]) -> list[Any]:
        """``func(runner)`` run inside every serving runner; results by runner id."""
        return ray.get([slot.actor.apply.remote(func) for slot in self._slots if slot.ready is None])

    def forward_inference(self, obs: Any) -> list[dict[str, np.ndarray]]:
        """Every serving runner's ``forward_inference`` outputs on ``obs`` (NumPy)."""
        return ray.get([slot.actor.forward_inference.remote(obs) for slot in self._slots if slot.ready is None])

    def get_state(self) -> dict[str, Any]:
        """Counters as JSON (the keys of ``EnvRunner.get_state`` but its sampling generator)."""
        return {
            "num_env_steps": self.num_env_steps,
            "num_episodes": self.num_episodes,
            "episode_returns": list(self.episode_returns),
            "weights_version": self._version,
            "counts": dataclasses.asdict(self.counts),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restores the counters of ``get_state`` (the runners themselves start fresh)."""
        self.num_env_steps = int(state["num_env_steps"])
        self.num_episodes = int(state["num_episodes"])
        self.episode_returns.extend(state["episode_returns"])
        self._version = int(state.get("weights_version", self._version))
        if "counts" in state:
            self.counts = SampleCounts(**state["counts"])

    def stop(self) -> None:
        """Kills the actors (and stops Ray when this group started it)."""
        for slot in self._slots:
            if slot.actor is not None:
                ray.kill(slot.actor, no_restart=True)
                slot.actor = None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> EnvRunnerGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ensure_ray(num_cpus: int) -> bool:
    """Starts a local Ray instance when none is running; True if it did.

    Raises:
        ValueError: a running Ray instance has fewer CPUs than the runners reserve.
    """
    if not ray.is_initialized():
        # At least one CPU per runner even on a small machine: otherwise actors wait forever.
        ray.init(num_cpus=max(os.cpu_count() or 1, num_cpus), include_dashboard=False,
                 logging_level=logging.WARNING)
        return True
    available = ray.cluster_resources().get("CPU", 0)
    if available < num_cpus:
        raise ValueError(
            f"The runners reserve {num_cpus} CPUs but the running Ray instance has {available:g}. "
            "Start Ray with more (ray.init(num_cpus=...)), use fewer runners, or lower num_cpus_per_runner."
        )
    return False


def _describe(err: BaseException) -> str:
    """One line naming the failure: the original exception of a task error, else the first line."""
    if isinstance(err, RayTaskError) and err.cause is not None:
        return f"{type(err.cause).__name__}: {err.cause}"
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"
