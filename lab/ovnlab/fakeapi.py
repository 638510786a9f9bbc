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

from labcommon.fakeapi import ApiServer, status

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


class FakeKubeApi(ApiServer):
    """``with FakeKubeApi(document, token) as api:`` serves at ``api.url`` until the block ends."""

    def __init__(self, document, token):
        super().__init__(copy.deepcopy(list(document.get("items", []))), token)

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
                    return status(404, "NotFound", "no group %s" % group)
                gv = {"groupVersion": "%s/%s" % (group, versions[0]), "version": versions[0]}
                return 200, {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv],
                             "preferredVersion": gv}
            version, rest = parts[2], parts[3:]
        else:
            return status(404, "NotFound", path)
        if (group, version) not in RESOURCES:
            return status(404, "NotFound", path)
        if not rest:
            return 200, _resource_list(group, version)
        plural = rest[0]
        if plural not in RESOURCES[(group, version)]:
            return status(404, "NotFound", path)
        kind, _namespaced = RESOURCES[(group, version)][plural]
        with self.lock:
            items = [copy.deepcopy(i) for i in self.items if i.get("kind") == kind]
        if len(rest) == 1:
            return 200, {"kind": kind + "List", "apiVersion": "%s/%s" % (group, version) if group else version,
                         "metadata": {"resourceVersion": "1"}, "items": items}
        if kind == "Node" and len(rest) == 2:
            found = [i for i in items if i["metadata"]["name"] == rest[1]]
            return (200, found[0]) if found else status(404, "NotFound", "nodes %s not found" % rest[1])
        return status(404, "NotFound", path)

    def _patch(self, path, body, content_type):
        parts = path.split("?")[0].strip("/").split("/")
        if parts[:3] != ["api", "v1", "nodes"] or len(parts) != 4:
            return status(405, "MethodNotAllowed", "only Node labels can be patched here")
        if "merge-patch" not in content_type and "strategic-merge-patch" not in content_type:
            return status(415, "UnsupportedMediaType", content_type)
        labels = ((body or {}).get("metadata") or {}).get("labels") or {}
        dry_run = "dryRun=" in path
        with self.lock:
            node = next((i for i in self.items if i.get("kind") == "Node" and i["metadata"]["name"] == parts[3]), None)
            if node is None:
                return status(404, "NotFound", "nodes %s not found" % parts[3])
            if dry_run:                                  # server-side dry run: answer, change nothing
                node = copy.deepcopy(node)
            current = node["metadata"].setdefault("labels", {})
            for key, value in labels.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            return 200, copy.deepcopy(node)
