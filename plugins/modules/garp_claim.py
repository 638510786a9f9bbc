#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: garp_claim
short_description: Announce an egress IP with gratuitous ARP, optionally probing for conflicts first
version_added: 0.1.0
description:
  - Sends gratuitous ARP frames for O(address) from the MAC of the interface that holds it, so
    that neighbours and switches move the address to this node, like openshift-sdn does after
    claiming an egress IP (C(arping -A), then C(arping -U)).
  - Frames are built and sent natively over a raw C(AF_PACKET) socket; no C(arping) tool is
    needed (Debian's and iputils' C(arping) take incompatible options).
  - The reply form (ARP opcode 2, sender and target = our MAC and O(address), RFC 5944 4.6) is
    what C(arping -A) sends; the request form (opcode 1, sender = our MAC and O(address), target =
    zero MAC and O(address), an RFC 5227 ARP Announcement) is what C(arping -U) sends. Both go to
    the Ethernet broadcast address.
  - With O(probe=true) an RFC 5227 ARP probe (sender IP 0.0.0.0) is sent first; when another MAC
    answers for, uses or probes for O(address), the module fails naming that MAC and announces
    nothing.
  - Sending is an action, so the module reports C(changed) whenever it sends (or in check mode
    would send) frames. In check mode nothing is sent, not even probes.
  - With O(addresses) several addresses are announced together; each burst carries the frames of
    every address, so announcing many addresses takes O(count) bursts in all, not per address.
  - With O(probes_text) the module only probes (RFC 5227), many addresses in parallel, and
    announces nothing. This is the read-only check the role M(sdn.egress.egress_plan) runs before any
    node changes, for the addresses a node is about to claim. Every burst carries the probes of
    every address, so the run takes O(probe_count) - 1 times O(probe_interval) plus
    O(probe_listen) seconds (4 s with the defaults) however many addresses it probes. An answer
    for (or a probe of) an address from a MAC that is not one of this host's, nor a MAC the
    line names, fails the module naming the address, the MAC, the owners, the interface and
    O(node). Probes change nothing, so check mode probes too.
  - Needs root or C(CAP_NET_RAW) on the target. IPv4 on Ethernet interfaces only (an IPv6 address is refused naming its field).
author:
  - sdn.egress developers (@sdn-egress)
requirements:
  - C(ip) from iproute2 with JSON output (C(ip -j)), to find the interface holding an address
  - netaddr (Python library, C(python3-netaddr)) on the managed node
