"""DAG runs through Airflow's REST API, triggered and waited for as a user's script would (the
end-to-end tests, the batch benchmark)."""

import time
from datetime import datetime

from sdp.platform.checks import airflow_api, airflow_token
from sdp.platform.inventory import Inventory


class Airflow:
    """The platform's Airflow as its admin: `airflow(path, method, body)` calls /api/v2/PATH.

    As a context manager it pauses again, on leaving, every DAG that was paused on entering:
    `run` unpauses its DAG, which would otherwise go on to run on schedule on the user's platform
    (and beside later tests)."""

    def __init__(self, inv: Inventory):
        self.inv, self.token = inv, airflow_token(inv)
        self.paused: list[str] = []

    def __enter__(self) -> "Airflow":
        self.paused = [d["dag_id"] for d in self("dags?paused=true&limit=100")["dags"]]
        return self

    def __exit__(self, *exc) -> None:
        for dag in self.paused:
            self(f"dags/{dag}", "PATCH", {"is_paused": True})

    def __call__(self, path: str, method: str = "GET", body=None):
        return airflow_api(self.inv, path, self.token, method, body)

    def run(
        self, dag: str, run_id: str, logical: datetime, conf=None, timeout: float = 900
    ) -> dict:
        """A run triggered (the DAG unpaused first) and waited for: see wait."""
        self(f"dags/{dag}", "PATCH", {"is_paused": False})
        body = {"dag_run_id": run_id, "logical_date": logical.isoformat(), "conf": conf or {}}
        self(f"dags/{dag}/dagRuns", "POST", body)
        return self.wait(dag, run_id, timeout)

    def wait(self, dag: str, run_id: str, timeout: float) -> dict:
        """The run once it succeeded or failed, with `tasks` (task → (state, seconds)) and
        `tries` (task → try number); AssertionError when it has not finished in time."""
        deadline = time.monotonic() + timeout
        while True:
            run = self(f"dags/{dag}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                tasks = self(f"dags/{dag}/dagRuns/{run_id}/taskInstances")["task_instances"]
                run["tasks"] = {t["task_id"]: (t["state"], t["duration"]) for t in tasks}
                run["tries"] = {t["task_id"]: t["try_number"] for t in tasks}
                print(f"{run_id}: {run['state']} {run['tasks']}")
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"{run_id} not finished after {timeout} s: {run['state']}")
            time.sleep(5)
