"""Recurrent, convolutional and transformer models for sequences, in the four roles of the course:
encoder (sequence -> vector), generator (``char_lm``), transducer (``sequence_tagger``) and
conditioned generator (``seq2seq``), plus ``forecaster`` for time series.

Float sequences are (time, features); token sequences are integer ids with 0 as padding. The time
dimension may be ``None`` (any length) everywhere except where a builder says otherwise.
"""

import keras
from keras import layers

from architectures.blocks import (RECURRENT_LAYERS, classifier_head, recurrent_stack, require_no_pooling,
                                  transformer_encoder_block)
from architectures.layers import ClassToken, PositionEmbedding
from architectures.registry import register, register_search_space

TEXT_ENCODERS = (*RECURRENT_LAYERS, "bilstm", "conv1d", "transformer")
PER_STEP_FEATURES = "one vector per time step"


def _recurrent_classifier(cell, bidirectional, *, input_shape, num_classes, include_top, pooling,
                          classifier_activation, units, depth, dropout, recurrent_dropout, mask_value, name):
    require_no_pooling(name, pooling, features="one vector per sequence (the last hidden state)")
    inputs = keras.Input(input_shape, name="inputs")
    x = inputs if mask_value is None else layers.Masking(mask_value, name="masking")(inputs)
    x = recurrent_stack(x, cell, units, depth=depth, bidirectional=bidirectional, dropout=dropout,
                        recurrent_dropout=recurrent_dropout, name=cell)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register("simple_rnn", family="rnn", paper="Elman 1990, Finding structure in time", inputs="features")
def simple_rnn(input_shape=(None, 1), num_classes=2, *, include_top=True, pooling=None,
               classifier_activation="softmax", units=64, depth=1, dropout=0.0, recurrent_dropout=0.0,
               mask_value=None, name="simple_rnn") -> keras.Model:
    """Elman RNN encoder: the last hidden state of ``depth`` stacked SimpleRNN layers -> head.

    ``mask_value`` (e.g. 0.0) skips time steps whose features all equal it (padding).
    """
    return _recurrent_classifier("simple_rnn", False, **locals())


@register("lstm", family="rnn", paper="Hochreiter & Schmidhuber 1997, Neural Computation 9(8)", inputs="features")
def lstm(input_shape=(None, 1), num_classes=2, *, include_top=True, pooling=None, classifier_activation="softmax",
         units=64, depth=1, dropout=0.0, recurrent_dropout=0.0, mask_value=None, name="lstm") -> keras.Model:
    """LSTM encoder: the last hidden state of ``depth`` stacked LSTM layers -> head."""
    return _recurrent_classifier("lstm", False, **locals())


@register("gru", family="rnn", paper="Cho et al. 2014, arXiv:1406.1078", inputs="features")
def gru(input_shape=(None, 1), num_classes=2, *, include_top=True, pooling=None, classifier_activation="softmax",
        units=64, depth=1, dropout=0.0, recurrent_dropout=0.0, mask_value=None, name="gru") -> keras.Model:
    """GRU encoder: the last hidden state of ``depth`` stacked GRU layers -> head."""
    return _recurrent_classifier("gru", False, **locals())


@register("bilstm", family="rnn", paper="Graves & Schmidhuber 2005, Neural Networks 18(5-6)", inputs="features")
def bilstm(input_shape=(None, 1), num_classes=2, *, include_top=True, pooling=None,
           classifier_activation="softmax", units=64, depth=1, dropout=0.0, recurrent_dropout=0.0,
           mask_value=None, name="bilstm") -> keras.Model:
    """Bidirectional LSTM encoder: forward and backward final states, concatenated -> head."""
    return _recurrent_classifier("lstm", True, **locals())


def _text_encoder(x, encoder, *, units, depth, dropout, recurrent_dropout, filters, kernel_sizes,
                  heads, mlp_dim, max_length):
    if encoder in RECURRENT_LAYERS or encoder == "bilstm":
        cell = "lstm" if encoder == "bilstm" else encoder
        return recurrent_stack(x, cell, units, depth=depth, bidirectional=encoder == "bilstm",
                               dropout=dropout, recurrent_dropout=recurrent_dropout, name=encoder)
    if encoder == "conv1d":
        # Kim 2014: parallel n-gram filters, max over time.
        branches = [layers.GlobalMaxPooling1D(name=f"conv{k}_max")(
            layers.Conv1D(filters, k, padding="same", activation="relu", name=f"conv{k}")(x))
            for k in kernel_sizes]
        return branches[0] if len(branches) == 1 else layers.Concatenate(name="ngram_features")(branches)
    x = PositionEmbedding(max_length, name="position_embedding")(x)
    x = ClassToken(name="class_token")(x)
    for index in range(1, depth + 1):
        x = transformer_encoder_block(x, heads=heads, mlp_dim=mlp_dim, dropout=dropout, name=f"encoder{index}")
    x = layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    return layers.GlobalAveragePooling1D(name="mean_pool")(x)


