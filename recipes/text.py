"""Text and symbol-sequence tasks: sentence classification on raw strings, a character language
model that generates text inside the exported graph, and an encoder-decoder that answers
addition questions from the raw question string.

Every export takes what a client has (strings) and returns strings or probabilities: the
vocabulary lookups and the decoding loops live inside the SavedModel.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import architectures
from architectures.sequence import seq2seq_inference_models
from recipes import data as datasets
from recipes.errors import DatasetNotFoundError, InputError
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task

log = logging.getLogger("keras_recipes")

MR_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
SHAKESPEARE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt"
MAX_GENERATION_LENGTH = 2000


# --- finding corpora ---------------------------------------------------------------------------

def _find_corpus(title: str, relative_paths: list[str], data_dir, download: bool, *, url: str,
                 cache_name: str, extract: bool) -> tuple[Path, str]:
    """The folder holding ``relative_paths``: data_dir, $KERAS_RECIPES_DATA_DIR, the Keras cache,
    then a download into the Keras cache. Raises ``DatasetNotFoundError`` listing what was tried."""
    searched = []
    candidates = [("data_dir", data_dir), (f"${datasets.DATA_DIR_ENV}", os.environ.get(datasets.DATA_DIR_ENV)),
                  ("Keras cache", datasets._keras_home() / "datasets")]
    for label, base in candidates:
        if not base:
            searched.append(f"{label}: not set")
            continue
        for folder in (Path(base), *(Path(base) / sub for sub in (cache_name, f"{cache_name}_extracted"))):
            for relative in relative_paths:
                if all((folder / part).is_file() for part in relative.split("|")):
                    return folder, f"{label} {folder}"
        searched.append(f"{label}: {base} (no {' or '.join(p.replace('|', ' + ') for p in relative_paths)})")
    problem = ("skipped (download=False or $KERAS_RECIPES_OFFLINE set)"
               if not download or os.environ.get(datasets.OFFLINE_ENV) else datasets._unreachable(url.split("/")[2]))
    if problem is None:
        try:
            path = Path(keras.utils.get_file(cache_name, url, extract=extract))
            folder = path if path.is_dir() else path.parent
            for relative in relative_paths:
                for found in (folder, *folder.glob("*")):
                    if found.is_dir() and all((found / part).is_file() for part in relative.split("|")):
                        return found, f"downloaded from {url}"
            problem = f"the download from {url} did not contain the expected files"
        except Exception as error:  # a failed download is reported with what else was searched
            problem = f"{type(error).__name__}: {error}"
    searched.append(f"download: {problem}")
    raise DatasetNotFoundError(
        f"{title} was not found. Searched:\n  - " + "\n  - ".join(searched)
        + f"\nTo get it: put the files in a folder and pass data_dir=... (CLI: --data-dir) or set "
          f"${datasets.DATA_DIR_ENV}; online, it is downloaded from {url} into the Keras cache."
    )


def _read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # the original MR release is Latin-1
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_mr_polarity(data_dir=None, download=True) -> tuple[np.ndarray, np.ndarray, str]:
    """MR sentence polarity v1.0 (Pang and Lee 2005): ``(sentences, labels, source)``, labels
    1 = positive, in file order (all negatives, then all positives)."""
    folder, source = _find_corpus(
        "The MR sentence-polarity corpus (rt-polarity.pos/.neg)",
        ["rt-polarity.pos|rt-polarity.neg", "rt-polarity/rt-polarity.pos|rt-polarity/rt-polarity.neg",
         "rt-polaritydata/rt-polarity.pos|rt-polaritydata/rt-polarity.neg"],
        data_dir, download, url=MR_URL, cache_name="rt-polaritydata", extract=True)
    for sub in ("", "rt-polarity", "rt-polaritydata"):
        if (folder / sub / "rt-polarity.pos").is_file():
            folder = folder / sub
            break
    negative, positive = _read_lines(folder / "rt-polarity.neg"), _read_lines(folder / "rt-polarity.pos")
    sentences = np.array(negative + positive, dtype=object)
    labels = np.array([0] * len(negative) + [1] * len(positive), dtype=np.int32)
    return sentences, labels, source


def load_tiny_shakespeare(data_dir=None, download=True) -> tuple[str, str]:
    """The char-rnn Tiny Shakespeare corpus as one string, and where it came from."""
    folder, source = _find_corpus(
        "Tiny Shakespeare (input.txt)", ["tinyshakespeare/input.txt", "input.txt", "shakespeare.txt"],
        data_dir, download, url=SHAKESPEARE_URL, cache_name="shakespeare.txt", extract=False)
    for relative in ("tinyshakespeare/input.txt", "input.txt", "shakespeare.txt"):
        if (folder / relative).is_file():
            return (folder / relative).read_text(encoding="utf-8"), source
    raise DatasetNotFoundError(f"{folder} has no input.txt")  # unreachable: _find_corpus checked


def stratified_split(labels: np.ndarray, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> list[np.ndarray]:
    """Seeded index arrays, one per fraction, each with the label proportions of the whole."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.round(np.cumsum(fractions) / np.sum(fractions) * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, bounds[:-1])):
            part.append(chunk)
    return [rng.permutation(np.concatenate(part)) for part in parts]


