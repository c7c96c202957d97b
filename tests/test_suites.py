"""`make test`'s runner: a suite over its share is stopped, unless the suites before it left
time enough."""

from tests.suites import REPO_ROOT, Suite, run


def test_a_suite_may_use_what_the_suites_before_it_left_and_is_stopped_beyond():
    slow = Suite("slow", "sleeps 3 s", 1, [(["sleep", "3"], REPO_ROOT)])
    assert run(slow, spare=4)[1] == "passed"
    seconds, outcome = run(slow, spare=1)
    assert outcome == "over its share of 1 s and 1 s spare: stopped"
    assert seconds < 2.9
