# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for Open vSwitch: flow parsing/normalisation, flow plans, argv builders.

OVS does the normalisation: desired flows go through ``ovs-ofctl parse-flows`` and the
switch state comes from ``ovs-ofctl --no-stats dump-flows``; both print match and actions
with the same formatter, so the texts compare exactly (see tests/unit/fixtures/ovs).
Only the standard library is used here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import json
import re

DEFAULT_COOKIE = 0x65677265  # ASCII "egre"
DEFAULT_PRIORITY = 32768  # OpenFlow default, omitted by ovs-ofctl when printing

# A flow as OVS prints it. match never contains the priority; cookie is an int.
Flow = collections.namedtuple('Flow', 'table priority match actions cookie')

# Flow attributes that are not part of a match; refused inside `match`.
RESERVED_MATCH_KEYS = frozenset((
    'table', 'priority', 'cookie', 'actions', 'idle_timeout', 'hard_timeout', 'importance',
    'out_port', 'out_group', 'send_flow_rem', 'check_overlap', 'reset_counts',
    'no_packet_counts', 'no_byte_counts',
))

# Items of a dump-flows line that come before the match ("cookie=0x1, table=100, ...").
_DUMP_META_KEYS = frozenset((
    'cookie', 'duration', 'table', 'n_packets', 'n_bytes', 'idle_timeout', 'hard_timeout',
    'importance', 'idle_age', 'hard_age', 'send_flow_rem', 'check_overlap', 'reset_counts',
    'no_packet_counts', 'no_byte_counts',
))

_PARSE_ERROR_LINE = re.compile(r'^ovs-ofctl: -:(\d+): (.*)$', re.MULTILINE)


def flow_key(flow):
    """OpenFlow identity of a flow: two flows cannot share table, priority and match."""
    return (flow.table, flow.priority, flow.match)


def sort_key(flow):
    return (flow.table, -flow.priority, flow.match)


def parse_cookie(value):
    """Cookie from an int or a decimal/hex string; must be a non-zero 64-bit value."""
    if isinstance(value, bool):
        raise ValueError('cookie must be an integer or a hex string, got %r' % (value,))
    try:
        cookie = value if isinstance(value, int) else int(str(value).strip(), 0)
    except ValueError:
        raise ValueError('cookie must be an integer or a hex string, got %r' % (value,))
    if not 0 < cookie < 2 ** 64:
        raise ValueError('cookie must be between 1 and 0xffffffffffffffff, got %r' % (value,))
    return cookie


# `actions=` as a field of a flow line: at the start or after a field separator.
_ACTIONS_FIELD = re.compile(r'(?:^|[\s,])actions=')
_FIELD_SEPARATOR = re.compile(r'[\s,]+')
_INTEGER = re.compile(r'^[+-]?[0-9]+$')
_KEY_END = re.compile(r'[=:(]')


def check_match(match):
    """Raise ValueError if `match` is multi-line or carries flow attributes (cookie=, priority=...)."""
    if '\n' in match or '\r' in match:
        raise ValueError('must be a single line')
    for token in _FIELD_SEPARATOR.split(match):
        key = _KEY_END.split(token, 1)[0]
        if key in RESERVED_MATCH_KEYS:
            raise ValueError('%r is a flow attribute, not a match field' % key)


def parse_flow_line(line):
    """One `ovs-ofctl add-flows` file line -> dict(table, priority, match, actions).

    `table=` and `priority=` may stand anywhere among the fields before `actions=` (defaults
    0 and 32768); the other fields, in their order, form the match; `actions=` runs to the end
    of the line (None when the line has no `actions=`). Fields are separated by commas or
    blanks. Raises ValueError with the reason (without the line) for a malformed line.
    """
    found = _ACTIONS_FIELD.search(line)
    if found:
        head, actions = line[:found.start()], line[found.end():].strip()
    else:
        head, actions = line, None
    flow = dict(table=None, priority=None, match='', actions=actions)
    match = []
    for token in _FIELD_SEPARATOR.split(head):
        if not token.startswith(('table=', 'priority=', 'cookie')):
            if token:
                match.append(token)
            continue
        key, dummy, value = token.partition('=')
        if key.startswith('cookie'):
            if _KEY_END.split(token, 1)[0] != 'cookie':
                match.append(token)  # not a cookie; the match check judges it
                continue
            raise ValueError('cookie is not allowed: the module sets its own (option cookie)')
        if flow[key] is not None:
            raise ValueError('%s is given twice' % key)
        if not _INTEGER.match(value):
            raise ValueError('%s must be an integer' % key)
        flow[key] = int(value)
    flow['match'] = ','.join(match)
    if flow['table'] is None:
        flow['table'] = 0
    if flow['priority'] is None:
        flow['priority'] = DEFAULT_PRIORITY
    return flow


