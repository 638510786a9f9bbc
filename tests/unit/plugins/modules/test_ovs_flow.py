# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the ovs_flow module with a fake switch.

parse-flows and parse-group need no switch, so the fake runs the real `ovs-ofctl parse-flows`
and `parse-group` (normalisation is OVS's job, not the fake's); dump-flows, dump-groups,
add-flows and bundle work on an in-memory flow and group table that starts from a recorded
dump, and ovs-vsctl on an in-memory external_ids of the bridge.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess

import pytest

from ansible.module_utils import _internal as _module_utils_internal, basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.sdn.egress.plugins.module_utils.ovs import (
    Flow, flow_key, format_flow, group_id_of, group_ids_used, parse_dump_flows, parse_dump_groups)
from ansible_collections.sdn.egress.plugins.modules import ovs_flow

OFCTL = shutil.which('ovs-ofctl')
VSCTL = '/usr/bin/ovs-vsctl'  # never run: the fake answers for it
pytestmark = pytest.mark.skipif(OFCTL is None, reason='needs ovs-ofctl (parse-flows runs without a switch)')

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'ovs')
TUNNEL = 'move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:10.0.0.2->tun_dst,output:1'
EGRESS = 'set_field:22:3b:a9:a4:8e:0c->eth_dst,set_field:0x2ec40e->pkt_mark,goto_table:101'


class FakeSwitch:
    """Flow and group tables behind dump-flows/dump-groups/add-flows/bundle, the bridge's
    external_ids behind ovs-vsctl; real parse-flows and parse-group; records every call."""

    def __init__(self, dump_text, groups_text='', external_ids=None):
        self.flows = dict((flow_key(f), f) for f in parse_dump_flows(dump_text))
        self.groups = parse_dump_groups(groups_text)
        self.external_ids = dict(external_ids or {})
        self.fail_vsctl_set = False
        self.calls = []

    def run_command(self, module, args, data=None, environ_update=None, **kwargs):
        assert isinstance(args, list) and args[0] in (OFCTL, VSCTL)
        self.calls.append(dict(argv=list(args), data=data, env=dict(environ_update or {})))
        if args[0] == VSCTL:
            return self.vsctl(args[1:])
        command = args[args.index('--no-names') + 1:]
        if command[0] in ('parse-flows', 'parse-group'):
            proc = subprocess.run(args, input=None if data is None else data + '\n',
                                  capture_output=True, text=True, check=False)
            return proc.returncode, proc.stdout, proc.stderr
        if command[:2] == ['--no-stats', 'dump-flows']:
            return 0, ''.join(' %s\n' % format_flow(f) for f in self.flows.values()), ''
        if command[0] == 'dump-groups':
            return 0, 'OFPST_GROUP_DESC reply (OF1.3) (xid=0x2):\n' + ''.join(
                ' %s\n' % line for line in self.groups.values()), ''
        if command[0] == 'bundle':
            assert command[-1] == '-'
            return self.transaction([line.split(' ', 1) for line in data.splitlines()])
        assert command[-3] == 'add-flows' and command[-1] == '-'
        return self.transaction([('flow', line) for line in data.splitlines()])

    def transaction(self, lines):
        """All lines or none, as an OpenFlow bundle."""
        flows, groups = dict(self.flows), dict(self.groups)
        for kind, line in lines:
            error = self.apply(line) if kind == 'flow' else self.apply_group(line)
            if error:
                self.flows, self.groups = flows, groups
                return 1, '', 'ovs-ofctl: %s' % error
        return 0, '', ''

    def apply(self, line):
        op, spec = line.split(' ', 1)
        head, dummy, actions = spec.partition(' actions=')
        cookie, table, priority, match = (head.split(',', 3) + [''])[:4]
        cookie = int(cookie[len('cookie='):].split('/')[0], 16)
        key = (int(table[len('table='):]), int(priority[len('priority='):]), match)
        old = self.flows.get(key)
        if op != 'delete_strict' and group_ids_used(actions) - set(self.groups):
            return 'OFPBAC_BAD_OUT_GROUP'
        if op == 'add':
            self.flows[key] = Flow(key[0], key[1], match, actions, cookie)
        elif old is not None and old.cookie == cookie:  # strict ops carry cookie=X/-1
            if op == 'delete_strict':
                del self.flows[key]
            else:
                assert op == 'modify_strict'
                self.flows[key] = old._replace(actions=actions)
        return None

    def apply_group(self, line):
        op, spec = line.split(' ', 1)
        group_id = group_id_of(spec)
        if op == 'delete':
            assert spec == 'group_id=%d' % group_id
            self.groups.pop(group_id, None)
            # OpenFlow: deleting a group deletes the flows that send packets to it
            self.flows = dict((k, f) for k, f in self.flows.items() if group_id not in group_ids_used(f.actions))
        elif op == 'add':
            if group_id in self.groups:
                return 'OFPGMFC_GROUP_EXISTS'
            self.groups[group_id] = spec
        else:
            assert op == 'modify'
            if group_id not in self.groups:
                return 'OFPGMFC_UNKNOWN_GROUP'
            self.groups[group_id] = spec
        return None

    def vsctl(self, args):
        assert args[0] == '--timeout=10'
        if args[1:] == ['--format=json', '--columns=external_ids', 'list', 'Bridge', 'br0']:
            return 0, json.dumps({'data': [[['map', sorted(self.external_ids.items())]]],
                                  'headings': ['external_ids']}) + '\n', ''
        assert args[1] == '--no-wait' and args[3:5] == ['Bridge', 'br0'], args
        if self.fail_vsctl_set:
            return 1, '', 'ovs-vsctl: unix:/run/db.sock: database connection failed (Connection refused)'
        if args[2] == 'remove':
            assert args[5] == 'external_ids'
            del self.external_ids[args[6]]
        else:
            assert args[2] == 'set' and args[5].startswith('external_ids:')
            key, value = args[5][len('external_ids:'):].split('=', 1)
            self.external_ids[key] = json.loads(value)
        return 0, '', ''

    def dump(self):
        return sorted(format_flow(f) for f in self.flows.values())

    def dump_groups(self):
        return [self.groups[group_id] for group_id in sorted(self.groups)]

    def calls_of(self, name):
        return [c for c in self.calls if name in c['argv']]


def bin_path(self, name, required=False, opt_dirs=None):
    return {'ovs-ofctl': OFCTL, 'ovs-vsctl': VSCTL}[name]


@pytest.fixture
def switch(monkeypatch):
    with open(os.path.join(FIXTURES, 'dump_seed_node_a.txt')) as f:
        state = FakeSwitch(f.read())
    use(monkeypatch, state)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', bin_path)
    return state


