"""A stand-in for the Kubernetes API server of an OVN-Kubernetes cluster, for the
egress_service_source=k8s tests of playbooks/egress_service.yml.

Serves what kubernetes.core.k8s_info and kubernetes.core.k8s ask for: API discovery (/version,
/api, /api/v1, /apis and the discovery.k8s.io/v1 and k8s.ovn.org/v1 resource lists), cluster-wide
lists of Nodes, Services, EndpointSlices and EgressServices from an `oc get -o json` List
document (cluster.dump()), a GET of one Node, and a JSON merge PATCH of a Node's labels (the
holder label a converge sets and removes), which changes the served Node. Plain HTTP on
127.0.0.1, a bearer token required; each request is recorded (method, path, authorised).
"""

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (group or "" for core, version) -> {plural: (kind, namespaced)}
RESOURCES = {
    ("", "v1"): {"nodes": ("Node", False), "services": ("Service", True)},
    ("discovery.k8s.io", "v1"): {"endpointslices": ("EndpointSlice", True)},
    ("k8s.ovn.org", "v1"): {"egressservices": ("EgressService", True)},
}


def _resource_list(group, version):
    gv = "%s/%s" % (group, version) if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                           "verbs": ["get", "list", "watch", "patch"]}
                          for plural, (kind, namespaced) in sorted(RESOURCES[(group, version)].items())]}


def _status(code, reason, message):
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                  "message": message, "code": code}


class FakeKubeApi:
    """``with FakeKubeApi(document, token) as api:`` serves at ``api.url`` until the block ends."""

    def __init__(self, document, token):
        self.items = copy.deepcopy(list(document.get("items", [])))
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

    def node(self, name):
        with self.lock:
            return copy.deepcopy(next((i for i in self.items if i.get("kind") == "Node"
                                       and i["metadata"]["name"] == name), None))

    def count(self, method, path_prefix):
        return sum(1 for m, p, ok in self.requests if m == method and p.split("?")[0].startswith(path_prefix) and ok)

    def _get(self, path):
        path = path.split("?")[0].rstrip("/")
        if path == "/version":
            return 200, {"major": "1", "minor": "29", "gitVersion": "v1.29.0+ovnlab", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/apis":
            groups = []
            for (group, version) in sorted(k for k in RESOURCES if k[0]):
                gv = {"groupVersion": "%s/%s" % (group, version), "version": version}
                groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            group = parts[1]
            if len(parts) == 2:
                versions = [v for g, v in RESOURCES if g == group]
                if not versions:
                    return _status(404, "NotFound", "no group %s" % group)
                gv = {"groupVersion": "%s/%s" % (group, versions[0]), "version": versions[0]}
                return 200, {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv],
                             "preferredVersion": gv}
            version, rest = parts[2], parts[3:]
        else:
            return _status(404, "NotFound", path)
        if (group, version) not in RESOURCES:
            return _status(404, "NotFound", path)
        if not rest:
            return 200, _resource_list(group, version)
        plural = rest[0]
        if plural not in RESOURCES[(group, version)]:
            return _status(404, "NotFound", path)
        kind, _namespaced = RESOURCES[(group, version)][plural]
        with self.lock:
            items = [copy.deepcopy(i) for i in self.items if i.get("kind") == kind]
        if len(rest) == 1:
            return 200, {"kind": kind + "List", "apiVersion": "%s/%s" % (group, version) if group else version,
                         "metadata": {"resourceVersion": "1"}, "items": items}
        if kind == "Node" and len(rest) == 2:
            found = [i for i in items if i["metadata"]["name"] == rest[1]]
            return (200, found[0]) if found else _status(404, "NotFound", "nodes %s not found" % rest[1])
        return _status(404, "NotFound", path)

    def _patch(self, path, body, content_type):
        parts = path.split("?")[0].strip("/").split("/")
        if parts[:3] != ["api", "v1", "nodes"] or len(parts) != 4:
            return _status(405, "MethodNotAllowed", "only Node labels can be patched here")
        if "merge-patch" not in content_type and "strategic-merge-patch" not in content_type:
            return _status(415, "UnsupportedMediaType", content_type)
        labels = ((body or {}).get("metadata") or {}).get("labels") or {}
        dry_run = "dryRun=" in path
        with self.lock:
            node = next((i for i in self.items if i.get("kind") == "Node" and i["metadata"]["name"] == parts[3]), None)
            if node is None:
                return _status(404, "NotFound", "nodes %s not found" % parts[3])
            if dry_run:                                  # server-side dry run: answer, change nothing
                node = copy.deepcopy(node)
            current = node["metadata"].setdefault("labels", {})
            for key, value in labels.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            return 200, copy.deepcopy(node)

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self, method):
                ok = self.headers.get("Authorization") == "Bearer %s" % api.token
                api.requests.append((method, self.path, ok))
                if not ok:
                    self._reply(*_status(401, "Unauthorized", "Unauthorized"))
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
                        self._reply(*_status(400, "BadRequest", "not JSON"))
                        return
                    self._reply(*api._patch(self.path, body, self.headers.get("Content-Type", "")))

            def log_message(self, *args):
                pass

        return Handler
