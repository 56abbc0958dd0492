"""Trained networks back from a run folder, applied to images at their original size.

A stage folder written by :func:`fgi_core.train.fit` holds ``checkpoints/best.pt`` (and
``last.pt``) with the state dicts of its networks: ``teacher`` (stage 1), ``teacher`` and
``student`` (stage 2), or ``network`` (a baseline), and each network's ``models`` entry, the
model kind and constructor arguments :func:`fgi_core.models.create_model` recorded.
:func:`load_predictor` rebuilds the network from that entry, so a checkpoint loads without
remembering how it was configured; only the input side comes from the run's ``config.json`` (or
the ``image_size`` argument). A checkpoint written before the entry existed is rebuilt from the
shapes in its state dict (:func:`network_from_state`, with a warning);
:func:`upgrade_checkpoint` adds the entry to it.

Example:
    >>> predictor = load_predictor("runs/kvasir/cpu-seed0", network="student")   # doctest: +SKIP
    >>> prob = predictor.probability(image_uint8)        # float32 H x W in [0, 1], original size
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from .config import get_profile, resolve_device
from .registry import look_up_option
from .evaluate import resize_probability

__all__ = ["Predictor", "load_predictor", "predict_folder", "network_from_state", "widths_from_state", "student_teacher_widths",
           "find_checkpoint", "checkpoint_networks", "pick_network", "upgrade_checkpoint", "NETWORKS"]

#: What ``network=`` may name: the FGI networks, or ``network`` for a baseline's single model.
NETWORKS = ("student", "teacher", "network")


def widths_from_state(state: dict[str, torch.Tensor], prefix: str = "backbone.") -> tuple[int, ...]:
    """The six BasicUNet widths of a backbone, read off its convolution shapes."""
    try:
        return (
            int(state[f"{prefix}conv_0.conv_0.conv.weight"].shape[0]),
            *(int(state[f"{prefix}down_{k}.convs.conv_0.conv.weight"].shape[0]) for k in range(1, 5)),
            int(state[f"{prefix}upcat_1.convs.conv_0.conv.weight"].shape[0]),
        )
    except KeyError as err:
        raise ValueError(f"not a BasicUNet backbone state dict: key {err} is missing (prefix {prefix!r})") from None


def student_teacher_widths(state: dict[str, torch.Tensor], networks: Mapping[str, dict] | None = None) -> tuple[int, ...]:
    """The six widths of the teacher a student's state dict was distilled against.

    The student's four adapters end at the teacher's stage widths (``teacher_widths[1:5]``,
    read off ``adapter.<s>.0.weight``, ``teacher_s x student_s x 1 x 1``). The teacher's first
    and last widths are not in a student's weights: they are read from the teacher's state when
    the checkpoint holds it (``networks["teacher"]``, a stage-2 checkpoint), else they are taken
    as twice the student's (no weight depends on them).

    Args:
        state: the student's state dict.
        networks: the checkpoint's ``networks`` entry (name -> state dict), or None.

    Raises:
        ValueError: the checkpoint's teacher has stage widths other than the student's adapters
            (both named).
    """
    widths = widths_from_state(state)
    adapted = tuple(int(state[f"adapter.{s}.0.weight"].shape[0]) for s in range(4))
    teacher = (networks or {}).get("teacher")
    if teacher is not None and "projection.0.0.weight" in teacher:
        teacher_widths = widths_from_state(teacher)
        if teacher_widths[1:5] != adapted:
            raise ValueError(f"the checkpoint's teacher has stage widths {teacher_widths[1:5]}, but the student's adapters "
                             f"end at {adapted}: they were not trained together")
        return teacher_widths
    return (2 * widths[0], *adapted, 2 * widths[5])


def network_from_state(name: str, state: dict[str, torch.Tensor],
                       networks: Mapping[str, dict] | None = None) -> tuple[str, nn.Module]:
    """Rebuild the module a checkpoint's ``name`` entry was saved from (weights not loaded), for
    checkpoints without a ``models`` entry (written before checkpoints recorded their models).

    Every width comes from the state dict's tensor shapes (:func:`widths_from_state`); a
    student's teacher widths from :func:`student_teacher_widths` (the teacher's own state when
    ``networks``, the checkpoint's ``networks`` entry, holds it), so a teacher whose widths are
    not twice the student's is rebuilt as it was.

    Returns:
        (kind, module) with kind in ``student``, ``teacher``, ``unet``, ``gazemedseg``.
    """
    from .models import create_model

    if any(k.startswith("levels.") for k in state):
        levels = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("levels."))
        widths = widths_from_state(state, "levels.0.backbone.")
        in_ch = int(state["levels.0.backbone.conv_0.conv_0.conv.weight"].shape[1])
        return "gazemedseg", create_model("gazemedseg", in_channels=in_ch, widths=widths, levels=levels)
    widths = widths_from_state(state)
    in_ch = int(state["backbone.conv_0.conv_0.conv.weight"].shape[1])
    if "adapter.0.0.weight" in state:
        teacher_widths = student_teacher_widths(state, networks)
        return "student", create_model("student", in_channels=in_ch, widths=widths, teacher_widths=teacher_widths)
    if "projection.0.0.weight" in state:
        fusion = "fusion.0.text_proj.weight" in state
        text_dim = int(state["fusion.0.text_proj.weight"].shape[1]) if fusion else 384
        return "teacher", create_model("teacher", in_channels=in_ch, widths=widths, text_dim=text_dim, fusion=fusion)
    return "unet", create_model("unet", in_channels=in_ch, widths=widths)


def find_checkpoint(path: str | Path, network: str | None = "student", which: str = "best") -> Path:
    """The checkpoint file meant by ``path``: a ``.pt`` file, a stage folder, or a run folder.

    In a run folder the student and "the FGI teacher" (after stage 2) come from ``student/``;
    ``network="teacher"`` falls back to ``teacher/`` (stage 1) when stage 2 has not run.
    ``network=None`` means "whatever is there": a stage folder's own checkpoint, else the
    run's ``student/``.

    Raises:
        FileNotFoundError: ``path`` does not exist, or holds no such checkpoint (the message
            lists where it looked).
    """
    path = Path(path)
    look_up_option(which, ("best", "last"), "checkpoint")
    if path.is_file():
        return path
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give a run folder (runs/<dataset>/<run>), a stage folder "
                                f"(e.g. runs/<dataset>/<run>/baselines/m_bc) or a .pt checkpoint")
    candidates = [path / "checkpoints" / f"{which}.pt"]
    if network in ("student", "teacher", None):
        candidates.append(path / "student" / "checkpoints" / f"{which}.pt")
    if network == "teacher":
        candidates.append(path / "teacher" / "checkpoints" / f"{which}.pt")
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"no {which}.pt for network {network!r} under {path}; looked for: " + ", ".join(map(str, candidates)))


def _run_folder_of(checkpoint: Path) -> Path | None:
    for parent in checkpoint.parents:
        if (parent / "config.json").is_file():
            return parent
    return None


def _image_size_from_run(run_dir: Path | None) -> int | None:
    if run_dir is None:
        return None
    config = json.loads((run_dir / "config.json").read_text())
    for entry in config.values():
        if isinstance(entry, dict) and entry.get("profile"):
            return get_profile(entry["profile"]).image_size
    return None


@dataclass
class Predictor:
    """A trained network and what it needs to turn an image into a probability map.

    Attributes:
        network: the module, in eval mode on ``device``.
        kind: ``student``, ``teacher``, ``unet`` or ``gazemedseg``.
        image_size: the square side it was trained at; inputs are resized to it.
        channels: 3 (RGB, ImageNet normalisation) or 1 (per-image z-score).
        checkpoint: where the weights came from.
        text: for a teacher with fusion, ``{image id: L x D token embeddings}`` (else None).
        activation: how its output is read (``softmax``, or ``sigmoid`` of channel 1 for a
            network trained with BCE; :func:`fgi_core.models.foreground_probability`).
    """

    network: nn.Module
    kind: str
    image_size: int
    channels: int
    device: str
    checkpoint: Path
    text: dict[str, np.ndarray] | None = field(default=None, repr=False)
    activation: str = "softmax"

    @property
    def needs_text(self) -> bool:
        return self.kind == "teacher" and getattr(self.network, "use_fusion", False)

    def inputs(self, images: Sequence[np.ndarray], ids: Sequence[str] | None = None,
               text_length: int = 1) -> dict[str, torch.Tensor]:
        """The network's batch of ``images`` (uint8 H x W x 3, or H x W), on ``device``.

        Args:
            images: B images at any size.
            ids: their ids (a teacher that reads text looks its text up by id).
            text_length: pad the text to at least this many tokens (e.g. the longest text of a
                whole split, so that every batch of it has one L).

        Returns:
            ``image``: float32 ``B x C x S x S`` (resized with area interpolation, normalised as
            in training); for a teacher that reads text also ``text`` (``B x L x D``, zero-padded
            to the longest text, at least ``text_length``) and ``text_mask`` (``B x L`` bool,
            True on real tokens; an empty text attends to one zero token).

        Raises:
            ValueError: a teacher that reads text without ``ids`` or text; KeyError: an id
            without a text embedding.
        """
        from .train.data import _normalise

        x = np.stack([_normalise(cv2.resize(im, (self.image_size, self.image_size), interpolation=cv2.INTER_AREA), self.channels) for im in images])
        batch = {"image": torch.from_numpy(x).to(self.device)}
        if self.needs_text:
            batch.update(self._text_batch(ids, text_length))
        return batch

    def _text_batch(self, ids: Sequence[str] | None, text_length: int = 1) -> dict[str, torch.Tensor]:
        """``text`` (B x L x D, zero-padded) and ``text_mask`` (B x L) of ``ids``, on ``device``."""
        if ids is None or self.text is None:
            raise ValueError("this teacher reads text: pass the images' ids, and load it from a run folder with explain/ outputs")
        missing = [i for i in ids if i not in self.text]
        if missing:
            raise KeyError(f"no text embedding for {missing[:5]} in the run's explain/ outputs")
        length = max(1, int(text_length), *(self.text[i].shape[0] for i in ids))
        dim = next(iter(self.text.values())).shape[1]
        tokens = np.zeros((len(ids), length, dim), np.float32)
        mask = np.zeros((len(ids), length), bool)
        for k, i in enumerate(ids):
            n = self.text[i].shape[0]
            tokens[k, :n], mask[k, :n] = self.text[i], True
        mask[:, 0] |= ~mask.any(axis=1)
        return {"text": torch.from_numpy(tokens).to(self.device), "text_mask": torch.from_numpy(mask).to(self.device)}

    @torch.no_grad()
    def batch_probabilities(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Lesion probability of a batch made by :meth:`inputs`: float32 ``B x S x S``, on ``device``."""
        from .models.readout import foreground_probability

        if self.kind == "teacher":
            out = self.network(batch["image"], batch.get("text"), batch.get("text_mask"))
        else:
            out = self.network(batch["image"])
        logits = out["prediction"] if self.kind == "gazemedseg" else out["logits"]
        return foreground_probability(logits, self.activation)

    def probabilities(self, images: Sequence[np.ndarray], ids: Sequence[str] | None = None) -> list[np.ndarray]:
        """Lesion probability of each image (uint8 H x W x 3, or H x W for MRI) at its own size.

        Returns:
            float32 H x W arrays in [0, 1], one per image, each at that image's original size.
        """
        if not len(images):
            return []
        prob = self.batch_probabilities(self.inputs(images, ids)).cpu().numpy()
        return [resize_probability(p, im.shape[:2]) for p, im in zip(prob, images)]

    def probability(self, image: np.ndarray, image_id: str | None = None) -> np.ndarray:
        """One image's lesion probability at its original size (float32 H x W)."""
        return self.probabilities([image], None if image_id is None else [image_id])[0]

    def iter_probabilities(self, dataset, ids: Iterable[str], batch_size: int = 8):
        """Yield ``(id, probability)`` over ``ids`` of a dataset, ``batch_size`` images at a time."""
        ids = list(ids)
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            for i, p in zip(chunk, self.probabilities([dataset.image(i) for i in chunk], chunk)):
                yield i, p


