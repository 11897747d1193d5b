"""Export: TorchScript and ONNX outputs match PyTorch (onnxruntime), for every fusion."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mmmodel.config import ModelDims
from mmmodel.export import example_inputs, export_model
from mmmodel.model import ExportWrapper
from mmmodel.modeldir import load_model
from mmmodel.train import train
from tests.mmmodel.conftest import tiny_config


# lowrank: a product over modalities; late: per-modality heads and a masked sum of log-softmaxes;
# hybrid: that sum plus a joint concat expert; independent experts (and a detached joint expert): the same
# graph with detached inputs.
@pytest.fixture(scope="module", params=[{"fusion": "lowrank"}, {"fusion": "late", "unimodal_loss_weight": 0.5},
                                        {"fusion": "hybrid", "unimodal_loss_weight": 0.5},
                                        {"fusion": "hybrid", "unimodal_loss_weight": 0.5, "independent_experts": True},
                                        {"fusion": "hybrid", "unimodal_loss_weight": 0.5, "independent_experts": True,
                                         "joint_expert_detached": True}],
                ids=["lowrank", "late", "hybrid", "hybrid-independent", "hybrid-detached"])
def trained(request, tmp_path_factory, pair_shards):
    root = tmp_path_factory.mktemp("export")
    cfg = tiny_config(root, pair_shards, epochs=1, **request.param)
    train(cfg)
    return cfg.out


def test_onnx_and_torchscript_match_pytorch(trained, tmp_path):
    report = export_model(trained, tmp_path)
    assert report["inputs"] == ["image", "audio", "text", "mask"]
    assert report["onnx_max_abs_diff"] < 1e-4 and report["torchscript_max_abs_diff"] < 1e-4
    # A batch size never seen at export time, with a modality missing in some rows.
    model, info, _ = load_model(trained)
    inputs = list(example_inputs(ModelDims.model_validate(info["dims"]), batch=7, seed=5))
    inputs[-1][3:, 1] = 0.0
    with torch.no_grad():
        expected = ExportWrapper(model)(*inputs).numpy()
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs, strict=True)})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    scripted = torch.jit.load(str(tmp_path / "model.ts"))
    with torch.no_grad():
        np.testing.assert_allclose(scripted(*inputs).numpy(), expected, atol=1e-5)
