"""`oc get netnamespace,hostsubnet -o json` as a cluster would print it, for the oc_json source.

Used by the playbook tests (the lab's own cluster) and the benchmark (generated namespaces).
"""


def oc_list(namespaces, hostsubnets):
    """The List document.

    namespaces: [(name, netid, [egress IP, ...])]; hostsubnets: [(host, host IP, subnet,
    [egress IP, ...])]. Empty egress IP lists are left out, as the API leaves them out.
    """
    items = []
    for name, netid, egress_ips in namespaces:
        item = {"apiVersion": "network.openshift.io/v1", "kind": "NetNamespace",
                "metadata": {"name": name}, "netname": name, "netid": netid}
        if egress_ips:
            item["egressIPs"] = [str(ip) for ip in egress_ips]
        items.append(item)
    for host, host_ip, subnet, egress_ips in hostsubnets:
        item = {"apiVersion": "network.openshift.io/v1", "kind": "HostSubnet", "metadata": {"name": host},
                "host": host, "hostIP": host_ip, "subnet": subnet}
        if egress_ips:
            item["egressIPs"] = [str(ip) for ip in egress_ips]
        items.append(item)
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