@pytest.fixture
def run(capsys, monkeypatch):
    # Importing controller code (other tests load action plugins) routes module warnings to
    # the controller's Display; modules run on the target, so undo that here.
    monkeypatch.setattr(_module_utils_internal, 'is_controller', False)

    def run(args, check=False, diff=False):
        args = dict(args)
        args.setdefault('bridge', 'br0')
        if args['bridge'] is None:  # bridge=None: leave the option out
            del args['bridge']
        args['_ansible_check_mode'] = check
        args['_ansible_diff'] = diff
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                ovs_flow.main()
        return json.loads(capsys.readouterr().out)
    return run


def use(monkeypatch, state):
    monkeypatch.setattr(basic.AnsibleModule, 'run_command',
                        lambda module, args, data=None, **kw: state.run_command(module, args, data, **kw))


OWNED_TUNNEL = dict(table=100, priority=100, match='ip,reg0=0x2ec40e', actions=TUNNEL)
NEW_FLOW = dict(table=100, priority=100, match='ip,reg0=0x1e240', actions='drop')


def test_add_then_unchanged_and_check_mode_predicts(switch, run):
    before = switch.dump()
    predicted = run(dict(flows=[OWNED_TUNNEL, NEW_FLOW]), check=True)
    assert predicted['changed'] and switch.calls_of('add-flows') == [] and switch.dump() == before

    first = run(dict(flows=[OWNED_TUNNEL, NEW_FLOW]))
    assert first['changed'] and first['commands'] == predicted['commands'] == [
        'add cookie=0x65677265,table=100,priority=100,ip,reg0=0x1e240 actions=drop']
    assert first['added'] == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x1e240 actions=drop']
    assert first['removed'] == first['modified'] == []
    applied = switch.calls_of('add-flows')
    assert len(applied) == 1 and '--bundle' in applied[0]['argv'] and applied[0]['data'] == first['commands'][0]
    assert 'cookie=0x65677265, table=100, priority=100,ip,reg0=0x1e240 actions=drop' in switch.dump()

    second = run(dict(flows=[OWNED_TUNNEL, NEW_FLOW]))
    assert not second['changed'] and second['commands'] == [] and len(switch.calls_of('add-flows')) == 1


def test_return_entries_false_keeps_only_the_commands(switch, run):
    out = run(dict(flows=[OWNED_TUNNEL, NEW_FLOW], return_entries=False))
    assert out['changed'] and out['commands'] == [
        'add cookie=0x65677265,table=100,priority=100,ip,reg0=0x1e240 actions=drop']
    assert not set(out) & {'added', 'removed', 'modified'}
    assert 'cookie=0x65677265, table=100, priority=100,ip,reg0=0x1e240 actions=drop' in switch.dump()


def test_spelling_variants_are_no_change(switch, run):
    result = run(dict(flows=[
        dict(table=100, priority=100, match='reg0=0x2EC40E,ip',
             actions=TUNNEL.replace('NXM_NX_REG0[]', 'NXM_NX_REG0[0..31]')),
        dict(table=100, priority=123, match='ip,reg0=3064846',
             actions='mod_dl_dst:22:3B:A9:A4:8E:0C,set_field:0x2EC40E->pkt_mark,goto_table:101'),
    ]))
    assert not result['changed'] and result['commands'] == [], result
    assert len(switch.calls_of('parse-flows')) == 1  # one process normalises all desired flows


def test_modify_updates_actions_of_owned_flow(switch, run):
    result = run(dict(OWNED_TUNNEL, actions='drop'), diff=True)
    assert result['commands'] == [
        'modify_strict cookie=0x65677265/-1,table=100,priority=100,ip,reg0=0x2ec40e actions=drop']
    assert result['modified'] == ['cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop']
    assert result['diff']['before'] == 'cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=%s\n' % TUNNEL
    assert result['diff']['after'] == 'cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop\n'


def test_overridden_removes_owned_not_listed_keeps_sdn(switch, run):
    sdn = [line for line in switch.dump() if not line.startswith('cookie=')]
    result = run(dict(state='overridden', scope_table=100, flows=[NEW_FLOW]))
    assert result['commands'] == [
        'delete_strict cookie=0x65677265/-1,table=100,priority=123,ip,reg0=0x2ec40e',
        'delete_strict cookie=0x65677265/-1,table=100,priority=100,ip,reg0=0x2ec40e',
        'add cookie=0x65677265,table=100,priority=100,ip,reg0=0x1e240 actions=drop',
    ]
    assert [line for line in switch.dump() if line.startswith('cookie=')] == result['after'] == [
        'cookie=0x65677265, table=100, priority=100,ip,reg0=0x1e240 actions=drop']
    assert [line for line in switch.dump() if not line.startswith('cookie=')] == sdn


def test_overridden_empty_list_removes_all_owned(switch, run):
    result = run(dict(state='overridden', flows=[]))
    assert len(result['removed']) == 2 and result['after'] == []
    assert switch.calls_of('parse-flows') == []
    assert not any(line.startswith('cookie=') for line in switch.dump())


def test_absent_deletes_owned_and_warns_about_foreign(switch, run):
    result = run(dict(state='absent', flows=[
        dict(table=100, priority=123, match='ip,reg0=0x2EC40E'),
        dict(table=100, priority=100, match='ip,reg0=0x6f7936')]))
    assert result['commands'] == ['delete_strict cookie=0x65677265/-1,table=100,priority=123,ip,reg0=0x2ec40e']
    assert 'table=100, priority=100,ip,reg0=0x6f7936 actions=%s' % TUNNEL in switch.dump()
    warnings = json.dumps(result['warnings'])  # structured warning summaries since ansible-core 2.19
    assert 'flows[1]: flow ' in warnings and 'reg0=0x6f7936' in warnings and 'cookie 0x0' in warnings, result


def test_foreign_flow_refused_then_forced(switch, run):
    args = dict(table=100, priority=100, match='ip,reg0=0x6f7936', actions='drop')
    refused = run(args)
    assert refused['failed'] and switch.calls_of('add-flows') == []
    assert 'priority=100,ip,reg0=0x6f7936' in refused['msg'] and 'cookie 0x0' in refused['msg']
    assert 'force=true' in refused['msg']

    forced = run(dict(args, force=True))
    assert forced['commands'] == ['add cookie=0x65677265,table=100,priority=100,ip,reg0=0x6f7936 actions=drop']
    assert 'cookie=0x65677265, table=100, priority=100,ip,reg0=0x6f7936 actions=drop' in switch.dump()


