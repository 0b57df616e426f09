"""Text tasks on slices of the real corpora: raw-string sentiment export, the character language
model's in-graph generator, and the addition encoder-decoder decoding from the raw question."""

import json

import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.errors import DatasetNotFoundError, InputError
from recipes.data.synthetic import addition_problems
from recipes.data.text import load_mr_polarity, stratified_split
from recipes.tasks.language_model import MAX_GENERATION_LENGTH, generate_text
from recipes.tasks.seq2seq import AdditionCodec, make_decoder

TINY = {"epochs": 2, "batch_size": 32, "train_limit": 256, "test_limit": 64, "verbose": 0}


@pytest.fixture(scope="module")
def sentiment(text_data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentiment")
    return recipes.run("mr_sentiment_transformer", data_dir=text_data_dir, export_dir=folder / "models",
                       work_dir=folder / "runs", **TINY)


@pytest.fixture(scope="module")
def language_model(text_data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("char_lm")
    result = recipes.run("shakespeare_char_lstm", data_dir=text_data_dir, export_dir=folder / "models",
                         work_dir=folder / "runs", architecture_kwargs={"units": 32}, **TINY)
    vocabulary = list(json.loads((result.export_path / "metadata.json").read_text())["vocabulary"])
    return result, vocabulary, tf.saved_model.load(str(result.export_path))


def test_stratified_split_is_seeded_disjoint_and_keeps_proportions():
    labels = np.array([0] * 600 + [1] * 400)
    train, validation, test = stratified_split(labels, (0.8, 0.1, 0.1), seed=3)
    assert (len(train), len(validation), len(test)) == (800, 100, 100)
    assert len(set(train) | set(validation) | set(test)) == 1000
    assert labels[test].mean() == pytest.approx(0.4) and labels[validation].mean() == pytest.approx(0.4)
    again = stratified_split(labels, (0.8, 0.1, 0.1), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, validation, test)))


def test_mr_corpus_loads_both_polarities(text_data_dir):
    sentences, labels, source = load_mr_polarity(text_data_dir)
    assert len(sentences) == 800 and labels.sum() == 400
    assert "data_dir" in source and all(isinstance(s, str) and s for s in sentences)


def test_missing_corpus_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DatasetNotFoundError) as error:
        load_mr_polarity(tmp_path / "empty")
    message = str(error.value)
    assert "empty" in message and "KERAS_RECIPES_DATA_DIR" in message and "rt-polaritydata.tar.gz" in message


@pytest.mark.e2e
def test_sentiment_export_takes_raw_strings_and_matches_the_model(sentiment):
    serve = tf.saved_model.load(str(sentiment.export_path)).signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["text"]
    sentences = ["a gorgeous , witty , seductive movie .", "dull and lifeless", ""]
    served = serve(text=tf.constant(sentences))
    expected = sentiment.model.predict(tf.constant(sentences), verbose=0)
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served["positive_probability"].numpy(), expected[:, 1], rtol=1e-5, atol=1e-6)


@pytest.mark.e2e
def test_empty_and_unknown_text_get_valid_probabilities(sentiment):
    serve = tf.saved_model.load(str(sentiment.export_path)).signatures["serving_default"]
    positive = serve(text=tf.constant(["", "   ", "qwzx vbnmk zzzyx"]))["positive_probability"].numpy()
    assert np.all(np.isfinite(positive)) and np.all((positive >= 0) & (positive <= 1))


