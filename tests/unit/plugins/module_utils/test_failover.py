# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of dataplane failover: the sdn3 layout's fast-failover mode (layout_sdn3.py), the
settings that choose it (model.py) and the monitor ports' names, numbers and plan (monitor.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sdn.egress.plugins.module_utils import monitor
from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError
from ansible_collections.sdn.egress.plugins.module_utils.ovs import group_line, parse_groups_text
from ansible_collections.sdn.egress.plugins.module_utils.plan import plan, validate
from ansible_collections.sdn.egress.plugins.module_utils.sources import from_inventory

TUNNEL = "move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:%s->tun_dst,output:1"
LOCAL = "set_field:%s->eth_dst,set_field:%s->pkt_mark,resubmit(,101)"
MAC = {"node-a": "0a:58:0a:80:00:00", "node-b": "0a:58:0a:80:00:01", "node-c": "0a:58:0a:80:00:02"}
HA = 0x2ec40e
ONE = 7305526
DATAPLANE = {"failover": "dataplane"}
OFPORTS = monitor.assign_ofports(["10.0.0.2", "10.0.0.3", "10.0.0.4"])
PORT = {"node-a": {"name": "sdne-0a000002", "ofport": OFPORTS["10.0.0.2"], "remote_ip": "10.0.0.2"},
        "node-b": {"name": "sdne-0a000003", "ofport": OFPORTS["10.0.0.3"], "remote_ip": "10.0.0.3"},
        "node-c": {"name": "sdne-0a000004", "ofport": OFPORTS["10.0.0.4"], "remote_ip": "10.0.0.4"}}


def facts(**overrides):
    result = dict((name, {"reachable": True, "tun0_mac": mac, "tun0_ofport": 2, "vxlan_ofport": 1})
                  for name, mac in MAC.items())
    for name, values in overrides.items():
        result[name.replace("_", "-")].update(values)
    return result


def raw(namespaces=None):
    namespaces = namespaces or [{"name": "ha", "netid": HA, "egress_ips": ["10.0.0.50", "10.0.0.60"]},
                                {"name": "one", "netid": ONE, "egress_ips": ["10.0.0.61"]},
                                {"name": "plain", "netid": 10}]
    nodes = [{"name": "node-a", "host_ip": "10.0.0.2/24", "egress_ips": ["10.0.0.50"]},
             {"name": "node-b", "host_ip": "10.0.0.3/24", "egress_ips": ["10.0.0.60", "10.0.0.61"]},
             {"name": "node-c", "host_ip": "10.0.0.4/24", "egress_ips": []}]
    return from_inventory(namespaces, nodes)


def remote(node):
    return {"watch_port": PORT[node]["ofport"], "actions": TUNNEL % PORT[node]["remote_ip"]}


def local(node, mark):
    return {"watch_port": 2, "actions": LOCAL % (MAC[node], mark)}


def ff(group_id, *buckets):
    return {"group_id": group_id, "type": "ff", "buckets": list(buckets)}


def flow(vnid, actions=None):
    return {"table": 100, "priority": 100, "match": "ip,reg0=0x%x" % vnid, "actions": actions or "group:%d" % vnid}


def test_every_node_gets_a_fast_failover_group_per_namespace_buckets_in_egress_ip_order():
    result = plan(raw(), facts(), DATAPLANE)
    assert result["problems"] == []
    nodes = result["nodes"]
    # a node without egress IPs: one remote bucket per egress node, in the namespace's order
    assert nodes["node-c"]["groups"] == [ff(HA, remote("node-a"), remote("node-b")), ff(ONE, remote("node-b"))]
    assert nodes["node-c"]["flows"] == [flow(HA), flow(ONE)]
    # the first egress node: its own bucket first (watching tun0), then the second node's
    assert nodes["node-a"]["groups"] == [ff(HA, local("node-a", "0x2ec40e"), remote("node-b")),
                                         ff(ONE, remote("node-b"))]
    # the second egress node: the first node's bucket stays first (3.x: first usable IP wins)
    assert nodes["node-b"]["groups"] == [ff(HA, remote("node-a"), local("node-b", "0x2ec40e")),
                                         ff(ONE, local("node-b", "0x6f7936"))]
    # SNAT and addresses for every assigned IP stay on their nodes: a failover is a bucket switch
    assert [rule["egress_ip"] for rule in nodes["node-b"]["snat"]] == ["10.0.0.60", "10.0.0.61"]
    assert result["settings"]["failover"] == "dataplane" and result["settings"]["failover_vni"] == 0xFFFFFE


