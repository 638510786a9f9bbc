"""EgressService intent, assignment and rendering (module_utils/egress_service.py)."""
import json

from ansible_collections.sdn.egress.plugins.module_utils import egress_service as es


def nodes(**over):
    base = {
        "node1": {"name": "node1", "host_ips": ["198.51.100.65"], "mgmt_ips": ["10.131.1.2", "fd00:131:1::2"],
                  "labels": {}},
        "node2": {"name": "node2", "host_ips": ["198.51.100.66"], "mgmt_ips": ["10.131.2.2", "fd00:131:2::2"],
                  "labels": {"egress": "yes"}},
        "node3": {"name": "node3", "host_ips": ["198.51.100.67"], "mgmt_ips": ["10.131.3.2", "fd00:131:3::2"],
                  "labels": {"egress": "yes"}},
    }
    for name, changes in over.items():
        base[name].update(changes)
    return list(base.values())


WEB = {"namespace": "shop", "name": "web", "load_balancer_ip": "198.51.100.113",
       "node_selector": {"matchLabels": {"egress": "yes"}},
       "endpoints": [{"ip": "10.131.1.10", "node": "node1"}, {"ip": "10.131.3.11", "node": "node3"}]}
API = {"namespace": "bank", "name": "api", "load_balancer_ip": "198.51.100.114", "external_traffic_policy": "Local",
       "endpoints": [{"ip": "10.131.2.12", "node": "node2"}]}


def run(services, node_list=None, **kw):
    return es.plan(es.from_inventory(services, node_list or nodes()), **kw)


def test_assignment_selector_etp_local_and_fewest_allocations():
    out = run([WEB, API])
    assert out["problems"] == []
    hosts = {s["service"]: s["host"] for s in out["services"]}
    # bank/api (ETP Local) must sit on node2, its endpoint's node; shop/web then takes node2
    # or node3 by fewest allocations: node2 has one, so node3
    assert hosts == {"bank/api": "node2", "shop/web": "node3"}
    assert out["nodes"]["node3"]["labels"] == ["egress-service.k8s.ovn.org/shop-web"]
    reroutes = [p for p in out["nb_policies"] if p["priority"] == 101]
    assert {"priority": 101, "match": "ip4.src == 10.131.1.10", "action": "reroute", "nexthops": ["10.131.3.2"],
            "external_ids": {"EgressSVC": "shop/web"}} in reroutes
    assert out["nodes"]["node3"]["snat"] == [
        {"source": "10.131.1.10", "egress_ip": "198.51.100.113", "name": "shop/web"},
        {"source": "10.131.3.11", "egress_ip": "198.51.100.113", "name": "shop/web"}]
    allow = [p for p in out["nb_policies"] if p["priority"] == 102]
    assert allow == [{"priority": 102, "action": "allow", "options": {"pkt_mark": "1008"},
                      "match": "ip4.src == {10.131.1.10, 10.131.2.12, 10.131.3.11} && "
                               "ip4.dst == {198.51.100.65, 198.51.100.66, 198.51.100.67}",
                      "external_ids": {"EgressSVC": "served-pods"}}]


def test_stable_holder_keeps_and_moves_only_when_ineligible():
    out = run([WEB, API], previous={"shop/web": "node2"})
    assert {s["service"]: (s["host"], s["state"]) for s in out["services"]} == {
        "bank/api": ("node2", "held"), "shop/web": ("node2", "kept")}
    out = run([WEB, API], nodes(node2={"ready": False}), previous={"shop/web": "node2"})
    rows = {s["service"]: s for s in out["services"]}
    assert rows["shop/web"]["host"] == "node3" and rows["shop/web"]["state"] == "moved"
    assert "node2 not Ready" in rows["shop/web"]["reason"]
    assert rows["bank/api"]["host"] is None and rows["bank/api"]["state"] == "no-holder"


def test_no_holder_leaks_by_default_and_drops_fail_closed():
    lonely = dict(API, endpoints=[{"ip": "10.131.1.13", "node": "node1"}],
                  node_selector={"matchLabels": {"egress": "yes"}})
    out = run([lonely])
    assert out["nb_policies"] == [] and all(not n["snat"] for n in out["nodes"].values())
    assert out["services"][0]["egress"] == "node IPs (no holder)"
    assert "node1 does not match the nodeSelector" in out["services"][0]["reason"]
    out = run([lonely], fail_closed=True)
    assert out["nb_policies"] == [{"priority": 101, "match": "ip4.src == 10.131.1.13", "action": "drop",
                                   "external_ids": {"EgressSVC": "bank/api"}}]


