"""emkit.learn.allocator: glibc malloc thresholds are set once, only on glibc, never over the user's choice."""

from __future__ import annotations

import pytest

from emkit.learn import allocator


class FakeLibc:
    def __init__(self, answer: int = 1):
        self.answer, self.calls = answer, []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.answer


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    for var in allocator._ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_sets_both_thresholds_once(fresh):
    libc = FakeLibc()
    fresh.setattr(allocator, "_glibc", lambda: libc)
    first = allocator.keep_freed_memory(mmap_threshold=1 << 20, trim_threshold=1 << 28)
    assert first["applied"] is True
    assert sorted(libc.calls) == sorted([(allocator._M_MMAP_THRESHOLD, 1 << 20),
                                         (allocator._M_TRIM_THRESHOLD, 1 << 28)])
    assert allocator.keep_freed_memory() is first
    assert len(libc.calls) == 2


def test_user_environment_wins(fresh):
    libc = FakeLibc()
    fresh.setattr(allocator, "_glibc", lambda: libc)
    fresh.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    result = allocator.keep_freed_memory()
    assert result["applied"] is False and "MALLOC_TRIM_THRESHOLD_" in result["reason"]
    assert libc.calls == []


def test_not_glibc_and_rejected_values(fresh):
    fresh.setattr(allocator, "_glibc", lambda: None)
    assert allocator.keep_freed_memory() == {"applied": False, "reason": "not glibc"}
    fresh.setattr(allocator, "_applied", None)
    fresh.setattr(allocator, "_glibc", lambda: FakeLibc(answer=0))
    assert allocator.keep_freed_memory()["reason"] == "mallopt rejected a threshold"


def test_real_libc_of_this_machine(fresh):
    """On glibc (CI's Debian) mallopt accepts the defaults; elsewhere nothing is touched."""
    result = allocator.keep_freed_memory()
    assert result["applied"] is (allocator._glibc() is not None), result