#: Which network a checkpoint is "for" when none is named: a stage 2 checkpoint's student, a
#: baseline's network, a stage 1 checkpoint's teacher.
NETWORKS_BY_PREFERENCE = ("student", "network", "teacher")


def checkpoint_networks(checkpoint: str | Path) -> list[str]:
    """The names of the networks a checkpoint holds (``teacher``, ``student``, ``network``)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return sorted(state["networks"])


def pick_network(held: Iterable[str], wanted: Iterable[str] | None = None) -> str:
    """The network to use from those a checkpoint ``held``: the first of ``wanted`` it holds, else
    its own one (``student`` before ``network`` before ``teacher``).

    Raises:
        KeyError: it holds none of ``wanted`` nor any known network.
    """
    held = list(held)
    for name in [*(wanted or ()), *NETWORKS_BY_PREFERENCE]:
        if name in held:
            return name
    raise KeyError(f"the checkpoint holds {sorted(held)}, none of {', '.join(NETWORKS)}")


def load_predictor(
    path: str | Path,
    network: str | None = "student",
    which: str = "best",
    device: str = "auto",
    image_size: int | None = None,
    run_dir: str | Path | None = None,
) -> Predictor:
    """A :class:`Predictor` from a run folder, a stage folder or a checkpoint file.

    Args:
        path: ``runs/<dataset>/<run>`` (student / FGI teacher), a stage folder such as
            ``runs/.../teacher`` or ``.../baselines/unet_m_bc``, or a ``.pt`` file.
        network: ``student``, ``teacher`` or ``network`` (a baseline's model); None: the one
            the checkpoint is for (``student``, else ``network``, else ``teacher``).
        which: ``best`` (by validation Dice) or ``last``.
        image_size: training side; default: the profile recorded in the run's ``config.json``.
        run_dir: the run folder (for the image size and, for a teacher, its text embeddings);
            default: the nearest parent of the checkpoint with a ``config.json``.

    Raises:
        FileNotFoundError: no checkpoint there (the message lists where it looked).
        KeyError: the checkpoint has no such network (the message lists those it has).
        ValueError: the image size cannot be found.
    """
    if network is not None:
        look_up_option(network, NETWORKS, "network")
    ckpt = find_checkpoint(path, network, which)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    nets = state["networks"]
    if network is None:
        network = pick_network(nets)
    if network not in nets:
        raise KeyError(f"{ckpt} holds {sorted(nets)}, not {network!r}: name one of those (network=..., "
                       f"--network ...), or leave it out to use the one the checkpoint is for")
    kind, module = _network_of(state, network, ckpt)
    module.load_state_dict(nets[network])
    run = Path(run_dir) if run_dir is not None else _run_folder_of(ckpt)
    size = image_size or _image_size_from_run(run)
    if size is None:
        raise ValueError(f"image size unknown for {ckpt}: pass image_size= (no run config.json above it)")
    dev = resolve_device(device)
    text = None
    if kind == "teacher" and getattr(module, "use_fusion", False) and run is not None and (run / "explain").is_dir():
        from .explain import load_text_embeddings

        text, _ = load_text_embeddings(run)
    channels = int(module.in_channels) if hasattr(module, "in_channels") else int(nets[network][next(k for k in nets[network] if k.endswith("conv_0.conv_0.conv.weight"))].shape[1])
    from .models.readout import stored_activation

    activation = stored_activation(state, network, ckpt.parent.parent)
    return Predictor(module.to(dev).eval(), kind, int(size), channels, dev, ckpt, text, activation)


def _network_of(state: dict, network: str, checkpoint: Path) -> tuple[str, nn.Module]:
    """(kind, module) of checkpoint ``state``'s ``network``: from its ``models`` entry, else (an
    old checkpoint) guessed from its weights' shapes with a warning."""
    spec = (state.get("models") or {}).get(network)
    if spec is not None:
        from .models import model_from_spec

        return spec["kind"], model_from_spec(spec)
    warnings.warn(f"{checkpoint} does not name the model of {network!r} (written before checkpoints did): rebuilt "
                  f"from its weights' shapes; retrain it, or re-save it with fgi_core.predict.upgrade_checkpoint",
                  FutureWarning, stacklevel=3)
    return network_from_state(network, state["networks"][network], state["networks"])


