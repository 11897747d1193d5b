"""Typed configs of the train and evaluate stages (params.yaml sections ``train`` and ``evaluate``).

Defaults are sized for the demo corpus on a laptop CPU; the comments say what each knob trades.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mmdata.fields import MODALITIES

Fusion = Literal["concat", "attention", "projection", "lowrank", "late", "hybrid"]
Device = Literal["auto", "cpu", "cuda"]


class TrainConfig(BaseModel):
    """Everything one training run needs; saved whole into ``<out>/config.json``."""

    model_config = ConfigDict(extra="forbid")

    # -- data
    shards: str = "data/shards"  # build output: <shards>/<split>/shard-*.tar
    out: str = "models/current"  # model directory (weights, config, labels, vocab, preprocess)
    reports: str = "reports/train"  # loss / F1 curves (csv + json) that DVC declares as plots
    train_split: str = "train"
    val_split: str = "val"  # early stopping and model selection; training still works without it
    modalities: list[str] | None = None  # None = every modality present in the train shards
    shuffle_buffer: int = 512  # samples held for shuffling; larger = better mixing, more memory
    num_workers: int = 0  # DataLoader worker processes; 0 reads in the training process
    epoch_samples: int | None = None  # samples per epoch over all ranks; None = one pass of train
    max_tokens: int = 64  # token sequences are padded / truncated to this length

    # -- model
    fusion: Fusion = "concat"
    dim: int = 64  # width of every modality embedding (and of the shared space)
    conv_width: int = 16  # channels of the first conv block of the image / audio CNNs (x2 per block)
    conv_blocks: int = 3
    pool_grid: int = 4  # CNN maps are average-pooled to grid x grid (position kept); 0 = global pool
    convs_per_block: int = 1  # conv layers before each pooling step; 2 = VGG-style, ~2x the compute
    audio_norm: Literal["utterance", "cmvn"] = "utterance"  # cmvn: per-mel-bin mean/variance over frames
    # conv1d: convs over time with the mel bins as channels, then mean-pooled into audio_segments spans;
    # conv2d: the image CNN above over the log-mel as a picture (it learns the training speakers' voices:
    # audio-only 0.50 vs 0.76 on FSDD yweweler held out of george+nicolas, mean of 3 seeds)
    audio_encoder: Literal["conv1d", "conv2d"] = "conv1d"
    audio_width: int = 32  # conv1d: channels of the first conv (x2 per block)
    audio_blocks: int = 3  # conv1d: conv + pool steps (0 = a linear model on segment means of the mel)
    audio_segments: int = 8  # conv1d: spans of time the maps are averaged over (keeps the order of sounds)
    text_layers: int = 1  # transformer blocks over token embeddings
    text_heads: int = 2
    lowrank_rank: int = 4  # rank of the low-rank tensor fusion factors
    dropout: float = 0.1
    modality_dropout: float = 0.2  # chance of hiding each present modality from a training sample
    contrastive_weight: float = 0.0  # weight of the cross-modal alignment loss (projection fusion)
    # Weight of per-modality auxiliary losses: a classifier head on each modality's embedding, trained
    # with its own cross-entropy (Wang et al. 2020, "What makes training multimodal classification
    # networks hard?"). Jointly trained, the fused model leans on the modality that is easiest to fit
    # and under-trains the others; the extra loss makes every encoder learn on its own. 0 = off.
    unimodal_loss_weight: float = 0.0
    # late / hybrid: the fused loss does not reach the per-modality experts; each learns from its own
    # cross-entropy alone, as if trained separately (needs unimodal_loss_weight > 0). When modalities
    # are independent given the label (AV-MNIST pairs a digit's image and audio at random), the product
    # of separately fitted posteriors is the Bayes rule; trained through the product, an expert that is
    # near-perfect on the training data (audio, on its training speakers) leaves the others little to
    # learn from the fused loss. hybrid's joint expert still learns from the fused loss (what the
    # product misses). Each expert's gradient norm is clipped on its own, so no expert's large gradient
    # shrinks another's step. Noisy AV-MNIST (yweweler fold, 2 seeds), hybrid: fused 0.872/0.892 with it
    # vs 0.868/0.892 without (0.858/0.874 with one global clip norm); off by default.
    independent_experts: bool = False
    # With independent_experts: clip each expert at grad_clip * unimodal_loss_weight, not grad_clip. AdamW
    # ignores a constant loss scale, clipping does not: at weight 8 most steps would be clipped, i.e.
    # normalised; scaled, an expert takes the step a separately trained (weight-1) model would. Noisy
    # AV-MNIST (yweweler fold, hybrid+8, 2 seeds): fused 0.876/0.874 vs 0.872/0.892 without; off by default.
    expert_clip_scaled: bool = False
    # hybrid + independent_experts: the joint expert reads the embeddings detached, so its fused loss
    # trains only the joint head and every encoder learns from its own expert's loss alone, as in a
    # separately trained unimodal model (the product of two such baselines, 0.900 on the noisy yweweler
    # fold, beats every fused model so far). The joint expert then fits interactions on top of
    # embeddings it cannot shape. Noisy AV-MNIST (yweweler fold, hybrid+8, 2 seeds): fused 0.884/0.856 vs
    # 0.872/0.892 attached, clean 0.988/0.990 (in-model audio expert weaker: 0.734/0.716 vs 0.790/0.748); off by default.
    joint_expert_detached: bool = False
    contrastive_temperature: float = 0.1

    # -- augmentation (training only)
    augment: bool = True
    image_shift: float = 0.1  # random translation, fraction of the image size
    image_rotate_deg: float = 10.0
    image_erase: float = 0.0  # chance of filling one random rectangle (<= 1/4 of the image) with noise
    image_noise: float = 0.0  # std of added Gaussian pixel noise, as a share of each image's std
    # SpecAugment: largest masked share of mel bins / frames, and circular time shift. Small: wider
    # masks and wrapped shifts cost unseen-speaker accuracy (conv1d: 0.60 at 0.15 vs 0.76 at 0.05, 3 seeds)
    spec_mask: float = 0.05
    spec_warp: float = 0.1  # random stretch of the mel axis (vocal tract length) and time axis, +- this share

    # -- optimisation
    epochs: int = 10
    batch_size: int = 32  # per process
    lr: float = 2e-3
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 20
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    class_weights: bool = False  # weight the loss by inverse class frequency (imbalanced labels)
    early_stopping_patience: int = 4  # epochs without val gain (macro-F1; ties: loss) before stopping; 0 = never
    # > 0: keep an exponential moving average of the weights (updated after every optimizer step,
    # averaging the last ~1/(1 - decay) steps); validation, model selection and the saved model use it.
    # The last steps of a small-data run move the weights noisily from batch to batch, and the val-selected
    # epoch inherits that noise; the average is a smoother point of the same trajectory. Noisy AV-MNIST
    # (yweweler fold, hybrid+8+independent, 2 seeds), decay 0.99: fused 0.866/0.878 vs 0.872/0.892 without,
    # clean 0.992/0.990; 0 = off (the default).
    ema_decay: float = 0.0

    # -- running
    seed: int = 0
    device: Device = "auto"  # auto = cuda when available
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    checkpoint_every: int = 50  # optimizer steps between checkpoints (also one per epoch end)
    resume: bool = True  # continue from <out>/checkpoints/last.pt when present
    unimodal_baselines: bool = False  # also train one single-modality model per modality, same budget
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        unknown = set(self.modalities or []) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; choose from {list(MODALITIES)}")
        if self.modalities is not None and not self.modalities:
            raise ValueError("modalities is empty; leave it unset to use every modality in the shards")
        if self.unimodal_loss_weight < 0 or self.contrastive_weight < 0:
            raise ValueError("unimodal_loss_weight and contrastive_weight must be >= 0")
        if self.independent_experts and (self.fusion not in ("late", "hybrid") or self.unimodal_loss_weight <= 0):
            raise ValueError("independent_experts needs fusion late or hybrid and unimodal_loss_weight > 0 "
                             "(the experts' own losses are then all that trains them)")
        if self.expert_clip_scaled and not self.independent_experts:
            raise ValueError("expert_clip_scaled needs independent_experts (only then are experts clipped apart)")
        if self.joint_expert_detached and not (self.fusion == "hybrid" and self.independent_experts):
            raise ValueError("joint_expert_detached needs fusion hybrid and independent_experts (otherwise the "
                             "fused loss still reaches the encoders through the experts, or there is no joint expert)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1) (0 = no weight average)")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError("modality_dropout must be in [0, 1)")
        if self.batch_size < 1 or self.epochs < 1 or self.checkpoint_every < 1:
            raise ValueError("batch_size, epochs and checkpoint_every must be >= 1")
        return self


class EvaluateConfig(BaseModel):
    """One evaluation of a model directory on one split of a shard set."""

    model_config = ConfigDict(extra="forbid")

    model: str = "models/current"
    shards: str = "data/shards"
    split: str = "test"
    out: str = "reports"  # metrics.json, confusion_matrix.png, predictions.csv
    batch_size: int = 64
    device: Device = "auto"
    ablations: bool = True  # also score with each modality removed at test time
    # Unimodal baselines come from <model>/unimodal/<modality>/ (train with unimodal_baselines);
    # when missing and this is set, evaluate trains them with the model's own training budget.
    train_baselines: bool = False
    progress: bool = True


class ModelDims(BaseModel):
    """Input sizes probed from the train shards; saved with the model so inference rebuilds it."""

    modalities: list[str]
    n_classes: int
    image_shape: list[int] = Field(default_factory=lambda: [3, 32, 32])  # channels, height, width
    mel_shape: list[int] = Field(default_factory=lambda: [40, 32])  # n_mels, frames
    vocab_size: int = 2
    max_tokens: int = 64
