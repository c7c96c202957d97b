"""`sdp local up|status|down`: every service starts, status names what is down, data and secrets
survive a down/up cycle."""

import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdp.cli import app
from sdp.local.processes import free_port
from sdp.local.stack import DEFAULT_PORTS, load_or_create_config

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix():
    path = Path(tempfile.mkdtemp(prefix="sdp-test-local-"))
    path.chmod(0o711)  # PostgreSQL runs as its own user and must reach its data
    load_or_create_config(
        path, {name: free_port() for name in DEFAULT_PORTS}, spark_worker_memory="1g"
    )
    yield path
    CliRunner().invoke(app, ["local", "down", "--prefix", str(path)])
    shutil.rmtree(path, ignore_errors=True)


def sdp(*args: str):
    return CliRunner().invoke(app, list(args))


def test_up_status_down_up_keeps_data_and_secrets(prefix):
    import boto3

    up = sdp("local", "up", "--prefix", str(prefix))
    assert up.exit_code == 0, up.output
    status = sdp("local", "status", "--prefix", str(prefix))
    assert status.exit_code == 0, status.output
    config = load_or_create_config(prefix)
    assert (prefix / "stack.yml").stat().st_mode & 0o777 == 0o600
    assert config.secrets["minio_password"] not in ("minioadmin", "")
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{config.ports['minio']}",
        region_name="us-east-1",
        aws_access_key_id=config.secrets["minio_user"],
        aws_secret_access_key=config.secrets["minio_password"],
    )
    s3.create_bucket(Bucket="keep")
    s3.put_object(Bucket="keep", Key="k", Body=b"survives down/up")

    assert sdp("local", "down", "--prefix", str(prefix), "-s", "kafka").exit_code == 0
    status = sdp("local", "status", "--prefix", str(prefix))
    assert status.exit_code == 1
    assert "down: kafka" in status.output

    assert sdp("local", "down", "--prefix", str(prefix)).exit_code == 0
    up = sdp("local", "up", "--prefix", str(prefix))
    assert up.exit_code == 0, up.output
    assert load_or_create_config(prefix) == config
    assert s3.get_object(Bucket="keep", Key="k")["Body"].read() == b"survives down/up"
    assert sdp("local", "status", "--prefix", str(prefix)).exit_code == 0


def test_unknown_service_is_named(prefix):
    result = sdp("local", "up", "--prefix", str(prefix), "-s", "kafak")
    assert result.exit_code == 1
    assert "kafak" in result.output
