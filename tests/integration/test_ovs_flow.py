# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.ovs_flow through ansible-playbook against a real userspace OVS in a namespace.

State is always read back independently with `ovs-ofctl dump-flows`.
"""
import os
import stat

import pytest

COOKIE = '0x65677265'
TUNNEL = 'move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:10.0.0.2->tun_dst,output:1'
# table 100 of the source node in the seed notes (SDN flows, cookie 0) and table 101's tail
SDN_FLOWS = """\
table=100, priority=300,udp,tp_dst=4789 actions=drop
table=100, priority=200,tcp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2
table=100, priority=200,udp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2
table=100, priority=100,ip,reg0=0x6f7936 actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:10.0.0.2->tun_dst,output:1
table=100, priority=100,ip,reg0=0xdf6553 actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:10.0.0.2->tun_dst,output:1
table=100, priority=0 actions=goto_table:101
table=101, priority=0 actions=output:2
"""


@pytest.fixture
def br0(ovs, workdir):
    """The seed notes' SDN flows loaded into br0."""
    path = os.path.join(workdir, 'sdn.flows')
    with open(path, 'w') as f:
        f.write(SDN_FLOWS)
    ovs.ofctl('add-flows', ovs.bridge, path)
    return ovs


def dump(ovs):
    """Flows as ovs-ofctl prints them without statistics, sorted; the independent truth."""
    out = ovs.ofctl('--no-stats', '--no-names', 'dump-flows', ovs.bridge)
    return sorted(line.strip() for line in out.splitlines() if 'actions=' in line)


def owned(ovs):
    return [line for line in dump(ovs) if line.startswith('cookie=%s,' % COOKIE)]


def foreign(ovs):
    return [line for line in dump(ovs) if not line.startswith('cookie=%s,' % COOKIE)]


def task(ovs, name='flows', **args):
    return {'name': name, 'sdn.egress.ovs_flow': dict({'bridge': ovs.bridge, 'rundir': ovs.rundir}, **args)}


