"""data_download.sh against a tiny fake mirror in tmp_path (never the real data, never the network).

The mirror holds every file the script fetches, in the hosts' archive layouts:

* ``kvasir-seg.zip`` (``Kvasir-SEG/images/*.jpg`` + ``Kvasir-SEG/masks/*.jpg``, a few bytes each)
  and the two GazeMedSeg CSVs; ``FGI_KVASIR_MANIFEST`` / ``FGI_GAZEMEDSEG_SUMS`` hold their sums;
* the six ISIC 2018 task 1 zips (``ISIC2018_Task1-2_Training_Input/ISIC_*.jpg`` ...), small real
  JPEG / PNG files with synthetic content; ISIC publishes no sums, so the lock file records them;
* the three NCI-ISBI label zips (real NRRD volumes written with pynrrd; their sums in
  ``FGI_NCI_ISBI_SUMS``), the three ``.tcia`` manifests, and one ``<SeriesInstanceUID>.zip`` per
  DICOM series (real DICOM files written with pydicom, named as the NBIA API names them).

The script prepares ISIC and NCI-ISBI with ``FGI_PYTHON`` = this interpreter.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
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
ISIC_FOLDERS = ["ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth",
                "ISIC2018_Task1-2_Validation_Input", "ISIC2018_Task1_Validation_GroundTruth",
                "ISIC2018_Task1-2_Test_Input", "ISIC2018_Task1_Test_GroundTruth"]
NCI_SUBSETS = {"Training": "ISBI-Prostate-Challenge-Training.tcia", "Leaderboard": "ISBI-Prostate-Challenge-LeaderBoard.tcia",
               "Test": "ISBI-Prostate-Challenge-Testing.tcia"}
NCI_CASES = {"Prostate3T-01-0001": "Training", "ProstateDx-01-0002": "Training", "Prostate3T-02-0001": "Leaderboard",
             "ProstateDx-03-0001": "Test"}


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


def zip_folder(folder: Path, top: str | None) -> bytes:
    """The files under ``folder`` as a zip, inside a folder ``top`` (or at the archive's root)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                rel = p.relative_to(folder).as_posix()
                zf.writestr(f"{top}/{rel}" if top else rel, p.read_bytes())
    return buf.getvalue()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """Every mirrored file, built once per module: ``<dir>/mirror`` plus ``<dir>/nci_sums.txt``."""
    from official_layouts import make_isic_root, volume, write_nci_case

    import pydicom

    base = tmp_path_factory.mktemp("release")
    mirror = base / "mirror"
    mirror.mkdir()
    (mirror / "kvasir-seg.zip").write_bytes(make_zip(IMAGES, MASKS))
    for name, data in CSVS.items():
        (mirror / name).write_bytes(data)
    isic = make_isic_root(base / "isic", n_train=6, n_val=2, n_test=2, size=(48, 64))
    for folder in ISIC_FOLDERS:
        (mirror / f"{folder}.zip").write_bytes(zip_folder(isic / folder, folder))
    manifests: dict[str, list[str]] = {s: [] for s in NCI_SUBSETS}
    for i, (case, subset) in enumerate(NCI_CASES.items()):
        stored, labels = volume(6, 1, 4, seed=i)
        paths = write_nci_case(base / "dicom", base / "labels" / subset / subset / f"{case}.nrrd", case, stored, labels,
                               descending=bool(i % 2))
        uid = str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)
        (paths[0].parent / "LICENSE").write_text("TCIA data usage policy\n")
        (mirror / f"{uid}.zip").write_bytes(zip_folder(paths[0].parent, None))
        manifests[subset].append(uid)
    sums = []
    for subset, manifest in NCI_SUBSETS.items():
        data = zip_folder(base / "labels" / subset, None)
        (mirror / f"NCI-ISBI-2013-Prostate-Challenge-{subset}.zip").write_bytes(data)
        sums.append(f"{sha(data)}  NCI-ISBI-2013-Prostate-Challenge-{subset}.zip\n")
        (mirror / manifest).write_text(
            "downloadServerUrl=https://nbia.cancerimagingarchive.net/nbia-download/servlet/DownloadServlet\r\n"
            "includeAnnotation=true\r\nnoOfrRetry=4\r\ndatabasketId=manifest-1.tcia\r\nmanifestVersion=3.0\r\n"
            "ListOfSeriesToDownload=\r\n" + "".join(f"{u}\r\n" for u in manifests[subset])
        )
    (base / "nci_sums.txt").write_text("# test sums\n" + "".join(sums))
    return base