options:
  address:
    description:
      - The IPv4 address to announce.
      - Exactly one of O(address) and O(addresses) is required.
    type: str
  addresses:
    description:
      - Several IPv4 addresses to announce together, each from the interface that holds it.
      - Cannot be combined with O(interface) or O(probe). An empty list sends nothing.
    type: list
    elements: str
  probes_text:
    description:
      - Probe only, all listed addresses in parallel, one line per address
        C(ADDRESS INTERFACE|- OWNER[,OWNER] [MAC[,MAC]]) (the C(probe_text) of the compact
        node plan of M(sdn.egress.egress_plan)).
      - C(INTERFACE) is where the address will be claimed; C(-) is the interface that holds it
        or, when none does, the one whose local network holds it (as M(sdn.egress.egress_addr)
        chooses). C(OWNER) names who declares the address (namespaces; C(-) for none), for
        the failure message. The optional MACs are other hosts of ours that hold the address
        now and give it up in the same run; their answers are not conflicts.
      - Cannot be combined with O(address), O(addresses), O(interface) or O(probe). An empty
        text probes nothing.
    type: str
  probe_interval:
    description:
      - With O(probes_text), seconds from one burst of probes to the next (RFC 5227 PROBE_MIN).
    type: float
    default: 1.0
  probe_listen:
    description:
      - With O(probes_text), seconds to keep listening after the last burst (RFC 5227 ANNOUNCE_WAIT).
    type: float
    default: 2.0
  node:
    description:
      - With O(probes_text), the name of this node in the failure message.
    type: str
  interface:
    description:
      - The interface to announce on (its MAC is announced).
      - Default is the interface that holds O(address), found with C(ip -j addr show). In check
        mode, when no interface holds it yet (say M(sdn.egress.egress_addr) only pretended to
        claim it), the interface whose local network contains it is used.
      - An explicit interface that does not hold O(address) is used anyway, with a warning.
    type: str
  count:
    description:
      - Number of bursts.
    type: int
    default: 3
  interval:
    description:
      - Seconds from the start of one burst to the start of the next (no wait after the last
        one), so that every address is announced this far apart however long a burst of many
        addresses takes to send.
    type: float
    default: 1.0
  mode:
    description:
      - Frames in each burst. V(reply) sends the reply form, V(request) the request form and
        V(both) the reply form followed by the request form.
    type: str
    choices: [both, reply, request]
    default: both
  probe:
    description:
      - Probe for another holder of O(address) (RFC 5227) before announcing.
    type: bool
    default: false
  probe_count:
    description:
      - Number of ARP probes, spread evenly over O(probe_timeout); with O(probes_text), the
        number of bursts of probes (RFC 5227 PROBE_NUM).
    type: int
    default: 3
  probe_timeout:
    description:
      - Seconds to probe and listen for answers in total, starting with the first probe.
      - Not used with O(probes_text) (see O(probe_interval) and O(probe_listen)).
    type: float
    default: 1.0
  return_frames:
    description:
      - Return the frames of one burst, decoded, in RV(frames).
      - With V(false) RV(frames) is left out; announcing many addresses, it is most of the
        result (two frames of seven fields per address with O(mode=both)) and RV(announced)
        already names each address, interface and MAC. The role M(sdn.egress.egress_node)
        sets it to V(false).
    type: bool
    default: true
  return_announced:
    description:
      - Return RV(announced), one dictionary per address.
      - With V(false) it is left out and RV(sent) counts the frames; the addresses are those
        given. The role M(sdn.egress.egress_node) sets V(false) (the addresses claimed are in
        the result of M(sdn.egress.egress_addr)).
    type: bool
    default: true
notes:
  - Linux neighbours update an existing entry from either form even with the default
    C(arp_accept=0); creating a new entry needs C(arp_accept=1) on the neighbour.
  - Announcing does not claim the address; use M(sdn.egress.egress_addr) first.
attributes:
  check_mode:
    support: full
    description: Nothing is sent, not even probes; C(changed) tells whether a real run would send
      frames. With O(probes_text) the probes are sent in check mode too (they change nothing).
  diff_mode:
    support: full
    description: Shows what would be announced.
seealso:
  - module: sdn.egress.egress_addr
"""

EXAMPLES = r"""
- name: Claim, then announce an egress IP (3 bursts of reply + request form, 1 s apart)
  block:
    - sdn.egress.egress_addr:
        address: 192.0.2.50
    - sdn.egress.garp_claim:
        address: 192.0.2.50

- name: Make sure nobody else answers for the address, then announce like openshift-sdn
  sdn.egress.garp_claim:
    address: 192.0.2.50
    interface: eth1
    probe: true
    mode: both
    count: 1

- name: Announce every address claimed by a previous task in one go
  sdn.egress.garp_claim:
    addresses: "{{ claim.claimed | map(attribute='address') }}"

- name: Before claiming them, make sure no other host answers for two addresses (4 s in all)
  sdn.egress.garp_claim:
    probes_text: |
      192.0.2.50 eth1 payments
      192.0.2.51 - billing,reports
    node: node1

- name: Only the request form, five times, half a second apart
  sdn.egress.garp_claim:
    address: 192.0.2.50
    mode: request
    count: 5
    interval: 0.5
"""

RETURN = r"""
sent:
  description: Number of announcement frames sent (0 in check mode and when the probe found a conflict).
  returned: always
  type: int
  sample: 6
mac:
  description: The MAC address announced for O(address).
  returned: success with O(address)
  type: str
  sample: 02:42:c0:00:02:0c
interface:
  description: The interface the frames were (or would be) sent on.
  returned: success with O(address)
  type: str
  sample: eth1
