"""Server-side micro-batching, as TF Serving's ``--enable_batching``: requests arriving together
for the same signature are concatenated along the batch dimension, run once, and split again.

A batch closes when it holds ``max_batch_size`` rows, ``max_wait_ms`` after its first request,
or as soon as no other request is on its way in (so a lone request never waits). Up to
``batch_threads`` batches run at once (TF Serving's ``num_batch_threads``); while all are busy,
the next batch keeps filling. One thread is the default: a second did not pay on the 2-core
machine of the README's serving measurements.
Only requests whose inputs have the same per-example shapes are merged; if a merged call fails,
each request runs on its own so one bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import numpy as np

IDLE_SECONDS = 10.0  # a signature's queue (and its hold on the model) is dropped after this long idle


@dataclass
class _Pending:
    arrays: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future = field(repr=False)

    def key(self) -> tuple:
        return tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(self.arrays.items()))


class Batcher:
    def __init__(self, run, *, max_batch_size: int = 32, max_wait_ms: float = 5.0, batch_threads: int = 1):
        """``run(signature, arrays) -> {output name: array}`` executes one call (blocking)."""
        wrong = [f"{name} must be at least {least}, got {value}" for name, value, least in (
            ("max_batch_size", max_batch_size, 1), ("max_wait_ms", max_wait_ms, 0), ("batch_threads", batch_threads, 1))
            if value < least]
        if wrong:
            raise ValueError("batching: " + "; ".join(wrong))
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.batch_threads = batch_threads
        self.most_in_flight = 0  # the most batches seen running at once, for tests and benchmarks
        self._queues: dict[int, tuple[object, asyncio.Queue]] = {}
        self.arriving = 0  # requests being read and parsed, which may join the next batch
        self.batch_sizes: list[int] = []  # rows per executed call, for tests and benchmarks

    @contextlib.contextmanager
    def arrival(self):
        """Wrap a request's reading and parsing, so a filling batch knows to wait for it."""
        self.arriving += 1
        try:
            yield
        finally:
            self.arriving -= 1

    async def submit(self, signature, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = {int(a.shape[0]) for a in arrays.values() if a.ndim}
        if len(rows) != 1 or len(arrays) != sum(a.ndim > 0 for a in arrays.values()):
            return await asyncio.to_thread(self._run, signature, arrays)  # not batchable by rows
        future = asyncio.get_running_loop().create_future()
        key = id(signature)
        if key not in self._queues:
            queue = asyncio.Queue()
            self._queues[key] = (signature, queue)
            asyncio.create_task(self._worker(key, signature, queue))
        await self._queues[key][1].put(_Pending(arrays, rows.pop(), future))
        return await future

    async def _worker(self, key, signature, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.batch_threads)
        running: set[asyncio.Task] = set()
        while True:
            await slots.acquire()
            try:
                first = await asyncio.wait_for(queue.get(), IDLE_SECONDS)
            except asyncio.TimeoutError:
                slots.release()
                if running:
                    continue
                del self._queues[key]
                return
            batch, rows = [first], first.rows
            deadline = loop.time() + self.max_wait
            while rows < self.max_batch_size and not (queue.empty() and self.arriving == 0):
                try:
                    pending = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    break
                batch.append(pending)
                rows += pending.rows
            task = asyncio.create_task(self._execute_batch(signature, batch))
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
            merged = {name: np.concatenate([p.arrays[name] for p in group]) for name in group[0].arrays}
            total = sum(p.rows for p in group)
            try:
                outputs = await asyncio.to_thread(self._run, signature, merged)
                if all(np.ndim(v) and np.shape(v)[0] == total for v in outputs.values()):
                    self.batch_sizes.append(total)
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
                outputs = await asyncio.to_thread(self._run, signature, pending.arrays)
                self.batch_sizes.append(pending.rows)
                if not pending.future.done():
                    pending.future.set_result(outputs)
            except Exception as error:
                if not pending.future.done():
                    pending.future.set_exception(error)
