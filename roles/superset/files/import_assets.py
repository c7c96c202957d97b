"""Import a Superset assets bundle through the REST API, overwriting what it names.

Usage: import_assets.py URL ZIP, with JSON on stdin: the admin's "username" and "password", and
"passwords" of the bundle's databases ({"databases/X.yaml": ...}). Run by the superset role with
Superset's own virtualenv (requests is one of its pins): Ansible's uri module sends a file's bytes
base64-encoded or mangled, which Superset reads as "Not a ZIP file".
"""

import json
import sys

import requests

url, bundle = sys.argv[1], sys.argv[2]
given = json.load(sys.stdin)
session = requests.Session()
login = session.post(
    f"{url}/api/v1/security/login",
    json={"username": given["username"], "password": given["password"], "provider": "db"},
    timeout=30,
)
login.raise_for_status()
session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
# The import is a form post: it wants a CSRF token and the session cookie it belongs to.
csrf = session.get(f"{url}/api/v1/security/csrf_token/", timeout=30)
csrf.raise_for_status()
session.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": url})
with open(bundle, "rb") as zipped:
    answer = session.post(
        f"{url}/api/v1/assets/import/",
        files={"bundle": ("bundle.zip", zipped, "application/zip")},
        data={"passwords": json.dumps(given["passwords"]), "overwrite": "true"},
        timeout=300,
    )
if answer.status_code != 200:
    sys.exit(f"import refused ({answer.status_code}): {answer.text}")
print(answer.text)
