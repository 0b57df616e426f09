"""TF Serving's operations, independent of the transport: REST (``app.py``) and gRPC
(``grpc_service.py``) both resolve a model spec here and run predict, classify and regress here,
so they answer alike.

Classify and regress follow TF Serving's ``classifier.cc`` and ``regressor.cc`` without the
(default off) method-name check: the signature takes one string input ``inputs`` of serialized
``tf.Example``s; classify reads the outputs ``classes`` and/or ``scores`` (``[batch, classes]``),
regress the output ``outputs`` (``[batch]`` or ``[batch, 1]``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from recipes.serve.codec import RequestError
from recipes.serve.loading import ServedVersion, Signature

CLASSIFY_INPUTS, CLASSIFY_CLASSES, CLASSIFY_SCORES = "inputs", "classes", "scores"
REGRESS_INPUTS, REGRESS_OUTPUTS = "inputs", "outputs"


@dataclass(frozen=True)
class ModelSpec:
    """TF Serving's ``ModelSpec``: a model name, at most one of version and label, a signature."""

    name: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""

    def __post_init__(self):
        if self.version is not None and self.label is not None:
            raise RequestError(400, f"Both model version ({self.version}) and model version label "
                                    f"({self.label}) cannot be supplied.")


class ModelService:
    """The repository's models behind TF Serving's calls; ``batcher`` merges concurrent predicts."""

    def __init__(self, repository, *, batcher=None, metrics=None):
        self.repository = repository
        self.batcher = batcher
        self.metrics = metrics

    def observe(self, name: str, version: int | None, signature_name: str, api: str, entrypoint: str,
                status, seconds: float) -> None:
        """Count one finished request in the metrics (``status``: an HTTP status or a code name)."""
        if self.metrics is not None:
            self.metrics.observe(name, version, signature_name, api, entrypoint, status, seconds)

    def find(self, spec: ModelSpec) -> ServedVersion:
        if spec.label is not None:
            return self.repository.get(spec.name, label=spec.label)
        return self.repository.get(spec.name, spec.version)

    def status(self, spec: ModelSpec) -> list[dict]:
        if spec.label is not None:
            return self.repository.status(spec.name, label=spec.label)
        return self.repository.status(spec.name, spec.version)

    async def run(self, signature: Signature, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One predict call, merged with others when batching is on."""
        if self.batcher is not None:
            return await self.batcher.submit(signature, arrays)
        return await asyncio.to_thread(signature.run, arrays)

    async def classify(self, served: ServedVersion, signature_name: str,
                       examples: list[bytes]) -> list[list[tuple[bytes, float | None]]]:
        """Per example, ``(label, score)`` per class; a label is ``b""`` without a ``classes`` output,
        a score ``None`` without ``scores``."""
        signature = _example_signature(served, signature_name, "classification", outputs=(1, 2))
        if CLASSIFY_CLASSES not in signature.outputs and CLASSIFY_SCORES not in signature.outputs:
            raise RequestError(400, "Expected classification signature outputs to contain at least one of "
                                    f"\"{CLASSIFY_CLASSES}\" or \"{CLASSIFY_SCORES}\".")
        outputs = await asyncio.to_thread(signature.run, {CLASSIFY_INPUTS: _example_tensor(examples)})
        classes, scores = outputs.get(CLASSIFY_CLASSES), outputs.get(CLASSIFY_SCORES)
        for name, tensor, kind in ((CLASSIFY_CLASSES, classes, "OS"), (CLASSIFY_SCORES, scores, "f")):
            if tensor is None:
                continue
            if tensor.ndim != 2:
                raise RequestError(400, f"Expected Tensor shape: [batch_size num_classes] but got {list(tensor.shape)}")
            if tensor.dtype.kind not in kind:
                raise RequestError(400, f"Expected {name} Tensor of {'DT_STRING' if kind == 'OS' else 'DT_FLOAT'}. "
                                        f"Got: {tensor.dtype}")
            if tensor.shape[0] != len(examples):
                raise RequestError(400, f"Expected {name} output batch size of {len(examples)}. Got: {tensor.shape[0]}")
        if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
            raise RequestError(400, "Tensors class and score should match in dim_size(1). "
                                    f"Got {classes.shape[1]} vs. {scores.shape[1]}")
        count = (classes if classes is not None else scores).shape[1]
        return [[(bytes(classes[i, c]) if classes is not None else b"",
                  float(scores[i, c]) if scores is not None else None) for c in range(count)]
                for i in range(len(examples))]

    async def regress(self, served: ServedVersion, signature_name: str, examples: list[bytes]) -> list[float]:
        signature = _example_signature(served, signature_name, "regression", outputs=(1,))
        if REGRESS_OUTPUTS not in signature.outputs:
            raise RequestError(400, f"No regression outputs found in SignatureDef: {signature.name}")
        output = (await asyncio.to_thread(signature.run, {REGRESS_INPUTS: _example_tensor(examples)}))[REGRESS_OUTPUTS]
        if not (output.ndim == 1 or (output.ndim == 2 and output.shape[1] == 1)):
            raise RequestError(400, "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
                                    f"but got {list(output.shape)}")
        if output.shape[0] != len(examples):
            raise RequestError(400, f"Input batch size did not match output batch size: {len(examples)} "
                                    f"vs. {output.shape[0]}")
        if output.dtype.kind != "f":
            raise RequestError(400, f"Expected output Tensor of DT_FLOAT.  Got: {output.dtype}")
        return [float(value) for value in output.reshape(-1)]


def _example_signature(served: ServedVersion, signature_name: str, kind: str, *, outputs: tuple) -> Signature:
    """The signature, checked in the order TF Serving checks it."""
    key = signature_name or "serving_default"
    if key not in served.signatures:
        raise RequestError(400, f"No signature was found with the name: {key}")
    signature = served.signatures[key]
    if len(signature.inputs) != 1:
        raise RequestError(400, "Expected one input Tensor.")
    if len(signature.outputs) not in outputs:
        raise RequestError(400, "Expected one output Tensor." if outputs == (1,) else
                           f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if CLASSIFY_INPUTS not in signature.inputs:
        raise RequestError(400, f"No {kind} inputs found in SignatureDef: signature {key!r} takes "
                                f"{', '.join(signature.inputs)}, not one tensor 'inputs' of serialized tf.Examples")
    return signature


def _example_tensor(examples: list[bytes]) -> np.ndarray:
    if not examples:
        raise RequestError(400, "Input is empty.")
    return np.array(examples, dtype=object)
