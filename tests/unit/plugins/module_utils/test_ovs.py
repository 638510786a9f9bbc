# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flow parsing/normalisation against outputs recorded from OVS 3.1, and flow plans."""
import os

import pytest

from ansible_collections.sdn.egress.plugins.module_utils import ovs
from ansible_collections.sdn.egress.plugins.module_utils.ovs import Flow

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'ovs')
COOKIE = 0x65677265  # the modules' default cookie, ASCII "egre"
TUNNEL = 'move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:10.0.0.2->tun_dst,output:1'
EGRESS = 'set_field:22:3b:a9:a4:8e:0c->eth_dst,set_field:0x2ec40e->pkt_mark,goto_table:101'


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def seed_flows():
    return ovs.parse_dump_flows(fixture('dump_seed_node_a.txt'))


# --- parsing recorded output -------------------------------------------------------------

def test_parse_dump_seed():
    flows = seed_flows()
    assert len(flows) == 9
    assert flows[0] == Flow(100, 300, 'udp,tp_dst=4789', 'drop', 0)
    assert Flow(100, 100, 'ip,reg0=0x2ec40e', TUNNEL, COOKIE) in flows
    assert Flow(100, 123, 'ip,reg0=0x2ec40e', EGRESS, COOKIE) in flows
    assert flows[-2:] == [Flow(100, 0, '', 'goto_table:101', 0), Flow(101, 0, '', 'output:2', 0)]


def test_parse_dump_ignores_stats_and_header():
    with_stats = fixture('dump_seed_node_a_stats.txt')
    assert with_stats.startswith('OFPST_FLOW reply')
    assert ovs.parse_dump_flows(with_stats) == seed_flows()


def test_parse_dump_attributes_default_priority_and_empty_match():
    flows = ovs.parse_dump_flows(fixture('dump_attributes.txt'))
    assert flows == [
        Flow(0, 32768, 'in_port=1', 'output:2', 0),
        Flow(0, 32768, '', 'goto_table:100', COOKIE),  # 'cookie=0x65677265, actions=...'
        Flow(3, 32768, '', 'drop', COOKIE),  # 'cookie=0x65677265, table=3, actions=drop'
        Flow(3, 32768, 'in_port=1', 'drop', COOKIE),
        Flow(7, 32768, '', 'drop', 5),  # idle/hard_timeout and send_flow_rem are not the match
        Flow(7, 5, '', 'drop', 0),
        Flow(7, 6, '', 'drop', 2 ** 64 - 1),
        Flow(253, 65535, 'ip', 'drop', 0),
    ]


def test_format_flow_reproduces_dump_lines():
    for name in ('dump_seed_node_a.txt', 'dump_attributes.txt', 'dump_variants.txt'):
        lines = [line.strip() for line in fixture(name).splitlines()
                 if 'idle_timeout' not in line]  # timeouts are not part of Flow
        assert [ovs.format_flow(f) for f in ovs.parse_dump_flows('\n'.join(lines))] == lines


def test_parse_flow_mods_normalises_spelling():
    flows = ovs.parse_flow_mods(fixture('parse_variants.txt'))
    assert len(flows) == len(fixture('parse_variants.in').splitlines())
    assert flows[0] == Flow(100, 100, 'ip,reg0=0x2ec40e', TUNNEL, 0)  # reg0=0x2EC40E
    assert flows[1] == Flow(100, 123, 'ip,reg0=0x2ec40e', EGRESS, 0)  # order, MAC/hex case
    assert flows[2].match == 'udp,nw_dst=10.0.0.3,tp_dst=53'  # ip_dst -> nw_dst
    assert flows[3].match == 'tcp,nw_dst=10.0.0.3,tp_dst=53'  # field order
    assert flows[4].match == 'reg0=0x2ec40e'  # decimal 3064846
    assert flows[5].actions.startswith('set_field:aa:bb:cc:00:00:02->eth_dst')  # mod_dl_dst
    assert flows[6].match == 'ip,nw_src=10.0.0.0/24,nw_dst=10.1.0.0/16'
    assert flows[7] == Flow(0, 32768, '', 'drop', 0)
    assert flows[8] == Flow(0, 0, '', 'goto_table:100', 0)


