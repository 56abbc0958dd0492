"""Data-parallel training over several processes (one per GPU), launched by ``torchrun``.

The same :func:`fgi_core.train.fit` runs in one process or in many; the launcher turns data
parallelism on. ``torchrun`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``; when ``WORLD_SIZE > 1`` :func:`setup` joins the process group (NCCL on
CUDA, gloo on the CPU) and ``fit`` trains with PyTorch's ``DistributedDataParallel``::

    torchrun --nproc_per_node 4 -m fgi_core.cli train teacher student --profile paper --dataset kvasir

What each process does (``B`` = ``TrainConfig.batch_size``, the *global* batch, ``W`` = world size):

* every rank draws the same global batch of ``B`` indices (same seeded sampler) and the same
  flips, then keeps its own ``B / W`` samples (``index[rank::W]``, as ``DistributedSampler``);
* DDP averages the gradients over ranks, so for a loss that is a mean over samples the update
  equals the single-process update on the whole batch (batch-dependent normalisation such as
  the BatchNorm of the teacher's projection blocks sees only the rank's samples);
* random draws on the device (DARM blocks, CutMix, noise) come from a generator seeded per rank;
* validation is split over ranks and the per-image Dice summed across them;
* only rank 0 writes checkpoints, ``log.csv``, ``curves.png`` and ``summary.json``.

Set ``FGI_DIST_BACKEND`` to force a backend (e.g. ``gloo`` on CUDA for debugging).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import torch
from torch import nn

__all__ = [
    "DistInfo",
    "launched_world_size",
    "setup",
    "info",
    "shard",
    "all_reduce_sum",
    "all_gather_objects",
    "barrier",
    "cleanup",
    "data_parallel",
]

_ENV = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands.

    Attributes:
        world_size: processes in the group (1: no data parallelism).
        rank: this process's rank (0 writes files).
        local_rank: rank on this machine (picks the GPU).
        backend: ``nccl``, ``gloo`` or None when not distributed.
    """

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_world_size() -> int:
    """``WORLD_SIZE`` as set by ``torchrun`` (1 when not launched by it)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from None


def info() -> DistInfo:
    """The current process group's :class:`DistInfo` (world size 1 when none is initialised)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", dist.get_rank())),
                    dist.get_backend())


def setup(device: str = "auto", enabled: bool = True) -> tuple[DistInfo, str]:
    """Join the process group that ``torchrun`` describes, once; return it and this rank's device.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` ... (see :func:`fgi_core.config.resolve_device`); on
            CUDA each rank takes ``cuda:<LOCAL_RANK>``.
        enabled: False: stay single-process even under ``torchrun`` (every rank trains alone).

    Returns:
        ``(DistInfo, device)``; world size 1 and the resolved device when not launched by
        ``torchrun`` (or ``WORLD_SIZE=1``).

    Raises:
        RuntimeError: ``WORLD_SIZE > 1`` without the other variables torchrun sets, more ranks
            on a machine than GPUs, or multi-process training asked for on ``mps``.
    """
    import torch.distributed as dist

    from .config import resolve_device

    dev = resolve_device(device)
    world = launched_world_size()
    if not enabled or world <= 1:
        return DistInfo(), dev
    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world} but {', '.join(missing)} unset: launch with torchrun "
                           f"(torchrun --nproc_per_node {world} -m fgi_core.cli train ...)")
    local = int(os.environ["LOCAL_RANK"])
    kind = dev.split(":")[0]
    if kind == "cuda":
        if local >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local} but this machine has {torch.cuda.device_count()} GPU(s): "
                               f"use --nproc_per_node {torch.cuda.device_count()} or fewer")
        dev = f"cuda:{local}"
        torch.cuda.set_device(dev)
    elif kind == "mps":
        raise RuntimeError("multi-process training is not supported on mps: use one process, or device='cpu'")
    backend = os.environ.get("FGI_DIST_BACKEND") or ("nccl" if kind == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    current = info()
    if current.world_size != world:
        raise RuntimeError(f"a process group of {current.world_size} is already initialised, but WORLD_SIZE={world}")
    return current, dev


def shard(index: torch.Tensor, dist_info: DistInfo) -> torch.Tensor:
    """This rank's part of a global batch ``index`` (length B): ``index[rank::world]``, length B / W."""
    if not dist_info.enabled:
        return index
    return index[dist_info.rank :: dist_info.world_size]


def _device_for_collectives(dist_info: DistInfo) -> torch.device:
    if dist_info.backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: torch.Tensor, dist_info: DistInfo) -> torch.Tensor:
    """Sum of ``values`` (any shape) over ranks, returned on ``values``' device (no-op for one process)."""
    if not dist_info.enabled:
        return values
    import torch.distributed as dist

    buffer = values.detach().to(_device_for_collectives(dist_info), copy=True)
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    return buffer.to(values.device)


def all_gather_objects(obj: Any, dist_info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` for one process."""
    if not dist_info.enabled:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * dist_info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(dist_info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if dist_info.enabled:
        import torch.distributed as dist

        if dist_info.backend == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def cleanup() -> None:
    """Leave the process group (call once at the end of a script launched by torchrun)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def data_parallel(networks: Mapping[str, nn.Module], names, dist_info: DistInfo, device: str,
                  **ddp_kwargs: Any) -> Iterator[dict[str, nn.Module]]:
    """Wrap the networks ``names`` in ``DistributedDataParallel`` for the duration of the block.

    A method's loss calls its networks directly (``teacher(image, text, mask)``), so instead of
    handing it the wrappers, each network's gradient-enabled calls are *routed* through its
    wrapper: ``net(x)`` runs ``ddp(x)``, which runs the network's own ``forward``. Calls under
    ``torch.no_grad()`` (validation, the student's clean pass, a frozen teacher) skip DDP, so
    they need no collective and may differ in number between ranks. On leaving, the networks
    are as before (no wrapper, their own ``forward``); their ``state_dict`` keys never change.

    DDP's construction broadcasts rank 0's parameters and buffers, so every rank starts alike.

    Yields:
        ``{name: DistributedDataParallel}`` (empty for one process).
    """
    if not dist_info.enabled:
        yield {}
        return
    from torch.nn.parallel import DistributedDataParallel as DDP

    kwargs = dict(ddp_kwargs)
    if device.startswith("cuda"):
        kwargs.setdefault("device_ids", [torch.device(device).index or 0])
    wrappers: dict[str, nn.Module] = {}
    try:
        for name in names:
            net = networks[name]
            if not any(p.requires_grad for p in net.parameters()):
                continue
            ddp = DDP(net, **kwargs)
            _route(net, ddp)
            wrappers[name] = ddp
        yield wrappers
    finally:
        for name in wrappers:
            _unroute(networks[name])
        wrappers.clear()


def _route(net: nn.Module, ddp: nn.Module) -> None:
    if "forward" in net.__dict__:
        raise RuntimeError(f"{type(net).__name__} already has an instance-level forward (wrapped twice?)")
    own_forward = net.forward  # the class's forward, bound
    inside = [False]

    def forward(*args, **kwargs):
        if inside[0] or not torch.is_grad_enabled():
            return own_forward(*args, **kwargs)
        inside[0] = True
        try:
            return ddp(*args, **kwargs)  # DDP.forward -> net(...) -> here again -> own_forward
        finally:
            inside[0] = False

    net.forward = forward


def _unroute(net: nn.Module) -> None:
    net.__dict__.pop("forward", None)
