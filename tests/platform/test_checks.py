"""How `make status` tries a check: once by default, again while it fails within the inventory's
sdp_status_patience (the services themselves are checked for real in test_platform_up)."""

from sdp.platform import checks


def flaky(failures: int):
    """A check that raises `failures` times, then passes."""
    calls = []

    def check(_inv) -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise TimeoutError(f"try {len(calls)} timed out")
        return "fine"

    return check, calls


def test_one_try_without_patience():
    check, calls = flaky(1)
    assert checks.run_check(None, check, patience=0) == (False, "TimeoutError: try 1 timed out")
    assert len(calls) == 1


def test_a_failing_check_is_tried_again_within_the_patience(monkeypatch):
    monkeypatch.setattr(checks, "RETRY_SECONDS", 0.01)
    check, calls = flaky(2)
    assert checks.run_check(None, check, patience=5) == (True, "fine (on try 3)")
    assert len(calls) == 3
    ok, detail = checks.run_check(None, flaky(1000)[0], patience=0.05)
    assert not ok and "tries in 0 s" in detail and detail.startswith("TimeoutError: try ")