def watch(node):
    return dict(PORT[node], bfd=True)


def reflect(node):
    return dict(PORT[node], bfd=False)


def reflector(node):
    return {"table": 0, "priority": 300,
            "match": "udp,in_port=%d,dl_dst=02:73:64:6e:65:70,tp_dst=3784" % PORT[node]["ofport"],
            "actions": "set_field:02:73:64:6e:65:72->eth_dst,IN_PORT"}


def test_monitor_ports_towards_egress_nodes_and_back_from_each_egress_node():
    nodes = plan(raw(), facts(), DATAPLANE)["nodes"]
    # BFD sessions only towards the egress nodes (node-a, node-b), which every node watches
    assert nodes["node-c"]["monitor_ports"] == [watch("node-a"), watch("node-b")]
    assert nodes["node-a"]["monitor_ports"] == [watch("node-b"), reflect("node-c")]
    assert nodes["node-b"]["monitor_ports"] == [watch("node-a"), reflect("node-c")]
    # each pair of ends exists on both nodes (the probes come back out of the peer's end)
    for name, entry in nodes.items():
        for port in entry["monitor_ports"]:
            peer = [other for other, value in PORT.items() if value["name"] == port["name"]][0]
            assert PORT[name]["name"] in [other["name"] for other in nodes[peer]["monitor_ports"]], (name, peer)


def test_egress_nodes_answer_bfd_with_reflector_flows_of_phase_one():
    nodes = plan(raw(), facts(), DATAPLANE)["nodes"]
    # one reflector per monitor port of an egress node, none on a node that is not one
    assert [f for f in nodes["node-a"]["flows"] if f["table"] == 0] == [reflector("node-b"), reflector("node-c")]
    assert [f for f in nodes["node-b"]["flows"] if f["table"] == 0] == [reflector("node-a"), reflector("node-c")]
    assert [f for f in nodes["node-c"]["flows"] if f["table"] == 0] == []
    # phase 1 (mark flows: after the node's addresses and SNAT rules) writes them
    compact = plan(raw(), facts(), DATAPLANE, compact=True)["nodes"]
    marks = compact["node-a"]["mark_flows_text"].splitlines()
    assert "table=0,priority=300,udp,in_port=%d,dl_dst=02:73:64:6e:65:70,tp_dst=3784,actions=" \
           "set_field:02:73:64:6e:65:72->eth_dst,IN_PORT" % PORT["node-c"]["ofport"] in marks
    assert compact["node-a"]["monitor_ports_text"].splitlines()[1] == \
        "sdne-0a000004 %d 10.0.0.4 reflect" % PORT["node-c"]["ofport"]
    # run mode: no reflector
    assert all(f["table"] != 0 for f in plan(raw(), facts())["nodes"]["node-a"]["flows"])


def test_bfd_column_probes_to_one_mac_answers_to_the_other_and_none_for_a_reflecting_end():
    spec = monitor.Spec("br0", 0xFFFFFE, 100, 100, "0x65677265")
    assert spec.columns(watch("node-a"))["bfd"] == {
        "enable": "true", "min_tx": "100", "min_rx": "100",
        "bfd_local_dst_mac": "02:73:64:6e:65:70", "bfd_remote_dst_mac": "02:73:64:6e:65:72"}
    assert spec.columns(reflect("node-a"))["bfd"] == {}
    assert [arg for arg in spec.settings(reflect("node-a")) if arg.startswith("bfd:")] == []
    assert 'bfd:bfd_local_dst_mac="02:73:64:6e:65:70"' in spec.settings(watch("node-a"))


