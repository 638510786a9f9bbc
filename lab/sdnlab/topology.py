"""The lab's address plan: nodes, projects (NetNamespaces), pods, the external host.

Only documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and the pod
network 10.128.0.0/14 are used, and only inside `sdnlab-*` network namespaces, except the
management bridge in the root namespace (203.0.113.128/25, no forwarding into the lab).
"""
import ipaddress
import os

PREFIX = "sdnlab-"

# repo root = two levels above this package (lab/sdnlab -> repo); state lives in .cache/lab
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
STATE_DIR = os.environ.get("SDNLAB_STATE_DIR") or os.path.join(REPO_ROOT, ".cache", "lab")
INVENTORY_DIR = os.path.join(REPO_ROOT, "inventories", "lab")

CLUSTER_CIDR = "10.128.0.0/14"
POD_MTU = 1450
UNDERLAY_NET = "192.0.2.0/24"
EGRESS_NET = "198.51.100.0/24"          # the routers' second interface (eth1, like ens19)
EXTERNAL_NET = "203.0.113.0/25"         # behind the ext router
MGMT_NET = "203.0.113.128/25"           # management link: root namespace <-> node sshd only
MGMT_ROOT_IP = "203.0.113.129"
MGMT_BRIDGE = "sdnlab-mgmt"             # in the root namespace

EXT_NS = PREFIX + "ext"
SRV_NS = PREFIX + "srv"
SWITCH_NS = PREFIX + "sw"
EXT_UNDERLAY_IP = "192.0.2.254"
EXT_EGRESS_IP = "198.51.100.254"
EXT_SERVER_GW = "203.0.113.1"
SERVER_IP = "203.0.113.10"
SERVER_PORT = 8080

# lab-only shim carrying OVS pkt_mark to the kernel: eth_src = 0e:6d:<mark, 32 bits>
SHIM_MAC_PREFIX = 0x0E6D
LAB_COOKIE = "0x1ab"                    # cookie of the lab's own (simulated SDN) flows

# Which openshift-sdn the lab simulates (lab/README.md): sdn3 = 3.x-4.7 (egress flows in table
# 100, tun0 an internal port), sdn48 = 4.8+ (tables 99/100/101, select groups; tun0 a patch port
# into the lab-only bridge SHIM_BRIDGE, whose internal port GATEWAY_IF[layout] holds the gateway).
LAYOUTS = ("sdn3", "sdn48")
DEFAULT_LAYOUT = "sdn3"
SHIM_BRIDGE = "br-shim"
SHIM_PATCH = "shim0"                    # br-shim's end of the tun0 patch (ofport 1)
GATEWAY_IF = {"sdn3": "tun0", "sdn48": "tun0gw"}   # the node kernel's side of tun0


class Node:
    def __init__(self, name, index, host_ip, subnet, mgmt_ip, eth1=None):
        self.name = name
        self.index = index
        self.host_ip = host_ip
        self.subnet = subnet
        self.mgmt_ip = mgmt_ip
        self.eth1 = eth1                  # "198.51.100.12/24" on egress-capable nodes
        net = ipaddress.ip_network(subnet)
        self.gateway = str(net.network_address + 1)
        self.netns = PREFIX + name
        self.dir = os.path.join(STATE_DIR, name)
        self.ovs_rundir = os.path.join(self.dir, "ovs")
        self.mgmt_root_if = "sdnlab-m%d" % index

    def pod_ip(self, slot):
        return str(ipaddress.ip_network(self.subnet).network_address + 10 + slot)

    def __repr__(self):
        return "Node(%s)" % self.name


class Project:
    def __init__(self, name, vnid, nodes):
        self.name = name
        self.vnid = vnid
        self._nodes = nodes               # node names with one pod of this project, None: all

    @property
    def nodes(self):
        return [n.name for n in NODES] if self._nodes is None else list(self._nodes)


class Pod:
    def __init__(self, project, node, slot):
        self.project = project
        self.node = node
        self.slot = slot
        self.ip = node.pod_ip(slot)
        octets = [int(o) for o in self.ip.split(".")]
        self.mac = "0a:58:%02x:%02x:%02x:%02x" % tuple(octets)   # as openshift-sdn derives it
        self.ofport = 3 + slot
        self.host_if = "veth%d" % slot                            # in the node namespace
        self.netns = "%spod-%s-%s" % (PREFIX, project.name, node.name)
        self.name = "%s-%s" % (project.name, node.name)


