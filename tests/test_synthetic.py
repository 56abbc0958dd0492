"""The synthetic generator and dataset: determinism, shapes, exact masks, knobs, registry, gaze."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from fgi_core.data import SyntheticDataset, create_dataset, generate_sample
from fgi_core.data.synthetic import FLAVOURS

SIZE = (160, 192)  # the quick profile's size
EIGHT = np.ones((3, 3), bool)  # 8-connectivity
GAZEMEDSEG_COLUMNS = [
    "IMAGE",
    "CURRENT_FIX_INDEX",
    "CURRENT_FIX_X",
    "CURRENT_FIX_Y",
    "CURRENT_FIX_DURATION",
    "CURRENT_FIX_PUPIL",
    "CURRENT_FIX_START",
    "IMAGE_HEIGHT",
    "IMAGE_WIDTH",
]


def edge_contrast(image: np.ndarray, mask: np.ndarray, width: int = 3) -> float:
    """Mean colour distance between each pixel in a band just outside the mask and the nearest
    pixel in a band just inside it.

    Local on purpose: a global inside-vs-ring mean is thrown off by the endoscopy vignette and
    lumen (smooth illumination that is not the lesion) and by the polyp's shading (its lit and
    shaded halves average out to the mucosa's brightness)."""
    x = image.astype(np.float64).reshape(mask.shape + (-1,))
    d_in = ndimage.distance_transform_edt(mask)
    d_out = ndimage.distance_transform_edt(~mask)
    inner = (d_in > 1) & (d_in <= 1 + width)
    outer = (d_out > 1) & (d_out <= 1 + width)
    _, (iy, ix) = ndimage.distance_transform_edt(~inner, return_indices=True)
    oy, ox = np.nonzero(outer)
    return float(np.linalg.norm(x[oy, ox] - x[iy[oy, ox], ix[oy, ox]], axis=1).mean())


def boundary_gradient(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean grey-level gradient magnitude on the mask's inner boundary pixels."""
    g = image.astype(np.float64)
    g = g.mean(axis=2) if g.ndim == 3 else g
    gy, gx = np.gradient(g)
    boundary = mask & ~ndimage.binary_erosion(mask, EIGHT)
    return float(np.hypot(gx, gy)[boundary].mean())


# ----------------------------------------------------------------------------------------------
# generate_sample
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_shapes_and_dtypes(flavour):
    image, mask = generate_sample(0, flavour=flavour, size=SIZE)
    assert image.dtype == np.uint8 and mask.dtype == bool
    assert mask.shape == SIZE
    assert image.shape == (SIZE if flavour == "mri" else SIZE + (3,))
    assert 0 < mask.sum() < mask.size
    assert image.std() > 10  # a real picture, not a flat fill


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_deterministic(flavour):
    a_img, a_mask = generate_sample(5, seed=3, flavour=flavour, size=SIZE)
    b_img, b_mask = generate_sample(5, seed=3, flavour=flavour, size=SIZE)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_mask, b_mask)
    c_img, c_mask = generate_sample(5, seed=4, flavour=flavour, size=SIZE)
    assert not np.array_equal(a_img, c_img) and not np.array_equal(a_mask, c_mask)
    d_img, d_mask = generate_sample(6, seed=3, flavour=flavour, size=SIZE)
    assert not np.array_equal(a_img, d_img) and not np.array_equal(a_mask, d_mask)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_mask_is_one_component_of_the_asked_size(flavour):
    lo, hi = 0.05, 0.25
    for i in range(12):
        image, mask = generate_sample(i, flavour=flavour, size=SIZE, lesion_size=(lo, hi))
        _, n = ndimage.label(mask, structure=EIGHT)
        assert n == 1, f"image {i}: {n} components"
        # the blob never touches the image border
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        # The mask samples a smooth blob of the drawn area at pixel centres: the count is off by
        # pixels along the boundary that are cut either way, a small fraction of the area at this
        # size (measured < 0.5 %); 3 % relative slack covers that with room.
        frac = mask.mean()
        assert lo * 0.97 <= frac <= hi * 1.03, f"image {i}: area fraction {frac:.4f}"