@pytest.mark.e2e
def test_sentiment_padding_does_not_change_the_prediction(sentiment):
    """The vectorizer pads every sentence to 64 tokens; masking makes a short one's answer
    independent of how much padding follows it (checked through the vectorized ids)."""
    model = sentiment.model
    vectorizer, classifier = model.layers[1], model.layers[2]
    ids = vectorizer(tf.constant(["a gorgeous , witty , seductive movie ."])).numpy()
    length = int((ids > 0).sum())
    short = ids[:, :length + 2]
    np.testing.assert_allclose(classifier(short).numpy(), classifier(ids).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.e2e
def test_language_model_reports_bits_per_character(language_model):
    result, _, _ = language_model
    metrics = result.test_metrics
    assert metrics["nats_per_char"] == pytest.approx(metrics["loss"])
    assert metrics["bits_per_char"] == pytest.approx(metrics["loss"] / np.log(2))
    assert (result.run_dir / "sample.txt").read_text().startswith("prompt 'ROMEO:'")


@pytest.mark.e2e
def test_language_model_is_tested_on_text_that_model_selection_never_saw(language_model):
    result, _, _ = language_model
    info = json.loads((result.export_path / "metadata.json").read_text())["dataset"]
    assert info["num_test"] > 0 and info["num_validation"] > 0
    # the test loss is none of the validation losses early stopping and the checkpoint chose from
    assert all(abs(result.test_metrics["loss"] - loss) > 1e-4 for loss in result.history["val_loss"])


@pytest.mark.e2e
def test_generation_with_a_seed_is_reproducible(language_model):
    result, vocabulary, _ = language_model
    first = generate_text(result.model, vocabulary, "ROMEO:", length=40, temperature=1.0, seed=7)
    assert len(first) == 40 and set(first) <= set(vocabulary)
    assert generate_text(result.model, vocabulary, "ROMEO:", length=40, temperature=1.0, seed=7) == first
    assert generate_text(result.model, vocabulary, "ROMEO:", length=40, temperature=1.0, seed=8) != first


@pytest.mark.e2e
def test_exported_generator_matches_in_memory_generation(language_model):
    result, vocabulary, loaded = language_model
    seeded = loaded.signatures["generate_with_seed"]
    prompts, lengths = ["ROMEO:", "", "To be"], [25, 3, 12]
    served = seeded(prompt=tf.constant(prompts), length=tf.constant(lengths), temperature=tf.constant([1.0, 0.5, 2.0]),
                    seed=tf.constant([1, 2, 3], tf.int64))["generated_text"].numpy()
    expected = [generate_text(result.model, vocabulary, p, n, t, s)
                for p, n, t, s in zip(prompts, lengths, [1.0, 0.5, 2.0], [1, 2, 3])]
    assert [text.decode() for text in served] == expected
    unseeded = loaded.signatures["serving_default"](prompt=tf.constant(["KING"]), length=tf.constant([30]),
                                                    temperature=tf.constant([0.8]))["generated_text"].numpy()
    assert len(unseeded[0].decode()) == 30


@pytest.mark.parametrize("length, temperature, message", [
    (0, 1.0, "length must be"), (MAX_GENERATION_LENGTH + 1, 1.0, "length must be"),
    (10, 0.0, "temperature must be"), (10, -1.0, "temperature must be"),
])
@pytest.mark.e2e
def test_bad_generation_requests_are_rejected_with_a_clear_message(language_model, length, temperature, message):
    result, vocabulary, loaded = language_model
    with pytest.raises(InputError, match=message):
        generate_text(result.model, vocabulary, "ROMEO:", length=length, temperature=temperature)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["serving_default"](prompt=tf.constant(["ROMEO:"]), length=tf.constant([length]),
                                             temperature=tf.constant([temperature]))


def test_addition_problems_are_seeded_and_test_problems_are_unseen():
    train = addition_problems(500, seed=0)
    assert addition_problems(500, seed=0) == train and len(set(train)) == 500
    test = addition_problems(200, seed=1, exclude=frozenset(train))
    assert not set(test) & set(train)
    assert all(0 <= a < 1000 and 0 <= b < 1000 for a, b in train + test)


def test_addition_codec_round_trips_answers():
    codec = AdditionCodec(3)
    questions = codec.encode_questions(tf.constant(["123+45", "7+8"])).numpy()
    assert questions.shape == (2, 7) and (questions[:, :1] == 0).all()  # reversed: padding first
    answers = codec.encode_answers(tf.constant(["168", "15"]))
    assert [a.decode() for a in codec.decode_answers(answers).numpy()] == ["168", "15"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 7 characters"):
        codec.encode_questions(tf.constant(["1234+5678"]))


@pytest.mark.e2e
def test_addition_export_decodes_raw_questions_like_the_model(tmp_path):
    result = recipes.run("addition_seq2seq", export_dir=tmp_path / "models", work_dir=tmp_path / "runs",
                         **{**TINY, "train_limit": 1024, "test_limit": 128})
    assert 0.0 <= result.test_metrics["exact_match"] <= 1.0
    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    questions = ["123+45", "9+9", "999+999", "0+0"]
    served = [a.decode() for a in serve(question=tf.constant(questions))["answer"].numpy()]
    in_memory = make_decoder(result.model, AdditionCodec(3))(tf.constant(questions))["answer"].numpy()
    assert served == [a.decode() for a in in_memory]
