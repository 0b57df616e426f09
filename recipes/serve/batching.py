"""Server-side micro-batching, as TF Serving's ``--enable_batching``: requests arriving together
for the same signature are concatenated along the batch dimension, run once, and split again.

The settings are those of TF Serving's ``--batching_parameters_file``:

- ``max_batch_size``: rows in one batch, never more. A single request with more rows is refused
  with TF Serving's 400 "Task size N is larger than maximum input batch size M".
- ``max_wait_ms``: how long a batch waits to fill after its first request; TF Serving's
  ``batch_timeout_micros`` is ``max_wait_ms * 1000``. A batch also closes as soon as no other
  request is on its way in (``QUIET_TURNS`` turns of the event loop bring none), so a lone request
  never waits, while requests the server has already read, and is still parsing, join it.
- ``batch_threads``: batches run at once (TF Serving's ``num_batch_threads``); while all are busy,
  the next batch keeps filling. One thread is the default: a second did not pay on the 2-core
  machine of the README's serving measurements.
- ``max_enqueued_batches``: the queue holds at most this many batches' worth of rows (those not yet
  running); a request that would overflow it is refused at once with TF Serving's 503 "The batch
  scheduling queue to which this task was submitted is full". TF Serving's default is 10.
- ``allowed_batch_sizes``: each batch is padded up to the smallest allowed size that holds it, as
  TF Serving pads, by repeating the first row of the batch's last request; the padding rows are
  dropped from the outputs. The last entry must equal ``max_batch_size``.

Only requests whose inputs have the same per-example shapes are merged; if a merged call fails,
each request runs on its own so one bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from recipes.serve.codec import RequestError

log = logging.getLogger("keras_recipes")

QUIET_TURNS = 2  # a request already read from its socket reaches the queue within two turns of the loop
IDLE_SECONDS = 10.0  # a signature's queue (and its hold on the model) is dropped after this long idle
MAX_ENQUEUED_BATCHES = 10  # TF Serving's default (SharedBatchScheduler::QueueOptions)
RECENT_BATCHES = 10_000  # how many executed batch sizes ``batch_sizes`` keeps
QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"
OUTPUT_NOT_BATCHED = ("Batched output tensor's 0th dimension does not equal the sum of the 0th dimension "
                      "sizes of the input tensors")


@dataclass
class _Pending:
    arrays: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future = field(repr=False)

    def key(self) -> tuple:
        return tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(self.arrays.items()))


class _Queue:
    """One signature's requests that have not started running: those waiting, and (in ``rows``)
    also those in the batch being filled."""

    def __init__(self, signature):
        self.signature = signature
        self.waiting: collections.deque[_Pending] = collections.deque()
        self.rows = 0
        self._changed = asyncio.Event()

    def put(self, pending: _Pending) -> None:
        self.waiting.append(pending)
        self.rows += pending.rows
        self._changed.set()

    async def arrives_within(self, turns: int) -> bool:
        """Whether a request is waiting after at most ``turns`` turns of the event loop, which run
        the handlers of requests it has read."""
        for _ in range(turns):
            await asyncio.sleep(0)
            if self.waiting:
                return True
        return False

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a request; whether one is waiting."""
        if not self.waiting:
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.0, timeout))
        return bool(self.waiting)