@dataclass
class Mirror:
    dir: Path
    manifest: Path
    sums: Path
    nci_sums: Path
    data: Path  # the data folder the script writes into (not created here)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FGI_")}
        env.update(
            FGI_MIRROR=str(self.dir),
            FGI_KVASIR_MANIFEST=str(self.manifest),
            FGI_GAZEMEDSEG_SUMS=str(self.sums),
            FGI_NCI_ISBI_SUMS=str(self.nci_sums),
            FGI_PYTHON=sys.executable,
        )
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(SCRIPT), "--data-dir", str(self.data), *args],
            capture_output=True, text=True, timeout=300, env=env if env is not None else self.env(),
        )

    @property
    def lock(self) -> Path:
        return self.data / "data_download.lock"


@pytest.fixture
def mirror(tmp_path: Path, release: Path) -> Mirror:
    mdir = tmp_path / "mirror"
    shutil.copytree(release / "mirror", mdir)
    sums_dir = tmp_path / "sums"
    sums_dir.mkdir()
    manifest = sums_dir / "kvasir.csv"
    manifest.write_text(
        "file,image_sha256,mask_sha256\n" + "".join(f"{n},{sha(IMAGES[n])},{sha(MASKS[n])}\n" for n in IMAGES)
    )
    sums = sums_dir / "gazemedseg.sha256"
    sums.write_text("".join(f"{sha(d)}  {n}\n" for n, d in CSVS.items()))
    nci_sums = sums_dir / "nci.sha256"
    shutil.copy(release / "nci_sums.txt", nci_sums)
    return Mirror(dir=mdir, manifest=manifest, sums=sums, nci_sums=nci_sums, data=tmp_path / "data")


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory, release: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """One fresh run of the whole script (every dataset) against the mirror; tests copy its data."""
    tmp = tmp_path_factory.mktemp("downloaded")
    shutil.copytree(release / "mirror", tmp / "mirror")
    m = Mirror(dir=tmp / "mirror", manifest=tmp / "kvasir.csv", sums=tmp / "gaze.sha256", nci_sums=release / "nci_sums.txt",
               data=tmp / "data")
    m.manifest.write_text("file,image_sha256,mask_sha256\n" + "".join(f"{n},{sha(IMAGES[n])},{sha(MASKS[n])}\n" for n in IMAGES))
    m.sums.write_text("".join(f"{sha(d)}  {n}\n" for n, d in CSVS.items()))
    return m.data, m.run()


def copy_downloaded(downloaded, mirror: Mirror) -> None:
    data, res = downloaded
    assert res.returncode == 0, output(res)
    shutil.copytree(data, mirror.data, symlinks=True)


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
    assert_no_leftovers(m.data)
    assert not (m.data / "kvasir-seg.zip").exists(), "the archive should be removed after a verified extraction"


def assert_no_leftovers(data: Path) -> None:
    leftovers = [str(p.relative_to(data)) for p in data.rglob("*")
                 if p.name.endswith((".part", ".zip")) or p.name.startswith((".kvasir-seg.", ".extract.", ".prepare-"))]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def lock_lines(m: Mirror) -> dict[str, str]:
    """path -> sha256 of the lock file's entries."""
    return {line[66:]: line[:64] for line in m.lock.read_text().splitlines() if line and not line.startswith("#")}


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
    nci = dict(line.split()[::-1] for line in (MANIFESTS / "nci_isbi_sha256.txt").read_text().splitlines() if not line.startswith("#"))
    assert nci == {
        "NCI-ISBI-2013-Prostate-Challenge-Training.zip": "c3436559b474c60e78633ea98601241f39cb27e30fb9d48b1d29f2821bfbf047",
        "NCI-ISBI-2013-Prostate-Challenge-Leaderboard.zip": "011945fdd273b2f43f6ba2de8904ad8625800b439dff9d228810b645c65fa0be",
        "NCI-ISBI-2013-Prostate-Challenge-Test.zip": "53c2969c035974de47bcb2d3fa20c1342c99096faf2fc87a0097ed62e89d32e3",
    }


