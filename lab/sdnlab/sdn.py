"""The lab's simulated openshift-sdn: br0 base flows and the SDN's iptables chains, in the 3.x
layout (`sdn3`) or the 4.8+ layout (`sdn48`, spec section 3b).

Tables (a reduced openshift-sdn pipeline):
    0    classify: from vxlan0 copy tun_id -> reg0; from tun0 reg0 = 0; from pods -> 20
         (sdn48 first sends every IP packet through conntrack: ct(table=0), as 4.8 does)
    20   per pod: ip/arp from the pod's port and address -> reg0 = project VNID
    30   routing: gateway -> tun0, local pods -> 40/70, other nodes' subnets -> 50/90,
         rest -> 100 (sdn3) or 99 (sdn48)
    40   ARP to local pods          50   ARP to other nodes over VXLAN
    70   IP to local pods           90   IP to other nodes over VXLAN (tun_id = reg0)
  sdn3:
    100  egress: static SDN flows only (udp/4789 drop, DNS, goto 101); the collection adds
         its per-namespace flows here (priority 100, cookie 0x65677265)
    101  output:2 (tun0) - plus the LAB-ONLY pkt_mark shim (cookie LAB_COOKIE)
  sdn48:
    99   DNS exceptions (and udp/4789 drop), then goto 100
    100  EgressNetworkPolicy (none in the lab): goto 101
    101  egress routing: priority 150 ct_state=+rpl -> tun0, priority 0 -> tun0; the collection
         adds `ip,reg0=<vnid>` flows at priority 100 (cookie 0x65677265) and select groups

pkt_mark shim (lab only, never in product flows): the userspace datapath does not hand
pkt_mark to the kernel through the tap, so a lab flow copies a non-zero pkt_mark into the low
32 bits of eth_src (prefix 0e:6d) and a mangle PREROUTING rule on the gateway interface
(classic-BPF matches on the link-layer header) rebuilds the skb mark bit by bit before nat
POSTROUTING sees it. sdn3: the copy is in table 101, where the product's mark flow goes
(goto_table:101). sdn48: the product's group bucket outputs to tun0 itself, so tun0 is a patch
port into the lab-only bridge br-shim (patch ports keep pkt_mark), where the copy happens on
the way to the internal port tun0gw that holds the gateway address and the MAC tun0 reports.
"""
from . import topology as topo

VXLAN_PORT = 1
TUN0_PORT = 2
SHIM_PATCH_PORT = 1         # br-shim: the peer of br0's tun0 patch port
SHIM_GATEWAY_PORT = 2       # br-shim: the internal port holding the gateway address (tun0gw)


def check_layout(layout):
    if layout not in topo.LAYOUTS:
        raise ValueError("layout must be one of %s, not %r" % (", ".join(topo.LAYOUTS), layout))
    return layout


