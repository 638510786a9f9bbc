# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Groups (groups_text reader and writer, normalisation, plans) and OVSDB port records, against
outputs recorded from OVS 3.1 (tests/unit/fixtures/ovs/README.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.sdn.egress.plugins.module_utils import ovs
from ansible_collections.sdn.egress.plugins.module_utils.ovs import Flow

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'ovs')
COOKIE = 0x65677265
TUNNEL = 'move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:10.0.0.2->tun_dst,output:1'


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def variants():
    return [line for line in fixture('groups_variants.in').splitlines() if line]


# --- normalisation: our canonical form against what OVS prints -----------------------------

def test_bucket_specs_are_the_recorded_parse_flows_input():
    specs = [ovs.bucket_spec(ovs.bucket_actions(bucket))
             for line in variants() for bucket in ovs.parse_group_line(line)['buckets']]
    assert specs == fixture('groups_variants_buckets.in').splitlines()


def test_canonical_groups_equal_dump_groups_and_parse_group():
    """The invariant group idempotence rests on: header and bucket parameters written by
    group_line, bucket actions normalised by parse-flows, read exactly as dump-groups (and
    parse-group) print the same input."""
    normalised = iter(flow.actions for flow in ovs.parse_flow_mods(fixture('groups_variants_buckets.txt')))
    dumped = ovs.parse_dump_groups(fixture('dump_groups_variants.txt'))
    parsed = [ovs.parse_group_mod(line) for line in fixture('groups_variants_parse_group.txt').splitlines()]
    ours = []
    for line in variants():
        group = ovs.parse_group_line(line)
        ours.append(ovs.group_line(ovs.with_bucket_actions(group, [next(normalised) for dummy in group['buckets']])))
    assert next(normalised, None) is None
    assert ours == parsed
    assert sorted(ours, key=ovs.group_id_of) == [dumped[group_id] for group_id in sorted(dumped)]
    assert len(dumped) == len(variants()) == 12


def test_parse_flows_refuses_what_a_bucket_may_hold():
    """Why a group can fall back to parse-group: a bucket has no match, so parse-flows (which
    checks actions against the flow's match) refuses ct() in the match-less bucket line."""
    assert ovs.parse_error_line(fixture('parse_error_bucket_prereq.stderr')) == (
        2, 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)')


def test_parse_dump_groups():
    dumped = ovs.parse_dump_groups(fixture('dump_groups_variants.txt'))
    assert dumped[3064846] == ('group_id=3064846,type=select,bucket=actions=' + TUNNEL
                               + ',bucket=actions=' + TUNNEL.replace('10.0.0.2', '10.0.0.4'))
    assert dumped[16] == 'group_id=16,type=all'
    assert ovs.parse_dump_groups('OFPST_GROUP_DESC reply (OF1.3) (xid=0x2):\n') == {}


def test_parse_group_mod():
    assert ovs.parse_group_mod('OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n ADD group_id=5,type=all\n') == 'group_id=5,type=all'
    with pytest.raises(ValueError, match='unexpected parse-group output'):
        ovs.parse_group_mod('usable protocols: any\n')


# --- groups_text: reader and writer ----------------------------------------------------------

@pytest.mark.parametrize('line, expected', [
    ('group_id=5,type=select,bucket=actions=output:1,bucket=actions=output:2',
     dict(group_id=5, type='select', buckets=['output:1', 'output:2'])),
    ('type=all group_id=0x10', dict(group_id=16, type='all', buckets=[])),
    ('group_id=5,type=fast_failover,bucket=watch_port:1,watch_group:7,actions=output:1',
     dict(group_id=5, type='ff', buckets=[dict(watch_port=1, watch_group=7, actions='output:1')])),
    ('group_id=5,type=select,bucket=weight=20,output:1',  # key=value like OVS, actions= optional
     dict(group_id=5, type='select', buckets=[dict(weight=20, actions='output:1')])),
    ('group_id=5,type=select,bucket=actions=learn(table=9,bucket=1),output:1',  # OVS splits on bucket= too
     dict(group_id=5, type='select', buckets=['learn(table=9', '1),output:1'])),
    ('group_id=4294967040,type=indirect,bucket=actions=drop', dict(group_id=0xffffff00, type='indirect', buckets=['drop'])),
])
def test_parse_group_line(line, expected):
    assert ovs.parse_group_line(line) == expected