def seed_flows(ovs):
    """The seed notes' own flows for egress-test3 (vnid 0x2EC40E), spelled as in the notes."""
    mac = ovs.vsctl('get', 'Interface', 'tun0', 'mac_in_use').strip().strip('"')
    return [
        {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x2EC40E', 'actions': TUNNEL},
        {'table': 100, 'priority': 123, 'match': 'ip,reg0=0x2EC40E',
         'actions': 'set_field:%s->eth_dst,set_field:0x2EC40E->pkt_mark,goto_table:101' % mac.upper()},
    ]


def test_first_run_changes_second_does_not_check_mode_predicts(br0, netns, ansible):
    flows = seed_flows(br0)
    before = dump(br0)

    predicted = ansible([task(br0, flows=flows)], check=True, netns=netns)
    assert predicted.rc == 0 and predicted.changed, predicted
    assert dump(br0) == before

    first = ansible([task(br0, flows=flows)], netns=netns)
    assert first.rc == 0 and first.changed, first
    assert first.last['commands'] == predicted.last['commands']
    assert len(first.last['commands']) == 2 and first.last['after'] == predicted.last['after']
    mac = br0.vsctl('get', 'Interface', 'tun0', 'mac_in_use').strip().strip('"')
    assert first.last['after'] == [
        'cookie=0x65677265, table=100, priority=123,ip,reg0=0x2ec40e actions=set_field:%s->eth_dst,'
        'set_field:0x2ec40e->pkt_mark,goto_table:101' % mac.lower(),
        'cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=' + TUNNEL,
    ]
    assert owned(br0) == sorted(first.last['after'])
    assert foreign(br0) == before  # SDN flows untouched

    second = ansible([task(br0, flows=flows)], netns=netns)
    assert second.rc == 0 and not second.changed and second.last['commands'] == [], second
    again = ansible([task(br0, flows=flows)], check=True, netns=netns)
    assert again.rc == 0 and not again.changed, again


def test_spelling_variants_produce_no_change(br0, netns, ansible):
    first = ansible([task(br0, flows=[
        {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x2EC40E', 'actions': TUNNEL},
        {'table': 100, 'priority': 201, 'match': 'udp,ip_dst=10.0.0.3,tp_dst=53', 'actions': 'output:2'},
    ])], netns=netns)
    assert first.rc == 0 and first.changed, first
    state = dump(br0)
    assert 'cookie=0x65677265, table=100, priority=201,udp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2' in state

    variants = ansible([task(br0, flows=[
        {'table': 100, 'priority': 100, 'match': 'reg0=3064846,ip',
         'actions': TUNNEL.replace('NXM_NX_REG0[]', 'NXM_NX_REG0[0..31]')},
        {'table': 100, 'priority': 201, 'match': 'tp_dst=53,nw_dst=10.0.0.3,udp', 'actions': 'output:2'},
    ]), task(br0, name='single', table=100, priority=100, match='ip,reg0=0x2ec40e', actions=TUNNEL)],
        netns=netns)
    assert variants.rc == 0 and not variants.changed, variants
    assert dump(br0) == state


def test_diff_shows_flows_removed_and_added(br0, netns, ansible):
    flow = {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x2ec40e', 'actions': TUNNEL}
    assert ansible([task(br0, flows=[flow])], netns=netns).rc == 0
    res = ansible([task(br0, flows=[dict(flow, actions='drop')])], diff=True, netns=netns)
    assert res.rc == 0 and res.changed, res
    assert res.last['commands'] == [
        'modify_strict cookie=0x65677265/-1,table=100,priority=100,ip,reg0=0x2ec40e actions=drop']
    diff = res.last['diff']
    assert diff['before'] == 'cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=%s\n' % TUNNEL
    assert diff['after'] == 'cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop\n'
    assert owned(br0) == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop']


def test_overridden_removes_exactly_owned_flows_not_listed(br0, netns, ansible):
    keep = {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x1', 'actions': 'drop'}
    setup = ansible([task(br0, flows=[keep] + [
        {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x%x' % n, 'actions': 'drop'} for n in (2, 3)] + [
        {'table': 90, 'priority': 5, 'match': 'ip', 'actions': 'drop'}])], netns=netns)
    assert setup.rc == 0 and len(owned(br0)) == 4, setup
    sdn = foreign(br0)

    res = ansible([task(br0, state='overridden', scope_table=100, flows=[keep])], netns=netns)
    assert res.rc == 0 and res.changed, res
    assert sorted(res.last['removed']) == [
        'cookie=0x65677265, table=100, priority=100,ip,reg0=0x2 actions=drop',
        'cookie=0x65677265, table=100, priority=100,ip,reg0=0x3 actions=drop']
    assert all(c.startswith('delete_strict cookie=0x65677265/-1,') for c in res.last['commands'])
    assert owned(br0) == [
        'cookie=0x65677265, table=100, priority=100,ip,reg0=0x1 actions=drop',
        'cookie=0x65677265, table=90, priority=5,ip actions=drop',  # outside scope_table
    ]
    assert foreign(br0) == sdn

    everything = ansible([task(br0, state='overridden', flows=[])], netns=netns)
    assert everything.rc == 0 and owned(br0) == [] and foreign(br0) == sdn, everything


def test_absent_deletes_owned_and_leaves_foreign(br0, netns, ansible):
    flow = {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x2ec40e', 'actions': TUNNEL}
    assert ansible([task(br0, flows=[flow])], netns=netns).rc == 0
    sdn = foreign(br0)
    res = ansible([task(br0, state='absent', flows=[
        {'table': 100, 'priority': 100, 'match': 'reg0=0x2EC40E,ip'},
        {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x6f7936'}])], netns=netns)
    assert res.rc == 0 and res.changed, res
    assert owned(br0) == [] and foreign(br0) == sdn
    assert 'reg0=0x6f7936' in str(res.last.get('warnings')), res
    again = ansible([task(br0, state='absent', table=100, priority=100, match='ip,reg0=0x2ec40e')], netns=netns)
    assert again.rc == 0 and not again.changed, again


def test_foreign_flow_refused_without_force_replaced_with_force(br0, netns, ansible):
    args = {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x6F7936', 'actions': 'drop'}
    before = dump(br0)
    refused = ansible([task(br0, **args)], netns=netns)
    assert refused.rc != 0, refused
    msg = refused.last['msg']
    assert 'table=100, priority=100,ip,reg0=0x6f7936 actions=' + TUNNEL in msg and 'cookie 0x0' in msg, msg
    assert dump(br0) == before

    forced = ansible([task(br0, force=True, **args)], netns=netns)
    assert forced.rc == 0 and forced.changed, forced
    state = dump(br0)
    assert 'cookie=0x65677265, table=100, priority=100,ip,reg0=0x6f7936 actions=drop' in state
    assert not any('reg0=0x6f7936 actions=move' in line for line in state)
    assert len(state) == len(before)
    assert not ansible([task(br0, **args)], netns=netns).changed  # now ours: no force needed


@pytest.mark.parametrize('bad, field, value', [
    ({'match': 'ip,reg0=0xZZ', 'actions': 'drop'}, 'flows[2].match', "'ip,reg0=0xZZ'"),
    ({'match': 'ip', 'actions': 'set_field:1->no_such_field'}, 'flows[2].actions', "'set_field:1->no_such_field'"),
    ({'match': 'ip', 'actions': 'goto_table:50'}, 'flows[2].actions', "'goto_table:50'"),
])
def test_malformed_flow_fails_naming_field_and_changes_nothing(br0, netns, ansible, bad, field, value):
    good = [{'table': 100, 'priority': 100, 'match': 'ip,reg0=0x%x' % n, 'actions': 'drop'} for n in (1, 2)]
    before = dump(br0)
    res = ansible([task(br0, flows=good + [dict(bad, table=100, priority=7)])], netns=netns)
    assert res.rc != 0, res
    assert res.last['msg'].startswith('%s: %s is invalid: ' % (field, value)), res.last['msg']
    assert dump(br0) == before


def test_switch_rejection_applies_nothing(br0, netns, ansible):
    """parse-flows accepts group:5; the switch refuses it (no such group): the bundle is atomic."""
    before = dump(br0)
    res = ansible([task(br0, flows=[
        {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x1', 'actions': 'drop'},
        {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x2', 'actions': 'group:5'}])], netns=netns)
    assert res.rc != 0 and 'OFPBAC_BAD_OUT_GROUP' in res.last['msg'], res
    assert dump(br0) == before


@pytest.fixture
def counting_ofctl(workdir):
    """A PATH directory whose ovs-ofctl logs each invocation's argv, then runs the real one."""
    bindir = os.path.join(workdir, 'bin')
    log = os.path.join(workdir, 'ovs-ofctl.calls')
    os.makedirs(bindir)
    wrapper = os.path.join(bindir, 'ovs-ofctl')
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\necho "$*" >> %s\nexec /usr/bin/ovs-ofctl "$@"\n' % log)
    os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
    return bindir, log


def test_500_flows_applied_in_one_call(br0, netns, ansible, counting_ofctl):
    bindir, log = counting_ofctl
    flows = [{'table': 100, 'priority': 100, 'match': 'ip,reg0=0x%x' % (0x100000 + n),
              'actions': 'set_field:0x%x->pkt_mark,goto_table:101' % (0x100000 + n)} for n in range(500)]
    play = dict(task(br0, flows=flows), environment={'PATH': bindir + ':/usr/sbin:/usr/bin:/sbin:/bin'})
    res = ansible([play], netns=netns)
    assert res.rc == 0 and len(res.last['commands']) == len(res.last['added']) == 500, res
    with open(log) as f:
        calls = f.read().splitlines()
    assert calls == [
        '-O OpenFlow13 --no-names parse-flows -',
        '-O OpenFlow13 --no-names --no-stats dump-flows br0',
        '-O OpenFlow13 --no-names --bundle add-flows br0 -',
    ]
    assert len(owned(br0)) == 500

    again = ansible([play], netns=netns)
    assert again.rc == 0 and not again.changed, again
    with open(log) as f:
        assert len(f.read().splitlines()) == 5  # parse + dump, nothing applied


def test_explicit_target(br0, netns, ansible):
    res = ansible([{'name': 'target', 'sdn.egress.ovs_flow': {
        'bridge': 'br0', 'target': 'unix:%s/br0.mgmt' % br0.rundir, 'cookie': 4660,
        'table': 100, 'priority': 100, 'match': 'ip,reg0=0x1', 'actions': 'drop'}}], netns=netns)
    assert res.rc == 0 and res.changed, res
    assert 'cookie=0x1234, table=100, priority=100,ip,reg0=0x1 actions=drop' in dump(br0)


# --- flows_text: the same flows as one string -----------------------------------------------

def as_text(flows):
    return ''.join('table=%d,priority=%d,%s,actions=%s\n' % (f['table'], f['priority'], f['match'], f['actions'])
                   for f in flows)


def test_flows_text_converges_and_equals_the_list_form(br0, netns, ansible):
    flows = seed_flows(br0) + [
        {'table': 100, 'priority': 201, 'match': 'udp,nw_dst=10.0.0.3,tp_dst=53', 'actions': 'output:2'},
        {'table': 90, 'priority': 5, 'match': 'ip', 'actions': 'drop'},
    ]
    # comments, blank lines, table/priority among the match fields, blanks as separators
    text = ('# egress flows of this node\n\n' + as_text(flows[:2])
            + 'priority=201 udp table=100 nw_dst=10.0.0.3,tp_dst=53 actions=output:2\n'
            + '   # the drop\n' + 'ip,table=90,priority=5,actions=drop\n')
    sdn = foreign(br0)

    predicted = ansible([task(br0, flows_text=text)], check=True, netns=netns)
    assert predicted.rc == 0 and predicted.changed and foreign(br0) == sdn and owned(br0) == [], predicted

    first = ansible([task(br0, flows_text=text)], netns=netns)
    assert first.rc == 0 and first.changed, first
    assert first.last['commands'] == predicted.last['commands'] and len(first.last['added']) == 4
    mac = br0.vsctl('get', 'Interface', 'tun0', 'mac_in_use').strip().strip('"').lower()
    assert owned(br0) == sorted([
        'cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=' + TUNNEL,
        'cookie=0x65677265, table=100, priority=123,ip,reg0=0x2ec40e actions=set_field:%s->eth_dst,'
        'set_field:0x2ec40e->pkt_mark,goto_table:101' % mac,
        'cookie=0x65677265, table=100, priority=201,udp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2',
        'cookie=0x65677265, table=90, priority=5,ip actions=drop',
    ])
    assert foreign(br0) == sdn
    state = dump(br0)

    # the list form of the same data, in every state, finds nothing to do
    same = ansible([task(br0, name='list', flows=flows),
                    task(br0, name='list overridden', state='overridden', flows=flows),
                    task(br0, name='text again', flows_text=text),
                    task(br0, name='text overridden', state='overridden', flows_text=as_text(flows))], netns=netns)
    assert same.rc == 0 and not same.changed, same
    assert dump(br0) == state


def test_flows_text_overridden_and_absent(br0, netns, ansible):
    flows = [{'table': 100, 'priority': 100, 'match': 'ip,reg0=0x%x' % n, 'actions': 'drop'} for n in (1, 2, 3)]
    assert ansible([task(br0, flows=flows)], netns=netns).rc == 0
    sdn = foreign(br0)

    res = ansible([task(br0, state='overridden', scope_table=100, flows_text=as_text(flows[:2]))], netns=netns)
    assert res.rc == 0 and res.changed, res
    assert res.last['removed'] == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x3 actions=drop']

    res = ansible([task(br0, state='absent', flows_text='table=100,priority=100,reg0=0x1,ip\n')], netns=netns)
    assert res.rc == 0 and res.changed, res
    assert owned(br0) == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x2 actions=drop']

    res = ansible([task(br0, state='overridden', flows_text='# no flows any more\n')], netns=netns)
    assert res.rc == 0 and res.changed and owned(br0) == [] and foreign(br0) == sdn, res


@pytest.mark.parametrize('bad, message', [
    ('table=x,ip,actions=drop', "flows_text line 4: 'table=x,ip,actions=drop': table: x is not an integer"),
    ('cookie=0x1,table=100,ip,actions=drop', "flows_text line 4: 'cookie=0x1,table=100,ip,actions=drop': cookie"),
    ('table=100,priority=7,ip,reg0=0xZZ,actions=drop',
     "flows_text line 4: 'table=100,priority=7,ip,reg0=0xZZ,actions=drop': match 'ip,reg0=0xZZ' is invalid: "),
    ('table=100,priority=7,ip,actions=set_field:1->no_such_field',
     "flows_text line 4: 'table=100,priority=7,ip,actions=set_field:1->no_such_field': "
     "actions 'set_field:1->no_such_field' is invalid: "),
    ('table=100,priority=7,ip', "flows_text line 4: 'table=100,priority=7,ip': actions= is required with state=overridden"),
])
def test_flows_text_malformed_line_fails_and_changes_nothing(br0, netns, ansible, bad, message):
    good = [{'table': 100, 'priority': 100, 'match': 'ip,reg0=0x%x' % n, 'actions': 'drop'} for n in (1, 2)]
    assert ansible([task(br0, flows=good[:1])], netns=netns).rc == 0
    before = dump(br0)
    res = ansible([task(br0, state='overridden', flows_text=as_text(good) + '# then\n' + bad + '\n')], netns=netns)
    assert res.rc != 0, res
    assert res.last['msg'].startswith(message), res.last['msg']
    assert dump(br0) == before


# --- groups (OpenFlow 1.3), recorded in the bridge's external_ids ------------------------------

KEY = 'sdn-egress-groups-65677265'
REMOTE = ('group_id=3064846,type=select,bucket=actions=' + TUNNEL
          + ',bucket=actions=' + TUNNEL.replace('10.0.0.2', '10.0.0.4'))
REMOTE_FLOW = {'table': 101, 'priority': 100, 'match': 'ip,reg0=0x2ec40e', 'actions': 'ct(commit),group:3064846'}
FOREIGN_GROUP = 'group_id=9,type=select,bucket=actions=output:2'


def local_group(ovs, vnid=7):
    """The 4.8 layout's local bucket: tun0's MAC, the namespace's mark, out tun0."""
    mac = ovs.vsctl('get', 'Interface', 'tun0', 'mac_in_use').strip().strip('"')
    return 'group_id=%d,type=select,bucket=actions=set_field:%s->eth_dst,set_field:0x%x->pkt_mark,output:2' % (
        vnid, mac, vnid)


def groups(ovs):
    """Groups as ovs-ofctl dump-groups prints them, sorted by id; the independent truth."""
    out = ovs.ofctl('--no-names', 'dump-groups', ovs.bridge)
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith('group_id=')]
    return sorted(lines, key=lambda line: int(line.split(',', 1)[0][len('group_id='):]))


def record(ovs):
    """The bridge's external_ids record of our groups (None when there is none)."""
    out = ovs.vsctl('--if-exists', 'get', 'Bridge', ovs.bridge, 'external_ids:' + KEY).strip()
    return out.strip('"') or None


@pytest.fixture
def br0g(br0):
    """br0 with the SDN flows and a group that is not ours."""
    br0.ofctl('add-group', br0.bridge, FOREIGN_GROUP)
    return br0


def test_groups_converge_idempotent_check_mode_predicts(br0g, netns, ansible):
    local = local_group(br0g)
    args = {'flows': [REMOTE_FLOW], 'groups': [REMOTE, local]}
    flows_before, groups_before = dump(br0g), groups(br0g)

    predicted = ansible([task(br0g, **args)], check=True, netns=netns)
    assert predicted.rc == 0 and predicted.changed, predicted
    assert (dump(br0g), groups(br0g), record(br0g)) == (flows_before, groups_before, None)

    first = ansible([task(br0g, **args)], netns=netns)
    assert first.rc == 0 and first.changed, first
    assert first.last['commands'] == predicted.last['commands'] == [
        'group add ' + REMOTE, 'group add ' + local,
        'flow add cookie=0x65677265,table=101,priority=100,ip,reg0=0x2ec40e actions=ct(commit),group:3064846']
    assert first.last['groups_owned'] == predicted.last['groups_owned'] == [7, 3064846]
    assert groups(br0g) == [local, FOREIGN_GROUP, REMOTE]
    assert record(br0g) == '7,3064846'
    assert owned(br0g) == ['cookie=0x65677265, table=101, priority=100,ip,reg0=0x2ec40e actions=ct(commit),group:3064846']
    assert foreign(br0g) == flows_before

    second = ansible([task(br0g, **args)], netns=netns)
    assert second.rc == 0 and not second.changed and second.last['commands'] == [], second
    again = ansible([task(br0g, **args)], check=True, netns=netns)
    assert again.rc == 0 and not again.changed, again


def test_group_spelling_variants_produce_no_change(br0g, netns, ansible):
    """Each variant normalised the way OVS prints it: hex id, field order, upper-case MAC,
    mod_dl_dst, decimal values, default weight, ff watch ports, and a ct() bucket (judged by
    parse-group). (OVS itself keeps `load:` and `set_field:` apart, for flows as for buckets.)"""
    mac = br0g.vsctl('get', 'Interface', 'tun0', 'mac_in_use').strip().strip('"')
    canonical = [
        'group_id=5,type=select,bucket=actions=ct(commit),set_field:0x5->pkt_mark,output:2',
        'group_id=6,type=select,bucket=weight:50,actions=output:1,bucket=actions=output:2',
        'group_id=7,type=select,bucket=actions=set_field:%s->eth_dst,set_field:0x7->pkt_mark,output:2' % mac,
        'group_id=8,type=ff,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=output:2',
        REMOTE,
    ]
    first = ansible([task(br0g, groups=canonical)], netns=netns)
    assert first.rc == 0 and first.changed, first
    state = (groups(br0g), record(br0g))
    assert state == (canonical[:4] + [FOREIGN_GROUP, REMOTE], '5,6,7,8,3064846')

    variants = [
        'type=select group_id=5 bucket=ct(commit),set_field:5->pkt_mark,output:2',
        'group_id=6,type=select,bucket=weight=50,output:1,bucket=weight:1,actions=output:2',
        'group_id=0x7,type=select,bucket=actions=mod_dl_dst:%s,set_field:7->pkt_mark,output:2' % mac.upper(),
        'group_id=8,type=fast_failover,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=output:2',
        REMOTE.replace('group_id=3064846', 'group_id=0x2EC40E').replace('NXM_NX_REG0[]', 'NXM_NX_REG0[0..31]'),
    ]
    res = ansible([task(br0g, groups=variants), task(br0g, name='text', groups_text='\n'.join(variants) + '\n')],
                  netns=netns)
    assert res.rc == 0 and not res.changed, res
    assert (groups(br0g), record(br0g)) == state


def test_groups_modify_and_prune_with_diff(br0g, netns, ansible):
    local = local_group(br0g)
    assert ansible([task(br0g, flows=[REMOTE_FLOW], groups=[REMOTE, local])], netns=netns).rc == 0
    sdn = foreign(br0g)

    one_node = REMOTE.rsplit(',bucket=', 1)[0]  # the first remote bucket only
    res = ansible([task(br0g, groups=[one_node])], diff=True, netns=netns)
    assert res.rc == 0 and res.changed, res
    assert res.last['commands'] == ['group modify ' + one_node]
    assert res.last['diff']['before'] == '%s\nexternal_ids:%s="7,3064846"\n' % (REMOTE, KEY)
    assert res.last['diff']['after'] == '%s\nexternal_ids:%s="7,3064846"\n' % (one_node, KEY)
    assert groups(br0g) == [local, FOREIGN_GROUP, one_node]

    pruned = ansible([task(br0g, state='overridden', scope_table=101, flows=[], groups=[local])], diff=True, netns=netns)
    assert pruned.rc == 0 and pruned.changed, pruned
    assert pruned.last['commands'] == [
        'flow delete_strict cookie=0x65677265/-1,table=101,priority=100,ip,reg0=0x2ec40e',
        'group delete group_id=3064846']
    assert pruned.last['groups_removed'] == [one_node]
    assert pruned.last['diff']['before'] == (
        'cookie=0x65677265, table=101, priority=100,ip,reg0=0x2ec40e actions=ct(commit),group:3064846\n'
        '%s\n%s\nexternal_ids:%s="7,3064846"\n' % (local, one_node, KEY))
    assert pruned.last['diff']['after'] == '%s\nexternal_ids:%s="7"\n' % (local, KEY)
    assert groups(br0g) == [local, FOREIGN_GROUP] and record(br0g) == '7'
    assert owned(br0g) == [] and foreign(br0g) == sdn

    emptied = ansible([task(br0g, state='overridden', groups=[])], netns=netns)
    assert emptied.rc == 0 and emptied.changed and emptied.last['commands'] == ['group delete group_id=7'], emptied
    assert groups(br0g) == [FOREIGN_GROUP] and record(br0g) is None and foreign(br0g) == sdn


def test_foreign_group_refused_nothing_changed_then_taken_over_with_force(br0g, netns, ansible):
    wanted = FOREIGN_GROUP.replace('output:2', 'output:1')
    before = (dump(br0g), groups(br0g), record(br0g))
    refused = ansible([task(br0g, flows=[REMOTE_FLOW], groups=[REMOTE, wanted])], netns=netns)
    assert refused.rc != 0, refused
    assert refused.last['msg'] == (
        "groups[1]: %r: group 9 exists and is not ours (not in external_ids:%s): %r; set force=true to replace"
        % (wanted, KEY, FOREIGN_GROUP))
    assert (dump(br0g), groups(br0g), record(br0g)) == before

    forced = ansible([task(br0g, flows=[REMOTE_FLOW], groups=[REMOTE, wanted], force=True)], netns=netns)
    assert forced.rc == 0 and forced.changed, forced
    assert forced.last['groups_modified'] == [wanted] and forced.last['groups_added'] == [REMOTE]
    assert groups(br0g) == [wanted, REMOTE] and record(br0g) == '9,3064846'
    assert not ansible([task(br0g, flows=[REMOTE_FLOW], groups=[REMOTE, wanted])], netns=netns).changed


def test_owned_group_under_a_foreign_flow_is_deleted_only_with_force(br0g, netns, ansible):
    assert ansible([task(br0g, groups=[REMOTE])], netns=netns).rc == 0
    br0g.ofctl('add-flow', br0g.bridge, 'table=101,priority=90,ip,reg0=0x5,actions=group:3064846')
    before = (dump(br0g), groups(br0g), record(br0g))
    refused = ansible([task(br0g, state='absent', groups=['group_id=3064846'])], netns=netns)
    assert refused.rc != 0 and 'points to it and would be deleted with it; set force=true' in refused.last['msg'], refused
    assert (dump(br0g), groups(br0g), record(br0g)) == before

    forced = ansible([task(br0g, state='absent', groups=['group_id=3064846'], force=True)], netns=netns)
    assert forced.rc == 0 and forced.changed, forced
    # OpenFlow deleted the foreign flow with the group, as the warning said
    assert 'table=101, priority=90,ip,reg0=0x5 actions=group:3064846' in str(forced.last.get('warnings'))
    assert not any('group:3064846' in line for line in dump(br0g))
    assert groups(br0g) == [FOREIGN_GROUP] and record(br0g) is None


def test_bundle_of_groups_and_flows_is_atomic(br0g, netns, ansible):
    before = (dump(br0g), groups(br0g), record(br0g))
    res = ansible([task(br0g, flows=[dict(REMOTE_FLOW, actions='group:404')], groups=[local_group(br0g)])],
                  netns=netns)
    assert res.rc != 0 and 'OFPBAC_BAD_OUT_GROUP' in res.last['msg'], res
    assert (dump(br0g), groups(br0g), record(br0g)) == before  # the group add went with the refused flow


# --- state=gathered and state=rendered -------------------------------------------------------

def test_gathered_returns_exactly_the_owned_objects(br0g, netns, ansible):
    local = local_group(br0g)
    flows = seed_flows(br0g) + [REMOTE_FLOW]
    assert ansible([task(br0g, flows=flows, groups=[REMOTE, local])], netns=netns).rc == 0
    state = (dump(br0g), groups(br0g), record(br0g))

    res = ansible([task(br0g, state='gathered'), task(br0g, name='scoped', state='gathered', scope_table=101)],
                  netns=netns)
    assert res.rc == 0 and not res.changed, res
    assert (dump(br0g), groups(br0g), record(br0g)) == state
    gathered = res.results[0]['gathered']
    mac = br0g.vsctl('get', 'Interface', 'tun0', 'mac_in_use').strip().strip('"').lower()
    expected = [  # the owned flows, normalised, by table, priority (highest first), match
        {'table': 100, 'priority': 123, 'match': 'ip,reg0=0x2ec40e',
         'actions': 'set_field:%s->eth_dst,set_field:0x2ec40e->pkt_mark,goto_table:101' % mac},
        {'table': 100, 'priority': 100, 'match': 'ip,reg0=0x2ec40e', 'actions': TUNNEL},
        REMOTE_FLOW,
    ]
    assert gathered['flows'] == expected and len(owned(br0g)) == 3
    assert gathered['flows_text'] == ''.join('table=%(table)d,priority=%(priority)d,%(match)s,actions=%(actions)s\n' % f
                                             for f in expected)
    assert gathered['groups'] == [local, REMOTE]  # not the foreign group 9
    assert gathered['groups_text'] == local + '\n' + REMOTE + '\n'
    assert res.results[1]['gathered']['flows'] == [REMOTE_FLOW] and res.results[1]['gathered']['groups'] == [local, REMOTE]

    back = ansible([task(br0g, state='overridden', flows_text=gathered['flows_text'], groups_text=gathered['groups_text']),
                    task(br0g, name='list', state='overridden', flows=gathered['flows'], groups=gathered['groups'])],
                   netns=netns)
    assert back.rc == 0 and not back.changed, back


def test_rendered_runs_without_ovs_and_is_what_a_run_applies(br0, netns, ansible, workdir):
    """No ovs-ofctl on PATH and no switch: the text comes back; applied with ovs-ofctl bundle to
    a bridge without our objects it leaves the same flows and groups as the module's own run."""
    empty = os.path.join(workdir, 'no-ovs')
    os.makedirs(empty)
    local = local_group(br0)
    args = {'flows': seed_flows(br0) + [REMOTE_FLOW], 'groups': [REMOTE, local]}
    res = ansible([{'name': 'rendered', 'sdn.egress.ovs_flow': dict(args, state='rendered'),
                    'environment': {'PATH': empty}}])
    assert res.rc == 0 and not res.changed, res
    rendered = res.last['rendered']
    assert rendered.splitlines()[:2] == ['group add ' + REMOTE, 'group add ' + local]
    assert rendered.splitlines()[2].startswith('flow add cookie=0x65677265,table=100,priority=100,ip,reg0=0x2EC40E actions=')
    assert len(rendered.splitlines()) == 5 and rendered.endswith('\n')

    assert ansible([task(br0, **args)], netns=netns).rc == 0
    by_module = (dump(br0), groups(br0))
    assert ansible([task(br0, state='overridden', flows=[], groups=[])], netns=netns).rc == 0
    path = os.path.join(workdir, 'rendered.bundle')
    with open(path, 'w') as f:
        f.write(rendered)
    br0.ofctl('--no-names', 'bundle', br0.bridge, path)
    assert (dump(br0), groups(br0)) == by_module

    flows_only = ansible([{'name': 'flows only', 'sdn.egress.ovs_flow': {
        'state': 'rendered', 'flows_text': as_text([REMOTE_FLOW])}, 'environment': {'PATH': empty}}])
    assert flows_only.rc == 0 and flows_only.last['rendered'] == (
        'add cookie=0x65677265,table=101,priority=100,ip,reg0=0x2ec40e actions=ct(commit),group:3064846\n'), flows_only


# --- conflicts: foreign flows that take our flows' traffic first ------------------------------

# ours: egress-test3 (0x2ec40e) dropped at priority 100; one foreign flow per class above it
OUR_DROP = {'table': 100, 'priority': 100, 'match': 'reg0=0x2EC40E', 'actions': 'drop'}
SHADOWING = [
    'table=100, priority=150,ip,reg0=0x2ec40e actions=output:2',         # same reg0
    'table=100, priority=140,reg0=0x2ec400/0xffff00 actions=output:2',   # covering mask
    'table=100, priority=130,ip actions=goto_table:101',                 # ip only
    'table=100, priority=120 actions=goto_table:101',                    # priority-only catch-all
]


def add_flows(ovs, workdir, lines):
    path = os.path.join(workdir, 'more.flows')
    with open(path, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    ovs.ofctl('add-flows', ovs.bridge, path)


def test_conflicts_fail_by_default_and_nothing_changes(br0, netns, ansible, workdir):
    add_flows(br0, workdir, SHADOWING)
    before = dump(br0)
    for check in (True, False):
        run = ansible([task(br0, flows=[OUR_DROP])], check=check, diff=True, netns=netns)
        assert run.rc != 0 and run.failed, run
        assert dump(br0) == before                                   # full dump-flows equal
        assert [c['flow'] for c in run.last['conflicts']] == SHADOWING
        assert '4 foreign flow(s)' in run.last['msg'] and SHADOWING[0] in run.last['msg']


def test_sdn_flows_are_no_conflict(br0, netns, ansible):
    # table 100's VXLAN drop (300), DNS (200) and default (0) flows of the SDN stay out of it
    run = ansible([task(br0, flows=[OUR_DROP])], netns=netns)
    assert run.rc == 0 and run.changed and run.last['conflicts'] == [], run


def test_conflicts_warn_leaves_them_and_changes_only_ours(br0, netns, ansible, workdir):
    add_flows(br0, workdir, SHADOWING)
    before = dump(br0)
    run = ansible([task(br0, flows=[OUR_DROP], conflicts='warn')], netns=netns)
    assert run.rc == 0 and run.changed, run
    assert len(run.last['conflicts']) == 4
    assert ' '.join(str(w) for w in run.last.get('warnings', [])).count('left in place (conflicts=warn)') == 4, run
    assert sorted(set(dump(br0)) ^ set(before)) == ['cookie=0x65677265, table=100, priority=100,reg0=0x2ec40e actions=drop']


def test_conflicts_remove_deletes_them_in_the_same_call(br0, netns, ansible, workdir):
    add_flows(br0, workdir, SHADOWING)
    before = dump(br0)
    check = ansible([task(br0, flows=[OUR_DROP], conflicts='remove')], check=True, diff=True, netns=netns)
    assert check.rc == 0 and check.changed and dump(br0) == before, check
    for flow in SHADOWING:
        assert flow in check.last['diff']['before'] and flow not in check.last['diff']['after']
    run = ansible([task(br0, flows=[OUR_DROP], conflicts='remove', state='overridden', scope_table=100)], netns=netns)
    assert run.rc == 0 and run.changed, run
    after = dump(br0)
    assert not set(SHADOWING) & set(after)
    assert sorted(set(before) - set(SHADOWING)) == sorted(line for line in after if not line.startswith('cookie=0x65677265'))
    again = ansible([task(br0, flows=[OUR_DROP], conflicts='remove')], netns=netns)
    assert again.rc == 0 and not again.changed and again.last['conflicts'] == [], again
