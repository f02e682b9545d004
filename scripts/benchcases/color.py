"""Label means and palettes: recolor_by_label and palette_indices, 5000 x 5000 x 3, Zarr to Zarr.

Every measurement runs in its own process and is timed after its imports: the
in-memory peers after loading their input too, tiledproc from opening the
stores to the last chunk written (numba's first call in the process included).

recolor_by_label: a float32 scene with 10^4 superpixel labels, beside in-memory
np.bincount and dask-image's ndmeasure.mean (timed where it finishes, then
extrapolated). palette_indices: exact nearest colour, beside
scipy.spatial.cKDTree(palette).query in memory, on a float32 scene and on a
uint8 photograph (astronaut, enlarged) at 16 and 256 colours.
"""

from __future__ import annotations

import time

import numpy as np

from .common import ensure_scene, outputs, table, write

SHAPE = (3, 5000, 5000)
CELL = 50  # superpixel size: about 10^4 labels on 5000 x 5000
CHUNKS = (1, 1024, 1024)
COLOURS = (16, 256)


# ----------------------------------------------------------------- data


def ensure_labels(data, name="labels5k", shape=(1, 5000, 5000), cell=CELL):
    from tiledproc.jobs.write import write_outputs
    from tiledproc.io.output import OutputSpec
    from tiledproc.synth import synth_labels

    path = data / f"{name}.zarr"
    if not (path / "zarr.json").exists():
        print(f"making {path} {shape} cell {cell} ...", flush=True)
        write_outputs([OutputSpec(path, synth_labels(shape, cell=cell, chunks=CHUNKS), chunks=CHUNKS,
                                  provenance={"operation": "synth"})], overwrite=True, progress="off")
    return path


def ensure_photo(data, name="photo5k"):
    """skimage's astronaut enlarged to 5000 x 5000 (bilinear), uint8, (3, y, x)."""
    from tiledproc import save_raster

    path = data / f"{name}.zarr"
    if not (path / "zarr.json").exists():
        from skimage import data as skdata
        from skimage.transform import resize

        print(f"making {path} ...", flush=True)
        big = resize(skdata.astronaut(), SHAPE[1:], order=1, preserve_range=True)
        big = np.ascontiguousarray(np.moveaxis(np.round(big).astype(np.uint8), -1, 0))
        save_raster(big, path, chunks=CHUNKS, overwrite=True)
    return path


def ensure_palettes(data, image):
    """Median-cut palettes of an image (the realistic case), saved next to it."""
    import tiledproc as tp
    from tiledproc.ops.palette import median_cut_palette

    for n in COLOURS:
        p = data / f"{image}-palette{n}.npy"
        if not p.exists():
            print(f"median cut of {image} to {n} colours ...", flush=True)
            np.save(p, median_cut_palette(tp.open_raster(data / f"{image}.zarr"), n, channel_axis=0))


def _load(path):
    import tiledproc as tp

    return tp.open_raster(path).compute(scheduler="threads")


# ----------------------------------------------------------------- recolor


def recolor_tiledproc(data):
    """Zarr to Zarr, timed from after the imports (as the in-memory peers are timed after
    theirs and after loading): open, build the graph, compute (numba's first call in the
    process included), write."""
    import tiledproc as tp
    from tiledproc.ops.labels import recolor_by_label

    t = time.perf_counter()
    image = tp.open_raster(data / "rgb5k.zarr")
    labels = tp.open_raster(data / "labels5k.zarr")[0]
    write([recolor_by_label(image, labels, channel_axis=0)], outputs(data, "recolored"))
    return {"seconds": time.perf_counter() - t}


def recolor_tiledproc_memory(data):
    from tiledproc.ops.labels import recolor_by_label

    image, labels = _load(data / "rgb5k.zarr"), _load(data / "labels5k.zarr")[0]
    t = time.perf_counter()
    recolor_by_label(image, labels, channel_axis=0)
    return {"seconds": time.perf_counter() - t}


def recolor_bincount_memory(data):
    """np.bincount in memory (load time excluded): counts, sums per band, gather."""
    image, labels = _load(data / "rgb5k.zarr"), _load(data / "labels5k.zarr")[0]
    t = time.perf_counter()
    lab = labels.ravel()
    counts = np.bincount(lab)
    out = np.empty(image.shape, dtype=np.float32)
    for c in range(image.shape[0]):
        means = np.bincount(lab, weights=image[c].ravel(), minlength=counts.size) / np.maximum(counts, 1)
        out[c] = means.astype(np.float32)[labels]
    return {"seconds": time.perf_counter() - t}