def parse_flows_text(text):
    """[(line number, line, flow dict)] from `ovs-ofctl add-flows` file text (see parse_flow_line).

    Lines are separated by newlines (a trailing carriage return is ignored); blank lines and
    lines whose first non-blank character is `#` are skipped. Raises ValueError
    "line N: 'LINE': reason" for the first malformed line.
    """
    result = []
    for number, raw in enumerate(text.split('\n'), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        try:
            result.append((number, line, parse_flow_line(line)))
        except ValueError as e:
            raise ValueError('line %d: %r: %s' % (number, line, e))
    return result


def flow_spec(table, priority, match, actions):
    """One parse-flows input line (no cookie: ownership is added by the plan)."""
    head = 'table=%d,priority=%d' % (table, priority)
    if match:
        head += ',' + match
    return '%s actions=%s' % (head, actions)


def _split_priority(match_text):
    """'priority=100,ip,reg0=0x1' -> (100, 'ip,reg0=0x1'); no priority -> OpenFlow default."""
    first, dummy, rest = match_text.partition(',')
    if first.startswith('priority='):
        return int(first[len('priority='):]), rest
    return DEFAULT_PRIORITY, match_text


def parse_dump_flows(text):
    """Flows from `ovs-ofctl --no-stats --no-names dump-flows` (stats are tolerated).

    Line: ' cookie=0x65677265, table=100, priority=100,ip,reg0=0x2ec40e actions=drop'.
    cookie and table are printed only when non-zero, priority only when not 32768.
    """
    flows = []
    for line in text.splitlines():
        head, sep, actions = line.strip().partition('actions=')
        if not sep:
            continue  # reply header ("OFPST_FLOW reply ...") or blank line
        meta, match_text = {}, ''
        for item in head.strip().strip(',').split(', '):
            key, dummy, value = item.strip().partition('=')
            if key in _DUMP_META_KEYS:
                meta[key] = value
            else:
                match_text = item.strip()
        priority, match = _split_priority(match_text)
        flows.append(Flow(int(meta.get('table', '0')), priority, match, actions,
                          int(meta.get('cookie', '0'), 16)))
    return flows


def parse_flow_mods(text):
    """Flows from `ovs-ofctl parse-flows` output, in input order.

    Line: 'OFPT_FLOW_MOD (OF1.3) (xid=0x1): ADD table:100 priority=100,ip actions=drop'.
    """
    flows = []
    for line in text.splitlines():
        dummy, sep, body = line.partition('): ADD ')
        if not sep:
            continue  # "usable protocols: ...", "chosen protocol: ..."
        head, dummy, actions = body.partition('actions=')
        table, rest = 0, []
        for token in head.split():
            if token.startswith('table:'):
                table = int(token[len('table:'):])
            else:
                rest.append(token)
        if len(rest) > 1:
            raise ValueError('unexpected parse-flows output: %r' % line)
        priority, match = _split_priority(rest[0] if rest else '')
        flows.append(Flow(table, priority, match, actions, 0))
    return flows


def parse_error_line(stderr):
    """(line number, message) of the first input line parse-flows/add-flows rejected, or None."""
    found = _PARSE_ERROR_LINE.search(stderr or '')
    return (int(found.group(1)), found.group(2)) if found else None


def flow_line(flow):
    """A flow {table, priority, match, actions} as one line of `ovs-ofctl add-flows` file
    syntax: what ``flows_text`` holds and parse_flows_text reads back."""
    head = "table=%d,priority=%d" % (flow["table"], flow["priority"])
    if flow.get("match"):
        head += "," + flow["match"]
    return "%s,actions=%s" % (head, flow["actions"])


def group_line(group):
    """A group {group_id, type, buckets: [actions text]} as one line of `ovs-ofctl add-groups`
    file syntax: what ``groups_text`` holds."""
    return "group_id=%d,type=%s%s" % (group["group_id"], group["type"],
                                      "".join(",bucket=actions=%s" % actions for actions in group["buckets"]))


def format_flow(flow):
    """A flow exactly as `ovs-ofctl --no-stats --no-names dump-flows` prints it."""
    text = 'cookie=0x%x, ' % flow.cookie if flow.cookie else ''
    if flow.table:
        text += 'table=%d, ' % flow.table
    match = [flow.match] if flow.match else []
    if flow.priority != DEFAULT_PRIORITY:
        match.insert(0, 'priority=%d' % flow.priority)
    if match:
        text += ','.join(match) + ' '
    return text + 'actions=' + flow.actions


def flow_command(command, flow, cookie):
    """One add-flows/bundle line. add sets `cookie`; *_strict ops only touch flows with `cookie`."""
    cookie_field = 'cookie=0x%x' % cookie if command == 'add' else 'cookie=0x%x/-1' % cookie
    spec = '%s %s,table=%d,priority=%d' % (command, cookie_field, flow.table, flow.priority)
    if flow.match:
        spec += ',' + flow.match
    if command != 'delete_strict':
        spec += ' actions=' + flow.actions
    return spec


_FORMATTED = ('added', 'removed', 'modified', 'before', 'after')


def plan_flows(desired, existing, cookie, state, scope_table=None, force=False, formatted_keys=_FORMATTED):
    """What to change so `existing` (switch flows) satisfies `desired` (normalised flows).

    present:    add or update each desired flow; a flow with the same table/priority/match
                but another cookie is a conflict unless force (then it is replaced).
    absent:     delete each desired flow that we own; foreign ones are conflicts (left alone).
    overridden: present, plus delete owned flows (in scope_table if given) not desired.

    Returns a dict: commands (add-flows lines, deletes first), added, removed, modified
    (formatted flows), before/after (formatted flows in the affected scope, sorted) and
    conflicts (list of (index into desired, existing Flow)). Of the formatted lists only
    those named in `formatted_keys` are returned (formatting thousands of flows nobody reads
    costs more than planning them).
    """
    current = dict((flow_key(f), f) for f in existing)
    wanted = dict((flow_key(f), f._replace(cookie=cookie)) for f in desired)
    affected = dict((k, current[k]) for k in wanted if k in current)
    if state == 'overridden':
        affected.update((flow_key(f), f) for f in existing
                        if f.cookie == cookie and scope_table in (None, f.table))
    after = dict(affected)
    deletes, upserts, conflicts = [], [], []
    added, modified = [], []

    for index, flow in enumerate(desired):
        new = wanted[flow_key(flow)]
        old = current.get(flow_key(flow))
        if old is not None and old.cookie != cookie and (state == 'absent' or not force):
            conflicts.append((index, old))
        elif state == 'absent':
            if old is not None:
                deletes.append(old)
        elif old is None:
            upserts.append(flow_command('add', new, cookie))
            added.append(new)
        elif old.cookie != cookie:
            upserts.append(flow_command('add', new, cookie))  # forced: add replaces the flow
            modified.append(new)
        elif old.actions != new.actions:
            upserts.append(flow_command('modify_strict', new, cookie))
            modified.append(new)
    if state == 'overridden':
        deletes = [f for k, f in affected.items() if k not in wanted and f.cookie == cookie]

    deletes.sort(key=sort_key)
    for flow in deletes:
        del after[flow_key(flow)]
    for flow in added + modified:
        after[flow_key(flow)] = flow

    def formatted(flows):
        return [format_flow(f) for f in sorted(flows, key=sort_key)]

    lists = dict(added=added, removed=deletes, modified=modified, before=affected.values(), after=after.values())
    result = dict((key, formatted(lists[key])) for key in formatted_keys)
    result.update(commands=[flow_command('delete_strict', f, cookie) for f in deletes] + upserts,
                  conflicts=conflicts)
    return result


def supports_bundle(protocol):
    """ovs-ofctl --bundle needs OpenFlow 1.3 (ONF extension) or later among the allowed versions."""
    versions = re.findall(r'OpenFlow1(\d)', protocol)
    return any(int(v) >= 3 for v in versions)


def ofctl_argv(ofctl, protocol, *args):
    """Base ovs-ofctl argv; port numbers instead of names so parse and dump print alike."""
    return [ofctl, '-O', protocol, '--no-names'] + list(args)


def parse_flows_argv(ofctl, protocol):
    """Normalise flows read from stdin (one per line); needs no switch."""
    return ofctl_argv(ofctl, protocol, 'parse-flows', '-')


def dump_flows_argv(ofctl, protocol, switch):
    return ofctl_argv(ofctl, protocol, '--no-stats', 'dump-flows', switch)


def add_flows_argv(ofctl, protocol, switch):
    """Apply add/modify_strict/delete_strict lines from stdin in one call (atomic if possible)."""
    bundle = ['--bundle'] if supports_bundle(protocol) else []
    return ofctl_argv(ofctl, protocol, *(bundle + ['add-flows', switch, '-']))


def ovs_environ(rundir):
    """Environment for ovs-ofctl/ovs-vsctl so `br0` resolves to <rundir>/br0.mgmt."""
    return {'OVS_RUNDIR': rundir} if rundir else {}


def vsctl_interfaces_argv(vsctl):
    """List every interface's name, ofport and MAC as JSON (see parse_vsctl_interfaces)."""
    return [vsctl, '--format=json', '--columns=name,ofport,mac_in_use', 'list', 'Interface']


def parse_vsctl_interfaces(text):
    """{name: {'ofport': int or None, 'mac_in_use': str or None}} from vsctl_interfaces_argv output.

    OVSDB encodes an unset optional column as ["set", []].
    """
    table = json.loads(text)
    result = {}
    for row in table['data']:
        values = dict(zip(table['headings'], row))
        result[values['name']] = dict(
            (column, None if isinstance(values[column], list) else values[column])
            for column in ('ofport', 'mac_in_use'))
    return result
