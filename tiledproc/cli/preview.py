"""``tiledproc preview STORE OUT.png``: a quicklook from a pyramid level, percentile-stretched over the
valid pixels, nodata transparent."""

from __future__ import annotations

import os
from pathlib import Path

import click
import numpy as np

from ..errors import InvalidParameterError, StorageError, UnsafeOutputError
from ..io.png import write_png
from ..io.remote import is_url
from ..io.safety import OutputLock, is_tiledproc_output, real_path, refuse_url
from . import cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_png_target(out, store) -> None:
    """A quicklook goes to a new file or replaces a PNG, in an existing directory, outside the store."""
    refuse_url(out, "preview")
    p = Path(out).expanduser()
    if str(out).strip() == "":
        raise UnsafeOutputError("The preview path is empty; give the .png file to write.")
    if p.is_symlink():
        raise UnsafeOutputError(f"{str(out)!r} is a symbolic link; give the real path of the PNG to write.")
    if p.is_dir():
        raise UnsafeOutputError(f"{str(out)!r} is a directory; give the path of the .png file to write.")
    if p.exists():
        try:
            with open(p, "rb") as f:
                head = f.read(8)
        except OSError as e:
            raise StorageError(f"Cannot read {str(out)!r}: {e.strerror}.") from None
        if head != PNG_MAGIC:
            raise UnsafeOutputError(
                f"{str(out)!r} exists and is not a PNG; a preview replaces only a PNG. Choose another path."
            )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise StorageError(f"Cannot write the preview {str(out)!r}: the directory {str(parent)!r} {what}.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StorageError(f"Cannot write the preview {str(out)!r}: {str(parent)!r} is not writable.")
    src = real_path(store)
    dst = real_path(out)
    if dst == src or src in dst.parents:
        raise UnsafeOutputError(f"{str(out)!r} lies inside the store {str(store)!r}; write the preview elsewhere.")


def _bands(ctx, param, value):
    if value is None:
        return None
    try:
        out = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected band numbers such as 4,3,2, got {value!r}") from None
    if len(out) != 3:
        raise click.BadParameter(f"expected three band numbers (red, green, blue), got {value!r}")
    return out


def choose_level(path, size: int) -> tuple[str, tuple[int, ...]]:
    """The coarsest level whose larger side is still at least ``size`` pixels (or level 0)."""
    from ..io.levels import level_array, store_levels  # dask: when a preview is made

    best = None
    for name in store_levels(path):
        shape = level_array(path, name).shape
        if best is None or max(shape[-2:]) >= size:
            best = (name, shape)
    return best


def stretch(band: np.ndarray, low: float, high: float, missing: np.ndarray | None = None) -> np.ndarray:
    """Percentile stretch to 0..255 over the valid pixels (finite and not ``missing``); the others -> 0."""
    ok = np.isfinite(band) if missing is None else np.isfinite(band) & ~missing
    valid = band[ok]
    if valid.size == 0:
        return np.zeros(band.shape, np.uint8)
    lo, hi = np.percentile(valid, [low, high])
    if hi <= lo:
        hi = lo + 1
    out = (band.astype(np.float64) - lo) / (hi - lo) * 255.0
    out = np.where(ok, np.clip(out, 0, 255), 0.0)
    return np.round(out).astype(np.uint8)


def missing_pixels(data: np.ndarray, nodata) -> np.ndarray:
    """(H, W): True where any of the bands is nodata or NaN (a transparent pixel)."""
    bad = np.zeros(data.shape[-2:], dtype=bool)
    if data.dtype.kind == "f":
        bad |= np.isnan(data).any(axis=0)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        bad |= (data == nodata).any(axis=0)
    return bad


def render_preview(store, out, *, band=None, rgb=None, size=1024, percentiles=(2.0, 98.0), nodata="auto"):
    """Write the quicklook PNG; returns (level name, level shape, image shape).

    Nodata pixels (the store's ``nodata``, or ``nodata`` given: a number, or
    None for none; NaN always) are transparent (an alpha channel) and left
    out of the stretch.
    """
    from ..io.levels import level_array
    from ..io.read import decode_nodata, read_attrs

    attrs = read_attrs(store)  # a clear error for a missing or non-Zarr path
    nodata = decode_nodata(attrs.get("nodata")) if isinstance(nodata, str) and nodata == "auto" else nodata
    check_png_target(out, store)
    level, shape = choose_level(store, size)
    if level == "0" and max(shape[-2:]) > size:
        raise InvalidParameterError(
            f"{store!r} has no pyramid level near {size} pixels (its smallest is {shape}); a preview never "
            f"reads the full resolution of a large raster. Add levels first: tiledproc pyramid {store}"
        )
    nbands = shape[0]
    picks = rgb if rgb is not None else (band if band is not None else 1,)
    for b in picks:
        if not 1 <= b <= nbands:
            raise InvalidParameterError(f"Expected band numbers between 1 and {nbands}, got {b}.")
    a = level_array(store, level)
    data = a[[b - 1 for b in picks]].compute()
    # at most ``size`` pixels on the longer side (a level can be up to 2x larger)
    step = max(1, -(-max(data.shape[-2:]) // size))
    data = data[:, ::step, ::step]
    bad = missing_pixels(data, nodata)
    channels = [stretch(d, *percentiles, missing=bad) for d in data]
    if nodata is not None or bad.any():
        channels.append(np.where(bad, 0, 255).astype(np.uint8))  # alpha: nodata is transparent
    image = channels[0] if len(channels) == 1 else np.stack(channels, axis=-1)
    tmp = Path(f"{out}.tmp-{os.getpid()}")
    try:
        write_png(tmp, image)
        os.replace(tmp, out)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise StorageError(f"{e.strerror or e} while writing the preview {str(out)!r}.") from None
    return level, shape, image.shape


@cli.command()
@click.argument("store", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--band", type=click.IntRange(1), default=None, help="One band, numbered from 1 (grey).")
@click.option("--rgb", callback=_bands, default=None, metavar="R,G,B",
              help="Three bands for red, green, blue, numbered from 1 (e.g. 4,3,2 for Sentinel-2).")
@click.option("--size", type=click.IntRange(16, 16384), default=1024, show_default=True,
              help="At most this many pixels on the longer side (and more than half as many).")
@click.option("--percentiles", default="2,98", show_default=True, metavar="LOW,HIGH",
              help="Stretch between these percentiles of each band.")
@click.option("--nodata", metavar="VALUE|none", default=None,
              help="Nodata of STORE (transparent, left out of the stretch): a number or nan, or none; "
                   "default: the store's own.")
def preview(store, out, band, rgb, size, percentiles, nodata):
    """Write a quicklook PNG of STORE from its pyramid (never the full resolution of a large raster)."""
    if band is not None and rgb is not None:
        raise click.UsageError("give --band or --rgb, not both")
    try:
        low, high = (float(v) for v in percentiles.split(","))
    except ValueError:
        raise click.BadParameter(f"expected LOW,HIGH such as 2,98, got {percentiles!r}") from None
    if not 0 <= low < high <= 100:
        raise click.BadParameter(f"expected 0 <= LOW < HIGH <= 100, got {percentiles!r}")
    if nodata is None:
        nd = "auto"
    elif nodata.strip().lower() == "none":
        nd = None
    else:
        try:
            nd = float(nodata)
        except ValueError:
            raise click.BadParameter(f"expected a number, nan or none, got {nodata!r}",
                                     param_hint="--nodata") from None
    level, shape, image = render_preview(store, out, band=band, rgb=rgb, size=size, percentiles=(low, high),
                                         nodata=nd)
    click.echo(f"wrote {out}: {image[1]} x {image[0]} pixels from level {level} {tuple(shape)}")


@cli.command()
@click.argument("store", type=click.Path())
@click.option("--levels", type=click.IntRange(1, 20), default=4, show_default=True,
              help="Number of 2x levels above full resolution.")
def pyramid(store, levels):
    """Add 2x downsampled levels (OME-Zarr multiscales) to STORE, for viewers and previews."""
    from ..io.read import check_complete, read_attrs
    from ..jobs.pyramid import add_levels

    attrs = read_attrs(store)
    if not is_tiledproc_output(store):
        raise UnsafeOutputError(
            f"{str(store)!r} was not written by tiledproc; adding levels rewrites its metadata and replaces arrays "
            f"1, 2, ..., so tiledproc does it only to its own outputs. Convert it first (tiledproc save_raster, or "
            f"run an operation with --pyramid N)."
        )
    check_complete(store, attrs)
    if not is_url(store) and not os.access(Path(store), os.W_OK):
        raise StorageError(f"Cannot add levels to {str(store)!r}: it is not writable.")
    with OutputLock(store, takeover=True):
        names = add_levels(store, levels)
    click.echo(f"{store}: levels {', '.join(names)}")