@register("text_classifier", family="text", paper="Kim 2014, arXiv:1408.5882; Vaswani et al. 2017", inputs="tokens")
def text_classifier(input_shape=(None,), num_classes=2, *, include_top=True, pooling=None,
                    classifier_activation="softmax", vocabulary_size=20000, embedding_dim=128,
                    encoder="bilstm", units=64, depth=1, dropout=0.5, recurrent_dropout=0.0, filters=100,
                    kernel_sizes=(3, 4, 5), heads=4, mlp_dim=128, max_length=256,
                    name="text_classifier") -> keras.Model:
    """Token ids -> embedding (0 = padding, masked except for conv1d) -> encoder -> dropout -> head.

    ``encoder``: ``simple_rnn``, ``lstm``, ``gru``, ``bilstm`` (``units``, ``depth``, dropouts),
    ``conv1d`` (Kim's n-gram filters: ``filters`` per size in ``kernel_sizes``, max over time) or
    ``transformer`` (learned positions for up to ``max_length`` tokens, a class token, ``depth``
    pre-norm blocks of ``heads`` heads, mean pooling over the class token and unmasked tokens).
    """
    require_no_pooling("text_classifier", pooling, features="one vector per text (the encoder pools over time)")
    if encoder not in TEXT_ENCODERS:
        raise ValueError(f"text_classifier: encoder must be one of {', '.join(TEXT_ENCODERS)}, not {encoder!r}")
    if encoder == "transformer" and embedding_dim % heads:
        raise ValueError(f"text_classifier: embedding_dim ({embedding_dim}) must be divisible by heads ({heads})")
    inputs = keras.Input(input_shape, dtype="int32", name="token_ids")
    # Convolutions cannot use a padding mask, so conv1d's embedding makes none.
    x = layers.Embedding(vocabulary_size, embedding_dim, mask_zero=encoder != "conv1d", name="embedding")(inputs)
    x = _text_encoder(x, encoder, units=units, depth=depth, dropout=dropout if encoder == "transformer" else 0.0,
                      recurrent_dropout=recurrent_dropout, filters=filters, kernel_sizes=kernel_sizes,
                      heads=heads, mlp_dim=mlp_dim, max_length=max_length)
    x = layers.Dropout(dropout, name="features_dropout")(x)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register("char_lm", family="language_model", paper="Graves 2013, arXiv:1308.0850; Karpathy char-rnn",
          inputs="tokens")
def char_lm(input_shape=(None,), num_classes=67, *, include_top=True, pooling=None,
            classifier_activation="softmax", embedding_dim=64, cell="lstm", units=256, depth=1, dropout=0.0,
            name="char_lm") -> keras.Model:
    """Character language model: ids -> embedding -> LSTM/GRU stack -> per-step softmax over the
    ``num_classes`` symbols (the vocabulary) predicting the next character.

    ``dropout`` drops the non-recurrent connections (each layer's input, and the last layer's
    output), as Zaremba et al. 2014 regularise LSTM language models. The recurrent layers are
    ``{cell}1..{cell}{depth}`` and the head ``predictions``;
    ``recipes.tasks.language_model.make_generator`` steps their cells to sample text.
    """
    require_no_pooling("char_lm", pooling, features=PER_STEP_FEATURES)
    inputs = keras.Input(input_shape, dtype="int32", name="token_ids")
    x = layers.Embedding(num_classes, embedding_dim, name="embedding")(inputs)
    x = recurrent_stack(x, cell, units, depth=depth, dropout=dropout, return_sequences=True, name=cell)
    if dropout:
        x = layers.Dropout(dropout, name="output_dropout")(x)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register("sequence_tagger", family="rnn", paper="Elman 1990; Graves 2012, Supervised Sequence Labelling",
          inputs="features")
