"""Every registered sequence builder (float features, token ids, token pairs), tested by being
registered: variable-length inputs, serialisation, .keras round trip, export and reload."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
from architectures.sequence import TEXT_ENCODERS, seq2seq_inference_models
from harness import outputs_of, run_builder_test, run_saving_test

SEQUENCE_BUILDERS = [n for n in architectures.names() if architectures.entry(n).inputs in ("features", "tokens", "token_pairs")]
FEATURES = 3
VOCABULARY = 12


def _kwargs(name, **kwargs):
    kind = architectures.entry(name).inputs
    shape = {"features": (None, FEATURES), "tokens": (None,), "token_pairs": (None,)}[kind]
    options = {"vocabulary_size": VOCABULARY} if name == "text_classifier" else {}
    if name in ("char_lm", "seq2seq"):
        options = {"num_classes": VOCABULARY}
    if name == "seq2seq":
        options["source_vocabulary_size"] = VOCABULARY
    return {"input_shape": shape, **options, **kwargs}


def _build(name, **kwargs):
    return architectures.build(name, **_kwargs(name, **kwargs))


def _sample(name, length, seed=0):
    rng = np.random.default_rng(seed)
    kind = architectures.entry(name).inputs
    if kind == "features":
        return rng.normal(size=(2, length, FEATURES)).astype("float32")
    ids = lambda: rng.integers(1, VOCABULARY, (2, length)).astype("int32")  # noqa: E731
    return ids() if kind == "tokens" else [ids(), ids()]


def test_every_kind_of_sequence_builder_is_registered():
    kinds = {architectures.entry(n).inputs for n in SEQUENCE_BUILDERS}
    assert kinds == {"features", "tokens", "token_pairs"}
    assert {"simple_rnn", "lstm", "gru", "bilstm", "text_classifier", "char_lm", "seq2seq",
            "sequence_tagger", "forecaster"} <= set(SEQUENCE_BUILDERS)


@pytest.mark.parametrize("name", SEQUENCE_BUILDERS)
def test_takes_any_length_and_matches_declared_output_shape(name):
    declared = _build(name).output_shape
    for length in (5, 11):
        expected = tuple(2 if axis == 0 else length if dim is None and axis == 1 else dim
                         for axis, dim in enumerate(declared))
        run_builder_test(name, _kwargs(name), _sample(name, length), expected)
    keras.backend.clear_session()


@pytest.mark.parametrize("name", SEQUENCE_BUILDERS)
def test_keras_file_and_savedmodel_round_trips(name, tmp_path):
    run_saving_test(_build(name), _sample(name, 7), tmp_path)
    keras.backend.clear_session()


@pytest.mark.parametrize("encoder", [e for e in TEXT_ENCODERS if e != "conv1d"])
def test_padding_is_masked_so_padded_and_unpadded_sentences_agree(encoder):
    model = _build("text_classifier", encoder=encoder, embedding_dim=16, units=8, heads=2, mlp_dim=16,
                   max_length=32)
    sentence = np.array([[5, 3, 9, 2]], dtype="int32")
    padded = np.array([[5, 3, 9, 2, 0, 0, 0, 0, 0]], dtype="int32")
    np.testing.assert_allclose(outputs_of(model, padded), outputs_of(model, sentence), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("encoder", TEXT_ENCODERS)
def test_all_padding_input_still_gives_probabilities(encoder):
    """An empty sentence vectorises to all padding; every encoder must still answer."""
    model = _build("text_classifier", encoder=encoder, embedding_dim=16, units=8, heads=2, mlp_dim=16)
    out = outputs_of(model, np.zeros((2, 6), dtype="int32"))
    assert np.all(np.isfinite(out)) and np.allclose(out.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["simple_rnn", "lstm", "gru", "bilstm"])
def test_recurrent_encoders_skip_masked_time_steps(name):
    model = _build(name, mask_value=0.0, units=8)
    x = np.random.default_rng(0).normal(size=(1, 4, FEATURES)).astype("float32")
    padded = np.concatenate([x, np.zeros((1, 3, FEATURES), "float32")], axis=1)
    np.testing.assert_allclose(outputs_of(model, padded), outputs_of(model, x), rtol=1e-5, atol=1e-6)


def test_recurrent_encoders_stack_to_the_requested_depth():
    model = _build("gru", depth=3, units=8, dropout=0.1, recurrent_dropout=0.1)
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.GRU)]
    assert [layer.name for layer in recurrent] == ["gru1", "gru2", "gru3"]
    assert [layer.return_sequences for layer in recurrent] == [True, True, False]
    assert recurrent[0].dropout == 0.1 and recurrent[0].recurrent_dropout == 0.1


@pytest.mark.parametrize("attention", [None, "luong", "bahdanau"])
def test_seq2seq_inference_models_share_weights_and_reproduce_teacher_forcing(attention):
    model = _build("seq2seq", attention=attention, units=16, embedding_dim=8)
    encoder, decoder_step = seq2seq_inference_models(model)
    shared = {id(v) for v in model.weights}
    assert {id(v) for v in encoder.weights} <= shared and {id(v) for v in decoder_step.weights} <= shared
    assert decoder_step.get_layer("decoder_lstm") is model.get_layer("decoder_lstm")

    source, target = _sample("seq2seq", 6)
    encoder_outputs, state_h, state_c = encoder(source)
    steps = []
    for t in range(target.shape[1]):
        probabilities, state_h, state_c = decoder_step(
            [tf.constant(target[:, t:t + 1]), state_h, state_c, encoder_outputs])
        steps.append(keras.ops.convert_to_numpy(probabilities))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), outputs_of(model, [source, target]), atol=1e-5)


def test_forecaster_predicts_a_horizon_of_every_target():
    model = architectures.build("forecaster", input_shape=(12, 2), horizon=3, encoder="conv1d")
    assert model.output_shape == (None, 3, 2)
    assert architectures.build("forecaster", input_shape=(12, 2), horizon=4, targets=1).output_shape == (None, 4, 1)
    with pytest.raises(ValueError, match="conv1d encoder needs a fixed window"):
        architectures.build("forecaster", input_shape=(None, 2), encoder="conv1d")


def test_unknown_encoder_names_the_choices():
    with pytest.raises(ValueError, match="encoder must be one of simple_rnn, lstm, gru, bilstm, conv1d, transformer"):
        architectures.build("text_classifier", encoder="lstmm")