@pytest.mark.parametrize('line, reason', [
    ('type=select,bucket=actions=output:1', 'group_id= is required'),
    ('group_id=5,bucket=actions=output:1', 'type= is required'),
    ('group_id=5', 'type= is required'),
    ('group_id=5,type=lb', 'type: lb is not one of all, fast_failover, ff, indirect, select'),
    ('group_id=x,type=all', 'group_id: x is not an integer'),
    ('group_id=4294967041,type=all', 'group_id: 4294967041 is out of range 0..4294967040'),
    ('group_id=all,type=all', 'group_id: all is not an integer'),
    ('group_id=5,group_id=6,type=all', 'group_id is given twice'),
    ('group_id=5,type=select,selection_method=hash,bucket=actions=output:1',
     'selection_method is not a group field this module manages (group_id=, type=, bucket=)'),
    ('group_id=5,type=select,ip,bucket=actions=output:1',
     'ip is not a group field this module manages (group_id=, type=, bucket=)'),
    ('group_id=5,type=select,bucket=bucket_id:1,actions=output:1',
     'bucket 1 bucket_id: bucket ids are OpenFlow 1.5; this module manages OpenFlow 1.3 groups'),
    ('group_id=5,type=all,bucket=actions=output:1,bucket=weight:2,actions=output:2',
     'bucket 2 weight: only select groups have bucket weights'),
    ('group_id=5,type=select,bucket=weight:70000,actions=output:1', 'bucket 1 weight: 70000 is out of range 0..65535'),
    ('group_id=5,type=select,bucket=weight:1,weight:2,actions=output:1', 'bucket 1 weight is given twice'),
    ('group_id=5,type=ff,bucket=watch_port:LOCAL,actions=output:1', 'bucket 1 watch_port: LOCAL is not an integer'),
])
def test_parse_group_line_refuses(line, reason):
    with pytest.raises(ValueError) as err:
        ovs.parse_group_line(line)
    assert str(err.value) == reason


def test_parse_group_line_absent_needs_only_the_id():
    assert ovs.parse_group_line('group_id=7', need_type=False) == dict(group_id=7, type=None, buckets=[])
    with pytest.raises(ValueError, match='type= is required'):
        ovs.parse_group_line('group_id=7,bucket=actions=drop', need_type=False)


def test_parse_groups_text_skips_blank_and_comment_lines_and_names_bad_lines():
    text = '# groups of node a\n\ngroup_id=1,type=all\n  group_id=2,type=select,bucket=actions=output:1\r\n'
    assert ovs.parse_groups_text(text) == [
        (3, 'group_id=1,type=all', dict(group_id=1, type='all', buckets=[])),
        (4, 'group_id=2,type=select,bucket=actions=output:1', dict(group_id=2, type='select', buckets=['output:1'])),
    ]
    assert ovs.parse_groups_text('') == ovs.parse_groups_text('# none\n') == []
    with pytest.raises(ValueError) as err:
        ovs.parse_groups_text(text + 'group_id=3,type=nope\n')
    assert str(err.value) == "line 5: 'group_id=3,type=nope': type: nope is not one of all, fast_failover, ff, indirect, select"


def test_group_line_is_read_back_by_parse_groups_text():
    """What the layout writes (buckets as actions texts) comes back as the same dicts."""
    groups = [
        dict(group_id=3064846, type='select', buckets=[TUNNEL, TUNNEL.replace('10.0.0.2', '10.0.0.4')]),
        dict(group_id=7, type='select', buckets=['set_field:22:3b:a9:a4:8e:0c->eth_dst,set_field:0x7->pkt_mark,output:2']),
        dict(group_id=8, type='ff', buckets=[dict(watch_port=1, actions='output:1'), dict(watch_group=7, actions='output:2')]),
        dict(group_id=9, type='select', buckets=[dict(weight=5, actions='output:1')]),
        dict(group_id=10, type='all', buckets=[]),
    ]
    text = ''.join(ovs.group_line(group) + '\n' for group in groups)
    assert [group for dummy, dummy, group in ovs.parse_groups_text(text)] == groups
    assert text.splitlines()[0] == 'group_id=3064846,type=select,bucket=actions=%s,bucket=actions=%s' % (
        TUNNEL, TUNNEL.replace('10.0.0.2', '10.0.0.4'))


def test_group_line_leaves_out_the_default_weight():
    assert ovs.group_line(dict(group_id=1, type='select', buckets=[dict(weight=1, actions='drop')])) == \
        'group_id=1,type=select,bucket=actions=drop'
    assert ovs.group_line(dict(group_id=1, type='fast_failover', buckets=[])) == 'group_id=1,type=ff'


