"""Log Alertmanager webhook notifications, one line per alert (demo only).

Listens on 127.0.0.1:9095 inside Alertmanager's network namespace (compose), the
address the shipped alertmanager.yml posts to. Standard library only.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        for alert in payload.get("alerts", []):
            labels, notes = alert.get("labels", {}), alert.get("annotations", {})
            print(
                f"[{alert.get('status')}] {payload.get('receiver')} "
                f"{labels.get('alertname')} ({labels.get('severity')}/{labels.get('team')}) "
                f"source={notes.get('source', '-')} value={notes.get('value', '-')} "
                f"target={notes.get('target', '-')}: {notes.get('summary', '')}"
            )
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per alert is enough


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", 9095), Sink).serve_forever()
