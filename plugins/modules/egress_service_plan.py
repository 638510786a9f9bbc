#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: egress_service_plan
short_description: Plan OVN-Kubernetes EgressServices - validate, choose a holder node, render the objects
version_added: 0.2.0
description:
  - Reads the EgressService intent (inventory variables, or Kubernetes objects from an
    C(oc get egressservice,service,endpointslice,node -o json) dump or from
    M(kubernetes.core.k8s_info)), validates all of it at once (every problem named with its field
    and value; nothing is planned when anything is wrong), chooses one holder node per service
    and renders what the northbound database and each node need.
  - The holder, as OVN-Kubernetes chooses it - a node that matches the nodeSelector, is ready and
    reachable and, with ExternalTrafficPolicy V(Local), hosts an endpoint. A node that held the
    service (O(previous), else the service's C(host)) keeps it while it is eligible; a new holder is
    the eligible node with the fewest services (then by name).
  - No eligible node - by default no policy and no SNAT (the endpoints leave with their node IPs, as
    OVN-Kubernetes does); with O(fail_closed=true) a priority-101 drop policy per endpoint.
  - Pure computation on the host it runs on (run it once, on localhost); it changes nothing, in
    check mode too.
author:
  - sdn.egress developers (@sdn-egress)
options:
  services:
    description:
      - EgressServices from inventory variables, one mapping per service with C(namespace), C(name),
        C(load_balancer_ip), C(source_ip_by) (V(LoadBalancerIP) or V(Network)), C(node_selector)
        (C(matchLabels), C(matchExpressions)), C(network), C(external_traffic_policy)
        (V(Cluster) or V(Local)), C(endpoints) (list of C(ip), C(node)) and C(host).
    type: list
    elements: raw
    default: []
  nodes:
    description:
      - Nodes, one mapping per node with C(name), C(host_ips), C(mgmt_ips) (the management-port
        IP per family, C(.2) of the node subnet), C(labels), C(ready), C(reachable).
    type: list
    elements: raw
    default: []
  objects:
    description:
      - Kubernetes objects instead of O(services) and O(nodes) - EgressService, Service,
        EndpointSlice and Node items (the C(items) of an C(oc get ... -o json) List, or the
        C(resources) of M(kubernetes.core.k8s_info) results joined).
    type: list
    elements: raw
  previous:
    description: Holders of an earlier run, a mapping of C(<namespace>/<name>) to the node name.
    type: dict
    default: {}
  labels:
    description:
      - Node labels recorded by an earlier run, a mapping of node name to its list of labels; the node carrying a
        service's label C(egress-service.k8s.ovn.org/<namespace>-<name>) held it (after O(previous)).
    type: dict
    default: {}
  fail_closed:
    description: Drop the traffic of a service's endpoints while it has no holder, instead of letting it leave with node IPs.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    support: none
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - the Python library netaddr
seealso:
  - module: sdn.egress.ovn_lr_policy
  - module: sdn.egress.egress_snat
'''

EXAMPLES = r'''
- name: Plan from inventory variables
  sdn.egress.egress_service_plan:
    services: "{{ query('ansible.builtin.varnames', '^egress_service_') | map('extract', vars) | list }}"
    nodes: "{{ ovn_nodes }}"
    fail_closed: "{{ egress_service_fail_closed | default(false) }}"
  delegate_to: localhost
  run_once: true
  register: egress_service
'''

RETURN = r'''
services:
  description:
    - Per service - C(service), C(host) (the holder, C(status.host)), C(state) (V(held), V(kept), V(moved),
      V(no-holder), V(network)), C(reason), C(label), C(load_balancer_ip), C(endpoints), C(egress).
  returned: success
  type: list
  elements: dict
nb_policies:
  description: The policies for M(sdn.egress.ovn_lr_policy) (O(sdn.egress.ovn_lr_policy#module:state=overridden)).
  returned: success
  type: list
  elements: dict
label_changes:
  description:
    - Per node, the holder labels C(egress-service.k8s.ovn.org/<namespace>-<name>) to set (value C("")) or
      to remove (value C(null)), compared with the node labels of the intent; only labels of the
      services in the intent.
  returned: success
  type: dict
nodes:
  description: Per node - C(snat) (rules for M(sdn.egress.egress_snat) with C(match=source)), C(ip_rules), C(labels).
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.sdn.egress.plugins.module_utils import egress_service
from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type="list", elements="raw", default=[]),
            nodes=dict(type="list", elements="raw", default=[]),
            objects=dict(type="list", elements="raw"),
            previous=dict(type="dict", default={}),
            labels=dict(type="dict", default={}),
            fail_closed=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("objects", "services"), ("objects", "nodes")],
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    p = module.params
    if p["objects"] is not None:
        raw = egress_service.from_objects(p["objects"])
    else:
        raw = egress_service.from_inventory(p["services"], p["nodes"])
    result = egress_service.plan(raw, previous=p["previous"], fail_closed=p["fail_closed"], labels=p["labels"])
    if result["problems"]:
        module.fail_json(msg="the EgressService intent has %d problem(s), nothing planned: %s"
                         % (len(result["problems"]), "; ".join(result["problems"])), problems=result["problems"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
