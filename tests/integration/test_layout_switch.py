# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Switching egress_layout (sdn3 <-> sdn48) on a converged node, through the egress_plan action
and the egress_node role's own phase-2 task file, against a real userspace OVS in a namespace.

Phase 1 is the ovs_flow call of roles/egress_node/tasks/claim.yml (mark flows and mark groups,
state present); phase 2 is roles/egress_node/tasks/flows.yml itself. State is read back with
ovs-ofctl dump-flows / dump-groups and ovs-vsctl.
"""
import os
import stat

import pytest

COOKIE = '0x65677265'
KEY = 'sdn-egress-groups-65677265'
# cookie-0 flows in both layouts' tables and a group that is not ours: never touched
FOREIGN_FLOWS = """\
table=100, priority=300,udp,tp_dst=4789 actions=drop
table=100, priority=0 actions=goto_table:101
table=101, priority=0 actions=output:2
table=101, priority=51,ip,reg0=0x77 actions=drop
"""
FOREIGN_GROUP = 'group_id=9,type=select,bucket=actions=output:2'
# n1 is this namespace's OVS; n2 a remote node. loc leaves through n1, rem through n2, gone has no live IP.
NAMESPACES = [{'name': 'loc', 'netid': 0x2ec40e, 'egress_ips': ['10.0.0.50']},
              {'name': 'rem', 'netid': 0x10, 'egress_ips': ['10.0.0.60']},
              {'name': 'gone', 'netid': 0x11, 'egress_ips': ['10.0.0.70']}]
NODES = [{'name': 'n1', 'host_ip': '10.0.0.2', 'egress_ips': ['10.0.0.50']},
         {'name': 'n2', 'host_ip': '10.0.0.3', 'egress_ips': ['10.0.0.60']}]


@pytest.fixture
def br0(ovs, workdir):
    path = os.path.join(workdir, 'foreign.flows')
    with open(path, 'w') as f:
        f.write(FOREIGN_FLOWS)
    ovs.ofctl('add-flows', ovs.bridge, path)
    ovs.ofctl('-O', 'OpenFlow13', 'add-group', ovs.bridge, FOREIGN_GROUP)
    return ovs


def dump(ovs):
    out = ovs.ofctl('--no-stats', '--no-names', 'dump-flows', ovs.bridge)
    return sorted(line.strip() for line in out.splitlines() if 'actions=' in line)


def owned(ovs, table=None):
    prefix = 'cookie=%s, ' % COOKIE + ('table=%d,' % table if table is not None else '')
    return [line for line in dump(ovs) if line.startswith(prefix)]


def foreign(ovs):
    return [line for line in dump(ovs) if not line.startswith('cookie=%s,' % COOKIE)]


def groups(ovs):
    out = ovs.ofctl('-O', 'OpenFlow13', '--no-names', 'dump-groups', ovs.bridge)
    return sorted(line.strip() for line in out.splitlines() if line.strip().startswith('group_id='))


def record(ovs):
    return ovs.vsctl('--if-exists', 'get', 'Bridge', ovs.bridge, 'external_ids:' + KEY).strip().strip('"') or None


def converge(ovs, layout):
    """The plan for n1 in `layout`, phase 1 (claim.yml's ovs_flow call) and phase 2 (flows.yml)."""
    mac = ovs.vsctl('get', 'Interface', 'tun0', 'mac_in_use').strip().strip('"')
    facts = {'n1': {'reachable': True, 'tun0_mac': mac, 'tun0_ofport': 2, 'vxlan_ofport': 1},
             'n2': {'reachable': True, 'tun0_mac': '0a:58:0a:80:00:02', 'tun0_ofport': 2, 'vxlan_ofport': 1}}
    node_vars = {'egress_bridge': ovs.bridge, 'egress_ovs_rundir': ovs.rundir, 'egress_ovs_protocol': 'OpenFlow13',
                 'egress_cookie': COOKIE, 'egress_flow_force': False}
    return [
        {'name': 'plan', 'sdn.egress.egress_plan': {
            'namespaces': NAMESPACES, 'nodes': NODES, 'node_facts': facts, 'compact': True,
            'settings': {'layout': layout}}, 'register': 'planned'},
        {'name': 'node plan', 'ansible.builtin.set_fact': {'egress_node_plan': '{{ planned.plan.nodes.n1 }}'}},
        {'name': 'phase 1', 'vars': node_vars, 'sdn.egress.ovs_flow': {
            'bridge': ovs.bridge, 'rundir': ovs.rundir, 'cookie': COOKIE, 'state': 'present',
            'groups_text': '{{ egress_node_plan.mark_groups_text }}',
            'flows_text': '{{ egress_node_plan.mark_flows_text }}', 'return_state': False, 'return_entries': False},
         'when': 'egress_node_plan.mark_flows_text | length > 0'},
        {'name': 'phase 2', 'vars': node_vars,
         'ansible.builtin.include_role': {'name': 'sdn.egress.egress_node', 'tasks_from': 'flows.yml'}},
    ]


def test_layout_switch_both_ways_leaves_nothing_behind(br0, netns, ansible):
    flows_before, groups_before = foreign(br0), groups(br0)

    sdn3 = ansible(converge(br0, 'sdn3'), netns=netns)
    assert sdn3.rc == 0 and sdn3.changed, sdn3
    assert owned(br0) == owned(br0, 100) and len(owned(br0)) == 3, dump(br0)
    assert (groups(br0), record(br0)) == (groups_before, None)

    to48 = ansible(converge(br0, 'sdn48'), netns=netns)
    assert to48.rc == 0 and to48.changed, to48
    assert owned(br0, 100) == [], dump(br0)  # the sdn3 flows are gone
    assert len(owned(br0)) == len(owned(br0, 101)) == 3, dump(br0)
    assert [line.split(',', 1)[0] for line in groups(br0)] == ['group_id=16', 'group_id=3064846', 'group_id=9']
    assert record(br0) == '16,3064846'
    assert (foreign(br0), FOREIGN_GROUP in groups(br0)) == (flows_before, True)
    state48 = (dump(br0), groups(br0), record(br0))
    again = ansible(converge(br0, 'sdn48'), netns=netns)
    assert again.rc == 0 and not again.changed, again
    assert (dump(br0), groups(br0), record(br0)) == state48

    to3 = ansible(converge(br0, 'sdn3'), netns=netns)
    assert to3.rc == 0 and to3.changed, to3
    assert owned(br0, 101) == [] and len(owned(br0)) == len(owned(br0, 100)) == 3, dump(br0)
    assert (groups(br0), record(br0)) == (groups_before, None)  # our groups deleted, the record removed
    assert foreign(br0) == flows_before
    again3 = ansible(converge(br0, 'sdn3'), netns=netns)
    assert again3.rc == 0 and not again3.changed, again3
    check = ansible(converge(br0, 'sdn48'), check=True, netns=netns)
    assert check.rc == 0 and check.changed, check
    assert owned(br0, 101) == [] and record(br0) is None  # check mode changed nothing


@pytest.fixture
def counting(workdir):
    """A PATH directory whose ovs-ofctl and ovs-vsctl log each call, then run the real ones."""
    bindir = os.path.join(workdir, 'bin')
    log = os.path.join(workdir, 'ovs.calls')
    os.makedirs(bindir)
    for tool in ('ovs-ofctl', 'ovs-vsctl'):
        wrapper = os.path.join(bindir, tool)
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nstart=$(date +%%s%%N)\n/usr/bin/%s "$@"\nrc=$?\n'
                    'echo "$(( ($(date +%%s%%N) - start) / 1000 ))us %s $*" >> %s\nexit $rc\n' % (tool, tool, log))
        os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
    return bindir, log


