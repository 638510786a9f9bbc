# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flows_text parser of ovs_flow (plain string work, no ovs-ofctl needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

import pytest

from ansible_collections.sdn.egress.plugins.module_utils.ovs import parse_flow_line, parse_flows_text

TUNNEL = 'move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:10.0.0.2->tun_dst,output:1'


def flow(table=0, priority=32768, match='', actions=None):
    """The entry the `flows` option produces for these suboptions."""
    return dict(table=table, priority=priority, match=match, actions=actions)


@pytest.mark.parametrize('line, expected', [
    ('table=100,priority=100,ip,reg0=0x2ec40e,actions=' + TUNNEL, flow(100, 100, 'ip,reg0=0x2ec40e', TUNNEL)),
    # table= and priority= anywhere before actions=, in any order
    ('ip,priority=7,reg0=0x1,table=3,actions=drop', flow(3, 7, 'ip,reg0=0x1', 'drop')),
    ('priority=7,table=3,actions=drop', flow(3, 7, '', 'drop')),
    # defaults as the flows suboptions
    ('ip,actions=drop', flow(0, 32768, 'ip', 'drop')),
    ('actions=goto_table:100', flow(actions='goto_table:100')),
    ('table=5,actions=drop', flow(5, 32768, '', 'drop')),
    # blanks separate fields as in ovs-ofctl (dump-flows style without stats and cookie)
    ('table=100, priority=100,ip,reg0=0x1 actions=drop', flow(100, 100, 'ip,reg0=0x1', 'drop')),
    ('table=1  priority=2\tip\tactions=drop', flow(1, 2, 'ip', 'drop')),
    # empty fields (an empty match between commas) are ignored
    ('table=100,priority=0,,actions=goto_table:101', flow(100, 0, '', 'goto_table:101')),
    # actions run to the end of the line, commas, blanks and `=` included
    ('table=1,ip,actions=set_field:0x1->pkt_mark, goto_table:2 ', flow(1, 32768, 'ip', 'set_field:0x1->pkt_mark, goto_table:2')),
    ('ip,actions=learn(table=9,priority=5,NXM_OF_ETH_DST[]),drop',
     flow(0, 32768, 'ip', 'learn(table=9,priority=5,NXM_OF_ETH_DST[]),drop')),
    # no actions= (only valid with state=absent), or empty actions: no actions
    ('table=100,priority=100,ip,reg0=0x1', flow(100, 100, 'ip,reg0=0x1', None)),
    ('table=100,actions=', flow(100, 32768, '', '')),
    # a match field that merely resembles a flow attribute stays in the match
    ('cookies=1,tablex=2,actions=drop', flow(0, 32768, 'cookies=1,tablex=2', 'drop')),
    # other attributes stay in the match, where the module's match check refuses them
    ('table:5,idle_timeout=10,ip,actions=drop', flow(0, 32768, 'table:5,idle_timeout=10,ip', 'drop')),
    ('table=254,priority=70000,actions=drop', flow(254, 70000, '', 'drop')),  # ranges are the module's check
    # integers as addr.parse_int reads them (and ovs-ofctl too): decimal or 0x hex
    ('table=0x10,priority=0X64,actions=drop', flow(16, 100, '', 'drop')),
])
def test_parse_flow_line(line, expected):
    assert parse_flow_line(line) == expected


@pytest.mark.parametrize('line, reason', [
    ('table=x,ip,actions=drop', 'table: x is not an integer'),
    ('table=,ip,actions=drop', 'table: "" is not an integer'),
    ('table=+5,actions=drop', 'table: +5 is not an integer'),
    ('priority=-1,actions=drop', 'priority: -1 is not an integer'),
    ('priority=1.5,actions=drop', 'priority: 1.5 is not an integer'),
    ('table=1,ip,table=2,actions=drop', 'table is given twice'),
    ('priority=1,priority=1,actions=drop', 'priority is given twice'),
    ('cookie=0x1,table=1,actions=drop', 'cookie is not allowed: the module sets its own (option cookie)'),
    ('table=1 cookie:0x1/-1 actions=drop', 'cookie is not allowed'),
])
def test_parse_flow_line_refuses(line, reason):
    with pytest.raises(ValueError) as err:
        parse_flow_line(line)
    assert str(err.value).startswith(reason)


def test_parse_flows_text_skips_blank_and_comment_lines_and_counts_them():
    text = '\n'.join([
        '# egress flows',
        'table=100,priority=100,ip,reg0=0x1,actions=drop',
        '',
        '   ',
        '  # indented comment, actions=drop',
        '\ttable=100,priority=100,ip,reg0=0x2,actions=drop\r',
        'table=100,priority=100,ip,reg0=0x3,actions=drop # not a comment: part of the actions',
    ])
    assert parse_flows_text(text) == [
        (2, 'table=100,priority=100,ip,reg0=0x1,actions=drop', flow(100, 100, 'ip,reg0=0x1', 'drop')),
        (6, 'table=100,priority=100,ip,reg0=0x2,actions=drop', flow(100, 100, 'ip,reg0=0x2', 'drop')),
        (7, 'table=100,priority=100,ip,reg0=0x3,actions=drop # not a comment: part of the actions',
         flow(100, 100, 'ip,reg0=0x3', 'drop # not a comment: part of the actions')),
    ]


@pytest.mark.parametrize('text', ['', '\n', '# nothing\n\n  # at all  \n'])
def test_parse_flows_text_without_flows(text):
    assert parse_flows_text(text) == []


def test_parse_flows_text_names_line_number_and_text():
    text = 'table=1,ip,actions=drop\n# comment\ntable=x,ip,actions=drop\ntable=y,actions=drop\n'
    with pytest.raises(ValueError) as err:
        parse_flows_text(text)
    assert str(err.value) == "line 3: 'table=x,ip,actions=drop': table: x is not an integer"


def test_equivalent_to_the_flows_list():
    """What egress_plan writes (table=T,priority=P,MATCH,actions=A) gives back the list entries."""
    flows = [
        flow(100, 100, 'ip,reg0=0x2ec40e', TUNNEL),
        flow(100, 123, 'ip,reg0=0x2ec40e', 'set_field:22:3b:a9:a4:8e:0c->eth_dst,set_field:0x2ec40e->pkt_mark,goto_table:101'),
        flow(100, 100, 'reg0=0x6f7936', 'drop'),
        flow(90, 5, 'ip,nw_dst=10.0.0.3,tp_dst=53,udp', 'output:2'),
    ]
    text = '\n'.join('table=%d,priority=%d,%s,actions=%s' % (f['table'], f['priority'], f['match'], f['actions'])
                     for f in flows)
    assert [entry for dummy, dummy, entry in parse_flows_text(text)] == flows
    assert [number for number, dummy, dummy in parse_flows_text(text)] == [1, 2, 3, 4]


def test_parsing_is_fast():
    text = '\n'.join('table=100,priority=100,ip,reg0=0x%x,actions=%s' % (0x100000 + i, TUNNEL) for i in range(5000))
    started = time.perf_counter()
    flows = parse_flows_text(text)
    elapsed = time.perf_counter() - started
    assert len(flows) == 5000 and flows[-1][2] == flow(100, 100, 'ip,reg0=0x101387', TUNNEL)
    assert elapsed < 1.0, elapsed  # about 40 ms; a process per line would take seconds
