"""The lab's simulated openshift-sdn (3.x layout): br0 base flows and the SDN's iptables chains.

Tables (a reduced openshift-sdn pipeline):
    0    classify: from vxlan0 copy tun_id -> reg0; from tun0 reg0 = 0; from pods -> 20
    20   per pod: ip/arp from the pod's port and address -> reg0 = project VNID
    30   routing: gateway -> tun0, local pods -> 40/70, other nodes' subnets -> 50/90, rest -> 100
    40   ARP to local pods          50   ARP to other nodes over VXLAN
    70   IP to local pods           90   IP to other nodes over VXLAN (tun_id = reg0)
    100  egress: static SDN flows only (udp/4789 drop, DNS, goto 101); the collection adds
         its per-namespace flows here (priority 100, cookie 0x65677265)
    101  output:2 (tun0) - plus the LAB-ONLY pkt_mark shim (cookie LAB_COOKIE)

pkt_mark shim (lab only, never in product flows): the userspace datapath does not hand
pkt_mark to the kernel through the tap, so table 101 copies a non-zero pkt_mark into the low 32
bits of eth_src (prefix 0e:6d) and a mangle PREROUTING rule on tun0 (classic-BPF matches on the
link-layer header) rebuilds the skb mark bit by bit before nat POSTROUTING sees it.
"""
from . import topology as topo

VXLAN_PORT = 1
TUN0_PORT = 2


def base_flows(node):
    """Flow lines (ovs-ofctl add-flows format) for `node`'s br0."""
    c = "cookie=%s," % topo.LAB_COOKIE
    cc = topo.CLUSTER_CIDR
    f = []
    # table 0: classification
    f.append(c + "table=0,priority=200,in_port=%d,arp,actions=move:NXM_NX_TUN_ID[0..31]->NXM_NX_REG0[],goto_table:30" % VXLAN_PORT)
    f.append(c + "table=0,priority=200,in_port=%d,ip,nw_src=%s,actions=move:NXM_NX_TUN_ID[0..31]->NXM_NX_REG0[],goto_table:30" % (VXLAN_PORT, cc))
    # return traffic of egress IPs comes back tunnelled from the egress node (nw_src external)
    f.append(c + "table=0,priority=200,in_port=%d,ip,nw_dst=%s,actions=move:NXM_NX_TUN_ID[0..31]->NXM_NX_REG0[],goto_table:30" % (VXLAN_PORT, cc))
    f.append(c + "table=0,priority=150,in_port=%d,actions=drop" % VXLAN_PORT)
    f.append(c + "table=0,priority=200,in_port=%d,arp,actions=load:0->NXM_NX_REG0[],goto_table:30" % TUN0_PORT)
    f.append(c + "table=0,priority=200,in_port=%d,ip,actions=load:0->NXM_NX_REG0[],goto_table:30" % TUN0_PORT)
    f.append(c + "table=0,priority=100,actions=goto_table:20")
    f.append(c + "table=0,priority=0,actions=drop")
    # table 20: pods -> VNID
    for pod in topo.pods_on(node):
        load = "load:%d->NXM_NX_REG0[]" % pod.project.vnid
        f.append(c + "table=20,priority=100,in_port=%d,arp,arp_spa=%s,arp_sha=%s,actions=%s,goto_table:30"
                 % (pod.ofport, pod.ip, pod.mac, load))
        f.append(c + "table=20,priority=100,in_port=%d,ip,nw_src=%s,actions=%s,goto_table:30" % (pod.ofport, pod.ip, load))
    f.append(c + "table=20,priority=0,actions=drop")
    # table 30: routing
    f.append(c + "table=30,priority=300,arp,arp_tpa=%s,actions=output:%d" % (node.gateway, TUN0_PORT))
    f.append(c + "table=30,priority=300,ip,nw_dst=%s,actions=output:%d" % (node.gateway, TUN0_PORT))
    f.append(c + "table=30,priority=200,arp,arp_tpa=%s,actions=goto_table:40" % node.subnet)
    f.append(c + "table=30,priority=200,ip,nw_dst=%s,actions=goto_table:70" % node.subnet)
    f.append(c + "table=30,priority=100,arp,arp_tpa=%s,actions=goto_table:50" % cc)
    f.append(c + "table=30,priority=100,ip,nw_dst=%s,actions=goto_table:90" % cc)
    f.append(c + "table=30,priority=0,ip,actions=goto_table:100")
    f.append(c + "table=30,priority=0,arp,actions=drop")
    # tables 40/70: local pods
    for pod in topo.pods_on(node):
        f.append(c + "table=40,priority=100,arp,arp_tpa=%s,actions=output:%d" % (pod.ip, pod.ofport))
        f.append(c + "table=70,priority=100,ip,nw_dst=%s,actions=set_field:%s->eth_dst,output:%d"
                 % (pod.ip, pod.mac, pod.ofport))
    f.append(c + "table=40,priority=0,actions=drop")
    f.append(c + "table=70,priority=0,actions=drop")
    # tables 50/90: other nodes over VXLAN
    for other in topo.NODES:
        if other is node:
            continue
        tun = "move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:%s->tun_dst,output:%d" % (other.host_ip, VXLAN_PORT)
        f.append(c + "table=50,priority=100,arp,arp_tpa=%s,actions=%s" % (other.subnet, tun))
        f.append(c + "table=90,priority=100,ip,nw_dst=%s,actions=%s" % (other.subnet, tun))
    f.append(c + "table=50,priority=0,actions=drop")
    f.append(c + "table=90,priority=0,actions=drop")
    # table 100: the SDN's static egress flows (spec section 3)
    f.append(c + "table=100,priority=300,udp,tp_dst=4789,actions=drop")
    f.append(c + "table=100,priority=200,tcp,nw_dst=%s,tp_dst=53,actions=output:%d" % (node.host_ip, TUN0_PORT))
    f.append(c + "table=100,priority=200,udp,nw_dst=%s,tp_dst=53,actions=output:%d" % (node.host_ip, TUN0_PORT))
    f.append(c + "table=100,priority=0,actions=goto_table:101")
    # table 101: out to tun0 (+ the lab-only pkt_mark shim)
    f.append(c + "table=101,priority=0,actions=output:%d" % TUN0_PORT)
    f.extend(mark_shim_flows())
    return f


