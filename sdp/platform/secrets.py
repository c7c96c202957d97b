"""Where the control node keeps a cluster's generated secrets (the roles write them)."""

import os
from pathlib import Path


def secrets_dir(cluster: str) -> Path:
    """$SDP_SECRETS_DIR, else ~/.config/sdp/secrets/CLUSTER: outside the clone, so a fresh clone
    keeps talking to the data the hosts already hold."""
    if os.environ.get("SDP_SECRETS_DIR"):
        return Path(os.environ["SDP_SECRETS_DIR"])
    return Path.home() / ".config" / "sdp" / "secrets" / cluster


def read_secret(cluster: str, name: str) -> str:
    path = secrets_dir(cluster) / name
    try:
        return path.read_text().split()[0]  # the password lookup may append " salt=..."
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: the roles generate it on the first `make up`"
        ) from None
