from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    """Small slices of the real datasets the tests own (see each folder's README)."""
    return FIXTURES