def upgrade_checkpoint(checkpoint: str | Path) -> dict[str, dict]:
    """Add the ``models`` entry to a checkpoint written without it (each network rebuilt from its
    weights' shapes, :func:`network_from_state`); rewrite it in place. Returns the entry."""
    from .io import atomic_path
    from .models import model_from_spec

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    nets, models = state["networks"], dict(state.get("models") or {})
    for name in sorted(set(nets) - set(models)):
        models[name] = network_from_state(name, nets[name], nets)[1].model_spec
        model_from_spec(models[name]).load_state_dict(nets[name])  # strict: the guess holds the weights
    state["models"] = models
    with atomic_path(Path(checkpoint)) as tmp:
        torch.save(state, tmp)
    return models


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _warn_if_synthetic(predictor: Predictor, warn) -> None:
    """Warn when the run the predictor's checkpoint belongs to was trained on synthetic data."""
    run = _run_folder_of(predictor.checkpoint)
    try:
        entries = [e for e in json.loads((run / "config.json").read_text()).values() if isinstance(e, dict)] if run else []
    except (OSError, ValueError):
        entries = []
    trained_on = next((e["dataset"] for e in reversed(entries) if e.get("dataset")), None)
    if str(trained_on or "").startswith("synthetic"):
        warn(f"the network was trained on synthetic data ({run}): its masks of real images mean little; "
             f"train on your own images first (fgi run --dataset folder --data-root DIR)")