def _batches(x, y, batch_size, *, shuffle_seed=None):
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --- sentence classification -------------------------------------------------------------------

@register_task
class TextClassification(Task):
    """Raw sentences -> class probabilities, with ``TextVectorization`` inside the model.

    ``data_options``: ``max_tokens`` (vocabulary size, default 20000) and ``sequence_length``
    (tokens kept per sentence, default 64; MR sentences have at most 59 tokens).
    """

    name = "text_classification"
    class_names = ("negative", "positive")

    def load(self, recipe, *, data_dir=None, download=True):
        sentences, labels, source = load_mr_polarity(data_dir, download)
        train, validation, test = stratified_split(labels, (0.8, 0.1, 0.1), seed=recipe.seed)
        if not recipe.validation_split:  # train on train + validation, as recipes.tune retrains
            train, validation = np.concatenate([train, validation]), validation[:0]
        train, test = train[:recipe.train_limit], test[:recipe.test_limit]
        arrays = {split: (sentences[index].astype(str), labels[index])
                  for split, index in (("train", train), ("validation", validation), ("test", test))}
        info = datasets.DatasetInfo(
            name=recipe.dataset, input_shape=(), num_classes=2, class_names=self.class_names,
            input_name="text", value_range=None, source=source, num_train=len(train),
            num_validation=len(validation), num_test=len(test))
        return datasets.Data(
            train=_batches(*arrays["train"], recipe.batch_size, shuffle_seed=recipe.seed),
            validation=_batches(*arrays["validation"], recipe.batch_size) if len(validation) else None,
            test=_batches(*arrays["test"], recipe.batch_size), info=info, arrays=arrays)

    def build(self, recipe, data):
        options = {"max_tokens": 20000, "sequence_length": 64, **recipe.data_options}
        vectorizer = keras.layers.TextVectorization(
            max_tokens=options["max_tokens"], standardize="lower", split="whitespace",
            output_sequence_length=options["sequence_length"], name="vectorizer")
        vectorizer.adapt(data.arrays["train"][0])
        backbone = architectures.build(
            recipe.architecture, input_shape=(None,), num_classes=data.info.num_classes,
            vocabulary_size=vectorizer.vocabulary_size(),
            **{"max_length": options["sequence_length"], **recipe.architecture_kwargs})
        text = keras.Input((), dtype="string", name="text")
        return keras.Model(text, backbone(vectorizer(text)), name=f"{recipe.name}_model")

    def export(self, recipe, model, data, *, export_dir, metadata):
        def serve(text):
            probabilities = model(text, training=False)
            return {"positive_probability": probabilities[:, 1], "probabilities": probabilities}

        return export_model(model, recipe.name, export_dir=export_dir, endpoint=serve,
                            input_signature=[tf.TensorSpec((None,), tf.string, name="text")],
                            metadata={**metadata, "class_names": list(self.class_names)})


# --- character language model ------------------------------------------------------------------

def char_lookup(vocabulary, *, invert=False) -> keras.layers.StringLookup:
    """Characters <-> ids: 0 is padding, 1 an unknown character, the vocabulary from 2."""
    return _built(keras.layers.StringLookup(vocabulary=list(vocabulary), mask_token="", oov_token="[UNK]",
                                            invert=invert, name="char_to_id" if not invert else "id_to_char"))


def _built(lookup: keras.layers.StringLookup) -> keras.layers.StringLookup:
    lookup.build(None)  # a fixed-vocabulary lookup has no weights to create; export wants it built
    return lookup


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