def test_ipv6_endpoints_reroute_to_the_v6_management_ip():
    v6 = {"namespace": "six", "name": "svc", "load_balancer_ip": "2001:db8::113",
          "endpoints": [{"ip": "fd00:131:1::10", "node": "node1"}]}
    out = run([v6])
    pol = [p for p in out["nb_policies"] if p["priority"] == 101][0]
    host = out["services"][0]["host"]
    assert pol["match"] == "ip6.src == fd00:131:1::10"
    assert pol["nexthops"] == ["fd00:131:%s::2" % host[-1]]
    assert out["nodes"][host]["snat"] == [{"source": "fd00:131:1::10", "egress_ip": "2001:db8::113", "name": "six/svc"}]


def test_network_source_ip_by_renders_ip_rules_only():
    net = {"namespace": "n", "name": "s", "source_ip_by": "Network", "network": "100",
           "endpoints": [{"ip": "10.131.1.20", "node": "node1"}]}
    out = run([net])
    assert out["nb_policies"] == []
    assert out["nodes"]["node1"]["ip_rules"] == [{"priority": 5000, "from": "10.131.1.20", "table": "100",
                                                  "name": "n/s"}]


def test_every_problem_named_with_field_and_value():
    bad = [dict(WEB, load_balancer_ip="198.51.100.300", source_ip_by="Magic", extra=1,
                endpoints=[{"ip": "10.131.1.999", "node": "node9"}]),
           dict(WEB, name="web2", endpoints=[{"ip": "10.131.1.50"}, {"ip": "fd00::1"}]),
           dict(API, node_selector={"matchExpressions": [{"key": "a", "operator": "Near"}]}),
           {"namespace": "n", "name": "s", "source_ip_by": "Network"}]
    out = run(bad, nodes(node1={"mgmt_ips": ["10.131.1.2", "10.131.1.3"], "ready": "yes"}))
    text = "\n".join(out["problems"])
    for part in ("services[#0]: unknown key extra",
                 "egress_services[shop/web].load_balancer_ip: 198.51.100.300 is not an IP address",
                 "egress_services[shop/web].source_ip_by: Magic is not one of LoadBalancerIP, Network",
                 "egress_services[shop/web].endpoints[0].ip: 10.131.1.999 is not an IP address",
                 "egress_services[shop/web].endpoints[0].node: node9 is not a known node",
                 "egress_services[bank/api].node_selector.matchExpressions[0]",
                 "egress_services[n/s].network: null is needed with source_ip_by Network",
                 "nodes[node1].mgmt_ips[1]: 10.131.1.3 is a second IPv4 management-port IP",
                 "nodes[node1].ready: yes is not true or false",
                 "egress_services[shop/web2].endpoints[1].ip: fd00::1 is IPv6, the LB IP"):
        assert part in text, text
    assert "nb_policies" not in out


def test_from_objects_reads_an_oc_dump():
    items = [
        {"kind": "EgressService", "metadata": {"namespace": "shop", "name": "web"},
         "spec": {"nodeSelector": {"matchLabels": {"egress": "yes"}}}, "status": {"host": "node3"}},
        {"kind": "Service", "metadata": {"namespace": "shop", "name": "web"},
         "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"},
         "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.113"}]}}},
        {"kind": "EndpointSlice", "metadata": {"namespace": "shop", "name": "web-x",
                                               "labels": {"kubernetes.io/service-name": "web"}},
         "endpoints": [{"addresses": ["10.131.1.10"], "nodeName": "node1", "conditions": {"ready": True}},
                       {"addresses": ["10.131.1.99"], "nodeName": "node1", "conditions": {"ready": False}}]},
        {"kind": "Node", "metadata": {"name": "node3", "labels": {"egress": "yes"},
                                      "annotations": {"k8s.ovn.org/node-subnets": json.dumps({"default": ["10.131.3.0/24"]})}},
         "status": {"conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": "198.51.100.67"}]}},
        {"kind": "Node", "metadata": {"name": "node1", "annotations": {
            "k8s.ovn.org/node-subnets": json.dumps({"default": "10.131.1.0/24"})}},
         "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    ]
    out = es.plan(es.from_objects(items))
    assert out["problems"] == []
    row = out["services"][0]
    assert (row["host"], row["state"], row["endpoints"]) == ("node3", "kept", [{"ip": "10.131.1.10", "node": "node1"}])
    assert out["nb_policies"][0]["nexthops"] == ["10.131.3.2"]


def test_label_changes_set_the_holder_and_remove_stale_labels_only_of_our_services():
    node_list = nodes(node2={"labels": {"egress": "yes", "egress-service.k8s.ovn.org/shop-web": "",
                                        "egress-service.k8s.ovn.org/other-svc": ""}})
    out = run([WEB], node_list, previous={"shop/web": "node3"})
    assert out["services"][0]["host"] == "node3"
    assert out["label_changes"] == {"node2": {"egress-service.k8s.ovn.org/shop-web": None},
                                    "node3": {"egress-service.k8s.ovn.org/shop-web": ""}}
