"""Run ``train`` from a TrainConfig JSON file (argv[1]) in its own process and write each rank's
summary to ``<argv[2]>/summary-rank<r>.json``. Used by the kill/resume and torchrun (DDP) tests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from mmmodel.config import TrainConfig
from mmmodel.train import train


def main() -> None:
    torch.set_num_threads(1)
    cfg = TrainConfig.model_validate_json(Path(sys.argv[1]).read_text())
    summary = train(cfg)
    rank = os.environ.get("RANK", "0")
    (Path(sys.argv[2]) / f"summary-rank{rank}.json").write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
