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
