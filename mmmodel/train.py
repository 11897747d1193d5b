"""Training: AdamW, warmup + cosine, class weights, label smoothing, early stopping on val macro-F1
(ties broken by val loss), atomic checkpoints with exact resume, bf16 autocast on CUDA, DDP under
torchrun (gloo on CPU).

Resume is exact because nothing random depends on history: the data order is a function of
(seed, epoch), and the torch RNG is re-seeded from (seed, rank, step) before every step; the
checkpoint holds weights (and their moving average, with ``ema_decay``), optimizer, scheduler, the step
and the position inside the epoch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mmdata.atomic import remove_stale_temporaries, write_text_atomic
from mmmodel.augment import augment_batch
from mmmodel.config import ModelDims, TrainConfig
from mmmodel.data import ShardError, ShardStream, make_loader, probe_shards, shard_paths
from mmmodel.ema import WeightEMA
from mmmodel.metrics import autocast, classification_metrics, predict_probs, to_device
from mmmodel.model import MultimodalClassifier
from mmmodel.modeldir import (
    CHECKPOINTS,
    LAST_CHECKPOINT,
    WEIGHTS,
    copy_sidecars,
    save_torch_atomic,
    write_config,
)
from mmmodel.shardfs import data_fingerprint


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; asking for cuda without one is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but torch sees no CUDA device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return torch.distributed.get_rank(), world, device


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay only on matrices/kernels (not biases, norms), as in nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))


def clip_gradients(model: MultimodalClassifier, max_norm: float, scale_experts: bool = False) -> None:
    """Clip the global gradient norm; with independent experts, each expert's norm on its own.

    A global norm couples the experts: one expert's large gradient would shrink every other's step,
    so none would train as it would alone. ``scale_experts``: an expert's bound is ``max_norm`` times
    its loss weight. AdamW ignores a constant loss scale but clipping does not (at weight 8 nearly
    every step would be clipped, i.e. normalised); scaled, the step is the one a separately trained
    unimodal model (weight 1, ``max_norm``) would take.
    """
    if not model.independent_experts:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        return
    expert_norm = max_norm * model.unimodal_loss_weight if scale_experts else max_norm
    *experts, rest = model.expert_branches()
    for params in experts:
        torch.nn.utils.clip_grad_norm_(params, expert_norm)
    torch.nn.utils.clip_grad_norm_(rest, max_norm)


def class_weight_tensor(counts: Counter, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights (0 for unseen classes); the average weight per training sample is 1."""
    seen = np.array([counts.get(c, 0) for c in range(n_classes)], dtype=np.float64)
    weights = np.where(seen > 0, seen.sum() / (max(1, (seen > 0).sum()) * np.maximum(seen, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(),
                    console=console, disable=not enabled, transient=True)


def _write_curves(reports: Path, history: list[dict]) -> None:
    """Per-epoch curves as CSV and JSON for `dvc plots show`."""
    if not history:
        return
    columns = list(history[0])
    lines = [",".join(columns)] + [",".join(str(row.get(c, "")) for c in columns) for row in history]
    write_text_atomic(reports / "curves.csv", "\n".join(lines) + "\n")
    write_text_atomic(reports / "curves.json", json.dumps(history, indent=1) + "\n")


def train(cfg: TrainConfig, console: Console | None = None) -> dict:
    """Train the fused model on ``cfg.shards``; write the model directory ``cfg.out``; return a summary."""
    console = console or Console(stderr=True)
    device = resolve_device(cfg.device)
    rank, world, device = setup_distributed(device)
    out, reports = Path(cfg.out), Path(cfg.reports)
    dims, counts = probe_shards(cfg.shards, cfg.train_split, cfg.max_tokens, cfg.modalities)
    data_id = data_fingerprint(cfg.shards, (cfg.train_split, cfg.val_split))
    n_train = sum(counts.values())
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = MultimodalClassifier(dims, cfg).to(device)
    optimizer = make_optimizer(model, cfg)
    ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    evaluated = ema.module if ema is not None else model  # what validation scores and model.pt holds
    steps_per_epoch = max(1, math.ceil((cfg.epoch_samples or n_train) / (world * cfg.batch_size)))
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup_steps, total_steps, cfg.min_lr_ratio))
    state = {"epoch": 0, "batch": 0, "step": 0, "best_f1": -1.0, "best_loss": math.inf, "best_epoch": -1,
             "bad_epochs": 0, "history": [], "stopped_early": False, "epoch_loss_sum": 0.0}
    checkpoint_path = out / CHECKPOINTS / LAST_CHECKPOINT
    if rank == 0 and out.is_dir():
        remove_stale_temporaries(out)  # half-written files of a killed run; never read, now gone
    if cfg.resume and checkpoint_path.is_file():
        saved = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        check_resumable(saved.get("config"), cfg, checkpoint_path)
        check_same_data(saved.get("data"), data_id, cfg.shards, checkpoint_path)
        model.load_state_dict(saved["model"])
        if ema is not None:
            ema.load_state_dict(saved.get("ema"), checkpoint_path)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        if rank == 0:
            console.print(f"resuming from {checkpoint_path} at epoch {state['epoch']}, step {state['step']}")
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        label_names = copy_sidecars(cfg.shards, out, dims.n_classes)
    else:
        label_names = [str(i) for i in range(dims.n_classes)]
    weights = class_weight_tensor(counts, dims.n_classes).to(device) if cfg.class_weights else None
    train_stream = ShardStream(shard_paths(cfg.shards, cfg.train_split), dims, train=True, seed=cfg.seed,
                               shuffle_buffer=cfg.shuffle_buffer, batch_size=cfg.batch_size)
    val_loader = _val_loader(cfg, dims)
    pin = device.type == "cuda"

    def save_checkpoint() -> None:
        if rank == 0:
            save_torch_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(), "state": state, "config": cfg.model_dump(),
                               "data": data_id,
                               "ema": ema.state_dict() if ema is not None else None},
                              checkpoint_path)

    started = time.perf_counter()
    data_wait_s = 0.0  # time blocked on the loader: shows whether data or compute bounds a run
    steps_at_start = state["step"]
    with _progress(console, cfg.progress and rank == 0) as progress:
        while state["epoch"] < cfg.epochs and not state["stopped_early"]:
            epoch = state["epoch"]
            train_stream.set_epoch(epoch, skip_batches=state["batch"])
            loader = iter(make_loader(train_stream, cfg.batch_size, cfg.num_workers, pin))
            task = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=steps_per_epoch,
                                     completed=state["batch"], loss=0.0)
            recent: list[float] = []
            model.train()
            while state["batch"] < steps_per_epoch:
                waited = time.perf_counter()
                batch = next(loader)
                data_wait_s += time.perf_counter() - waited
                torch.manual_seed(cfg.seed * 1_000_003 + rank * 7_919 + state["step"])
                inputs, mask, target = to_device(batch, dims.modalities, device)
                if cfg.augment:
                    inputs = augment_batch(inputs, cfg.image_shift, cfg.image_rotate_deg, cfg.spec_mask, cfg.spec_warp,
                                           cfg.image_erase, cfg.image_noise)
                with autocast(device, cfg.amp):
                    logits, aux = ddp(inputs, mask, target)  # aux: weighted alignment + per-modality losses
                    loss = F.cross_entropy(logits.float(), target, weight=weights, label_smoothing=cfg.label_smoothing)
                    loss = loss + aux
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    clip_gradients(model, cfg.grad_clip, cfg.expert_clip_scaled)
                optimizer.step()
                if ema is not None:
                    ema.update(model)
                scheduler.step()
                state["step"] += 1
                state["batch"] += 1
                recent.append(float(loss.detach()))
                state["epoch_loss_sum"] += recent[-1]  # in the checkpoint: a resumed epoch reports the same mean
                progress.update(task, advance=1, loss=float(np.mean(recent[-20:])))
                if state["step"] % cfg.checkpoint_every == 0:
                    save_checkpoint()
            del loader  # stops DataLoader workers of the (endless) training stream
            progress.remove_task(task)
            _end_epoch(cfg, state, evaluated, val_loader, device, label_names, steps_per_epoch, scheduler, rank, out,
                       dims, console)
            save_checkpoint()
    if rank == 0:
        _write_curves(reports, state["history"])
        if not (out / WEIGHTS).is_file():  # no epoch finished with a val score: keep the last weights
            save_torch_atomic(evaluated.state_dict(), out / WEIGHTS)
    summary = {
        "model_dir": str(out), "device": str(device), "world_size": world, "epochs_run": state["epoch"],
        "steps": state["step"], "best_epoch": state["best_epoch"], "best_val_macro_f1": state["best_f1"],
        "stopped_early": state["stopped_early"], "modalities": dims.modalities, "fusion": cfg.fusion,
        "n_train_samples": n_train, "seconds": round(time.perf_counter() - started, 2),
        "steps_this_run": state["step"] - steps_at_start, "data_wait_s": round(data_wait_s, 3),
        "history": state["history"], "weights_sha256": weights_digest(model),
    }
    if ema is not None:
        summary["ema_weights_sha256"] = weights_digest(ema.module)
    if cfg.unimodal_baselines and rank == 0 and len(dims.modalities) > 1:
        summary["unimodal"] = train_unimodal_baselines(cfg, dims.modalities, console)
    return summary