def test_unreachable_egress_node_keeps_its_bucket_bfd_decides():
    result = plan(raw(), facts(node_a={"reachable": False}), DATAPLANE)
    assert result["problems"] == []
    nodes = result["nodes"]
    assert "groups" not in nodes["node-a"] or nodes["node-a"]["groups"] == []
    assert nodes["node-c"]["groups"][0] == ff(HA, remote("node-a"), remote("node-b"))
    assert watch("node-a") in nodes["node-c"]["monitor_ports"]
    row = [row for row in result["namespaces"] if row["name"] == "ha"][0]
    assert (row["state"], row["active_ip"]) == ("active", "10.0.0.60")


def test_rows_list_the_buckets_for_the_report():
    rows = dict((row["name"], row) for row in plan(raw(), facts(node_a={"reachable": False}), DATAPLANE)["namespaces"])
    # every assigned IP in failover order, also the unreachable node's (BFD decides, the report tells)
    assert rows["ha"]["buckets"] == [["10.0.0.50", "node-a", "10.0.0.2"], ["10.0.0.60", "node-b", "10.0.0.3"]]
    assert rows["one"]["buckets"] == [["10.0.0.61", "node-b", "10.0.0.3"]]
    assert "buckets" not in rows["plain"]
    assert all("buckets" not in row for row in plan(raw(), facts())["namespaces"])


def test_egress_nodes_that_did_not_answer_keep_their_buckets_no_drift_during_an_outage():
    converged = plan(raw(), facts(), DATAPLANE)
    result = plan(raw(), facts(node_a={"reachable": False}, node_b={"reachable": False}), DATAPLANE)
    rows = dict((row["name"], row) for row in result["namespaces"])
    assert rows["ha"]["state"] == "dropped" and rows["one"]["state"] == "dropped"  # the controller's view
    # the dataplane is what it was: BFD, not the controller, says the egress nodes are gone
    node_c = result["nodes"]["node-c"]
    assert node_c == converged["nodes"]["node-c"]
    assert node_c["groups"] == [ff(HA, remote("node-a"), remote("node-b")), ff(ONE, remote("node-b"))]
    assert rows["ha"]["buckets"] == [["10.0.0.50", "node-a", "10.0.0.2"], ["10.0.0.60", "node-b", "10.0.0.3"]]


def test_no_assigned_ip_at_all_is_a_drop_flow_and_no_group():
    namespaces = [{"name": "nowhere", "netid": HA, "egress_ips": ["10.0.0.99"]}, {"name": "plain", "netid": 10}]
    result = plan(raw(namespaces), facts(), DATAPLANE)
    node_c = result["nodes"]["node-c"]
    assert node_c["groups"] == []
    assert node_c["flows"] == [{"table": 100, "priority": 100, "match": "reg0=0x%x" % HA, "actions": "drop"}]
    assert node_c["monitor_ports"] == []
    assert "buckets" not in result["namespaces"][0]


def test_run_mode_is_unchanged():
    result = plan(raw(), facts())
    node_c = result["nodes"]["node-c"]
    assert "groups" not in node_c and "monitor_ports" not in node_c
    assert node_c["flows"][0] == flow(HA, TUNNEL % "10.0.0.2")
    compact = plan(raw(), facts(), compact=True)["nodes"]["node-c"]
    assert "monitor_ports_text" not in compact and compact["groups_text"] == ""


