"""The rules of monitoring/rules, as the tests read them."""

import yaml

from sdp.paths import REPO_ROOT

RULES_DIR = REPO_ROOT / "monitoring" / "rules"


def rules() -> list[dict]:
    """Every rule of every rule file, each with its `name` (the alert's or the record's)."""
    return [
        {**rule, "name": rule.get("alert") or rule["record"]}
        for path in sorted(RULES_DIR.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
