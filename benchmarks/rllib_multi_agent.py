"""Time-to-solve 2-agent MultiAgentCartPole: our torch PPO against RLlib's multi-agent CartPole example.

RLlib's side is its own example setup (``ray.rllib.examples.multi_agent.multi_agent_cartpole``):
RLlib's ``MultiAgentCartPole`` with 2 agents, 2 policies (``p0``, ``p1``; agent ``i`` ->
``p{i}``), PPO's default config on the new API stack and ``num_envs_per_env_runner=20``.
One change: ``num_env_runners=0``, so RLlib samples in its one process as ours does
(its default would start 2 more processes on this 2-core machine).

Both sides are scored the same way, by this script: every 10,240 env steps (or at the
first iteration end past that point; RLlib trains 4,000 env steps per iteration) both
modules play 20 greedy episodes of our ``MultiAgentCartPole-v1`` (agent_i -> module i);
an episode scores its lowest module's return; a mean >= 475 is then confirmed by 100
greedy episodes on fresh seeds (the seeds our training loop uses). Solve time is, as our
loop records it, the wall time from the built algorithm to the end of the periodic
evaluation that the confirmation then confirmed: training and periodic evaluations, not
the confirmation. RLlib's own stop criterion of that example (the training ``episode_return_mean``,
summed over both agents and sampled stochastically, >= 600) is reported beside it.

Each side runs in its own subprocess with one intra-op thread.

Run: python benchmarks/rllib_multi_agent.py [--seed 1] [--max-minutes 25] [--ours-json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _common import thread_env

HERE = Path(__file__).parent
THRESHOLD, EVAL_EVERY, EVAL_EPISODES, CONFIRM_EPISODES = 475.0, 10_240, 20, 100

OURS = """
import json, tempfile, torch
from pathlib import Path
torch.set_num_threads(1)
from rlmodule_core.train.loop import train
out = tempfile.mkdtemp()
r = train("ppo", "MultiAgentCartPole-v1", framework="torch", seed={seed}, steps={steps}, out=out,
          eval_every={eval_every}, progress=False, policies="independent", env_config={{"num_agents": 2}})
# The run stops at the confirmed solve, so its evaluation time is the time spent evaluating until then.
data = json.loads((Path(out) / "metrics.json").read_text())
summary, last = data["summary"], data["evaluations"][-1]
periodic = None
if r.solved and summary["confirmations"] == 1:  # the one confirmation took from the solve's time to the last record
    periodic = summary["eval_time_s"] - (last["wall_time_s"] - r.solve_time_s)
print(json.dumps({{"solved": r.solved, "solve_time_s": r.solve_time_s, "solve_steps": r.solve_env_steps,
                  "steps": r.env_steps, "confirm_return": r.solve_confirm_return, "periodic_eval_time_s": periodic}}))
"""

RLLIB = """
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.examples.envs.classes.multi_agent import MultiAgentCartPole
from ray.tune.registry import register_env
from rlmodule_core.envs.multi_agent import make_multi_agent_env
from rlmodule_core.train.loop import CONFIRM_SEED, EVAL_SEED

ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR")
register_env("ma_cartpole", lambda _: MultiAgentCartPole(config={{"num_agents": 2}}))
config = (
    PPOConfig()
    .environment("ma_cartpole")
    .env_runners(num_env_runners=0, num_envs_per_env_runner=20)
    .multi_agent(policies={{"p0", "p1"}}, policy_mapping_fn=lambda aid, *a, **kw: f"p{{aid}}")
    .debugging(seed={seed})
)
algo = config.build_algo()
modules = {{"agent_0": algo.get_module("p0"), "agent_1": algo.get_module("p1")}}
env = make_multi_agent_env("MultiAgentCartPole-v1", {{"num_agents": 2}})

eval_time = 0.0

def evaluate(episodes, seed):
    global eval_time
    t0 = time.perf_counter()
    # Greedy (argmax of the logits) on our env; an episode scores its lowest module's return.
    scores = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        totals = {{a: 0.0 for a in obs}}
        while obs:
            actions = {{}}
            for agent, o in obs.items():
                with torch.no_grad():
                    out = modules[agent].forward_inference({{"obs": torch.as_tensor(o[None], dtype=torch.float32)}})
                actions[agent] = int(out["action_dist_inputs"].argmax(-1)[0])
            obs, rewards, terms, truncs, _ = env.step(actions)
            for agent, r in rewards.items():
                totals[agent] += float(r)
            obs = {{a: o for a, o in obs.items() if not (terms[a] or truncs[a])}}
        scores.append(min(totals.values()))
    eval_time += time.perf_counter() - t0
    return float(np.mean(scores))

