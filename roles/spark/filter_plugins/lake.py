"""spark_lake_conf: spark-defaults entries for the `lake` catalog, from jobs/lake.py.

The same function configures the tests' and the jobs' SparkSessions, so the catalog settings
exist once, in Python.
"""

from jobs.lake import LakeSettings, spark_conf


def spark_lake_conf(settings: dict, jars: list[str]) -> dict[str, str]:
    return spark_conf(LakeSettings(**settings), jars)


class FilterModule:
    def filters(self):
        return {"spark_lake_conf": spark_lake_conf}
