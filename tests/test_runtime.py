"""lecture_code.runtime: the start-up freeze takes existing objects out of later collections."""

import gc

import pytest

from lecture_code.runtime import settle_imports


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()  # leave the test process as it was
    gc.enable()


def test_settle_imports_freezes_what_exists(unfrozen):
    before = object.__new__(type("Marker", (), {}))  # a tracked object that exists before the call
    assert settle_imports() is None  # a cell ending with the call prints nothing
    assert gc.get_freeze_count() > 0
    tracked = gc.get_objects()  # the permanent generation is not listed
    assert not any(o is before for o in tracked)
    after = object.__new__(type("Later", (), {}))
    assert any(o is after for o in gc.get_objects())  # new objects are collected as usual


def test_settle_imports_turns_collection_back_on(unfrozen):
    gc.disable()  # what a chapter's import cell does first
    settle_imports()
    assert gc.isenabled()
