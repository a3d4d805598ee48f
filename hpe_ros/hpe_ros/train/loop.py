"""The training loop: optional CLERF contrastive stage, then the pose stage; checkpoints, resume, evaluation,
TensorBoard, DDP (torchrun), and the final fp16 export.

Output folder: ``state.pt`` (resumable training state), ``model.safetensors`` (fp16, LoRA merged),
``recipe.json`` (config + measured metrics), ``metrics.jsonl`` (logged scalars), ``tb/`` (TensorBoard),
``training_curve.png`` (loss and held-out error).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from hpe_ros.errors import InputError, ModelFileError
from hpe_ros.model import HeadPoseNet, ModelConfig, get_config, load_checkpoint, save_checkpoint
from hpe_ros.model.pose_encoding import encoding_to_pose, geodesic_angle
from hpe_ros.train.augment import geometric_augment, photometric_augment, view_camera_labels
from hpe_ros.train.config import AugmentSection, TrainConfig
from hpe_ros.train.contrastive import TripletRenders, camera_embeddings, circle_loss
from hpe_ros.train.data import (
    RANK_STRIDE,
    make_loader,
    next_batch,
    protocol_batches,
    synth_settings,
    to_device,
    training_stream,
)
from hpe_ros.train.losses import MODE_TASKS, PoseLoss, mode_terms, pose_targets, task_weights
from hpe_ros.train.plots import plot_training_curve
from hpe_ros.train.schedule import warmup_cosine

STATE_FILE = "state.pt"
EXPORT_FILE = "model.safetensors"
CURVE_FILE = "training_curve.png"
STAGES = ("contrastive", "pose")


@dataclass
class Runtime:
    """Where this process trains: device, DDP rank and world size."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process logs, evaluates and writes files (rank 0)."""
        return self.rank == 0


