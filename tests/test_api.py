"""The public API as a scikit-image user reads it: every image operation takes
``image`` first, every name and parameter is typed and documented, and the
former spellings (``a=``, ``hessian``) keep working with a DeprecationWarning
that names the new one."""

import inspect
import re
import typing
import warnings

import dask.array as da
import numpy as np
import pytest

import tiledproc as tp
from tiledproc import ops

PUBLIC = [name for name in tp.__all__ if inspect.isfunction(getattr(tp, name))]
NOT_IMAGE_OPS = {"open_raster", "raster_nodata", "save_raster", "ingest_tiff", "export_cog", "gabor_kernel"}
IMAGE_OPS = [name for name in PUBLIC if name not in NOT_IMAGE_OPS]

# the operations whose first parameter was called ``a``, with the rest of a call by keyword
RENAMED = {
    "window_mean": {"size": 3},
    "window_variance": {"size": 3, "mode": "wrap"},
    "window_std": {"size": (1, 3), "nan_policy": "omit"},
    "window_stats": {"size": 5, "mode": "constant", "cval": 1.0},
    "gabor": {"frequency": 0.25, "sigma_x": 1, "sigma_y": 2},
    "gabor_magnitude": {"frequency": 0.25, "theta": 0.5, "sigma_x": 1, "sigma_y": 1},
    "gabor_bank": {"frequencies": [0.2, 0.3], "thetas": [0, 1], "sigma_x": 1, "sigma_y": 1},
    "gabor_texture": {"frequency": 0.25, "sigma_x": 1, "sigma_y": 1, "size": 3},
    "gradient": {},
    "gradient_magnitude": {"spacing": (0.5, 2.0)},
    "finite_difference_hessian": {"method": "compact", "mode": "nearest"},
    "gradient_and_hessian": {"spacing": 2.0},
}


@pytest.fixture
def image(rng):
    return rng.normal(size=(2, 9, 11))


def _assert_same(got, expected):
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert type(g) is type(e) and g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


# --------------------------------------------------------------- names


@pytest.mark.parametrize("name", IMAGE_OPS)
def test_every_image_operation_takes_image_first(name):
    first = next(iter(inspect.signature(getattr(tp, name)).parameters))
    assert first == "image"


def test_the_renamed_operations_are_the_ones_that_took_a():
    # label and palette operations always called it image
    assert set(RENAMED) == set(IMAGE_OPS) - {
        "label_means", "recolor_by_label", "palette_indices", "apply_palette", "median_cut_palette"}


def test_the_honest_hessian_name_is_exported_and_the_old_one_is_not():
    for namespace in (tp, ops):
        assert "finite_difference_hessian" in namespace.__all__
        assert "hessian" not in namespace.__all__
        assert namespace.hessian is tp.hessian  # still importable, for old code
    doc = tp.finite_difference_hessian.__doc__
    assert "skimage.feature.hessian_matrix" in doc and "skimage.filters.hessian" in doc


# --------------------------------------------------------------- the deprecated keyword a=


@pytest.mark.parametrize("name", sorted(RENAMED))
def test_keyword_a_warns_naming_image_and_gives_the_same_result(name, image):
    func, kwargs = getattr(tp, name), RENAMED[name]
    expected = func(image, **kwargs)
    with pytest.deprecated_call(match=rf"{name}\(\): the parameter 'a' is deprecated, use 'image'") as record:
        got = func(a=image, **kwargs)
    _assert_same(got, expected)
    _assert_same(func(image=image, **kwargs), expected)
    # the warning points at the line that used the old name
    deprecations = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert [w.filename for w in deprecations] == [__file__]