@pytest.mark.parametrize('flows, message', [
    ([NEW_FLOW, dict(table=100, priority=5, match='ip,reg0=zz', actions='drop')],
     "flows[1].match: 'ip,reg0=zz' is invalid: zz: bad syntax for reg0 value"),
    ([dict(table=100, priority=5, match='ip', actions='goto_table:50')],
     "flows[0].actions: 'goto_table:50' is invalid: actions are invalid with specified match"),
    ([dict(table=100, priority=5, match='ip', actions='set_field:1->nosuchfield')],
     "flows[0].actions: 'set_field:1->nosuchfield' is invalid"),
    ([dict(table=100, priority=5, match='ip,priority=7', actions='drop')],
     "flows[0].match: 'ip,priority=7' is invalid: 'priority' is a flow attribute"),
    ([dict(table=254, actions='drop')], 'flows[0].table: 254 is not a table number'),
    ([dict(priority=70000, actions='drop')], 'flows[0].priority: 70000 is not a priority'),
    ([dict(table=1, match='ip')], 'flows[0].actions is required with state=present'),
    ([dict(table=1, match='ip', actions='drop\nadd table=2 actions=drop')], 'must be a single line'),
    ([NEW_FLOW, dict(NEW_FLOW, match='reg0=123456,ip', actions='output:2')],
     'flows[1]: same table, priority and match as flows[0]'),
])
def test_bad_flows_fail_before_any_change(switch, run, flows, message):
    before = switch.dump()
    result = run(dict(flows=flows))
    assert result['failed'] and message in result['msg'], result
    assert switch.calls_of('add-flows') == [] and switch.dump() == before


@pytest.mark.parametrize('args, message', [
    (dict(match='ip', flows=[]), 'mutually exclusive'),
    (dict(actions='drop', cookie='0x0'), 'cookie: 0x0 is out of range 1..18446744073709551615'),
    (dict(actions='drop', cookie='egre'), 'cookie: egre is not an integer'),
    (dict(state='overridden', scope_table=100, flows=[dict(table=101, actions='drop')]),
     'flows[0].table: 101 is outside scope_table 100'),
    (dict(match='ip,reg0=xyz', actions='drop'), "match: 'ip,reg0=xyz' is invalid"),
])
def test_bad_options(switch, run, args, message):
    result = run(args)
    assert result['failed'] and message in result['msg'], result
    assert switch.calls_of('add-flows') == []


def test_single_flow_defaults_table_0_priority_32768(switch, run):
    result = run(dict(actions='goto_table:100'))
    assert result['commands'] == ['add cookie=0x65677265,table=0,priority=32768 actions=goto_table:100']
    assert 'cookie=0x65677265, actions=goto_table:100' in switch.dump()  # as OVS prints it


def test_rundir_target_protocol_and_cookie_reach_ovs_ofctl(switch, run):
    result = run(dict(NEW_FLOW, rundir='/tmp/ovs', target='unix:/tmp/ovs/br0.mgmt',
                      protocol='OpenFlow10,OpenFlow13', cookie=0x1234))
    assert result['commands'] == ['add cookie=0x1234,table=100,priority=100,ip,reg0=0x1e240 actions=drop']
    assert [c['argv'][1:] for c in switch.calls] == [
        ['-O', 'OpenFlow10,OpenFlow13', '--no-names', 'parse-flows', '-'],
        ['-O', 'OpenFlow10,OpenFlow13', '--no-names', '--no-stats', 'dump-flows', 'unix:/tmp/ovs/br0.mgmt'],
        ['-O', 'OpenFlow10,OpenFlow13', '--no-names', '--bundle', 'add-flows', 'unix:/tmp/ovs/br0.mgmt', '-'],
    ]
    assert all(c['env'] == {'OVS_RUNDIR': '/tmp/ovs', 'LC_ALL': 'C', 'LANG': 'C'} for c in switch.calls)


def test_openflow10_applies_without_bundle(switch, run):
    run(dict(NEW_FLOW, protocol='OpenFlow10'))
    (applied,) = switch.calls_of('add-flows')
    assert '--bundle' not in applied['argv'] and applied['argv'][-3:] == ['add-flows', 'br0', '-']


def test_500_flows_in_three_processes(switch, run):
    flows = [dict(table=100, priority=100, match='ip,reg0=%d' % (0x100000 + i), actions='drop') for i in range(500)]
    result = run(dict(flows=flows))
    assert len(result['commands']) == len(result['added']) == 500
    assert [c['argv'][4:] for c in switch.calls] == [
        ['parse-flows', '-'], ['--no-stats', 'dump-flows', 'br0'], ['--bundle', 'add-flows', 'br0', '-']]
    assert switch.calls_of('add-flows')[0]['data'].count('\n') == 499
    assert not run(dict(flows=flows))['changed']


# --- flows_text: the same flows as one string -----------------------------------------------

def as_text(flows):
    """flows entries as flows_text lines, the way egress_plan writes them."""
    return ''.join('table=%d,priority=%d,%s,actions=%s\n' % (f['table'], f['priority'], f['match'], f['actions'])
                   for f in flows)


@pytest.fixture
def twin():
    """A second fake switch in the same state as `switch`, to run the list form side by side."""
    with open(os.path.join(FIXTURES, 'dump_seed_node_a.txt')) as f:
        return FakeSwitch(f.read())


@pytest.mark.parametrize('args', [  # the seed's foreign priority-123 flow of 0x6f7936 is left (warn)
    dict(conflicts='warn'),
    dict(state='overridden', scope_table=100, conflicts='warn'),
    dict(state='overridden', conflicts='warn'),
])
def test_flows_text_gives_the_same_result_as_flows(switch, twin, run, monkeypatch, args):
    flows = [OWNED_TUNNEL, NEW_FLOW, dict(table=100, priority=7, match='reg0=0x6f7936', actions='drop')]
    from_text = run(dict(args, flows_text=as_text(flows)), diff=True)
    use(monkeypatch, twin)
    from_list = run(dict(args, flows=flows), diff=True)
    del from_text['invocation'], from_list['invocation']
    assert from_text['changed'] and from_text == from_list
    assert switch.dump() == twin.dump()
    # and the other way round on the converged switch: nothing to do
    assert not run(dict(args, flows_text=as_text(flows)))['changed']
    use(monkeypatch, switch)
    assert not run(dict(args, flows=flows))['changed']


def test_flows_text_check_mode_then_converge_then_unchanged(switch, run):
    text = '# egress flows of node a\n\n' + as_text([OWNED_TUNNEL, NEW_FLOW])
    before = switch.dump()
    predicted = run(dict(flows_text=text), check=True)
    assert predicted['changed'] and switch.calls_of('add-flows') == [] and switch.dump() == before
    first = run(dict(flows_text=text))
    assert first['commands'] == predicted['commands'] == [
        'add cookie=0x65677265,table=100,priority=100,ip,reg0=0x1e240 actions=drop']
    second = run(dict(flows_text=text))
    assert not second['changed'] and second['commands'] == []


