"""Actor-critic networks: an observation in, a policy (action probabilities) and a state value out,
the model of advantage actor-critic (A2C/A3C) training (``recipes.tasks.reinforcement``)."""

import keras
from keras import layers

from architectures.registry import register, register_search_space, require_integer_at_least

OUTPUTS = ("action_probabilities", "value")


@register("actor_critic", family="actor_critic", paper="Mnih et al. 2016, arXiv:1602.01783",
          inputs="vector", outputs="policy")
def actor_critic(input_shape=(4,), num_actions=2, *, hidden_units=(64, 64), activation="tanh",
                 shared_torso=False, name="actor_critic") -> keras.Model:
    """observation -> {action_probabilities, value}: MLP torsos, a softmax policy and a linear value.
    9,155 parameters at the defaults (CartPole: 4 observations, 2 actions, separate torsos).

    input_shape: the observation's shape (CartPole's is ``(4,)``); a non-flat one is flattened.
    num_actions: the size of the discrete action space; ``action_probabilities`` has one column
        per action, summing to 1.
    hidden_units: the width of each hidden ``Dense`` layer of a torso.
    activation: the hidden layers' activation (tanh, as in the A3C paper's and most baselines' MLPs).
    shared_torso: one torso feeding both heads (``torso_dense1``...), as in the paper's networks,
        or (False, the default) one torso per head (``policy_dense1``..., ``value_dense1``...),
        so that the value loss cannot pull the policy's features around.
    name: the model's name.

    The outputs are a dict, so the model's ``outputs`` and a SavedModel export's keys are named
    ``action_probabilities`` and ``value``. The policy head is initialised small (orthogonal,
    gain 0.01) so that the first policy is close to uniform.
    """
    require_integer_at_least("actor_critic", "num_actions", num_actions, 1, "CartPole has 2 actions")
    if not isinstance(shared_torso, bool):
        raise ValueError(f"actor_critic: shared_torso must be True or False. Received: shared_torso={shared_torso!r}")
    if isinstance(hidden_units, int):
        hidden_units = (hidden_units,)
    observation = keras.Input(tuple(input_shape), name="observation")
    x = layers.Flatten(name="flatten")(observation) if len(tuple(input_shape)) > 1 else observation

    def torso(prefix: str):
        hidden = x
        for index, units in enumerate(hidden_units, start=1):
            hidden = layers.Dense(units, activation=activation, kernel_initializer=keras.initializers.Orthogonal(2**0.5),
                                  name=f"{prefix}_dense{index}")(hidden)
        return hidden

    shared = torso("torso") if shared_torso else None
    probabilities = layers.Dense(num_actions, activation="softmax", kernel_initializer=keras.initializers.Orthogonal(0.01),
                                 name="action_probabilities")(shared if shared_torso else torso("policy"))
    value = layers.Dense(1, kernel_initializer=keras.initializers.Orthogonal(1.0),
                         name="value")(shared if shared_torso else torso("value"))
    return keras.Model(observation, {"action_probabilities": probabilities, "value": value}, name=name)


@register_search_space("actor_critic")
def actor_critic_search_space(hp) -> dict:
    return {
        "hidden_units": (hp.Choice("units", [32, 64, 128], default=64),) * hp.Int("hidden_layers", 1, 2, default=2),
        "activation": hp.Choice("activation", ["tanh", "relu"], default="tanh"),
        "shared_torso": hp.Boolean("shared_torso", default=False),
    }