class Batcher:
    def __init__(self, run, *, max_batch_size: int = 32, max_wait_ms: float = 5.0, batch_threads: int = 1,
                 max_enqueued_batches: int = MAX_ENQUEUED_BATCHES, allowed_batch_sizes: Sequence[int] = (),
                 on_batch: Callable[[int, int], None] | None = None):
        """``run(signature, arrays) -> {output name: array}`` executes one call (blocking), in a
        thread. ``on_batch(rows, padded_rows)`` is told of every executed call, for metrics."""
        wrong = [f"{name} must be at least {least}, got {value}" for name, value, least in (
            ("max_batch_size", max_batch_size, 1), ("max_wait_ms", max_wait_ms, 0), ("batch_threads", batch_threads, 1),
            ("max_enqueued_batches", max_enqueued_batches, 1)) if value < least]
        allowed = [int(size) for size in allowed_batch_sizes]
        if any(size < 1 for size in allowed):
            wrong.append(f"allowed_batch_sizes entries must be at least 1, got {allowed}")
        elif any(later <= earlier for earlier, later in zip(allowed, allowed[1:])):
            wrong.append(f"allowed_batch_sizes entries must be monotonically increasing, got {allowed}")
        elif allowed and allowed[-1] != max_batch_size:
            wrong.append(f"Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
                         f"{allowed[-1]}; expected {max_batch_size}")
        if wrong:
            raise ValueError("batching: " + "; ".join(wrong))
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.batch_threads = batch_threads
        self.max_enqueued_batches = max_enqueued_batches
        self.allowed_batch_sizes = tuple(allowed)
        self.on_batch = on_batch
        self.most_in_flight = 0  # the most batches seen running at once, for tests and benchmarks
        self._queues: dict[int, _Queue] = {}
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=RECENT_BATCHES)  # rows per recent call
        self.batch_size_counts: collections.Counter[int] = collections.Counter()  # rows -> calls, since start
        self.rejected = 0  # requests refused because the queue was full

    def queued_rows(self, signature) -> int:
        """Rows submitted for ``signature`` whose batch has not started running."""
        queue = self._queues.get(id(signature))
        return queue.rows if queue is not None else 0

    async def submit(self, signature, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = {int(a.shape[0]) for a in arrays.values() if a.ndim}
        if len(rows) != 1 or len(arrays) != sum(a.ndim > 0 for a in arrays.values()):
            return await asyncio.to_thread(self._run, signature, arrays)  # not batchable by rows
        count = rows.pop()
        if count > self.max_batch_size:
            raise RequestError(400, f"Task size {count} is larger than maximum input batch size {self.max_batch_size}")
        key = id(signature)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(signature)
            asyncio.create_task(self._worker(key, queue))
        if -(-(queue.rows + count) // self.max_batch_size) > self.max_enqueued_batches:
            self.rejected += 1
            raise RequestError(503, QUEUE_FULL)
        future = asyncio.get_running_loop().create_future()
        queue.put(_Pending(arrays, count, future))
        return await future

    async def _worker(self, key: int, queue: _Queue) -> None:
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.batch_threads)
        running: set[asyncio.Task] = set()
        while True:
            await slots.acquire()
            if not await queue.wait(IDLE_SECONDS):
                slots.release()
                if running:
                    continue
                del self._queues[key]
                return
            batch = [queue.waiting.popleft()]
            rows = batch[0].rows
            deadline = loop.time() + self.max_wait
            while rows < self.max_batch_size:
                if queue.waiting:
                    if rows + queue.waiting[0].rows > self.max_batch_size:
                        break  # it starts the next batch
                    batch.append(queue.waiting.popleft())
                    rows += batch[-1].rows
                elif loop.time() >= deadline or not await queue.arrives_within(QUIET_TURNS):
                    break
            queue.rows -= rows
            task = asyncio.create_task(self._execute_batch(queue.signature, batch))
            running.add(task)
            self.most_in_flight = max(self.most_in_flight, len(running))
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _execute_batch(self, signature, batch: list[_Pending]) -> None:
        groups: dict[tuple, list[_Pending]] = {}
        for pending in batch:
            groups.setdefault(pending.key(), []).append(pending)
        for group in groups.values():
            await self._execute(signature, group)

    async def _execute(self, signature, group: list[_Pending]) -> None:
        if len(group) > 1:
            try:
                outputs = await self._call(signature, group)
                start = 0
                for pending in group:
                    end = start + pending.rows
                    if not pending.future.done():
                        pending.future.set_result({k: v[start:end] for k, v in outputs.items()})
                    start = end
                return
            except Exception:  # run them one by one below, so the error goes to its own request
                pass
        for pending in group:
            try:
                outputs = await self._call(signature, [pending])
                if not pending.future.done():
                    pending.future.set_result(outputs)
            except Exception as error:
                if not pending.future.done():
                    pending.future.set_exception(error)

    def padded_size(self, rows: int) -> int:
        """The batch size ``rows`` rows run as: the smallest allowed size that holds them."""
        return next((size for size in self.allowed_batch_sizes if size >= rows), rows)

    async def _call(self, signature, group: list[_Pending]) -> dict[str, np.ndarray]:
        """Run ``group`` as one call, padded to an allowed batch size; outputs without the padding.
        A merged or padded call whose outputs are not all batched raises."""
        rows = sum(pending.rows for pending in group)
        size = self.padded_size(rows)
        if len(group) == 1 and size == rows:
            arrays = group[0].arrays
        else:
            last = group[-1].arrays
            arrays = {name: np.concatenate([p.arrays[name] for p in group]
                                           + [np.repeat(last[name][:1], size - rows, axis=0)])
                      for name in last}
        outputs = await asyncio.to_thread(self._run, signature, arrays)
        if arrays is not group[0].arrays:
            if not all(np.ndim(v) and np.shape(v)[0] == size for v in outputs.values()):
                raise RequestError(400, OUTPUT_NOT_BATCHED)
            if size > rows:
                outputs = {k: v[:rows] for k, v in outputs.items()}
        self.batch_sizes.append(rows)
        self.batch_size_counts[rows] += 1
        if self.on_batch is not None:
            try:
                self.on_batch(rows, size)
            except Exception:  # a metrics failure must not rerun (or fail) the requests
                log.exception("batching: on_batch(%d, %d) failed", rows, size)
        return outputs
