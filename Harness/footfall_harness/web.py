"""HTTP requests to a node that give the status whatever it is (an error answer is a result a
check looks at, not an exception)."""

import json
import urllib.error
import urllib.request


def exchange(url, method="GET", body=None, headers=None, timeout=10):
    """(status, response headers, body bytes) of one request; `body` is bytes, a str, or
    JSON-encoded if anything else. Status 0 (and no headers) when the node could not be reached."""
    headers = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=body.encode() if isinstance(body, str) else body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
    except OSError:
        return 0, {}, b""


def call(url, method="GET", body=None, headers=None, timeout=10):
    """(status, body bytes) of one request, as `exchange` makes it."""
    status, _, raw = exchange(url, method, body, headers, timeout)
    return status, raw


def decoded(raw):
    """A body decoded from JSON; None if it is empty or not JSON."""
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def call_json(url, method="GET", body=None, headers=None, timeout=10):
    """`call`, with the answer's body decoded from JSON."""
    status, raw = call(url, method, body, headers, timeout)
    return status, decoded(raw)


def salted(base_url, timeout=2):
    """Whether the node at `base_url` has its daily-salt seed (its /health says so): until then it
    refuses cookieless hits."""
    status, body = call_json(base_url + "/health", timeout=timeout)
    return status == 200 and isinstance(body, dict) and body.get("salt") == "ready"