def test_flows_text_spelling_variants_and_field_order_are_no_change(switch, run):
    text = ('priority=100 reg0=0x2EC40E,ip table=100 actions=%s\n'
            'ip,table=100,reg0=3064846,priority=123,actions=mod_dl_dst:22:3B:A9:A4:8E:0C,'
            'set_field:0x2EC40E->pkt_mark,goto_table:101\n' % TUNNEL.replace('NXM_NX_REG0[]', 'NXM_NX_REG0[0..31]'))
    result = run(dict(flows_text=text))
    assert not result['changed'] and result['commands'] == [], result


@pytest.mark.parametrize('text', ['', '\n\n', '# no flows on this node\n'])
def test_flows_text_without_flows_overridden_removes_all_owned(switch, run, text):
    result = run(dict(state='overridden', flows_text=text))
    assert len(result['removed']) == 2 and result['after'] == []
    assert switch.calls_of('parse-flows') == []
    assert not any(line.startswith('cookie=') for line in switch.dump())


def test_flows_text_without_flows_present_does_nothing(switch, run):
    result = run(dict(flows_text='# nothing\n'))
    assert not result['changed'] and result['commands'] == [] and switch.calls_of('parse-flows') == []


def test_flows_text_absent_needs_no_actions(switch, run):
    text = 'table=100,priority=123,ip,reg0=0x2EC40E\ntable=100,priority=100,ip,reg0=0x6f7936\n'
    result = run(dict(state='absent', flows_text=text))
    assert result['commands'] == ['delete_strict cookie=0x65677265/-1,table=100,priority=123,ip,reg0=0x2ec40e']
    warnings = json.dumps(result['warnings'])
    assert "flows_text line 2: 'table=100,priority=100,ip,reg0=0x6f7936': flow " in warnings, result


def test_flows_text_foreign_flow_refused_naming_the_line(switch, run):
    result = run(dict(flows_text='\ntable=100,priority=100,ip,reg0=0x6f7936,actions=drop'))
    assert result['failed'] and switch.calls_of('add-flows') == []
    assert result['msg'].startswith(
        "flows_text line 2: 'table=100,priority=100,ip,reg0=0x6f7936,actions=drop': flow 'table=100, priority=100,"
        "ip,reg0=0x6f7936 actions=%s' is owned by cookie 0x0" % TUNNEL), result['msg']


GOOD_LINES = 'table=100,priority=100,ip,reg0=0x1,actions=drop\n# comment\n'


@pytest.mark.parametrize('line, message', [
    ('table=x,ip,actions=drop', "flows_text line 3: 'table=x,ip,actions=drop': table: x is not an integer"),
    ('cookie=0x1,ip,actions=drop', "flows_text line 3: 'cookie=0x1,ip,actions=drop': cookie is not allowed"),
    ('table=100,priority=5,ip,reg0=zz,actions=drop',
     "flows_text line 3: 'table=100,priority=5,ip,reg0=zz,actions=drop': match 'ip,reg0=zz' is invalid: "
     "zz: bad syntax for reg0 value"),
    ('table=100,priority=5,ip,actions=goto_table:50',
     "flows_text line 3: 'table=100,priority=5,ip,actions=goto_table:50': actions 'goto_table:50' is invalid: "
     "actions are invalid with specified match"),
    ('table=254,actions=drop', "flows_text line 3: 'table=254,actions=drop': table 254 is not a table number"),
    ('priority=70000,actions=drop', "flows_text line 3: 'priority=70000,actions=drop': priority 70000 is not a priority"),
    ('table=1,ip', "flows_text line 3: 'table=1,ip': actions= is required with state=present"),
    ('table=1,ip,actions=', "flows_text line 3: 'table=1,ip,actions=': actions= is required with state=present"),
    ('table=1,idle_timeout=5,ip,actions=drop',
     "flows_text line 3: 'table=1,idle_timeout=5,ip,actions=drop': match 'idle_timeout=5,ip' is invalid: "
     "'idle_timeout' is a flow attribute"),
    ('table=100 priority=100 reg0=123456,ip actions=output:2',
     "flows_text line 3: 'table=100 priority=100 reg0=123456,ip actions=output:2': same table, priority and match "
     "as flows_text line 1"),
])
def test_flows_text_bad_line_fails_before_any_change(switch, run, line, message):
    before = switch.dump()
    result = run(dict(flows_text=GOOD_LINES.replace('0x1', '0x1e240') + line + '\n'))
    assert result['failed'] and result['msg'].startswith(message), result['msg']
    assert switch.calls_of('add-flows') == [] and switch.dump() == before


@pytest.mark.parametrize('args, message', [
    (dict(flows_text='', flows=[]), 'mutually exclusive'),
    (dict(flows_text='', match='ip'), 'mutually exclusive'),
    (dict(flows_text='actions=drop', actions='drop'), 'mutually exclusive'),
    (dict(state='overridden', scope_table=100, flows_text='table=101,actions=drop'),
     "flows_text line 1: 'table=101,actions=drop': table 101 is outside scope_table 100"),
])
def test_flows_text_bad_options(switch, run, args, message):
    result = run(args)
    assert result['failed'] and message in result['msg'], result
    assert switch.calls_of('add-flows') == []


def test_flows_text_2000_flows_in_three_processes(switch, run):
    text = ''.join('table=100,priority=100,ip,reg0=%d,actions=set_field:%d->pkt_mark,goto_table:101\n'
                   % (0x100000 + i, 0x100000 + i) for i in range(2000))
    result = run(dict(flows_text=text))
    assert len(result['commands']) == len(result['added']) == 2000
    assert [c['argv'][4:] for c in switch.calls] == [
        ['parse-flows', '-'], ['--no-stats', 'dump-flows', 'br0'], ['--bundle', 'add-flows', 'br0', '-']]
    assert not run(dict(flows_text=text))['changed']


# --- groups ----------------------------------------------------------------------------------

KEY = 'sdn-egress-groups-65677265'
G1 = 'group_id=3064846,type=select,bucket=actions=%s,bucket=actions=%s' % (TUNNEL, TUNNEL.replace('10.0.0.2', '10.0.0.4'))
G1_FLOW = dict(table=101, priority=100, match='ip,reg0=0x2ec40e', actions='ct(commit),group:3064846')
G1_FLOW_ADD = 'flow add cookie=0x65677265,table=101,priority=100,ip,reg0=0x2ec40e actions=ct(commit),group:3064846'
LOCAL = 'group_id=7,type=select,bucket=actions=set_field:22:3b:a9:a4:8e:0c->eth_dst,set_field:0x7->pkt_mark,output:2'
FOREIGN = 'group_id=9,type=select,bucket=actions=output:2'