def _read_image(path: Path, channels: int) -> tuple[np.ndarray | None, str]:
    """(uint8 H x W x 3 RGB, or H x W grey for a 1-channel network; ``""``), or (None, why not)."""
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        return None, "empty file" if not data.size else "not a decodable image file"
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB)
    if channels == 3 and image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image, ""


def _write_prediction(out_dir: Path, stem: str, image: np.ndarray, mask: np.ndarray, overlays: bool) -> None:
    """``masks/<stem>.png`` (0 / 255) and, with ``overlays``, ``overlays/<stem>.png`` (tint and outline), H x W each."""
    from .data.base import to_rgb_uint8
    from .io import write_png

    write_png(out_dir / "masks" / f"{stem}.png", mask.astype(np.uint8) * 255)
    if overlays:
        rgb = to_rgb_uint8(image).copy()
        tint = rgb.astype(np.float32)
        tint[mask] = 0.6 * tint[mask] + 0.4 * np.array([255, 60, 60], np.float32)
        view = tint.astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(view, contours, -1, (255, 255, 0), max(1, round(min(mask.shape) / 200)))
        write_png(out_dir / "overlays" / f"{stem}.png", view)


def _warn_about_files(warn, out_dir: Path, skipped: list[str], large: list[str], n_files: int, side: int) -> None:
    """The warnings of :func:`predict_folder` about unreadable and very large files."""
    from .config import PROFILES

    if skipped:
        warn(f"skipped {len(skipped)} unreadable file(s): {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''} "
             f"(status column of {out_dir / 'predictions.csv'})")
    if large:
        bigger = ", ".join(f"{p.name} {p.image_size} px" for p in PROFILES.values() if p.image_size > side)
        warn(f"{len(large)} of {n_files - len(skipped)} images are more than 4x the side the network was trained at ({side} px), "
             f"e.g. {large[0]}: each is shrunk to {side} x {side} for it, so fine detail is lost"
             + (f"; a network trained at a larger size fits them better (profile {bigger})" if bigger else ""))