@register_task
class LanguageModel(Task):
    """Next-character prediction on one corpus with a contiguous train/validation split.

    ``data_options``: ``sequence_length`` (characters per training window, default 100) and
    ``validation_fraction`` (the tail held out, default 0.1). The test split *is* that held-out
    tail: ``test_metrics["loss"]`` is the validation loss in nats per character.
    """

    name = "language_model"

    def load(self, recipe, *, data_dir=None, download=True):
        options = {"sequence_length": 100, "validation_fraction": 0.1, **recipe.data_options}
        text, source = load_tiny_shakespeare(data_dir, download)
        vocabulary = sorted(set(text))
        ids = char_lookup(vocabulary)(tf.strings.unicode_split(text, "UTF-8")).numpy().astype(np.int32)
        boundary = int(len(ids) * (1 - options["validation_fraction"]))
        length = options["sequence_length"]

        def windows(part, limit):
            count = (len(part) - 1) // length
            x = part[:count * length].reshape(count, length)
            y = part[1:count * length + 1].reshape(count, length)
            return x[:limit], y[:limit]

        arrays = {"train": windows(ids[:boundary], recipe.train_limit),
                  "validation": windows(ids[boundary:], recipe.test_limit)}
        arrays["test"] = arrays["validation"]
        info = datasets.DatasetInfo(
            name=recipe.dataset, input_shape=(None,), num_classes=len(vocabulary) + 2,
            class_names=tuple(vocabulary), input_name="token_ids", value_range=None, source=source,
            num_train=len(arrays["train"][0]), num_validation=len(arrays["validation"][0]),
            num_test=len(arrays["test"][0]), extras={"vocabulary": vocabulary})
        validation = _batches(*arrays["validation"], recipe.batch_size)
        return datasets.Data(train=_batches(*arrays["train"], recipe.batch_size, shuffle_seed=recipe.seed),
                             validation=validation, test=validation, info=info, arrays=arrays)

    def build(self, recipe, data):
        return architectures.build(recipe.architecture, input_shape=(None,), num_classes=data.info.num_classes,
                                   **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, run_dir):
        nats = model.evaluate(data.test, verbose=0, return_dict=True)["loss"]
        sample = generate_text(model, data.info.extras["vocabulary"], "ROMEO:", length=400, temperature=0.8)
        path = Path(run_dir) / "sample.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"prompt 'ROMEO:', temperature 0.8, seed 0\n\nROMEO:{sample}\n")
        log.info("%s: sample written to %s", recipe.name, path)
        return {"nats_per_char": nats, "bits_per_char": nats / math.log(2)}, []

    def export(self, recipe, model, data, *, export_dir, metadata):
        vocabulary = data.info.extras["vocabulary"]
        generate = make_generator(model, vocabulary)
        specs = list(generate.input_signature)

        def serve(prompt, length, temperature):
            seed = tf.random.uniform(tf.shape(length, out_type=tf.int64), maxval=2**62, dtype=tf.int64)
            return generate(prompt, length, temperature, seed)

        return export_model(
            model, recipe.name, export_dir=export_dir, endpoint=serve, input_signature=specs[:3],
            extra_endpoints={"generate_with_seed": (generate, specs)}, track=generate.lookups,
            metadata={**metadata, "vocabulary": "".join(vocabulary),
                      "max_generation_length": MAX_GENERATION_LENGTH})


# --- encoder-decoder: addition ------------------------------------------------------------------

ADDITION_SOURCE = list(" 0123456789+")
ADDITION_TARGET = list(" 0123456789") + ["\t"]  # "\t" starts the decoder


def addition_problems(count: int, digits: int = 3, *, seed: int = 0, exclude=frozenset()) -> list[tuple[int, int]]:
    """``count`` distinct (a, b) pairs with 1 to ``digits`` digits each, none of them in ``exclude``."""
    rng = np.random.default_rng(seed)
    found, seen = [], set(exclude)
    while len(found) < count:
        a, b = (int(rng.integers(0, 10 ** int(rng.integers(1, digits + 1)))) for _ in range(2))
        if (a, b) not in seen:
            seen.add((a, b))
            found.append((a, b))
    return found


class AdditionCodec:
    """Question and answer strings <-> fixed-length id arrays, the same in training and serving.

    Questions are padded with spaces to ``2 * digits + 1`` characters and reversed (Sutskever et
    al.'s trick: the last digits, which the answer starts with, come first); answers are padded
    to ``digits + 1`` characters.
    """

    def __init__(self, digits: int = 3):
        self.question_length, self.answer_length = 2 * digits + 1, digits + 1
        self.source = _built(keras.layers.StringLookup(vocabulary=ADDITION_SOURCE[1:], mask_token=" ",
                                                       oov_token="?", name="question_to_ids"))
        self.target = _built(keras.layers.StringLookup(vocabulary=ADDITION_TARGET[1:], mask_token=" ",
                                                       oov_token="?", name="answer_to_ids"))
        self.target_chars = _built(keras.layers.StringLookup(vocabulary=ADDITION_TARGET[1:], mask_token=" ",
                                                             oov_token="?", invert=True, name="ids_to_answer"))
        self.start_id = int(self.target(tf.constant("\t")))

    def encode_questions(self, questions):
        with tf.control_dependencies([tf.debugging.assert_less_equal(
                tf.strings.length(questions, unit="UTF8_CHAR"), self.question_length,
                message=f"a question has at most {self.question_length} characters, e.g. '123+456'")]):
            chars = tf.strings.unicode_split(tf.strings.strip(questions), "UTF-8")
        ids = tf.cast(self.source(chars), tf.int32).to_tensor(shape=(None, self.question_length))
        return tf.reverse(ids, axis=[1])

    def encode_answers(self, answers):
        chars = tf.strings.unicode_split(answers, "UTF-8")
        return tf.cast(self.target(chars), tf.int32).to_tensor(shape=(None, self.answer_length))

    def decode_answers(self, ids):
        return tf.strings.strip(tf.strings.reduce_join(self.target_chars(ids), axis=1))


