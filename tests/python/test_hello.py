"""The `hello` plugin end to end: calls, keywords, defaults, every scalar
type, errors, panics, and what help() and inspect see."""

import inspect
import pathlib

import pytest

from conftest import plugin_path, run_python


def test_add(hello):
    assert hello.add(1, 2) == 3
    assert hello.add(-5, 5) == 0
    assert hello.add(a=2, b=40) == 42
    assert hello.add(2, b=3) == 5
    assert hello.add(2**62, 2**62 - 1) == 2**63 - 1


def test_greet_default_and_keywords(hello):
    assert hello.greet("Ada") == "Hello, Ada!"
    assert hello.greet("Ada", "?") == "Hello, Ada?"
    assert hello.greet("Ada", punctuation="...") == "Hello, Ada..."
    assert hello.greet(punctuation="!!", name="Bob") == "Hello, Bob!!"
    assert hello.greet("Zoë ✓") == "Hello, Zoë ✓!"


def test_fail_raises_value_error_with_the_message(hello):
    with pytest.raises(ValueError, match="^something went wrong$"):
        hello.fail("something went wrong")
    assert hello.fail.__doc__.endswith("Raise ValueError with the given message.")


def test_panic_becomes_panic_error_and_the_plugin_still_works(oxbind, hello):
    assert issubclass(oxbind.PanicError, RuntimeError)
    for _ in range(3):
        with pytest.raises(oxbind.PanicError, match="the hello plugin panicked on purpose"):
            hello.boom()
        assert hello.add(1, 2) == 3


def test_wrong_argument_type_names_function_parameter_and_expected_type(hello):
    with pytest.raises(TypeError, match=r"^add\(\) argument 'a' must be int, not str$"):
        hello.add("1", 2)
    with pytest.raises(TypeError, match=r"^add\(\) argument 'b' must be int, not float$"):
        hello.add(1, 2.5)
    with pytest.raises(TypeError, match=r"^greet\(\) argument 'punctuation' must be str, not int$"):
        hello.greet("Ada", punctuation=3)
    with pytest.raises(TypeError, match=r"^char_count\(\) argument 'text' must be str or None, not bytes$"):
        hello.char_count(b"x")
    with pytest.raises(TypeError, match=r"^scale\(\) argument 'round' must be bool, not int$"):
        hello.scale(1.0, round=1)


def test_missing_unknown_and_duplicate_arguments(hello):
    with pytest.raises(TypeError, match=r"^greet\(\) missing required argument 'name' \(pos 1\)$"):
        hello.greet()
    with pytest.raises(TypeError, match=r"^greet\(\) missing required argument 'name'"):
        hello.greet(punctuation="?")
    with pytest.raises(TypeError, match=r"^greet\(\) got an unexpected keyword argument 'nam'$"):
        hello.greet(nam="Ada")
    with pytest.raises(TypeError, match=r"^greet\(\) got multiple values for argument 'name'$"):
        hello.greet("Ada", name="Bob")
    with pytest.raises(TypeError, match=r"^add\(\) takes 2 positional arguments but 3 were given$"):
        hello.add(1, 2, 3)
    with pytest.raises(TypeError, match=r"^boom\(\) takes 0 positional arguments but 1 was given$"):
        hello.boom(1)


def test_keyword_names_need_not_be_interned(hello):
    name = "".join(["na", "me"])  # a fresh, non-interned str
    assert hello.greet(**{name: "Ada"}) == "Hello, Ada!"


def test_floats_bools_bytes_and_options(hello):
    assert hello.scale(3.0) == 6.0
    assert hello.scale(3) == 6.0  # an int is accepted for a float
    assert hello.scale(2.5, 3.0, True) == 8.0
    assert hello.scale(2.5, factor=3.0, round=False) == 7.5
    assert hello.reverse_bytes(b"abc") == b"cba"
    assert hello.reverse_bytes(b"") == b""
    assert hello.char_count(None) is None
    assert hello.char_count("héllo") == 5
    assert hello.parse_int(" 42 ") == 42
    assert hello.parse_int("x", fallback=-1) == -1
    with pytest.raises(ValueError, match="invalid digit"):
        hello.parse_int("x")
    with pytest.raises(ValueError, match="invalid digit"):
        hello.parse_int("x", None)


