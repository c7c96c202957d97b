"""The control node's secrets: the one list of them, where they are kept, and how the generated
ones are made. The roles reach them through lookup('sdp', 'secret', NAME), the clients through
read_secret."""

import contextlib
import os
import string
import tempfile
from pathlib import Path
from secrets import choice

# Every secret by file name: the length of the ones generated on first use (letters and digits),
# None for one the hosts make (MinIO signs the token; the minio role fetches it).
SECRETS: dict[str, int | None] = {
    "minio-root-password": 40,
    "minio-spark-secret-key": 40,
    "spark-auth-secret": 48,  # Spark's RPC authentication: daemons, drivers and executors
    "postgres-iceberg": 32,
    "postgres-airflow": 32,
    "postgres-serving": 32,
    "postgres-dashboards": 32,  # reads the serving schema for Superset and Grafana
    "postgres-superset": 32,
    "superset-admin-password": 24,
    "superset-secret-key": 48,
    "grafana-admin-password": 24,
    "grafana-secret-key": 48,  # encrypts Grafana's datasource passwords
    "airflow-admin-password": 24,
    "airflow-api-secret-key": 48,
    "airflow-jwt-secret": 48,
    "airflow-fernet-key": 32,  # 32 bytes; the role encodes them as Fernet wants
    "minio-prometheus-token": None,
    "prometheus-password": 32,  # Prometheus' UI and API (the user prometheus_user)
    "kafka-admin-password": 32,  # Kafka's super user: brokers, controllers, the control node
    "kafka-generator-password": 32,
    "kafka-stream-password": 32,
}
ALPHABET = string.ascii_letters + string.digits


def secrets_dir(cluster: str) -> Path:
    """$SDP_SECRETS_DIR, else ~/.config/sdp/secrets/CLUSTER: outside the clone, so a fresh clone
    keeps talking to the data the hosts already hold."""
    if os.environ.get("SDP_SECRETS_DIR"):
        return Path(os.environ["SDP_SECRETS_DIR"])
    return Path.home() / ".config" / "sdp" / "secrets" / cluster


def tls_dir(cluster: str) -> Path:
    """The cluster's CA and the hosts' certificates (roles/tls): ca.crt, HOST.crt, HOST.key and,
    when the tls role made the CA, ca.key."""
    return secrets_dir(cluster) / "tls"


def _path(cluster: str, name: str) -> Path:
    if name not in SECRETS:
        raise KeyError(f"{name!r} is not in SECRETS (sdp/platform/secrets.py): {sorted(SECRETS)}")
    return secrets_dir(cluster) / name


class SecretMissing(FileNotFoundError):
    pass


# A file that starts so is encrypted with Ansible Vault (`ansible-vault encrypt FILE`); the
# password is in the file Ansible itself reads it from, $ANSIBLE_VAULT_PASSWORD_FILE.
VAULT_HEADER = "$ANSIBLE_VAULT;"
VAULT_PASSWORD_FILE = "ANSIBLE_VAULT_PASSWORD_FILE"


def _vault():
    """Ansible's VaultLib with the password of $ANSIBLE_VAULT_PASSWORD_FILE, or None."""
    if not os.environ.get(VAULT_PASSWORD_FILE):
        return None
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, get_file_vault_secret

    path = Path(os.environ[VAULT_PASSWORD_FILE]).expanduser()
    secret = get_file_vault_secret(filename=str(path), loader=DataLoader())  # a file or a script
    secret.load()
    return VaultLib([("default", secret)])


def read_secret(cluster: str, name: str) -> str:
    path = _path(cluster, name)
    where = f"secret {name} of cluster {cluster}: {path}"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SecretMissing(
            f"{where} is missing; the roles generate it on the first `make up` (or set "
            "SDP_SECRETS_DIR to where it is kept)"
        ) from None
    if text.startswith(VAULT_HEADER):
        if not os.environ.get(VAULT_PASSWORD_FILE):
            raise SecretMissing(
                f"{where} is encrypted with Ansible Vault: set {VAULT_PASSWORD_FILE}"
            )
        from ansible.errors import AnsibleError

        try:  # a password file that is missing, or the wrong password
            text = _vault().decrypt(text).decode()
        except AnsibleError as exc:
            raise SecretMissing(f"{where}: {exc.message} ({VAULT_PASSWORD_FILE})") from None
    words = text.split()  # Ansible's password lookup may have added " salt=..."
    if not words:
        raise SecretMissing(f"{where} is empty")
    return words[0]


def ensure_secret(cluster: str, name: str) -> str:
    """The secret, generated first if it is a generated one and not there yet."""
    path, length = _path(cluster, name), SECRETS[name]
    if length and not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        value, vault = "".join(choice(ALPHABET) for _ in range(length)) + "\n", _vault()
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:  # mode 0600
            tmp.write(vault.encrypt(value).decode() if vault else value)
        try:
            # Ansible's forks evaluate the same default at once: the first link wins, all read it.
            with contextlib.suppress(FileExistsError):
                os.link(tmp.name, path)
        finally:
            os.unlink(tmp.name)
    return read_secret(cluster, name)