def make_decoder(model: keras.Model, codec: AdditionCodec):
    """A graph function ``questions -> answers`` decoding greedily with the inference models that
    share the trained ``seq2seq`` model's layers."""
    encoder, decoder_step = seq2seq_inference_models(model)

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="question")])
    def answer(question):
        encoder_outputs, state_h, state_c = encoder(codec.encode_questions(question), training=False)
        token = tf.fill((tf.shape(question)[0], 1), codec.start_id)
        answer_ids = []
        for _ in range(codec.answer_length):
            probabilities, state_h, state_c = decoder_step([token, state_h, state_c, encoder_outputs], training=False)
            token = tf.cast(tf.argmax(probabilities, axis=-1), tf.int32)
            answer_ids.append(token)
        return {"answer": codec.decode_answers(tf.concat(answer_ids, axis=1))}

    answer.models = (encoder, decoder_step)
    return answer


@register_task
class Seq2Seq(Task):
    """Raw question string -> answer string with an encoder-decoder (teacher forcing in training,
    greedy decoding in evaluation and serving). ``data_options``: ``digits`` (default 3),
    ``num_train`` (default 50000), ``num_test`` (held-out problems never seen in training,
    default 5000). ``test_metrics["exact_match"]`` is the share of test answers fully right."""

    name = "seq2seq"

    def load(self, recipe, *, data_dir=None, download=True):
        options = {"digits": 3, "num_train": 50000, "num_test": 5000, **recipe.data_options}
        codec = AdditionCodec(options["digits"])
        count = recipe.train_limit or options["num_train"]
        seen = addition_problems(count, options["digits"], seed=recipe.seed)
        test = addition_problems(recipe.test_limit or options["num_test"], options["digits"],
                                 seed=recipe.seed + 1, exclude=frozenset(seen))
        validation_count = int(round(len(seen) * recipe.validation_split))
        splits = {"train": seen[validation_count:], "validation": seen[:validation_count], "test": test}
        arrays, pipelines = {}, {}
        for split, pairs in splits.items():
            questions = np.array([f"{a}+{b}" for a, b in pairs])
            answers = np.array([str(a + b) for a, b in pairs])
            arrays[split] = (questions, answers)
            target = codec.encode_answers(answers)
            start = tf.fill((len(pairs), 1), codec.start_id)
            inputs = (codec.encode_questions(questions), tf.concat([start, target[:, :-1]], axis=1))
            pipelines[split] = _batches(inputs, target, recipe.batch_size,
                                        shuffle_seed=recipe.seed if split == "train" else None)
        info = datasets.DatasetInfo(
            name=recipe.dataset, input_shape=(codec.question_length,), num_classes=len(ADDITION_TARGET) + 1,
            class_names=tuple(ADDITION_TARGET), input_name="question", value_range=None,
            source=f"generated ({options['digits']}-digit addition, seed {recipe.seed})",
            num_train=len(splits["train"]), num_validation=validation_count, num_test=len(test),
            extras={"codec": codec})
        return datasets.Data(train=pipelines["train"], validation=pipelines["validation"] if validation_count else None,
                             test=pipelines["test"], info=info, arrays=arrays)

    def build(self, recipe, data):
        return architectures.build(
            recipe.architecture, input_shape=(None,), num_classes=data.info.num_classes,
            source_vocabulary_size=len(ADDITION_SOURCE) + 1, **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, run_dir):
        answer = make_decoder(model, data.info.extras["codec"])
        questions, truth = data.arrays["test"]
        predicted = np.concatenate([answer(tf.constant(questions[i:i + 1024]))["answer"].numpy()
                                    for i in range(0, len(questions), 1024)]).astype(str)
        wrong = [(q, t, p) for q, t, p in zip(questions, truth, predicted) if t != p]
        for question, right, got in wrong[:5]:
            log.info("%s: %s = %s, answered %s", recipe.name, question, right, got)
        return {"exact_match": 1 - len(wrong) / len(truth)}, []

    def export(self, recipe, model, data, *, export_dir, metadata):
        codec = data.info.extras["codec"]
        answer = make_decoder(model, codec)
        return export_model(model, recipe.name, export_dir=export_dir, endpoint=answer,
                            input_signature=list(answer.input_signature),
                            track=(codec.source, codec.target, codec.target_chars, *answer.models),
                            metadata={**metadata, "question_length": codec.question_length})
