#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ovn_lr_policy
short_description: Own and converge OVN logical router policies (OVN-Kubernetes EgressService reroutes)
version_added: 0.2.0
description:
  - Manages Logical_Router_Policy rows of one logical router in the OVN northbound database, the
    objects OVN-Kubernetes writes for an EgressService (priority 101 C(ip4.src == <endpoint>)
    reroute to the holder node's management-port IP, and the shared priority 102 allow policy).
  - Every policy written carries the C(external_ids) key C(sdn.egress/owner) set to O(owner), next to
    any C(external_ids) given (for example C(EgressSVC=<namespace>/<name>) as OVN-Kubernetes writes).
    Only policies with that owner are ever changed or removed; other policies on the router are
    left alone.
  - A policy is identified by its priority and match (OVN refuses two policies with the same
    priority and match on one router). A listed policy whose priority and match belong to a policy
    not owned by O(owner) fails the run, naming both, unless O(adopt=true).
  - One C(ovn-nbctl) call reads the router and its policies; one more call writes every change as
    one OVSDB transaction (generic C(create)/C(add)/C(set)/C(remove) commands); one more reads back and
    fails if the result differs from what was written. Nothing is written when nothing differs.
author:
  - sdn.egress developers (@sdn-egress)
options:
  router:
    description: Name of the logical router.
    type: str
    default: ovn_cluster_router
  owner:
    description:
      - Value of the C(external_ids) key C(sdn.egress/owner) that marks the policies this task owns.
        Use one owner per independent set of policies (for example C(sdn.egress/egress-service)).
    type: str
    default: sdn.egress
  policies:
    description:
      - The policies. With O(state=absent) and no policies, every policy of O(owner) is removed.
    type: list
    elements: dict
    default: []
    suboptions:
      priority:
        description: Priority, 0 to 32767.
        type: int
        required: true
      match:
        description: OVN match expression, for example C(ip4.src == 10.131.1.10).
        type: str
        required: true
      action:
        description: What the policy does.
        type: str
        choices: [allow, drop, reroute]
        required: true
      nexthops:
        description: Next hops of a V(reroute) (IP addresses of one family); none for the other actions.
        type: list
        elements: str
      options:
        description: Policy options, for example C(pkt_mark=1008) (given as a mapping).
        type: dict
      external_ids:
        description: External ids besides the owner key, for example C(EgressSVC=shop/web) (given as a mapping).
        type: dict
  state:
    description:
      - V(present) creates or updates the listed policies; other owned policies stay.
      - V(overridden) makes the owned policies exactly the listed ones (owned policies not listed
        are removed).
      - V(absent) removes the listed owned policies (by priority and match), or every owned policy
        when none is listed.
      - V(gathered) returns the owned and the foreign policies of the router without changing anything.
      - V(rendered) returns the C(ovn-nbctl) arguments that would create the listed policies on a
        router without any; it does not connect to the database.
    type: str
    choices: [present, absent, overridden, gathered, rendered]
    default: present
  adopt:
    description: Take over a foreign policy with the same priority and match as a listed one.
    type: bool
    default: false
  db:
    description:
      - The northbound database, as C(ovn-nbctl --db) takes it, for example
        C(unix:/var/run/ovn/ovnnb_db.sock), C(tcp:192.0.2.5:6641) or C(ssl:192.0.2.5:6641).
        Unset, C(ovn-nbctl) uses its default (C(OVN_NB_DB) in its environment, or the local socket).
    type: str
  private_key:
    description: Private key file for an C(ssl:) O(db).
    type: path
  certificate:
    description: Certificate file for an C(ssl:) O(db).
    type: path
  ca_cert:
    description: CA certificate file for an C(ssl:) O(db).
    type: path
  timeout:
    description: Seconds C(ovn-nbctl) may take for each call.
    type: int
    default: 30
  return_state:
    description: Return RV(before) and RV(after) (the owned policies before and after the run).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    support: full
    description: Shows the owned policies before and after, one line each as C(lr-policy-list) prints them.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - ovn-nbctl (OVN 20.06 or later, for C(nexthops)) on the host the task runs on
  - the Python library netaddr
notes:
  - Why C(ovn-nbctl) and not ovsdbapp - see the collection's C(docs/design.md) (OVN northbound);
    the module needs no Python library on the host beyond netaddr.
seealso:
  - module: sdn.egress.egress_snat
'''

EXAMPLES = r'''
- name: Reroute an EgressService endpoint to its holder's management port, as OVN-Kubernetes does
  sdn.egress.ovn_lr_policy:
    db: unix:/var/run/ovn/ovnnb_db.sock
    owner: sdn.egress/egress-service
    state: overridden
    policies:
      - priority: 101
        match: ip4.src == 10.131.1.10
        action: reroute
        nexthops: [10.131.2.2]
        external_ids: {EgressSVC: shop/web}

- name: The same database over SSL
  sdn.egress.ovn_lr_policy:
    db: ssl:192.0.2.5:6641
    private_key: /etc/ovn/key.pem
    certificate: /etc/ovn/cert.pem
    ca_cert: /etc/ovn/cacert.pem
    state: gathered
'''

RETURN = r'''
commands:
  description: The C(ovn-nbctl) database commands of the transaction (empty when nothing changed).
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: str
created:
  description: Policies created.
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: dict
updated:
  description: Owned policies whose action, next hops, options or external ids were changed in place.
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: dict
deleted:
  description: Owned policies removed.
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: dict
foreign:
  description: How many policies of the router are not owned by O(owner) (left alone).
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: int
before:
  description: The owned policies before the run.
  returned: when O(state) is V(present), V(overridden) or V(absent), unless O(return_state=false)
  type: list
  elements: dict
after:
  description: The owned policies after the run (predicted in check mode).
  returned: when O(state) is V(present), V(overridden) or V(absent), unless O(return_state=false)
  type: list
  elements: dict
gathered:
  description: C(router), C(owner), C(policies) (owned) and C(foreign) (the others).
  returned: when O(state=gathered)
  type: dict
rendered:
  description: The C(ovn-nbctl) arguments that create the listed policies.
  returned: when O(state=rendered)
  type: str
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.sdn.egress.plugins.module_utils import ovn
from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR
from ansible_collections.sdn.egress.plugins.module_utils.results import exit_converged, validated
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            router=dict(type="str", default="ovn_cluster_router"),
            owner=dict(type="str", default="sdn.egress"),
            policies=dict(type="list", elements="dict", default=[], options=dict(
                priority=dict(type="int", required=True),
                match=dict(type="str", required=True),
                action=dict(type="str", required=True, choices=list(ovn.ACTIONS)),
                nexthops=dict(type="list", elements="str"),
                options=dict(type="dict"),
                external_ids=dict(type="dict"),
            )),
            state=dict(type="str", choices=list(ovn.STATES), default="present"),
            adopt=dict(type="bool", default=False),
            db=dict(type="str"),
            private_key=dict(type="path"),
            certificate=dict(type="path"),
            ca_cert=dict(type="path"),
            timeout=dict(type="int", default=30),
            return_state=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    spec = validated(module, ovn.validate)
    if spec.state == "rendered":
        module.exit_json(changed=False, rendered=ovn.rendered(spec))
    p = module.params
    cli = ovn.NbCtl(module, p["db"], p["private_key"], p["certificate"], p["ca_cert"], p["timeout"])
    try:
        if spec.state == "gathered":
            module.exit_json(changed=False, gathered=ovn.gathered(spec, cli))
        result = ovn.converge(spec, cli, module.check_mode)
    except (ovn.OvnError, CommandError) as exc:
        module.fail_json(**exc.fail_args())
    exit_converged(module, result, "OVN router %s, owner %s" % (spec.router, spec.owner), ovn.diff_text)


if __name__ == "__main__":
    main()