# Settings that only say how or where a run executes: a checkpoint may resume under other values.
RUN_ONLY_SETTINGS = frozenset({"device", "amp", "progress", "resume", "num_workers", "checkpoint_every",
                               "unimodal_baselines", "out", "reports"})


def check_resumable(saved: dict | None, cfg: TrainConfig, checkpoint_path: Path) -> None:
    """Refuse to continue a checkpoint written with other training settings.

    Resuming exists to finish an interrupted run exactly; continuing someone else's run under new
    settings (another fusion, seed, data...) would silently return a model that matches neither.
    """
    if saved is None:  # checkpoints from before the config was stored
        return
    current = cfg.model_dump()
    changed = sorted(k for k in current.keys() & saved.keys()
                     if k not in RUN_ONLY_SETTINGS and current[k] != saved[k])
    if changed:
        details = ", ".join(f"{k}: {saved[k]!r} -> {current[k]!r}" for k in changed[:6])
        raise ValueError(f"{checkpoint_path} belongs to a run with other settings ({details}); "
                         "train into another --out, or pass --no-resume to start this one afresh")


def check_same_data(saved: str | None, current: str, shards: str, checkpoint_path: Path) -> None:
    """Refuse to continue a checkpoint trained on other data, e.g. shards rebuilt at the same path.

    The settings can all be equal while the data is not: continuing would mix two datasets in one
    model. ``saved`` is None in checkpoints from before the fingerprint was stored.
    """
    if saved is not None and saved != current:
        raise ValueError(f"{checkpoint_path} was trained on other data than the shards now at {shards} "
                         "(rebuilt since?); train into another --out, or pass --no-resume to start afresh")


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of the final weights: equal on every DDP rank, equal between a resumed and a clean run."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _val_loader(cfg: TrainConfig, dims: ModelDims):
    """Loader of the validation split, or None when the shards have none."""
    try:
        paths = shard_paths(cfg.shards, cfg.val_split)
    except ShardError:
        return None
    # Every rank scores the whole split, so all ranks take the same early-stopping decision.
    stream = ShardStream(paths, dims, train=False, split_ranks=False)
    return make_loader(stream, cfg.batch_size, 0)