def setup_runtime() -> Runtime:
    """Single process (CUDA if available, else CPU), or one DDP rank when torchrun set WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Runtime(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Runtime(device, dist.get_rank(), dist.get_world_size())


def build_model(cfg: TrainConfig) -> tuple[HeadPoseNet, ModelConfig]:
    """The network of the recipe: config + overrides, initial weights, freeze policy (LoRA adapters)."""
    section = cfg.model
    try:
        model_cfg = get_config(section.name).replace(**section.overrides)
    except (TypeError, ValueError) as exc:
        raise InputError(f"model.overrides {section.overrides}: {exc}") from exc
    if section.init_format == "vggt" and not section.init:
        raise InputError(
            "model.init_format is vggt but model.init is unset: pass --set model.init=/path/to/model.pt"
        )
    model = HeadPoseNet(model_cfg)
    if section.init and section.init_format == "vggt":
        from hpe_ros.model.vggt_weights import load_vggt_weights

        load_vggt_weights(model, section.init)
    elif section.init:
        start, start_cfg, _ = load_checkpoint(section.init)
        if start_cfg != model_cfg:
            raise ModelFileError(f"{section.init} holds a {start_cfg.name} model, not the configured one")
        model.load_state_dict(start.state_dict())
    if section.freeze == "lora":
        from hpe_ros.model.lora import add_lora

        add_lora(model, section.lora_rank, section.lora_alpha)
    elif section.freeze == "head":
        from hpe_ros.model.lora import set_trainable

        set_trainable(model, "head")
    return model, model_cfg


def make_optimizer(
    params: list[tuple[str, nn.Parameter]], lr: float, steps: int, cfg: TrainConfig
) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on biases, norms and learned tokens. A stage of
    ``steps`` 0 may have nothing to train (``refine: false`` builds no parameters)."""
    trainable = [(n, p) for n, p in params if p.requires_grad]
    if steps and not trainable:
        raise InputError(
            "nothing to train in this stage (the freeze policy, or refine=false: set optim.steps=0)"
        )
    decay = [p for n, p in trainable if p.ndim >= 2 and "token" not in n]
    rest = [p for n, p in trainable if not (p.ndim >= 2 and "token" not in n)]
    groups = [
        {"params": decay, "weight_decay": cfg.optim.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=cfg.optim.betas)


def stage_images(batch: dict[str, torch.Tensor], mode: str) -> torch.Tensor:
    """Network input [B, S, 3, H, W]: (anchor, query) when ``mode`` trains the relative task (relative,
    mixed), the query alone in absolute mode. The absolute task of mixed mode reads ``images[:, -1:]``."""
    if "relative" in MODE_TASKS[mode]:
        return torch.stack([batch["anchor"], batch["query"]], dim=1)
    return batch["query"][:, None]


@torch.no_grad()
def evaluate(
    model: HeadPoseNet,
    sets: dict[str, dict[str, torch.Tensor]],
    mode: str,
    batch_size: int,
    virtual_camera: bool,
    device: torch.device,
) -> dict[str, float]:
    """Geodesic rotation error (degrees) of ``model`` (on ``device``) on held-out pairs: of T_q←a (relative)
    or of the query pose; in the virtual crop cameras when the model was trained in them (no other
    augmentation), in each crop's view camera for face-mesh models (labels only, as they were trained).
    ``floor_deg`` is the error of always predicting the identity (relative) or the frontal pose (absolute).
    Keys are ``<set>/<stat>``; mixed mode reports both tasks as ``<task>/<set>/<stat>``.

    The error is the same in the source camera once a prediction is mapped back (R_vqᵀ·R·R_va keeps angles).
    """
    was_training = model.training
    model.eval()
    metrics = {}
    for task in MODE_TASKS[mode]:
        prefix = f"{task}/" if mode == "mixed" else ""
        for name, data in sets.items():
            errors, floors = [], []
            for start in range(0, len(data["R_q"]), batch_size):
                batch = to_device({k: v[start : start + batch_size] for k, v in data.items()}, device)
                if virtual_camera:
                    geometric_augment(batch, AugmentSection(roll_deg=0.0, flip_prob=0.0), torch.Generator())
                elif model.cfg.uses_landmarks:  # trained on view-camera labels (hpe_ros.train.landmarks)
                    view_camera_labels(batch)
                encoding = model(stage_images(batch, task))[-1][:, -1]
                rotation, _, _ = encoding_to_pose(encoding, model.cfg.rotation)
                truth = batch["R_rel"] if task == "relative" else batch["R_q"]
                errors.append(torch.rad2deg(geodesic_angle(rotation.float(), truth)).cpu())
                identity = torch.eye(3, device=device).expand_as(truth)
                floors.append(torch.rad2deg(geodesic_angle(identity, truth)).cpu())
            error = torch.cat(errors)
            metrics[f"{prefix}{name}/mean_deg"] = float(error.mean())
            metrics[f"{prefix}{name}/median_deg"] = float(error.median())
            metrics[f"{prefix}{name}/floor_deg"] = float(torch.cat(floors).mean())
    model.train(was_training)
    return metrics


class Trainer:
    """One training run of a :class:`TrainConfig` into ``out_dir`` (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, resume: bool = False) -> None:
        self.cfg, self.out = cfg, Path(out_dir)
        self.rt = setup_runtime()
        state_path = self.out / STATE_FILE
        if resume and not state_path.is_file():
            raise InputError(f"--resume: {state_path} does not exist")
        if not resume and state_path.is_file():
            raise InputError(f"{self.out} already holds a run; pass --resume or choose another --out")
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model, self.model_cfg = build_model(cfg)
        if cfg.data.source == "landmarks" and not self.model_cfg.uses_landmarks:
            raise InputError(f"precomputed landmarks train face-mesh configs, not {self.model_cfg.name}")
        if cfg.contrastive.enabled and not self.model_cfg.refine:
            raise InputError(
                "contrastive pre-training trains the aggregator, which refine=false does not build"
            )
        if self.model_cfg.geometric_seed:
            if cfg.data.source != "landmarks":
                raise InputError(f"{self.model_cfg.name} trains on `hpe synth landmarks` data (data.source)")
            from hpe_ros.train.landmarks import canonical_landmarks, landmark_files, load_landmark_arrays

            arrays = load_landmark_arrays(landmark_files(cfg.data.landmarks))
            self.model.canonical_landmarks.copy_(canonical_landmarks(arrays))
        self.model.to(self.rt.device)
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + self.rt.rank)
        self.stage = "contrastive" if cfg.contrastive.enabled else "pose"
        self.step = 0
        self._new_stage_optimiser()
        self.history: list[dict[str, Any]] = []
        precision = cfg.optim.precision if self.rt.device.type == "cuda" else "fp32"
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
        if resume:
            self._load_state(state_path)
        self.loss_fns = {
            task: PoseLoss(cfg.loss, self.model_cfg.rotation, task) for task in MODE_TASKS[cfg.mode]
        }
        self.task_weights = task_weights(cfg.mode, cfg.loss.absolute_weight)
        self.writer = None

    # ----- state -----------------------------------------------------------------------------------------
    def _new_stage_optimiser(self) -> None:
        cfg = self.cfg
        if self.stage == "contrastive":
            params = list(self.model.aggregator.named_parameters())
            lr, steps = cfg.contrastive.lr, cfg.contrastive.steps
        else:
            params, lr, steps = list(self.model.named_parameters()), cfg.optim.lr, cfg.optim.steps
        self.optimizer = make_optimizer(params, lr, steps, cfg)
        warmup = min(cfg.optim.warmup_steps, max(1, steps // 10))
        self.scheduler = warmup_cosine(self.optimizer, steps, warmup, cfg.optim.min_lr_ratio)

    def _state(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "augment": self.generator.get_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state(self.rt.device)
        return {
            "stage": self.stage,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "config": self.cfg.to_dict(),
            "history": self.history,
        }

    def save_state(self) -> None:
        """Write ``state.pt`` atomically (rank 0); every rank's RNG differs but rank 0's is kept."""
        if not self.rt.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        partial = self.out / (STATE_FILE + ".part")
        torch.save(self._state(), partial)
        partial.replace(self.out / STATE_FILE)

    def _load_state(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a truncated or foreign file
            raise ModelFileError(f"cannot read training state {path}: {exc}") from exc
        saved = state["config"]
        if saved["model"] != self.cfg.to_dict()["model"] or saved["mode"] != self.cfg.mode:
            raise InputError(f"{path} was trained with another model section or mode; cannot resume")
        self.model.load_state_dict(state["model"])
        self.stage, self.step, self.history = state["stage"], state["step"], state["history"]
        self._new_stage_optimiser()
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["augment"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.rt.device)

    # ----- helpers ---------------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.autocast_dtype)

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.rt.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.rt.device.index] if self.rt.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=False)

    def _optimise(self, loss: torch.Tensor) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        self._backward(loss)
        return self._step()

    def _backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def _step(self) -> float:
        self.scaler.unscale_(self.optimizer)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(norm)

    def _log(self, scalars: dict[str, float]) -> None:
        if not self.rt.main:
            return
        record = {"stage": self.stage, "step": self.step, **scalars}
        self.history.append(record)
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(f"{self.stage}/{key}", value, self.step)

    def _evaluate(self, eval_sets: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
        cfg = self.cfg
        return evaluate(
            self.model, eval_sets, cfg.mode, cfg.eval.batch_size, cfg.augment.virtual_camera, self.rt.device
        )

    # ----- stages ----------------------------------------------------------------------------------------
    def _contrastive_stage(self, stop_at: int | None) -> None:
        cfg = self.cfg.contrastive
        settings = synth_settings(self.cfg.data, self.model_cfg.image_size, self.cfg.seed)
        start = self.rt.rank * RANK_STRIDE + self.step * cfg.batch_size
        triplets = TripletRenders(settings, start)
        data = self.cfg.data
        loader = make_loader(triplets, cfg.batch_size, data.workers, data.worker_timeout_s)
        aggregator = self._wrap(self.model.aggregator)
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        batches = iter(loader)
        for _ in tqdm(range(self.step, end), desc="contrastive", disable=not self.rt.main, initial=self.step):
            batch = next_batch(batches, self.step)
            images = batch["images"].to(self.rt.device).flatten(0, 1).float() / 255
            frames = photometric_augment(images, self.cfg.augment, self.generator)[:, None]
            if self.model_cfg.uses_landmarks:  # the aggregator takes the frozen face mesh's landmarks
                frames = self.model.embed_frames(frames)
            with self._autocast():
                embeddings = camera_embeddings(aggregator, frames)
            loss = circle_loss(
                embeddings, batch["rotations"].to(self.rt.device).flatten(0, 1),
                cfg.margin, cfg.scale, cfg.positive_max_deg, cfg.negative_min_deg,
            )  # fmt: skip
            grad_norm = self._optimise(loss)
            self.step += 1
            if self.step % self.cfg.log_every == 0 or self.step == end:
                lr = self.scheduler.get_last_lr()[0]
                self._log({"circle_loss": loss.item(), "grad_norm": grad_norm, "lr": lr})
            if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0:
                self.save_state()
        if self.step >= cfg.steps:
            self.stage, self.step = "pose", 0
            self._new_stage_optimiser()

    def _pose_stage(self, eval_sets: dict[str, dict[str, torch.Tensor]], stop_at: int | None) -> list[float]:
        cfg = self.cfg
        size = self.model_cfg.image_size
        dataset, workers = training_stream(
            cfg.data, size, cfg.seed, self.rt.rank, self.rt.world, skip=self.step * cfg.data.batch_size
        )
        loader = make_loader(dataset, cfg.data.batch_size, workers, cfg.data.worker_timeout_s)
        model = self._wrap(self.model)
        model.train()
        end = cfg.optim.steps if stop_at is None else min(stop_at, cfg.optim.steps)
        losses = []
        batches = iter(loader)
        progress = tqdm(range(self.step, end), desc="pose", disable=not self.rt.main, initial=self.step)
        for _ in progress:
            batch = to_device(next_batch(batches, self.step), self.rt.device)
            if cfg.data.source == "landmarks":  # augmented before the frozen front end, once
                images = stage_images(batch, cfg.mode)
            else:
                if batch["anchor"].shape[-1] != size:
                    got = batch["anchor"].shape[-1]
                    raise InputError(f"training images are {got} px; the model needs {size}")
                geometric_augment(batch, cfg.augment, self.generator)
                images = stage_images(batch, cfg.mode)
                images = photometric_augment(images.flatten(0, 1), cfg.augment, self.generator).view_as(
                    images
                )
            terms = self._task_losses(model, images, batch)
            grad_norm = self._step()
            self.step += 1
            losses.append(terms["loss"].item())
            progress.set_postfix(loss=f"{losses[-1]:.4f}")
            if self.step % cfg.log_every == 0 or self.step == end:
                scalars = {k: v.item() for k, v in terms.items()}
                self._log({**scalars, "grad_norm": grad_norm, "lr": self.scheduler.get_last_lr()[0]})
            if eval_sets and cfg.eval.every and self.step % cfg.eval.every == 0 and self.step < end:
                self._log(self._evaluate(eval_sets))
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_state()
        return losses

    def _task_losses(
        self, model: nn.Module, images: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Forward and backward each task of the mode (gradients accumulate; DDP syncs on the last one) and
        return the detached terms (:func:`~hpe_ros.train.losses.mode_terms`)."""
        self.optimizer.zero_grad(set_to_none=True)
        size = self.model_cfg.image_size
        task_terms = {}
        for index, (task, weight) in enumerate(self.task_weights.items()):
            last = index == len(self.task_weights) - 1
            with contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync():
                with self._autocast():
                    predictions = model(images if task == "relative" else images[:, -1:])
                terms = self.loss_fns[task](predictions, pose_targets(batch, task, size))
                self._backward(weight * terms["loss"])
            task_terms[task] = {k: v.detach() for k, v in terms.items()}
        return mode_terms(task_terms, self.task_weights)

    # ----- the run ---------------------------------------------------------------------------------------
    def run(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train to the recipe's end (or until the current stage reaches step ``stop_at``); export at the end.

        Returns ``{"losses": pose-stage losses of this call, "metrics": final evaluation, "finished": bool}``.
        """
        started = time.time()
        if self.rt.main:
            from torch.utils.tensorboard import SummaryWriter

            self.out.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(str(self.out / "tb"))
        eval_sets = {}
        if self.rt.main and self.cfg.eval.pairs:
            for name in tqdm(self.cfg.eval.protocols, desc="rendering held-out pairs"):
                eval_sets[name] = protocol_batches(
                    name, self.model_cfg.image_size, self.cfg.eval.pairs, self.cfg.data.cache
                )
        losses: list[float] = []
        try:
            if self.stage == "contrastive":
                self._contrastive_stage(stop_at)
            if self.stage == "pose":
                losses = self._pose_stage(eval_sets, stop_at)
            finished = self.stage == "pose" and self.step >= self.cfg.optim.steps
            self.save_state()
            metrics = {}
            if self.rt.main and finished:
                metrics = self._evaluate(eval_sets)
                if metrics:
                    self._log(metrics)
                self.export(metrics, time.time() - started)
        finally:
            if self.writer is not None:
                self.writer.close()
        return {"losses": losses, "metrics": metrics, "finished": finished}

    def export(self, metrics: dict[str, float], seconds: float) -> Path:
        """``model.safetensors`` (fp16, adapters merged) and ``recipe.json`` (config, metrics, cost)."""
        meta = {
            "mode": self.cfg.mode,
            "steps": self.cfg.optim.steps,
            "virtual_camera": self.cfg.augment.virtual_camera,  # predictions in the crop-centre camera
            "metrics": metrics,
        }
        path = save_checkpoint(self.out / EXPORT_FILE, self.model, self.model_cfg, meta, dtype=torch.float16)
        recipe = {
            "config": self.cfg.to_dict(),
            "model_config": self.model_cfg.to_dict(),
            "metrics": metrics,
            "history": self.history,
            "device": str(self.rt.device),
            "world_size": self.rt.world,
            "seconds_this_session": round(seconds, 1),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }
        (self.out / "recipe.json").write_text(json.dumps(recipe, indent=1))
        plot_training_curve(self.history, self.out / CURVE_FILE)
        return path


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False, stop_at: int | None = None) -> dict:
    """Run (or resume) a recipe into ``out_dir``; see :meth:`Trainer.run`."""
    return Trainer(cfg, out_dir, resume).run(stop_at)