def test_parse_flows_and_dump_agree_on_real_ovs_output():
    """The invariant idempotence rests on: parse-flows and dump-flows print a flow alike."""
    parsed = ovs.parse_flow_mods(fixture('parse_variants.txt'))
    dumped = ovs.parse_dump_flows(fixture('dump_variants.txt'))
    assert sorted(parsed) == sorted(dumped)


def test_parse_flow_mods_rejects_unexpected_tokens():
    with pytest.raises(ValueError, match='unexpected parse-flows output'):
        ovs.parse_flow_mods('OFPT_FLOW_MOD (OF1.3) (xid=0x1): ADD table:1 ip cookie:0x5 idle:5 actions=drop')


@pytest.mark.parametrize('name, expected', [
    ('parse_error_match.stderr', (2, 'zz: bad syntax for reg0 value')),
    ('parse_error_goto.stderr', (1, 'actions are invalid with specified match (OFPBIC_BAD_TABLE_ID)')),
])
def test_parse_error_line(name, expected):
    assert ovs.parse_error_line(fixture(name)) == expected


def test_parse_error_line_without_line_number():
    assert ovs.parse_error_line('ovs-ofctl: br0: failed to connect to socket (Broken pipe)') is None


# --- input checks and builders -------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    ('0x65677265', COOKIE), ('0X65677265', COOKIE), (COOKIE, COOKIE), ('1701278309', COOKIE),
    (' 0x1 ', 1), ('0xffffffffffffffff', 2 ** 64 - 1),
])
def test_parse_cookie(value, expected):
    assert ovs.parse_cookie(value) == expected


@pytest.mark.parametrize('value, message', [
    (0, 'cookie: 0 is out of range 1..18446744073709551615'),
    ('0x0', 'cookie: 0x0 is out of range 1..18446744073709551615'),
    ('egre', 'cookie: egre is not an integer'), ('', 'cookie: "" is not an integer'),
    (True, 'cookie: true is not an integer'),
    (2 ** 64, 'cookie: 18446744073709551616 is out of range 1..18446744073709551615'),
    (-1, 'cookie: -1 is out of range 1..18446744073709551615'),
])
def test_parse_cookie_rejects(value, message):
    with pytest.raises(ValueError) as err:
        ovs.parse_cookie(value)
    assert str(err.value) == message


@pytest.mark.parametrize('match', ['ip,reg0=0x1', '', 'tcp,tp_dst=53', 'ip, nw_dst=10.0.0.1'])
def test_check_match_accepts(match):
    ovs.check_match(match)


@pytest.mark.parametrize('match, word', [
    ('ip,priority=5', 'priority'), ('cookie=0x1/-1,ip', 'cookie'), ('table:3,ip', 'table'),
    ('ip actions=drop', 'actions'), ('idle_timeout=5,ip', 'idle_timeout'), ('ip\nreg0=1', 'single line'),
])
def test_check_match_rejects(match, word):
    with pytest.raises(ValueError, match=word):
        ovs.check_match(match)


def test_flow_spec():
    assert ovs.flow_spec(100, 100, 'ip,reg0=0x1', 'drop') == 'table=100,priority=100,ip,reg0=0x1 actions=drop'
    assert ovs.flow_spec(0, 0, '', 'drop') == 'table=0,priority=0 actions=drop'


def test_flow_commands_restrict_by_cookie():
    flow = Flow(100, 100, 'ip,reg0=0x1', 'drop', COOKIE)
    assert ovs.flow_command('add', flow, COOKIE) == \
        'add cookie=0x65677265,table=100,priority=100,ip,reg0=0x1 actions=drop'
    assert ovs.flow_command('modify_strict', flow, COOKIE) == \
        'modify_strict cookie=0x65677265/-1,table=100,priority=100,ip,reg0=0x1 actions=drop'
    assert ovs.flow_command('delete_strict', flow._replace(match=''), COOKIE) == \
        'delete_strict cookie=0x65677265/-1,table=100,priority=100'


class FakeModule:
    """What CmdRunner asks of a module: the binary's path and run_command (recorded, rc 0)."""

    def __init__(self, out=''):
        self.calls, self.out = [], out

    def get_bin_path(self, name, required=False):
        return '/usr/bin/' + name

    def run_command(self, argv, data=None, environ_update=None, expand_user_and_vars=True):
        self.calls.append(dict(argv=argv, data=data, env=environ_update))
        return 0, self.out, ''


