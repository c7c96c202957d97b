"""The platform's Iceberg catalog `lake` as pyiceberg reaches it from the control node."""

from jobs.lake import CATALOG, LakeSettings, pyiceberg_properties
from sdp.platform import settings
from sdp.platform.checks import s3_endpoint
from sdp.platform.inventory import Inventory
from sdp.platform.secrets import read_secret


def lake_settings(inv: Inventory) -> LakeSettings:
    owner = settings.platform("sdp_catalog_owner")
    return LakeSettings(
        pg_host=inv.first_address("postgres"),
        pg_port=settings.platform("postgres_port"),
        pg_database=settings.platform("sdp_catalog_db"),
        pg_user=owner,
        pg_password=read_secret(inv.cluster_name, f"postgres-{owner}"),
        s3_endpoint=s3_endpoint(inv),
        s3_access_key=settings.platform("sdp_s3_access_key"),
        s3_secret_key=read_secret(inv.cluster_name, "minio-spark-secret-key"),
        warehouse=settings.platform("sdp_warehouse"),
    )


def open_catalog(inv: Inventory):
    """pyiceberg's catalog over the same JDBC catalog tables Spark uses."""
    from pyiceberg.catalog import load_catalog

    return load_catalog(CATALOG, **pyiceberg_properties(lake_settings(inv)))
