# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OVN-Kubernetes EgressService: intent, assignment and the objects each node and the northbound
database need (module egress_service_plan).

    raw = from_inventory(services, nodes)     inventory variables (one mapping per service/node)
    raw = from_objects(items)                 `oc get egressservice,service,endpointslice,node -o json`
                                              items, or kubernetes.core.k8s_info resources
    result = plan(raw, settings)              validate (every problem at once) -> assign -> render

A raw service: {namespace, name, load_balancer_ip, source_ip_by, node_selector, network,
external_traffic_policy, endpoints: [{ip, node}], host (the holder a controller recorded)}.
A raw node: {name, host_ips, mgmt_ips, labels, ready, reachable}.

Assignment, as OVN-Kubernetes does it and stable: a service's candidates are the nodes that
match its nodeSelector, are ready and reachable, and (ExternalTrafficPolicy Local) host one of
its endpoints; a candidate that already holds the service keeps it; otherwise the candidate with
the fewest services wins (then the name). No candidate: no reroute and no SNAT (the endpoints
leave with their node IPs, as OVN-Kubernetes does), or with ``fail_closed`` a drop policy per
endpoint.

Rendered by layout_ovn.py (iptables era): on ``ovn_cluster_router`` per endpoint a priority-101 policy
``ip4.src == EP`` (``ip6.src``) reroute to the holder's management-port IP of that family,
external_ids EgressSVC=<ns>/<name>; per family one priority-102 allow policy that keeps
endpoint-to-node traffic from being rerouted and marks it pkt_mark=1008; on the holder the SNAT
rules ``-s EP -j SNAT --to-source LB`` behind the DoNotSNAT return (chain OVN-KUBE-EGRESS-SVC).
``sourceIPBy: Network``: no reroute, no SNAT; ``ip rule`` priority 5000 ``from EP lookup
<network>`` on the nodes hosting endpoints.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.sdn.egress.plugins.module_utils import addr, layout_ovn

LABEL = "egress-service.k8s.ovn.org/%s-%s"
SOURCE_IP_BY = ("LoadBalancerIP", "Network")
ETP = ("Cluster", "Local")
SERVICE_KEYS = ("namespace", "name", "load_balancer_ip", "source_ip_by", "node_selector", "network",
                "external_traffic_policy", "endpoints", "host")
NODE_KEYS = ("name", "host_ips", "mgmt_ips", "labels", "ready", "reachable")


# ---------------------------------------------------------------- sources
def _list(value, where, problems):
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append("%s: %s is not a list" % (where, addr.show(value)))
        return []
    return value


def from_inventory(services, nodes):
    """Raw intent from inventory variables; unknown keys are problems."""
    problems = []
    out = {"services": [], "nodes": [], "problems": problems}
    for kind, entries, keys in (("services", services, SERVICE_KEYS), ("nodes", nodes, NODE_KEYS)):
        for i, entry in enumerate(_list(entries, kind, problems)):
            if not isinstance(entry, dict):
                problems.append("%s[#%d]: %s is not a mapping" % (kind, i, addr.show(entry)))
                continue
            for key in sorted(set(entry) - set(keys)):
                problems.append("%s[#%d]: unknown key %s (known: %s)" % (kind, i, key, ", ".join(keys)))
            out[kind].append(dict((k, entry[k]) for k in keys if k in entry))
    return out


def _meta(obj):
    return obj.get("metadata") or {}


def _mgmt_ips(node_obj):
    """Management-port IPs: .2 of each subnet in the k8s.ovn.org/node-subnets annotation."""
    text = (_meta(node_obj).get("annotations") or {}).get("k8s.ovn.org/node-subnets")
    if not text:
        return []
    try:
        subnets = json.loads(text).get("default")
    except (ValueError, AttributeError):
        return ["(unparsable k8s.ovn.org/node-subnets %s)" % text]
    out = []
    for subnet in [subnets] if isinstance(subnets, str) else subnets or []:
        try:
            net = addr.parse_network(subnet, "node-subnets")
            out.append(str(net.network + 2))
        except addr.AddrError:
            out.append(subnet)
    return out


