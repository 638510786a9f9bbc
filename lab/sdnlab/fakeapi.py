"""A stand-in for the OpenShift API server, for the egress_source=k8s tests.

Serves what kubernetes.core.k8s_info asks for when it lists NetNamespaces and HostSubnets:
API discovery (/version, /api, /apis, the network.openshift.io/v1 resource list) and the two
lists, from an `oc get -o json` List document (see ocdump.py); and, for egress_write_back,
what kubernetes.core.k8s (state: patched, merge_type: merge) does to one object: GET it and
PATCH it with a JSON merge patch (recorded in ``patches``; later lists show the change). Plain HTTP on 127.0.0.1, a
bearer token required on every request; each request is recorded (method, path, whether the
token matched) so a test can tell what the client did.
"""

import json

from labcommon.fakeapi import ApiServer, status

GROUP = "network.openshift.io"
VERSION = "v1"
RESOURCES = {
    "netnamespaces": ("NetNamespace", "NetNamespaceList"),
    "hostsubnets": ("HostSubnet", "HostSubnetList"),
}


def _resource_list():
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (GROUP, VERSION),
        "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": False, "kind": kind,
                       "verbs": ["get", "list", "watch", "patch"]}
                      for plural, (kind, dummy) in sorted(RESOURCES.items())],
    }


class FakeApi(ApiServer):
    """``with FakeApi(document, token) as api:`` serves at ``api.url`` until the block ends."""

    def __init__(self, document, token):
        super().__init__(list(document.get("items", [])), token)
        self.patches = []      # (plural, name, merge patch) in order

    def listed(self, plural):
        """How many authorised list requests reached ``plural``."""
        path = "/apis/%s/%s/%s" % (GROUP, VERSION, plural)
        return sum(1 for method, seen, authorised in self.requests
                   if method == "GET" and seen.split("?")[0] == path and authorised)

    def _get(self, path):
        """(status, body) for a GET of ``path`` (query string ignored)."""
        path = path.split("?")[0].rstrip("/")
        if path == "/version":
            return 200, {"major": "1", "minor": "11", "gitVersion": "v1.11.0+sdnlab", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/api/v1":
            return 200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}
        if path == "/apis":
            version = {"groupVersion": "%s/%s" % (GROUP, VERSION), "version": VERSION}
            return 200, {"kind": "APIGroupList", "apiVersion": "v1",
                         "groups": [{"name": GROUP, "versions": [version], "preferredVersion": version}]}
        if path == "/apis/%s" % GROUP:
            version = {"groupVersion": "%s/%s" % (GROUP, VERSION), "version": VERSION}
            return 200, {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [version],
                         "preferredVersion": version}
        if path == "/apis/%s/%s" % (GROUP, VERSION):
            return 200, _resource_list()
        prefix = "/apis/%s/%s/" % (GROUP, VERSION)
        found = self._object(path)
        if found is not None:
            return 200, found
        if path.startswith(prefix) and path[len(prefix):] in RESOURCES:
            kind, list_kind = RESOURCES[path[len(prefix):]]
            return 200, {"kind": list_kind, "apiVersion": "%s/%s" % (GROUP, VERSION),
                         "metadata": {"resourceVersion": "1"},
                         "items": [item for item in self.items if item.get("kind") == kind]}
        return status(404, "NotFound", "the server could not find the requested resource")

    def _object(self, path):
        """The stored object a path ``/apis/<group>/<version>/<plural>/<name>`` names, or None."""
        prefix = "/apis/%s/%s/" % (GROUP, VERSION)
        parts = path.split("?")[0].rstrip("/")[len(prefix):].split("/") if path.startswith(prefix) else []
        if len(parts) != 2 or parts[0] not in RESOURCES:
            return None
        kind = RESOURCES[parts[0]][0]
        for item in self.items:
            if item.get("kind") == kind and item.get("metadata", {}).get("name") == parts[1]:
                item.setdefault("apiVersion", "%s/%s" % (GROUP, VERSION))
                item.setdefault("metadata", {}).setdefault("resourceVersion", "1")
                return item
        return None

    def _patch(self, path, body, content_type=None):
        """Apply a JSON merge patch (RFC 7386, top-level keys: what egress_write_back sends)."""
        item = self._object(path)
        if item is None:
            return status(404, "NotFound", "not found")
        if "dryRun=" in path:   # a server-side dry run (check mode): the result, nothing stored
            item = json.loads(json.dumps(item))
        else:
            self.patches.append((path.split("?")[0].split("/")[-2], path.split("?")[0].split("/")[-1], body))
        for key, value in body.items():
            if key == "metadata":
                continue
            if value is None:
                item.pop(key, None)
            else:
                item[key] = value
        item["metadata"]["resourceVersion"] = str(int(item["metadata"].get("resourceVersion", "1")) + 1)
        return 200, item
