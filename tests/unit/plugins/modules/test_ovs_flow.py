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




@pytest.mark.parametrize('args', [
    dict(),
    dict(state='overridden', scope_table=100),
    dict(state='overridden'),
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