def sequence_tagger(input_shape=(None, 1), num_classes=2, *, include_top=True, pooling=None,
                    classifier_activation="softmax", cell="lstm", units=64, depth=1, bidirectional=False,
                    dropout=0.0, recurrent_dropout=0.0, name="sequence_tagger") -> keras.Model:
    """Transducer: one label per time step, (time, features) -> (time, num_classes).

    Unidirectional by default, so the label at step t depends only on steps up to t.
    """
    require_no_pooling("sequence_tagger", pooling, features=PER_STEP_FEATURES)
    inputs = keras.Input(input_shape, name="inputs")
    x = recurrent_stack(inputs, cell, units, depth=depth, bidirectional=bidirectional, dropout=dropout,
                        recurrent_dropout=recurrent_dropout, return_sequences=True, name=cell)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register("seq2seq", family="encoder_decoder", paper="Sutskever et al. 2014; Luong et al. 2015; Bahdanau et al. 2014",
          inputs="token_pairs")
def seq2seq(input_shape=(None,), num_classes=16, *, include_top=True, pooling=None,
            classifier_activation="softmax", source_vocabulary_size=16, embedding_dim=32, units=128,
            attention=None, name="seq2seq") -> keras.Model:
    """LSTM encoder-decoder trained with teacher forcing.

    Inputs ``source_ids`` (time,) and ``decoder_ids`` (the target shifted right behind a start
    token); output: per-step probabilities over the ``num_classes`` target symbols. ``attention``
    adds Luong (``"luong"``, dot-product) or Bahdanau (``"bahdanau"``, additive) attention over the
    encoder states. ``seq2seq_inference_models`` reuses these layers for step-by-step decoding.
    """
    require_no_pooling("seq2seq", pooling, features=PER_STEP_FEATURES)
    if attention not in (None, "luong", "bahdanau"):
        raise ValueError(f"seq2seq: attention must be None, 'luong' or 'bahdanau', not {attention!r}")
    source = keras.Input(input_shape, dtype="int32", name="source_ids")
    target = keras.Input(input_shape, dtype="int32", name="decoder_ids")
    encoded = layers.Embedding(source_vocabulary_size, embedding_dim, name="encoder_embedding")(source)
    encoder_outputs, state_h, state_c = layers.LSTM(units, return_sequences=True, return_state=True,
                                                    name="encoder_lstm")(encoded)
    decoded = layers.Embedding(num_classes, embedding_dim, name="decoder_embedding")(target)
    decoder_outputs, _, _ = layers.LSTM(units, return_sequences=True, return_state=True,
                                        name="decoder_lstm")(decoded, initial_state=[state_h, state_c])
    x = _attend(decoder_outputs, encoder_outputs, attention)
    if include_top:
        x = classifier_head(x, num_classes, classifier_activation)
    return keras.Model([source, target], x, name=name)


def _attend(decoder_outputs, encoder_outputs, attention, layer_source=None):
    """Decoder states, or decoder states concatenated with their attention context."""
    if attention is None:
        return decoder_outputs
    get = layer_source.get_layer if layer_source is not None else None
    attend = get("attention") if get else (
        layers.Attention(name="attention") if attention == "luong" else layers.AdditiveAttention(name="attention"))
    context = attend([decoder_outputs, encoder_outputs])
    concatenate = get("attention_concat") if get else layers.Concatenate(name="attention_concat")
    return concatenate([decoder_outputs, context])


