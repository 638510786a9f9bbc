"""The HTTP plumbing of the labs' API server stand-ins (sdnlab/fakeapi.py, ovnlab/fakeapi.py).

`ApiServer(items, token)` serves plain HTTP on 127.0.0.1 at ``.url`` inside a ``with`` block,
requires the bearer token on every request and records each one in ``.requests`` as (method,
path, whether the token matched). A subclass answers: ``_get(path)`` and ``_patch(path, body,
content_type)`` return (status, JSON body); an unparsable PATCH body is answered 400.
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def status(code, reason, message):
    """(code, a Kubernetes Status object) for an error answer."""
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                  "message": message, "code": code}


class ApiServer:
    def __init__(self, items, token):
        self.items = items
        self.token = token
        self.requests = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def _get(self, path):
        raise NotImplementedError

    def _patch(self, path, body, content_type):
        raise NotImplementedError

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self, method):
                ok = self.headers.get("Authorization") == "Bearer %s" % api.token
                api.requests.append((method, self.path, ok))
                if not ok:
                    self._reply(*status(401, "Unauthorized", "Unauthorized"))
                return ok

            def do_GET(self):
                if self._authorised("GET"):
                    self._reply(*api._get(self.path))

            def do_PATCH(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self._authorised("PATCH"):
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError:
                        self._reply(*status(400, "BadRequest", "not JSON"))
                        return
                    self._reply(*api._patch(self.path, body, self.headers.get("Content-Type", "")))

            def log_message(self, *args):
                pass

        return Handler