def test_integer_ranges(hello):
    assert hello.to_u8(255) == 255
    with pytest.raises(OverflowError, match=r"^to_u8\(\) argument 'a': 300 does not fit in u8$"):
        hello.to_u8(300)
    with pytest.raises(OverflowError, match=r"^to_u8\(\) argument 'a': -1 does not fit in u8$"):
        hello.to_u8(-1)
    with pytest.raises(OverflowError, match=r"^add\(\) argument 'a' is out of range for i64$"):
        hello.add(2**63, 1)
    assert hello.add(True, 1) == 2  # bool is an int subclass, as in Python


def test_unencodable_text_raises_unicode_error(hello):
    with pytest.raises(UnicodeEncodeError):
        hello.greet("\udc80")
    assert hello.greet("ok") == "Hello, ok!"


def test_functions_are_vectorcall_builtins_with_signatures(hello):
    f = hello.greet
    assert type(f).__name__ == "builtin_function_or_method"
    assert f.__self__ is hello
    assert f.__module__ == "hello"
    assert f.__name__ == "greet"
    assert repr(hello.add) == "<built-in function add>"
    assert f.__text_signature__ == "(name, punctuation='!')"
    assert str(inspect.signature(f)) == "(name, punctuation='!')"
    assert str(inspect.signature(hello.scale)) == "(x, factor=2.0, round=False)"
    assert str(inspect.signature(hello.parse_int)) == "(text, fallback=None)"
    assert inspect.signature(hello.boom).parameters == {}
    assert f.__doc__ == "Return a greeting for `name`, ending in `punctuation`."


def test_help_shows_signature_and_doc(hello):
    text = pydoc_text(hello.greet)
    assert "greet(name, punctuation='!')" in text
    assert "Return a greeting for `name`" in text
    module_text = pydoc_text(hello)
    assert "first oxbind plugin" in module_text
    assert "add(a, b)" in module_text


def pydoc_text(obj):
    import pydoc

    return pydoc.render_doc(obj, renderer=pydoc.plaintext)


def test_module_attributes(hello):
    assert hello.__name__ == "hello"
    assert hello.__version__ == "0.1.0"
    assert pathlib.Path(hello.__file__).name == "libhello.so"
    assert set(n for n in dir(hello) if not n.startswith("_")) == {
        "add", "greet", "fail", "boom", "scale", "reverse_bytes", "char_count", "to_u8", "parse_int",
    }


# --- the examples are what users copy: no silent wrong answers, no aborts ---

def test_add_raises_overflow_error_instead_of_wrapping(hello):
    with pytest.raises(OverflowError, match=r"^add\(\): 9223372036854775807 \+ 1 does not fit in a 64-bit signed integer$"):
        hello.add(2**63 - 1, 1)
    with pytest.raises(OverflowError, match=r"^add\(\): -9223372036854775808 \+ -1 does not fit"):
        hello.add(-2**63, -1)
    assert hello.add(2**63 - 1, -1) == 2**63 - 2
    assert hello.add(-2**63, 2**63 - 1) == -1
    assert hello.add(2**63 - 1, 0) == 2**63 - 1


def test_strings_repeat_refuses_a_result_too_long_to_build():
    # In a subprocess: before the fix, an allocation failure aborted the process.
    out = run_python(f"""
import oxbind
strings = oxbind.load({str(plugin_path("strings"))!r})
print(strings.repeat("ab", 3, "-"))
print(repr(strings.repeat("", 2**32 - 1)))
try:
    strings.repeat("x" * 2**20, 2**32 - 1, "y")   # 4 PiB
except OverflowError as e:
    print("OverflowError:", e)
print(strings.repeat("ok", 1))
""")
    lines = out.stdout.splitlines()
    assert lines[:2] == ["ab-ab-ab", "''"]
    assert lines[2] == ("OverflowError: repeat(): 4294967295 copies of 1048576 bytes joined by 1 bytes "
                        "is too long a string")
    assert lines[3] == "ok"
