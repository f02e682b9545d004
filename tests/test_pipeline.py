"""Pipeline files: validation messages (pinned), one graph, read-once, dry run."""

import textwrap

import numpy as np
import pytest

import tiledproc as tp
from tiledproc.errors import ConfigError
from tiledproc.io import read_attrs
from tiledproc.pipeline import load_pipeline, run_pipeline
from tiledproc.pipeline.run import RunOptions
from tiledproc.testing import window_reference


@pytest.fixture
def scene(tmp_path, rng):
    x = (rng.normal(size=(2, 40, 50)) * 10 + 100).astype(np.float32)
    return tp.save_raster(x, tmp_path / "scene.zarr", chunks=(1, 16, 16)), x


def write(tmp_path, text, name="p.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
    [input]
    path = "scene.zarr"

    [steps.stats]
    op = "window_stats"
    size = 5
    mode = "mirror"

    [outputs.mean]
    from = "stats.mean"
    path = "out/mean.zarr"

    [outputs.variance]
    from = "stats.variance"
    path = "out/var.zarr"
"""


def test_runs_and_matches_reference(tmp_path, scene):
    _, x = scene
    result = run_pipeline(write(tmp_path, GOOD), RunOptions(progress="off"))
    ref_m, ref_v = window_reference(x, 5, "mirror")
    m = tp.open_raster(tmp_path / "out" / "mean.zarr").compute()
    v = tp.open_raster(tmp_path / "out" / "var.zarr").compute()
    np.testing.assert_allclose(m, ref_m, rtol=1e-6)
    np.testing.assert_allclose(v, ref_v, rtol=1e-5, atol=1e-4)
    prov = read_attrs(tmp_path / "out" / "mean.zarr")["tiledproc"]
    assert prov["operation"] == "window_stats" and prov["parameters"]["size"] == 5
    assert prov["pipeline"].endswith("p.toml") and prov["input"].endswith("scene.zarr")
    assert result.report.chunks_written == 2 * 2 * 3 * 4


def test_chained_steps_and_georeferencing_carry_over(tmp_path, rng):
    import tifffile

    x = rng.normal(size=(30, 40)).astype(np.float32)
    tags = [(33550, "d", 3, (10.0, 10.0, 0.0), False), (33922, "d", 6, (0, 0, 0, 5e5, 4.6e6, 0), False),
            (34735, "H", 8, [1, 1, 0, 1, 3072, 0, 1, 32633], False)]
    tifffile.imwrite(tmp_path / "in.tif", x, extratags=tags)
    p = write(tmp_path, """
        [input]
        path = "in.tif"
        [steps.smooth]
        op = "window_mean"
        size = 3
        [steps.texture]
        op = "window_variance"
        input = "smooth"
        size = 7
        mode = "nearest"
        [outputs.texture]
        from = "texture"
        path = "texture.zarr"
    """)
    run_pipeline(p, RunOptions(progress="off"))
    got = tp.open_raster(tmp_path / "texture.zarr").compute()[0]
    ref = window_reference(window_reference(x, 3)[0], 7, "nearest")[1]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
    attrs = read_attrs(tmp_path / "texture.zarr")
    assert attrs["proj:code"] == "EPSG:32633" and attrs["spatial:transform"][2] == 5e5
    assert [s["step"] for s in attrs["tiledproc"]["steps"]] == ["smooth", "texture"]


@pytest.mark.parametrize(
    "change,message",
    [
        (("[steps.stats]", "[steps.stats]\nbogus = 1"),
         "[steps.stats] key 'bogus': unknown parameter of window_stats; expected one of op, input, size"),
        (('op = "window_stats"', 'op = "window_statz"'),
         "[steps.stats] key 'op': unknown operation 'window_statz'; expected one of"),
        (("size = 5", "size = 4"),
         "[steps.stats] key 'size': Expected size to be an odd positive integer"),
        (("size = 5", 'size = "5"'),
         "[steps.stats] key 'size': Expected an odd integer or a pair [size_y, size_x], got '5' (string)"),
        (("size = 5\n", ""), "[steps.stats] key 'size': missing; window_stats requires it"),
        (('mode = "mirror"', 'mode = "symmetric"'),
         "[steps.stats] key 'mode': Expected one of 'reflect', 'mirror', 'nearest', 'constant', 'wrap', got 'symmetric'"),
        (('from = "stats.mean"', 'from = "stats.median"'),
         "[outputs.mean] key 'from': step 'stats' has no output 'median'; its outputs are 'mean', 'variance'"),
        (('from = "stats.mean"', 'from = "stats"'),
         "[outputs.mean] key 'from': step 'stats' has several outputs; choose one of 'stats.mean', 'stats.variance'"),
        (('from = "stats.mean"', 'from = "blur.mean"'),
         "[outputs.mean] key 'from': 'blur.mean' is not an input or an earlier step (known: 'input', 'stats')"),
        (('path = "scene.zarr"', 'path = "nothere.zarr"'), "[input] key 'path': "),
        (('[outputs.mean]\nfrom = "stats.mean"\npath = "out/mean.zarr"\n', ""), None),
        (("[input]", "[inputt]"), "unknown table [inputt]"),
        (('path = "out/var.zarr"', "path = 3"), "[outputs.variance] key 'path': expected str, got 3"),
    ],
)
def test_validation_messages_are_pinned(tmp_path, scene, change, message):
    text = textwrap.dedent(GOOD).replace(change[0], change[1])
    p = tmp_path / "p.toml"
    p.write_text(text)
    if message is None:  # still valid: one output less
        load_pipeline(p)
        return
    with pytest.raises(ConfigError) as e:
        run_pipeline(p, RunOptions(progress="off"))
    assert str(e.value).startswith(str(p) + ": ")
    assert message in str(e.value)
    assert not (tmp_path / "out").exists()  # nothing was started


def test_missing_input_message(tmp_path):
    p = write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match=r"p\.toml: \[input\] key 'path': Input store '.*scene\.zarr' does not exist"):
        run_pipeline(p)


def test_existing_output_refused_before_any_work(tmp_path, scene):
    p = write(tmp_path, GOOD)
    tp.save_raster(np.zeros((2, 2)), tmp_path / "out" / "var.zarr")
    with pytest.raises(tp.errors.OutputExistsError, match="var.zarr' already exists; pass overwrite"):
        run_pipeline(p, RunOptions(progress="off"))
    assert not (tmp_path / "out" / "mean.zarr").exists()
    run_pipeline(p, RunOptions(progress="off", overwrite=True))
    assert tp.open_raster(tmp_path / "out" / "var.zarr").shape == (2, 40, 50)


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline(tmp_path / "none.toml")
    p = write(tmp_path, "[input\npath = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_pipeline(p)


def test_dry_run_prints_the_plan_and_computes_nothing(tmp_path, scene):
    lines = []
    run_pipeline(write(tmp_path, GOOD), dry_run=True, echo=lines.append)
    text = "\n".join(lines)
    assert "stats: window_stats(input=input; size=5, mode='mirror'" in text
    assert "halo 2 x 2 pixels" in text
    assert "shape (2, 40, 50), float32, chunks (1, 16, 16)" in text
    assert "16.0 kB uncompressed" in text
    assert not (tmp_path / "out").exists()


def test_each_input_chunk_is_read_once(tmp_path, scene):
    """Several steps and outputs over one input: every input chunk is read once."""
    from tiledproc.io.chunkio import count_reads

    p = write(tmp_path, """
        [input]
        path = "scene.zarr"
        [steps.stats]
        op = "window_stats"
        size = 5
        [steps.wide]
        op = "window_mean"
        size = 9
        [steps.std]
        op = "window_std"
        size = 3
        [outputs.a]
        from = "stats.mean"
        path = "a.zarr"
        [outputs.b]
        from = "stats.variance"
        path = "b.zarr"
        [outputs.c]
        from = "wide"
        path = "c.zarr"
        [outputs.d]
        from = "std"
        path = "d.zarr"
    """)
    with count_reads() as reads:
        run_pipeline(p, RunOptions(progress="off"))
    scene_reads = {k: n for k, n in reads.items() if k[0].endswith("scene.zarr/0")}
    assert len(scene_reads) == 2 * 3 * 4 and set(scene_reads.values()) == {1}


def test_synthetic_input_is_made_when_missing(tmp_path):
    p = write(tmp_path, """
        [input]
        path = "data/scene.zarr"
        [input.synth]
        shape = [2, 64, 80]
        chunks = [1, 32, 32]
        [steps.m]
        op = "window_mean"
        size = 3
        [outputs.m]
        from = "m"
        path = "m.zarr"
    """)
    run_pipeline(p, RunOptions(progress="off"))
    assert tp.open_raster(tmp_path / "data" / "scene.zarr").shape == (2, 64, 80)
    assert read_attrs(tmp_path / "data" / "scene.zarr")["tiledproc"]["operation"] == "synth"
    assert tp.open_raster(tmp_path / "m.zarr").shape == (2, 64, 80)


def test_default_pipeline_is_valid():
    from tiledproc.pipeline import default_pipeline

    p = default_pipeline()
    assert set(p.outputs) == {"mean", "variance"} and p.inputs["input"].synth["shape"] == [4, 2048, 2048]


def test_a_step_no_output_uses_is_reported(tmp_path, caplog):
    import logging

    from tiledproc.pipeline import parse_pipeline

    with caplog.at_level(logging.WARNING, logger="tiledproc"):
        parse_pipeline({
            "input": {"path": "in.zarr"},
            "steps": {"used": {"op": "window_mean", "size": 3}, "forgotten": {"op": "window_stats", "size": 5}},
            "outputs": {"m": {"from": "used", "path": "m.zarr"}},
        }, base=tmp_path)
    assert "[steps.forgotten] is not used by any output, so it will not run" in caplog.text
    assert 'from = "forgotten.mean"' in caplog.text
    assert "[steps.used]" not in caplog.text


# --- values checked at parse time, before any work (also before --dry-run builds the graph) ----------

SYNTH = """
    [input]
    path = "data/scene.zarr"
    [input.synth]
    {synth}
    [steps.m]
    op = "window_mean"
    size = 3
    [outputs.m]
    from = "m"
    path = "m.zarr"
"""


def cli_error(path, *args) -> str:
    """``tiledproc run PATH --dry-run``: exit 2 and one line on stderr, no traceback."""
    from click.testing import CliRunner

    from tiledproc.cli import cli

    r = CliRunner().invoke(cli, ["run", str(path), "--dry-run", *args])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tiledproc: error: "), r.stderr
    return lines[0]


@pytest.mark.parametrize("synth,key,message", [
    ('dtype = "foo"', "dtype", "expected float32, float64 or uint16, got 'foo'"),
    ('dtype = "int32"', "dtype", "expected float32, float64 or uint16"),
    ('kind = "labels"\ndtype = "uint16"\nshape = [1, 64, 64]', "dtype", "expected int32 (labels are int32)"),
    ('kind = "noise"', "kind", "expected 'scene' or 'labels', got 'noise'"),
    ('kind = "labels"\nshape = [3, 64, 64]', "shape", "labels have one band"),
    ('kind = "labels"\ncell = 1', "cell", "at least 2 pixels, got 1"),
    ('kind = "labels"\ncell = 2.5', "cell", "expected int, got 2.5"),
    ("cell = 8", "cell", "only labels have cells"),
    ('seed = "x"', "seed", "expected int, got 'x'"),
    ("seed = -1", "seed", "expected an integer from 0 to 2**63 - 1, got -1"),
    ("seed = true", "seed", "expected int, got True"),
    ("shape = [64, 64]", "shape", "expected 3 integers"),
    ("shape = [1, 0, 64]", "shape", "expected a list of positive integers"),
    ("chunks = [1, 16.5, 16]", "chunks", "expected a list of positive integers"),
    ("shape = [1, 1000000000000000000000000000000, 64]", "shape", "is out of range: integers in a pipeline file"),
])
def test_synthetic_input_values_are_checked(tmp_path, synth, key, message):
    p = write(tmp_path, SYNTH.format(synth=synth.replace("\n", "\n    ")))
    with pytest.raises(ConfigError) as e:
        load_pipeline(p)
    assert f"{p}: [input.synth] key '{key}': " in str(e.value) and message in str(e.value)
    line = cli_error(p)
    assert f"[input.synth] key '{key}'" in line and message in line
    assert not (tmp_path / "data").exists()


def test_synthetic_labels_and_scenes_accept_their_values(tmp_path):
    for synth in ('kind = "labels"\ncell = 2\nshape = [1, 64, 64]\nseed = 9223372036854775807\ndtype = "int32"',
                  'dtype = "uint16"\nshape = [2, 64, 64]\nchunks = [1, 32, 32]\nseed = 3'):
        load_pipeline(write(tmp_path, SYNTH.format(synth=synth.replace("\n", "\n    "))))


@pytest.mark.parametrize("path", ["", " ", ".", "./", "..", "out/..", "{base}", "{parent}"])
def test_an_output_path_that_is_or_holds_the_pipeline_directory_is_refused(tmp_path, scene, path):
    path = path.format(base=tmp_path, parent=tmp_path.parent)
    text = textwrap.dedent(GOOD).replace('path = "out/mean.zarr"', f"path = {path!r}".replace("'", '"'))
    p = tmp_path / "p.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_pipeline(p)
    assert str(e.value).startswith(f"{p}: [outputs.mean] key 'path': ")
    assert "out/result.zarr" in str(e.value)
    assert "[outputs.mean] key 'path'" in cli_error(p)


def test_an_output_path_beside_the_pipeline_is_fine(tmp_path, scene):
    text = textwrap.dedent(GOOD).replace('path = "out/mean.zarr"', 'path = "./mean.zarr"')
    (tmp_path / "p.toml").write_text(text)
    assert load_pipeline(tmp_path / "p.toml").outputs["mean"].path == tmp_path / "mean.zarr"


@pytest.mark.parametrize("run,key,message", [
    ("pyramid = 21", "pyramid", "expected a number of levels from 0 to 20, got 21"),
    ("pyramid = -1", "pyramid", "from 0 to 20, got -1"),
    ("pyramid = 1.5", "pyramid", "expected int, got 1.5"),
    ("pyramid = true", "pyramid", "expected int, got True"),
    ("pyramid = 100000000000000000000000", "pyramid", "is out of range"),
    ("log_interval = 5", "log_interval", "unknown key"),
    ('scheduler = "bogus"', "scheduler", "expected threads, processes, synchronous or an address"),
    ('cluster = "local:0"', "cluster", "expected local or local:N"),
    ('cluster = "slurm"', "cluster", "for SLURM or PBS use a [cluster] section"),
    ('cluster = "local:2"\nscheduler = "threads"', "cluster", "not both"),
])
def test_run_table_values_are_checked(tmp_path, scene, run, key, message):
    p = write(tmp_path, GOOD + "\n[run]\n" + run + "\n")
    with pytest.raises(ConfigError) as e:
        load_pipeline(p)
    assert f"{p}: [run] key '{key}': " in str(e.value) and message in str(e.value)
    assert f"[run] key '{key}'" in cli_error(p)


def test_run_table_accepts_its_values(tmp_path, scene):
    for run in ("pyramid = 20", "pyramid = 0", 'cluster = "local"', 'cluster = "local:3"', 'scheduler = "sync"',
                'scheduler = "tcp://10.1.2.3:8786"', 'codec = "zstd"\nprogress = "log"'):
        load_pipeline(write(tmp_path, GOOD + "\n[run]\n" + run + "\n"))


@pytest.mark.parametrize("change,key", [
    (("size = 5", "size = 100000000000000000000000"), "size"),
    (("size = 5", "size = -100000000000000000000000"), "size"),
    (("size = 5", "size = [5, 100000000000000000000000]"), "size"),
    (('mode = "mirror"', "n_colors = 100000000000000000000"), "n_colors"),
    (('path = "scene.zarr"', 'path = "scene.zarr"\nseries = 100000000000000000000'), "series"),
    (('path = "out/var.zarr"', 'path = "out/var.zarr"\nchunks = [1, 100000000000000000000, 16]'), "chunks"),
])
def test_huge_integers_are_config_errors(tmp_path, scene, change, key):
    p = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as e:
        load_pipeline(p)
    assert f"key '{key}'" in str(e.value) and "is out of range" in str(e.value)
    assert f"key '{key}'" in cli_error(p)


def test_an_integer_too_long_to_read_is_a_config_error(tmp_path):
    p = write(tmp_path, GOOD.replace("size = 5", "size = " + "9" * 5000))
    with pytest.raises(ConfigError, match="p.toml: not a usable pipeline file: Exceeds the limit"):
        load_pipeline(p)
    cli_error(p)


def test_large_op_parameters_are_refused_by_the_dry_run(tmp_path, scene):
    """Within int64, the operation bounds its parameters (n_colors at most 2**20): one error line
    naming the key, before any work, never a traceback or a plan that fails later."""
    from click.testing import CliRunner

    from tiledproc.cli import cli

    p = write(tmp_path, """
        [input]
        path = "scene.zarr"
        [steps.q]
        op = "quantize"
        n_colors = 100000000000
        [outputs.i]
        from = "q.indices"
        path = "i.zarr"
    """)
    r = CliRunner().invoke(cli, ["run", str(p), "--dry-run"])
    assert r.exit_code == 2 and "Traceback" not in r.stderr + r.stdout
    assert "[steps.q] key 'n_colors'" in r.stderr and "at most 1048576" in r.stderr


def test_an_operations_own_error_while_parsing_names_the_step(tmp_path, monkeypatch):
    """An error an operation raises from resolve_params that is not one of tiledproc's is still a
    ConfigError naming the step."""
    from dataclasses import dataclass

    from tiledproc.pipeline import operations, parse_pipeline, registry

    base = operations.OPERATIONS["window_mean"]

    @dataclass(frozen=True)
    class Strict(registry.Operation):
        def resolve_params(self, given):
            raise OverflowError("Expected size to fit in a C long")

    monkeypatch.setitem(operations.OPERATIONS, "strict_mean", Strict(
        "strict_mean", base.summary, base.params, base.outputs, base.build, base.inputs, base.halo))
    # the step is named; the key only where the error says which (``key``/``param``), never from its text
    with pytest.raises(ConfigError, match=r"\[steps.s\]: invalid value: Expected size to fit"):
        parse_pipeline({"input": {"path": "in.zarr"}, "steps": {"s": {"op": "strict_mean", "size": 3}},
                        "outputs": {"m": {"from": "s", "path": "m.zarr"}}}, base=tmp_path)
