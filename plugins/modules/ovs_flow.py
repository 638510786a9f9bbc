#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ovs_flow
short_description: Manage OpenFlow flows and groups on an Open vSwitch bridge idempotently
version_added: 0.1.0
description:
  - Adds, updates and deletes OpenFlow flows, and optionally OpenFlow groups, on an OVS bridge
    with C(ovs-ofctl).
  - Flows are owned through their cookie. The module only modifies or deletes flows that carry
    its O(cookie); a flow with the same table, priority and match but another cookie is refused
    unless O(force=true).
  - Groups carry no cookie. The ids of the groups the module owns are recorded on the bridge,
    in C(external_ids:sdn-egress-groups-<cookie in hex>) (for the default cookie
    C(sdn-egress-groups-65677265)), as comma-separated sorted ids. The record is written in the
    same run, right after the OpenFlow bundle succeeded. A group id that exists on the switch
    and is not recorded is refused unless O(force=true) (then it is taken over and recorded);
    a recorded id that is no longer on the switch is dropped from the record.
  - Desired flows are normalised by C(ovs-ofctl parse-flows) (one process for all of them) and
    compared with C(ovs-ofctl --no-stats dump-flows), so spelling differences such as
    C(reg0=0x2EC40E) versus C(reg0=0x2ec40e), C(ip_dst) versus C(nw_dst), field order or
    C(mod_dl_dst) versus C(set_field) never cause a change.
  - Desired groups are compared with C(ovs-ofctl dump-groups). Their buckets' actions are
    normalised by the same C(parse-flows) process as the flows; a group whose actions
    C(parse-flows) cannot judge (actions that need a match, such as the C(ct) action) goes through
    C(ovs-ofctl parse-group), one process per such group. Group ids, types and bucket
    parameters are written in the order and spelling C(dump-groups) prints.
  - Without groups, all flow changes are applied by one C(ovs-ofctl add-flows) call, as an atomic
    bundle when O(protocol) allows OpenFlow 1.3 or later. With groups, flows and groups are
    applied by one C(ovs-ofctl bundle) call, one atomic transaction - group adds and modifies
    first, then flow adds and modifies, then flow deletes, then group deletes.
  - Deleting a group deletes the flows that point to it (OpenFlow semantics). The module
    refuses a plan that deletes a group a kept flow of its own points to, and refuses to delete
    an owned group a foreign flow points to unless O(force=true).
  - Malformed flows and groups fail before anything is changed, naming the option (for example
    C(flows[2].match), C(flows_text line 3) or C(groups_text line 2) and the line) and its value.
  - O(state=gathered) returns the owned flows and groups in the module's own input formats, and
    O(state=rendered) returns the exact text that would be applied to an empty bridge without
    touching any host (no Open vSwitch needed).
author:
  - sdn.egress developers (@sdn-egress)
extends_documentation_fragment:
  - sdn.egress.ovs
  - sdn.egress.return_state
