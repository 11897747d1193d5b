"""Export a trained model to TorchScript and ONNX; check onnxruntime against PyTorch.

Both take positional inputs in the model's modality order followed by the presence mask
[B, M], and return class probabilities [B, n_classes].
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from mmdata import fields
from mmdata.atomic import atomic_path, write_text_atomic
from mmmodel.config import ModelDims
from mmmodel.model import ExportWrapper
from mmmodel.modeldir import load_model

ONNX_OPSET = 17
PARITY_TOLERANCE = 1e-4


def example_inputs(dims: ModelDims, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the right shapes (and a mask with one modality missing in row 0)."""
    generator = torch.Generator().manual_seed(seed)
    tensors: list[torch.Tensor] = []
    for modality in dims.modalities:
        if modality == fields.IMAGE:
            tensors.append(torch.rand(batch, *dims.image_shape, generator=generator))
        elif modality == fields.AUDIO:
            tensors.append(torch.randn(batch, *dims.mel_shape, generator=generator))
        else:
            tensors.append(torch.randint(0, dims.vocab_size, (batch, dims.max_tokens), generator=generator))
    mask = torch.ones(batch, len(dims.modalities))
    if len(dims.modalities) > 1:
        mask[0, 0] = 0.0
    return (*tensors, mask)


def export_model(model_dir: str | Path, out: str | Path, check: bool = True) -> dict:
    """Write ``model.ts`` and ``model.onnx`` (+ ``export.json``) into ``out``; return the parity report."""
    model, info, labels = load_model(model_dir, "cpu")
    dims = ModelDims.model_validate(info["dims"])
    wrapper = ExportWrapper(model).eval()
    inputs = example_inputs(dims)
    out = Path(out)
    names = [*dims.modalities, "mask"]
    with torch.no_grad():
        traced = torch.jit.trace(wrapper, inputs)
        with atomic_path(out / "model.ts") as tmp:
            traced.save(str(tmp))
        with atomic_path(out / "model.onnx") as tmp:
            torch.onnx.export(wrapper, inputs, str(tmp), input_names=names, output_names=["probs"],
                              dynamic_axes={n: {0: "batch"} for n in [*names, "probs"]},
                              opset_version=ONNX_OPSET, dynamo=False)
    report = {"torchscript": str(out / "model.ts"), "onnx": str(out / "model.onnx"), "inputs": names,
              "labels": labels}
    if check:
        report |= check_parity(wrapper, out / "model.onnx", out / "model.ts", example_inputs(dims, batch=5, seed=1))
    write_text_atomic(out / "export.json", json.dumps(report, indent=1) + "\n")
    return report


def check_parity(wrapper: torch.nn.Module, onnx_path: Path, ts_path: Path, inputs: tuple[torch.Tensor, ...]) -> dict:
    """Max absolute difference of onnxruntime and TorchScript outputs against eager PyTorch."""
    import onnxruntime as ort

    with torch.no_grad():
        expected = wrapper(*inputs).numpy()
        scripted = torch.jit.load(str(ts_path))(*inputs).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {arg.name: tensor.numpy() for arg, tensor in zip(session.get_inputs(), inputs, strict=True)}
    got = session.run(None, feeds)[0]
    onnx_diff, ts_diff = float(np.abs(got - expected).max()), float(np.abs(scripted - expected).max())
    if max(onnx_diff, ts_diff) > PARITY_TOLERANCE:
        raise RuntimeError(f"export parity failed: onnx diff {onnx_diff:.2e}, torchscript diff {ts_diff:.2e}")
    return {"onnx_max_abs_diff": onnx_diff, "torchscript_max_abs_diff": ts_diff, "tolerance": PARITY_TOLERANCE}
