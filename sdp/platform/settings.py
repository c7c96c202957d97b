"""Role defaults the control node needs too (ports, database names), read from the roles
themselves so they are written once."""

from functools import cache
from typing import Any

import jinja2
import yaml

from sdp.paths import REPO_ROOT

ROLES_DIR = REPO_ROOT / "roles"


@cache
def role_defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}


def resolve(value: Any, context: dict[str, Any]) -> Any:
    """Render simple `{{ name }}` references; anything needing Ansible's lookups fails loudly."""
    if isinstance(value, str) and "{{" in value:
        env = jinja2.Environment(undefined=jinja2.StrictUndefined)
        return env.from_string(value).render(**context)
    if isinstance(value, list):
        return [resolve(v, context) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, context) for k, v in value.items()}
    return value


def platform(name: str) -> Any:
    defaults = role_defaults("_platform")
    return resolve(defaults[name], defaults)


def role(role_name: str, name: str) -> Any:
    """A role default, its references to platform and to the role's own defaults rendered."""
    context = {**role_defaults("_platform"), **role_defaults(role_name)}
    value = context[name]
    for _ in range(5):  # a default may refer to one that refers to another
        rendered = resolve(value, context)
        if rendered == value:
            break
        value = rendered
    return value