def test_help():
    res = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, output(res)
    for word in ("--data-dir", "--only", "--dry-run", "FGI_MIRROR", "FGI_KVASIR_MANIFEST", "FGI_GAZEMEDSEG_SUMS",
                 "FGI_NCI_ISBI_SUMS", "FGI_PYTHON", "FGI_LOCK_FILE", "data_download.lock"):
        assert word in res.stdout, word


def test_fresh_download_of_everything(downloaded, tmp_path, release):
    data, res = downloaded
    assert res.returncode == 0, output(res)
    m = Mirror(dir=release / "mirror", manifest=tmp_path, sums=tmp_path, nci_sums=tmp_path, data=data)
    assert_complete(m)
    # extra files of the archive are kept next to images/ and masks/
    assert (data / "kvasir-seg" / "kavsir_bboxes.json").exists()
    # licence terms and citations come before each dataset's fetch
    out = res.stdout
    assert "research and educational" in out and "Jha" in out and "no licence file" in out and "Zhong" in out
    assert "CC BY-NC 4.0" in out and "Codella" in out and "Bloch" in out and "Data Usage Policy" in out
    assert out.index("Jha") < out.index("copying") and out.index("Codella") < out.index("ISIC2018_Task1-2_Training_Input.zip")
    assert "splits" in out  # says the Kvasir-SEG split files are not made
    # ISIC: the official layout, every file as in the zips, splits and simulated gaze prepared
    isic = data / "isic2018"
    for folder in ISIC_FOLDERS:
        assert sorted(p.name for p in (isic / folder).iterdir()) == sorted(p.name for p in (release / "isic" / folder).iterdir())
    img = next((release / "isic" / ISIC_FOLDERS[0]).glob("*.jpg"))
    assert (isic / ISIC_FOLDERS[0] / img.name).read_bytes() == img.read_bytes()
    assert (isic / "splits" / "train.txt").is_file() and (isic / "isic_fixation_simulated.csv").is_file()
    from fgi_core.data import ISIC2018, NCIISBI

    ds = ISIC2018(isic)
    assert len(ds.ids) == 10 and len(ds.split("val")) == 1 and ds.gaze_csv() == isic / "isic_fixation_simulated.csv"
    # NCI-ISBI: slices with prostate prepared from the series fetched through the manifests
    nci = NCIISBI(data / "nci-isbi")
    assert len(nci.ids) == 16 and [i for i in nci.ids if i.startswith("ProstateDx-01-0002_")] == [
        f"ProstateDx-01-0002_{k}" for k in (2, 3, 4, 5)]
    assert {i.rsplit("_", 1)[0] for i in nci.split("test")} == {"ProstateDx-03-0001"}
    assert {i.rsplit("_", 1)[0] for i in nci.split("leaderboard")} == {"Prostate3T-02-0001"}
    # sums without a published source were recorded, and the run said so loudly
    m_lock = lock_lines(m)
    for folder in ISIC_FOLDERS:
        assert m_lock[f"isic2018/{folder}.zip"] == sha((release / "mirror" / f"{folder}.zip").read_bytes())
    for manifest in NCI_SUBSETS.values():
        assert m_lock[f"nci-isbi/raw/{manifest}"] == sha((release / "mirror" / manifest).read_bytes())
    series_files = [k for k in m_lock if k.startswith("nci-isbi/raw/dicom/")]
    assert len(series_files) == 4 * 7  # 6 slices + LICENSE per series
    assert out.count("NOTE: no published checksum exists for") == 6 + 3
    assert out.count("NOTE: no published checksums exist for series") == 4
    assert "this run recorded the sha256 of 37 downloaded file(s)" in out
    assert "Done and verified: kvasir gazemedseg isic nci-isbi" in out


def test_second_run_is_already_verified_and_copies_nothing(mirror: Mirror):
    assert mirror.run("--only", "kvasir,gazemedseg").returncode == 0
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
    names = ["kvasir-seg.zip", "kvasir_fixation.csv", "nci-isbi_fixation.csv", *(f"{f}.zip" for f in ISIC_FOLDERS),
             *(f"NCI-ISBI-2013-Prostate-Challenge-{s}.zip" for s in NCI_SUBSETS), *NCI_SUBSETS.values()]
    for name in names:
        assert str(mirror.dir / name) in res.stdout, name
    assert res.stdout.count("no published sha256: the first download's is recorded in") == 6
    assert "would prepare" in res.stdout
    assert "would fetch" in res.stdout and "nothing was written" in res.stdout


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


