#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: egress_ip_rule
short_description: Policy routing rules owned by their protocol (EgressService sourceIPBy Network)
version_added: 0.2.0
description:
  - Keeps C(ip rule) entries C(priority <priority> from <address> lookup <table>), the rules
    OVN-Kubernetes writes on the nodes hosting the endpoints of an EgressService with
    C(sourceIPBy=Network) (priority 5000, the table of its C(network)).
  - Owned are the rules whose C(protocol) is O(protocol); rules of another protocol are never changed.
  - One C(ip -j rule show) per family to read, one C(ip -4 -batch -) and one C(ip -6 -batch -) at
    most to write, a read-back that fails if the owned rules differ from the plan.
author:
  - sdn.egress developers (@sdn-egress)
extends_documentation_fragment:
  - sdn.egress.return_state
options:
  rules:
    description: The rules.
    type: list
    elements: dict
    default: []
    suboptions:
      from:
        description: Source address (an endpoint), IPv4 or IPv6.
        type: str
        required: true
      table:
        description: Routing table, a number or a name from C(rt_tables).
        type: str
        required: true
      priority:
        description: Rule priority.
        type: int
        default: 5000
      name:
        description: A label for messages (for example the service); not stored in the kernel.
        type: str
  protocol:
    description: The C(protocol) that marks our rules, 1 to 255.
    type: int
    default: 229
  state:
    description:
      - V(present) adds the listed rules; V(overridden) makes the owned rules exactly the listed ones;
        V(absent) removes the listed owned rules; V(gathered) returns the owned rules; V(rendered)
        returns the C(ip -batch) lines that add the listed rules.
    type: str
    choices: [present, absent, overridden, gathered, rendered]
    default: present
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    support: full
    description: Shows the owned rules before and after.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - iproute2 with C(ip -j) and rule C(protocol) (5.x or later) on the managed host
  - the Python library netaddr
'''

EXAMPLES = r'''
- name: sourceIPBy Network - the endpoints of a service leave through table 100
  sdn.egress.egress_ip_rule:
    state: overridden
    rules:
      - {from: 10.131.1.20, table: "100", name: shop/web}
'''

RETURN = r'''
commands:
  description: The C(ip -batch) lines run, each prefixed with its family option.
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: str
added:
  description: Rules added.
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: str
removed:
  description: Owned rules removed.
  returned: when O(state) is V(present), V(overridden) or V(absent)
  type: list
  elements: str
before:
  description: Owned rules before.
  returned: when O(state) is V(present), V(overridden) or V(absent), unless O(return_state=false)
  type: list
  elements: str
after:
  description: Owned rules after (predicted in check mode).
  returned: when O(state) is V(present), V(overridden) or V(absent), unless O(return_state=false)
  type: list
  elements: str
gathered:
  description: The owned rules.
  returned: when O(state=gathered)
  type: list
  elements: str
rendered:
  description: The lines that add the listed rules.
  returned: when O(state=rendered)
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.sdn.egress.plugins.module_utils import iprule
from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR
from ansible_collections.sdn.egress.plugins.module_utils.results import exit_converged, validated
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            rules=dict(type="list", elements="dict", default=[], options={
                "from": dict(type="str", required=True),
                "table": dict(type="str", required=True),
                "priority": dict(type="int", default=5000),
                "name": dict(type="str"),
            }),
            protocol=dict(type="int", default=229),
            state=dict(type="str", choices=list(iprule.STATES), default="present"),
            return_state=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    protocol, state, want = validated(module, iprule.validate)
    if state == "rendered":
        module.exit_json(changed=False, rendered=["-%d %s" % (k[0], iprule.line("add", k, protocol))
                                                  for k in sorted(want)])
    cli = iprule.IpRule(module)
    try:
        if state == "gathered":
            have = iprule.owned(cli.read(4), 4, protocol) | iprule.owned(cli.read(6), 6, protocol)
            module.exit_json(changed=False, gathered=iprule.text(have, protocol))
        result = iprule.converge(protocol, state, want, cli, module.check_mode)
    except (iprule.IpRuleError, CommandError) as exc:
        module.fail_json(**exc.fail_args())
    exit_converged(module, result, "ip rule (protocol %d)" % protocol)


if __name__ == "__main__":
    main()
