"""A local SparkSession for the streaming transforms (pyspark from the bundle's wheelhouse)."""

import os
import sys

import pytest

from generator.catalog import load_catalog
from generator.simulator import Simulator

START = 1_714_532_400  # 2024-05-01 12:00 KST


@pytest.fixture(scope="session")
def spark():
    pyspark = pytest.importorskip("pyspark", reason="pyspark comes from `make artifacts`")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        pyspark.sql.SparkSession.builder.master("local[2]")
        .appName("sdp-streaming-unit")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def stream_spec():
    from jobs.streaming.config import spec_from_document
    from jobs.streaming.spec import build_spec

    return spec_from_document(build_spec())


@pytest.fixture(scope="session")
def generated():
    """A few simulated minutes of every generated topic: (topic, key, record)."""
    sim = Simulator(load_catalog(), seed=5, start=START, rate=50, speed=60)
    records = [r for _ in range(1500) for r in sim.step()]
    return records + sim.close_sessions()