@pytest.mark.parametrize('actions, instruction', [
    ('output:2,goto_table:4', 'goto_table'), ('write_metadata:0x1', 'write_metadata'), ('meter:3,output:2', 'meter'),
    ('clear_actions,write_actions(output:2)', 'clear_actions'), ('write_actions(output:2)', 'write_actions'),
    ('output:2', None), ('resubmit(,101)', None), ('clone(goto_table:4)', None), ('set_field:0x1->reg0', None),
    ('learn(table=9,goto_table=3)', None), ('', None),
])
def test_bucket_instruction(actions, instruction):
    assert ovs.bucket_instruction(actions) == instruction


@pytest.mark.parametrize('actions, ids', [
    ('ct(commit),group:3064846', {3064846}), ('group:5', {5}), ('clone(group:5),output:1', {5}),
    ('output:1', set()), ('set_field:0x1->reg0,resubmit(,101)', set()), ('group:1,group:2', {1, 2}),
])
def test_group_ids_used(actions, ids):
    assert ovs.group_ids_used(actions) == ids


# --- the ownership record ------------------------------------------------------------------

def test_groups_record():
    key = ovs.groups_record_key(COOKIE)
    assert key == 'sdn-egress-groups-65677265'
    assert ovs.groups_record_key(0x1234) == 'sdn-egress-groups-1234'
    assert ovs.parse_groups_record('3,1,2', key) == {1, 2, 3}
    assert ovs.parse_groups_record(None, key) == ovs.parse_groups_record('', key) == set()
    assert ovs.format_groups_record({12, 3, 100}) == '3,12,100'
    assert ovs.format_groups_record(set()) == ''
    with pytest.raises(ValueError) as err:
        ovs.parse_groups_record('1,two', key)
    assert str(err.value) == 'external_ids:sdn-egress-groups-65677265: two is not an integer'


# --- plans ---------------------------------------------------------------------------------

A = 'group_id=1,type=select,bucket=actions=output:1'
A2 = 'group_id=1,type=select,bucket=actions=output:2'
B = 'group_id=2,type=select,bucket=actions=output:1'
C = 'group_id=3,type=all'
SDN = 'group_id=9,type=select,bucket=actions=output:2'


def current():
    return {1: A, 2: B, 9: SDN}


def test_plan_groups_present_adds_modifies_and_keeps_equal():
    plan = ovs.plan_groups([(1, A2), (2, B), (3, C)], current(), {1, 2}, 'present')
    assert plan['upserts'] == ['group modify ' + A2, 'group add ' + C]
    assert plan['deletes'] == [] and plan['conflicts'] == []
    assert plan['added'] == [C] and plan['modified'] == [A2] and plan['removed'] == []
    assert plan['before'] == [A, B] and plan['after'] == [A2, B, C]
    assert plan['owned'] == [1, 2, 3]


def test_plan_groups_converged_is_empty():
    plan = ovs.plan_groups([(1, A), (2, B)], current(), {1, 2}, 'present')
    assert plan['upserts'] == plan['deletes'] == [] and plan['owned'] == [1, 2]
    assert plan['before'] == plan['after'] == [A, B]


def test_plan_groups_foreign_is_a_conflict_unless_force():
    plan = ovs.plan_groups([(9, SDN)], current(), {1, 2}, 'present')
    assert plan['conflicts'] == [(0, 9, SDN)] and plan['upserts'] == [] and plan['owned'] == [1, 2]
    forced = ovs.plan_groups([(9, SDN)], current(), {1, 2}, 'present', force=True)
    # taken over even when equal: the modify is the takeover, as a forced flow is re-added
    assert forced['conflicts'] == [] and forced['upserts'] == ['group modify ' + SDN]
    assert forced['modified'] == [SDN] and forced['owned'] == [1, 2, 9]


def test_plan_groups_overridden_prunes_owned_only():
    plan = ovs.plan_groups([(2, B)], current(), {1, 2}, 'overridden')
    assert plan['upserts'] == [] and plan['deletes'] == ['group delete group_id=1']
    assert plan['deleted'] == [1] and plan['removed'] == [A]
    assert plan['before'] == [A, B] and plan['after'] == [B] and plan['owned'] == [2]
    everything = ovs.plan_groups([], current(), {1, 2}, 'overridden')
    assert everything['deletes'] == ['group delete group_id=1', 'group delete group_id=2'] and everything['owned'] == []


def test_plan_groups_absent_deletes_owned_and_reports_foreign():
    plan = ovs.plan_groups([(1, None), (9, None), (5, None)], current(), {1, 2}, 'absent', force=True)
    assert plan['deletes'] == ['group delete group_id=1'] and plan['upserts'] == []
    assert plan['conflicts'] == [(1, 9, SDN)]  # never deleted, even with force
    assert plan['before'] == [A, SDN] and plan['after'] == [SDN] and plan['owned'] == [2]


