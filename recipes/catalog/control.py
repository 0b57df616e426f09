"""Control from reward: advantage actor-critic on Gymnasium's CartPole (``reinforcement`` task).
The README's "Reinforcement learning" section holds what ``benchmarks/cartpole.py`` measured."""

from callbacks.defaults import without
from recipes.catalog._recipe import Recipe, register_recipe
from recipes.tasks.options import ReinforcementOptions

register_recipe(Recipe(
    name="cartpole_a2c",
    dataset="CartPole-v1",
    architecture="actor_critic",
    task="reinforcement",
    description="A2C (synchronous advantage actor-critic, 8 environments, 5-step returns, 240k steps) on CartPole-v1; "
                "mean greedy return over 100 episodes against a random policy and the 475 'solved' line.",
    expected={"return_mean": 475.0, "random_return_mean": 22.0},
    architecture_kwargs={"hidden_units": (64, 64), "activation": "tanh"},
    task_options=ReinforcementOptions(),
    optimizer="adam",
    optimizer_options={"global_clipnorm": 0.5},
    learning_rate=1e-3,
    schedule="cosine",
    loss=None,
    metrics=(),
    epochs=60,  # 240,000 environment steps
    callbacks=without("early_stopping", "checkpoint"),
    plots=(),
))