options:
  bridge:
    description:
      - Name of the bridge, for example C(br0).
      - Required unless O(state=rendered). With groups it also names the OVSDB Bridge record
        whose C(external_ids) lists the owned groups (even when O(target) is set).
    type: str
  target:
    description:
      - Explicit OpenFlow connection to use instead of O(bridge), for example
        C(unix:/var/run/openvswitch/br0.mgmt) or C(tcp:127.0.0.1:6633).
    type: str
  protocol:
    description:
      - OpenFlow version(s) for C(ovs-ofctl -O), for example C(OpenFlow13) or C(OpenFlow10,OpenFlow13).
      - Groups need OpenFlow 1.3 or later among them. Groups are compared as OpenFlow 1.3 prints them
        (OpenFlow 1.5 adds bucket ids, which this module does not manage).
    type: str
    default: OpenFlow13
  cookie:
    description:
      - Ownership cookie, an integer or a hex string. Flows this module adds carry it, and it
        restricts every modification and deletion. Must not be 0 (the cookie of SDN flows).
      - It also names the external_ids key that records the owned groups.
    type: raw
    default: '0x65677265'
  state:
    description:
      - V(present) adds the flow(s) and group(s) or updates their actions and buckets.
      - V(absent) deletes the flow(s) identified by table, priority and match, and the group(s)
        identified by C(group_id), if owned.
      - V(overridden) makes the owned flows (in O(scope_table) if set) exactly O(flows),
        O(flows_text) or the single flow; missing ones are added, changed ones updated, the others
        deleted. An empty O(flows) list, or a O(flows_text) without flow lines, deletes all owned
        flows in scope. With O(groups) or O(groups_text), the owned groups become exactly those
        listed in the same way (O(scope_table) does not apply to groups). When only groups are
        given, flows are left alone.
      - V(gathered) changes nothing and returns RV(gathered), the owned flows (in O(scope_table) if
        set) and the owned groups in the module's input formats. It takes no flows or groups.
      - V(rendered) needs no host and no Open vSwitch. It returns RV(rendered), the exact text the
        module would apply to an empty bridge for the given flows and groups. Without OVS
        nothing is normalised - matches and actions (also bucket actions) are shown as given,
        group ids, types and bucket parameters as C(dump-groups) writes them. Without groups that
        is an C(ovs-ofctl --bundle add-flows BRIDGE -) file, with groups an
        C(ovs-ofctl bundle BRIDGE -) file.
    type: str
    choices: [present, absent, overridden, gathered, rendered]
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
        may stand anywhere among them (decimal or C(0x) hex); when missing they default to 0 and
        32768 as in O(flows). The other fields, in their order, are the match. C(actions=) starts
        the actions, which run to the end of the line. A line without C(actions=) is only valid
        with O(state=absent). C(cookie=) is an error (the module sets O(cookie)).
      - Blank lines and lines whose first non-blank character is C(#) are skipped.
      - "Each line becomes the O(flows) entry with that table, priority, match and actions, and is
        then handled exactly like it. Errors name the line, for example
        C(flows_text line 3: 'table=x,ip,actions=drop': table: x is not an integer)."
      - Why it exists - ansible-core templates a list argument element by element (in 2.19 about
        90 microseconds per dict), which takes seconds for thousands of flows, while one string
        is templated at a constant cost whatever its length. Use it for large sets of flows; the
        role P(sdn.egress.egress_node#role) passes its flows this way.
      - Mutually exclusive with O(flows) and the single flow options.
    type: str
  groups:
    description:
      - OpenFlow groups to manage, each one string in C(ovs-ofctl add-groups) file syntax, for
        example C(group_id=3064846,type=select,bucket=actions=set_field:10.0.0.2->tun_dst,output:1).
      - "Fields: C(group_id=) (0 to 4294967040, decimal or C(0x) hex) and C(type=) (C(all),
        C(select), C(indirect), C(ff) or C(fast_failover)), in any order, then one C(bucket=) per
        bucket. A bucket holds optional C(weight:N) (select groups only), C(watch_port:N) and
        C(watch_group:N), then its actions, with or without C(actions=). Other fields (such as
        OpenFlow 1.5 C(selection_method) or C(bucket_id)) are refused."
      - With O(state=absent) only C(group_id=) is needed.
      - Giving O(groups) or O(groups_text) (even empty) makes the module manage groups; an empty
        list with O(state=overridden) deletes every owned group. With no group listed and none
        recorded as owned, managing groups costs one C(ovs-vsctl) read (the groups are not dumped).
      - Mutually exclusive with O(groups_text).
    type: list
    elements: str
  groups_text:
    description:
      - The same groups as O(groups), as one string, one group per line (blank lines and lines
        starting with C(#) are skipped), as the role passes them (constant templating cost).
      - Errors name the line, for example C(groups_text line 2).
      - Mutually exclusive with O(groups).
    type: str
  scope_table:
    description:
      - With O(state=overridden), only owned flows in this table are deleted when not listed.
        Every desired flow must then be in this table.
      - With O(state=gathered), only owned flows in this table are returned.
    type: int
  force:
    description:
      - Replace a flow with the same table, priority and match that carries another cookie
        (the replacement carries O(cookie)). Without it the module fails naming that flow.
      - Take over a group whose id exists on the switch and is not recorded as ours (it is
        modified to the desired group and recorded). Without it the module fails naming the
        group id and its current text.
      - Delete an owned group even though foreign flows point to it (OpenFlow deletes those flows
        with the group; the module warns naming them).
      - Never makes O(state=absent) delete a flow or group it does not own (but deleting an owned
        group still takes the foreign flows that point to it along, see above).
    type: bool
    default: false
  conflicts:
    description:
      - "What to do about a I(conflict) - a flow with another cookie, in the table of one of the
        desired flows, at a priority at least that flow's (at equal priorities OpenFlow leaves the
        order undefined), not at the same table, priority and match (that is O(force)'s case), whose
        match takes that flow's traffic first. Checked with O(state=present) and O(state=overridden)."
      - "Its match takes the traffic when it names the same namespace - a C(reg0) value (with or
        without mask) that covers the desired flow's C(reg0), whatever else it matches (it takes
        all of that namespace's traffic, or the part its other fields select) - or when it is a
        superset of the desired match - every field it matches is matched by the desired flow
        with a value it covers, C(ip) aside (our traffic is IPv4). So an empty match (a
        priority-only catch-all), C(ip) alone, or the desired match without C(reg0) count."
      - "A flow that also matches fields the desired flow leaves open (C(tcp), C(tp_dst), C(nw_dst),
        C(in_port), C(ct_state) ...) without naming its C(reg0) takes only part of any traffic and
        does not count - such as the SDN's own C(priority=300,udp,tp_dst=4789) and DNS flows at
        priority 200 in table 100, or C(priority=150,ct_state=+rpl) in table 101. The SDN's
        priority-0 flows are below ours and never count."
      - V(fail) (default) - the task fails before anything is changed (also in check mode), naming
        each foreign flow as C(dump-flows) prints it, the desired flow it shadows and why.
      - V(warn) - they are returned in RV(conflicts), each one is a warning, and left in place.
      - V(remove) - they are deleted (C(delete_strict) with their own cookie) in the same call or
        bundle as the other changes; RV(commands), RV(removed) and the diff show it.
    type: str
    choices: [fail, warn, remove]
    default: fail
  return_entries:
    description:
      - Return RV(added), RV(removed), RV(modified) and, with groups, RV(groups_added),
        RV(groups_removed) and RV(groups_modified).
      - With V(false) they are left out; RV(commands) still names every change. Converging
        thousands of flows, they double the result (and the time Ansible spends passing it on).
        The role M(sdn.egress.egress_node) sets V(false).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Reads and normalises flows and groups, then reports the exact commands it would apply.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: Shows the owned and affected flows and groups, and the groups record, before and after.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - ovs-ofctl (Open vSwitch 2.8 or later) on the managed host; with groups or O(state=gathered) also
    ovs-vsctl (the bridge's external_ids); none for O(state=rendered)
notes:
  - Flows and groups are printed and compared with C(--no-names), so outputs use port numbers.
  - O(state=overridden) never touches flows with another cookie, such as the SDN's (cookie 0),
    nor groups that are not recorded as ours.
  - The result keys follow the network resource modules' vocabulary (RV(commands),
    RV(before)/RV(after), RV(gathered), RV(rendered)); the states are this module's own.
seealso:
  - name: ovs-ofctl manual page
    description: Flow and group syntax, C(parse-flows), C(add-flows), C(bundle) and C(--bundle).
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

- name: openshift-sdn 4.8 layout - a select group load-balancing over two egress nodes, and its flow
  sdn.egress.ovs_flow:
    bridge: br0
    state: overridden
    scope_table: 101
    flows_text: |
      table=101,priority=100,ip,reg0=0x2ec40e,actions=ct(commit),group:3064846
    groups_text: |
      group_id=3064846,type=select,bucket=actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:192.0.2.12->tun_dst,output:1,bucket=actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:192.0.2.13->tun_dst,output:1

- name: Delete a group we own (and the owned flow that points to it)
  sdn.egress.ovs_flow:
    bridge: br0
    state: absent
    flows_text: table=101,priority=100,ip,reg0=0x2ec40e
    groups:
      - group_id=3064846

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

- name: What do we own on br0? (no change; feed it back with state=overridden)
  sdn.egress.ovs_flow:
    bridge: br0
    state: gathered
  register: owned

- name: Restore exactly that later
  sdn.egress.ovs_flow:
    bridge: br0
    state: overridden
    flows_text: "{{ owned.gathered.flows_text }}"
    groups_text: "{{ owned.gathered.groups_text }}"

- name: The bundle a change-review board reads (runs on the controller, no OVS needed)
  sdn.egress.ovs_flow:
    state: rendered
    flows_text: |
      table=101,priority=100,ip,reg0=0x2ec40e,actions=ct(commit),group:3064846
    groups_text: |
      group_id=3064846,type=select,bucket=actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:192.0.2.12->tun_dst,output:1
  delegate_to: localhost
  register: review
'''

RETURN = r'''
changed:
  description: Whether flows, groups or the groups record were (or in check mode would be) changed.
  returned: always
  type: bool
commands:
  description:
    - Without groups, the C(ovs-ofctl add-flows) lines applied in one call (in check mode, that
      would be applied), deletions first.
    - With groups, the lines of the one C(ovs-ofctl bundle) call - C(group add)/C(group modify),
      then C(flow add)/C(flow modify_strict), then C(flow delete_strict), then C(group delete).
    - Empty when nothing changes. With O(state=rendered), the lines of RV(rendered).
  returned: always except with O(state=gathered)
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
  returned: with O(state=present), O(state=absent) or O(state=overridden), unless O(return_state=false)
  type: list
  elements: str
  sample:
    - cookie=0x65677265, table=100, priority=100,ip,reg0=0x6f7936 actions=drop
after:
  description: The same scope after the run (in check mode, as it would be).
  returned: with O(state=present), O(state=absent) or O(state=overridden), unless O(return_state=false)
  type: list
  elements: str
  sample:
    - cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop
added:
  description: Flows added.
  returned: with O(state=present), O(state=absent) or O(state=overridden), unless O(return_entries=false)
  type: list
  elements: str
removed:
  description: Owned flows deleted.
  returned: with O(state=present), O(state=absent) or O(state=overridden), unless O(return_entries=false)
  type: list
  elements: str
modified:
  description: Flows whose actions were updated, or foreign flows replaced with O(force=true), as they are after the run.
  returned: with O(state=present), O(state=absent) or O(state=overridden), unless O(return_entries=false)
  type: list
  elements: str
groups_before:
  description:
    - Groups in the affected scope before the run, as C(ovs-ofctl dump-groups) prints them, by id.
      The scope is the groups with the desired ids (owned or not) and, for O(state=overridden),
      the owned groups.
  returned: with O(groups) or O(groups_text), unless O(return_state=false)
  type: list
  elements: str
  sample:
    - group_id=3064846,type=select,bucket=actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:192.0.2.12->tun_dst,output:1
groups_after:
  description: The same scope after the run (in check mode, as it would be).
  returned: with O(groups) or O(groups_text), unless O(return_state=false)
  type: list
  elements: str
groups_added:
  description: Groups added, by id.
  returned: with O(groups) or O(groups_text), unless O(return_entries=false)
  type: list
  elements: str
groups_removed:
  description: Owned groups deleted, as they were.
  returned: with O(groups) or O(groups_text), unless O(return_entries=false)
  type: list
  elements: str
groups_modified:
  description: Owned groups whose type or buckets were updated, or foreign groups taken over with O(force=true), as they are after the run.
  returned: with O(groups) or O(groups_text), unless O(return_entries=false)
  type: list
  elements: str
groups_owned:
  description:
    - The ids of the groups owned after the run (in check mode, as they would be), as recorded in
      the bridge's C(external_ids:sdn-egress-groups-<cookie in hex>).
  returned: with O(groups) or O(groups_text) and O(state=present), O(state=absent) or O(state=overridden)
  type: list
  elements: int
  sample: [3064846]
gathered:
  description:
    - What the module owns on the switch, in its own input formats, ready to be passed back
      (O(flows) and O(groups), or O(flows_text) and O(groups_text)).
  returned: with O(state=gathered)
  type: dict
  contains:
    flows:
      description: Owned flows (in O(scope_table) if set) as O(flows) entries, normalised, by table, priority (highest first) and match.
      type: list
      elements: dict
      sample: [{table: 101, priority: 100, match: "ip,reg0=0x2ec40e", actions: "ct(commit),group:3064846"}]
    flows_text:
      description: The same flows as O(flows_text) lines.
      type: str
      sample: "table=101,priority=100,ip,reg0=0x2ec40e,actions=ct(commit),group:3064846\n"
    groups:
      description: Owned groups (recorded and on the switch) as O(groups) entries, by id.
      type: list
      elements: str
    groups_text:
      description: The same groups as O(groups_text) lines.
      type: str
conflicts:
  description:
    - Foreign flows that take a desired flow's traffic first (see O(conflicts)), one entry per
      foreign flow and desired flow it shadows. With O(conflicts=remove), the flows deleted for it.
  returned: with O(state=present) or O(state=overridden); with O(conflicts=fail) in the failure
  type: list
  elements: dict
  contains:
    flow:
      description: The foreign flow as C(ovs-ofctl --no-stats --no-names dump-flows) prints it.
      type: str
    shadows:
      description: The desired flow it shadows, in the same form (with O(cookie)).
      type: str
    reason:
      description: Which part of its match and its priority make it a conflict.
      type: str
  sample:
    - flow: "table=100, priority=150,ip,reg0=0x2ec40e actions=output:2"
      shadows: "cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop"
      reason: "same reg0 0x2ec40e, priority 150 above ours (100)"
rendered:
  description:
    - The text that would be applied to an empty bridge, one line per flow or group, with a final
      newline; an C(ovs-ofctl --bundle add-flows) file without groups, an C(ovs-ofctl bundle) file
      with them. Flows carry O(cookie); matches and actions are as given (see O(state=rendered)).
  returned: with O(state=rendered)
  type: str
  sample: |
    group add group_id=3064846,type=select,bucket=actions=set_field:192.0.2.12->tun_dst,output:1
    flow add cookie=0x65677265,table=101,priority=100,ip,reg0=0x2ec40e actions=ct(commit),group:3064846
'''

import collections

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError, show
from ansible_collections.sdn.egress.plugins.module_utils.ovs import (
    DEFAULT_PRIORITY,
    Flow,
    OfCtl,
    VsCtl,
    bucket_actions,
    bucket_instruction,
    bucket_spec,
    bundle_lines,
    check_match,
    flow_command,
    flow_key,
    flow_line,
    flow_spec,
    find_flow_conflicts,
    flows_after,
    format_flow,
    format_groups_record,
    group_id_of,
    group_ids_used,
    group_line,
    groups_record_key,
    parse_cookie,
    parse_error_line,
    parse_group_line,
    parse_flows_text,
    parse_groups_record,
    parse_groups_text,
    plan_flows,
    plan_groups,
    sort_key,
    supports_bundle,
    with_bucket_actions,
)
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError

SINGLE_FLOW_OPTIONS = ('table', 'priority', 'match', 'actions')
FLOW_OPTIONS = SINGLE_FLOW_OPTIONS + ('flows', 'flows_text')
GROUP_OPTIONS = ('groups', 'groups_text')
ENTRY_KEYS = ('added', 'removed', 'modified', 'groups_added', 'groups_removed', 'groups_modified')
STATE_KEYS = ('before', 'after', 'groups_before', 'groups_after')

# One desired flow and where it came from: label is '' (single flow options), 'flows[N]' or
# 'flows_text line N'; line is the flows_text line (None otherwise).
Item = collections.namedtuple('Item', 'label line table priority match actions')
# One desired group: label 'groups[N]' or 'groups_text line N', line the text as given, group
# the parse_group_line dict.
GroupItem = collections.namedtuple('GroupItem', 'label line group')


def field(label, name):
    """Option path for messages: 'match' for the single flow, 'flows[2].match' in a list."""
    return '%s.%s' % (label, name) if label else name


def where(item):
    """Prefix naming the flow or group: 'flows[2]', or "flows_text line 3: 'LINE'"."""
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


def desired_groups(module):
    """[GroupItem] from groups_text or groups, parsed; ids unique. state=absent needs only ids."""
    params = module.params
    need_type = params['state'] != 'absent'
    if params['groups_text'] is not None:
        try:
            lines = parse_groups_text(params['groups_text'], need_type)
        except ValueError as e:
            module.fail_json(msg='groups_text %s' % e)
        items = [GroupItem('groups_text line %d' % number, line, group) for number, line, group in lines]
    else:
        items = []
        for index, text in enumerate(params['groups']):
            label = 'groups[%d]' % index
            if '\n' in text or '\r' in text:
                module.fail_json(msg='%s: %r must be a single line' % (label, text))
            try:
                items.append(GroupItem(label, text.strip(), parse_group_line(text.strip(), need_type)))
            except ValueError as e:
                module.fail_json(msg='%s: %r: %s' % (label, text, e))
    seen = {}
    for item in items:
        other = seen.setdefault(item.group['group_id'], item.label)
        if other != item.label:
            module.fail_json(msg='%s: group_id %d is given twice (also %s)' % (where(item), item.group['group_id'], other))
    return items


def flow_problem(module, ofctl, item, reason):
    """Fail naming the match or the actions of a flow parse-flows refused (`reason`)."""
    # Which part is wrong: the match alone (with a trivial action) tells.
    try:
        ofctl.parse_flows([flow_spec(item.table, item.priority, item.match, 'drop')])
    except CommandError as exc:
        found = parse_error_line(exc.err)
        module.fail_json(msg=problem(item, 'match', item.match,
                                     'is invalid: %s' % (found[1] if found else exc.err.strip())))
    module.fail_json(msg=problem(item, 'actions', item.actions, 'is invalid: %s' % reason))


def group_by_ovs(module, ofctl, item):
    """The group as `ovs-ofctl parse-group` prints it; fail naming the group if OVS refuses it."""
    try:
        return ofctl.parse_group(group_line(item.group))
    except CommandError as exc:
        reason = exc.err.strip()
        module.fail_json(msg='%s: %s' % (where(item), reason[len('ovs-ofctl: '):] if reason.startswith('ovs-ofctl: ') else reason))


def normalise(module, ofctl, items, groups):
    """(flows, group lines): OVS normalises the desired flows and the groups' bucket actions in
    one parse-flows call; a group whose buckets parse-flows refuses (actions that need a match,
    such as ct()) or turns into an instruction goes through parse-group instead. Fails naming
    a bad flow or group."""
    specs = [flow_spec(item.table, item.priority, item.match, item.actions) for item in items]
    buckets = [bucket_spec(bucket_actions(bucket)) for item in groups for bucket in item.group['buckets']]
    if not specs and not buckets:
        return [], [group_line(item.group) for item in groups]
    try:
        parsed = ofctl.parse_flows(specs + buckets)
    except CommandError as exc:
        bad = parse_error_line(exc.err)
        if bad is None or not 1 <= bad[0] <= len(specs) + len(buckets):
            module.fail_json(**exc.fail_args())
        if bad[0] <= len(specs):
            flow_problem(module, ofctl, items[bad[0] - 1], bad[1])
        flows = normalise(module, ofctl, items, [])[0]
        return flows, [group_by_ovs(module, ofctl, item) for item in groups]
    if len(parsed) != len(specs) + len(buckets):
        module.fail_json(msg='ovs-ofctl parse-flows returned %d flows for %d' % (len(parsed), len(specs) + len(buckets)))
    lines, position = [], len(specs)
    for item in groups:
        count = len(item.group['buckets'])
        actions = [flow.actions for flow in parsed[position:position + count]]
        position += count
        if any(bucket_instruction(text) for text in actions):
            lines.append(group_by_ovs(module, ofctl, item))
        else:
            lines.append(group_line(with_bucket_actions(item.group, actions)))
    return parsed[:len(specs)], lines


def check_unique(module, items, flows):
    seen = {}
    for item, flow in zip(items, flows):
        other = seen.setdefault(flow_key(flow), item.label)
        if other != item.label:
            module.fail_json(msg='%s: same table, priority and match as %s (%s)'
                             % (where(item), other, format_flow(flow)))


def render(module, cookie, items, groups):
    """state=rendered: the lines that would be applied to an empty bridge; no OVS needed."""
    flows = [Flow(item.table, item.priority, item.match, item.actions, cookie) for item in items]
    check_unique(module, items, flows)
    lines = [flow_command('add', flow, cookie) for flow in flows]
    if groups:
        lines = ['group add ' + group_line(item.group) for item in groups] + ['flow ' + line for line in lines]
    module.exit_json(changed=False, rendered=''.join(line + '\n' for line in lines), commands=lines)


def gather(module, cookie):
    """state=gathered: the owned flows and groups, in the module's input formats; no change."""
    params = module.params
    given = [name for name in FLOW_OPTIONS + GROUP_OPTIONS if params[name] is not None]
    if given:
        module.fail_json(msg='state=gathered takes no flows or groups (got %s)' % ', '.join(given))
    ofctl = OfCtl(module, params['protocol'], params['target'] or params['bridge'], params['rundir'])
    try:
        flows = sorted((flow for flow in ofctl.dump_flows()
                        if flow.cookie == cookie and params['scope_table'] in (None, flow.table)), key=sort_key)
        record = GroupsRecord(module, cookie)
        current = ofctl.dump_groups() if record.ids else {}
    except CommandError as exc:
        module.fail_json(**exc.fail_args())
    entries = [dict(table=f.table, priority=f.priority, match=f.match, actions=f.actions) for f in flows]
    groups = [current[group_id] for group_id in sorted(record.ids & set(current))]
    module.exit_json(changed=False, gathered=dict(
        flows=entries, flows_text=''.join(flow_line(entry) + '\n' for entry in entries),
        groups=groups, groups_text=''.join(line + '\n' for line in groups)))


def conflict_messages(items, conflicts, cookie):
    return ['%sflow %r is owned by cookie 0x%x, not 0x%x' % (
        where(items[index]) + ': ' if items[index].label else '', format_flow(foreign), foreign.cookie, cookie)
        for index, foreign in conflicts]


def group_conflict_messages(groups, conflicts, key):
    return ['%s: group %d exists and is not ours (not in external_ids:%s): %r' % (where(groups[index]), group_id, key, line)
            for index, group_id, line in conflicts]


def check_group_users(module, flows, deleted, cookie, force):
    """Deleting a group deletes the flows that point to it: never for a flow we keep, for a
    foreign flow only with force (then warn)."""
    refused, doomed = [], []
    for flow in sorted(flows, key=sort_key):
        for group_id in sorted(group_ids_used(flow.actions) & deleted):
            if flow.cookie == cookie:
                refused.append('group %d is to be deleted, but flow %r (kept) points to it; list the group '
                               'or remove the flow' % (group_id, format_flow(flow)))
            else:
                doomed.append('group %d is ours, but flow %r (cookie 0x%x) points to it and would be deleted '
                              'with it' % (group_id, format_flow(flow), flow.cookie))
    if refused:
        module.fail_json(msg='; '.join(refused))
    if doomed and not force:
        module.fail_json(msg='%s; set force=true to delete both' % '; '.join(doomed))
    for text in doomed:
        module.warn('%s; deleted with force=true' % text)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bridge=dict(type='str'),
            rundir=dict(type='path'),
            target=dict(type='str'),
            protocol=dict(type='str', default='OpenFlow13'),
            cookie=dict(type='raw', default='0x65677265'),
            state=dict(type='str', default='present',
                       choices=['present', 'absent', 'overridden', 'gathered', 'rendered']),
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
            groups=dict(type='list', elements='str'),
            groups_text=dict(type='str'),
            scope_table=dict(type='int'),
            force=dict(type='bool', default=False),
            conflicts=dict(type='str', choices=['fail', 'warn', 'remove'], default='fail'),
            return_state=dict(type='bool', default=True),
            return_entries=dict(type='bool', default=True),
        ),
        mutually_exclusive=[('flows', 'flows_text'), ('groups', 'groups_text')] + [
            (many, option) for many in ('flows', 'flows_text') for option in SINGLE_FLOW_OPTIONS],
        required_if=[('state', state, ['bridge']) for state in ('present', 'absent', 'overridden', 'gathered')],
        supports_check_mode=True,
    )
    params = module.params
    state = params['state']
    if state != 'rendered' and not params['bridge']:
        module.fail_json(msg='bridge is required with state=%s' % state)
    try:
        cookie = parse_cookie(params['cookie'])
    except AddrError as e:
        module.fail_json(msg=str(e))
    if state == 'gathered':
        gather(module, cookie)
    with_groups = any(params[name] is not None for name in GROUP_OPTIONS)
    # groups alone leave the flows alone (an overridden run would otherwise delete them all)
    with_flows = not with_groups or any(params[name] is not None for name in FLOW_OPTIONS)
    items = desired_items(module) if with_flows else []
    groups = desired_groups(module) if with_groups else []
    if state == 'rendered':
        render(module, cookie, items, groups)
    if with_groups and not supports_bundle(params['protocol']):
        module.fail_json(msg='protocol: %s: groups need OpenFlow13 or later (groups and flows are applied '
                             'in one bundle)' % params['protocol'])
    ofctl = OfCtl(module, params['protocol'], params['target'] or params['bridge'], params['rundir'])
    try:
        result = converge(module, ofctl, cookie, items, groups, with_flows, with_groups)
    except CommandError as exc:
        module.fail_json(**exc.fail_args())
    module.exit_json(**result)


def converge(module, ofctl, cookie, items, groups, with_flows, with_groups):
    """Plan, check, apply (unless check mode) and describe one run; returns the result."""
    params = module.params
    state = params['state']
    desired, group_lines = normalise(module, ofctl, items, groups if state != 'absent' else [])
    check_unique(module, items, desired)

    existing = ofctl.dump_flows()
    wanted = []  # the formatted lists this run returns or shows (every flow of a large plan)
    if params['return_state'] or module._diff:
        wanted += ['before', 'after']
    if params['return_entries']:
        wanted += ['added', 'removed', 'modified']
    if with_flows:
        plan = plan_flows(desired, existing, cookie, state, params['scope_table'], params['force'],
                          formatted_keys=wanted, with_deleted=with_groups)
        conflicts = conflict_messages(items, plan.pop('conflicts'), cookie)
    else:
        plan, conflicts = dict((name, []) for name in wanted + ['commands']), []
    deleted_flows = plan.pop('deleted', [])
    record = None
    if with_groups:
        record = GroupsRecord(module, cookie)
        # nothing listed and nothing recorded as ours: no group can change, no dump-groups
        # (the sdn3 layout passes groups_text "" on every run)
        current_groups = ofctl.dump_groups() if groups or record.ids else {}
        group_plan = plan_groups(list(zip([item.group['group_id'] for item in groups],
                                          group_lines if state != 'absent' else [None] * len(groups))),
                                 current_groups, record.ids, state, params['force'])
        conflicts += group_conflict_messages(groups, group_plan['conflicts'], record.key)
    if conflicts and state != 'absent':
        module.fail_json(msg='%s; set force=true to replace' % '; '.join(conflicts))
    for text in conflicts:
        module.warn('%s; left in place' % text)
    shadowing = shadowing_flows(module, desired, existing, cookie, plan) if with_flows and state != 'absent' else []

    result = dict(plan)
    if state != 'absent':
        result['conflicts'] = shadowing
    if with_groups:
        check_group_users(module, flows_after(existing, desired, cookie, state, deleted_flows),
                          set(group_plan['deleted']), cookie, params['force'])
        result.update(commands=bundle_lines(plan['commands'], group_plan), groups_owned=group_plan['owned'],
                      groups_before=group_plan['before'], groups_after=group_plan['after'],
                      groups_added=group_plan['added'], groups_removed=group_plan['removed'],
                      groups_modified=group_plan['modified'])
        record.after = format_groups_record(group_plan['owned']) or None
    result['changed'] = bool(result['commands']) or (record is not None and record.changes)

    if result['changed'] and not module.check_mode:
        if with_groups:
            apply_with_groups(module, ofctl, record, group_plan, result['commands'])
        else:
            try:
                ofctl.add_flows(result['commands'])
            except CommandError as exc:
                module.fail_json(commands=result['commands'], **exc.fail_args())

    if module._diff:
        result['diff'] = diff(module, cookie, plan, group_plan if with_groups else None, record)
    for name in (STATE_KEYS if not params['return_state'] else ()) + (ENTRY_KEYS if not params['return_entries'] else ()):
        result.pop(name, None)
    return result


def shadowing_flows(module, desired, existing, cookie, plan):
    """The conflicts option: foreign flows that take a desired flow's traffic first
    (find_flow_conflicts). fail - fail naming them, before any change; warn - warn; remove -
    their delete_strict commands join the plan (and removed/before/after). Returns the
    RV(conflicts) entries."""
    found = find_flow_conflicts(desired, existing, cookie)
    entries = [dict(flow=format_flow(foreign), shadows=format_flow(desired[index]._replace(cookie=cookie)), reason=reason)
               for index, foreign, reason in found]
    messages = ['flow %s shadows %s: %s' % (show(e['flow']), show(e['shadows']), e['reason']) for e in entries]
    mode = module.params['conflicts']
    if entries and mode == 'fail':
        module.fail_json(msg='%d foreign flow(s) take the traffic of our flows first (nothing was changed; set '
                             'conflicts=remove to delete them or conflicts=warn to leave them): %s'
                             % (len(entries), '; '.join(messages)), conflicts=entries)
    if mode == 'warn':
        for text in messages:
            module.warn('left in place (conflicts=warn): %s' % text)
    if mode == 'remove':
        doomed = []
        for dummy, foreign, dummy2 in found:
            if foreign not in doomed:
                doomed.append(foreign)
        doomed.sort(key=sort_key)
        plan['commands'][:0] = [flow_command('delete_strict', foreign, foreign.cookie) for foreign in doomed]
        lines = [format_flow(foreign) for foreign in doomed]
        if 'removed' in plan:
            plan['removed'] = lines + plan['removed']
        if 'before' in plan:
            plan['before'] = lines + plan['before']
    elif 'before' in plan:
        lines = sorted(set(e['flow'] for e in entries))
        plan['before'] = lines + plan['before']
        plan['after'] = lines + plan['after']
    return entries


class GroupsRecord:
    """The bridge's external_ids entry listing the groups owned with a cookie: read at the
    start of a run (``value``, ``ids``), ``after`` set by the plan, written by ``write``."""

    def __init__(self, module, cookie):
        self.module, self.bridge = module, module.params['bridge']
        self.key = groups_record_key(cookie)
        self.vsctl = VsCtl(module, module.params['rundir'])
        self.value = self.vsctl.external_ids(self.bridge).get(self.key) or None
        try:
            self.ids = parse_groups_record(self.value, self.key)
        except AddrError as exc:
            module.fail_json(msg='%s (bridge %s)' % (exc, self.bridge))
        self.after = self.value

    @property
    def changes(self):
        return self.after != self.value

    def line(self, value):
        """The record as the diff shows it (nothing when there is none)."""
        return ['external_ids:%s="%s"' % (self.key, value)] if value else []

    def write(self):
        self.vsctl.set_external_id(self.bridge, self.key, self.after, what=(
            'the OpenFlow bundle was applied, but recording the owned groups in %s external_ids:%s failed'
            % (self.bridge, self.key)))


def apply_with_groups(module, ofctl, record, group_plan, commands):
    """The bundle, then the record, then a read-back of the groups written: each must read as
    planned (the comparison of the next run depends on it). After the bundle every failure says
    that something changed."""
    if commands:
        try:
            ofctl.bundle(commands)
        except CommandError as exc:
            module.fail_json(commands=commands, **exc.fail_args())
    try:
        if record.changes:
            record.write()
        written = group_plan['added'] + group_plan['modified']
        current = ofctl.dump_groups() if written else {}
    except CommandError as exc:
        module.fail_json(changed=True, commands=commands, **exc.fail_args())
    for line in written:
        group_id = group_id_of(line)
        if current.get(group_id) != line:
            module.fail_json(changed=True, commands=commands, msg=(
                'group %d was written as %r, but the switch reads it back as %r: the next run would '
                'see a difference' % (group_id, line, current.get(group_id))))


def diff(module, cookie, plan, group_plan, record):
    """--diff: the flows in scope, then (with groups) the groups in scope and the record."""
    switch = module.params['target'] or module.params['bridge']
    header = '%s flows%s (cookie 0x%x)' % (switch, ' and groups' if group_plan else '', cookie)
    before, after = list(plan['before']), list(plan['after'])
    if group_plan is not None:
        before += group_plan['before'] + record.line(record.value)
        after += group_plan['after'] + record.line(record.after)
    return dict(before_header=header, after_header=header,
                before=''.join(line + '\n' for line in before), after=''.join(line + '\n' for line in after))


if __name__ == '__main__':
    main()