@pytest.mark.parametrize('protocol, bundle', [
    ('OpenFlow13', True), ('OpenFlow10,OpenFlow13', True), ('OpenFlow15', True),
    ('OpenFlow10', False), ('OpenFlow12', False), ('OpenFlow10,OpenFlow11', False),
])
def test_add_flows_bundles_from_openflow13(protocol, bundle):
    module = FakeModule()
    ovs.OfCtl(module, protocol, 'br0').add_flows(['add table=1 actions=drop'])
    (call,) = module.calls
    argv = call['argv']
    assert argv[:4] == ['/usr/bin/ovs-ofctl', '-O', protocol, '--no-names']
    assert argv[-3:] == ['add-flows', 'br0', '-']
    assert ('--bundle' in argv) is bundle
    assert ovs.supports_bundle(protocol) is bundle


def test_read_argv():
    module = FakeModule()
    ofctl = ovs.OfCtl(module, 'OpenFlow13', 'unix:/run/br0.mgmt', rundir='/tmp/ovs')
    assert ofctl.parse_flows(['table=1 actions=drop']) == []
    assert ofctl.dump_flows() == [] and ofctl.dump_groups() == {}
    assert [c['argv'] for c in module.calls] == [
        ['/usr/bin/ovs-ofctl', '-O', 'OpenFlow13', '--no-names', 'parse-flows', '-'],
        ['/usr/bin/ovs-ofctl', '-O', 'OpenFlow13', '--no-names', '--no-stats', 'dump-flows', 'unix:/run/br0.mgmt'],
        ['/usr/bin/ovs-ofctl', '-O', 'OpenFlow13', '--no-names', 'dump-groups', 'unix:/run/br0.mgmt'],
    ]
    assert all(c['env'] == {'OVS_RUNDIR': '/tmp/ovs', 'LC_ALL': 'C', 'LANG': 'C'} for c in module.calls)
    assert ovs.ovs_environ('/tmp/ovs') == {'OVS_RUNDIR': '/tmp/ovs'}
    assert ovs.ovs_environ(None) == {}


# --- plans ---------------------------------------------------------------------------------

def desired(*specs):
    """Desired flows as parse-flows returns them (cookie 0)."""
    return [Flow(t, p, m, a, 0) for t, p, m, a in specs]


def test_plan_present_converged_is_empty():
    plan = ovs.plan_flows(desired((100, 100, 'ip,reg0=0x2ec40e', TUNNEL)), seed_flows(), COOKIE, 'present')
    assert plan['commands'] == [] and plan['conflicts'] == []
    assert plan['before'] == plan['after'] == [
        'cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=' + TUNNEL]


def test_plan_present_adds_and_modifies():
    plan = ovs.plan_flows(desired((100, 100, 'ip,reg0=0x2ec40e', 'drop'),
                                  (100, 100, 'ip,reg0=0x1', 'output:1')),
                          seed_flows(), COOKIE, 'present')
    assert plan['commands'] == [
        'modify_strict cookie=0x65677265/-1,table=100,priority=100,ip,reg0=0x2ec40e actions=drop',
        'add cookie=0x65677265,table=100,priority=100,ip,reg0=0x1 actions=output:1',
    ]
    assert plan['added'] == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x1 actions=output:1']
    assert plan['modified'] == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop']
    assert plan['removed'] == []
    assert plan['before'] == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=' + TUNNEL]
    assert plan['after'] == plan['added'] + plan['modified']  # sorted by table, -priority, match


def test_plan_foreign_flow_is_a_conflict_without_force():
    sdn = Flow(100, 100, 'ip,reg0=0x6f7936', TUNNEL, 0)
    plan = ovs.plan_flows(desired((100, 100, 'ip,reg0=0x6f7936', 'drop')), seed_flows(), COOKIE, 'present')
    assert plan['conflicts'] == [(0, sdn)]
    assert plan['commands'] == []


def test_plan_foreign_flow_with_same_actions_is_still_a_conflict():
    plan = ovs.plan_flows(desired((100, 100, 'ip,reg0=0x6f7936', TUNNEL)), seed_flows(), COOKIE, 'present')
    assert [index for index, dummy in plan['conflicts']] == [0]


