"""The architecture holds: layers (import-linter), no private names across modules,
no private APIs of dependencies except the ones ARCHITECTURE.md measures and pins."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tiledproc"
# private *modules* whose names are meant for the package (the leading underscore keeps them off the API)
SHARED_PRIVATE_MODULES = {"_validate", "_dtypes", "_version", "_format", "_boundary", "_blocks"}


def modules():
    for f in sorted(PACKAGE.rglob("*.py")):
        yield f, ast.parse(f.read_text(), filename=str(f))


def test_layers_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("lint-imports (import-linter, a test dependency) is not installed")
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)  # reads pyproject.toml
    assert r.returncode == 0, r.stdout + r.stderr


def _is_package_module(f: Path, level: int, name: str) -> bool:
    """``from <level dots> import name`` in file ``f`` names a module of an enclosing package."""
    package = f.parent
    for _ in range(level - 1):
        package = package.parent
    return (package / f"{name}.py").is_file() or (package / name / "__init__.py").is_file()


def test_no_private_names_imported_across_modules():
    found = []
    for f, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("tiledproc")):
                last = (node.module or "").rsplit(".", 1)[-1]
                for alias in node.names:
                    if node.module is None and _is_package_module(f, node.level, alias.name):
                        continue  # `from . import _status`: a package's own private module, within the package
                    if alias.name.startswith("_") and not alias.name.startswith("__") \
                            and last not in SHARED_PRIVATE_MODULES:
                        found.append(f"{f.relative_to(ROOT)}:{node.lineno} imports {alias.name} from {node.module}")
    assert not found, "\n".join(found)


# dask's private task-spec module: pinned by ARCHITECTURE.md ("Private dependency APIs") and this test
ALLOWED_PRIVATE_DEPENDENCIES = {"dask._task_spec"}


def test_private_dependency_apis_are_the_pinned_ones():
    used = set()
    for f, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                parts = node.module.split(".")
                if parts[0] != "tiledproc" and any(p.startswith("_") and not p.startswith("__") for p in parts):
                    used.add(node.module)
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy", "dask", "da", "zarr"):
                    used.add(f"{node.value.id}.{node.attr}")
    assert used <= ALLOWED_PRIVATE_DEPENDENCIES, sorted(used - ALLOWED_PRIVATE_DEPENDENCIES)


def test_pinned_private_dask_api_still_works():
    """The scan-order executor reads task dependencies with dask._task_spec.convert_legacy_graph."""
    from dask._task_spec import convert_legacy_graph

    graph = convert_legacy_graph({"a": 1, "b": (sum, ["a", "a"])})
    assert set(graph["b"].dependencies) == {"a"} and graph["b"]({"a": 2}) == 4


def test_pinned_private_dask_task_and_taskref_still_work():
    """OverlapLayer makes its tasks as dask._task_spec.Task with TaskRef arguments, and
    graph/window.py inlines one Task into another (a Task as an argument of a Task)."""
    from dask._task_spec import Task, TaskRef

    inner = Task(("x", 0), pow, TaskRef("a"), 2)
    outer = Task(("y", 0), divmod, inner, TaskRef("b"))
    assert set(inner.dependencies) == {"a"} and inner({"a": 3}) == 9
    assert set(outer.dependencies) == {"a", "b"} and outer({"a": 3, "b": 4}) == (2, 1)
    assert outer.key == ("y", 0) and outer.func is divmod and len(outer.args) == 2
    assert isinstance(outer.args[0], Task) and TaskRef("b").key == "b"


# --------------------------------------------------------------- no hidden work


def _lazy_cases():
    import dask.array as da
    import numpy as np

    import tiledproc as tp

    rng = np.random.default_rng(5)
    img = da.from_array(rng.normal(size=(3, 40, 50)), chunks=(1, 16, 16))
    rgb = da.from_array(rng.uniform(0, 255, size=(3, 40, 50)), chunks=(3, 16, 16))
    labels = da.from_array(rng.integers(0, 9, size=(40, 50)), chunks=(20, 25))
    palette = np.array([[0, 0, 0], [255, 255, 255], [128, 30, 200]], float)
    kw = dict(frequency=0.2, sigma_x=2, sigma_y=2)
    return {
        "window_mean": lambda: tp.window_mean(img, 5),
        "window_variance": lambda: tp.window_variance(img, 5, mode="wrap"),
        "window_std": lambda: tp.window_std(img, (3, 5), nan_policy="omit"),
        "window_stats": lambda: tp.window_stats(img, 10**6 + 1),
        "gabor": lambda: tp.gabor(img, **kw),
        "gabor_magnitude": lambda: tp.gabor_magnitude(img, theta=0.5, frequency=0.2, sigma_x=2, sigma_y=3),
        "gabor_bank": lambda: tp.gabor_bank(img, [0.1, 0.2], [0, 1], sigma_x=2, sigma_y=2),
        "gabor_texture": lambda: tp.gabor_texture(img, size=5, **kw),
        "gradient": lambda: tp.gradient(img),
        "gradient_magnitude": lambda: tp.gradient_magnitude(img, (0.5, 2)),
        "finite_difference_hessian": lambda: tp.finite_difference_hessian(img, method="compact", mode="constant",
                                                                          cval=1),
        "gradient_and_hessian": lambda: tp.gradient_and_hessian(img),
        "recolor_by_label": lambda: tp.recolor_by_label(rgb, labels, channel_axis=0),
        "palette_indices": lambda: tp.palette_indices(rgb, palette, channel_axis=0),
        "apply_palette": lambda: tp.apply_palette(rgb, da.from_array(palette, chunks=2), channel_axis=0),
    }


LAZY = sorted(_lazy_cases())


@pytest.mark.parametrize("name", LAZY)
def test_building_a_lazy_operation_computes_nothing(name):
    import dask.array as da

    from .conftest import raise_if_dask_computes

    build = _lazy_cases()[name]
    with raise_if_dask_computes():
        out = build()
    outs = out if isinstance(out, (tuple, list)) else [out]
    assert outs and all(isinstance(o, da.Array) for o in outs)


def test_every_public_operation_is_covered_by_the_laziness_test():
    import tiledproc as tp

    explicit = {"label_means", "median_cut_palette"}  # they compute a small table, on the caller's scheduler
    not_ops = {"__version__", "TiledprocError", "open_raster", "raster_nodata", "save_raster", "ingest_tiff",
               "export_cog", "gabor_kernel"}
    assert set(tp.__all__) - not_ops - explicit <= set(LAZY)


@pytest.mark.parametrize("func", ["label_means", "median_cut_palette"])
def test_the_explicit_table_steps_compute_on_the_callers_scheduler(func):
    import dask
    import dask.array as da
    import numpy as np
    from dask.callbacks import Callback

    import tiledproc as tp

    rng = np.random.default_rng(1)
    rgb = da.from_array(rng.uniform(0, 255, size=(3, 30, 30)), chunks=(3, 10, 10))
    labels = da.from_array(rng.integers(0, 5, size=(30, 30)), chunks=10)
    call = (lambda **kw: tp.label_means(rgb, labels, channel_axis=0, **kw)) if func == "label_means" else \
        (lambda **kw: tp.median_cut_palette(rgb, 4, channel_axis=0, **kw))
    threads = []

    class Where(Callback):
        def _pretask(self, key, dsk, state):
            import threading

            threads.append(threading.current_thread().name)

    with dask.config.set(scheduler="threads"), Where():
        call(scheduler="synchronous")
    assert threads and set(threads) == {threading_main()}


def threading_main():
    import threading

    return threading.main_thread().name
