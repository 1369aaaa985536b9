"""Column names of batches and forward outputs.

The values equal RLlib's, so batches and outputs written for RLlib read the same here.
"""

__all__ = ["Columns"]


class Columns:
    """Batch and output keys (``Columns.OBS == "obs"``).

    Example:
        >>> from rlmodule_core import Columns
        >>> batch = {Columns.OBS: obs}
        >>> out = module.forward_inference(batch)
        >>> logits = out[Columns.ACTION_DIST_INPUTS]
    """

    # Environment data.
    OBS = "obs"
    NEXT_OBS = "new_obs"
    ACTIONS = "actions"
    REWARDS = "rewards"
    TERMINATEDS = "terminateds"
    TRUNCATEDS = "truncateds"
    INFOS = "infos"
    T = "t"
    EPS_ID = "eps_id"
    AGENT_ID = "agent_id"
    MODULE_ID = "module_id"

    # Forward-pass outputs.
    ACTION_DIST_INPUTS = "action_dist_inputs"
    ACTION_PROB = "action_prob"
    ACTION_LOGP = "action_logp"
    EMBEDDINGS = "embeddings"
    VF_PREDS = "vf_preds"

    # Recurrent state.
    STATE_IN = "state_in"
    STATE_OUT = "state_out"
    SEQ_LENS = "seq_lens"
    PREV_ACTIONS = "prev_actions"
    PREV_REWARDS = "prev_rewards"

    # Postprocessing / learning.
    ADVANTAGES = "advantages"
    VALUE_TARGETS = "value_targets"
    VALUES_BOOTSTRAPPED = "values_bootstrapped"
    LOSS_MASK = "loss_mask"
    INTRINSIC_REWARDS = "intrinsic_rewards"
