"""scrape_jobs: the prometheus_jobs that have hosts in this inventory, each with its `hosts`.

A job's `group` is an inventory group or a list of them: Kafka's agent runs on every controller
and every broker, and a combined-mode node, in both groups, is one target. A job's `switch` names
a host variable: hosts where it is false are not scraped (the stream's, spark_stream_enabled).
"""


def scrape_jobs(jobs: list[dict], groups: dict[str, list[str]], hostvars) -> list[dict]:
    active = []
    for job in jobs:
        names = [job["group"]] if isinstance(job["group"], str) else job["group"]
        hosts = list(dict.fromkeys(h for name in names for h in groups.get(name, [])))
        if "switch" in job:
            off = (False, "false")
            hosts = [h for h in hosts if hostvars[h].get(job["switch"], True) not in off]
        if hosts:
            active.append({**job, "hosts": hosts})
    return active


class FilterModule:
    def filters(self):
        return {"scrape_jobs": scrape_jobs}
