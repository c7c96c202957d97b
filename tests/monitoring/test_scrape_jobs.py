"""The prometheus role's scrape_jobs filter: which hosts each job scrapes."""

import importlib.util

from sdp.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location(
    "scrape", REPO_ROOT / "roles" / "prometheus" / "filter_plugins" / "scrape.py"
)
scrape = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scrape)

GROUPS = {
    "kafka_controller": ["c1", "n1"],
    "kafka_broker": ["n1", "n2"],
    "spark_master": ["m"],
    "airflow": [],
}


def test_a_host_in_two_groups_of_a_job_is_one_target():
    jobs = scrape.scrape_jobs(
        [{"name": "kafka", "group": ["kafka_controller", "kafka_broker"], "port": 9404}], GROUPS, {}
    )
    assert jobs[0]["hosts"] == ["c1", "n1", "n2"]


def test_jobs_without_hosts_are_dropped_and_a_switch_turns_hosts_off():
    jobs = [
        {"name": "airflow", "group": "airflow", "port": 1},
        {"name": "monitoring", "group": "monitoring", "port": 1},
        {"name": "stream", "group": "spark_master", "port": 1, "switch": "spark_stream_enabled"},
    ]
    assert scrape.scrape_jobs(jobs, GROUPS, {"m": {}})[0]["hosts"] == ["m"]
    assert scrape.scrape_jobs(jobs, GROUPS, {"m": {"spark_stream_enabled": False}}) == []
