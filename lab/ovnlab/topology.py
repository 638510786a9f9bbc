"""The OVN lab's address plan: nodes, pods, services, the external host.

Everything lives inside `ovnlab-*` network namespaces (nothing in the root namespace but the
OVN central databases' unix sockets under the state directory), so the lab runs next to the
openshift-sdn lab (`sdnlab-*`). The addresses are still chosen apart from that lab's:
  underlay        198.51.100.64/27   nodes .65-.67, the external router .94
  LoadBalancer    198.51.100.112/28  LB ingress IPs, routed by the router to the holder node
  external server 203.0.113.96/28    the echo server at 203.0.113.100 (behind the router)
  pod network     10.131.0.0/16      node subnets 10.131.<n>.0/24: .1 router port, .2 management
                                     port k8s-<node>, pods from .10 (only inside namespaces)
With `up --ipv6` the lab is dual-stack (IPv4 underlay for Geneve):
  underlay        2001:db8:64::/64   nodes ::65-::67, router ::94
  LoadBalancer    2001:db8:113::/64  the IPv6 service six/web6 at 2001:db8:113::1
  external server 2001:db8:100::/64  the echo server at 2001:db8:100::100
  pod network     fd00:131::/48      node subnets fd00:131:0:<n>::/64 (::1 router, ::2 management)
"""
import ipaddress
import os

PREFIX = "ovnlab-"
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
STATE_DIR = os.environ.get("OVNLAB_STATE_DIR") or os.path.join(REPO_ROOT, ".cache", "ovnlab")
LOCK_FILE = "/tmp/ovnlab-dev.lock"

CLUSTER_CIDR = "10.131.0.0/16"
UNDERLAY_NET = "198.51.100.64/27"
LB_NET = "198.51.100.112/28"
SERVER_NET = "203.0.113.96/28"
EXT_UNDERLAY_IP = "198.51.100.94"
EXT_SERVER_GW = "203.0.113.97"
SERVER_IP = "203.0.113.100"
SERVER_PORT = 8080
CLUSTER_CIDR6 = "fd00:131::/48"
EXT_UNDERLAY_IP6 = "2001:db8:64::94"
EXT_SERVER_GW6 = "2001:db8:100::97"
SERVER_IP6 = "2001:db8:100::100"
# Geneve adds 58 bytes on the 1500-byte underlay
POD_MTU = 1400

SWITCH_NS = PREFIX + "sw"
EXT_NS = PREFIX + "ext"
SRV_NS = PREFIX + "srv"

ROUTER = "ovn_cluster_router"


class Node:
    def __init__(self, name, index, labels=None):
        self.name = name
        self.index = index
        self.host_ip = "198.51.100.%d" % (64 + index)
        self.subnet = "10.131.%d.0/24" % index
        net = ipaddress.ip_network(self.subnet)
        self.router_ip = str(net.network_address + 1)
        self.mgmt_ip = str(net.network_address + 2)      # OVN-K: .2 of the node subnet
        self.router_mac = "0a:58:0a:83:%02x:01" % index
        self.mgmt_mac = "0a:58:0a:83:%02x:02" % index
        self.labels = dict(labels or {})
        self.host_ip6 = "2001:db8:64::%d" % (64 + index)
        self.subnet6 = "fd00:131:0:%d::/64" % index
        self.router_ip6 = "fd00:131:0:%d::1" % index
        self.mgmt_ip6 = "fd00:131:0:%d::2" % index
        self.netns = PREFIX + name
        self.dir = os.path.join(STATE_DIR, name)
        self.ovs_rundir = os.path.join(self.dir, "ovs")
        self.mgmt_port = "k8s-%s" % name
        self.switch = name                                 # OVN-K names the node switch after the node

    def __repr__(self):
        return "Node(%s)" % self.name


class Pod:
    def __init__(self, namespace, name, node, slot):
        self.namespace = namespace
        self.name = name
        self.node = node
        self.slot = slot
        net = ipaddress.ip_network(node.subnet)
        self.ip = str(net.network_address + 10 + slot)
        octets = [int(o) for o in self.ip.split(".")]
        self.mac = "0a:58:%02x:%02x:%02x:%02x" % tuple(octets)
        self.ip6 = "fd00:131:0:%d::%x" % (node.index, 10 + slot)
        self.port = "%s_%s" % (namespace, name)           # OVN-K logical switch port name
        self.netns = "%spod-%s" % (PREFIX, name)
        self.host_if = "p%d" % slot                        # in the node namespace

    def __repr__(self):
        return "Pod(%s/%s@%s)" % (self.namespace, self.name, self.node.name)


class Service:
    """A LoadBalancer Service; `egress` is its EgressService spec (None: no EgressService)."""

    def __init__(self, namespace, name, lb_ip, selector, etp="Cluster", egress=None, family=4):
        self.family = family                              # 6: an IPv6 service (only with `up --ipv6`)
        self.namespace = namespace
        self.name = name
        self.lb_ip = lb_ip
        self.selector = selector                          # app label of its pods
        self.etp = etp
        self.egress = egress

    @property
    def key(self):
        return "%s/%s" % (self.namespace, self.name)


NODES = [
    Node("node1", 1, {"node-role.kubernetes.io/worker": ""}),
    Node("node2", 2, {"node-role.kubernetes.io/worker": "", "egress": "yes"}),
    Node("node3", 3, {"node-role.kubernetes.io/worker": "", "egress": "yes"}),
]
NODE_BY_NAME = {n.name: n for n in NODES}

# (namespace, pod name, app label, node)
_PODS = [
    ("shop", "web-a", "web", "node1"),
    ("shop", "web-b", "web", "node3"),
    ("bank", "api-a", "api", "node2"),
    ("plain", "app-a", "app", "node1"),
    ("six", "web6-a", "web6", "node1"),
]
PODS = [Pod(ns, name, NODE_BY_NAME[node], slot) for slot, (ns, name, _app, node) in enumerate(_PODS)]
POD_APP = {p.name: app for p, (_ns, _n, app, _node) in zip(PODS, _PODS)}

SERVICES = [
    Service("shop", "web", "198.51.100.113", "web", egress={"nodeSelector": {"matchLabels": {"egress": "yes"}}}),
    Service("bank", "api", "198.51.100.114", "api", etp="Local", egress={}),
    Service("plain", "app", "198.51.100.115", "app"),
    Service("six", "web6", "2001:db8:113::1", "web6", egress={"nodeSelector": {"matchLabels": {"egress": "yes"}}},
            family=6),
]


def services(ipv6=False):
    """The lab's services; the IPv6 one only in a dual-stack lab."""
    return [s for s in SERVICES if ipv6 or s.family == 4]


def endpoints(service):
    return [p for p in PODS if p.namespace == service.namespace and POD_APP[p.name] == service.selector]


def endpoint_ip(service, pod):
    return pod.ip6 if service.family == 6 else pod.ip


def pods_on(node):
    return [p for p in PODS if p.node is node]


def all_netns():
    return [SWITCH_NS, EXT_NS, SRV_NS] + [n.netns for n in NODES] + [p.netns for p in PODS]
