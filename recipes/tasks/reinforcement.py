"""Reinforcement learning (``reinforcement`` task): advantage actor-critic (A2C) on a Gymnasium
environment, trained through the same ``compile_and_fit`` as every other recipe.

    >>> result = recipes.run("cartpole_a2c")
    >>> result.test_metrics["return_mean"]          # greedy policy, 100 evaluation episodes
    >>> result.test_metrics["random_return_mean"]   # a uniformly random policy, the same episodes

Where the training loop lives: ``ActorCritic.train_step``. One ``fit`` step is one A2C update
(Mnih et al. 2016, the synchronous variant): the current policy acts for ``rollout_steps`` steps
in each of ``num_envs`` environments (gymnasium's ``SyncVectorEnv``, stepped from inside the
``tf.function`` through ``tf.numpy_function``), the n-step returns are bootstrapped from the
critic's value of the last observation, and one gradient step on

    policy loss - entropy_coefficient x entropy + value_coefficient x mean squared advantage

is taken with the recipe's Keras optimizer (gradient clipping is the optimizer's
``global_clipnorm``). An epoch is ``updates_per_epoch`` updates, so the house's callbacks do the
rest: ``training_log.csv`` and TensorBoard get each epoch's ``episode_return`` (the mean return of
the episodes that ended in it), ``episodes`` and ``env_steps`` (counted since the start of
training) besides the losses, and the run backup (``callbacks.backup.RunBackup``) makes a killed
run resume from its last epoch, counters and optimizer included. The environments themselves
restart from fresh episodes on a resume.

An episode that CartPole cuts off at its time limit (truncated, not failed) is bootstrapped with
the critic's value of its last observation, so the limit does not look like a failure.

Measured after training, on ``evaluation_episodes`` episodes whose seeds differ from training's:
``return_mean`` (greedy: the most probable action), ``sampled_return_mean`` (actions drawn from
the policy, as in training) and ``random_return_mean`` (uniform actions); CartPole-v1 counts as
solved at 475. The export is the policy, ``observation -> action, probabilities``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

import architectures
from callbacks import new_figure, save_figure
from recipes import data as datasets
from recipes.errors import ConfigError
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

log = logging.getLogger("keras_recipes")

INPUT_NAME = "observation"
EVALUATION_SEED_OFFSET = 10_000
SOLVED_RETURN = {"CartPole-v1": 475.0}  # gymnasium's reward_threshold


def gymnasium():
    """The ``gymnasium`` module, or an error that says how to install it."""
    try:
        import gymnasium as gym
    except ImportError as error:
        raise ConfigError('the reinforcement recipes need gymnasium: pip install "keras-recipes[rl]". '
                          f"Received: {type(error).__name__}: {error}") from error
    return gym


def make_environments(environment: str, num_envs: int, *, same_step_reset: bool = True):
    """``num_envs`` copies of a Gymnasium environment in a ``SyncVectorEnv``; with
    ``same_step_reset`` a finished copy resets in the same ``step`` and its last observation is
    in ``info["final_obs"]``."""
    gym = gymnasium()
    from gymnasium.vector import AutoresetMode

    mode = AutoresetMode.SAME_STEP if same_step_reset else AutoresetMode.NEXT_STEP
    try:
        environments = gym.make_vec(environment, num_envs=num_envs, vectorization_mode="sync",
                                    vector_kwargs={"autoreset_mode": mode})
    except gym.error.Error as error:
        raise ConfigError(f"unknown or unusable Gymnasium environment {environment!r}; the recipes use "
                          f"CartPole-v1. Received: {type(error).__name__}: {error}") from error
    if not isinstance(environments.single_action_space, gym.spaces.Discrete):
        raise ConfigError(f"A2C here needs discrete actions; {environment} has "
                          f"{environments.single_action_space}. Received: environment={environment!r}")
    return environments


class Rollouts:
    """The training environments and what the update step needs from them, as numpy: the current
    observations, and per step the rewards, episode ends and returns of the episodes that ended."""

    def __init__(self, environment: str, num_envs: int, *, seed: int):
        self.environment, self.num_envs, self.seed = environment, num_envs, seed
        self.envs = make_environments(environment, num_envs)
        self.observation_shape = tuple(self.envs.single_observation_space.shape)
        self.num_actions = int(self.envs.single_action_space.n)
        self.observations = None

    def observe(self) -> np.ndarray:
        if self.observations is None:  # first use: a fit that resumes starts fresh episodes as well
            self.observations, _ = self.envs.reset(seed=self.seed)
            self.returns = np.zeros(self.num_envs, np.float32)
        return self.observations.astype(np.float32)

    def step(self, actions: np.ndarray):
        """(rewards, terminated, truncated, last observations of the episodes that ended (zeros
        elsewhere), their returns (0 elsewhere)), each float32 with one row per environment."""
        observations, rewards, terminated, truncated, info = self.envs.step(actions.astype(np.int64))
        self.returns += rewards
        ended = terminated | truncated
        final = np.zeros((self.num_envs, *self.observation_shape), np.float32)
        for index in np.flatnonzero(ended):
            final[index] = info["final_obs"][index]
        finished = np.where(ended, self.returns, 0.0).astype(np.float32)
        self.returns[ended] = 0.0
        self.observations = observations
        return (rewards.astype(np.float32), terminated.astype(np.float32), truncated.astype(np.float32),
                final, finished)


class ActorCritic(keras.Model):
    """The trainable A2C agent around a registered ``observation -> action_probabilities, value``
    network (``policy``): ``train_step`` collects a rollout and makes one update. It counts
    ``episodes`` and ``env_steps`` in non-trainable variables, saved with its weights."""

    def __init__(self, policy: keras.Model, rollouts: Rollouts, *, rollout_steps: int = 5, discount: float = 0.99,
                 entropy_coefficient: float = 0.01, value_coefficient: float = 0.5,
                 normalize_advantages: bool = False, seed: int = 0, name: str = "actor_critic_agent"):
        super().__init__(name=name)
        self.policy, self.rollouts = policy, rollouts
        self.rollout_steps, self.discount = rollout_steps, discount
        self.entropy_coefficient, self.value_coefficient = entropy_coefficient, value_coefficient
        self.normalize_advantages = normalize_advantages
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.episodes = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False,
                                        name="episodes")
        self.env_steps = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False,
                                         name="env_steps")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "policy_loss", "value_loss", "entropy", "episode_return")}
        self.built = True

    def call(self, observation, training=False):
        return self.policy(observation, training=training)

    def compile(self, *args, **kwargs):
        kwargs["jit_compile"] = False  # XLA cannot compile the environment's tf.numpy_function
        super().compile(*args, **kwargs)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _observe(self):
        import tensorflow as tf

        observation = tf.numpy_function(self.rollouts.observe, [], tf.float32, stateful=True)
        return tf.ensure_shape(observation, (self.rollouts.num_envs, *self.rollouts.observation_shape))

    def _step(self, actions):
        import tensorflow as tf

        outputs = tf.numpy_function(self.rollouts.step, [actions], [tf.float32] * 5, stateful=True)
        num_envs, shape = self.rollouts.num_envs, self.rollouts.observation_shape
        return [tf.ensure_shape(t, (num_envs, *shape) if i == 3 else (num_envs,)) for i, t in enumerate(outputs)]

    def train_step(self, data):
        import tensorflow as tf

        ops = keras.ops
        observations, actions, rewards, not_done, finished_returns = [], [], [], [], []
        for _ in range(self.rollout_steps):
            observation = self._observe()
            probabilities = self.policy(observation, training=False)["action_probabilities"]
            action = keras.random.categorical(ops.log(ops.maximum(probabilities, 1e-8)), 1,
                                              seed=self.seed_generator)[:, 0]
            reward, terminated, truncated, final_observation, finished = self._step(action)
            # a time limit is not a failure: the episode's value carries on past its last observation
            final_value = ops.stop_gradient(self.policy(final_observation, training=False)["value"][:, 0])
            rewards.append(reward + self.discount * truncated * final_value)
            not_done.append(1.0 - ops.maximum(terminated, truncated))
            observations.append(observation)
            actions.append(action)
            finished_returns.append(finished)
        running = ops.stop_gradient(self.policy(self._observe(), training=False)["value"][:, 0])
        returns = [None] * self.rollout_steps
        for t in reversed(range(self.rollout_steps)):
            running = rewards[t] + self.discount * not_done[t] * running
            returns[t] = running
        observations, actions, returns = (ops.concatenate(x, axis=0) for x in (observations, actions, returns))

        with tf.GradientTape() as tape:
            outputs = self.policy(observations, training=True)
            probabilities, values = outputs["action_probabilities"], outputs["value"][:, 0]
            log_probabilities = ops.log(ops.maximum(probabilities, 1e-8))
            chosen = ops.sum(log_probabilities * ops.one_hot(actions, ops.shape(probabilities)[-1]), axis=-1)
            advantages = ops.stop_gradient(returns - values)
            if self.normalize_advantages:
                advantages = (advantages - ops.mean(advantages)) / (ops.std(advantages) + 1e-8)
            policy_loss = -ops.mean(chosen * advantages)
            entropy = -ops.mean(ops.sum(probabilities * log_probabilities, axis=-1))
            value_loss = ops.mean(ops.square(returns - values))
            loss = policy_loss - self.entropy_coefficient * entropy + self.value_coefficient * value_loss
        variables = self.policy.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)

        finished = ops.concatenate(finished_returns, axis=0)
        ended = ops.cast(finished > 0, "float32")  # a CartPole episode earns at least 1
        self.episodes.assign_add(ops.sum(ended))
        self.env_steps.assign_add(float(self.rollout_steps * self.rollouts.num_envs))
        for name, value in (("loss", loss), ("policy_loss", policy_loss), ("value_loss", value_loss),
                            ("entropy", entropy)):
            self.trackers[name].update_state(value)
        self.trackers["episode_return"].update_state(finished, sample_weight=ended)
        return {**{name: tracker.result() for name, tracker in self.trackers.items()},
                "episodes": ops.convert_to_tensor(self.episodes), "env_steps": ops.convert_to_tensor(self.env_steps)}


@dataclass
class EnvironmentData(datasets.Data):
    """``Data`` for a task that learns from an environment: ``train`` is one dummy element per
    update (what ``fit`` counts as steps), ``rollouts`` the environments."""

    rollouts: Rollouts | None = None


def run_episodes(environment: str, act, *, episodes: int, seed: int, max_steps: int = 100_000) -> np.ndarray:
    """The returns of ``episodes`` episodes, run side by side, one per environment copy seeded
    ``seed + i``; ``act(observations) -> actions`` picks every copy's action at once."""
    envs = make_environments(environment, episodes, same_step_reset=False)
    observations, _ = envs.reset(seed=[seed + i for i in range(episodes)])
    returns, running = np.zeros(episodes), np.ones(episodes, bool)
    for _ in range(max_steps):
        observations, rewards, terminated, truncated, _ = envs.step(np.asarray(act(observations), np.int64))
        returns += np.where(running, rewards, 0.0)
        running &= ~(terminated | truncated)
        if not running.any():
            break
    envs.close()
    return returns


