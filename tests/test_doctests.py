"""Every public function's docstring has examples, and they run as written.

Each example runs in an empty namespace, as a reader would paste it: it
imports what it uses itself.
"""

import doctest
import inspect
import io

import pytest

import tiledproc as tp

PUBLIC = [name for name in tp.__all__ if inspect.isfunction(getattr(tp, name))]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_every_public_function_is_checked():
    assert len(PUBLIC) == len(tp.__all__) - 2  # all but __version__ and TiledprocError
    assert "finite_difference_hessian" in PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing an example writes lands in the repository
    func = getattr(tp, name)
    tests = doctest.DocTestFinder(recurse=False).find(func, name, globs={})
    examples = [e for t in tests for e in t.examples]
    assert examples, f"{name} has no docstring examples"
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in tests:
        runner.run(t, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, out.getvalue()
    assert result.attempted == len(examples)
