"""An encoder-decoder that answers addition questions from the raw question string.

    >>> result = recipes.run("addition_seq2seq")
    >>> result.test_metrics["exact_match"]

The export takes the question (``"123+45"``) and returns the answer (``"168"``): the lookups and
the greedy decoding loop live inside the SavedModel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

import architectures
from architectures.sequence import seq2seq_inference_models
from recipes import data as datasets
from recipes.data.synthetic import addition_problems
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task
from recipes.tasks._strings import fixed_lookup

log = logging.getLogger("keras_recipes")

ADDITION_SOURCE = list(" 0123456789+")
ADDITION_TARGET = list(" 0123456789") + ["\t"]  # "\t" starts the decoder


class AdditionCodec:
    """Question and answer strings <-> fixed-length id arrays, the same in training and serving.

    Questions are padded with spaces to ``2 * digits + 1`` characters and reversed (Sutskever et
    al.'s trick: the last digits, which the answer starts with, come first); answers are padded
    to ``digits + 1`` characters.
    """

    def __init__(self, digits: int = 3):
        self.question_length, self.answer_length = 2 * digits + 1, digits + 1
        self.source = fixed_lookup(ADDITION_SOURCE[1:], mask_token=" ", oov_token="?", name="question_to_ids")
        self.target = fixed_lookup(ADDITION_TARGET[1:], mask_token=" ", oov_token="?", name="answer_to_ids")
        self.target_chars = fixed_lookup(ADDITION_TARGET[1:], mask_token=" ", oov_token="?", invert=True,
                                         name="ids_to_answer")
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


@dataclass
class AdditionData(datasets.Data):
    """The problems' id arrays, and the codec that made them (the export uses it too)."""

    codec: AdditionCodec


@register_task
class Seq2Seq(Task):
    """Raw question string -> answer string with an encoder-decoder (teacher forcing in training,
    greedy decoding in evaluation and serving). Options (``Seq2SeqOptions``): the operands' digits
    and the numbers of training and held-out test problems. ``test_metrics["exact_match"]`` is the
    share of test answers fully right."""

    name = "seq2seq"

    def load(self, recipe, *, data_dir=None, download=True):
        options = recipe.task_options
        codec = AdditionCodec(options.digits)
        count = recipe.train_limit or options.num_train
        seen = addition_problems(count, options.digits, seed=recipe.seed)
        test = addition_problems(recipe.test_limit or options.num_test, options.digits,
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
            pipelines[split] = datasets.batched(inputs, target, recipe.batch_size,
                                                shuffle_seed=recipe.seed if split == "train" else None)
        info = datasets.DatasetInfo(
            name=recipe.dataset, input_shape=(codec.question_length,), num_classes=len(ADDITION_TARGET) + 1,
            class_names=tuple(ADDITION_TARGET), input_name="question", value_range=None,
            source=f"generated ({options.digits}-digit addition, seed {recipe.seed})",
            num_train=len(splits["train"]), num_validation=validation_count, num_test=len(test))
        return AdditionData(train=pipelines["train"], validation=pipelines["validation"] if validation_count else None,
                            test=pipelines["test"], info=info, arrays=arrays, codec=codec)

    def build(self, recipe, data):
        return architectures.build(
            recipe.architecture, input_shape=(None,), num_classes=data.info.num_classes,
            source_vocabulary_size=len(ADDITION_SOURCE) + 1, **recipe.architecture_kwargs)

    def evaluate(self, recipe, model, data, context):
        answer = make_decoder(model, data.codec)
        questions, truth = data.arrays["test"]
        predicted = np.concatenate([answer(tf.constant(questions[i:i + 1024]))["answer"].numpy()
                                    for i in range(0, len(questions), 1024)]).astype(str)
        wrong = [(q, t, p) for q, t, p in zip(questions, truth, predicted) if t != p]
        for question, right, got in wrong[:5]:
            log.info("%s: %s = %s, answered %s", recipe.name, question, right, got)
        return {"exact_match": 1 - len(wrong) / len(truth)}, []

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        codec = data.codec
        answer = make_decoder(model, codec)
        return export_model(model, name, export_dir=export_dir, endpoint=answer,
                            input_signature=list(answer.input_signature),
                            track=(codec.source, codec.target, codec.target_chars, *answer.models),
                            metadata={**metadata, "question_length": codec.question_length})