def test_plan_force_replaces_foreign_flow_with_add():
    plan = ovs.plan_flows(desired((100, 100, 'ip,reg0=0x6f7936', 'drop')), seed_flows(), COOKIE,
                          'present', force=True)
    assert plan['conflicts'] == []
    assert plan['commands'] == ['add cookie=0x65677265,table=100,priority=100,ip,reg0=0x6f7936 actions=drop']
    assert plan['before'] == ['table=100, priority=100,ip,reg0=0x6f7936 actions=' + TUNNEL]
    assert plan['after'] == plan['modified'] == [
        'cookie=0x65677265, table=100, priority=100,ip,reg0=0x6f7936 actions=drop']


def test_plan_absent_deletes_only_owned():
    plan = ovs.plan_flows(desired((100, 123, 'ip,reg0=0x2ec40e', 'drop'),
                                  (100, 100, 'ip,reg0=0x6f7936', 'drop'),
                                  (100, 100, 'ip,reg0=0x9', 'drop')),
                          seed_flows(), COOKIE, 'absent', force=True)
    assert plan['commands'] == ['delete_strict cookie=0x65677265/-1,table=100,priority=123,ip,reg0=0x2ec40e']
    assert [index for index, dummy in plan['conflicts']] == [1]  # reported, never deleted
    assert plan['removed'] == ['cookie=0x65677265, table=100, priority=123,ip,reg0=0x2ec40e actions=' + EGRESS]
    assert plan['after'] == ['table=100, priority=100,ip,reg0=0x6f7936 actions=' + TUNNEL]


def test_plan_overridden_prunes_owned_only():
    plan = ovs.plan_flows(desired((100, 100, 'ip,reg0=0x2ec40e', TUNNEL)), seed_flows(), COOKIE, 'overridden')
    assert plan['commands'] == ['delete_strict cookie=0x65677265/-1,table=100,priority=123,ip,reg0=0x2ec40e']
    assert len(plan['before']) == 2 and len(plan['after']) == 1


def test_plan_overridden_empty_removes_all_owned_in_scope():
    owned_elsewhere = Flow(90, 5, 'ip', 'drop', COOKIE)
    flows = seed_flows() + [owned_elsewhere]
    scoped = ovs.plan_flows([], flows, COOKIE, 'overridden', scope_table=100)
    assert scoped['commands'] == [
        'delete_strict cookie=0x65677265/-1,table=100,priority=123,ip,reg0=0x2ec40e',
        'delete_strict cookie=0x65677265/-1,table=100,priority=100,ip,reg0=0x2ec40e',
    ]
    everything = ovs.plan_flows([], flows, COOKIE, 'overridden')
    assert everything['commands'][0] == 'delete_strict cookie=0x65677265/-1,table=90,priority=5,ip'
    assert len(everything['commands']) == 3 and everything['after'] == []


@pytest.mark.parametrize("state", ["present", "overridden", "absent"])
def test_plan_formats_only_the_lists_asked_for(state):
    wanted = desired((100, 100, 'ip,reg0=0x2ec40e', TUNNEL), (100, 100, 'ip,reg0=0x6f7936', 'drop'))
    full = ovs.plan_flows(wanted, seed_flows(), COOKIE, state)
    bare = ovs.plan_flows(wanted, seed_flows(), COOKIE, state, formatted_keys=())
    assert sorted(bare) == ['commands', 'conflicts']
    assert bare['commands'] == full['commands'] and bare['conflicts'] == full['conflicts']
    some = ovs.plan_flows(wanted, seed_flows(), COOKIE, state, formatted_keys=('before', 'after'))
    assert sorted(some) == ['after', 'before', 'commands', 'conflicts']
    assert some['before'] == full['before'] and some['after'] == full['after']


def test_plan_other_cookie_sees_nothing_owned():
    plan = ovs.plan_flows([], seed_flows(), 0x1234, 'overridden')
    assert plan['commands'] == [] and plan['before'] == []


def test_plan_overridden_deletes_before_adding():
    plan = ovs.plan_flows(desired((100, 100, 'ip,reg0=0x1', 'drop')), seed_flows(), COOKIE, 'overridden')
    assert [c.split()[0] for c in plan['commands']] == ['delete_strict', 'delete_strict', 'add']
    assert plan['added'] == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x1 actions=drop']
    assert len(plan['removed']) == 2


