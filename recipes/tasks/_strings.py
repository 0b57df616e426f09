"""String lookups with a fixed vocabulary, as the text tasks' models and exports use them."""

import keras


def fixed_lookup(vocabulary, *, mask_token: str, oov_token: str, invert: bool = False,
                 name: str) -> keras.layers.StringLookup:
    """A ``StringLookup`` over ``vocabulary``: id 0 is ``mask_token``, 1 ``oov_token``, the vocabulary
    from 2 (or the inverse mapping with ``invert``)."""
    lookup = keras.layers.StringLookup(vocabulary=list(vocabulary), mask_token=mask_token, oov_token=oov_token,
                                       invert=invert, name=name)
    lookup.build(None)  # a fixed-vocabulary lookup has no weights to create; export wants it built
    return lookup