announced:
  description: Each address announced (or, in check mode, to be announced), with its interface and MAC.
  returned: success, unless O(return_announced=false)
  type: list
  elements: dict
  sample: [{"address": 192.0.2.50, "interface": eth1, "mac": "02:42:c0:00:02:0c"}]
frames:
  description: The frames of one burst, decoded; each burst repeats them.
  returned: success, unless O(return_frames=false)
  type: list
  elements: dict
  sample:
    - {"op": "reply", "eth_dst": "ff:ff:ff:ff:ff:ff", "eth_src": "02:42:c0:00:02:0c",
       "sender_mac": "02:42:c0:00:02:0c", "sender_ip": 192.0.2.50,
       "target_mac": "02:42:c0:00:02:0c", "target_ip": 192.0.2.50}
probed:
  description: With O(probes_text), the addresses probed, each with its interface.
  returned: success and failure with O(probes_text)
  type: list
  elements: dict
  sample: [{"address": 192.0.2.50, "interface": eth1}]
conflicts:
  description: With O(probes_text), each address another host answered for (or probed for).
  returned: success and failure with O(probes_text)
  type: list
  elements: dict
  sample: [{"address": 192.0.2.50, "interface": eth1, "mac": "02:42:c0:00:02:0d", "op": "reply",
            "owners": ["payments"]}]
seconds:
  description: With O(probes_text), how long probing took.
  returned: success and failure with O(probes_text)
  type: float
  sample: 4.003
probe:
  description: Result of the RFC 5227 probe.
  returned: always
  type: dict
  contains:
    performed:
      description: Whether probes were sent (false without O(probe) and in check mode).
      type: bool
    probes_sent:
      description: Number of probes sent.
      type: int
    conflict:
      description: Whether another MAC answered for (or probed for) the address.
      type: bool
    conflicting_mac:
      description: That MAC, or null.
      type: str
    answer:
      description: The decoded frame that showed the conflict, or null.
      type: dict
  sample: {"performed": true, "probes_sent": 1, "conflict": true, "conflicting_mac": "02:42:c0:00:02:0d",
           "answer": {"op": "reply", "sender_ip": "192.0.2.50", "sender_mac": "02:42:c0:00:02:0d"}}
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.sdn.egress.plugins.module_utils import garp
from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR, AddrError
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import (
    Ip,
    choose_interface,
    holders_by_address,
    validate_address,
    validate_addresses,
    validate_ifname,
)
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError

NOT_PROBED = {"performed": False, "probes_sent": 0, "conflict": False, "conflicting_mac": None, "answer": None}


def fail(module, msg):
    """Fail before anything was sent."""
    module.fail_json(msg=msg, sent=0, probe=NOT_PROBED)


def pick_interface(module, interfaces, address, interface, held):
    """The interface dict to announce on (see the `interface` option).

    `held`: the configured addresses equal to `address` (holders_by_address)."""
    by_name = dict((i["name"], i) for i in interfaces)
    held_on = sorted(set(a["interface"] for a in held))
    if interface is not None:
        if interface not in by_name:
            fail(module, "interface: %r does not exist on this host (interfaces: %s)"
                         % (interface, ", ".join(sorted(by_name))))
        if interface not in held_on:
            module.warn("address %s is not configured on interface %s; announcing it there anyway"
                        % (address, interface))
        return by_name[interface]
    if len(held_on) > 1:
        fail(module, "address: %s is configured on several interfaces (%s); set interface"
                     % (address, ", ".join(held_on)))
    if held_on:
        return by_name[held_on[0]]
    if not module.check_mode:
        fail(module, "address: %s is not configured on any interface; claim it first "
                     "(sdn.egress.egress_addr) or set interface" % address)
    try:
        name = choose_interface(interfaces, address)[0]
    except AddrError as exc:
        fail(module, "address: %s is not configured on any interface, and: %s" % (address, exc))
    module.warn("address %s is not configured yet; check mode assumes interface %s" % (address, name))
    return by_name[name]


