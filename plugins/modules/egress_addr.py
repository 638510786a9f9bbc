#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: egress_addr
short_description: Claim or release egress IP addresses on a node interface
version_added: 0.1.0
description:
  - Adds egress IPv4 addresses to a node interface the way openshift-sdn's C(assignEgressIP) does
    (C(<ip>/<prefix of the interface's network>)), labelled C(<ifname>:<label_suffix>) so that
    they can be told apart from every other address, and releases them again.
  - Without O(interface) the interface whose local network contains the address is used, on
    any interface of the host (not only the node IP's one), and without O(prefix) that
    network's prefix length. An address outside every local network is refused unless both
    O(interface) and O(prefix) are given.
  - The local networks of an interface are those of its primary (non-secondary), non-host-scope
    IPv4 addresses that do not carry our label. Our own addresses never define a network.
  - An address that is already configured (with any label) counts as claimed and is left as it
    is. If it is configured on another interface than the requested O(interface) the module
    fails, unless it carries our label, in which case it is moved.
  - Addresses without our label are never removed, in any state.
  - All input is validated, and the whole change is planned, before anything is changed.
  - IPv4 only (an IPv6 value is refused naming its field).
author:
  - sdn.egress developers (@sdn-egress)
requirements:
  - C(ip) from iproute2 with JSON output (C(ip -j))
  - netaddr (Python library, C(python3-netaddr)) on the managed node
extends_documentation_fragment:
  - sdn.egress.return_state
options:
  address:
    description:
      - One egress IPv4 address. Mutually exclusive with O(addresses).
    type: str
  addresses:
    description:
      - A list of egress IPv4 addresses (duplicates are ignored). Mutually exclusive with
        O(address). An empty list with O(state=overridden) releases all our addresses.
    type: list
    elements: str
  interface:
    description:
      - The interface to claim the addresses on. Default is the interface whose local network
        contains the address; it is an error when several interfaces' networks contain it.
      - With O(state=absent) it is not needed; our labelled copies are released wherever they are.
    type: str
  prefix:
    description:
      - Prefix length for the claimed addresses. Default is the prefix length of the local
        network that contains the address.
      - Together with O(interface) it allows an address outside every local network.
      - An address of ours already present with another prefix is replaced.
    type: int
  named:
    description:
      - Further addresses to claim in the same run, each group on the interface it names (with
        that group's O(named[].prefix), if any), as O(interface) and O(prefix) would for O(addresses).
      - One module run claims a node's addresses whichever interfaces they go to, and reads the
        node's addresses once. An address may appear only once across O(addresses) and all groups.
      - With O(state=overridden) the addresses of the groups count as wanted. Not allowed with
        O(state=absent).
    type: list
    elements: dict
    suboptions:
      interface:
        description: The interface to claim this group's addresses on.
        type: str
        required: true
      prefix:
        description: Prefix length for this group's addresses (default as for O(prefix)).
        type: int
      addresses:
        description: The group's IPv4 addresses (a list, or one comma-separated string).
        type: list
        elements: str
        required: true
  node_ip:
    description:
      - The node IP. Requesting it as an egress address is refused
        (C(desired egress IP is the node IP)).
    type: str
  label_suffix:
    description:
      - Ownership marker. Our addresses are labelled C(<ifname>:<label_suffix>); labels start
        with the interface name and are at most 15 characters, so long interface names need a
        short suffix. The module fails when the label cannot fit.
    type: str
    default: sdne
  state:
    description:
      - V(present) claims the addresses.
      - V(absent) releases the addresses that carry our label (others are left, with a warning).
      - V(overridden) claims the addresses and releases every other address carrying our label.
    type: str
    choices: [present, absent, overridden]
    default: present
  declared:
    description:
      - Every address declared for this host, of which O(addresses) and O(named) may be a part
        (for example when some addresses are claimed by other calls).
      - When set, the result has RV(undeclared), the addresses carrying our label that are
        neither in O(addresses), O(named) nor here, that is what a V(overridden) run with these
        addresses would release. This module run does not release them (unless O(state=overridden)).
      - The role M(sdn.egress.egress_node) sets it when claiming, and skips its release pass
        when nothing is undeclared.
    type: list
    elements: str
  return_entries:
    description:
      - Return RV(claimed) and RV(released), one dictionary per address.
      - With V(false) both are left out; RV(claimed_addresses) and RV(commands) still name every
        change. Claiming thousands of addresses, the dictionaries are most of the result (and of
        the time Ansible spends passing it on). The role M(sdn.egress.egress_node) sets V(false).
    type: bool
    default: true
  announce:
    description:
      - After claiming, announce every address this run claimed with gratuitous ARP on the
        interface it was claimed on, as M(sdn.egress.garp_claim) does (all addresses in shared
        bursts), so that neighbours and the upstream switch learn the new owner at once.
      - The link must be Ethernet and up; the module fails otherwise (the addresses stay claimed).
      - Nothing is sent in check mode, nor when nothing was claimed.
      - The role M(sdn.egress.egress_node) sets it, which saves a module run per egress node.
    type: bool
    default: false
  announce_count:
    description: With O(announce), how many bursts to send (at least 1).
    type: int
    default: 3
  announce_interval:
    description:
      - With O(announce), seconds from the start of one burst to the start of the next (0 to 60),
        so that every address is announced this far apart however long a burst takes to send.
    type: float
    default: 1.0
  announce_mode:
    description:
      - With O(announce), which frames each burst holds per address, as the
        O(sdn.egress.garp_claim#module:mode) of M(sdn.egress.garp_claim) - V(reply) (C(arping -A)),
        V(request) (C(arping -U)) or V(both).
    type: str
    choices: [both, reply, request]
    default: both
notes:
  - Runs C(ip -j addr show), C(ip addr add A/P dev IF label L) and C(ip addr del A/P dev IF).
  - Announce a claimed address with O(announce) or M(sdn.egress.garp_claim) (which can also
    probe for a conflict first).
attributes:
  check_mode:
    support: full
    description: Nothing is changed; the result tells what a real run would claim and release.
  diff_mode:
    support: full
    description: Shows our addresses before and after.
seealso:
  - module: sdn.egress.garp_claim
"""

EXAMPLES = r"""
- name: Claim an egress IP on the interface whose network holds it
  sdn.egress.egress_addr:
    address: 198.51.100.50
    node_ip: 192.0.2.12

- name: Claim an address outside the local networks, as a /32 on eth1
  sdn.egress.egress_addr:
    address: 203.0.113.7
    interface: eth1
    prefix: 32

- name: Hold exactly these egress IPs (release our other ones)
  sdn.egress.egress_addr:
    addresses: [192.0.2.50, 198.51.100.50]
    node_ip: 192.0.2.12
    state: overridden

- name: Claim addresses on the interface of their network, and two more on a named interface
  sdn.egress.egress_addr:
    addresses: [198.51.100.50]
    named:
      - interface: eth2
        prefix: 32
        addresses: [203.0.113.7, 203.0.113.8]
    node_ip: 192.0.2.12

- name: Release an egress IP
  sdn.egress.egress_addr:
    address: 192.0.2.50
    state: absent
"""

RETURN = r"""
claimed_addresses:
  description:
    - The addresses of RV(claimed), as plain strings (cheap to pass on, for example to
      M(sdn.egress.garp_claim) O(sdn.egress.garp_claim#module:addresses)).
  returned: always
  type: list
  elements: str
  sample: [198.51.100.50]
claimed:
  description: Addresses that were (or in check mode would be) added.
  returned: unless O(return_entries=false)
  type: list
  elements: dict
  contains:
    address:
      description: The IPv4 address.
      type: str
      sample: 198.51.100.50
    interface:
      description: The interface it is on.
      type: str
      sample: eth1
    prefix:
      description: Its prefix length.
      type: int
      sample: 24
    label:
      description: Its label.
      type: str
      sample: eth1:sdne
  sample: [{"address": "198.51.100.50", "interface": "eth1", "prefix": 24, "label": "eth1:sdne"}]
released:
  description: Addresses that were (or would be) deleted, same form as RV(claimed).
  returned: unless O(return_entries=false)
  type: list
  elements: dict
  sample: [{"address": "192.0.2.51", "interface": "eth0", "prefix": 24, "label": "eth0:sdne"}]
undeclared:
  description:
    - Addresses carrying our label, found before the change, that are neither in O(addresses),
      O(named) nor in O(declared), sorted. Empty when nothing is left to release.
  returned: when O(declared) is set
  type: list
  elements: str
  sample: [192.0.2.51]
before:
  description: Our addresses (carrying our label) before the change, same form as RV(claimed).
  returned: unless O(return_state=false)
  type: list
  elements: dict
after:
  description: Our addresses after the change (predicted in check mode), same form as RV(claimed).
  returned: unless O(return_state=false)
  type: list
  elements: dict
announced:
  description:
    - Gratuitous ARP frames sent for the claimed addresses (O(announce_count) bursts of one or
      two frames per address). Zero in check mode.
  returned: when O(announce=true)
  type: int
  sample: 6
commands:
  description:
    - The changes as the lines of the one C(ip -force -batch -) call that applies them,
      deletions first (each line is an C(ip) command without the leading C(ip)). The result
      is checked by reading the addresses back.
  returned: always
  type: list
  elements: str
  sample: ["addr del 198.51.100.49/24 dev eth1", "addr add 198.51.100.50/24 dev eth1 label eth1:sdne"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.sdn.egress.plugins.module_utils import garp
from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR, AddrError
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import (
    ClaimError,
    Ip,
    add_line,
    del_line,
    owned,
    plan,
    predict,
    render,
    undeclared,
    validate_address,
    validate_addresses,
    validate_groups,
    validate_ifname,
    validate_prefix,
    validate_suffix,
)
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError


def validate(params):
    """(addresses, interface, prefix, node_ip, suffix, declared, groups) of the parameters;
    AddrError naming the field and the value."""
    if params["address"] is not None:
        addresses = [validate_address(params["address"])]
    else:
        addresses = validate_addresses(params["addresses"] or [])
    interface = validate_ifname(params["interface"]) if params["interface"] is not None else None
    prefix = validate_prefix(params["prefix"]) if params["prefix"] is not None else None
    node_ip = validate_address(params["node_ip"], "node_ip") if params["node_ip"] is not None else None
    suffix = validate_suffix(params["label_suffix"])
    declared = validate_addresses(params["declared"], "declared") if params["declared"] is not None else None
    groups = validate_groups(params["named"] or [], addresses, params["state"])
    if params["announce_count"] < 1:
        raise ClaimError("announce_count: %r must be at least 1" % params["announce_count"])
    if not 0 <= params["announce_interval"] <= 60:
        raise ClaimError("announce_interval: %r must be between 0 and 60 seconds" % params["announce_interval"])
    return addresses, interface, prefix, node_ip, suffix, declared, groups


def read_interfaces(module, ip, **result):
    """The interfaces as `ip -j addr show` prints them; fail (with `result`) when that fails."""
    try:
        return ip.interfaces()
    except CommandError as exc:
        module.fail_json(**dict(result, **exc.fail_args()))
    except AddrError as exc:  # output that cannot be parsed
        module.fail_json(msg=str(exc), **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type="str"),
            addresses=dict(type="list", elements="str"),
            interface=dict(type="str"),
            prefix=dict(type="int"),
            node_ip=dict(type="str"),
            label_suffix=dict(type="str", default="sdne"),
            state=dict(type="str", default="present", choices=["present", "absent", "overridden"]),
            return_state=dict(type="bool", default=True),
            return_entries=dict(type="bool", default=True),
            declared=dict(type="list", elements="str"),
            announce=dict(type="bool", default=False),
            announce_count=dict(type="int", default=3),
            announce_interval=dict(type="float", default=1.0),
            announce_mode=dict(type="str", default="both", choices=["both", "reply", "request"]),
            named=dict(type="list", elements="dict", options=dict(
                interface=dict(type="str", required=True),
                prefix=dict(type="int"),
                addresses=dict(type="list", elements="str", required=True),
            )),
        ),
        mutually_exclusive=[("address", "addresses")],
        required_one_of=[("address", "addresses", "named")],
        supports_check_mode=True,
    )
    params = module.params
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    try:
        addresses, interface, prefix, node_ip, suffix, declared, groups = validate(params)
    except AddrError as exc:
        module.fail_json(msg=str(exc))

    ip = Ip(module)
    interfaces = read_interfaces(module, ip)
    before = owned(interfaces, suffix)
    try:
        changes = plan(interfaces, addresses, params["state"], suffix, interface, prefix, node_ip, groups)
    except AddrError as exc:
        module.fail_json(msg=str(exc), before=before, changed=False)
    for warning in changes["warnings"]:
        module.warn(warning)

    # the lines of the one `ip -force -batch -` call (a string each: a converge claiming 500
    # addresses returns 500 strings, not 500 argv lists for Ansible to decode element by element)
    commands = [del_line(e) for e in changes["release"]] + [add_line(e) for e in changes["claim"]]
    result = dict(changed=bool(commands), claimed=changes["claim"], released=changes["release"],
                  claimed_addresses=[entry["address"] for entry in changes["claim"]],
                  before=before, commands=commands)
    expected = predict(before, changes)
    if params["announce"]:
        result["announced"] = 0
    if module.check_mode or not commands:
        result["after"] = expected
    else:
        # one `ip` process for any number of changes; every token was validated above, and the
        # outcome is judged by reading the addresses back (see Ip.batch)
        rc, err = ip.batch(commands)
        now = read_interfaces(module, ip, **result)
        result["after"] = owned(now, suffix)
        if result["after"] != expected:
            module.fail_json(msg="ip -batch (rc=%d) left the addresses differing from the plan: %s"
                                 % (rc, err.strip() or "no error printed"), **result)
        if params["announce"] and changes["claim"]:
            try:
                result["announced"] = garp.announce_claims(now, changes["claim"], garp.FORMS[params["announce_mode"]],
                                                           params["announce_count"], params["announce_interval"])
            except garp.GarpError as exc:
                module.fail_json(msg=str(exc), **result)
    if declared is not None:
        result["undeclared"] = undeclared(before, addresses, groups, declared)
    if module._diff:
        result["diff"] = dict(before=render(before), after=render(result["after"]))
    if not module.params["return_state"]:
        result.pop("before", None)
        result.pop("after", None)
    if not module.params["return_entries"]:
        result.pop("claimed", None)
        result.pop("released", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