# --------------------------------------------------------------------------------------------- #
# ISIC and NCI-ISBI
# --------------------------------------------------------------------------------------------- #


def test_second_run_of_everything_downloads_and_prepares_nothing(downloaded, mirror: Mirror):
    copy_downloaded(downloaded, mirror)
    before = snapshot(mirror.data)
    shutil.rmtree(mirror.dir)  # any attempt to fetch again would now fail
    mirror.dir.mkdir()
    res = mirror.run()
    assert res.returncode == 0, output(res)
    assert "copying" not in res.stdout and "downloading" not in res.stdout and "NOTE" not in res.stdout
    # kvasir-seg + 2 CSVs + 6 ISIC folders + 3 label folders + 3 manifests + 4 series
    assert res.stdout.count("already verified") == 3 + 6 + 3 + 3 + 4, res.stdout
    assert res.stdout.count("already prepared") == 2
    assert snapshot(mirror.data) == before


@needs_curl
def test_truncated_isic_zip_is_resumed(mirror: Mirror):
    env = mirror.env(FGI_MIRROR=mirror.dir.resolve().as_uri())
    name = "ISIC2018_Task1_Training_GroundTruth.zip"
    full = (mirror.dir / name).read_bytes()
    part = mirror.data / "isic2018" / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(full[: len(full) // 2])
    res = mirror.run("--only", "isic", env=env)
    assert res.returncode == 0, output(res)
    assert f"resuming the partial download {part} ({len(full) // 2} bytes so far)" in res.stdout
    assert lock_lines(mirror)[f"isic2018/{name}"] == sha(full)  # the resumed file is the whole file
    assert len(list((mirror.data / "isic2018" / "ISIC2018_Task1_Training_GroundTruth").glob("*.png"))) == 6
    assert_no_leftovers(mirror.data)


def test_changed_file_is_caught_by_the_sum_recorded_at_first_download(mirror: Mirror):
    assert mirror.run("--only", "isic").returncode == 0
    name = "ISIC2018_Task1-2_Validation_Input"
    recorded = lock_lines(mirror)[f"isic2018/{name}.zip"]
    shutil.rmtree(mirror.data / "isic2018" / name)
    changed = bytearray((mirror.dir / f"{name}.zip").read_bytes())
    changed[-30] ^= 0x01  # inside the zip's end records: a different file
    (mirror.dir / f"{name}.zip").write_bytes(bytes(changed))
    res = mirror.run("--only", "isic")
    assert res.returncode == 1, output(res)
    assert (f"sha256 mismatch for {name}.zip (from {mirror.dir / (name + '.zip')}): expected {recorded} "
            f"(recorded in {mirror.lock} at the first download), actual {sha(bytes(changed))}") in res.stderr
    assert not (mirror.data / "isic2018" / name).exists()
    assert_no_leftovers(mirror.data)


def test_changed_extracted_file_is_fetched_again(downloaded, mirror: Mirror):
    copy_downloaded(downloaded, mirror)
    image = next((mirror.data / "isic2018" / ISIC_FOLDERS[0]).glob("*.jpg"))
    good = image.read_bytes()
    image.write_bytes(b"edited")
    res = mirror.run("--only", "isic")
    assert res.returncode == 0, output(res)
    assert f"{mirror.data / 'isic2018' / ISIC_FOLDERS[0]} does not match the sums in {mirror.lock}" in res.stderr
    assert image.read_bytes() == good
    assert res.stdout.count("already verified") == 5 and "already prepared" in res.stdout


def test_corrupted_label_archive_is_caught_by_its_published_sum(mirror: Mirror):
    name = "NCI-ISBI-2013-Prostate-Challenge-Test.zip"
    good = (mirror.dir / name).read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    (mirror.dir / name).write_bytes(bytes(bad))
    res = mirror.run("--only", "nci-isbi")
    assert res.returncode == 1, output(res)
    assert f"sha256 mismatch for {name} (from {mirror.dir / name}): expected {sha(good)}, actual {sha(bytes(bad))}" in res.stderr
    assert not list((mirror.data / "nci-isbi" / "raw" / "labels").glob("*Test*"))
    assert_no_leftovers(mirror.data)


def test_html_page_instead_of_a_dicom_series(mirror: Mirror):
    uid = next(p for p in mirror.dir.glob("1.2.*.zip")).name
    (mirror.dir / uid).write_text("<!DOCTYPE html><html><body>Please log in to the NBIA portal</body></html>")
    res = mirror.run("--only", "nci-isbi")
    assert res.returncode == 1, output(res)
    assert f"the host returned an HTML page instead of the file: {mirror.dir / uid}" in res.stderr
    assert not list(mirror.data.rglob(f"{uid[:-4]}*"))


def test_missing_series_prints_the_manual_route(mirror: Mirror):
    uid = sorted(mirror.dir.glob("1.2.*.zip"))[0]
    uid.unlink()
    res = mirror.run("--only", "nci-isbi")
    assert res.returncode == 1, output(res)
    assert f"not found in the mirror folder (FGI_MIRROR): {uid}" in res.stderr
    assert "NBIA Data Retriever" in res.stderr and "--dicom" in res.stderr
    assert f"cannot fetch the DICOM series {uid.name[:-4]} from TCIA's NBIA API" in res.stderr


def test_manifest_listing_no_series_is_an_error(mirror: Mirror):
    (mirror.dir / "ISBI-Prostate-Challenge-Training.tcia").write_text("manifestVersion=3.0\nListOfSeriesToDownload=\n")
    res = mirror.run("--only", "nci-isbi")
    assert res.returncode == 1, output(res)
    assert "ISBI-Prostate-Challenge-Training.tcia lists no series" in res.stderr


def test_only_nci_isbi(mirror: Mirror):
    res = mirror.run("--only", "nci-isbi")
    assert res.returncode == 0, output(res)
    assert sorted(p.name for p in mirror.data.iterdir()) == ["data_download.lock", "nci-isbi"]
    assert sorted(p.name for p in (mirror.data / "nci-isbi").iterdir()) == [
        ".prepared", "images", "masks", "prepare_report.json", "raw", "splits"]
    assert "Codella" not in res.stdout and "Jha" not in res.stdout and "Zhong" not in res.stdout  # no other terms


def test_preparation_needs_the_project_python_and_keeps_the_downloads(mirror: Mirror):
    res = mirror.run("--only", "isic", env=mirror.env(FGI_PYTHON="/bin/false"))
    assert res.returncode == 1, output(res)
    assert "cannot prepare isic2018: '/bin/false' cannot import fgi_core, pydicom and pynrrd" in res.stderr
    assert "python -m fgi_core.data.prepare isic" in res.stderr
    assert not (mirror.data / "isic2018" / "splits").exists()
    shutil.rmtree(mirror.dir)
    mirror.dir.mkdir()
    res = mirror.run("--only", "isic")  # nothing to fetch: only the preparation runs
    assert res.returncode == 0, output(res)
    assert res.stdout.count("already verified") == 6 and "preparing" in res.stdout
    assert (mirror.data / "isic2018" / "splits" / "val.txt").is_file()


def test_series_fetched_again_must_match_its_first_download(downloaded, mirror: Mirror):
    copy_downloaded(downloaded, mirror)
    series = sorted((mirror.data / "nci-isbi" / "raw" / "dicom" / "Training").iterdir())[0]
    uid = series.name
    shutil.rmtree(series)
    # the host now serves other bytes for one slice of this series
    zpath = mirror.dir / f"{uid}.zip"
    with zipfile.ZipFile(zpath) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    first = sorted(n for n in files if n.endswith(".dcm"))[0]
    files[first] = files[first][:-2] + bytes([files[first][-2] ^ 1, files[first][-1]])
    with zipfile.ZipFile(zpath, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    res = mirror.run("--only", "nci-isbi")
    assert res.returncode == 1, output(res)
    assert f"the files of series {uid} differ from the sums recorded in {mirror.lock} at their first download" in res.stderr
    assert f"nci-isbi/raw/dicom/Training/{uid}/{first}: FAILED" in res.stderr
    assert "sha256 check of series" in res.stderr and not series.exists()
