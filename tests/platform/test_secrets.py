"""The control node's secrets at rest: plain 0600 files, or encrypted with Ansible Vault, which
the roles' lookup and the clients read alike given $ANSIBLE_VAULT_PASSWORD_FILE."""

import os
import subprocess

import pytest

from sdp.paths import REPO_ROOT
from sdp.platform.secrets import VAULT_HEADER, SecretMissing, ensure_secret, read_secret

BIN = REPO_ROOT / ".venv" / "bin"


@pytest.fixture
def vault(tmp_path, monkeypatch):
    """A secrets directory of its own, and a vault password file Ansible's way."""
    monkeypatch.setenv("SDP_SECRETS_DIR", str(tmp_path / "secrets"))
    password = tmp_path / "vault-password"
    password.write_text("correct horse battery staple\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    return tmp_path / "secrets"


def test_a_secret_generated_with_a_vault_password_is_encrypted_and_read_back(vault):
    value = ensure_secret("c", "postgres-iceberg")
    assert len(value) == 32
    kept = (vault / "postgres-iceberg").read_text()
    assert kept.startswith(VAULT_HEADER) and value not in kept
    assert oct((vault / "postgres-iceberg").stat().st_mode & 0o777) == "0o600"
    assert read_secret("c", "postgres-iceberg") == ensure_secret("c", "postgres-iceberg") == value


def test_a_file_encrypted_with_ansible_vault_reads_as_before_and_the_roles_lookup_too(vault):
    os.environ.pop("ANSIBLE_VAULT_PASSWORD_FILE")
    value = ensure_secret("c", "postgres-serving")  # a plain file, as before Vault
    password_file = vault.parent / "vault-password"
    encrypt = subprocess.run(
        [BIN / "ansible-vault", "encrypt", "--vault-password-file", password_file,
         vault / "postgres-serving"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert encrypt.returncode == 0, encrypt.stderr
    with pytest.raises(SecretMissing, match="encrypted with Ansible Vault: set ANSIBLE_VAULT"):
        read_secret("c", "postgres-serving")
    os.environ["ANSIBLE_VAULT_PASSWORD_FILE"] = str(password_file)
    assert read_secret("c", "postgres-serving") == value
    lookup = subprocess.run(
        [BIN / "ansible", "localhost", "-e", "sdp_cluster_name=c", "-m", "debug", "-a",
         "msg={{ lookup('sdp', 'secret', 'postgres-serving') }}"],
        capture_output=True, text=True, cwd=REPO_ROOT / "ansible",
    )  # fmt: skip
    assert lookup.returncode == 0, lookup.stdout + lookup.stderr
    assert value in lookup.stdout


def test_a_wrong_vault_password_is_named(vault):
    ensure_secret("c", "postgres-airflow")
    (vault.parent / "vault-password").write_text("guessed\n")
    with pytest.raises(SecretMissing, match=r"postgres-airflow.*Decryption failed"):
        read_secret("c", "postgres-airflow")