@pytest.mark.parametrize("name", sorted(RENAMED))
def test_the_new_and_the_positional_spelling_do_not_warn(name, image):
    func, kwargs = getattr(tp, name), RENAMED[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        func(image, **kwargs)
        func(image=image, **kwargs)


@pytest.mark.parametrize("name", sorted(RENAMED))
def test_image_given_twice_is_refused(name, image):
    func, kwargs = getattr(tp, name), RENAMED[name]
    with pytest.raises(TypeError, match="got both 'image' and its deprecated name 'a'"):
        func(image, a=image, **kwargs)
    with pytest.raises(TypeError, match="got both 'image' and its deprecated name 'a'"):
        func(image=image, a=image, **kwargs)


def test_keyword_a_on_dask_input_builds_the_same_graph(image):
    lazy = da.from_array(image, chunks=(1, 5, 6))
    with pytest.deprecated_call():
        old = tp.window_stats(a=lazy, size=3)
    new = tp.window_stats(lazy, size=3)
    assert [x.name for x in old] == [x.name for x in new]


# --------------------------------------------------------------- the deprecated hessian


@pytest.mark.parametrize("kwargs", [{}, {"method": "compact", "mode": "constant", "cval": 1.0}])
def test_hessian_warns_naming_finite_difference_hessian_and_gives_the_same_result(kwargs, image):
    expected = tp.finite_difference_hessian(image, 0.5, **kwargs)
    with pytest.deprecated_call(match=r"hessian\(\) is deprecated, use finite_difference_hessian\(\)") as record:
        got = tp.hessian(image, 0.5, **kwargs)
    _assert_same(got, expected)
    assert [w.filename for w in record if issubclass(w.category, DeprecationWarning)] == [__file__]


def test_hessian_keeps_its_signature_and_refusals(image):
    assert inspect.signature(tp.hessian) == inspect.signature(tp.finite_difference_hessian)
    assert tp.hessian.__name__ == "hessian"
    assert "finite_difference_hessian" in tp.hessian.__doc__
    with pytest.deprecated_call(), pytest.raises(ValueError, match="Expected method to be"):
        tp.hessian(image, method="sobel")


def test_hessian_with_keyword_a_warns_about_both(image):
    with pytest.deprecated_call() as record:
        got = tp.hessian(a=image)
    messages = [str(w.message) for w in record if issubclass(w.category, DeprecationWarning)]
    assert any("use finite_difference_hessian()" in m for m in messages)
    assert any("'a' is deprecated, use 'image'" in m for m in messages)
    _assert_same(got, tp.finite_difference_hessian(image))


# --------------------------------------------------------------- type hints and numpydoc


@pytest.mark.parametrize("name", PUBLIC)
def test_every_parameter_and_result_is_typed(name):
    func = getattr(tp, name)
    hints = typing.get_type_hints(func)  # the annotations resolve
    params = inspect.signature(func).parameters
    assert set(params) <= set(hints), set(params) - set(hints)
    assert "return" in hints


def _section(doc, title):
    match = re.search(rf"^{title}\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", doc, re.M | re.S)
    return match.group(1) if match else None


@pytest.mark.parametrize("name", PUBLIC)
def test_numpydoc_sections_document_every_parameter(name):
    func = getattr(tp, name)
    doc = inspect.cleandoc(func.__doc__)
    for title in ("Parameters", "Returns", "Raises", "Examples"):
        assert _section(doc, title), f"{name}: no {title} section"
    documented = set()
    for line in _section(doc, "Parameters").splitlines():
        m = re.match(r"^(\w+(?:, \w+)*) :", line)
        if m:
            documented.update(m.group(1).split(", "))
    assert documented == set(inspect.signature(func).parameters)


def _prose(doc):
    """The docstring without code, references and numpydoc name lines (identifiers)."""
    doc = re.sub(r"``.*?``", "", doc, flags=re.S)
    doc = re.sub(r":\w+:`[^`]*`", "", doc)
    doc = "\n".join(line for line in doc.splitlines()
                    if not re.match(r"^\s*(>>>|\.\.\.)", line)
                    and not re.match(r"^\s*\w+(?:, \w+)* : ", line))
    return doc


@pytest.mark.parametrize("name", PUBLIC)
def test_prose_says_colour(name):
    prose = _prose(getattr(tp, name).__doc__)
    assert not re.search(r"\bcolor", prose, re.I), re.findall(r".*\bcolor.*", prose, re.I)


def test_integers_of_thousands_of_digits_get_a_named_error():
    """Python refuses to print an int of more than 4300 digits; the errors must not try to."""
    import numpy as np

    import tiledproc as tp
    from tiledproc.errors import InvalidParameterError

    huge = 10**5000
    cases = [
        (lambda: tp.window_mean(np.zeros((4, 4)), huge), "size", "5001 digits"),
        (lambda: tp.window_mean(np.zeros((4, 4)), [3, huge]), "size", "too large to print"),
        (lambda: tp.window_mean(np.zeros((4, 4)), -huge), "size", "5001 digits"),
        (lambda: tp.window_mean(np.zeros((4, 4)), 3, mode="constant", cval=huge), "cval", "5001 digits"),
        (lambda: tp.gabor_texture(np.zeros((8, 8)), 0.2, size=huge), "size", "5001 digits"),
    ]
    for call, name, fragment in cases:
        with pytest.raises(InvalidParameterError, match=f"Expected {name} .*{fragment}") as info:
            call()
        assert info.value.param == name