def policy_actions(policy: keras.Model, *, greedy: bool, seed: int = 0):
    """``act(observations) -> actions`` for ``run_episodes``: the most probable action, or one drawn."""
    rng = np.random.default_rng(seed)

    def act(observations):
        probabilities = keras.ops.convert_to_numpy(
            policy(observations.astype(np.float32), training=False)["action_probabilities"]).astype(np.float64)
        if greedy:
            return probabilities.argmax(axis=-1)
        cumulative = np.cumsum(probabilities / probabilities.sum(axis=-1, keepdims=True), axis=-1)
        return (rng.uniform(size=(len(cumulative), 1)) > cumulative).sum(axis=-1).clip(0, probabilities.shape[-1] - 1)

    return act


def random_actions(num_actions: int, *, seed: int = 0):
    rng = np.random.default_rng(seed)
    return lambda observations: rng.integers(0, num_actions, len(observations))


@register_task
class Reinforcement(Task):
    """Observation -> action, learned by A2C from a Gymnasium environment (``observation -> action,
    probabilities``). Options (``ReinforcementOptions``): ``environment``, ``num_envs``,
    ``rollout_steps``, ``updates_per_epoch``, ``discount``, ``entropy_coefficient``,
    ``value_coefficient``, ``evaluation_episodes``, ``normalize_advantages``; ``train_limit`` caps
    the updates per epoch and ``test_limit`` the evaluation episodes."""

    name = "reinforcement"

    def load(self, recipe, *, data_dir=None, download=True):
        import tensorflow as tf

        options = recipe.task_options
        rollouts = Rollouts(options.environment, options.num_envs, seed=recipe.seed)
        updates = min(options.updates_per_epoch, recipe.train_limit or options.updates_per_epoch)
        episodes = min(options.evaluation_episodes, recipe.test_limit or options.evaluation_episodes)
        info = datasets.DatasetInfo(options.environment, rollouts.observation_shape, rollouts.num_actions,
                                    tuple(str(a) for a in range(rollouts.num_actions)), INPUT_NAME, None,
                                    f"gymnasium {gymnasium().__version__} {options.environment}, "
                                    f"{options.num_envs} environments (SyncVectorEnv)",
                                    updates, 0, episodes)
        return EnvironmentData(train=tf.data.Dataset.range(updates), validation=None, test=None, info=info,
                               arrays=None, rollouts=rollouts)

    def build(self, recipe, data):
        options = recipe.task_options
        policy = architectures.build(recipe.architecture, input_shape=data.info.input_shape,
                                     num_actions=data.info.num_classes, name=f"{recipe.architecture}_policy",
                                     **recipe.architecture_kwargs)
        return ActorCritic(policy, data.rollouts, rollout_steps=options.rollout_steps, discount=options.discount,
                           entropy_coefficient=options.entropy_coefficient,
                           value_coefficient=options.value_coefficient,
                           normalize_advantages=options.normalize_advantages, seed=recipe.seed)

    def evaluate(self, recipe, model, data, context):
        options = recipe.task_options
        episodes, seed = data.info.num_test, recipe.seed + EVALUATION_SEED_OFFSET
        policy = model.policy if isinstance(model, ActorCritic) else model
        greedy = run_episodes(options.environment, policy_actions(policy, greedy=True), episodes=episodes, seed=seed)
        sampled = run_episodes(options.environment, policy_actions(policy, greedy=False, seed=seed),
                               episodes=episodes, seed=seed)
        random = run_episodes(options.environment, random_actions(data.info.num_classes, seed=seed),
                              episodes=episodes, seed=seed)
        metrics = {"return_mean": float(greedy.mean()), "return_std": float(greedy.std()),
                   "return_min": float(greedy.min()), "sampled_return_mean": float(sampled.mean()),
                   "random_return_mean": float(random.mean()), "evaluation_episodes": episodes}
        if isinstance(model, ActorCritic):
            metrics.update(training_episodes=float(keras.ops.convert_to_numpy(model.episodes)),
                           training_env_steps=float(keras.ops.convert_to_numpy(model.env_steps)))
        log.info("%s: mean return over %d episodes %.1f greedy, %.1f sampled, %.1f random", recipe.name, episodes,
                 metrics["return_mean"], metrics["sampled_return_mean"], metrics["random_return_mean"])
        history = _history(context.run_dir)
        plot = None
        if history:
            plot = plot_learning_curve(history, context.run_dir / "plots" / "learning_curve.png",
                                       random_return=metrics["random_return_mean"],
                                       solved=SOLVED_RETURN.get(options.environment), title=recipe.name)
        return metrics, [plot] if plot else []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        import tensorflow as tf

        policy = model.policy if isinstance(model, ActorCritic) else model
        spec = tf.TensorSpec((None, *data.info.input_shape), tf.float32, name=INPUT_NAME)
        return export_model(policy, name, export_dir=export_dir, endpoint=policy_endpoint(policy),
                            input_signature=[spec],
                            metadata={**metadata, "part": "policy", "environment": recipe.task_options.environment,
                                      "num_actions": data.info.num_classes,
                                      "outputs_meaning": {"action": "the most probable action (greedy)",
                                                          "probabilities": "the policy's probability of each action"}})


