"""lookup/query('sdp', KIND, NAME...): what a role installs, from the project's bundle.

    query('sdp', 'version', 'kafka')       -> ['4.3.1']
    lookup('sdp', 'kafka_tarball')         -> {path, name, sha256}
    query('sdp', 'tarball', 'grafana')     -> [{path, name, sha256}], or [] when the bundle has
                                              none of this optional component
    lookup('sdp', 'binary', 'minio')       -> {path, name, sha256}
    query('sdp', 'jars', 'iceberg', ...)   -> [{path, name, sha256}, ...]
    query('sdp', 'wheels', 'spark')        -> [{path, name, sha256}, ...]
    query('sdp', 'apt', 'java')            -> ['openjdk-17-jre-headless']
    lookup('sdp', 'stream_spec')           -> the streaming job's spec (jobs/streaming/spec.py)
    query('sdp', 'stream_schema_changes', INVENTORY)
                                           -> ['bronze.t: a added (string)', ...]: what that spec
                                              changes in the lake's tables; an error naming the
                                              field for a change Iceberg cannot make safely
    query('sdp', 'job_sources')            -> [{src, dest}, ...]: the jobs' files
    query('sdp', 'dag_files')              -> [path, ...]: the DAG files of dags/
    lookup('sdp', 'secret', 'postgres-iceberg') -> the secret of sdp_cluster_name, generated on
                                              first use (the list: sdp/platform/secrets.py)
    lookup('sdp', 'ssh_key')               -> the project's SSH key (container hosts, VM images)

Paths are relative to the artifact server's root (the bundle). Runs on the control node with the
project's virtualenv, so versions and checksums come from artifacts/manifest.yml and lock.yml.
"""

from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from sdp.bundle import served
from sdp.bundle.lockfile import LockError
from sdp.bundle.manifest import ManifestError
from sdp.hosts.nspawn import ssh_key_path, state_dir
from sdp.paths import REPO_ROOT
from sdp.platform.secrets import ensure_secret, secrets_dir, tls_dir


def _stream_spec() -> list[dict]:
    from jobs.streaming.spec import build_spec  # needs pyspark: `make artifacts` installs it

    return [build_spec()]


def _stream_schema_changes(inventory: str) -> list[str]:
    from jobs.streaming.evolution import SchemaChangeRefused
    from sdp.lake.catalog import open_catalog
    from sdp.platform.inventory import load_inventory
    from sdp.stream.schema_changes import pending_changes

    try:
        return pending_changes(open_catalog(load_inventory(Path(inventory))))
    except SchemaChangeRefused as exc:
        raise AnsibleLookupError(
            f"the stream spec changes a table as Iceberg cannot: {exc}"
        ) from None


def _job_sources() -> list[dict]:
    files = [REPO_ROOT / "jobs" / "__init__.py", REPO_ROOT / "jobs" / "lake.py"]
    for package in ("streaming", "batch", "experiments"):
        files += sorted((REPO_ROOT / "jobs" / package).glob("*.py"))
    files += sorted((REPO_ROOT / "jobs" / "batch").glob("*.tsv"))  # the review lexicon
    return [{"src": str(f), "dest": str(f.relative_to(REPO_ROOT))} for f in files]


KINDS = {
    "version": lambda name: [served.version(name)],
    "kafka_tarball": lambda: [served.kafka_tarball()],
    "tarball": served.tarball,
    "binary": lambda name: [served.binary(name)],
    "jars": served.jars,
    "wheels": served.wheels,
    "apt": served.apt_packages,
    "secrets_dir": lambda cluster: [str(secrets_dir(cluster))],
    "tls_dir": lambda cluster: [str(tls_dir(cluster))],
    "stream_spec": _stream_spec,
    "stream_schema_changes": _stream_schema_changes,
    "job_sources": _job_sources,
    # The modules DAG files share (sdp_*.py) first: a DAG file copied before what it imports
    # is an import error until the dag-processor reads it again.
    "dag_files": lambda: [
        str(f)
        for f in sorted(
            (REPO_ROOT / "dags").glob("*.py"), key=lambda f: (not f.name.startswith("sdp_"), f.name)
        )
    ],
    "secret": lambda cluster, *names: [ensure_secret(cluster, name) for name in names],
    "ssh_key": lambda: [str(ssh_key_path(state_dir()))],
}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if not terms or terms[0] not in KINDS:
            raise AnsibleLookupError(f"sdp: the first term must be one of {sorted(KINDS)}")
        kind, args = terms[0], terms[1:]
        try:
            if kind == "secret":  # of the cluster the play deploys
                args = [self._templar.template(variables["sdp_cluster_name"]), *args]
            return KINDS[kind](*args)
        except (LockError, ManifestError, KeyError, TypeError, FileNotFoundError) as exc:
            raise AnsibleLookupError(f"sdp {list(terms)}: {exc}") from exc
