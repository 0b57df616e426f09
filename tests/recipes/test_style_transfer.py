"""Style transfer: without weights it says where to get them; with untrained features the
optimisation loop still has to lower its loss."""

import numpy as np
import pytest

from recipes import style_transfer as st
from recipes.errors import ConfigError


def test_without_weights_it_says_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match=f"{st.WEIGHTS_FILE}.*weights=PATH"):
        st.vgg19_weights(None)
    with pytest.raises(ConfigError, match="no VGG19 weights file at"):
        st.vgg19_weights(tmp_path / "missing.h5")
    cached = tmp_path / "models" / st.WEIGHTS_FILE
    cached.parent.mkdir()
    cached.write_bytes(b"")
    assert st.vgg19_weights(None) == str(cached)


def test_gram_matrix_by_hand():
    features = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # 1x2 positions, 2 channels
    np.testing.assert_allclose(np.asarray(st.gram_matrix(features)), [[10.0, 14.0], [14.0, 20.0]])


def test_the_loop_lowers_the_total_loss_with_random_features():
    rng = np.random.default_rng(0)
    content = rng.uniform(0, 255, (32, 32, 3)).astype(np.uint8)
    style = np.tile(np.linspace(0, 255, 48), (48, 1))[..., None].repeat(3, axis=-1)
    result = st.style_transfer(content, style, weights="random", steps=8, log_every=0)
    assert result.image.shape == (32, 32, 3) and result.image.dtype == np.uint8
    assert result.losses[-1] < result.losses[0]
    assert not np.array_equal(result.image, content)