def base_flows(node, layout=topo.DEFAULT_LAYOUT):
    """Flow lines (ovs-ofctl add-flows format) for `node`'s br0 in `layout`."""
    check_layout(layout)
    c = "cookie=%s," % topo.LAB_COOKIE
    cc = topo.CLUSTER_CIDR
    f = []
    # table 0: classification
    if layout == "sdn48":
        # every IP packet is tracked before it is classified, so that table 101's
        # ct_state=+rpl flow sees replies (the product's ct(commit) commits the pod's side)
        f.append(c + "table=0,priority=1000,ip,ct_state=-trk,actions=ct(table=0)")
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
    f.append(c + "table=30,priority=0,ip,actions=goto_table:%d" % (100 if layout == "sdn3" else 99))
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
    if layout == "sdn3":
        # table 100: the SDN's static egress flows (spec section 3)
        f.append(c + "table=100,priority=300,udp,tp_dst=4789,actions=drop")
        f.append(c + "table=100,priority=200,tcp,nw_dst=%s,tp_dst=53,actions=output:%d" % (node.host_ip, TUN0_PORT))
        f.append(c + "table=100,priority=200,udp,nw_dst=%s,tp_dst=53,actions=output:%d" % (node.host_ip, TUN0_PORT))
        f.append(c + "table=100,priority=0,actions=goto_table:101")
        # table 101: out to tun0 (+ the lab-only pkt_mark shim)
        f.append(c + "table=101,priority=0,actions=output:%d" % TUN0_PORT)
        f.extend(mark_shim_flows())
        return f
    # sdn48 (spec section 3b): 99 DNS exceptions, 100 EgressNetworkPolicy, 101 egress routing
    f.append(c + "table=99,priority=300,udp,tp_dst=4789,actions=drop")
    f.append(c + "table=99,priority=200,tcp,nw_dst=%s,tp_dst=53,actions=output:%d" % (node.host_ip, TUN0_PORT))
    f.append(c + "table=99,priority=200,udp,nw_dst=%s,tp_dst=53,actions=output:%d" % (node.host_ip, TUN0_PORT))
    f.append(c + "table=99,priority=0,actions=goto_table:100")
    f.append(c + "table=100,priority=0,actions=goto_table:101")
    f.append(c + "table=101,priority=150,ct_state=+rpl,actions=output:%d" % TUN0_PORT)
    f.append(c + "table=101,priority=0,actions=output:%d" % TUN0_PORT)
    return f


def shim_bridge_flows():
    """sdn48, LAB ONLY: flows of br-shim, between br0's tun0 (a patch port) and the kernel's
    gateway interface. Towards the kernel a non-zero pkt_mark is copied into eth_src (the mangle
    chain rebuilds the skb mark from it); towards br0 everything passes unchanged."""
    c = "cookie=%s," % topo.LAB_COOKIE
    return [
        c + "table=0,priority=200,in_port=%d,ip,pkt_mark=0,actions=output:%d" % (SHIM_PATCH_PORT, SHIM_GATEWAY_PORT),
        c + "table=0,priority=150,in_port=%d,ip,actions=move:NXM_NX_PKT_MARK[]->NXM_OF_ETH_SRC[0..31],"
            "load:0x%x->NXM_OF_ETH_SRC[32..47],output:%d" % (SHIM_PATCH_PORT, topo.SHIM_MAC_PREFIX, SHIM_GATEWAY_PORT),
        c + "table=0,priority=100,in_port=%d,actions=output:%d" % (SHIM_PATCH_PORT, SHIM_GATEWAY_PORT),
        c + "table=0,priority=100,in_port=%d,actions=output:%d" % (SHIM_GATEWAY_PORT, SHIM_PATCH_PORT),
        c + "table=0,priority=0,actions=drop",
    ]


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


def iptables_payload(node, layout=topo.DEFAULT_LAYOUT):
    """iptables-restore --noflush payload: openshift-sdn's chains + lab-only pieces. The rules
    openshift-sdn writes for tun0 name the kernel's gateway interface of the layout."""
    gw = topo.GATEWAY_IF[check_layout(layout)]
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
             '-A OPENSHIFT-FIREWALL-ALLOW -i %s -m comment --comment "from SDN to localhost" -j ACCEPT' % gw,
             '-A OPENSHIFT-FIREWALL-FORWARD -s %s -m comment --comment "attempted resend after connection close" -m conntrack --ctstate INVALID -j DROP' % cc,
             '-A OPENSHIFT-FIREWALL-FORWARD -d %s -m comment --comment "forward traffic from SDN" -j ACCEPT' % cc,
             '-A OPENSHIFT-FIREWALL-FORWARD -s %s -m comment --comment "forward traffic to SDN" -j ACCEPT' % cc,
             "COMMIT",
             "*mangle",
             ":SDNLAB-MARK-SHIM - [0:0]",
             '-A PREROUTING -i %s -m comment --comment "sdnlab: lab-only pkt_mark shim" -j SDNLAB-MARK-SHIM' % gw,
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