def test_plan_groups_stale_record_entries_are_not_owned():
    """A recorded id no longer on the switch is not ours: if someone else creates it, it is foreign."""
    plan = ovs.plan_groups([(2, B)], {2: B}, {1, 2, 7}, 'overridden')
    assert plan['deletes'] == [] and plan['owned'] == [2]
    recreated = ovs.plan_groups([(7, 'group_id=7,type=all')], {7: 'group_id=7,type=indirect'}, {7}, 'present')
    assert recreated['upserts'] == ['group modify group_id=7,type=all']  # still recorded and present: ours


def test_bundle_lines_order():
    flow_commands = ['delete_strict cookie=0x1/-1,table=1,priority=1,ip', 'add cookie=0x1,table=1,priority=2,ip actions=group:3',
                     'modify_strict cookie=0x1/-1,table=1,priority=3,ip actions=drop']
    group_plan = dict(upserts=['group add ' + C, 'group modify ' + A2], deletes=['group delete group_id=2'])
    assert ovs.bundle_lines(flow_commands, group_plan) == [
        'group add ' + C, 'group modify ' + A2,
        'flow add cookie=0x1,table=1,priority=2,ip actions=group:3',
        'flow modify_strict cookie=0x1/-1,table=1,priority=3,ip actions=drop',
        'flow delete_strict cookie=0x1/-1,table=1,priority=1,ip',
        'group delete group_id=2',
    ]


def test_flows_after():
    existing = [Flow(101, 100, 'ip,reg0=0x1', 'group:1', COOKIE), Flow(101, 100, 'ip,reg0=0x2', 'group:2', 0),
                Flow(101, 100, 'ip,reg0=0x3', 'group:3', COOKIE)]
    desired = [Flow(101, 100, 'ip,reg0=0x1', 'drop', 0), Flow(101, 100, 'ip,reg0=0x4', 'group:4', 0)]
    after = ovs.flows_after(existing, desired, COOKIE, 'present', [existing[2]])
    assert sorted(after) == sorted([Flow(101, 100, 'ip,reg0=0x1', 'drop', COOKIE), existing[1],
                                    Flow(101, 100, 'ip,reg0=0x4', 'group:4', COOKIE)])
    assert ovs.flows_after(existing, desired, COOKIE, 'absent', [existing[0]]) == existing[1:]


def test_plan_flows_with_deleted():
    existing = [Flow(101, 100, 'ip,reg0=0x1', 'group:1', COOKIE), Flow(101, 100, 'ip,reg0=0x2', 'group:2', 0)]
    plan = ovs.plan_flows([], existing, COOKIE, 'overridden', formatted_keys=(), with_deleted=True)
    assert plan['deleted'] == [existing[0]] and sorted(plan) == ['commands', 'conflicts', 'deleted']


# --- OVSDB ports ---------------------------------------------------------------------------

def test_parse_ovsdb_ports():
    """ports_query for tun0 vxlan0 nosuch0 ghost0 ext0: nosuch0 does not exist (left out),
    ghost0's device does not exist (ofport -1, error), ext0 is on another bridge."""
    assert ovs.parse_ovsdb_ports(fixture('vsctl_ports.json')) == {
        'tun0': dict(ofport=2, mac_in_use='22:c6:4b:5f:c9:9e', type='internal', bridge='br0', error=None),
        'vxlan0': dict(ofport=1, mac_in_use='1a:43:5d:8e:84:30', type='vxlan', bridge='br0', error=None),
        'ghost0': dict(ofport=-1, mac_in_use=None, type='system', bridge='br0',
                       error='could not open network device ghost0 (No such device)'),
        'ext0': dict(ofport=1, mac_in_use='a2:bb:41:5e:de:36', type='internal', bridge='br1', error=None),
    }


def test_ports_query_is_one_process_of_three_commands():
    assert ovs.ports_query(['tun0', 'vxlan0']) == [
        '--', '--if-exists', '--columns=_uuid,name,ofport,mac_in_use,type,error', 'list', 'Interface', 'tun0', 'vxlan0',
        '--', '--columns=_uuid,interfaces', 'list', 'Port', '--', '--columns=name,ports', 'list', 'Bridge']


def test_parse_ovsdb_ports_wants_three_documents():
    with pytest.raises(ValueError, match='expected 3 JSON documents from ovs-vsctl, got 1'):
        ovs.parse_ovsdb_ports(fixture('vsctl_ports.json').splitlines()[0])