def seq2seq_inference_models(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """``(encoder, decoder_step)`` built from a trained ``seq2seq`` model's own layers (shared
    weights, nothing copied).

    encoder: ``source_ids`` -> ``(encoder_outputs, state_h, state_c)``.
    decoder_step: ``(token_ids (batch, 1), state_h, state_c, encoder_outputs)`` ->
    ``(probabilities (batch, 1, classes), state_h, state_c)``.
    """
    encoder_lstm = model.get_layer("encoder_lstm")
    encoder = keras.Model(model.inputs[0], encoder_lstm.output, name="seq2seq_encoder")

    units = encoder_lstm.units
    token = keras.Input((1,), dtype="int32", name="token_ids")
    state_h = keras.Input((units,), name="state_h")
    state_c = keras.Input((units,), name="state_c")
    encoder_outputs = keras.Input((None, units), name="encoder_outputs")
    decoded = model.get_layer("decoder_embedding")(token)
    outputs, new_h, new_c = model.get_layer("decoder_lstm")(decoded, initial_state=[state_h, state_c])
    attention = None
    if any(layer.name == "attention" for layer in model.layers):
        attention = "luong" if isinstance(model.get_layer("attention"), layers.Attention) else "bahdanau"
    x = _attend(outputs, encoder_outputs, attention, layer_source=model)
    probabilities = model.get_layer("predictions")(x)
    decoder_step = keras.Model([token, state_h, state_c, encoder_outputs], [probabilities, new_h, new_c],
                               name="seq2seq_decoder_step")
    return encoder, decoder_step


@register("forecaster", family="forecasting", paper="Hewamalage et al. 2021, RNNs for time series forecasting",
          inputs="features", outputs="values")
def forecaster(input_shape=(24, 1), num_classes=None, *, include_top=True, classifier_activation=None,
               horizon=1, targets=None, encoder="lstm", units=32, depth=1, filters=32, kernel_size=3,
               dropout=0.0, name="forecaster") -> keras.Model:
    """Windowed forecaster: (window, features) -> (horizon, targets), the next ``horizon`` values of
    ``targets`` series (default: all input features). ``encoder``: ``lstm``, ``gru``,
    ``simple_rnn`` or ``conv1d`` (``depth + 1`` causal convolutions, flattened; needs a fixed window).

    ``num_classes`` and ``classifier_activation`` exist for the uniform builder signature;
    a forecast is a regression, so the head is linear.
    """
    del num_classes, classifier_activation
    targets = targets or input_shape[-1]
    inputs = keras.Input(input_shape, name="inputs")
    if encoder == "conv1d":
        if input_shape[0] is None:
            raise ValueError("forecaster: the conv1d encoder needs a fixed window, e.g. input_shape=(24, 1)")
        x = inputs
        for index in range(1, depth + 2):
            x = layers.Conv1D(filters, kernel_size, padding="causal", activation="relu", name=f"conv{index}")(x)
        x = layers.Flatten(name="features")(x)
    elif encoder in RECURRENT_LAYERS:
        x = recurrent_stack(inputs, encoder, units, depth=depth, dropout=dropout, name=encoder)
    else:
        raise ValueError(f"forecaster: encoder must be one of {', '.join((*RECURRENT_LAYERS, 'conv1d'))}, not {encoder!r}")
    if include_top:
        x = layers.Dense(horizon * targets, name="forecast")(x)
        x = layers.Reshape((horizon, targets), name="predictions")(x)
    return keras.Model(inputs, x, name=name)


@register_search_space("rnn")
def recurrent_search_space(hp) -> dict:
    return {
        "units": hp.Choice("units", [32, 64, 128], default=64),
        "depth": hp.Int("depth", 1, 2, default=1),
        "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.0),
        "recurrent_dropout": hp.Float("recurrent_dropout", 0.0, 0.3, step=0.1, default=0.0),
    }


@register_search_space("text")
def text_search_space(hp) -> dict:
    """The encoder stays the recipe's; knobs of other encoders are sampled but unused."""
    return {
        "embedding_dim": hp.Choice("embedding_dim", [64, 128, 256], default=128),
        "units": hp.Choice("units", [32, 64, 128], default=64),
        "filters": hp.Choice("filters", [50, 100, 200], default=100),
        "dropout": hp.Float("dropout", 0.2, 0.6, step=0.1, default=0.5),
    }


@register_search_space("language_model")
def language_model_search_space(hp) -> dict:
    return {
        "cell": hp.Choice("cell", ["lstm", "gru"], default="lstm"),
        "embedding_dim": hp.Choice("embedding_dim", [32, 64, 128], default=64),
        "units": hp.Choice("units", [128, 256, 512], default=256),
        "depth": hp.Int("depth", 1, 2, default=1),
        "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1, default=0.0),
    }


@register_search_space("encoder_decoder")
def seq2seq_search_space(hp) -> dict:
    attention = hp.Choice("attention", ["none", "luong", "bahdanau"], default="none")
    return {
        "embedding_dim": hp.Choice("embedding_dim", [16, 32, 64], default=32),
        "units": hp.Choice("units", [64, 128, 256], default=128),
        "attention": None if attention == "none" else attention,
    }


@register_search_space("forecasting")
def forecaster_search_space(hp) -> dict:
    return {
        "units": hp.Choice("units", [16, 32, 64], default=32),
        "depth": hp.Int("depth", 1, 2, default=1),
        "filters": hp.Choice("filters", [16, 32, 64], default=32),
        "kernel_size": hp.Choice("kernel_size", [2, 3, 5], default=3),
        "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1, default=0.0),
    }
