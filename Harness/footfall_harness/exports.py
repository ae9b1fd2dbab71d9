"""What a node holds of consented visitors, read back through their exports (which list event ids)."""

from . import web
from .hits import visitor_hex


def stored_ids(base, token, site, clients, timeout=30):
    """Every event id the node holds of these consented visitors of `site`. A visitor none of whose
    hits was stored has no record (404); any other failed export raises `ExportFailed`."""
    ids = set()
    for client in clients:
        status, body = web.call_json(f"{base}/api/sites/{site}/visitors/{visitor_hex(site, client)}/export",
                                     headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        if status == 200:
            ids.update(bytes.fromhex(event["id"]) for event in body["events"])
        elif status != 404:
            raise ExportFailed(client, status, body)
    return ids


class ExportFailed(Exception):
    def __init__(self, client, status, body):
        super().__init__(f"export of {client} failed: {status} {body}")
        self.client, self.status = client, status
