"""The few layers Keras does not ship, each serialisable (``get_config``) for .keras and export."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_recipes")
class ClassToken(keras.layers.Layer):
    """Prepends one learned token to a sequence: (batch, n, d) -> (batch, n + 1, d)."""

    def build(self, input_shape):
        self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]), initializer="zeros")

    def call(self, inputs):
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (ops.shape(inputs)[0], 1, ops.shape(inputs)[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])


@keras.saving.register_keras_serializable(package="keras_recipes")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding per position to a fixed-length sequence (batch, n, d)."""

    def __init__(self, initializer="random_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.embedding = self.add_weight(name="embedding", shape=(1, *input_shape[1:]),
                                         initializer=self.initializer)

    def call(self, inputs):
        return inputs + ops.cast(self.embedding, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "initializer": keras.initializers.serialize(self.initializer)}
