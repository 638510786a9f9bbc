#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ovs_monitor_ports
short_description: BFD monitor ports (VXLAN towards peer nodes) of dataplane failover on an Open vSwitch bridge
version_added: 0.1.0
description:
  - Converges the VXLAN ports that dataplane failover (O(sdn.egress.egress_plan#module:settings.failover=dataplane))
    uses to watch peer nodes; one port per peer, C(type=vxlan), C(options:remote_ip=<peer>),
    C(options:key=<key>) (a VNI kept for monitoring, not C(flow), so the SDN's C(vxlan0) still
    receives every pod packet), BFD on (C(bfd:enable=true), C(bfd:min_tx), C(bfd:min_rx)), a
    fixed C(ofport_request) (the OpenFlow port number the fast-failover buckets watch).
  - The BFD session sends its probes to C(02:73:64:6e:65:70) and accepts only answers to
    C(02:73:64:6e:65:72) (C(bfd:bfd_local_dst_mac), C(bfd:bfd_remote_dst_mac)). The peer does
    not answer with BFD of its own but with a flow (table 0) that sends the probes back out
    of its monitor port to the answer address; the plan writes that flow with the egress
    node's mark flows, so a node whose flows are gone (a reboot, an ovs-vswitchd restart)
    answers nothing until a run has restored it.
  - A port is ours when its Interface record has C(external_ids:sdn-egress-owner=<owner>). Only
    our ports are changed or removed; an interface with a wanted name or holding a wanted port
    number that is not ours is refused, naming it, unless O(force).
  - All changes go in one C(ovs-vsctl) transaction, after every check; the ports are read back
    and each must have its requested OpenFlow port number.
  - The role P(sdn.egress.egress_node#role) passes the plan's C(monitor_ports_text).
author:
  - sdn.egress developers (@sdn-egress)
extends_documentation_fragment:
  - sdn.egress.ovs
options:
  bridge:
    description: The SDN bridge.
    type: str
    default: br0
  ports:
    description: The monitor ports wanted on O(bridge).
    type: list
    elements: dict
    suboptions:
      name:
        description: Interface (and port) name, at most 15 characters; the plan writes C(sdne-<peer IPv4 in hex>).
        type: str
        required: true
      ofport:
        description: OpenFlow port number to request (1 to 65279); the plan uses 61440 to 65279.
        type: int
        required: true
      remote_ip:
        description: The peer node's IP address (its underlay address, the HostSubnet host IP).
        type: str
        required: true
      bfd:
        description:
          - Run a BFD session on this end (this node watches the peer). V(false) for an end that
            only answers the peer's probes, with the reflector flow of the plan's mark flows
            (the peer is not an egress node).
        type: bool
        default: true
  ports_text:
    description:
      - The same as O(ports), one port a line, C(NAME OFPORT REMOTE_IP), followed by C(reflect)
        for an end without BFD (O(ports[].bfd=false)); blank and C(#) lines skipped. Errors name
        the line, for example C(ports_text line 2).
      - Mutually exclusive with O(ports).
    type: str
  key:
    description:
      - VXLAN VNI of the monitor ports (2 to 16777215). Must not be the netid of any namespace.
    type: int
    default: 16777214
  bfd_min_tx:
    description: BFD minimum transmit interval in milliseconds (BFD detects a loss after 3 intervals).
    type: int
    default: 100
  bfd_min_rx:
    description: BFD minimum receive interval in milliseconds.
    type: int
    default: 100
  owner:
    description: The ownership mark written to C(external_ids:sdn-egress-owner) (the flows' cookie by convention).
    type: str
    default: '0x65677265'
  state:
    description:
      - C(present) - the listed ports exist as described (others left alone).
      - C(overridden) - the listed ports exist, and every other port of ours on O(bridge) is removed.
      - C(absent) - the listed ports of ours are removed (only O(ports[].name) counts).
      - C(gathered) - read only; returns our ports with their BFD state.
    type: str
    choices: [present, absent, overridden, gathered]
    default: present
  force:
    description:
      - Take over an interface with a wanted name that is not ours, and request a port number
        that an interface not ours holds (Open vSwitch then renumbers that interface, which breaks
        the flows that use its number).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Check mode reads, plans and returns the same RV(commands) without running them.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - ovs-vsctl (Open vSwitch 2.8 or later) on the managed host
  - netaddr on the managed host (remote IP addresses are parsed with it)
notes:
  - Both ends need a port for BFD to come up, and the watched end the reflector flow; the plan
    gives every node its ends and every egress node its reflector flows.
  - BFD liveness makes the port live or not for the fast-failover groups (C(watch_port)); the
    traffic itself never uses these ports.
seealso:
  - module: sdn.egress.ovs_flow
  - module: sdn.egress.egress_plan
'''

EXAMPLES = r'''
- name: Monitor ports towards two egress nodes, and nothing else of ours
  sdn.egress.ovs_monitor_ports:
    ports_text: |
      sdne-c0000203 61923 192.0.2.3
      sdne-c0000204 63104 192.0.2.4
    state: overridden

- name: BFD state of our monitor ports
  sdn.egress.ovs_monitor_ports:
    state: gathered
  register: monitors
'''

RETURN = r'''
commands:
  description: The ovs-vsctl commands of the one transaction, one string each (also in check mode).
  returned: always
  type: list
  elements: str
  sample: ["add-port br0 sdne-c0000203 -- set Interface sdne-c0000203 type=vxlan ..."]
added:
  description: Names of the ports added.
  returned: unless O(state=gathered)
  type: list
  elements: str
modified:
  description: Names of the ports set again (or taken over with O(force)).
  returned: unless O(state=gathered)
  type: list
  elements: str
removed:
  description: Names of the ports removed.
  returned: unless O(state=gathered)
  type: list
  elements: str
before:
  description: The changed ports as they were, one line each.
  returned: unless O(state=gathered)
  type: list
  elements: str
after:
  description: The changed ports as they are (will be, in check mode), one line each.
  returned: unless O(state=gathered)
  type: list
  elements: str
live:
  description:
    - Per remote IP of our monitor ports on O(bridge), whether BFD says the peer answers now
      (C(bfd_status:forwarding); the fast-failover buckets watching the port are live), read
      before any change. The run report (P(sdn.egress.egress_report#role)) tells from it which
      bucket of each namespace serves.
  returned: always
  type: dict
  sample: {"192.0.2.3": true, "192.0.2.4": false}
gathered:
  description: Our monitor ports on O(bridge), with the BFD state.
  returned: O(state=gathered)
  type: list
  elements: dict
  sample:
    - {name: sdne-c0000203, ofport: 61923, remote_ip: 192.0.2.3, key: "16777214", forwarding: true,
       state: up, remote_state: up, bfd: {enable: "true", min_rx: "100", min_tx: "100"}}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sdn.egress.plugins.module_utils import monitor
from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, AddrError, parse_int
from ansible_collections.sdn.egress.plugins.module_utils.ovs import VsCtl
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError


def wanted_ports(module):
    params = module.params
    try:
        if params['ports_text'] is not None:
            return monitor.parse_monitor_text(params['ports_text'])
        return [('ports[%d]' % index, monitor.check_port(port, 'ports[%d]' % index))
                for index, port in enumerate(params['ports'] or [])]
    except AddrError as exc:
        module.fail_json(msg=str(exc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bridge=dict(type='str', default='br0'),
            rundir=dict(type='path'),
            ports=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                ofport=dict(type='int', required=True),
                remote_ip=dict(type='str', required=True),
                bfd=dict(type='bool', default=True))),
            ports_text=dict(type='str'),
            key=dict(type='int', default=monitor.DEFAULT_VNI, no_log=False),
            bfd_min_tx=dict(type='int', default=monitor.DEFAULT_MIN_TX),
            bfd_min_rx=dict(type='int', default=monitor.DEFAULT_MIN_RX),
            owner=dict(type='str', default='0x65677265'),
            state=dict(type='str', default='present', choices=['present', 'absent', 'overridden', 'gathered']),
            force=dict(type='bool', default=False),
        ),
        mutually_exclusive=[('ports', 'ports_text')],
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib('netaddr'))
    params = module.params
    try:
        key = parse_int(params['key'], 'key', 2, 0xFFFFFF)
        min_tx = parse_int(params['bfd_min_tx'], 'bfd_min_tx', 1, 60000)
        min_rx = parse_int(params['bfd_min_rx'], 'bfd_min_rx', 1, 60000)
    except AddrError as exc:
        module.fail_json(msg=str(exc))
    owner = params['owner']
    if not owner or owner.split() != [owner]:
        module.fail_json(msg='owner: %r is not a single word' % owner)
    spec = monitor.Spec(params['bridge'], key, min_tx, min_rx, owner)
    wanted = wanted_ports(module) if params['state'] != 'gathered' else []
    vsctl = VsCtl(module, params['rundir'])
    try:
        current = monitor.read(vsctl)
        if params['state'] == 'gathered':
            module.exit_json(changed=False, commands=[], gathered=monitor.gathered(current, spec),
                             live=monitor.live(current, spec))
        planned = monitor.plan(wanted, current, spec, params['state'], params['force'])
        if planned['conflicts']:
            module.fail_json(msg='; '.join(planned['conflicts']))
        commands = planned['commands']
        live = monitor.live(current, spec)
        changed = bool(commands)
        if changed and not module.check_mode:
            monitor.apply(vsctl, commands)
            problems = check_after(wanted, monitor.read(vsctl), spec, params['state'])
            if problems:
                module.fail_json(msg='after the change: %s' % '; '.join(problems),
                                 commands=[monitor.command_text(c) for c in commands])
    except CommandError as exc:
        module.fail_json(**exc.fail_args())
    except ValueError as exc:
        module.fail_json(msg='ovs-vsctl: %s' % exc)
    result = dict(changed=changed, commands=[monitor.command_text(c) for c in commands],
                  added=planned['added'], modified=planned['modified'], removed=planned['removed'],
                  before=planned['before'], after=planned['after'], live=live)
    if module._diff:
        result['diff'] = dict(before=''.join(line + '\n' for line in planned['before']),
                              after=''.join(line + '\n' for line in planned['after']))
    module.exit_json(**result)


def check_after(wanted, current, spec, state):
    """What the read-back shows still wrong: a wanted port missing, not ours, or not on its
    requested OpenFlow port number (another interface holds it)."""
    problems = []
    for label, port in wanted:
        record = current.get(port['name'])
        if state == 'absent':
            if record is not None and monitor.owned(record, spec.owner):
                problems.append('%s: %s is still there' % (label, port['name']))
            continue
        if record is None or not monitor.owned(record, spec.owner) or record['bridge'] != spec.bridge:
            problems.append('%s: %s is not on bridge %s as ours' % (label, port['name'], spec.bridge))
        elif record['ofport'] != port['ofport']:
            problems.append('%s.ofport: %s has OpenFlow port %s, not the requested %d'
                            % (label, port['name'], record['ofport'], port['ofport']))
    return problems


if __name__ == '__main__':
    main()