def predict_folder(predictor: Predictor, images_dir: str | Path, out_dir: str | Path, threshold: float = 0.5,
                   overlays: bool = True, progress: bool = True, warn=None) -> list[dict]:
    """Segment every image in ``images_dir`` (new, unlabelled images: no gaze, no text).

    Writes ``out_dir/masks/<name>.png`` (0 / 255, the image's size), and with ``overlays``
    ``out_dir/overlays/<name>.png`` (the image with the predicted outline and a tint), plus
    ``out_dir/predictions.csv``: one row per file (name, ``status``, size, predicted area share,
    mean probability inside). A file that cannot be decoded is skipped with a warning; its row
    says ``unreadable: <reason>`` (the others ``ok``).

    Warns (through ``warn``, default :func:`warnings.warn`, once each) when the network was
    trained on synthetic data, when images are more than 4x the side it was trained at, and
    which files were skipped.

    Raises:
        FileNotFoundError: the folder does not exist or holds no images.
        ValueError: the predictor is a teacher that needs text (use the student).
    """
    import warnings

    import pandas as pd
    from .progress import tqdm

    from .io import atomic_path

    if warn is None:
        def warn(message: str) -> None:
            warnings.warn(message, UserWarning, stacklevel=3)

    if predictor.needs_text:
        raise ValueError("this teacher needs each image's text explanation; new images have none: predict with the student")
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"no folder {images_dir}" + ("" if images_dir.exists() else " (it does not exist)"))
    files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images_dir}")
    _warn_if_synthetic(predictor, warn)

    side = predictor.image_size
    rows, skipped, large = [], [], []
    for path in tqdm(files, desc="predict", disable=not progress):
        image, reason = _read_image(path, predictor.channels)
        if image is None:
            skipped.append(f"{path.name} ({reason})")
            rows.append({"image": path.name, "status": f"unreadable: {reason}", "height": None, "width": None,
                         "area": float("nan"), "mean_probability_inside": float("nan")})
            continue
        if max(image.shape[:2]) > 4 * side:
            large.append(f"{path.name} ({image.shape[0]} x {image.shape[1]})")
        prob = predictor.probability(image)
        mask = prob >= threshold
        _write_prediction(out_dir, path.stem, image, mask, overlays)
        rows.append({"image": path.name, "status": "ok", "height": mask.shape[0], "width": mask.shape[1], "area": float(mask.mean()),
                     "mean_probability_inside": float(prob[mask].mean()) if mask.any() else float("nan")})
    with atomic_path(out_dir / "predictions.csv") as tmp:
        pd.DataFrame(rows).astype({"height": "Int64", "width": "Int64"}).to_csv(tmp, index=False)
    _warn_about_files(warn, out_dir, skipped, large, len(files), side)
    return rows