def test_compact_plan_phase_one_and_texts_read_back():
    nodes = plan(raw(), facts(), DATAPLANE, compact=True)["nodes"]
    node_b = nodes["node-b"]
    # phase 1 on node-b: both groups hold its local bucket, with the flows that use them
    assert node_b["mark_groups_text"] == node_b["groups_text"]
    assert [line for line in node_b["mark_flows_text"].splitlines() if line.startswith("table=100,")] == [
        "table=100,priority=100,ip,reg0=0x2ec40e,actions=group:3064846",
        "table=100,priority=100,ip,reg0=0x6f7936,actions=group:7305526"]
    node_c = nodes["node-c"]
    assert node_c["mark_groups_text"] == "" and node_c["mark_flows_text"] == ""
    lines = node_c["groups_text"].splitlines()
    assert lines[0] == ("group_id=3064846,type=ff,bucket=watch_port:%d,actions=%s,bucket=watch_port:%d,actions=%s"
                        % (PORT["node-a"]["ofport"], TUNNEL % "10.0.0.2", PORT["node-b"]["ofport"], TUNNEL % "10.0.0.3"))
    assert [group_line(group) for dummy, dummy, group in parse_groups_text(node_c["groups_text"])] == lines
    assert node_c["monitor_ports_text"].splitlines() == [
        "sdne-0a000002 %d 10.0.0.2" % PORT["node-a"]["ofport"], "sdne-0a000003 %d 10.0.0.3" % PORT["node-b"]["ofport"]]
    assert [port for dummy, port in monitor.parse_monitor_text(node_c["monitor_ports_text"])] == [
        watch("node-a"), watch("node-b")]
    assert node_c["counts"]["monitor_ports"] == 2


@pytest.mark.parametrize("settings, expected", [
    ({"failover": "dataplane", "layout": "sdn48"},
     ["settings.failover: dataplane needs layout sdn3 (settings.layout is sdn48)"]),
    ({"failover": "always"}, ["settings.failover: always is not one of run, dataplane"]),
    ({"failover": "dataplane", "failover_vni": 1}, ["settings.failover_vni: 1 is out of range 2..16777215"]),
    ({"failover": "dataplane", "failover_vni": ONE},
     ["settings.failover_vni: 7305526 is the netid of namespace one (the BFD monitor ports would take its VXLAN "
      "traffic); choose an unused VNI"]),
    ({"failover": "run", "failover_vni": ONE}, []),
])
def test_settings_problems_name_the_field(settings, expected):
    assert validate(raw(), facts(), settings) == expected


def test_missing_tun0_ofport_is_a_problem_on_an_egress_node():
    problems = validate(raw(), facts(node_a={"tun0_ofport": None}), DATAPLANE)
    assert problems == ["node_facts[node-a].tun0_ofport: missing; needed because node node-a hosts an active egress IP"]


def test_ofports_are_in_the_reserved_range_unique_and_stable():
    ips = ["192.0.2.%d" % number for number in range(1, 255)]
    ports = monitor.assign_ofports(ips)
    assert len(set(ports.values())) == len(ips)
    assert all(monitor.OFPORT_BASE <= number <= monitor.OFPORT_LAST for number in ports.values())
    # a new node moves only a port whose slot it takes
    more = monitor.assign_ofports(ips + ["198.51.100.7"])
    assert sum(1 for ip in ips if ports[ip] != more[ip]) <= 1
    assert monitor.assign_ofports(list(reversed(ips))) == ports
    with pytest.raises(ValueError):
        monitor.assign_ofports(["10.%d.%d.%d" % (a >> 16, (a >> 8) & 255, a & 255)
                                for a in range(monitor.OFPORT_SPAN + 1)])


def test_port_names_fit_an_interface_name():
    assert monitor.port_name("192.0.2.3") == "sdne-c0000203"
    assert len(monitor.port_name("255.255.255.255")) <= 15


@pytest.mark.parametrize("text, message", [
    ("sdne-1 61440", "ports_text line 1: sdne-1 61440 is not NAME OFPORT REMOTE_IP [reflect]"),
    ("sdne-1 61440 10.0.0.1 bfd", "ports_text line 1: sdne-1 61440 10.0.0.1 bfd is not NAME OFPORT REMOTE_IP [reflect]"),
    ("sdne-x 61440 300.1.1.1", "ports_text line 1.remote_ip: 300.1.1.1 is not an IP address"),
    ("\nsdne-0123456789abc 61440 10.0.0.1",
     "ports_text line 2.name: sdne-0123456789abc is not an interface name (1-15 characters, no blanks or /)"),
    ("sdne-x 70000 10.0.0.1", "ports_text line 1.ofport: 70000 is out of range 1..65279"),
])
def test_ports_text_errors_name_the_line_and_value(text, message):
    with pytest.raises(AddrError) as info:
        monitor.parse_monitor_text(text)
    assert str(info.value) == message