@pytest.fixture
def gswitch(switch):
    """The seed switch plus a group that is not ours (no record yet)."""
    switch.groups = {9: FOREIGN}
    return switch


def writes(state):
    """Calls that change the switch or its database."""
    return [c for c in state.calls if set(c['argv']) & {'bundle', 'add-flows', 'set', 'remove'}]


def converge(run, state, **args):
    result = run(dict(dict(flows=[G1_FLOW], groups=[G1, LOCAL]), **args))
    assert result['changed'] and not result.get('failed'), result
    del state.calls[:]
    return result


def test_groups_and_flows_in_one_bundle_then_unchanged_check_mode_predicts(gswitch, run):
    flows, groups = gswitch.dump(), gswitch.dump_groups()
    predicted = run(dict(flows=[G1_FLOW], groups=[G1, LOCAL]), check=True)
    assert predicted['changed'] and writes(gswitch) == []
    assert gswitch.dump() == flows and gswitch.dump_groups() == groups and gswitch.external_ids == {}
    del gswitch.calls[:]

    first = run(dict(flows=[G1_FLOW], groups=[G1, LOCAL]))
    assert first['commands'] == predicted['commands'] == ['group add ' + G1, 'group add ' + LOCAL, G1_FLOW_ADD]
    assert first['groups_added'] == predicted['groups_added'] == [LOCAL, G1]
    assert first['groups_owned'] == predicted['groups_owned'] == [7, 3064846]
    assert first['added'] == ['cookie=0x65677265, table=101, priority=100,ip,reg0=0x2ec40e actions=ct(commit),group:3064846']
    assert [c['argv'][1:] for c in gswitch.calls] == [
        ['-O', 'OpenFlow13', '--no-names', 'parse-flows', '-'],
        ['-O', 'OpenFlow13', '--no-names', '--no-stats', 'dump-flows', 'br0'],
        ['--timeout=10', '--format=json', '--columns=external_ids', 'list', 'Bridge', 'br0'],
        ['-O', 'OpenFlow13', '--no-names', 'dump-groups', 'br0'],
        ['-O', 'OpenFlow13', '--no-names', 'bundle', 'br0', '-'],
        ['--timeout=10', '--no-wait', 'set', 'Bridge', 'br0', 'external_ids:%s="7,3064846"' % KEY],
        ['-O', 'OpenFlow13', '--no-names', 'dump-groups', 'br0'],  # read back what was written
    ]
    assert gswitch.calls_of('bundle')[0]['data'] == '\n'.join(first['commands'])
    assert gswitch.external_ids == {KEY: '7,3064846'}
    assert gswitch.dump_groups() == [LOCAL, FOREIGN, G1]
    assert 'cookie=0x65677265, table=101, priority=100,ip,reg0=0x2ec40e actions=ct(commit),group:3064846' in gswitch.dump()
    del gswitch.calls[:]

    second = run(dict(flows=[G1_FLOW], groups=[G1, LOCAL]))
    assert not second['changed'] and second['commands'] == [] and writes(gswitch) == []
    assert len(gswitch.calls) == 4  # parse, dump-flows, record, dump-groups
    assert not run(dict(flows=[G1_FLOW], groups=[G1, LOCAL]), check=True)['changed']


def test_group_spelling_variants_are_no_change(gswitch, run):
    converge(run, gswitch)
    result = run(dict(flows=[dict(G1_FLOW, match='reg0=3064846,ip')], groups=[
        'type=select group_id=0x2EC40E bucket=%s bucket=weight:1,actions=%s' % (
            TUNNEL.replace('NXM_NX_REG0[]', 'NXM_NX_REG0[0..31]'), TUNNEL.replace('10.0.0.2', '10.0.0.4')),
        'group_id=7,type=select,bucket=mod_dl_dst:22:3B:A9:A4:8E:0C,set_field:7->pkt_mark,output:2',
    ]))
    assert not result['changed'] and result['commands'] == [], result
    assert len(gswitch.calls_of('parse-flows')) == 1 and gswitch.calls_of('parse-group') == []


def test_group_modify_with_diff(gswitch, run):
    converge(run, gswitch)
    changed = LOCAL.replace('output:2', 'output:1')
    result = run(dict(groups=[changed]), diff=True)
    assert result['commands'] == ['group modify ' + changed]
    assert result['groups_modified'] == [changed] and result['groups_added'] == result['groups_removed'] == []
    assert result['groups_before'] == [LOCAL] and result['groups_after'] == [changed]
    assert result['diff']['before_header'] == 'br0 flows and groups (cookie 0x65677265)'
    assert result['diff']['before'] == '%s\nexternal_ids:%s="7,3064846"\n' % (LOCAL, KEY)
    assert result['diff']['after'] == '%s\nexternal_ids:%s="7,3064846"\n' % (changed, KEY)
    assert gswitch.groups[7] == changed and gswitch.external_ids == {KEY: '7,3064846'}
    assert gswitch.calls_of('set') == []  # the record did not change


def test_overridden_prunes_owned_groups_and_their_flows_keeps_foreign(gswitch, run):
    converge(run, gswitch)
    sdn_flows = [line for line in gswitch.dump() if not line.startswith('cookie=0x65677265')]
    result = run(dict(state='overridden', scope_table=101, flows=[], groups=[LOCAL]), diff=True)
    assert result['commands'] == [
        'flow delete_strict cookie=0x65677265/-1,table=101,priority=100,ip,reg0=0x2ec40e',
        'group delete group_id=3064846',
    ]
    assert result['groups_removed'] == [G1] and result['groups_owned'] == [7]
    assert gswitch.dump_groups() == [LOCAL, FOREIGN] and gswitch.external_ids == {KEY: '7'}
    assert [line for line in gswitch.dump() if not line.startswith('cookie=0x65677265')] == sdn_flows
    assert 'external_ids:%s="7"\n' % KEY in result['diff']['after']

    everything = run(dict(state='overridden', groups=[]))
    assert everything['commands'] == ['group delete group_id=7'] and everything['groups_owned'] == []
    assert gswitch.dump_groups() == [FOREIGN] and gswitch.external_ids == {}  # the key is removed
    assert gswitch.calls_of('remove')[0]['argv'][1:] == ['--timeout=10', '--no-wait', 'remove', 'Bridge', 'br0',
                                                         'external_ids', KEY]


def test_groups_alone_leave_flows_alone(gswitch, run):
    converge(run, gswitch)
    flows = gswitch.dump()
    result = run(dict(state='overridden', groups=[G1, LOCAL]))
    assert not result['changed'] and result['commands'] == [] and result['before'] == result['after'] == []
    assert gswitch.dump() == flows and gswitch.calls_of('parse-flows') == [gswitch.calls[0]]


