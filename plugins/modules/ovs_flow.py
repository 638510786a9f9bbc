#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ovs_flow
short_description: Manage OpenFlow flows on an Open vSwitch bridge idempotently
version_added: 0.1.0
description:
  - Adds, updates and deletes OpenFlow flows on an OVS bridge with C(ovs-ofctl).
  - Flows are owned through their cookie. The module only modifies or deletes flows that carry
    its O(cookie); a flow with the same table, priority and match but another cookie is refused
    unless O(force=true).
  - Desired flows are normalised by C(ovs-ofctl parse-flows) (one process for all of them) and
    compared with C(ovs-ofctl --no-stats dump-flows), so spelling differences such as
    C(reg0=0x2EC40E) versus C(reg0=0x2ec40e), C(ip_dst) versus C(nw_dst), field order or
    C(mod_dl_dst) versus C(set_field) never cause a change.
  - All changes are applied by one C(ovs-ofctl add-flows) call, as an atomic bundle when
    O(protocol) allows OpenFlow 1.3 or later.
  - Malformed flows fail before anything is changed, naming the option (for example
    C(flows[2].match), or C(flows_text line 3) and the line) and its value.
author:
  - sdn.egress developers (@sdn-egress)
extends_documentation_fragment:
  - sdn.egress.return_state
