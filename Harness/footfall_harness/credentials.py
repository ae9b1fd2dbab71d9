"""The credentials a harness signs in with: what a fresh node prints once (its bootstrap API token
and admin password), a dashboard session, and API tokens made from one."""

import json
import re

from . import web

BOOTSTRAP_EMAIL = "admin@localhost.localdomain"


def _printed(log_path, pattern):
    try:
        with open(log_path, errors="replace") as log:
            match = re.search(pattern, log.read())
    except OSError:
        return None
    return match.group(1) if match else None


def bootstrap_token(log_path):
    """The API token a fresh node printed in its log, or None."""
    return _printed(log_path, r"API token: (fft_[0-9a-f]+)")


def bootstrap_password(log_path):
    """The bootstrap admin's password a fresh node printed in its log, or None."""
    return _printed(log_path, r"password:\s+(\S+)")


def login(base_url, email, password, timeout=30):
    """A dashboard session: (cookie, CSRF token), or None if the sign-in was refused."""
    status, headers, raw = web.exchange(base_url + "/api/login", "POST", {"email": email, "password": password}, timeout=timeout)
    if status != 200:
        return None
    return headers["Set-Cookie"].split(";")[0], json.loads(raw)["csrf_token"]


def session_headers(session):
    """The headers a session's requests carry (the CSRF token is what a changing request needs)."""
    cookie, csrf = session
    return {"Cookie": cookie, "X-CSRF-Token": csrf}
