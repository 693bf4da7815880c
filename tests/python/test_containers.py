"""List and dict parameters, and the SDK's critical-section guard
(`oxbind::sync::CriticalSection`), called from one thread. The parallel
behaviour of both is in test_parallel.py."""

import pytest


def test_list_of_integers(counter):
    assert counter.sum_all([1, 2, 3, 4]) == 10
    assert counter.sum_all((5, 6)) == 11
    assert counter.sum_all([]) == 0


def test_list_item_of_the_wrong_type_names_the_item(counter):
    with pytest.raises(TypeError, match=r"sum_all\(\) argument 'values' item 2 must be int, not str"):
        counter.sum_all([1, 2, "3"])
    with pytest.raises(TypeError, match=r"argument 'values' must be list\[int\], not dict"):
        counter.sum_all({1: 2})


def test_list_item_overflow(counter):
    with pytest.raises(OverflowError):
        counter.sum_all([1, 2**70])


def test_dict_of_str_to_int(counter):
    assert counter.total({"a": 1, "b": 2, "c": 39}) == 42
    assert counter.total({}) == 0


def test_dict_key_and_value_errors_name_the_entry(counter):
    with pytest.raises(TypeError, match=r"total\(\) argument 'counts' key must be str, not int"):
        counter.total({1: 2})
    with pytest.raises(TypeError, match=r"argument 'counts' value for key 'b' must be int, not float"):
        counter.total({"a": 1, "b": 2.5})
    with pytest.raises(TypeError, match=r"argument 'counts' must be dict\[str, int\], not list"):
        counter.total([("a", 1)])


def test_dict_and_list_signatures(counter):
    assert counter.total.__text_signature__ == "(counts)"
    assert counter.sum_all.__text_signature__ == "(values)"
    assert counter.Tally.absorb.__text_signature__ == "($self, other)"


def test_a_dict_subclass_is_read_too(counter):
    class Counts(dict):
        pass

    assert counter.total(Counts(a=3, b=4)) == 7


def test_critical_section_guard(counter):
    t = counter.Tally()
    for hit in (True, False, True):
        t.record(hit)
    assert t.snapshot() == [3, 2, 1]
    other = counter.Tally()
    other.record(False)
    t.absorb(other)
    assert t.snapshot() == [4, 2, 2]
    assert other.snapshot() == [0, 0, 0]


def test_critical_section_on_itself_is_one_lock(counter):
    t = counter.Tally()
    t.record(True)
    t.absorb(t)  # the two values are one object: one section, no self-deadlock
    assert t.snapshot() == [1, 1, 0]


def test_critical_section_refuses_a_value_the_call_did_not_borrow(counter):
    with pytest.raises(RuntimeError, match="not one this call borrowed"):
        counter.Tally().lock_a_copy()