def from_objects(items):
    """Raw intent from Kubernetes objects (an `oc get ... -o json` List's items, or k8s_info
    resources): EgressService, Service, EndpointSlice, Node."""
    by_kind = {}
    for obj in items or []:
        if isinstance(obj, dict):
            by_kind.setdefault(obj.get("kind"), []).append(obj)
    services = {(_meta(s).get("namespace"), _meta(s).get("name")): s for s in by_kind.get("Service", [])}
    slices = {}
    for sl in by_kind.get("EndpointSlice", []):
        owner = (_meta(sl).get("labels") or {}).get("kubernetes.io/service-name")
        slices.setdefault((_meta(sl).get("namespace"), owner), []).append(sl)
    raw = {"services": [], "nodes": [], "problems": []}
    for es in by_kind.get("EgressService", []):
        ns, name = _meta(es).get("namespace"), _meta(es).get("name")
        spec = es.get("spec") or {}
        svc = services.get((ns, name))
        entry = {"namespace": ns, "name": name, "source_ip_by": spec.get("sourceIPBy", "LoadBalancerIP"),
                 "node_selector": spec.get("nodeSelector") or {}, "network": spec.get("network"),
                 "host": (es.get("status") or {}).get("host"), "endpoints": []}
        if svc is None:
            raw["problems"].append("egress_services[%s/%s]: no Service of that name (an EgressService is named "
                                   "like its LoadBalancer Service)" % (addr.show(ns), addr.show(name)))
            continue
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        entry["load_balancer_ip"] = next((i.get("ip") for i in ingress if i.get("ip")), None)
        entry["external_traffic_policy"] = (svc.get("spec") or {}).get("externalTrafficPolicy", "Cluster")
        for sl in slices.get((ns, name), []):
            for ep in sl.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                for ip in ep.get("addresses") or []:
                    entry["endpoints"].append({"ip": ip, "node": ep.get("nodeName")})
        raw["services"].append(entry)
    # a holder recorded only as the node label (status.host not written): that node
    for entry in raw["services"]:
        if not entry["host"]:
            label = LABEL % (entry["namespace"], entry["name"])
            named = sorted(by_kind.get("Node", []), key=lambda n: str(_meta(n).get("name")))
            entry["host"] = next((_meta(n).get("name") for n in named
                                  if label in (_meta(n).get("labels") or {})), None)
    for node in by_kind.get("Node", []):
        meta = _meta(node)
        status = node.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        host_ips = [a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"]
        raw["nodes"].append({"name": meta.get("name"), "labels": dict(meta.get("labels") or {}), "ready": ready,
                             "host_ips": host_ips, "mgmt_ips": _mgmt_ips(node)})
    return raw


# ---------------------------------------------------------------- typed intent
class Node:
    def __init__(self, name):
        self.name = name
        self.host_ips = []
        self.mgmt_ips = {}          # family -> str
        self.labels = {}
        self.ready = True
        self.reachable = True


class Service:
    def __init__(self, namespace, name):
        self.namespace, self.name = namespace, name
        self.lb_ip = None
        self.source_ip_by = "LoadBalancerIP"
        self.selector = {}
        self.network = None
        self.etp = "Cluster"
        self.endpoints = []          # [(ip str, version, node name or None)]
        self.host = None

    @property
    def key(self):
        return "%s/%s" % (self.namespace, self.name)

    @property
    def label(self):
        return LABEL % (self.namespace, self.name)


def _ip(value, where, problems, version=None):
    try:
        return addr.parse_ip(value, where, version)
    except addr.AddrError as exc:
        problems.append(str(exc))
        return None


def _selector(value, where, problems):
    """{matchLabels: {}, matchExpressions: [{key, operator, values}]} checked."""
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - {"matchLabels", "matchExpressions"}:
        problems.append("%s: %s is not a label selector (matchLabels, matchExpressions)" % (where, addr.show(value)))
        return {}
    labels = value.get("matchLabels") or {}
    if not isinstance(labels, dict) or any(not isinstance(v, str) for v in labels.values()):
        problems.append("%s.matchLabels: %s is not a mapping of strings" % (where, addr.show(labels)))
        labels = {}
    exprs = []
    for i, e in enumerate(value.get("matchExpressions") or []):
        op = e.get("operator") if isinstance(e, dict) else None
        if op not in ("In", "NotIn", "Exists", "DoesNotExist") or not isinstance(e.get("key"), str):
            problems.append("%s.matchExpressions[%d]: %s is not {key, operator In|NotIn|Exists|DoesNotExist, values}"
                            % (where, i, addr.show(e)))
            continue
        exprs.append((e["key"], op, list(e.get("values") or [])))
    return {"labels": dict(labels), "exprs": exprs}


def selects(selector, labels):
    for k, v in selector.get("labels", {}).items():
        if labels.get(k) != v:
            return False
    for key, op, values in selector.get("exprs", []):
        has = key in labels
        if (op == "In" and (not has or labels[key] not in values)) or (op == "NotIn" and has and labels[key] in values) \
                or (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return True


def build(raw):
    """(services, nodes by name, problems): every problem of the intent at once."""
    problems = list(raw.get("problems") or [])
    nodes = {}
    for i, entry in enumerate(raw.get("nodes") or []):
        name = entry.get("name")
        where = "nodes[%s]" % (addr.show(name) if isinstance(name, str) and name else "#%d" % i)
        if not isinstance(name, str) or not name:
            problems.append("%s.name: %s is not a node name" % (where, addr.show(name)))
            continue
        if name in nodes:
            problems.append("%s: listed twice" % where)
            continue
        node = Node(name)
        for j, value in enumerate(entry.get("host_ips") or []):
            ip = _ip(value, "%s.host_ips[%d]" % (where, j), problems)
            if ip is not None:
                node.host_ips.append(str(ip))
        for j, value in enumerate(entry.get("mgmt_ips") or []):
            ip = _ip(value, "%s.mgmt_ips[%d]" % (where, j), problems)
            if ip is not None:
                if ip.version in node.mgmt_ips:
                    problems.append("%s.mgmt_ips[%d]: %s is a second IPv%d management-port IP"
                                    % (where, j, ip, ip.version))
                node.mgmt_ips[ip.version] = str(ip)
        labels = entry.get("labels") or {}
        if not isinstance(labels, dict):
            problems.append("%s.labels: %s is not a mapping" % (where, addr.show(labels)))
            labels = {}
        node.labels = dict((str(k), "" if v is None else str(v)) for k, v in labels.items())
        for flag in ("ready", "reachable"):
            value = entry.get(flag, True)
            if not isinstance(value, bool):
                problems.append("%s.%s: %s is not true or false" % (where, flag, addr.show(value)))
            setattr(node, flag, value is True)
        nodes[name] = node

    services, seen_ep = [], {}
    for i, entry in enumerate(raw.get("services") or []):
        ns, name = entry.get("namespace"), entry.get("name")
        if not all(isinstance(v, str) and v for v in (ns, name)):
            problems.append("egress_services[#%d]: namespace %s and name %s are not both names"
                            % (i, addr.show(ns), addr.show(name)))
            continue
        svc = Service(ns, name)
        where = "egress_services[%s]" % svc.key
        if any(s.key == svc.key for s in services):
            problems.append("%s: listed twice" % where)
            continue
        svc.source_ip_by = entry.get("source_ip_by") or "LoadBalancerIP"
        if svc.source_ip_by not in SOURCE_IP_BY:
            problems.append("%s.source_ip_by: %s is not one of %s"
                            % (where, addr.show(svc.source_ip_by), ", ".join(SOURCE_IP_BY)))
        svc.etp = entry.get("external_traffic_policy") or "Cluster"
        if svc.etp not in ETP:
            problems.append("%s.external_traffic_policy: %s is not one of %s"
                            % (where, addr.show(svc.etp), ", ".join(ETP)))
        svc.selector = _selector(entry.get("node_selector"), where + ".node_selector", problems)
        svc.network = entry.get("network") or None
        if svc.source_ip_by == "Network" and not svc.network:
            problems.append("%s.network: %s is needed with source_ip_by Network (a routing table)"
                            % (where, addr.show(entry.get("network"))))
        if svc.source_ip_by != "Network":
            lb = entry.get("load_balancer_ip")
            ip = _ip(lb, where + ".load_balancer_ip", problems) if lb is not None else None
            if lb is None:
                problems.append("%s.load_balancer_ip: null; the Service has no LoadBalancer ingress IP" % where)
            svc.lb_ip = ip
        host = entry.get("host")
        svc.host = host if isinstance(host, str) and host not in ("", "ALL") else None
        for j, ep in enumerate(_list(entry.get("endpoints"), where + ".endpoints", problems)):
            ep_where = "%s.endpoints[%d]" % (where, j)
            if isinstance(ep, str):
                ep = {"ip": ep}
            if not isinstance(ep, dict):
                problems.append("%s: %s is not {ip, node}" % (ep_where, addr.show(ep)))
                continue
            ip = _ip(ep.get("ip"), ep_where + ".ip", problems)
            node = ep.get("node")
            if node is not None and node not in nodes:
                problems.append("%s.node: %s is not a known node" % (ep_where, addr.show(node)))
            if ip is None:
                continue
            if svc.lb_ip is not None and ip.version != svc.lb_ip.version:
                problems.append("%s.ip: %s is IPv%d, the LB IP %s is IPv%d (one SNAT per family)"
                                % (ep_where, ip, ip.version, svc.lb_ip, svc.lb_ip.version))
            if str(ip) in seen_ep and seen_ep[str(ip)] != svc.key:
                problems.append("%s.ip: %s is also an endpoint of %s" % (ep_where, ip, seen_ep[str(ip)]))
            seen_ep[str(ip)] = svc.key
            svc.endpoints.append((str(ip), ip.version, node))
        services.append(svc)
    return services, nodes, problems


# ---------------------------------------------------------------- assignment
def candidates(svc, nodes):
    """(eligible node names, {node: why not}) for one service."""
    hosting = set(n for _ip, _v, n in svc.endpoints if n)
    ok, why = [], {}
    families = set(v for _ip, v, _n in svc.endpoints)
    for name in sorted(nodes):
        node = nodes[name]
        if not selects(svc.selector, node.labels):
            why[name] = "does not match the nodeSelector"
        elif not node.ready:
            why[name] = "not Ready"
        elif not node.reachable:
            why[name] = "not reachable"
        elif svc.etp == "Local" and name not in hosting:
            why[name] = "hosts no endpoint (ExternalTrafficPolicy Local)"
        elif any(v not in node.mgmt_ips for v in families):
            why[name] = "has no IPv%s management-port IP" % "/".join(str(v) for v in sorted(families - set(node.mgmt_ips)))
        else:
            ok.append(name)
    return ok, why


def assign(services, nodes, previous=None):
    """{service key: {"host": node or None, "state": held|kept|moved|no-holder|network, "reason"}}.

    ``previous`` {service key: node} (a label or status.host of an earlier run) beats a
    service's own ``host``; a holder that is still eligible keeps the service."""
    previous = dict(previous or {})
    out, load = {}, dict((n, 0) for n in nodes)
    todo = []
    for svc in sorted(services, key=lambda s: s.key):
        if svc.source_ip_by == "Network":
            out[svc.key] = {"host": None, "state": "network", "reason": "sourceIPBy Network: no single holder"}
            continue
        ok, why = candidates(svc, nodes)
        was = previous.get(svc.key) or svc.host
        if was in ok:
            out[svc.key] = {"host": was, "state": "kept", "reason": "%s still eligible" % was}
            load[was] += 1
        else:
            todo.append((svc, ok, why, was))
    for svc, ok, why, was in todo:
        if not ok:
            reasons = "; ".join("%s %s" % kv for kv in sorted(why.items())) or "no nodes"
            out[svc.key] = {"host": None, "state": "no-holder", "reason": "no eligible node: %s" % reasons}
            continue
        best = min(ok, key=lambda n: (load[n], n))
        load[best] += 1
        state = "moved" if was else "held"
        reason = "fewest allocations among %s" % ", ".join(ok)
        if was:
            reason = "%s %s; %s" % (was, why.get(was, "is not a node"), reason)
        out[svc.key] = {"host": best, "state": state, "reason": reason}
    return out


def previous_from_labels(services, labels):
    """{service key: node} from recorded node labels {node: [label, ...] or {label: value}}."""
    out = {}
    for svc in services:
        for node in sorted(labels or {}):
            if svc.label in (labels[node] or ()):
                out[svc.key] = node
                break
    return out


def plan(raw, previous=None, fail_closed=False, labels=None):
    """Everything at once: {"problems": [...]} when the intent is wrong (nothing rendered),
    else {"services": [report rows], "nb_policies": [...], "nodes": {...}}. The holder of an
    earlier run: ``previous`` {service: node}, else the node whose recorded ``labels`` carry the
    service's label, else the service's own ``host``."""
    services, nodes, problems = build(raw)
    if problems:
        return {"problems": problems}
    previous = dict(previous_from_labels(services, labels), **(previous or {}))
    assignment = assign(services, nodes, previous)
    out = layout_ovn.render(services, nodes, assignment, fail_closed)
    out["problems"] = []
    # the holder labels to set ("") and to remove (None) on the Nodes, only for the services of
    # this intent (a label of another service is never touched)
    changes = {}
    for svc in services:
        if svc.source_ip_by == "Network":
            continue
        for name, node in nodes.items():
            want, have = assignment[svc.key]["host"] == name, svc.label in node.labels
            if want != have:
                changes.setdefault(name, {})[svc.label] = "" if want else None
    out["label_changes"] = changes
    out["services"] = [{"service": s.key, "source_ip_by": s.source_ip_by,
                        "load_balancer_ip": str(s.lb_ip) if s.lb_ip is not None else None,
                        "host": assignment[s.key]["host"], "state": assignment[s.key]["state"],
                        "reason": assignment[s.key]["reason"], "label": s.label,
                        "endpoints": [{"ip": ip, "node": n} for ip, _v, n in s.endpoints],
                        "egress": ("LB IP via %s" % assignment[s.key]["host"]) if assignment[s.key]["host"]
                        else "network %s" % s.network if s.source_ip_by == "Network"
                        else "dropped (fail closed)" if fail_closed else "node IPs (no holder)"}
                       for s in sorted(services, key=lambda s: s.key)]
    return out
