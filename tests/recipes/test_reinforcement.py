"""The actor-critic (A2C) recipe on CartPole-v1: it learns (better than a random policy on a small
budget), logs episode returns, resumes from its backup, and exports a policy that serves."""

import csv
import json

import gymnasium  # noqa: F401  (the [rl] extra, in dev: these tests must run, not skip)
import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from harness import EpochsStarted, Server
from recipes.errors import ConfigError
from recipes.serve import Client
from recipes.tasks import reinforcement

# 6 epochs of 60 updates of 8 environments x 5 steps: 14,400 environment steps, about 10 s here.
SMALL_BUDGET = {"epochs": 6, "train_limit": 60, "test_limit": 20, "seed": 0}
OBSERVATIONS = np.random.default_rng(0).normal(0, 0.05, (5, 4)).astype("float32")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cartpole")
    result = recipes.run("cartpole_a2c", export_dir=folder / "saved_models", work_dir=folder / "runs", verbose=0,
                         **SMALL_BUDGET)
    return result, folder


@pytest.mark.e2e
def test_a_small_budget_beats_the_random_policy_measured_on_the_same_episodes(trained):
    result, _ = trained
    metrics = result.test_metrics
    assert metrics["evaluation_episodes"] == SMALL_BUDGET["test_limit"]
    assert 12 < metrics["random_return_mean"] < 40  # CartPole's random policy: about 22
    assert metrics["return_mean"] > 4 * metrics["random_return_mean"], metrics  # 258 against 22 when measured
    assert metrics["sampled_return_mean"] > metrics["random_return_mean"], metrics
    assert metrics["training_env_steps"] == 6 * 60 * 8 * 5
    returns = result.history["episode_return"]
    assert np.mean(returns[-2:]) > np.mean(returns[:1]), returns


@pytest.mark.e2e
def test_the_csv_log_and_the_learning_curve_have_the_episode_returns(trained):
    result, _ = trained
    rows = list(csv.DictReader((result.run_dir / "training_log.csv").open()))
    assert [int(row["epoch"]) for row in rows] == list(range(6))
    episodes = [float(row["episodes"]) for row in rows]
    assert episodes == sorted(episodes) and episodes[0] > 0
    assert [float(row["env_steps"]) for row in rows] == [2400.0 * (epoch + 1) for epoch in range(6)]
    returns = [float(row["episode_return"]) for row in rows]
    assert returns == pytest.approx(result.history["episode_return"], rel=1e-5) and min(returns) >= 8
    assert (result.run_dir / "plots" / "learning_curve.png") in result.plots
    assert list((result.run_dir / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.e2e
def test_the_export_gives_the_in_memory_policy_probabilities_and_its_greedy_action(trained):
    result, _ = trained
    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["observation"]
    assert set(serve.structured_outputs) == {"action", "probabilities"}
    served = serve(observation=tf.constant(OBSERVATIONS))
    expected = keras.ops.convert_to_numpy(result.model.policy(OBSERVATIONS)["action_probabilities"])
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(served["action"].numpy(), expected.argmax(axis=-1))
    metadata = json.loads((result.export_path / "metadata.json").read_text())
    assert metadata["part"] == "policy" and metadata["environment"] == "CartPole-v1"
    assert metadata["test_metrics"]["return_mean"] == pytest.approx(result.test_metrics["return_mean"])


@pytest.mark.e2e
def test_episodes_played_against_the_served_policy_score_what_the_model_scores(trained):
    result, folder = trained
    with Server(folder / "saved_models") as running:
        client = Client(running.url)

        def served_actions(observations):
            answers = client.predict("cartpole_a2c", [{"observation": row} for row in observations.tolist()])
            return [answer["action"] for answer in answers]

        over_rest = reinforcement.run_episodes("CartPole-v1", served_actions, episodes=3, seed=123)
    in_memory = reinforcement.run_episodes("CartPole-v1", reinforcement.policy_actions(result.model.policy, greedy=True),
                                           episodes=3, seed=123)
    np.testing.assert_array_equal(over_rest, in_memory)
    assert over_rest.min() >= 8


class StopAtEpoch(keras.callbacks.Callback):
    """Stands for a kill: raises when epoch ``epoch`` begins, after the backup of the one before."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"stopped at epoch {epoch}")


@pytest.mark.e2e
def test_an_interrupted_run_resumes_from_its_last_epoch_with_its_counters(tmp_path):
    options = {"epochs": 4, "train_limit": 5, "test_limit": 2, "export": False, "work_dir": tmp_path, "verbose": 0,
               "callbacks": {"backup": {}, "csv_log": {}}}  # what resuming needs, without TensorBoard and plots
    with pytest.raises(KeyboardInterrupt):
        recipes.run("cartpole_a2c", extra_callbacks=[StopAtEpoch(2)], **options)
    (run_dir,) = tmp_path.glob("cartpole_a2c/*")
    assert (run_dir / "backup" / "epoch-0002").is_dir()

    started = EpochsStarted()
    result = recipes.run("cartpole_a2c", extra_callbacks=[started], **options)
    assert started.started == [2, 3]  # epochs 0 and 1 came from the backup
    assert result.history["env_steps"] == [200.0, 400.0, 600.0, 800.0]  # the counters were restored
    assert result.test_metrics["training_env_steps"] == 800.0
    rows = list(csv.DictReader((run_dir / "training_log.csv").open()))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3]
    assert not (run_dir / "backup").exists()


def test_a_random_policy_scores_about_22_on_cartpole():
    returns = reinforcement.run_episodes("CartPole-v1", reinforcement.random_actions(2, seed=0), episodes=100,
                                         seed=0)
    assert len(returns) == 100 and 18 < returns.mean() < 26


def test_bad_options_and_environments_say_what_to_do():
    with pytest.raises(ConfigError, match=r"num_envs must be a whole number of at least 1. Received: num_envs=0"):
        recipes.with_overrides(recipes.get("cartpole_a2c"), {"task_options.num_envs": 0})
    with pytest.raises(ConfigError, match=r"discount must be between 0 and 1. Received: discount=1.5"):
        recipes.with_overrides(recipes.get("cartpole_a2c"), {"task_options.discount": 1.5})
    with pytest.raises(ConfigError, match=r"unknown or unusable Gymnasium environment 'CartPol-v1'.*Received"):
        reinforcement.make_environments("CartPol-v1", 1)
    with pytest.raises(ConfigError, match=r"needs discrete actions.*Received: environment='Pendulum-v1'"):
        reinforcement.make_environments("Pendulum-v1", 1)


def test_without_gymnasium_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(ConfigError, match=r'pip install "keras-recipes\[rl\]"'):
        reinforcement.gymnasium()


@pytest.mark.e2e
def test_the_same_seed_gives_the_same_run_and_another_seed_another(tmp_path):
    def run(seed, folder):
        result = recipes.run("cartpole_a2c", epochs=1, train_limit=4, test_limit=1, seed=seed, export=False,
                             work_dir=tmp_path / folder, verbose=0, callbacks={})  # no logs or plots: faster
        return result.history, result.model.policy.get_weights()

    (first, first_weights), (again, again_weights) = run(0, "a"), run(0, "b")
    other, _ = run(1, "c")
    assert first == again
    for one, two in zip(first_weights, again_weights):
        np.testing.assert_array_equal(one, two)
    assert other["episodes"] != first["episodes"] or other["loss"] != first["loss"]