start = time.perf_counter()
next_eval, evals, confirms, own_stop, steps = {eval_every}, 0, 0, None, 0
result = {{"solved": False}}
while steps < {steps} and time.perf_counter() - start < {max_s}:
    out = algo.train()
    runners = out["env_runners"]
    steps = int(runners["num_env_steps_sampled_lifetime"])
    ret = runners.get("episode_return_mean", float("nan"))
    if own_stop is None and ret >= 600.0:
        own_stop = {{"time_s": time.perf_counter() - start, "steps": steps, "return_sum": ret}}
    print(f"rllib: {{steps}} env steps, {{time.perf_counter() - start:.0f}} s, training return (sum) {{ret:.1f}}",
          file=sys.stderr, flush=True)
    if steps < next_eval:
        continue
    while next_eval <= steps:
        next_eval += {eval_every}
    score = evaluate({eval_episodes}, EVAL_SEED + 1000 * evals)
    evals += 1
    if score < {threshold}:
        continue
    # As our loop records it: the solve's time is the end of the periodic evaluation (before confirming).
    at, periodic_eval_time = time.perf_counter() - start, eval_time
    confirm = evaluate({confirm_episodes}, CONFIRM_SEED + 1000 * confirms)
    confirms += 1
    print(f"rllib: greedy {{score:.1f}}, confirmation {{confirm:.1f}}", file=sys.stderr, flush=True)
    if confirm >= {threshold}:
        result = {{"solved": True, "solve_time_s": at, "solve_steps": steps, "confirm_return": confirm,
                   "periodic_eval_time_s": periodic_eval_time}}
        break
result.update(steps=steps, wall_s=time.perf_counter() - start, rllib_stop=own_stop, ray=ray.__version__,
              eval_time_s=eval_time)
print(json.dumps(result))
"""


def _run(code: str, timeout_s: float) -> dict:
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=thread_env(1),
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout_s:.0f} s"}
    sys.stderr.write(done.stderr[-4000:])
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cell(run: dict, key: str, fmt: str) -> str:
    value = run.get(key)
    return "n/a" if value is None else format(value, fmt)


def table(ours: dict, rllib: dict, seed: int) -> str:
    stop = rllib.get("rllib_stop") or {}
    rows = [
        f"2-agent MultiAgentCartPole, 2 modules, PPO, torch, seed {seed}, 1 thread, sampling in one process; "
        "solved = confirmed greedy solve scored by the lowest module (see benchmarks/rllib_multi_agent.py)",
        "",
        "| run | solved | solve time (s) | of which periodic evaluations (s) | env steps to solve | confirmation mean "
        "(100 episodes) |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in (("rlmodule-core MultiAgentPPO (independent)", ours), ("RLlib PPO, multi_agent_cartpole example", rllib)):
        solved = "error: " + run["error"] if "error" in run else ("yes" if run.get("solved") else "no")
        rows.append(f"| {name} | {solved} | {_cell(run, 'solve_time_s', '.1f')} | {_cell(run, 'periodic_eval_time_s', '.1f')} | "
                    f"{_cell(run, 'solve_steps', ',')} | "
                    f"{_cell(run, 'confirm_return', '.1f')} |")
    rows.append("")
    criterion = "RLlib's own stop criterion of the example (training episode_return_mean summed over agents >= 600)"
    if stop:
        rows.append(f"{criterion}: {stop['time_s']:.1f} s, {stop['steps']:,} env steps.")
    elif "error" not in rllib:
        rows.append(f"{criterion}: not reached before the run ended.")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--max-minutes", type=float, default=25.0, help="wall-time budget of each side")
    parser.add_argument("--ours-json", help="our side's result (JSON) from an earlier run instead of running it")
    parser.add_argument("--skip-ours", action="store_true")
    args = parser.parse_args()
    budget = args.max_minutes * 60
    fields = dict(seed=args.seed, steps=args.steps, eval_every=EVAL_EVERY, eval_episodes=EVAL_EPISODES,
                  confirm_episodes=CONFIRM_EPISODES, threshold=THRESHOLD, max_s=budget)
    try:
        import ray.rllib  # noqa: F401
    except ImportError as err:
        rllib = {"error": f"ray[rllib] is not installed ({err}); run `nox -s bench-rllib`"}
    else:
        rllib = _run(RLLIB.format(**fields), budget + 300)
    if args.ours_json:
        ours = json.loads(Path(args.ours_json).read_text())
    elif args.skip_ours:
        ours = {"error": "not run (--skip-ours)"}
    else:
        ours = _run(OURS.format(**fields), budget + 300)
    text = table(ours, rllib, args.seed)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "rllib_multi_agent.md").write_text(text + "\n")
    (out / "rllib_multi_agent.json").write_text(json.dumps({"ours": ours, "rllib": rllib}, indent=2))


if __name__ == "__main__":
    main()
