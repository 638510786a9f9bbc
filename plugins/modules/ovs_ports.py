#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ovs_ports
short_description: Read Open vSwitch ports (OpenFlow port number, MAC, type, bridge) from OVSDB
version_added: 0.1.0
description:
  - Reads the named interfaces from the Open vSwitch database with one C(ovs-vsctl) call and
    returns, per port, its OpenFlow port number, the MAC address in use, its type and the bridge
    that holds it. The role P(sdn.egress.egress_plan#role) needs those of C(tun0) and C(vxlan0).
  - Fails, naming every port at once, when a port does not exist, is not on O(bridge), or has no
    OpenFlow port number (OVS could not open its device; the message carries OVS's error).
  - Never changes anything; runs the same in check mode.
  - Why not M(openvswitch.openvswitch.openvswitch_db) - it reads one column of one record per
    task, so the three facts the role needs (C(tun0) C(ofport) and C(mac_in_use), C(vxlan0)
    C(ofport)) take three tasks and three processes per node, and it cannot tell which bridge
    holds a port. This module reads every column of every named port, and the Port and Bridge
    records that place them, in one process and returns them parsed.
author:
  - sdn.egress developers (@sdn-egress)
extends_documentation_fragment:
  - sdn.egress.ovs
options:
  ports:
    description: Names of the interfaces to read, for example C([tun0, vxlan0]).
    type: list
    elements: str
    required: true
  bridge:
    description:
      - When set, every port must be on this bridge; a port on another bridge (or on none) fails.
    type: str
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: A read; check mode runs it as usual.
  diff_mode:
    support: none
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - ovs-vsctl (Open vSwitch 2.8 or later) on the managed host
seealso:
  - module: sdn.egress.ovs_flow
  - module: openvswitch.openvswitch.openvswitch_db
'''

EXAMPLES = r'''
- name: Read the SDN ports of br0
  sdn.egress.ovs_ports:
    bridge: br0
    ports: [tun0, vxlan0]
  register: sdn_ports

- name: Use them
  ansible.builtin.debug:
    msg: >-
      tun0 is port {{ sdn_ports.ports.tun0.ofport }} with MAC {{ sdn_ports.ports.tun0.mac_in_use }},
      vxlan0 is port {{ sdn_ports.ports.vxlan0.ofport }}

- name: A switch with its own run directory (database at /run/ovs-test/db.sock)
  sdn.egress.ovs_ports:
    rundir: /run/ovs-test
    ports: [tun0]
'''

RETURN = r'''
changed:
  description: Always V(false).
  returned: always
  type: bool
ports:
  description: Per port name (as given in O(ports)), what OVSDB says about it.
  returned: success
  type: dict
  sample:
    tun0: {ofport: 2, mac_in_use: "22:c6:4b:5f:c9:9e", type: internal, bridge: br0}
    vxlan0: {ofport: 1, mac_in_use: "1a:43:5d:8e:84:30", type: vxlan, bridge: br0}
  contains:
    ofport:
      description: The OpenFlow port number (what flows and buckets use in C(output:N)).
      type: int
    mac_in_use:
      description: The MAC address the port uses, lower case; null when OVS reports none.
      type: str
    type:
      description: The interface type (C(internal), C(vxlan), ...; empty for an ordinary system device).
      type: str
    bridge:
      description: The bridge that holds the port.
      type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sdn.egress.plugins.module_utils.ovs import VsCtl
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError


def port_problems(names, found, bridge):
    """One message per port that is missing, elsewhere or without an OpenFlow port number."""
    problems = []
    for name in names:
        port = found.get(name)
        if port is None:
            problems.append('%s is not an interface in the Open vSwitch database' % name)
        elif bridge is not None and port['bridge'] != bridge:
            problems.append('%s is on %s, not on bridge %s' % (
                name, 'bridge %s' % port['bridge'] if port['bridge'] else 'no bridge', bridge))
        elif not isinstance(port['ofport'], int) or port['ofport'] < 0:
            problems.append('%s has no OpenFlow port number (ofport %s)%s' % (
                name, port['ofport'] if port['ofport'] is not None else 'unset',
                ': %s' % port['error'] if port['error'] else ''))
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ports=dict(type='list', elements='str', required=True),
            bridge=dict(type='str'),
            rundir=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    names = module.params['ports']
    for index, name in enumerate(names):
        if not name or name != name.strip() or '\n' in name:
            module.fail_json(msg='ports[%d]: %r is not an interface name' % (index, name))
    try:
        found = VsCtl(module, module.params['rundir']).ports(names)
    except CommandError as exc:
        module.fail_json(**exc.fail_args())
    except ValueError as exc:
        module.fail_json(msg='ovs-vsctl: %s' % exc)
    problems = port_problems(names, found, module.params['bridge'])
    if problems:
        module.fail_json(msg='ports: %s' % '; '.join(problems))
    module.exit_json(changed=False, ports=dict(
        (name, dict((key, found[name][key]) for key in ('ofport', 'mac_in_use', 'type', 'bridge'))) for name in names))


if __name__ == '__main__':
    main()