def recolor_accuracy(data):
    """Max relative difference of the stored result from the float64 bincount reference."""
    import tiledproc as tp

    image, labels = _load(data / "rgb5k.zarr"), _load(data / "labels5k.zarr")[0]
    lab = labels.ravel()
    counts = np.bincount(lab)
    got = tp.open_raster(data / "out" / "recolored.zarr")
    err = 0.0
    for c in range(image.shape[0]):
        ref = (np.bincount(lab, weights=image[c].ravel().astype(np.float64)) / np.maximum(counts, 1))[labels]
        err = max(err, float(np.max(np.abs(got[c].compute() - ref) / np.abs(ref))))
    return {"max_rel_err": f"{err:.1e}", "note": f"{np.count_nonzero(counts)} labels"}


def recolor_dask_image(data, side=1000, cell=32):
    """dask-image: ndmeasure.mean(band, labels, index=1..M) per band, then the gather.

    On a side x side crop of the scene with its own superpixels relabelled 1..M.
    """
    import dask.array as da
    import dask_image.ndmeasure as ndm

    from tiledproc.synth import synth_labels

    image = _load(data / "rgb5k.zarr")[:, :side, :side]
    labels = synth_labels((1, side, side), cell=cell, chunks=(1, 1024, 1024)).compute()[0]
    values, inv = np.unique(labels, return_inverse=True)
    labels = (inv.reshape(labels.shape) + 1).astype(np.int32)
    m = values.size
    lab = da.from_array(labels, chunks=1024)
    t = time.perf_counter()
    out = []
    for c in range(image.shape[0]):
        means = ndm.mean(da.from_array(image[c], chunks=1024), lab, index=np.arange(1, m + 1)).compute()
        out.append(np.concatenate([[0.0], means]).astype(np.float32)[labels])
    return {"seconds": time.perf_counter() - t, "note": f"{side}x{side}x3, {m} labels"}


# ----------------------------------------------------------------- palettes


def palette_tiledproc(data, image="rgb5k", n=256):
    """Zarr to Zarr, timed from after the imports (see recolor_tiledproc)."""
    import tiledproc as tp
    from tiledproc.ops.palette import palette_indices

    palette = np.load(data / f"{image}-palette{n}.npy")
    t = time.perf_counter()
    write([palette_indices(tp.open_raster(data / f"{image}.zarr"), palette, channel_axis=0)],
          outputs(data, f"{image}-indices{n}"))
    return {"seconds": time.perf_counter() - t}


def palette_tiledproc_memory(data, image="rgb5k", n=256):
    from tiledproc.ops.palette import palette_indices

    palette = np.load(data / f"{image}-palette{n}.npy")
    x = _load(data / f"{image}.zarr")
    t = time.perf_counter()
    palette_indices(x, palette, channel_axis=0)
    return {"seconds": time.perf_counter() - t}


def palette_ckdtree(data, image="rgb5k", n=256, workers=1):
    """scipy's cKDTree(palette).query on every pixel, in memory (load and reshape excluded)."""
    from scipy.spatial import cKDTree

    palette = np.load(data / f"{image}-palette{n}.npy")
    x = _load(data / f"{image}.zarr").reshape(3, -1).T
    t = time.perf_counter()
    cKDTree(palette).query(x, workers=workers)
    return {"seconds": time.perf_counter() - t}


def palette_check(data, image="rgb5k", n=256, sample=300_000):
    """Stored indices against the float64 argmin on a random sample of pixels."""
    import tiledproc as tp

    palette = np.load(data / f"{image}-palette{n}.npy")
    x = _load(data / f"{image}.zarr").reshape(3, -1).T
    got = tp.open_raster(data / "out" / f"{image}-indices{n}.zarr").compute().reshape(-1)
    pick = np.random.default_rng(0).choice(x.shape[0], sample, replace=False)
    ref = np.concatenate([np.argmin(((x[s, None, :].astype(np.float64) - palette) ** 2).sum(-1), axis=-1)
                          for s in np.array_split(pick, 60)])
    return {"note": f"{int((got[pick] != ref).sum())} of {sample} sampled pixels differ from the float64 argmin"}


def median_cut(data, image="rgb5k", n=256, refine=0):
    import tiledproc as tp
    from tiledproc.ops.palette import median_cut_palette

    t = time.perf_counter()
    median_cut_palette(tp.open_raster(data / f"{image}.zarr"), n, channel_axis=0, refine=refine)
    return {"seconds": time.perf_counter() - t}


MEASUREMENTS = {
    "recolor_tiledproc": recolor_tiledproc,
    "recolor_tiledproc_memory": recolor_tiledproc_memory,
    "recolor_bincount_memory": recolor_bincount_memory,
    "recolor_accuracy": recolor_accuracy,
    "recolor_dask_image": recolor_dask_image,
    "palette_tiledproc": palette_tiledproc,
    "palette_tiledproc_memory": palette_tiledproc_memory,
    "palette_ckdtree": palette_ckdtree,
    "palette_check": palette_check,
    "median_cut": median_cut,
}


