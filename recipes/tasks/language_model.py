"""A character language model that generates text inside the exported graph.

    >>> result = recipes.run("shakespeare_char_lstm")
    >>> generate_text(result.model, vocabulary, "ROMEO:", length=200, temperature=0.8, seed=0)

The export takes prompts, lengths and temperatures (strings and numbers, what a client has) and
returns generated text: the vocabulary lookups and the sampling loop live inside the SavedModel.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

import architectures
from recipes import data as datasets
from recipes.data.text import load_tiny_shakespeare
from recipes.errors import ConfigError, InputError
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task
from recipes.tasks._strings import fixed_lookup

log = logging.getLogger("keras_recipes")

MAX_GENERATION_LENGTH = 2000


def char_lookup(vocabulary, *, invert=False) -> keras.layers.StringLookup:
    """Characters <-> ids: 0 is padding, 1 an unknown character, the vocabulary from 2."""
    return fixed_lookup(vocabulary, mask_token="", oov_token="[UNK]", invert=invert,
                        name="id_to_char" if invert else "char_to_id")


def make_generator(model: keras.Model, vocabulary) -> tf.types.experimental.GenericFunction:
    """A graph function ``(prompts, lengths, temperatures, seeds) -> generated texts`` (all batched,
    one row per request) that steps a trained ``char_lm``'s own layers one character at a time.

    The prompt (after a newline, the corpus's natural start) sets the recurrent state; each
    next character is drawn from softmax(logits / temperature) with the Gumbel-max trick on
    noise seeded by (row seed, step), so a seed gives the same text in and out of the export.
    """
    to_ids, to_chars = char_lookup(vocabulary), char_lookup(vocabulary, invert=True)
    embedding = model.get_layer("embedding")
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    head = model.get_layer("predictions")
    size = to_ids.vocabulary_size()
    cannot_sample = tf.constant([-1e9, -1e9] + [0.0] * (size - 2))  # padding and unknown

    def step(ids, states):
        x = embedding(ids)
        new_states = []
        for layer, state in zip(recurrent, states):
            x, state = layer.cell(x, state, training=False)
            new_states.append(list(state) if isinstance(state, (list, tuple)) else [state])
        return tf.matmul(x, head.kernel) + head.bias, new_states

    @tf.function(input_signature=[
        tf.TensorSpec((None,), tf.string, name="prompt"), tf.TensorSpec((None,), tf.int32, name="length"),
        tf.TensorSpec((None,), tf.float32, name="temperature"), tf.TensorSpec((None,), tf.int64, name="seed")])
    def generate(prompt, length, temperature, seed):
        checks = [
            tf.debugging.assert_positive(length, message="length must be at least 1"),
            tf.debugging.assert_less_equal(length, MAX_GENERATION_LENGTH,
                                           message=f"length must be at most {MAX_GENERATION_LENGTH}"),
            tf.debugging.assert_positive(temperature, message="temperature must be greater than 0"),
        ]
        with tf.control_dependencies(checks):  # everything downstream waits for the checks
            length, temperature, prompt = tf.identity(length), tf.identity(temperature), tf.identity(prompt)
        prompt_ids = tf.cast(to_ids(tf.strings.unicode_split(tf.strings.join(["\n", prompt]), "UTF-8")),
                             tf.int32).to_tensor()
        batch = tf.shape(prompt_ids)[0]
        states = [[tf.zeros((batch, size_)) for size_ in tf.nest.flatten(layer.cell.state_size)]
                  for layer in recurrent]
        logits = tf.zeros((batch, size))
        for t in tf.range(tf.shape(prompt_ids)[1]):
            ids = prompt_ids[:, t]
            step_logits, step_states = step(ids, states)
            keep = (ids > 0)[:, None]
            logits = tf.where(keep, step_logits, logits)
            states = tf.nest.map_structure(lambda new, old: tf.where(keep, new, old), step_states, states)
        longest = tf.reduce_max(length)
        sampled = tf.TensorArray(tf.int32, size=longest)
        for t in tf.range(longest):
            noise = tf.map_fn(
                lambda row_seed: tf.random.stateless_uniform(
                    (size,), seed=tf.stack([row_seed, tf.cast(t, tf.int64)]), minval=1e-12, maxval=1.0),
                seed, fn_output_signature=tf.float32)
            scaled = logits / temperature[:, None] + cannot_sample
            ids = tf.cast(tf.argmax(scaled - tf.math.log(-tf.math.log(noise)), axis=-1), tf.int32)
            sampled = sampled.write(t, ids)
            logits, states = step(ids, states)
        chars = to_chars(tf.transpose(sampled.stack()))
        keep = tf.sequence_mask(length, longest)
        return {"generated_text": tf.strings.reduce_join(tf.where(keep, chars, ""), axis=1)}

    generate.lookups = (to_ids, to_chars)
    return generate


def generate_text(model: keras.Model, vocabulary, prompt: str = "", length: int = 200,
                  temperature: float = 1.0, seed: int = 0, *, generator=None) -> str:
    """Sample ``length`` characters after ``prompt`` from a trained ``char_lm``; the same seed gives
    the same text. ``temperature`` < 1 sharpens the distribution, > 1 flattens it."""
    if not isinstance(length, (int, np.integer)) or not 1 <= length <= MAX_GENERATION_LENGTH:
        raise InputError(f"length must be an integer from 1 to {MAX_GENERATION_LENGTH}, got {length!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise InputError(f"temperature must be a number greater than 0, got {temperature!r}")
    generator = generator or make_generator(model, vocabulary)
    output = generator(tf.constant([prompt]), tf.constant([length], tf.int32),
                       tf.constant([temperature], tf.float32), tf.constant([seed], tf.int64))
    return output["generated_text"][0].numpy().decode("utf-8")


def corpus_cuts(length: int, validation_fraction: float, test_fraction: float) -> tuple[int, int]:
    """``(train_end, validation_end)``: train is ``[0, train_end)``, validation up to
    ``validation_end``, and the test part the rest, the corpus's end."""
    validation_end = length - round(length * test_fraction)
    return validation_end - round(length * validation_fraction), validation_end


@dataclass
class CorpusData(datasets.Data):
    """The corpus's windows, and the characters its ids stand for (id 2 is ``vocabulary[0]``)."""

    vocabulary: list[str]


@register_task
class LanguageModel(Task):
    """Next-character prediction on one corpus cut into three contiguous parts: train |
    validation | test, the test part at the corpus's end.

    Options (``LanguageModelOptions``): the characters per training window and the fractions of
    the corpus in the validation and test parts. Each part is windowed on its own, so no window
    straddles a cut. Early stopping and the best checkpoint select on validation; the test part
    is measured once, after training: ``test_metrics["loss"]`` is its loss in nats per character.
    """

    name = "language_model"

    def load(self, recipe, *, data_dir=None, download=True):
        options = recipe.task_options
        text, source = load_tiny_shakespeare(data_dir, download)
        vocabulary = sorted(set(text))
        ids = char_lookup(vocabulary)(tf.strings.unicode_split(text, "UTF-8")).numpy().astype(np.int32)
        cuts = corpus_cuts(len(ids), options.validation_fraction, options.test_fraction)
        length = options.sequence_length

        def windows(part, limit):
            count = (len(part) - 1) // length
            if count < 1:
                raise ConfigError(f"{recipe.name}: a part of {len(part)} characters holds no window of "
                                  f"{length} + 1; use a longer corpus, shorter windows or larger fractions")
            x = part[:count * length].reshape(count, length)
            y = part[1:count * length + 1].reshape(count, length)
            return x[:limit], y[:limit]

        arrays = {"train": windows(ids[:cuts[0]], recipe.train_limit),
                  "validation": windows(ids[cuts[0]:cuts[1]], recipe.test_limit),
                  "test": windows(ids[cuts[1]:], recipe.test_limit)}
        info = datasets.DatasetInfo(
            name=recipe.dataset, input_shape=(None,), num_classes=len(vocabulary) + 2,
            class_names=tuple(vocabulary), input_name="token_ids", value_range=None, source=source,
            num_train=len(arrays["train"][0]), num_validation=len(arrays["validation"][0]),
            num_test=len(arrays["test"][0]))
        return CorpusData(train=datasets.batched(*arrays["train"], recipe.batch_size, shuffle_seed=recipe.seed),
                          validation=datasets.batched(*arrays["validation"], recipe.batch_size),
                          test=datasets.batched(*arrays["test"], recipe.batch_size),
                          info=info, arrays=arrays, vocabulary=vocabulary)

    def build(self, recipe, data):
        return architectures.build(recipe.architecture, input_shape=(None,), num_classes=data.info.num_classes,
                                   **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        nats = model.evaluate(data.test, verbose=0, return_dict=True)["loss"]
        sample = generate_text(model, data.vocabulary, "ROMEO:", length=400, temperature=0.8)
        path = context.run_dir / "sample.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"prompt 'ROMEO:', temperature 0.8, seed 0\n\nROMEO:{sample}\n")
        log.info("%s: sample written to %s", recipe.name, path)
        return {"nats_per_char": nats, "bits_per_char": nats / math.log(2)}, []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        vocabulary = data.vocabulary
        generate = make_generator(model, vocabulary)
        specs = list(generate.input_signature)

        def serve(prompt, length, temperature):
            seed = tf.random.uniform(tf.shape(length, out_type=tf.int64), maxval=2**62, dtype=tf.int64)
            return generate(prompt, length, temperature, seed)

        return export_model(
            model, name, export_dir=export_dir, endpoint=serve, input_signature=specs[:3],
            extra_endpoints={"generate_with_seed": (generate, specs)}, track=generate.lookups,
            metadata={**metadata, "vocabulary": "".join(vocabulary),
                      "max_generation_length": MAX_GENERATION_LENGTH})