def announce_targets(module, interfaces, addresses, interface):
    """[(address, interface dict)] for every address, refusing non-Ethernet or down links."""
    targets = []
    index = holders_by_address(interfaces)  # one pass, not one per address
    for address in addresses:
        iface = pick_interface(module, interfaces, address, interface, index.get(address, []))
        why = garp.unfit_for_arp(iface)
        if why:
            fail(module, "interface: %s %s; cannot send ARP on it" % (iface["name"], why))
        targets.append((address, iface))
    return targets


def probe_targets(module, interfaces, entries):
    """[(entry, interface dict)] for each probes_text entry (see the option)."""
    by_name = dict((i["name"], i) for i in interfaces)
    index = holders_by_address(interfaces)
    targets = []
    for entry in entries:
        address, name = entry["address"], entry["interface"]
        if name is None:
            held_on = sorted(set(a["interface"] for a in index.get(address, [])))
            if len(held_on) == 1:
                name = held_on[0]
            else:
                try:
                    name = choose_interface(interfaces, address)[0]
                except AddrError as exc:
                    fail(module, "probes_text: %s (declared by %s): %s"
                                 % (address, ", ".join(entry["owners"]) or "nobody", exc))
        iface = by_name.get(name)
        if iface is None:
            fail(module, "probes_text: interface %s of %s does not exist on this host (interfaces: %s)"
                         % (name, address, ", ".join(sorted(by_name))))
        why = garp.unfit_for_arp(iface)
        if why:
            fail(module, "interface: %s %s; cannot probe for %s with ARP" % (name, why, address))
        targets.append((entry, iface))
    return targets


def conflict_message(conflict, node):
    owners = conflict["owners"]
    return ("%s%s is in use by another host: MAC %s sent an ARP %s for it while node %s probed on %s"
            % (conflict["address"], " (egress IP of namespace %s)" % ", ".join(owners) if owners else "",
               conflict["mac"], conflict["op"], node or "(this host)", conflict["interface"]))