def test_empty_groups_text_without_a_record_does_not_dump_groups(br0, netns, ansible, counting):
    """sdn3's phase 2 passes groups_text "" on every run: it costs one ovs-vsctl read, no dump-groups."""
    bindir, log = counting
    play = {'name': 'flows', 'environment': {'PATH': bindir + ':/usr/sbin:/usr/bin:/sbin:/bin'},
            'sdn.egress.ovs_flow': {'bridge': br0.bridge, 'rundir': br0.rundir, 'state': 'overridden',
                                    'flows_text': 'table=100,priority=100,ip,reg0=0x10,actions=drop',
                                    'groups_text': ''}}
    for expected_changed in (True, False):
        res = ansible([play], netns=netns)
        assert res.rc == 0 and res.changed is expected_changed, res
    with open(log) as f:
        calls = f.read().splitlines()
    print('\n'.join(calls))  # each call with its duration (the figure in the report)
    commands = [[word for word in line.split()[1:] if not word.startswith('-') and word != 'OpenFlow13'] for line in calls]
    assert commands == [
        ['ovs-ofctl', 'parse-flows'], ['ovs-ofctl', 'dump-flows', 'br0'],
        ['ovs-vsctl', 'list', 'Bridge', 'br0'], ['ovs-ofctl', 'bundle', 'br0'],
        ['ovs-ofctl', 'parse-flows'], ['ovs-ofctl', 'dump-flows', 'br0'], ['ovs-vsctl', 'list', 'Bridge', 'br0'],
    ], calls
    assert groups(br0) == [FOREIGN_GROUP] and record(br0) is None
