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


@pytest.mark.parametrize("settings, message", [
    ({"max_enqueued_batches": 0}, "max_enqueued_batches must be at least 1, got 0$"),
    ({"max_batch_size": 8, "allowed_batch_sizes": [4, 2, 8]}, "entries must be monotonically increasing"),
    ({"max_batch_size": 8, "allowed_batch_sizes": [2, 4]},
     "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 4; expected 8$"),
])
def test_bad_queue_and_padding_settings_say_what_tf_serving_says(settings, message):
    with pytest.raises(ValueError, match=message):
        Batcher(SlowDoubler(), **settings)


class Gate:
    """A "model" that blocks every call until ``opened`` is set, so requests pile up in the queue."""

    def __init__(self):
        self.started, self.opened = threading.Event(), threading.Event()
        self.batch_rows = []

    def __call__(self, signature, arrays):
        self.batch_rows.append(len(arrays["x"]))
        self.started.set()
        self.opened.wait(10)
        return {"y": arrays["x"] * 2}


def _request(index: int, rows: int = 1) -> dict:
    return {"x": np.full((rows, 3), index, dtype="float32")}


def test_a_full_queue_refuses_at_once_with_503_and_loses_nothing_it_took():
    from recipes.serve.codec import RequestError

    model = Gate()
    batcher = Batcher(model, max_batch_size=2, max_wait_ms=0, batch_threads=1, max_enqueued_batches=2)

    async def main():
        running = asyncio.create_task(batcher.submit("signature", _request(0)))
        while not model.started.is_set():
            await asyncio.sleep(0.01)
        queued = [asyncio.create_task(batcher.submit("signature", _request(i))) for i in range(1, 5)]
        await asyncio.sleep(0.05)
        assert batcher.queued_rows("signature") == 4  # two batches' worth wait behind the running one
        with pytest.raises(RequestError) as refused:
            await batcher.submit("signature", _request(5))
        model.opened.set()
        return refused.value, await asyncio.gather(running, *queued)

    refused, answers = asyncio.run(main())
    assert (refused.status, refused.message) == (503, "The batch scheduling queue to which this task was submitted is full")
    for index, answer in enumerate(answers):
        np.testing.assert_array_equal(answer["y"], np.full((1, 3), 2 * index))
    assert model.batch_rows == [1, 2, 2] and batcher.rejected == 1


def test_batches_are_padded_to_allowed_sizes_with_the_last_requests_first_row_and_the_padding_dropped():
    seen, told = [], []

    def model(signature, arrays):
        seen.append(arrays["x"].copy())
        return {"y": arrays["x"] * 2, "row": np.arange(len(arrays["x"]))}

    batcher = Batcher(model, max_batch_size=8, max_wait_ms=50, allowed_batch_sizes=[2, 4, 8],
                      on_batch=lambda rows, padded: told.append((rows, padded)))

    async def main():
        merged = await asyncio.gather(*(batcher.submit("signature", _request(i, rows))
                                        for i, rows in ((1, 1), (2, 2), (3, 2))))
        alone = await batcher.submit("signature", _request(4, 3))
        return merged, alone

    merged, alone = asyncio.run(main())
    assert [len(x) for x in seen] == [8, 4] and told == [(5, 8), (3, 4)]
    np.testing.assert_array_equal(seen[0][5:], np.full((3, 3), 3))  # the first row of the last request
    for (index, rows), answer in zip(((1, 1), (2, 2), (3, 2)), merged):
        np.testing.assert_array_equal(answer["y"], np.full((rows, 3), 2 * index))
    assert [a["row"].tolist() for a in merged] == [[0], [1, 2], [3, 4]]
    np.testing.assert_array_equal(alone["y"], np.full((3, 3), 8))
    assert alone["row"].tolist() == [0, 1, 2]
    assert list(batcher.batch_sizes) == [5, 3] and batcher.batch_size_counts == {5: 1, 3: 1}


def test_a_padded_call_whose_outputs_are_not_batched_fails_as_tf_serving_does():
    from recipes.serve.codec import RequestError

    batcher = Batcher(lambda signature, arrays: {"total": np.sum(arrays["x"])}, max_batch_size=4,
                      allowed_batch_sizes=[4])
    with pytest.raises(RequestError, match="Batched output tensor's 0th dimension does not equal"):
        asyncio.run(batcher.submit("signature", _request(1)))


def test_a_request_larger_than_max_batch_size_is_refused_and_batches_never_exceed_it():
    from recipes.serve.codec import RequestError

    model = SlowDoubler(0.01)
    batcher = Batcher(model, max_batch_size=4, max_wait_ms=20)
    with pytest.raises(RequestError) as refused:
        asyncio.run(batcher.submit("signature", _request(0, 5)))
    assert (refused.value.status, refused.value.message) == (400, "Task size 5 is larger than maximum input batch size 4")

    sizes = [1 + i % 3 for i in range(15)]

    async def main():
        return await asyncio.gather(*(batcher.submit("signature", _request(i, rows)) for i, rows in enumerate(sizes)))

    for index, (rows, answer) in enumerate(zip(sizes, asyncio.run(main()))):
        np.testing.assert_array_equal(answer["y"], np.full((rows, 3), 2 * index))
    assert sum(model.batch_rows) == sum(sizes) and max(model.batch_rows) == 4


def test_requests_still_being_read_join_the_filling_batch_and_a_lone_request_never_waits_for_the_timeout():
    model = SlowDoubler(seconds=0.01)
    batcher = Batcher(model, max_batch_size=32, max_wait_ms=60_000)

    async def read_then_submit(index: int):
        await asyncio.sleep(0)  # the handler still reading its body when the batch starts to fill
        return await batcher.submit("signature", _request(index))

    async def main():
        first = asyncio.create_task(batcher.submit("signature", _request(0)))
        together = [asyncio.create_task(read_then_submit(i)) for i in range(1, 8)]
        answers = await asyncio.wait_for(asyncio.gather(first, *together), 10)
        await asyncio.sleep(0.05)
        late = await asyncio.wait_for(batcher.submit("signature", _request(8)), 10)
        return answers, late

    answers, late = asyncio.run(main())
    assert model.batch_rows == [8, 1]  # the late one did not wait out the 60 s timeout for company
    for index, answer in enumerate([*answers, late]):
        np.testing.assert_array_equal(answer["y"], np.full((1, 3), 2 * index))