def test_group_a_kept_flow_points_to_is_never_deleted(gswitch, run):
    converge(run, gswitch)
    before = (gswitch.dump(), gswitch.dump_groups())
    for args in (dict(state='overridden', groups=[LOCAL]), dict(state='overridden', groups=[LOCAL], force=True),
                 dict(state='absent', groups=['group_id=3064846'])):
        result = run(args)
        assert result['failed'], result
        assert result['msg'] == (
            "group 3064846 is to be deleted, but flow 'cookie=0x65677265, table=101, priority=100,ip,reg0=0x2ec40e "
            "actions=ct(commit),group:3064846' (kept) points to it; list the group or remove the flow")
        assert writes(gswitch) == [] and (gswitch.dump(), gswitch.dump_groups()) == before


def test_owned_group_a_foreign_flow_points_to_needs_force(gswitch, run):
    converge(run, gswitch, flows=None, groups=[G1])
    sdn = Flow(101, 90, 'ip,reg0=0x5', 'group:3064846', 0)
    gswitch.flows[flow_key(sdn)] = sdn
    before = (gswitch.dump(), gswitch.dump_groups())
    refused = run(dict(state='overridden', groups=[]))
    assert refused['failed'] and writes(gswitch) == [] and (gswitch.dump(), gswitch.dump_groups()) == before
    assert refused['msg'] == (
        "group 3064846 is ours, but flow 'table=101, priority=90,ip,reg0=0x5 actions=group:3064846' (cookie 0x0) "
        "points to it and would be deleted with it; set force=true to delete both")

    forced = run(dict(state='overridden', groups=[], force=True))
    assert forced['commands'] == ['group delete group_id=3064846']
    assert 'would be deleted with it; deleted with force=true' in json.dumps(forced['warnings'])
    assert format_flow(sdn) not in gswitch.dump() and 3064846 not in gswitch.groups


def test_foreign_group_refused_then_taken_over(gswitch, run):
    wanted = FOREIGN.replace('output:2', 'output:1')
    before = (gswitch.dump(), gswitch.dump_groups())
    refused = run(dict(groups=[LOCAL, wanted]))
    assert refused['failed'] and writes(gswitch) == [] and (gswitch.dump(), gswitch.dump_groups()) == before
    assert refused['msg'] == (
        "groups[1]: %r: group 9 exists and is not ours (not in external_ids:%s): %r; set force=true to replace"
        % (wanted, KEY, FOREIGN))
    assert gswitch.external_ids == {}

    forced = run(dict(groups=[LOCAL, wanted], force=True))
    assert forced['commands'] == ['group add ' + LOCAL, 'group modify ' + wanted]
    assert forced['groups_modified'] == [wanted] and forced['groups_owned'] == [7, 9]
    assert gswitch.groups[9] == wanted and gswitch.external_ids == {KEY: '7,9'}
    assert not run(dict(groups=[LOCAL, wanted]))['changed']  # now ours: no force needed


def test_foreign_group_text_refused_naming_the_line(gswitch, run):
    result = run(dict(groups_text='# ours\n' + FOREIGN + '\n'))
    assert result['failed'] and result['msg'].startswith(
        "groups_text line 2: %r: group 9 exists and is not ours" % FOREIGN), result['msg']


def test_absent_deletes_owned_groups_and_warns_about_foreign(gswitch, run):
    converge(run, gswitch, flows=None)
    result = run(dict(state='absent', groups_text='group_id=7\ngroup_id=9\ngroup_id=12\n'))
    assert result['commands'] == ['group delete group_id=7'] and result['groups_removed'] == [LOCAL]
    assert "groups_text line 2: 'group_id=9': group 9 exists and is not ours" in json.dumps(result['warnings'])
    assert gswitch.dump_groups() == [FOREIGN, G1] and gswitch.external_ids == {KEY: '3064846'}
    assert not run(dict(state='absent', groups=['group_id=7']))['changed']


def test_ct_bucket_is_normalised_by_parse_group(gswitch, run):
    """parse-flows refuses ct() without an ip match; the group goes through parse-group instead."""
    group = 'group_id=5,type=select,bucket=actions=ct(commit),set_field:0x5->pkt_mark,output:2'
    first = run(dict(flows=[G1_FLOW], groups=[G1, group.replace('0x5->', '5->')]))
    assert first['changed'] and gswitch.groups[5] == group, first
    assert [c['argv'][4] for c in gswitch.calls_of('-O')[:3]] == ['parse-flows', 'parse-flows', 'parse-group']
    assert len(gswitch.calls_of('parse-group')) == 2  # every group, once parse-flows refused a bucket
    assert not run(dict(flows=[G1_FLOW], groups=[G1, group]))['changed']


@pytest.mark.parametrize('args, message', [
    (dict(groups=['group_id=5,type=select,bucket=actions=output:2,goto_table:4']),
     "groups[0]: 'group_id=5,type=select,bucket=actions=output:2,goto_table:4': goto_table instruction not allowed here"),
    (dict(groups=[LOCAL, 'group_id=5,type=select,bucket=actions=set_field:1->nosuch']),
     "groups[1]: 'group_id=5,type=select,bucket=actions=set_field:1->nosuch': "),
    (dict(groups=['group_id=5,type=lb']),
     "groups[0]: 'group_id=5,type=lb': type: lb is not one of all, fast_failover, ff, indirect, select"),
    (dict(groups=[LOCAL, LOCAL.replace('output:2', 'output:1')]),
     "groups[1]: %r: group_id 7 is given twice (also groups[0])" % LOCAL.replace('output:2', 'output:1')),
    (dict(groups_text='group_id=5,type=all\n\ngroup_id=x,type=all\n'),
     "groups_text line 3: 'group_id=x,type=all': group_id: x is not an integer"),
    (dict(groups=['group_id=5,type=all\nbucket=actions=drop']), 'must be a single line'),
    (dict(groups=[LOCAL], protocol='OpenFlow10'),
     'protocol: OpenFlow10: groups need OpenFlow13 or later'),
    (dict(groups=[LOCAL], flows=[dict(G1_FLOW, match='ip,reg0=zz')]),
     "flows[0].match: 'ip,reg0=zz' is invalid: zz: bad syntax for reg0 value"),
    (dict(groups=[LOCAL], groups_text=''), 'mutually exclusive'),
])
def test_bad_groups_fail_before_any_change(gswitch, run, args, message):
    before = (gswitch.dump(), gswitch.dump_groups())
    result = run(args)
    assert result['failed'] and message in result['msg'], result
    assert writes(gswitch) == [] and (gswitch.dump(), gswitch.dump_groups()) == before


