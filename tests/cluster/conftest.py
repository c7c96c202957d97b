import copy

import pytest
import yaml

from sdp.cluster.spec import CLUSTER_FILE


@pytest.fixture
def raw_spec() -> dict:
    """A fresh copy of cluster.yml's contents, for a test to change."""
    return copy.deepcopy(yaml.safe_load(CLUSTER_FILE.read_text()))