def mark_shim_flows():
    c = "cookie=%s," % topo.LAB_COOKIE
    return [
        c + "table=101,priority=51,ip,pkt_mark=0,actions=output:%d" % TUN0_PORT,
        c + "table=101,priority=50,ip,actions=move:NXM_NX_PKT_MARK[]->NXM_OF_ETH_SRC[0..31],"
            "load:0x%x->NXM_OF_ETH_SRC[32..47],output:%d" % (topo.SHIM_MAC_PREFIX, TUN0_PORT),
    ]


# ---------------------------------------------------------------- iptables
LL = 0xFFE00000            # SKF_LL_OFF: classic-BPF loads relative to the link-layer header


def _bpf_prefix_differs():
    # ldh [ll+6] (first two bytes of eth_src); jeq #prefix -> ret 0 else ret 1
    return "4,40 0 0 %d,21 0 1 %d,6 0 0 0,6 0 0 1" % (LL + 6, topo.SHIM_MAC_PREFIX)


def _bpf_bit_set(bit):
    byte = 11 - bit // 8           # eth_src bytes 8..11 carry the mark, big-endian
    return "4,48 0 0 %d,69 0 1 %d,6 0 0 1,6 0 0 0" % (LL + byte, 1 << (bit % 8))


def iptables_payload(node):
    """iptables-restore --noflush payload: openshift-sdn's chains + lab-only pieces."""
    cc = topo.CLUSTER_CIDR
    lines = ["*nat",
             ":OPENSHIFT-MASQUERADE - [0:0]",
             ":OPENSHIFT-MASQUERADE-2 - [0:0]",
             '-A POSTROUTING -m comment --comment "rules for masquerading OpenShift traffic" -j OPENSHIFT-MASQUERADE',
             '-A OPENSHIFT-MASQUERADE -s %s -m comment --comment "masquerade pod-to-external traffic" -j OPENSHIFT-MASQUERADE-2' % cc,
             '-A OPENSHIFT-MASQUERADE-2 -d %s -m comment --comment "masquerade pod-to-external traffic" -j RETURN' % cc,
             '-A OPENSHIFT-MASQUERADE-2 -j MASQUERADE',
             "COMMIT",
             "*filter",
             ":OPENSHIFT-FIREWALL-ALLOW - [0:0]",
             ":OPENSHIFT-FIREWALL-FORWARD - [0:0]",
             ":SDNLAB-MGMT-ISOLATION - [0:0]",
             '-A INPUT -m comment --comment "firewall overrides" -j OPENSHIFT-FIREWALL-ALLOW',
             '-A FORWARD -m comment --comment "sdnlab: no forwarding to/from the management link" -j SDNLAB-MGMT-ISOLATION',
             '-A FORWARD -m comment --comment "firewall overrides" -j OPENSHIFT-FIREWALL-FORWARD',
             '-A SDNLAB-MGMT-ISOLATION -i mgmt0 -j DROP',
             '-A SDNLAB-MGMT-ISOLATION -o mgmt0 -j DROP',
             '-A OPENSHIFT-FIREWALL-ALLOW -p udp -m udp --dport 4789 -m comment --comment "VXLAN incoming" -j ACCEPT',
             '-A OPENSHIFT-FIREWALL-ALLOW -i tun0 -m comment --comment "from SDN to localhost" -j ACCEPT',
             '-A OPENSHIFT-FIREWALL-FORWARD -s %s -m comment --comment "attempted resend after connection close" -m conntrack --ctstate INVALID -j DROP' % cc,
             '-A OPENSHIFT-FIREWALL-FORWARD -d %s -m comment --comment "forward traffic from SDN" -j ACCEPT' % cc,
             '-A OPENSHIFT-FIREWALL-FORWARD -s %s -m comment --comment "forward traffic to SDN" -j ACCEPT' % cc,
             "COMMIT",
             "*mangle",
             ":SDNLAB-MARK-SHIM - [0:0]",
             '-A PREROUTING -i tun0 -m comment --comment "sdnlab: lab-only pkt_mark shim" -j SDNLAB-MARK-SHIM',
             '-A SDNLAB-MARK-SHIM -m bpf --bytecode "%s" -j RETURN' % _bpf_prefix_differs()]
    for bit in range(32):
        lines.append('-A SDNLAB-MARK-SHIM -m bpf --bytecode "%s" -j MARK --or-mark 0x%x' % (_bpf_bit_set(bit), 1 << bit))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def iptables_cmd(backend, tool="iptables"):
    """iptables / iptables-restore / iptables-save binary for a backend (nft or legacy)."""
    if backend not in ("nft", "legacy"):
        raise ValueError("iptables backend must be nft or legacy, not %r" % backend)
    if tool == "iptables":
        return "iptables-%s" % backend
    return "iptables-%s-%s" % (backend, tool.split("-", 1)[1])
