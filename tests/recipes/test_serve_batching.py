"""The micro-batcher on its own: merging, splitting and concurrent batches, with a stand-in model."""

import asyncio
import threading
import time

import numpy as np
import pytest

from recipes.serve.batching import Batcher


class SlowDoubler:
    """A blocking "model" that doubles its input and records how many calls overlap."""

    def __init__(self, seconds: float = 0.05):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = self.most_running = 0
        self.batch_rows = []

    def __call__(self, signature, arrays):
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.batch_rows.append(len(arrays["x"]))
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
        return {"y": arrays["x"] * 2}


def _submit_all(batcher: Batcher, count: int) -> list[np.ndarray]:
    async def main():
        requests = [batcher.submit("signature", {"x": np.full((1, 3), i, dtype="float32")}) for i in range(count)]
        return await asyncio.gather(*requests)

    return [answer["y"] for answer in asyncio.run(main())]


@pytest.mark.parametrize("batch_threads", [1, 2])
def test_batches_run_at_most_batch_threads_at_once_and_answers_go_back_to_their_requests(batch_threads):
    model = SlowDoubler()
    batcher = Batcher(model, max_batch_size=2, max_wait_ms=20, batch_threads=batch_threads)
    answers = _submit_all(batcher, 12)
    for index, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, np.full((1, 3), 2 * index))
    assert sum(model.batch_rows) == 12 and max(model.batch_rows) == 2
    assert model.most_running == batch_threads == batcher.most_in_flight


@pytest.mark.parametrize("setting, value, message", [
    ("batch_threads", 0, "batching: batch_threads must be at least 1, got 0$"),
    ("max_batch_size", 0, "batching: max_batch_size must be at least 1, got 0$"),
    ("max_wait_ms", -1.0, "batching: max_wait_ms must be at least 0, got -1.0$"),
])
def test_bad_batching_settings_name_the_one_that_is_wrong(setting, value, message):
    with pytest.raises(ValueError, match=message):
        Batcher(SlowDoubler(), **{setting: value})