def test_switch_rejection_applies_nothing_and_records_nothing(gswitch, run):
    """The flow points to a group nobody defines: the switch refuses the whole bundle."""
    before = (gswitch.dump(), gswitch.dump_groups())
    result = run(dict(flows=[dict(G1_FLOW, actions='group:404')], groups=[LOCAL]))
    assert result['failed'] and 'OFPBAC_BAD_OUT_GROUP' in result['msg'] and 'bundle br0 -' in result['msg']
    assert result['commands'] == ['group add ' + LOCAL, G1_FLOW_ADD.replace('ct(commit),group:3064846', 'group:404')]
    assert (gswitch.dump(), gswitch.dump_groups()) == before and gswitch.external_ids == {}


def test_record_write_failure_is_reported(gswitch, run):
    gswitch.fail_vsctl_set = True
    result = run(dict(groups=[LOCAL]))
    assert result['failed'] and result['changed'] and result['commands'] == ['group add ' + LOCAL]
    assert result['msg'].startswith(
        'the OpenFlow bundle was applied, but recording the owned groups in br0 external_ids:%s failed: ' % KEY)
    assert 'database connection failed' in result['msg'] and gswitch.groups[7] == LOCAL


def test_stale_record_entries_are_dropped(gswitch, run):
    gswitch.groups[7] = LOCAL
    gswitch.external_ids[KEY] = '5,7'  # group 5 is gone
    predicted = run(dict(groups=[LOCAL]), check=True)
    assert predicted['changed'] and predicted['commands'] == [] and predicted['groups_owned'] == [7]
    assert gswitch.external_ids == {KEY: '5,7'}
    result = run(dict(groups=[LOCAL]))
    assert result['changed'] and result['commands'] == [] and gswitch.external_ids == {KEY: '7'}
    assert not run(dict(groups=[LOCAL]))['changed']


def test_bad_record_fails_naming_it(gswitch, run):
    gswitch.external_ids[KEY] = '7,seven'
    result = run(dict(groups=[LOCAL]))
    assert result['failed'] and result['msg'] == 'external_ids:%s: seven is not an integer (bridge br0)' % KEY
    assert writes(gswitch) == []


def test_groups_text_gives_the_same_result_as_groups(gswitch, twin, run, monkeypatch):
    twin.groups = dict(gswitch.groups)
    from_text = run(dict(flows=[G1_FLOW], groups_text='# node a\n%s\n\n%s\n' % (G1, LOCAL)), diff=True)
    use(monkeypatch, twin)
    from_list = run(dict(flows=[G1_FLOW], groups=[G1, LOCAL]), diff=True)
    del from_text['invocation'], from_list['invocation']
    assert from_text['changed'] and from_text == from_list
    assert (gswitch.dump(), gswitch.dump_groups(), gswitch.external_ids) == (twin.dump(), twin.dump_groups(), twin.external_ids)


def test_group_result_lists_follow_return_flags(gswitch, run):
    bare = run(dict(groups=[LOCAL], return_state=False, return_entries=False))
    assert bare['commands'] == ['group add ' + LOCAL] and bare['groups_owned'] == [7]
    assert not set(bare) & {'before', 'after', 'added', 'removed', 'modified', 'groups_before', 'groups_after',
                            'groups_added', 'groups_removed', 'groups_modified'}


# --- state=gathered and state=rendered -------------------------------------------------------

def test_gathered_returns_exactly_the_owned_flows_and_groups(gswitch, run):
    converge(run, gswitch)
    state = (gswitch.dump(), gswitch.dump_groups(), dict(gswitch.external_ids))
    result = run(dict(state='gathered'))
    assert not result['changed'] and writes(gswitch) == []
    assert (gswitch.dump(), gswitch.dump_groups(), gswitch.external_ids) == state
    owned_flows = [dict(table=101, priority=100, match='ip,reg0=0x2ec40e', actions='ct(commit),group:3064846'),
                   dict(table=100, priority=123, match='ip,reg0=0x2ec40e', actions=EGRESS),
                   dict(table=100, priority=100, match='ip,reg0=0x2ec40e', actions=TUNNEL)]
    assert result['gathered'] == dict(
        flows=sorted(owned_flows, key=lambda f: (f['table'], -f['priority'], f['match'])),
        flows_text='table=100,priority=123,ip,reg0=0x2ec40e,actions=%s\n'
                   'table=100,priority=100,ip,reg0=0x2ec40e,actions=%s\n'
                   'table=101,priority=100,ip,reg0=0x2ec40e,actions=ct(commit),group:3064846\n' % (EGRESS, TUNNEL),
        groups=[LOCAL, G1], groups_text='%s\n%s\n' % (LOCAL, G1))  # not the foreign group 9

    scoped = run(dict(state='gathered', scope_table=101))['gathered']
    assert scoped['flows'] == [owned_flows[0]] and scoped['groups'] == [LOCAL, G1]
    # what gathered returns, given back, is what is there
    again = run(dict(state='overridden', flows_text=result['gathered']['flows_text'],
                     groups_text=result['gathered']['groups_text']))
    assert not again['changed'], again
    listed = run(dict(state='overridden', flows=result['gathered']['flows'], groups=result['gathered']['groups']))
    assert not listed['changed'], listed


def test_gathered_without_record_reads_no_groups(switch, run):
    result = run(dict(state='gathered'))
    assert result['gathered']['groups'] == [] and result['gathered']['groups_text'] == ''
    assert len(result['gathered']['flows']) == 2 and switch.calls_of('dump-groups') == []


@pytest.mark.parametrize('args', [dict(flows=[]), dict(groups=[LOCAL]), dict(actions='drop'), dict(flows_text='')])
def test_gathered_takes_no_flows_or_groups(switch, run, args):
    result = run(dict(args, state='gathered'))
    assert result['failed'] and result['msg'].startswith('state=gathered takes no flows or groups (got ')
    assert switch.calls == []


@pytest.fixture
def no_ovs(monkeypatch):
    """A host without Open vSwitch: neither binary is found and nothing may run."""
    def missing(self, name, required=False, opt_dirs=None):
        raise AssertionError('looked for %s' % name)

    def refused(self, *args, **kwargs):
        raise AssertionError('ran %r' % (args,))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', missing)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', refused)


def test_rendered_needs_no_ovs_and_no_bridge(no_ovs, run):
    result = run(dict(state='rendered', bridge=None, flows=[G1_FLOW, NEW_FLOW], groups=[G1, LOCAL]))
    assert not result['changed']
    assert result['rendered'] == (
        'group add %s\ngroup add %s\n%s\n'
        'flow add cookie=0x65677265,table=100,priority=100,ip,reg0=0x1e240 actions=drop\n' % (G1, LOCAL, G1_FLOW_ADD))
    assert result['commands'] == result['rendered'].splitlines()

    flows_only = run(dict(state='rendered', flows_text=as_text([NEW_FLOW]), cookie=0x1234))
    assert flows_only['rendered'] == 'add cookie=0x1234,table=100,priority=100,ip,reg0=0x1e240 actions=drop\n'


