"""The Iceberg catalog `lake`: JDBC catalog on PostgreSQL, data on MinIO (S3 API).

Spark's JdbcCatalog and pyiceberg's SqlCatalog read and write the same catalog tables, so both
are configured from one LakeSettings. Both use the catalog tables' schema version 1 (a column
`iceberg_type` telling tables from views): whichever connects first to a catalog of version 0
adds the column, and rows from before it (NULL) still count as tables on both sides.
"""

from dataclasses import dataclass
from pathlib import Path

CATALOG = "lake"
REGION = "us-east-1"  # MinIO ignores it, but the AWS SDK refuses to start without one
EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"  # MERGE INTO


@dataclass(frozen=True)
class LakeSettings:
    pg_host: str
    pg_port: int
    pg_database: str
    pg_user: str
    pg_password: str
    s3_endpoint: str  # http://host:port
    s3_access_key: str
    s3_secret_key: str
    warehouse: str  # s3://bucket/prefix

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.pg_host}:{self.pg_port}/{self.pg_database}"


def spark_conf(lake: LakeSettings, jars: list[Path]) -> dict[str, str]:
    """Spark settings for the `lake` catalog, S3A (checkpoints, event logs) and the bundle jars.

    The jars go on the classpath where they lie, on every host alike (the spark role installs
    them), not in spark.jars: that made each executor fetch its own copy into the worker's work
    directory: up to 700 MB an executor, 56 GB for the 74 applications of a day of tests."""
    prefix = f"spark.sql.catalog.{CATALOG}"
    classpath = ":".join(str(j) for j in jars)
    return {
        "spark.driver.extraClassPath": classpath,
        "spark.executor.extraClassPath": classpath,
        "spark.sql.extensions": EXTENSIONS,
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        f"{prefix}.uri": lake.jdbc_url,
        f"{prefix}.jdbc.user": lake.pg_user,
        f"{prefix}.jdbc.password": lake.pg_password,
        f"{prefix}.jdbc.schema-version": "V1",
        f"{prefix}.warehouse": lake.warehouse,
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.s3.endpoint": lake.s3_endpoint,
        f"{prefix}.s3.path-style-access": "true",
        f"{prefix}.s3.access-key-id": lake.s3_access_key,
        f"{prefix}.s3.secret-access-key": lake.s3_secret_key,
        f"{prefix}.client.region": REGION,
        "spark.hadoop.fs.s3a.endpoint": lake.s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": REGION,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.access.key": lake.s3_access_key,
        "spark.hadoop.fs.s3a.secret.key": lake.s3_secret_key,
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
            lake.s3_endpoint.startswith("https")
        ).lower(),
    }


def pyiceberg_properties(lake: LakeSettings) -> dict[str, str]:
    """pyiceberg SqlCatalog properties for the same catalog Spark uses."""
    return {
        "type": "sql",
        "uri": (
            f"postgresql+psycopg2://{lake.pg_user}:{lake.pg_password}"
            f"@{lake.pg_host}:{lake.pg_port}/{lake.pg_database}"
        ),
        "warehouse": lake.warehouse,
        "schema_version": "v1",
        "s3.endpoint": lake.s3_endpoint,
        "s3.access-key-id": lake.s3_access_key,
        "s3.secret-access-key": lake.s3_secret_key,
        "s3.region": REGION,
        "s3.path-style-access": "true",
    }
