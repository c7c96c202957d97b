"""bcrypt_hash: the bcrypt hash Prometheus' web.yml keeps of a password.

The salt is derived from the password, so the same password gives the same hash and the role
stays idempotent (a random salt would rewrite web.yml, and restart Prometheus, on every run).
The password is a generated secret, so a salt that is unique per password loses nothing.
"""

import base64
import hashlib

import bcrypt

STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
BCRYPT = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
COST = 10  # Prometheus checks it on each request it has not cached; 10 takes ~60 ms here


def bcrypt_hash(password: str) -> str:
    raw = hashlib.sha256(b"sdp-prometheus-salt:" + password.encode()).digest()[:16]
    salt = base64.b64encode(raw)[:22].translate(bytes.maketrans(STANDARD, BCRYPT))
    return bcrypt.hashpw(password.encode(), b"$2b$%02d$" % COST + salt).decode()


class FilterModule:
    def filters(self):
        return {"bcrypt_hash": bcrypt_hash}