def test_rendered_shows_values_as_given_and_checks_what_it_can(no_ovs, run):
    result = run(dict(state='rendered', flows=[dict(NEW_FLOW, match='ip,reg0=0x1E240')],
                      groups=['type=select group_id=0x10 bucket=weight:1,actions=output:2']))
    assert result['commands'] == ['group add group_id=16,type=select,bucket=actions=output:2',
                                  'flow add cookie=0x65677265,table=100,priority=100,ip,reg0=0x1E240 actions=drop']
    for args, message in ((dict(flows=[dict(NEW_FLOW, table=300)]), 'flows[0].table: 300 is not a table number'),
                          (dict(flows=[dict(table=1)]), 'flows[0].actions is required with state=rendered'),
                          (dict(groups=['group_id=1']), "groups[0]: 'group_id=1': type= is required"),
                          (dict(flows=[NEW_FLOW, NEW_FLOW]), 'flows[1]: same table, priority and match as flows[0]')):
        failed = run(dict(args, state='rendered'))
        assert failed['failed'] and message in failed['msg'], failed


@pytest.mark.parametrize('state', ['present', 'absent', 'overridden', 'gathered'])
def test_bridge_is_required_unless_rendered(switch, run, state):
    result = run(dict(bridge=None, state=state) if state == 'gathered' else dict(bridge=None, state=state, flows=[]))
    assert result['failed'] and 'state is %s but all of the following are missing: bridge' % state in result['msg']
    assert run(dict(bridge='', state=state))['msg'] == 'bridge is required with state=%s' % state
    assert switch.calls == []


def test_a_group_that_reads_back_otherwise_is_reported(gswitch, run, monkeypatch):
    """Should this OVS print a written group otherwise than planned, the next run would see a
    difference every time: say so (the change was made)."""
    apply_group = gswitch.apply_group
    monkeypatch.setattr(gswitch, 'apply_group', lambda line: apply_group(line.replace('output:2', 'output:02')))
    result = run(dict(groups=[LOCAL]))
    assert result['failed'] and result['changed'] and result['commands'] == ['group add ' + LOCAL]
    assert result['msg'] == ('group 7 was written as %r, but the switch reads it back as %r: the next run would '
                             'see a difference' % (LOCAL, LOCAL.replace('output:2', 'output:02')))
    assert gswitch.external_ids == {KEY: '7'}


def test_2000_groups_and_flows_in_seven_processes(gswitch, run):
    groups_text = ''.join('group_id=%d,type=select,bucket=actions=%s,bucket=actions=%s\n' % (
        0x100000 + i, TUNNEL, TUNNEL.replace('10.0.0.2', '10.0.0.4')) for i in range(2000))
    flows_text = ''.join('table=101,priority=100,ip,reg0=%d,actions=ct(commit),group:%d\n' % (0x100000 + i, 0x100000 + i)
                         for i in range(2000))
    result = run(dict(state='overridden', scope_table=101, flows_text=flows_text, groups_text=groups_text,
                      return_entries=False, return_state=False))
    assert len(result['commands']) == 4000 and len(result['groups_owned']) == 2000
    assert [c['argv'][4] if c['argv'][0] == OFCTL else c['argv'][2] for c in gswitch.calls] == [
        'parse-flows', '--no-stats', '--format=json', 'dump-groups', 'bundle', '--no-wait', 'dump-groups']
    del gswitch.calls[:]
    again = run(dict(state='overridden', scope_table=101, flows_text=flows_text, groups_text=groups_text,
                     return_entries=False, return_state=False))
    assert not again['changed'] and len(gswitch.calls) == 4


# --- conflicts: foreign flows that take our flows' traffic first ----------------------------

FOREIGN_6F = 'table=100, priority=100,ip,reg0=0x6f7936 actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:10.0.0.2->tun_dst,output:1'
OUR_DROP_6F = dict(table=100, priority=90, match='reg0=0x6f7936', actions='drop')


@pytest.mark.parametrize('check', [False, True])
def test_conflict_fails_by_default_before_any_change(switch, run, check):
    before = switch.dump()
    result = run(dict(flows=[OUR_DROP_6F, NEW_FLOW]), check=check, diff=True)
    assert result['failed'] and switch.dump() == before and not switch.calls_of('add-flows')
    assert result['conflicts'] == [dict(flow=FOREIGN_6F, shadows='cookie=0x65677265, table=100, priority=90,reg0=0x6f7936 actions=drop',
                                        reason='same reg0 0x6f7936, priority 100 above ours (90)')]
    assert '1 foreign flow(s)' in result['msg'] and FOREIGN_6F in result['msg'] and 'conflicts=remove' in result['msg']


def test_conflict_warn_leaves_it_and_changes_only_ours(switch, run, monkeypatch):
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warned.append(text))
    before = switch.dump()
    result = run(dict(flows=[OUR_DROP_6F], conflicts='warn'), diff=True)
    assert result['changed'] and len(result['conflicts']) == 1
    assert len(warned) == 1 and warned[0].startswith('left in place (conflicts=warn): flow ' + FOREIGN_6F)
    assert sorted(set(switch.dump()) ^ set(before)) == ['cookie=0x65677265, table=100, priority=90,reg0=0x6f7936 actions=drop']
    assert FOREIGN_6F in result['diff']['before'] and FOREIGN_6F in result['diff']['after']


def test_conflict_remove_deletes_it_in_the_same_call(switch, run):
    predicted = run(dict(flows=[OUR_DROP_6F], conflicts='remove'), check=True, diff=True)
    assert predicted['changed'] and not switch.calls_of('add-flows')
    assert FOREIGN_6F in predicted['diff']['before'] and FOREIGN_6F not in predicted['diff']['after']
    assert predicted['commands'][0] == 'delete_strict cookie=0x0/-1,table=100,priority=100,ip,reg0=0x6f7936'
    result = run(dict(flows=[OUR_DROP_6F], conflicts='remove'))
    assert result['commands'] == predicted['commands'] and len(switch.calls_of('add-flows')) == 1
    assert FOREIGN_6F not in switch.dump() and FOREIGN_6F in result['removed']
    again = run(dict(flows=[OUR_DROP_6F], conflicts='remove'))
    assert not again['changed'] and again['conflicts'] == []


def test_sdn_flows_of_table_100_are_no_conflict(switch, run):
    # priority 300 (VXLAN drop) and 200 (DNS) match fields our flow leaves open; priority 0 is below
    result = run(dict(flows=[NEW_FLOW]))
    assert result['changed'] and result['conflicts'] == []
