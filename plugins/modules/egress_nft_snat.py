#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: egress_nft_snat
short_description: EgressService SNAT in nftables (OVN-Kubernetes 1.1+ layout), owned map elements
version_added: 0.2.0
description:
  - The nftables counterpart of M(sdn.egress.egress_snat) with O(sdn.egress.egress_snat#module:match=source),
    in the layout OVN-Kubernetes 1.1 and later uses for EgressServices - table C(inet ovn-kubernetes),
    maps C(egress-service-snat-v4) and C(egress-service-snat-v6) (endpoint IP to LB IP), chain
    C(egress-services) (nat, postrouting) with C(meta mark 0x3f0 return) first, then
    C(snat ip to ip saddr map @egress-service-snat-v4) and the same for C(ip6).
  - Owned are the map elements whose comment is O(owner) or O(owner) followed by a blank and the
    rule's name. The table, maps, chain and those three rules are created when missing and never
    deleted; other rules and elements are left alone. A listed source that a foreign element maps
    fails the run, naming it.
  - One C(nft -j list table) read, one C(nft -f -) transaction for every change (in check mode
    C(nft -c -f -) - the kernel checks the transaction and changes nothing), one read-back.
author:
  - sdn.egress developers (@sdn-egress)
extends_documentation_fragment:
  - sdn.egress.return_state
options:
  table:
    description: Table (family C(inet)).
    type: str
    default: ovn-kubernetes
  chain:
    description: The nat postrouting chain.
    type: str
    default: egress-services
  map_v4:
    description: Map of IPv4 sources to SNAT addresses.
    type: str
    default: egress-service-snat-v4
  map_v6:
    description: Map of IPv6 sources to SNAT addresses.
    type: str
    default: egress-service-snat-v6
  return_mark:
    description: Packets with this mark are not SNATed (the chain's first rule); V(null) leaves the rule out.
    type: raw
    default: "0x3f0"
  priority:
    description: The chain's priority when it is created (C(srcnat), C(srcnat - 5), or a number).
    type: str
    default: srcnat
  owner:
    description: Comment tag of the elements this task owns.
    type: str
    default: sdn.egress
  rules:
    description: Source address to SNAT address mappings (IPv4 and IPv6 go to their own map).
    type: list
    elements: dict
    default: []
    suboptions:
      source:
        description: Endpoint address.
        type: str
        required: true
      egress_ip:
        description: Address to SNAT to (the LB IP), of the source's family; required unless O(state=absent).
        type: str
      name:
        description: Appended to O(owner) in the element comment (for example C(shop/web)).
        type: str
  state:
    description:
      - V(present) adds or changes the listed elements; V(overridden) makes the owned elements exactly
        the listed ones; V(absent) removes the listed owned elements (with O(rules[].egress_ip), only
        when it matches); V(gathered) returns the owned elements; V(rendered) returns the C(nft -f)
        text that builds the layout with the listed elements from nothing.
    type: str
    choices: [present, absent, overridden, gathered, rendered]
    default: present
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: The transaction is checked by the kernel with C(nft -c) and not applied.
  diff_mode:
    support: full
    description: Shows the owned elements before and after.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - nft (nftables 0.9.7 or later, for element comments) on the managed host
  - the Python library netaddr
seealso:
  - module: sdn.egress.egress_snat
'''

EXAMPLES = r'''
- name: SNAT two EgressService endpoints to the LB IP, OVN-Kubernetes 1.1 layout
  sdn.egress.egress_nft_snat:
    owner: sdn.egress/egress-service
    state: overridden
    rules:
      - {source: 10.131.1.10, egress_ip: 198.51.100.113, name: shop/web}
      - {source: "fd00:131:1::10", egress_ip: "2001:db8::113", name: shop/web}
'''

RETURN = r'''
commands:
  description: The C(nft -f) lines of the transaction (empty when nothing changed).
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: str
added:
  description: Elements added (or changed), with C(source), C(egress_ip), C(comment), C(map).
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: dict
removed:
  description: Owned elements removed (or about to be replaced).
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: dict
before:
  description: Owned elements before, one line each.
  returned: when O(state) is V(present), V(overridden) or V(absent), unless O(return_state=false)
  type: list
  elements: str
after:
  description: Owned elements after (predicted in check mode).
  returned: when O(state) is V(present), V(overridden) or V(absent), unless O(return_state=false)
  type: list
  elements: str
gathered:
  description: C(table), C(exists), C(rules) (owned, in this module's input form), C(foreign_elements) (count).
  returned: when O(state=gathered)
  type: dict
rendered:
  description: C(nft -f) text.
  returned: when O(state=rendered)
  type: str
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.sdn.egress.plugins.module_utils import nft
from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR
from ansible_collections.sdn.egress.plugins.module_utils.results import exit_converged, validated
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            table=dict(type="str", default="ovn-kubernetes"),
            chain=dict(type="str", default="egress-services"),
            map_v4=dict(type="str", default="egress-service-snat-v4"),
            map_v6=dict(type="str", default="egress-service-snat-v6"),
            return_mark=dict(type="raw", default="0x3f0"),
            priority=dict(type="str", default="srcnat"),
            owner=dict(type="str", default="sdn.egress"),
            rules=dict(type="list", elements="dict", default=[], options=dict(
                source=dict(type="str", required=True),
                egress_ip=dict(type="str"),
                name=dict(type="str"),
            )),
            state=dict(type="str", choices=list(nft.STATES), default="present"),
            return_state=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    spec = validated(module, nft.validate)
    if spec.state == "rendered":
        module.exit_json(changed=False, rendered=nft.rendered(spec))
    cli = nft.Nft(module)
    try:
        if spec.state == "gathered":
            module.exit_json(changed=False, gathered=nft.gathered(spec, cli))
        result = nft.converge(spec, cli, module.check_mode)
    except (nft.NftError, CommandError) as exc:
        module.fail_json(**exc.fail_args())
    exit_converged(module, result, "nft table inet %s (owner %s)" % (spec.table, spec.owner))


if __name__ == "__main__":
    main()