# --- find_flow_conflicts: one case per class of match ----------------------------------------

OURS = ovs.Flow(100, 100, 'ip,reg0=0x2ec40e', 'drop', 0x65677265)


@pytest.mark.parametrize('priority, match, reason', [
    (150, 'ip,reg0=0x2ec40e', 'same reg0 0x2ec40e, priority 150 above ours (100)'),
    (100, 'reg0=0x2ec40e', 'same reg0 0x2ec40e, priority 100 equal to ours (100)'),
    (101, 'reg0=0x2ec400/0xffff00', 'reg0 0x2ec400/0xffff00 covers ours (0x2ec40e)'),
    (150, 'tcp,reg0=0x2ec40e,tp_dst=443', 'same reg0 0x2ec40e (the part of the traffic that also matches nw_proto,tp_dst)'),
    (200, '', 'empty match (catches everything), priority 200 above ours'),
    (101, 'ip', 'matches only ip, priority 101'),
    (65535, 'ip', 'matches only ip'),
])
def test_a_foreign_flow_taking_our_traffic_first_is_a_conflict(priority, match, reason):
    foreign = ovs.Flow(100, priority, match, 'output:2', 0)
    found = ovs.find_flow_conflicts([OURS], [foreign, OURS], 0x65677265)
    assert [(i, f) for i, f, r in found] == [(0, foreign)] and reason in found[0][2], found


@pytest.mark.parametrize('flow', [
    ovs.Flow(100, 0, '', 'goto_table:101', 0),                                  # the SDN's default: below ours
    ovs.Flow(100, 300, 'udp,tp_dst=4789', 'drop', 0),                           # SDN: narrower, no reg0
    ovs.Flow(100, 200, 'tcp,nw_dst=10.0.0.3,tp_dst=53', 'output:2', 0),         # SDN DNS: narrower
    ovs.Flow(100, 150, 'ct_state=+rpl,ip', 'output:2', 0),                      # 4.8-like reply flow
    ovs.Flow(100, 150, 'ip,reg0=0x6f7936', 'drop', 0),                          # another namespace
    ovs.Flow(100, 150, 'reg0=0x2ec400/0xffffff', 'drop', 0),                    # mask that excludes ours
    ovs.Flow(100, 99, 'ip,reg0=0x2ec40e', 'drop', 0),                           # lower priority
    ovs.Flow(101, 150, 'ip,reg0=0x2ec40e', 'drop', 0),                          # another table
    ovs.Flow(100, 150, 'ip,reg0=0x2ec40e', 'drop', 0x65677265),                 # ours
    ovs.Flow(100, 100, 'ip,reg0=0x2ec40e', 'output:2', 0),                      # same key: force's case
    ovs.Flow(100, 150, 'ipv6', 'drop', 0),                                      # not our traffic
])
def test_flows_that_cannot_take_our_traffic_first_are_no_conflict(flow):
    assert ovs.find_flow_conflicts([OURS], [flow], 0x65677265) == []


def test_our_flow_without_ip_is_shadowed_by_an_ip_flow_of_its_namespace():
    ours = ovs.Flow(100, 100, 'reg0=0x2ec40e', 'drop', 0x65677265)
    assert ovs.find_flow_conflicts([ours], [ovs.Flow(100, 120, 'ip', 'output:2', 0)], 0x65677265)[0][2].startswith('matches only ip')
    assert ovs.find_flow_conflicts([ours], [ovs.Flow(100, 120, 'ip,reg0=0x2ec40e', 'output:2', 0)], 0x65677265)


@pytest.mark.parametrize('theirs, ours, covers', [
    ('0x1', '0x1', True), ('0x1', '0x2', False), ('0x0/0xff00', '0x12', True), ('0x100/0xff00', '0x12', False),
    ('0x2', '0x2/0xff', False), ('0x2/0xf', '0x12/0xff', True), ('10.0.0.0/8', '10.0.0.0/8', True), ('a', 'b', False),
])
def test_value_covers(theirs, ours, covers):
    assert ovs.value_covers(theirs, ours) is covers
