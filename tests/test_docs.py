"""The README's commands, CI and the example configs tell the truth."""

import re
import shutil
from pathlib import Path

import pytest

from tiledproc.pipeline import load_pipeline, run_pipeline
from tiledproc.pipeline.run import RunOptions

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("## Set up and run", 1)[1].split("## Python API", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", block)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_second():
    commands = readme_commands()
    assert len(commands) == 2
    install_and_run, install_and_test = commands
    assert "tiledproc run" in install_and_run and "pytest" in install_and_test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci  # the very same command, verbatim


CONFIGS = sorted((ROOT / "configs").glob("*.toml"))


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_configs_validate_as_they_are(config, tmp_path):
    # copied next to an empty data/ so nothing is written into the repository
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    p = load_pipeline(tmp_path / "configs" / config.name)
    lines = []
    run_pipeline(p, RunOptions(progress="off"), dry_run=True, echo=lines.append)
    assert "outputs:" in "\n".join(lines)
    from tiledproc.pipeline.config import unused_steps

    assert unused_steps(p.steps, p.outputs) == []  # every step of an example is written somewhere


def test_gabor_texture_example_one_step_equals_the_chain(tmp_path):
    import numpy as np

    import tiledproc as tp

    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    path = tmp_path / "configs" / "gabor-texture.toml"
    path.write_text(path.read_text().replace("[8, 4096, 4096]", "[1, 200, 230]"))
    run_pipeline(path, RunOptions(progress="off"))
    out = tmp_path / "out" / "gabor-texture"
    np.testing.assert_array_equal(tp.open_raster(out / "mean.zarr").compute(),
                                  tp.open_raster(out / "chain-mean.zarr").compute())


def test_a_config_runs_as_it_is(tmp_path):
    """The window-stats example end to end, shrunk to a small scene."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    path = tmp_path / "configs" / "window-stats.toml"
    path.write_text(path.read_text().replace("[8, 4096, 4096]", "[2, 300, 400]"))
    result = run_pipeline(path, RunOptions(progress="off"))
    assert result.report.chunks_written == 2 * 2
    assert (tmp_path / "out" / "window-stats" / "variance.zarr" / "zarr.json").exists()


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


@pytest.mark.slow
def test_the_rasters_examples_of_the_readme_run_as_written(tmp_path, monkeypatch):
    """Every Python example of README's "Rasters" section, in order, in an empty directory."""
    blocks = re.findall(r"```python\n(.*?)```", readme_section("Rasters: nodata, CRS, band names"), re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    import rasterio
    import tiledproc as tp

    assert tp.raster_nodata("mean.zarr") != tp.raster_nodata("mean.zarr")  # NaN, not the scene's 0
    with rasterio.open("mean.tif") as f:
        assert f.crs.to_epsg() == 32633 and f.descriptions == ("red", "nir")
