"""`make test`'s runner: a suite over its share is stopped, unless the suites before it left
time enough."""

from tests import suites
from tests.suites import REPO_ROOT, Suite, main, run


def test_a_suite_may_use_what_the_suites_before_it_left_and_is_stopped_beyond():
    slow = Suite("slow", "sleeps 3 s", 1, [(["sleep", "3"], REPO_ROOT)])
    assert run(slow, spare=4)[1] == "passed"
    seconds, outcome = run(slow, spare=1)
    assert outcome == "over its share of 1 s and 1 s spare: stopped"
    assert seconds < 2.9


def test_make_test_runs_every_suite_but_the_opt_in_ones(monkeypatch, tmp_path):
    monkeypatch.setenv("SDP_CACHE", str(tmp_path))  # the timing tables
    failing = Suite("opt-in", "fails", 5, [(["false"], REPO_ROOT)], opt_in=True)
    monkeypatch.setattr(
        suites, "suites", lambda: [Suite("a", "true", 5, [(["true"], REPO_ROOT)]), failing]
    )
    assert main([]) == 0
    assert main(["opt-in"]) == 1