options:
  bridge:
    description: Name of the bridge, for example C(br0).
    type: str
    required: true
  rundir:
    description:
      - OVS run directory of the target switch, passed to C(ovs-ofctl) as E(OVS_RUNDIR), so
        that O(bridge) resolves to C(<rundir>/<bridge>.mgmt).
      - Defaults to the run directory C(ovs-ofctl) was built with (usually C(/var/run/openvswitch)).
    type: path
  target:
    description:
      - Explicit OpenFlow connection to use instead of O(bridge), for example
        C(unix:/var/run/openvswitch/br0.mgmt) or C(tcp:127.0.0.1:6633).
    type: str
  protocol:
    description: OpenFlow version(s) for C(ovs-ofctl -O), for example C(OpenFlow13) or C(OpenFlow10,OpenFlow13).
    type: str
    default: OpenFlow13
  cookie:
    description:
      - Ownership cookie, an integer or a hex string. Flows this module adds carry it, and it
        restricts every modification and deletion. Must not be 0 (the cookie of SDN flows).
    type: raw
    default: '0x65677265'
  state:
    description:
      - V(present) adds the flow(s) or updates their actions.
      - V(absent) deletes the flow(s) identified by table, priority and match, if owned.
      - V(overridden) makes the owned flows (in O(scope_table) if set) exactly O(flows),
        O(flows_text) or the single flow; missing ones are added, changed ones updated, the others
        deleted. An empty O(flows) list, or a O(flows_text) without flow lines, deletes all owned
        flows in scope.
    type: str
    choices: [present, absent, overridden]
    default: present
  table:
    description: Table of the single flow (0 if omitted). Mutually exclusive with O(flows) and O(flows_text).
    type: int
  priority:
    description: Priority of the single flow (32768 if omitted). Mutually exclusive with O(flows) and O(flows_text).
    type: int
  match:
    description:
      - Match of the single flow in C(ovs-ofctl) syntax without table, priority and cookie,
        for example C(ip,reg0=0x2ec40e). Empty or omitted matches every packet.
      - Ports must be given as numbers (C(in_port=1)); port names cannot be normalised.
      - Mutually exclusive with O(flows) and O(flows_text).
    type: str
  actions:
    description:
      - Actions of the single flow in C(ovs-ofctl) syntax, for example C(goto_table:101).
        Required for O(state=present) and O(state=overridden), ignored for O(state=absent).
      - Mutually exclusive with O(flows) and O(flows_text).
    type: str
  flows:
    description:
      - List of flows, instead of the single flow options.
      - Mutually exclusive with O(flows_text).
      - For hundreds of flows prefer O(flows_text).
    type: list
    elements: dict
    suboptions:
      table:
        description: Table number.
        type: int
        default: 0
      priority:
        description: Flow priority.
        type: int
        default: 32768
      match:
        description: Match without table, priority and cookie; empty matches every packet.
        type: str
        default: ''
      actions:
        description: Actions; required unless O(state=absent).
        type: str
  flows_text:
    description:
      - The same flows as O(flows), as one string in the syntax of an C(ovs-ofctl add-flows) file,
        one flow per line, for example C(table=100,priority=100,ip,reg0=0x2ec40e,actions=drop).
      - Fields before C(actions=) are separated by commas or blanks. C(table=) and C(priority=)
        may stand anywhere among them; when missing they default to 0 and 32768 as in O(flows).
        The other fields, in their order, are the match. C(actions=) starts the actions, which run
        to the end of the line. A line without C(actions=) is only valid with O(state=absent).
        C(cookie=) is an error (the module sets O(cookie)).
      - Blank lines and lines whose first non-blank character is C(#) are skipped.
      - "Each line becomes the O(flows) entry with that table, priority, match and actions, and is
        then handled exactly like it. Errors name the line, for example
        C(flows_text line 3: 'table=x,ip,actions=drop': table must be an integer)."
      - Why it exists - ansible-core templates a list argument element by element (in 2.19 about
        90 microseconds per dict), which takes seconds for thousands of flows, while one string
        is templated at a constant cost whatever its length. Use it for large sets of flows; the
        role P(sdn.egress.egress_node#role) passes its flows this way.
      - Mutually exclusive with O(flows) and the single flow options.
    type: str
  scope_table:
    description:
      - With O(state=overridden), only owned flows in this table are deleted when not listed.
        Every desired flow must then be in this table.
    type: int
  force:
    description:
      - Replace a flow with the same table, priority and match that carries another cookie
        (the replacement carries O(cookie)). Without it the module fails naming that flow.
      - Never makes O(state=absent) delete a flow it does not own.
    type: bool
    default: false
  return_entries:
    description:
      - Return RV(added), RV(removed) and RV(modified).
      - With V(false) they are left out; RV(commands) still names every change. Converging
        thousands of flows, they double the result (and the time Ansible spends passing it on).
        The role M(sdn.egress.egress_node) sets V(false).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Reads and normalises flows, then reports the exact commands it would apply.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: Shows the owned and affected flows before and after.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - ovs-ofctl (Open vSwitch 2.8 or later) on the managed host
notes:
  - Flows are printed and compared with C(--no-names), so outputs use port numbers.
  - O(state=overridden) never touches flows with another cookie, such as the SDN's (cookie 0).
seealso:
  - name: ovs-ofctl manual page
    description: Flow syntax, C(parse-flows), C(add-flows) and C(--bundle).
    link: https://www.openvswitch.org/support/dist-docs/ovs-ofctl.8.txt
'''

EXAMPLES = r'''
- name: Send the egress namespace's traffic to the egress node through the VXLAN port
  sdn.egress.ovs_flow:
    bridge: br0
    table: 100
    priority: 100
    match: ip,reg0=0x2ec40e
    actions: move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:192.0.2.12->tun_dst,output:1

- name: Own exactly these table-100 flows; delete our other ones there, keep the SDN's
  sdn.egress.ovs_flow:
    bridge: br0
    rundir: /var/run/openvswitch
    state: overridden
    scope_table: 100
    flows:
      - table: 100
        priority: 100
        match: ip,reg0=0x2ec40e
        actions: set_field:22:3b:a9:a4:8e:0c->eth_dst,set_field:0x2ec40e->pkt_mark,goto_table:101
      - table: 100
        priority: 100
        match: reg0=0x6f7936
        actions: drop

- name: The same flows as one string (constant templating cost, for large sets)
  sdn.egress.ovs_flow:
    bridge: br0
    state: overridden
    scope_table: 100
    flows_text: |
      # table=, priority= and the match before actions=; actions run to the end of the line
      table=100,priority=100,ip,reg0=0x2ec40e,actions=set_field:0x2ec40e->pkt_mark,goto_table:101
      table=100,priority=100,reg0=0x6f7936,actions=drop

- name: Remove a flow we own (a foreign flow at the same place is left alone)
  sdn.egress.ovs_flow:
    bridge: br0
    table: 100
    priority: 100
    match: ip,reg0=0x2ec40e
    state: absent

- name: Remove all flows carrying our cookie in table 100
  sdn.egress.ovs_flow:
    bridge: br0
    state: overridden
    scope_table: 100
    flows: []
'''

RETURN = r'''
changed:
  description: Whether flows were (or in check mode would be) changed.
  returned: always
  type: bool
commands:
  description:
    - The C(ovs-ofctl add-flows) lines applied in one call (in check mode, that would be applied),
      deletions first. Empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample:
    - delete_strict cookie=0x65677265/-1,table=100,priority=100,ip,reg0=0x6f7936
    - add cookie=0x65677265,table=100,priority=100,ip,reg0=0x2ec40e actions=drop
before:
  description:
    - Flows in the affected scope before the run, as C(ovs-ofctl --no-stats --no-names dump-flows)
      prints them. The scope is the flows at the desired table/priority/match (any cookie) and,
      for O(state=overridden), the owned flows (in O(scope_table)).
  returned: unless O(return_state=false)
  type: list
  elements: str
  sample:
    - cookie=0x65677265, table=100, priority=100,ip,reg0=0x6f7936 actions=drop
after:
  description: The same scope after the run (in check mode, as it would be).
  returned: unless O(return_state=false)
  type: list
  elements: str
  sample:
    - cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop
added:
  description: Flows added.
  returned: unless O(return_entries=false)
  type: list
  elements: str
removed:
  description: Owned flows deleted.
  returned: unless O(return_entries=false)
  type: list
  elements: str
modified:
  description: Flows whose actions were updated, or foreign flows replaced with O(force=true), as they are after the run.
  returned: unless O(return_entries=false)
  type: list
  elements: str
'''

import collections

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sdn.egress.plugins.module_utils.ovs import (
    DEFAULT_PRIORITY,
    add_flows_argv,
    check_match,
    dump_flows_argv,
    flow_key,
    flow_spec,
    format_flow,
    ovs_environ,
    parse_cookie,
    parse_dump_flows,
    parse_error_line,
    parse_flow_mods,
    parse_flows_argv,
    parse_flows_text,
    plan_flows,
)

SINGLE_FLOW_OPTIONS = ('table', 'priority', 'match', 'actions')

# One desired flow and where it came from: label is '' (single flow options), 'flows[N]' or
# 'flows_text line N'; line is the flows_text line (None otherwise).
Item = collections.namedtuple('Item', 'label line table priority match actions')


def field(label, name):
    """Option path for messages: 'match' for the single flow, 'flows[2].match' in a list."""
    return '%s.%s' % (label, name) if label else name


def where(item):
    """Prefix naming the flow: 'flows[2]', or "flows_text line 3: 'LINE'"."""
    return item.label if item.line is None else '%s: %r' % (item.label, item.line)


def problem(item, name, value, text):
    """Message about one value: "flows[2].table: 254 is ..." or "flows_text line 3: 'LINE': table 254 is ..."."""
    if item.line is None:
        return '%s: %r %s' % (field(item.label, name), value, text)
    return '%s: %s %r %s' % (where(item), name, value, text)


def source_items(module):
    """[Item] as given, before validation: from flows_text, flows or the single flow options."""
    params = module.params
    if params['flows_text'] is not None:
        try:
            lines = parse_flows_text(params['flows_text'])
        except ValueError as e:
            module.fail_json(msg='flows_text %s' % e)
        return [Item('flows_text line %d' % number, line, **flow) for number, line, flow in lines]
    if params['flows'] is not None:
        return [Item('flows[%d]' % i, None, **flow) for i, flow in enumerate(params['flows'])]
    return [Item('', None, table=params['table'] if params['table'] is not None else 0,
                 priority=params['priority'] if params['priority'] is not None else DEFAULT_PRIORITY,
                 match=params['match'] or '', actions=params['actions'])]


def desired_items(module):
    """[Item] validated; with state=absent missing actions become a placeholder."""
    params = module.params
    result = []
    for item in source_items(module):
        if not 0 <= item.table <= 253:
            module.fail_json(msg=problem(item, 'table', item.table, 'is not a table number (0-253)'))
        if not 0 <= item.priority <= 65535:
            module.fail_json(msg=problem(item, 'priority', item.priority, 'is not a priority (0-65535)'))
        try:
            check_match(item.match)
        except ValueError as e:
            module.fail_json(msg=problem(item, 'match', item.match, 'is invalid: %s' % e))
        actions = item.actions
        if params['state'] == 'absent':
            actions = actions or 'drop'  # only table/priority/match matter; still validated
        elif not actions:
            if item.line is None:
                module.fail_json(msg='%s is required with state=%s' % (field(item.label, 'actions'), params['state']))
            module.fail_json(msg='%s: actions= is required with state=%s' % (where(item), params['state']))
        if '\n' in actions or '\r' in actions:
            module.fail_json(msg=problem(item, 'actions', actions, 'must be a single line'))
        if params['state'] == 'overridden' and params['scope_table'] not in (None, item.table):
            module.fail_json(msg=problem(item, 'table', item.table, 'is outside scope_table %r' % params['scope_table']))
        result.append(item._replace(actions=actions))
    return result


def normalise(module, ofctl, items):
    """Let OVS normalise all desired flows in one parse-flows call; fail naming a bad one."""
    protocol = module.params['protocol']
    specs = [flow_spec(item.table, item.priority, item.match, item.actions) for item in items]
    rc, out, err = module.run_command(parse_flows_argv(ofctl, protocol), data='\n'.join(specs))
    if rc == 0:
        flows = parse_flow_mods(out)
        if len(flows) == len(items):
            return flows
        module.fail_json(msg='ovs-ofctl parse-flows returned %d flows for %d' % (len(flows), len(items)),
                         stdout=out, stderr=err)
    bad = parse_error_line(err)
    if bad is None or not 1 <= bad[0] <= len(items):
        module.fail_json(msg='ovs-ofctl parse-flows failed: %s' % err.strip(), rc=rc, stderr=err)
    item = items[bad[0] - 1]
    # Which part is wrong: the match alone (with a trivial action) tells.
    rc, dummy, match_err = module.run_command(parse_flows_argv(ofctl, protocol),
                                              data=flow_spec(item.table, item.priority, item.match, 'drop'))
    if rc != 0:
        reason = parse_error_line(match_err)
        module.fail_json(msg=problem(item, 'match', item.match,
                                     'is invalid: %s' % (reason[1] if reason else match_err.strip())))
    module.fail_json(msg=problem(item, 'actions', item.actions, 'is invalid: %s' % bad[1]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bridge=dict(type='str', required=True),
            rundir=dict(type='path'),
            target=dict(type='str'),
            protocol=dict(type='str', default='OpenFlow13'),
            cookie=dict(type='raw', default='0x65677265'),
            state=dict(type='str', default='present', choices=['present', 'absent', 'overridden']),
            table=dict(type='int'),
            priority=dict(type='int'),
            match=dict(type='str'),
            actions=dict(type='str'),
            flows=dict(type='list', elements='dict', options=dict(
                table=dict(type='int', default=0),
                priority=dict(type='int', default=32768),
                match=dict(type='str', default=''),
                actions=dict(type='str'),
            )),
            flows_text=dict(type='str'),
            scope_table=dict(type='int'),
            force=dict(type='bool', default=False),
            return_state=dict(type='bool', default=True),
            return_entries=dict(type='bool', default=True),
        ),
        mutually_exclusive=[('flows', 'flows_text')] + [
            (many, option) for many in ('flows', 'flows_text') for option in SINGLE_FLOW_OPTIONS],
        supports_check_mode=True,
    )
    params = module.params
    try:
        cookie = parse_cookie(params['cookie'])
    except ValueError as e:
        module.fail_json(msg=str(e))
    items = desired_items(module)
    ofctl = module.get_bin_path('ovs-ofctl', required=True)
    protocol = params['protocol']
    switch = params['target'] or params['bridge']
    module.run_command_environ_update = ovs_environ(params['rundir'])

    desired = normalise(module, ofctl, items) if items else []
    seen = {}
    for item, flow in zip(items, desired):
        other = seen.setdefault(flow_key(flow), item.label)
        if other != item.label:
            module.fail_json(msg='%s: same table, priority and match as %s (%s)'
                             % (where(item), other, format_flow(flow)))

    rc, out, err = module.run_command(dump_flows_argv(ofctl, protocol, switch))
    if rc != 0:
        module.fail_json(msg='ovs-ofctl dump-flows %s failed: %s' % (switch, err.strip()), rc=rc, stderr=err)
    wanted = []  # the formatted lists this run returns or shows (every flow of a large plan)
    if params['return_state'] or module._diff:
        wanted += ['before', 'after']
    if params['return_entries']:
        wanted += ['added', 'removed', 'modified']
    plan = plan_flows(desired, parse_dump_flows(out), cookie, params['state'],
                      params['scope_table'], params['force'], formatted_keys=wanted)

    conflicts = ['%sflow %r is owned by cookie 0x%x, not 0x%x' % (
        where(items[index]) + ': ' if items[index].label else '', format_flow(foreign), foreign.cookie, cookie)
        for index, foreign in plan.pop('conflicts')]
    if conflicts and params['state'] != 'absent':
        module.fail_json(msg='%s; set force=true to replace' % '; '.join(conflicts))
    for text in conflicts:
        module.warn('%s; left in place' % text)

    if plan['commands'] and not module.check_mode:
        rc, out, err = module.run_command(add_flows_argv(ofctl, protocol, switch),
                                          data='\n'.join(plan['commands']))
        if rc != 0:
            module.fail_json(msg='ovs-ofctl add-flows %s failed: %s' % (switch, err.strip()),
                             rc=rc, stderr=err, commands=plan['commands'])

    result = dict(changed=bool(plan['commands']), **plan)
    if module._diff:
        result['diff'] = dict(
            before_header='%s flows (cookie 0x%x)' % (switch, cookie),
            after_header='%s flows (cookie 0x%x)' % (switch, cookie),
            before=''.join(line + '\n' for line in plan['before']),
            after=''.join(line + '\n' for line in plan['after']),
        )
    if not module.params['return_state']:
        result.pop('before', None)
        result.pop('after', None)
    if not module.params['return_entries']:
        for key in ('added', 'removed', 'modified'):
            result.pop(key, None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