def test_fixed_lesion_size_is_hit_closely():
    for flavour in FLAVOURS:
        fracs = [generate_sample(i, flavour=flavour, size=SIZE, lesion_size=(0.1, 0.1))[1].mean() for i in range(4)]
        assert np.allclose(fracs, 0.1, rtol=0.03), fracs


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_contrast_knob(flavour):
    for i in range(3):
        visible, mask = generate_sample(i, flavour=flavour, size=SIZE, contrast=1.0, boundary_blur=0.0)
        hidden, mask0 = generate_sample(i, flavour=flavour, size=SIZE, contrast=0.0, boundary_blur=0.0)
        assert np.array_equal(mask, mask0), "contrast must not change the mask"
        c1, c0 = edge_contrast(visible, mask), edge_contrast(hidden, mask)
        # contrast 0: only background texture/noise across the boundary (measured <= 33 for
        # dermoscopy with hair, <= 18 otherwise); contrast 1: a clear step (measured >= 34)
        assert c0 < 0.6 * c1, f"image {i}: edge contrast {c0:.1f} at contrast=0 vs {c1:.1f} at contrast=1"
        assert c1 > 25
    # at contrast 0 the lesion leaves no trace at all: its blur and distractors change nothing
    a = generate_sample(0, flavour=flavour, size=SIZE, contrast=0.0, boundary_blur=0.0, distractors=0)[0]
    b = generate_sample(0, flavour=flavour, size=SIZE, contrast=0.0, boundary_blur=4.0, distractors=3)[0]
    assert np.array_equal(a, b)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_distractors_stay_out_of_the_mask(flavour):
    # lesions up to 15 % leave room for distractors (an mri lesion of 25 % can fill the body,
    # and a distractor that finds no room is left out)
    small = (0.05, 0.15)
    for i in range(3):
        plain, mask = generate_sample(i, flavour=flavour, size=SIZE, lesion_size=small, distractors=0)
        busy, mask3 = generate_sample(i, flavour=flavour, size=SIZE, lesion_size=small, distractors=3)
        assert np.array_equal(mask, mask3), "distractors must not change the mask"
        changed = np.abs(plain.astype(int) - busy.astype(int))
        changed = changed.max(axis=2) if changed.ndim == 3 else changed
        assert changed.any(), "distractors=3 changed nothing"
        assert not (changed > 0)[mask].any(), "a distractor touches the lesion"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_boundary_blur_softens_the_edge(flavour):
    for i in range(3):
        sharp, mask = generate_sample(i, flavour=flavour, size=SIZE, boundary_blur=0.0)
        soft, mask4 = generate_sample(i, flavour=flavour, size=SIZE, boundary_blur=4.0)
        assert np.array_equal(mask, mask4)
        assert boundary_gradient(sharp, mask) > 1.2 * boundary_gradient(soft, mask)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"flavour": "ct"}, "synthetic flavour"),
        ({"size": (16, 64)}, "size"),
        ({"size": (64, 0)}, "size"),
        ({"size": 64}, "size"),
        ({"contrast": -0.1}, "contrast"),
        ({"contrast": float("nan")}, "contrast"),
        ({"boundary_blur": -1}, "boundary_blur"),
        ({"lesion_size": (0.0, 0.2)}, "lesion_size"),
        ({"lesion_size": (0.3, 0.2)}, "lesion_size"),
        ({"lesion_size": (0.1, 0.8)}, "lesion_size"),
        ({"lesion_size": 0.2}, "lesion_size"),
        ({"distractors": -1}, "distractors"),
        ({"distractors": 1.5}, "distractors"),
        ({"index": -1}, "index"),
        ({"seed": -2}, "seed"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    args = {"index": 0, **kwargs}
    with pytest.raises(ValueError, match=name):
        generate_sample(**args)


def test_unknown_flavour_suggests_the_close_one():
    with pytest.raises(ValueError, match="Did you mean 'mri'"):
        generate_sample(0, flavour="mr")


# ----------------------------------------------------------------------------------------------
# SyntheticDataset
# ----------------------------------------------------------------------------------------------
def test_registry_builds_the_dataset():
    ds = create_dataset("synthetic", n_images=5)
    assert isinstance(ds, SyntheticDataset)
    assert ds.name == "synthetic" and len(ds) == 5
    assert ds.ids == sorted(ds.ids) == [f"syn-endoscopy-{i:04d}" for i in range(5)]
    assert ds.simulated_gaze and ds.preset.name == "synthetic-endoscopy"
    image = ds.image(ds.ids[2])
    assert image.shape == SIZE + (3,) and image.dtype == np.uint8
    assert np.array_equal(image, generate_sample(2, seed=0, flavour="endoscopy", size=SIZE)[0])


def test_registry_misspelling_suggests_synthetic():
    with pytest.raises(ValueError, match="Did you mean 'synthetic'"):
        create_dataset("synthtic")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 24])
