"""data_download.sh against a tiny fake mirror in tmp_path (never the real data, never the network).

The mirror holds a fake ``kvasir-seg.zip`` (``Kvasir-SEG/images/*.jpg`` + ``Kvasir-SEG/masks/*.jpg``
with a few bytes each) and two fake GazeMedSeg CSVs; ``FGI_KVASIR_MANIFEST`` and
``FGI_GAZEMEDSEG_SUMS`` point the script at sums that match these fakes.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "data_download.sh"
MANIFESTS = ROOT / "fgi_core" / "data" / "manifests"

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("unzip") is None,
    reason="data_download.sh tests need bash and unzip",
)
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")

IMAGES = {"a.jpg": b"\xff\xd8fake image a\xff\xd9", "b.jpg": b"\xff\xd8fake image b\xff\xd9"}
MASKS = {"a.jpg": b"\xff\xd8fake mask a\xff\xd9", "b.jpg": b"\xff\xd8fake mask b\xff\xd9"}
CSVS = {
    "kvasir_fixation.csv": b"IMAGE,CURRENT_FIX_INDEX,CURRENT_FIX_X,CURRENT_FIX_Y\na.jpg,1,0.5,0.5\n" * 50,
    "nci-isbi_fixation.csv": b"IMAGE,CURRENT_FIX_INDEX,CURRENT_FIX_X,CURRENT_FIX_Y\nP-01_3.jpg,1,0.4,0.6\n" * 50,
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(images: dict[str, bytes], masks: dict[str, bytes], top: str = "Kvasir-SEG") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in images.items():
            zf.writestr(f"{top}/images/{name}", data)
        for name, data in masks.items():
            zf.writestr(f"{top}/masks/{name}", data)
        zf.writestr(f"{top}/kavsir_bboxes.json", b"{}")
    return buf.getvalue()


@dataclass
class Mirror:
    dir: Path
    manifest: Path
    sums: Path
    data: Path  # the data folder the script writes into (not created here)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FGI_")}
        env.update(
            FGI_MIRROR=str(self.dir),
            FGI_KVASIR_MANIFEST=str(self.manifest),
            FGI_GAZEMEDSEG_SUMS=str(self.sums),
        )
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(SCRIPT), "--data-dir", str(self.data), *args],
            capture_output=True, text=True, timeout=120, env=env if env is not None else self.env(),
        )


@pytest.fixture
def mirror(tmp_path: Path) -> Mirror:
    mdir = tmp_path / "mirror"
    mdir.mkdir()
    (mdir / "kvasir-seg.zip").write_bytes(make_zip(IMAGES, MASKS))
    for name, data in CSVS.items():
        (mdir / name).write_bytes(data)
    sums_dir = tmp_path / "sums"
    sums_dir.mkdir()
    manifest = sums_dir / "kvasir.csv"
    manifest.write_text(
        "file,image_sha256,mask_sha256\n" + "".join(f"{n},{sha(IMAGES[n])},{sha(MASKS[n])}\n" for n in IMAGES)
    )
    sums = sums_dir / "gazemedseg.sha256"
    sums.write_text("".join(f"{sha(d)}  {n}\n" for n, d in CSVS.items()))
    return Mirror(dir=mdir, manifest=manifest, sums=sums, data=tmp_path / "data")


def output(res: subprocess.CompletedProcess) -> str:
    return f"exit {res.returncode}\n--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) of every file and folder under root."""
    return {
        str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def assert_complete(m: Mirror) -> None:
    for n in IMAGES:
        assert (m.data / "kvasir-seg" / "images" / n).read_bytes() == IMAGES[n]
        assert (m.data / "kvasir-seg" / "masks" / n).read_bytes() == MASKS[n]
    for n, d in CSVS.items():
        assert (m.data / "gazemedseg" / n).read_bytes() == d
    leftovers = [p.name for p in m.data.rglob("*") if p.name.endswith(".part") or p.name.startswith(".kvasir-seg.")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    assert not (m.data / "kvasir-seg.zip").exists(), "the archive should be removed after a verified extraction"


# --------------------------------------------------------------------------------------------- #


def test_script_is_executable_bash_with_strict_mode():
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert os.access(SCRIPT, os.X_OK), "data_download.sh should be executable"
    res = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_shipped_manifests_are_well_formed():
    rows = (MANIFESTS / "kvasir_seg_sha256.csv").read_text().splitlines()
    assert rows[0] == "file,image_sha256,mask_sha256"
    assert len(rows) == 1001, f"expected 1000 Kvasir-SEG rows, got {len(rows) - 1}"
    for row in rows[1:]:
        name, a, b = row.split(",")
        assert name.endswith(".jpg") and len(a) == len(b) == 64 and int(a, 16) >= 0 and int(b, 16) >= 0, row
    sums = dict(line.split()[::-1] for line in (MANIFESTS / "gazemedseg_sha256.txt").read_text().splitlines())
    assert set(sums) == {"kvasir_fixation.csv", "nci-isbi_fixation.csv"}
    assert all(len(s) == 64 for s in sums.values())


def test_help():
    res = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, output(res)
    for word in ("--data-dir", "--only", "--dry-run", "FGI_MIRROR", "FGI_KVASIR_MANIFEST", "FGI_GAZEMEDSEG_SUMS"):
        assert word in res.stdout, word


def test_fresh_download(mirror: Mirror):
    res = mirror.run()
    assert res.returncode == 0, output(res)
    assert_complete(mirror)
    # extra files of the archive are kept next to images/ and masks/
    assert (mirror.data / "kvasir-seg" / "kavsir_bboxes.json").exists()
    # licence terms and citations come before the fetch
    assert "research and educational" in res.stdout and "Jha" in res.stdout
    assert "no licence file" in res.stdout and "Zhong" in res.stdout
    assert res.stdout.index("Jha") < res.stdout.index("copying")
    assert "splits" in res.stdout  # says the split files are not made
    # isic / nci-isbi are listed as skipped, and that is not an error
    assert "not yet automated" in res.stdout and "Skipped" in res.stdout


def test_second_run_is_already_verified_and_copies_nothing(mirror: Mirror):
    assert mirror.run().returncode == 0
    before = snapshot(mirror.data)
    shutil.rmtree(mirror.dir)  # any attempt to copy again would now fail
    mirror.dir.mkdir()
    res = mirror.run("--only", "kvasir", "--only", "gazemedseg")
    assert res.returncode == 0, output(res)
    assert res.stdout.count("already verified") == 3, res.stdout  # kvasir-seg + 2 CSVs
    assert "copying" not in res.stdout and "downloading" not in res.stdout
    assert snapshot(mirror.data) == before


def test_changed_local_csv_is_fetched_again(mirror: Mirror):
    assert mirror.run("--only", "gazemedseg").returncode == 0
    dest = mirror.data / "gazemedseg" / "kvasir_fixation.csv"
    dest.write_bytes(b"edited by hand\n")
    res = mirror.run("--only", "gazemedseg")
    assert res.returncode == 0, output(res)
    assert "fetching it again" in res.stderr
    assert dest.read_bytes() == CSVS["kvasir_fixation.csv"]


def test_corrupted_csv_in_mirror_fails_and_leaves_nothing(mirror: Mirror):
    bad = bytearray(CSVS["kvasir_fixation.csv"])
    bad[10] ^= 0xFF
    (mirror.dir / "kvasir_fixation.csv").write_bytes(bytes(bad))
    res = mirror.run("--only", "gazemedseg")
    assert res.returncode != 0, output(res)
    assert "kvasir_fixation.csv" in res.stderr and "sha256" in res.stderr, output(res)
    assert sha(CSVS["kvasir_fixation.csv"]) in res.stderr and sha(bytes(bad)) in res.stderr
    gaze = mirror.data / "gazemedseg"
    assert not (gaze / "kvasir_fixation.csv").exists() and not (gaze / "kvasir_fixation.csv.part").exists()


def test_corrupted_image_in_archive_fails(mirror: Mirror):
    images = dict(IMAGES, **{"a.jpg": b"\xff\xd8changed\xff\xd9"})
    (mirror.dir / "kvasir-seg.zip").write_bytes(make_zip(images, MASKS))
    res = mirror.run("--only", "kvasir")
    assert res.returncode != 0, output(res)
    assert "images/a.jpg" in res.stderr and "sha256" in res.stderr, output(res)
    assert sha(IMAGES["a.jpg"]) in res.stderr and sha(images["a.jpg"]) in res.stderr
    assert not (mirror.data / "kvasir-seg" / "images").exists()
    assert not (mirror.data / "kvasir-seg.zip").exists()
    assert not [p for p in mirror.data.iterdir() if p.name.startswith(".kvasir-seg.")]


def test_archive_missing_a_listed_file_fails(mirror: Mirror):
    (mirror.dir / "kvasir-seg.zip").write_bytes(make_zip({"a.jpg": IMAGES["a.jpg"]}, MASKS))
    res = mirror.run("--only", "kvasir")
    assert res.returncode != 0, output(res)
    assert "missing" in res.stderr and "images/b.jpg" in res.stderr, output(res)


def test_damaged_archive_is_reported(mirror: Mirror):
    zip_path = mirror.dir / "kvasir-seg.zip"
    data = bytearray(zip_path.read_bytes())
    for i in range(40, 60):
        data[i] ^= 0x5A
    zip_path.write_bytes(bytes(data))
    res = mirror.run("--only", "kvasir")
    assert res.returncode != 0, output(res)
    assert "damaged or not a zip" in res.stderr, output(res)
    assert not (mirror.data / "kvasir-seg.zip.part").exists()


def test_html_page_instead_of_csv(mirror: Mirror):
    (mirror.dir / "nci-isbi_fixation.csv").write_text(
        "\n  <!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>login</body></html>\n"
    )
    res = mirror.run("--only", "gazemedseg")
    assert res.returncode != 0, output(res)
    assert "the host returned an HTML page instead of the file" in res.stderr, output(res)
    assert "nci-isbi_fixation.csv" in res.stderr
    assert not (mirror.data / "gazemedseg" / "nci-isbi_fixation.csv").exists()
    assert not (mirror.data / "gazemedseg" / "nci-isbi_fixation.csv.part").exists()


def test_only_gazemedseg(mirror: Mirror):
    res = mirror.run("--only", "gazemedseg")
    assert res.returncode == 0, output(res)
    assert sorted(p.name for p in mirror.data.iterdir()) == ["gazemedseg"]
    assert sorted(p.name for p in (mirror.data / "gazemedseg").iterdir()) == sorted(CSVS)
    assert "kvasir-seg.zip" not in res.stdout and "ISIC" not in res.stdout


def test_dry_run_writes_nothing(mirror: Mirror, tmp_path: Path):
    before = snapshot(tmp_path)
    res = mirror.run("--dry-run")
    assert res.returncode == 0, output(res)
    assert not mirror.data.exists(), "--dry-run created the data folder"
    assert snapshot(tmp_path) == before
    for name in ("kvasir-seg.zip", "kvasir_fixation.csv", "nci-isbi_fixation.csv"):
        assert str(mirror.dir / name) in res.stdout, name
    assert "would fetch" in res.stdout and "nothing was written" in res.stdout


@pytest.mark.parametrize(
    "name, words",
    [
        ("isic", ["not yet automated", "coming in a later release", "challenge.isic-archive.com", "Task1"]),
        ("nci-isbi", ["not yet automated", "coming in a later release", "NBIA Data Retriever", "TCIA"]),
    ],
)
def test_manual_datasets_print_steps_and_exit_0(mirror: Mirror, name: str, words: list[str]):
    res = mirror.run("--only", name)
    assert res.returncode == 0, output(res)
    for word in words:
        assert word in res.stdout, word
    assert "Skipped" in res.stdout and name in res.stdout.splitlines()[-1]
    assert not mirror.data.exists()


def test_unknown_only_name(mirror: Mirror):
    res = mirror.run("--only", "foo")
    assert res.returncode != 0, output(res)
    assert "foo" in res.stderr and "kvasir, gazemedseg, isic, nci-isbi" in res.stderr, output(res)
    assert not mirror.data.exists()


def test_unknown_option(mirror: Mirror):
    res = mirror.run("--fast")
    assert res.returncode == 2 and "--fast" in res.stderr, output(res)


def test_missing_file_in_mirror_folder(mirror: Mirror):
    (mirror.dir / "kvasir-seg.zip").unlink()
    res = mirror.run("--only", "kvasir")
    assert res.returncode != 0, output(res)
    assert "not found in the mirror folder" in res.stderr and "kvasir-seg.zip" in res.stderr


def test_folder_mirror_replaces_a_stale_part_file(mirror: Mirror):
    part = mirror.data / "gazemedseg" / "kvasir_fixation.csv.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage from an interrupted run")
    res = mirror.run("--only", "gazemedseg")
    assert res.returncode == 0, output(res)
    assert not part.exists()
    assert (mirror.data / "gazemedseg" / "kvasir_fixation.csv").read_bytes() == CSVS["kvasir_fixation.csv"]


@needs_curl
def test_file_url_mirror_and_resume(mirror: Mirror):
    env = mirror.env(FGI_MIRROR=mirror.dir.resolve().as_uri())
    full = CSVS["kvasir_fixation.csv"]
    part = mirror.data / "gazemedseg" / "kvasir_fixation.csv.part"
    part.parent.mkdir(parents=True)

    # A .part whose first half is wrong: curl appends the rest, so the result must fail the
    # sha256 check (proves the partial file is really resumed, not thrown away) and be deleted.
    part.write_bytes(b"x" * (len(full) // 2))
    res = mirror.run("--only", "gazemedseg", env=env)
    assert res.returncode != 0 and "resuming" in res.stdout and "sha256 mismatch" in res.stderr, output(res)
    assert not part.exists()

    # A correct truncated .part is completed on the next run.
    part.write_bytes(full[: len(full) // 2])
    res = mirror.run("--only", "gazemedseg", env=env)
    assert res.returncode == 0, output(res)
    assert "resuming" in res.stdout and "downloading file://" in res.stdout
    assert (mirror.data / "gazemedseg" / "kvasir_fixation.csv").read_bytes() == full
    assert (mirror.data / "gazemedseg" / "nci-isbi_fixation.csv").read_bytes() == CSVS["nci-isbi_fixation.csv"]
    assert not part.exists()


@needs_curl
def test_file_url_mirror_kvasir(mirror: Mirror):
    res = mirror.run("--only", "kvasir", env=mirror.env(FGI_MIRROR=mirror.dir.resolve().as_uri()))
    assert res.returncode == 0, output(res)
    assert (mirror.data / "kvasir-seg" / "masks" / "b.jpg").read_bytes() == MASKS["b.jpg"]


@needs_curl
def test_unreachable_host_names_the_url(mirror: Mirror):
    with socket.socket() as s:  # a local port with nothing listening: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url_base = f"http://127.0.0.1:{port}"
    res = mirror.run("--only", "gazemedseg", env=mirror.env(FGI_MIRROR=url_base))
    assert res.returncode != 0, output(res)
    assert f"{url_base}/kvasir_fixation.csv" in res.stderr and "cannot reach" in res.stderr, output(res)
    assert not (mirror.data / "gazemedseg" / "kvasir_fixation.csv").exists()


def test_missing_tool_is_named(mirror: Mirror, tmp_path: Path):
    """With unzip absent from PATH the script stops before fetching and says which tool is missing."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tools = ["bash", "awk", "sha256sum", "mktemp", "head", "tr", "wc", "cp", "mv", "rm", "mkdir",
             "find", "sort", "grep", "cat", "dirname", "curl"]
    for tool in tools:
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    res = subprocess.run(
        [str(bindir / "bash"), str(SCRIPT), "--data-dir", str(mirror.data), "--only", "kvasir"],
        capture_output=True, text=True, timeout=60, env=mirror.env(PATH=str(bindir)),
    )
    assert res.returncode != 0, output(res)
    assert "missing required tools" in res.stderr and "unzip" in res.stderr, output(res)
    assert not mirror.data.exists()