def policy_endpoint(policy: keras.Model):
    """``observation -> {action (greedy, int64), probabilities}``, the served policy."""

    def serve(observation):
        probabilities = policy(observation, training=False)["action_probabilities"]
        return {"action": keras.ops.argmax(probabilities, axis=-1), "probabilities": probabilities}

    return serve


def _history(run_dir: Path) -> dict[str, list[float]]:
    """The epoch log's columns (``training_log.csv``), which a resumed run continues."""
    path = Path(run_dir) / "training_log.csv"
    if not path.exists():
        return {}
    import csv

    with open(path) as stream:
        rows = list(csv.DictReader(stream))
    def number(text: str) -> float:
        try:
            return float(text)
        except ValueError:  # CSVLogger writes NA for a value an epoch lacks
            return float("nan")

    return {key: [number(row[key]) for row in rows] for key in ("episodes", "episode_return")} if rows else {}


def plot_learning_curve(history: dict[str, list[float]], path, *, random_return: float | None = None,
                        solved: float | None = None, title: str = "") -> Path | None:
    """Mean training episode return per epoch against the episodes so far, with the random
    policy's and the 'solved' returns as lines."""
    figure = new_figure("learning curve", figsize=(6.4, 4.0), dpi=100)
    if figure is None:
        return None
    axes = figure.subplots()
    axes.plot(history["episodes"], history["episode_return"], marker=".", label="training (mean of each epoch's episodes)")
    if solved is not None:
        axes.axhline(solved, color="tab:green", linestyle="--", label=f"solved ({solved:g})")
    if random_return is not None:
        axes.axhline(random_return, color="tab:red", linestyle=":", label=f"random policy ({random_return:.1f})")
    axes.set_xlabel("training episodes")
    axes.set_ylabel("episode return")
    axes.set_title(title)
    axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3)
    return save_figure(figure, path)