def test_splits_are_disjoint_and_cover_all(n):
    ds = SyntheticDataset(n_images=n, size=(48, 64), seed=1)
    train, val, test = ds.split("train"), ds.split("val"), ds.split("test")
    assert not (set(train) & set(val)) and not (set(train) & set(test)) and not (set(val) & set(test))
    assert sorted(train + val + test) == ds.ids == ds.split("all")
    assert train and all(s == sorted(s) for s in (train, val, test))
    if n >= 3:
        assert val and test
    again = SyntheticDataset(n_images=n, size=(48, 64), seed=1)
    assert again.splits == ds.splits


def test_dataset_flavour_mri_and_cache():
    ds = SyntheticDataset(n_images=3, size=(64, 80), flavour="mri", seed=2)
    assert ds.preset.name == "synthetic-mri" and ds.preset.channels == 1 and ds.modality == "mri"
    first = ds.image("syn-mri-0001")
    assert first.shape == (64, 80) and first.dtype == np.uint8
    first[:] = 0  # a caller's edit must not reach the cache
    assert ds.image("syn-mri-0001").any()
    assert ds.image_rgb("syn-mri-0001").shape == (64, 80, 3)
    mask = ds.mask("syn-mri-0001")
    assert mask.dtype == bool and np.array_equal(mask, generate_sample(1, seed=2, flavour="mri", size=(64, 80))[1])


def test_unknown_id_raises_key_error():
    ds = SyntheticDataset(n_images=3, size=(48, 64))
    with pytest.raises(KeyError, match="syn-endoscopy-0009"):
        ds.image("syn-endoscopy-0009")
    with pytest.raises(KeyError, match="nope"):
        ds.mask("nope")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_images": 0}, "n_images"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "val_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"contrast": -1}, "contrast"),
        ({"flavour": "xray"}, "synthetic flavour"),
    ],
)
def test_dataset_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SyntheticDataset(**kwargs)


def test_gaze_csv_needs_a_work_dir():
    with pytest.raises(ValueError, match="work_dir"):
        SyntheticDataset(n_images=3, size=(48, 64)).gaze_csv()


def test_gaze_csv_covers_every_image(tmp_path):
    ds = SyntheticDataset(n_images=4, size=(64, 80), seed=5)
    path = ds.gaze_csv(tmp_path / "gaze")
    assert path == tmp_path / "gaze" / "fixations_simulated.csv" and path.is_file()
    frame = pd.read_csv(path)
    assert list(frame.columns) == GAZEMEDSEG_COLUMNS
    assert sorted(frame["IMAGE"].unique()) == [f"{i}.png" for i in ds.ids]
    assert (frame["IMAGE_HEIGHT"] == 64).all() and (frame["IMAGE_WIDTH"] == 80).all()
    assert frame["CURRENT_FIX_X"].between(0, 1).all() and frame["CURRENT_FIX_Y"].between(0, 1).all()
    assert (frame["CURRENT_FIX_DURATION"] > 0).all()
    # most fixations land on the lesion they were simulated from
    hits = []
    for image_id in ds.ids:
        rows = frame[frame["IMAGE"] == f"{image_id}.png"]
        mask = ds.mask(image_id)
        x = np.clip((rows["CURRENT_FIX_X"].to_numpy() * 80).astype(int), 0, 79)
        y = np.clip((rows["CURRENT_FIX_Y"].to_numpy() * 64).astype(int), 0, 63)
        hits.append(mask[y, x].mean())
    assert np.mean(hits) > 0.5
    # deterministic: a second write is byte-identical
    assert ds.gaze_csv(tmp_path / "again").read_bytes() == path.read_bytes()