def validation_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (unweighted, no label smoothing)."""
    if len(y_true) == 0:
        return math.inf
    return float(-np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, None)).mean())


def is_better(f1: float, loss: float, best_f1: float, best_loss: float, tol: float = 1e-9) -> bool:
    """Model selection: higher val macro-F1 wins; an equal F1 wins with a lower val loss.

    Without the tie-break a saturated F1 (e.g. 1.0 from epoch 5 on) keeps the first epoch that
    reached it, an under-trained model, however much the later epochs still gain in confidence.
    """
    if f1 > best_f1 + tol:
        return True
    return abs(f1 - best_f1) <= tol and loss < best_loss


def _end_epoch(cfg, state, model, val_loader, device, label_names, steps, scheduler, rank, out, dims, console) -> None:
    """Score the epoch on val, log it, keep the best weights, decide on early stopping."""
    row = {"epoch": state["epoch"] + 1, "step": state["step"], "lr": round(scheduler.get_last_lr()[0], 8),
           "train_loss": round(state["epoch_loss_sum"] / steps, 6)}
    improved = True
    if val_loader is not None:
        y_true, probs, _ = predict_probs(model, val_loader, device, cfg.amp)
        scores = classification_metrics(y_true, probs["full"].argmax(1), label_names)
        val_loss = validation_loss(y_true, probs["full"])
        row.update(val_accuracy=round(scores["accuracy"], 6), val_macro_f1=round(scores["macro_f1"], 6),
                   val_loss=round(val_loss, 6))
        improved = is_better(scores["macro_f1"], val_loss, state["best_f1"], state.get("best_loss", math.inf))
        if improved:
            state["best_f1"], state["best_epoch"], state["bad_epochs"] = scores["macro_f1"], state["epoch"] + 1, 0
            state["best_loss"] = val_loss
        else:
            state["bad_epochs"] += 1
    else:
        state["best_epoch"] = state["epoch"] + 1
    state["history"].append(row)
    if rank == 0:
        console.print(" ".join(f"{k}={v}" for k, v in row.items()) + ("  *" if improved else ""))
        if improved:
            save_torch_atomic(model.state_dict(), out / WEIGHTS)
            write_config(out, cfg, dims, {"best_epoch": state["best_epoch"], "best_val_macro_f1": state["best_f1"],
                                          "label_names": label_names})
        _write_curves(Path(cfg.reports), state["history"])
    patience = cfg.early_stopping_patience
    state["stopped_early"] = bool(val_loader is not None and patience > 0 and state["bad_epochs"] >= patience)
    state["epoch"] += 1
    state["batch"], state["epoch_loss_sum"] = 0, 0.0


def unimodal_config(cfg: TrainConfig, modality: str, out: str | Path, reports: str | Path) -> TrainConfig:
    """The single-modality baseline of ``cfg``: same encoders and budget, one modality.

    Fusion-only options are reset (concat is a plain MLP head over one embedding), so the baseline
    is the same model whichever fusion the fused model uses: a fusion choice cannot move its yardstick.
    """
    return cfg.model_copy(update={"modalities": [modality], "out": str(out), "reports": str(reports),
                                  "unimodal_baselines": False, "modality_dropout": 0.0, "fusion": "concat",
                                  "unimodal_loss_weight": 0.0, "contrastive_weight": 0.0,
                                  "independent_experts": False, "expert_clip_scaled": False,
                                  "joint_expert_detached": False})


def train_unimodal_baselines(cfg: TrainConfig, modalities: list[str], console: Console) -> dict:
    """One single-modality model per modality, same budget, in ``<out>/unimodal/<modality>``."""
    results = {}
    for modality in modalities:
        sub = unimodal_config(cfg, modality, Path(cfg.out) / "unimodal" / modality,
                              Path(cfg.reports) / "unimodal" / modality)
        console.print(f"unimodal baseline: {modality}")
        summary = train(sub, console)
        results[modality] = {"best_val_macro_f1": summary["best_val_macro_f1"], "model_dir": summary["model_dir"]}
    return results