def probe_only(module, params):
    """The probes_text mode: probe every address in parallel, announce nothing."""
    try:
        entries = garp.parse_probe_text(params["probes_text"])
        for entry in entries:
            entry["address"] = validate_address(entry["address"])
    except (ValueError, AddrError) as exc:
        fail(module, "probes_text: %s" % exc)
    if not entries:
        module.exit_json(changed=False, sent=0, probe=NOT_PROBED, probed=[], conflicts=[], seconds=0.0)
    try:
        interfaces = Ip(module).interfaces()
    except CommandError as exc:
        module.fail_json(sent=0, probe=NOT_PROBED, **exc.fail_args())
    except AddrError as exc:
        fail(module, str(exc))
    targets = probe_targets(module, interfaces, entries)
    own = set(i["mac"].lower() for i in interfaces if i.get("mac"))
    watch = dict((entry["address"], own | set(entry["known"])) for entry, dummy in targets)
    batches = {}
    for entry, iface in targets:
        batches.setdefault(iface["name"], []).append(garp.probe_frame(iface["mac"], entry["address"]))
    owners = dict((entry["address"], entry["owners"]) for entry, dummy in targets)
    started = time.monotonic()
    try:
        with garp.raw_sockets(batches) as sockets:
            names = sorted(batches)  # raw_sockets opens them in this order
            sent, conflicts = garp.probe_all([(sock, frames, name) for (sock, frames), name in zip(sockets, names)],
                                             watch, params["probe_count"], params["probe_interval"],
                                             params["probe_listen"])
    except garp.RawSocketError as exc:
        fail(module, str(exc))
    except (OSError, IOError) as exc:
        module.fail_json(msg="sending ARP probes failed: %s" % exc, sent=0, probe=NOT_PROBED)
    for item in conflicts:
        item["owners"] = owners[item["address"]]
    result = dict(changed=False, sent=0, probed=[dict(address=e["address"], interface=i["name"]) for e, i in targets],
                  conflicts=conflicts, seconds=round(time.monotonic() - started, 3),
                  probe=dict(performed=True, probes_sent=sent, conflict=bool(conflicts),
                             conflicting_mac=conflicts[0]["mac"] if conflicts else None, answer=None))
    if conflicts:
        result["msg"] = "%s; nothing was claimed" % "; ".join(conflict_message(c, params["node"]) for c in conflicts)
        module.fail_json(**result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type="str"),
            addresses=dict(type="list", elements="str"),
            interface=dict(type="str"),
            count=dict(type="int", default=3),
            interval=dict(type="float", default=1.0),
            mode=dict(type="str", default="both", choices=["both", "reply", "request"]),
            probe=dict(type="bool", default=False),
            probe_count=dict(type="int", default=3),
            probe_timeout=dict(type="float", default=1.0),
            return_frames=dict(type="bool", default=True),
            return_announced=dict(type="bool", default=True),
            probes_text=dict(type="str"),
            probe_interval=dict(type="float", default=garp.PROBE_INTERVAL),
            probe_listen=dict(type="float", default=garp.PROBE_LISTEN),
            node=dict(type="str"),
        ),
        required_one_of=[["address", "addresses", "probes_text"]],
        mutually_exclusive=[["address", "addresses", "probes_text"], ["addresses", "interface"], ["addresses", "probe"],
                            ["probes_text", "interface"], ["probes_text", "probe"]],
        supports_check_mode=True,
    )
    params = module.params
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    single = params["address"] is not None
    try:
        if single:
            addresses = [validate_address(params["address"])]
        else:
            addresses = validate_addresses(params["addresses"] or [])
        interface = validate_ifname(params["interface"]) if params["interface"] is not None else None
    except AddrError as exc:
        fail(module, str(exc))
    for field, minimum in (("count", 1), ("probe_count", 1)):
        if params[field] < minimum:
            fail(module, "%s: %r must be at least %d" % (field, params[field], minimum))
    for field, low in (("interval", 0.0), ("probe_timeout", 0.01), ("probe_interval", 0.0), ("probe_listen", 0.0)):
        if not low <= params[field] <= 60:
            fail(module, "%s: %r must be between %g and 60 seconds" % (field, params[field], low))
    if params["probes_text"] is not None:
        probe_only(module, params)
    if not addresses:
        nothing = dict(changed=False, sent=0, probe=NOT_PROBED)
        if params["return_announced"]:
            nothing["announced"] = []
        if params["return_frames"]:
            nothing["frames"] = []
        module.exit_json(**nothing)

    try:
        interfaces = Ip(module).interfaces()
    except CommandError as exc:
        module.fail_json(sent=0, probe=NOT_PROBED, **exc.fail_args())
    except AddrError as exc:  # output that cannot be parsed
        fail(module, str(exc))
    targets = announce_targets(module, interfaces, addresses, interface)

    forms = garp.FORMS[params["mode"]]
    batches = garp.frames_by_interface(targets, forms)
    result = dict(changed=True, sent=0, probe=NOT_PROBED)
    if params["return_announced"]:
        result["announced"] = [dict(address=a, interface=i["name"], mac=i["mac"]) for a, i in targets]
    if params["return_frames"]:
        result["frames"] = [garp.describe(f) for frames in batches.values() for f in frames]
    if single:
        result.update(mac=targets[0][1]["mac"], interface=targets[0][1]["name"])
    if module._diff:
        result["diff"] = dict(before="", after="".join(
            "announce %s is-at %s on %s: %d x %s\n" % (a, i["mac"], i["name"], params["count"], "+".join(forms))
            for a, i in targets))
    if module.check_mode:
        module.exit_json(**result)

    try:
        with garp.raw_sockets(batches) as sockets:
            if params["probe"]:
                address, iface = targets[0]
                outcome = garp.probe(sockets[0][0], iface["mac"], address, params["probe_count"],
                                     params["probe_timeout"])
                result["probe"] = dict(outcome, performed=True)
                if outcome["conflict"]:
                    result.update(changed=False, msg="address: %s is in use by %s (ARP %s from it on %s while "
                                  "probing); nothing was announced" % (address, outcome["conflicting_mac"],
                                                                       outcome["answer"]["op"], iface["name"]))
                    module.fail_json(**result)
            result["sent"] = garp.announce_all(sockets, params["count"], params["interval"])
    except garp.RawSocketError as exc:
        fail(module, str(exc))
    except (OSError, IOError) as exc:
        module.fail_json(msg="sending ARP failed: %s" % exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