def case(data, measure):
    """recolor_by_label and palette_indices beside np.bincount, dask-image and cKDTree."""
    ensure_scene(data, "rgb5k", SHAPE, chunks=CHUNKS)
    ensure_labels(data)
    ensure_photo(data)
    ensure_palettes(data, "rgb5k")
    ensure_palettes(data, "photo5k")
    records = []

    # ---- recolor_by_label
    rows = [measure("color", "recolor_tiledproc", {})]
    acc = measure("color", "recolor_accuracy", {})  # reads what recolor_tiledproc wrote
    rows += [measure("color", n, {}) for n in ("recolor_tiledproc_memory", "recolor_bincount_memory")]
    acc["seconds"] = acc.get("seconds", 0.0)
    di = [measure("color", "recolor_dask_image", args) for args in
          ({"side": 1000, "cell": 64}, {"side": 1000, "cell": 32}, {"side": 2000, "cell": 118})]
    for r in di:
        r["name"] = "dask_image " + r.get("note", "?")
    table("recolor_by_label 3 x 5000 x 5000 float32, 10^4 labels (tiledproc: Zarr -> Zarr)",
          rows + [acc] + di, [
              ("tiledproc Zarr->Zarr / bincount in memory", "recolor_tiledproc", "recolor_bincount_memory"),
              ("tiledproc in memory / bincount in memory", "recolor_tiledproc_memory", "recolor_bincount_memory"),
          ])
    ok = [r for r in di if "seconds" in r]
    tp_row = rows[0]
    if len(ok) == 3 and "seconds" in tp_row:
        # ndmeasure.mean with index=1..M compares the whole label image with every label
        # (a dask graph per label), so each label costs a + b * pixels: fit a and b
        per = []
        for r in ok:
            side = int(r["note"].split("x")[0])
            labels = int(r["note"].split(", ")[1].split()[0])
            per.append((side * side, r["seconds"] / labels))
        (n1, c1), (n1b, c1b), (n4, c4) = per
        c1m = (c1 + c1b) / 2
        b = (c4 - c1m) / (n4 - n1)
        a = c1m - b * n1
        full = 1.02e4 * (a + b * 25e6)
        print("  dask-image seconds per label: " + ", ".join(f"{c * 1e3:.1f} ms at {n / 1e6:g} Mpx" for n, c in per)
              + f" -> {a * 1e3:.1f} ms + {b * 1e9:.1f} ms per Gpx per label")
        print(f"  extrapolated to 5000 x 5000 x 3 with 10^4 labels: {full:,.0f} s = "
              f"{full / tp_row['seconds']:,.0f}x tiledproc's {tp_row['seconds']:.2f} s "
              f"(an estimate from the three runs above, not a run)")
    records += rows + [acc] + di

    # ---- palette_indices
    for image, label in (("rgb5k", "float32 scene"), ("photo5k", "uint8 photograph")):
        rows = []
        for n in COLOURS:
            args = {"image": image, "n": n}
            for name in ("palette_tiledproc", "palette_check", "palette_tiledproc_memory", "palette_ckdtree"):
                r = measure("color", name, args)  # the check reads what palette_tiledproc wrote
                r["name"] = f"{name.replace('palette_', '')} n={n}"
                if name == "palette_check":
                    r["name"] = f"exactness n={n}"
                    r["seconds"] = r.get("seconds", 0.0)
                rows.append(r)
            r = measure("color", "palette_ckdtree", {**args, "workers": -1})
            r["name"] = f"ckdtree 2 threads n={n}"
            rows.append(r)
        ratios = []
        for n in COLOURS:
            ratios += [(f"cKDTree / tiledproc Zarr->Zarr, n={n}", f"ckdtree n={n}", f"tiledproc n={n}"),
                       (f"cKDTree / tiledproc in memory, n={n}", f"ckdtree n={n}", f"tiledproc_memory n={n}"),
                       (f"cKDTree 2 threads / tiledproc Zarr->Zarr, n={n}", f"ckdtree 2 threads n={n}",
                        f"tiledproc n={n}")]
        table(f"palette_indices 3 x 5000 x 5000 {label}, exact (cKDTree: in memory, 1 thread)", rows, ratios)
        records += rows

    rows = [measure("color", "median_cut", {"n": 256}), measure("color", "median_cut", {"n": 256, "refine": 2})]
    rows[0]["name"], rows[1]["name"] = "median_cut 256", "median_cut 256 refine=2"
    table("median_cut_palette 3 x 5000 x 5000 float32, Zarr (sample of 2^20 pixels, then Lloyd passes)", rows)
    return records + rows