NAMED_NODES = [
    Node("master01", 1, "192.0.2.11", "10.128.0.0/23", "203.0.113.131"),
    Node("router01", 2, "192.0.2.12", "10.129.0.0/23", "203.0.113.132", eth1="198.51.100.12/24"),
    Node("router02", 3, "192.0.2.13", "10.130.0.0/23", "203.0.113.133", eth1="198.51.100.13/24"),
]

# Extra nodes (`lab.py up --nodes K`, K > 3): node04 .. nodeK, index i = 4..K. Each is an
# egress-capable worker like the routers: node IP 192.0.2.(10+i), eth1 198.51.100.(10+i),
# management 203.0.113.(130+i), pod subnet 10.128.(2*(i-3)).0/23 (the /23s after master01's
# inside 10.128.0.0/16, clear of router01/router02's 10.129/10.130 and of 10.131.0.0/16, the
# OVN lab's pod network). MAX_NODES keeps the node IPs below the egress IPs the tests use
# (192.0.2.50 and up) and eth1 below 198.51.100.50 (and the OVN lab's 198.51.100.64/27).
DEFAULT_NODES = len(NAMED_NODES)
MAX_NODES = 39
NODES_FILE = os.path.join(STATE_DIR, "nodes")
# the extra nodes' part of the lab inventory, written by `lab.py up --nodes K` (K > 3) next to
# hosts.yml so that `-i inventories/lab` lists every node (git-ignored; removed by `down`)
GENERATED_INVENTORY = os.path.join(INVENTORY_DIR, "generated_nodes.yml")


def extra_node(index):
    if not DEFAULT_NODES < index <= MAX_NODES:
        raise ValueError("extra node index must be %d..%d, not %r" % (DEFAULT_NODES + 1, MAX_NODES, index))
    return Node("node%02d" % index, index, "192.0.2.%d" % (10 + index), "10.128.%d.0/23" % (2 * (index - 3)),
                "203.0.113.%d" % (130 + index), eth1="198.51.100.%d/24" % (10 + index))


def check_node_count(count):
    if not isinstance(count, int) or isinstance(count, bool) or not DEFAULT_NODES <= count <= MAX_NODES:
        raise ValueError("the lab has %d..%d nodes, not %r" % (DEFAULT_NODES, MAX_NODES, count))
    return count


NODES = []
NODE_BY_NAME = {}


def configure(count):
    """Make the plan describe a lab of `count` nodes: the three named ones, then node04..
    (NODES and NODE_BY_NAME change in place, so every importer sees the new plan)."""
    check_node_count(count)
    NODES[:] = NAMED_NODES + [extra_node(i) for i in range(DEFAULT_NODES + 1, count + 1)]
    NODE_BY_NAME.clear()
    NODE_BY_NAME.update((n.name, n) for n in NODES)
    return NODES


def recorded_node_count():
    """The node count the lab in STATE_DIR was built with (3 when none is recorded)."""
    try:
        with open(NODES_FILE) as f:
            return check_node_count(int(f.read().strip()))
    except (OSError, ValueError):
        return DEFAULT_NODES


configure(recorded_node_count())

ALL_NODES = None                          # Project.nodes: a pod on every node of the lab
PROJECTS = [
    Project("egress-test", 7305526, ALL_NODES),
    Project("egress-test2", 14640467, ALL_NODES),
    Project("egress-test3", 3064846, ALL_NODES),
    Project("plain", 1234567, ["master01", "router01"]),
]
PROJECT_BY_NAME = {p.name: p for p in PROJECTS}


def pods():
    out = []
    for slot, project in enumerate(PROJECTS):
        for node_name in project.nodes:
            out.append(Pod(project, NODE_BY_NAME[node_name], slot))
    return out


def pods_on(node):
    return [p for p in pods() if p.node is node]


def all_netns():
    """Every namespace name the lab creates, in creation order."""
    return [SWITCH_NS, EXT_NS, SRV_NS] + [n.netns for n in NODES] + [p.netns for p in pods()]
