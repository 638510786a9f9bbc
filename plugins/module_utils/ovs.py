# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open vSwitch: flows and groups (parsing, normalisation, plans), OVSDB port records, and the
runners of ``ovs-ofctl`` and ``ovs-vsctl`` (``OfCtl``, ``VsCtl``).

OVS does the normalisation: desired flows go through ``ovs-ofctl parse-flows`` and the
switch state comes from ``ovs-ofctl --no-stats dump-flows``; both print match and actions
with the same formatter, so the texts compare exactly (see tests/unit/fixtures/ovs).
Groups are compared as ``dump-groups`` prints them: the header and bucket parameters in
OVS's canonical order (``group_line``), the bucket actions normalised by the same
``parse-flows`` process as the flows (``bucket_spec``), or by ``parse-group`` for a group
whose buckets parse-flows cannot judge (see ``bucket_instruction``).
Both compact text formats of this file are written and read here: ``flows_text``
(``flow_line`` / ``parse_flows_text``) and ``groups_text`` (``group_line`` /
``parse_groups_text``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import json
import re

from ansible_collections.sdn.egress.plugins.module_utils.addr import parse_int
from ansible_collections.sdn.egress.plugins.module_utils.runner import CmdRunner, fmt

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


MAX_COOKIE = 2 ** 64 - 1


def parse_cookie(value, field='cookie'):
    """Cookie from an int or a decimal/hex string (addr.parse_int); a non-zero 64-bit value."""
    return parse_int(value, field, 1, MAX_COOKIE)


# `actions=` as a field of a flow line: at the start or after a field separator.
_ACTIONS_FIELD = re.compile(r'(?:^|[\s,])actions=')
_FIELD_SEPARATOR = re.compile(r'[\s,]+')
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
        flow[key] = parse_int(value, key)  # ranges are the module's check
    flow['match'] = ','.join(match)
    if flow['table'] is None:
        flow['table'] = 0
    if flow['priority'] is None:
        flow['priority'] = DEFAULT_PRIORITY
    return flow


def _parse_lines(text, parse):
    """[(line number, line, parse(line))] of a text of one object a line (flows_text,
    groups_text); blank lines and lines starting with `#` skipped; ValueError
    "line N: 'LINE': reason" for the first line ``parse`` refuses."""
    result = []
    for number, raw in enumerate(text.split('\n'), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        try:
            result.append((number, line, parse(line)))
        except ValueError as e:
            raise ValueError('line %d: %r: %s' % (number, line, e))
    return result


def parse_flows_text(text):
    """[(line number, line, flow dict)] from `ovs-ofctl add-flows` file text (see parse_flow_line).

    Lines are separated by newlines (a trailing carriage return is ignored); blank lines and
    lines whose first non-blank character is `#` are skipped. Raises ValueError
    "line N: 'LINE': reason" for the first malformed line.
    """
    return _parse_lines(text, parse_flow_line)


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


def plan_flows(desired, existing, cookie, state, scope_table=None, force=False, formatted_keys=_FORMATTED,
               with_deleted=False):
    """What to change so `existing` (switch flows) satisfies `desired` (normalised flows).

    present:    add or update each desired flow; a flow with the same table/priority/match
                but another cookie is a conflict unless force (then it is replaced).
    absent:     delete each desired flow that we own; foreign ones are conflicts (left alone).
    overridden: present, plus delete owned flows (in scope_table if given) not desired.

    Returns a dict: commands (add-flows lines, deletes first), added, removed, modified
    (formatted flows), before/after (formatted flows in the affected scope, sorted) and
    conflicts (list of (index into desired, existing Flow)). Of the formatted lists only
    those named in `formatted_keys` are returned (formatting thousands of flows nobody reads
    costs more than planning them); with `with_deleted`, also deleted: the Flows it deletes.
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
    if with_deleted:
        result['deleted'] = deletes
    return result


def flows_after(existing, desired, cookie, state, deleted):
    """The flow table after a plan: `existing` without the flows the plan deletes (`deleted`),
    with the desired flows (carrying `cookie`) unless state is absent. Used to see which flows
    still point to a group."""
    after = dict((flow_key(f), f) for f in existing)
    for flow in deleted:
        after.pop(flow_key(flow), None)
    if state != 'absent':
        after.update((flow_key(f), f._replace(cookie=cookie)) for f in desired)
    return list(after.values())


# --- conflicts: foreign flows that take our flows' traffic first ------------------------------

# match shorthands as dump-flows prints them, as the fields they stand for
_SHORTHANDS = {
    'ip': {'dl_type': '0x0800'}, 'ipv6': {'dl_type': '0x86dd'}, 'arp': {'dl_type': '0x0806'},
    'rarp': {'dl_type': '0x8035'}, 'mpls': {'dl_type': '0x8847'}, 'mplsm': {'dl_type': '0x8848'},
    'icmp': {'dl_type': '0x0800', 'nw_proto': '1'}, 'tcp': {'dl_type': '0x0800', 'nw_proto': '6'},
    'udp': {'dl_type': '0x0800', 'nw_proto': '17'}, 'sctp': {'dl_type': '0x0800', 'nw_proto': '132'},
    'icmp6': {'dl_type': '0x86dd', 'nw_proto': '58'}, 'tcp6': {'dl_type': '0x86dd', 'nw_proto': '6'},
    'udp6': {'dl_type': '0x86dd', 'nw_proto': '17'}, 'sctp6': {'dl_type': '0x86dd', 'nw_proto': '132'},
}
# a foreign flow's field that does not narrow what it takes from ours: our traffic is IPv4
_NOT_NARROWING = {'dl_type': '0x0800'}
# the field that names a namespace (its VNID) in the egress tables
VNID_FIELD = 'reg0'


def match_fields(match):
    """{field: value} of a match as dump-flows prints it (shorthands such as ``ip`` expanded)."""
    fields = {}
    for token in match.split(','):
        token = token.strip()
        if not token:
            continue
        key, sep, value = token.partition('=')
        if not sep:
            fields.update(_SHORTHANDS.get(key, {key: ''}))
        else:
            fields[key] = value
    return fields


_ALL_BITS = (1 << 128) - 1  # the mask of a field matched without one (registers, addresses as ints)


def _masked(value):
    """(value, mask) of an integer field value ``V`` or ``V/M``; None when it is not one."""
    text, dummy, mask = value.partition('/')
    try:
        return int(text, 0), int(mask, 0) if mask else _ALL_BITS
    except ValueError:
        return None


def value_covers(theirs, ours):
    """Whether every packet with field value ``ours`` has field value ``theirs``: for integer
    fields (with or without ``/mask``), their mask looks only at bits ours fixes and the values
    agree on it; other values must be equal."""
    if theirs == ours:
        return True
    a, b = _masked(theirs), _masked(ours)
    if a is None or b is None:
        return False
    (tv, tm), (ov, om) = a, b
    return (tm & ~om) == 0 and (ov & tm) == (tv & tm)


def flow_shadows(foreign, ours):
    """The reason the foreign flow takes (some of) our flow's packets first, or None.

    Same table, not the same table/priority/match (that one is a flow with our key; see force),
    a priority at least ours (OpenFlow leaves the order of equal priorities undefined), and a
    match that either
      - names the same namespace: a ``reg0`` value (with mask) that covers ours, whatever else
        it matches (it takes that namespace's traffic, or the part its other fields select), or
      - is a superset of ours: every field it matches is matched by ours with a value it
        covers, except ``ip`` (dl_type=0x0800), which does not narrow what it takes from our
        IPv4 traffic. So an empty match (priority-only catch-all), ``ip`` alone, or ours without
        its reg0 count; a flow that also matches fields ours leaves open (tcp, tp_dst, nw_dst,
        in_port, ct_state, ...) without naming our reg0 takes only a part of any traffic and
        does not count (that keeps the SDN's own DNS and VXLAN flows at priorities 200/300 of
        table 100 and its ct_state=+rpl flow of table 101 out).
    """
    if foreign.table != ours.table or foreign.priority < ours.priority or flow_key(foreign) == flow_key(ours):
        return None
    theirs, mine = match_fields(foreign.match), match_fields(ours.match)
    relation = 'equal to' if foreign.priority == ours.priority else 'above'
    place = 'priority %d %s ours (%d)' % (foreign.priority, relation, ours.priority)
    if VNID_FIELD in theirs and VNID_FIELD in mine and value_covers(theirs[VNID_FIELD], mine[VNID_FIELD]):
        extra = sorted(k for k in theirs if k != VNID_FIELD and not (k in mine and value_covers(theirs[k], mine[k]))
                       and _NOT_NARROWING.get(k) != theirs[k])
        if theirs[VNID_FIELD] == mine[VNID_FIELD]:
            what = 'same %s %s' % (VNID_FIELD, theirs[VNID_FIELD])
        else:
            what = '%s %s covers ours (%s)' % (VNID_FIELD, theirs[VNID_FIELD], mine[VNID_FIELD])
        if extra:
            what += ' (the part of the traffic that also matches %s)' % ','.join(extra)
        return '%s, %s' % (what, place)
    for key, value in theirs.items():
        if _NOT_NARROWING.get(key) == value:
            continue
        if key not in mine or not value_covers(value, mine[key]):
            return None
    if not theirs:
        what = 'empty match (catches everything)'
    elif set(theirs) <= set(_NOT_NARROWING):
        what = 'matches only ip'
    else:
        what = 'match %s is a superset of ours' % (foreign.match,)
    return '%s, %s' % (what, place)


def find_flow_conflicts(desired, existing, cookie):
    """[(index into desired, foreign Flow, reason)]: for each desired flow, in order, the flows
    of ``existing`` (dump-flows) with another cookie that take its traffic first (flow_shadows).
    A pure function: ovs_flow and a read-only preflight call it with what they read."""
    by_table = {}
    for flow in existing:
        if flow.cookie != cookie:
            by_table.setdefault(flow.table, []).append(flow)
    found = []
    for index, ours in enumerate(desired):
        for foreign in sorted(by_table.get(ours.table, []), key=sort_key):
            reason = flow_shadows(foreign, ours)
            if reason is not None:
                found.append((index, foreign, reason))
    return found


def bundle_lines(flow_commands, group_plan):
    """One `ovs-ofctl bundle` file: group adds/modifies, flow adds/modifies, flow deletes, group
    deletes (a flow may only point to a group that exists; deleting a group deletes the flows
    pointing to it, so those go first)."""
    flow_deletes = [c for c in flow_commands if c.startswith('delete_strict ')]
    flow_upserts = [c for c in flow_commands if not c.startswith('delete_strict ')]
    return (group_plan['upserts'] + ['flow ' + c for c in flow_upserts]
            + ['flow ' + c for c in flow_deletes] + group_plan['deletes'])


# --- groups ----------------------------------------------------------------------------------

MAX_GROUP_ID = 0xffffff00  # OFPG_MAX; the ids above it are reserved (all, any)
MAX_PORT = 0xffffff00  # OFPP_MAX
GROUP_TYPES = {'all': 'all', 'select': 'select', 'indirect': 'indirect', 'ff': 'ff', 'fast_failover': 'ff'}
_BUCKET_PARAMS = ('weight', 'watch_port', 'watch_group')
_BUCKET_PARAM = re.compile(r'([a-z_]+)[:=]([^,\s]*)[,\s]*')
# OpenFlow instructions: parse-flows accepts them after a flow's actions, a bucket may not hold them
_INSTRUCTIONS = frozenset(('goto_table', 'write_metadata', 'meter', 'clear_actions', 'write_actions'))
_GROUP_REF = re.compile(r'(?:^|[,(\s])group:([0-9]+)')


def parse_group_line(line, need_type=True):
    """One `ovs-ofctl add-groups` file line -> {group_id, type, buckets}.

    Before the first `bucket=`, fields `group_id=` and `type=` (any order, separated by commas
    or blanks); each `bucket=` runs to the next one (OVS splits the line the same way) and holds
    optional `weight:N`, `watch_port:N`, `watch_group:N` and then the actions, with or without
    `actions=`. A bucket is its actions text, or a dict {actions, weight, watch_port,
    watch_group} when it has parameters. `type` is None when missing and not `need_type`
    (state=absent names groups by id). Raises ValueError with the reason (without the line).
    """
    start = line.find('bucket=')
    head, rest = (line, '') if start < 0 else (line[:start], line[start:])
    group = dict(group_id=None, type=None, buckets=[])
    for token in _FIELD_SEPARATOR.split(head):
        if not token:
            continue
        key, sep, value = token.partition('=')
        if key not in ('group_id', 'type') or not sep:
            raise ValueError('%s is not a group field this module manages (group_id=, type=, bucket=)'
                             % (key if sep else token))
        if group[key] is not None:
            raise ValueError('%s is given twice' % key)
        if key == 'group_id':
            group[key] = parse_int(value, 'group_id', 0, MAX_GROUP_ID)
        elif value not in GROUP_TYPES:
            raise ValueError('type: %s is not one of %s' % (value or '""', ', '.join(sorted(GROUP_TYPES))))
        else:
            group[key] = GROUP_TYPES[value]
    if group['group_id'] is None:
        raise ValueError('group_id= is required')
    if group['type'] is None and (need_type or rest):
        raise ValueError('type= is required')
    for number, chunk in enumerate(rest.split('bucket=')[1:], 1):
        group['buckets'].append(_parse_bucket(chunk.strip(' \t,'), number, group['type']))
    return group


def _parse_bucket(text, number, group_type):
    params = {}
    while True:
        found = _BUCKET_PARAM.match(text)
        if not found or found.group(1) == 'actions' or (
                found.group(1) not in _BUCKET_PARAMS and found.group(1) != 'bucket_id'):
            break
        name, value = found.groups()
        field = 'bucket %d %s' % (number, name)
        if name == 'bucket_id':
            raise ValueError('%s: bucket ids are OpenFlow 1.5; this module manages OpenFlow 1.3 groups' % field)
        if name in params:
            raise ValueError('%s is given twice' % field)
        if name == 'weight' and group_type != 'select':
            raise ValueError('%s: only select groups have bucket weights' % field)
        params[name] = parse_int(value, field, 0, 0xffff if name == 'weight' else MAX_PORT)
        text = text[found.end():]
    actions = text[len('actions='):] if text.startswith('actions=') else text
    actions = actions.strip()
    if '\n' in actions or '\r' in actions:
        raise ValueError('bucket %d actions must be a single line' % number)
    if not params:
        return actions
    params['actions'] = actions
    return params


def parse_groups_text(text, need_type=True):
    """[(line number, line, group dict)] from `groups_text` (see parse_group_line): one group a
    line, blank lines and lines starting with `#` skipped. Raises ValueError
    "line N: 'LINE': reason" for the first malformed line."""
    return _parse_lines(text, lambda line: parse_group_line(line, need_type))


def bucket_actions(bucket):
    return bucket if isinstance(bucket, str) else bucket['actions']


def with_bucket_actions(group, actions):
    """The group with its buckets' actions replaced (in order) by `actions`."""
    buckets = []
    for bucket, text in zip(group['buckets'], actions):
        buckets.append(text if isinstance(bucket, str) else dict(bucket, actions=text))
    return dict(group, buckets=buckets)


def group_line(group):
    """A group {group_id, type, buckets} as one line of `ovs-ofctl add-groups` file syntax, in
    the order and spelling `dump-groups` prints (OpenFlow 1.3): what ``groups_text`` holds
    and parse_groups_text reads back. A bucket is its actions text, or a dict {actions, weight,
    watch_port, watch_group} (a select bucket's weight 1 is the default and not printed)."""
    parts = ['group_id=%d,type=%s' % (group['group_id'], GROUP_TYPES.get(group['type'], group['type']))]
    for bucket in group['buckets']:
        if isinstance(bucket, str):
            parts.append('bucket=actions=' + bucket)
            continue
        text = 'bucket='
        if bucket.get('weight') is not None and bucket['weight'] != 1:
            text += 'weight:%d,' % bucket['weight']
        for name in ('watch_port', 'watch_group'):
            if bucket.get(name) is not None:
                text += '%s:%d,' % (name, bucket[name])
        parts.append(text + 'actions=' + bucket['actions'])
    return ','.join(parts)


def bucket_spec(actions):
    """A parse-flows input line whose actions are a bucket's: parse-flows normalises actions the
    way a group's buckets are printed (tests/unit/fixtures/ovs/groups_variants*)."""
    return 'table=0,priority=0 actions=%s' % actions


def bucket_instruction(actions):
    """The OpenFlow instruction (goto_table, write_metadata, meter, clear_actions, write_actions)
    in normalised actions, outside parentheses, or None: parse-flows accepts those after a
    flow's actions, a bucket may not hold them."""
    if not any(name in actions for name in _INSTRUCTIONS):
        return None  # the usual case, without a walk through the text
    depth, start = 0, 0
    for index, char in enumerate(actions + ','):
        if char in '([':
            depth += 1
        elif char in ')]':
            depth -= 1
        elif char == ',' and depth == 0:
            name = _KEY_END.split(actions[start:index].strip(), 1)[0]
            if name in _INSTRUCTIONS:
                return name
            start = index + 1
    return None


def parse_group_mod(text):
    """The group line of `ovs-ofctl parse-group` output ('OFPT_GROUP_MOD ...:' then ' ADD group_id=...')."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('ADD group_id='):
            return line[len('ADD '):]
    raise ValueError('unexpected parse-group output: %r' % text)


def parse_dump_groups(text):
    """{group id: line} from `ovs-ofctl dump-groups` (lines ' group_id=N,type=...')."""
    groups = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('group_id='):
            groups[group_id_of(line)] = line
    return groups


def group_ids_used(actions):
    """The group ids a flow's actions send packets to (`group:N`, anywhere in the actions)."""
    return set(int(found) for found in _GROUP_REF.findall(actions))


def groups_record_key(cookie):
    """The bridge external_ids key that lists the groups owned with `cookie`."""
    return 'sdn-egress-groups-%x' % cookie


def parse_groups_record(value, key):
    """Group ids from the external_ids value "1,2,3" (None or "" for none)."""
    if not value:
        return set()
    return set(parse_int(item, 'external_ids:%s' % key, 0, MAX_GROUP_ID) for item in value.split(','))


def format_groups_record(ids):
    return ','.join('%d' % group_id for group_id in sorted(ids))


def plan_groups(desired, current, recorded, state, force=False):
    """What to change so the switch's groups satisfy `desired`.

    desired:  [(group_id, line)], line as group_line writes it with normalised actions (None
              for state=absent, where only the id counts); ids are unique.
    current:  {group id: line} from dump-groups.
    recorded: ids the bridge's external_ids list as ours; only those on the switch are owned.

    present:    add missing groups, modify owned ones that differ; a group on the switch that is
                not owned is a conflict unless force (then it is modified and becomes owned).
    absent:     delete the listed groups we own; foreign ones are conflicts (left alone).
    overridden: present, plus delete owned groups not listed.

    Returns upserts/deletes (bundle lines), added/modified/removed (lines), before/after (lines
    of the affected groups, by id), deleted (ids), conflicts [(index into desired, id, line)],
    owned (sorted ids owned after the run).
    """
    owned = set(recorded) & set(current)
    wanted = dict(desired)
    affected = set(group_id for group_id in wanted if group_id in current)
    if state == 'overridden':
        affected |= owned
    upserts, added, modified, conflicts, deleted = [], [], [], [], []
    after = dict((group_id, current[group_id]) for group_id in affected)
    taken = set()
    for index, (group_id, line) in enumerate(desired):
        old = current.get(group_id)
        foreign = old is not None and group_id not in owned
        if foreign and (state == 'absent' or not force):
            conflicts.append((index, group_id, old))
        elif state == 'absent':
            if old is not None:
                deleted.append(group_id)
        elif old is None:
            upserts.append('group add ' + line)
            added.append(line)
        elif foreign or old != line:  # forced: modify takes the group over even when equal
            upserts.append('group modify ' + line)
            modified.append(line)
            taken.add(group_id)
        if state != 'absent' and not (foreign and not force):
            after[group_id] = line
    if state == 'overridden':
        deleted = sorted(owned - set(wanted))
    for group_id in deleted:
        del after[group_id]
    new = set(group_id for group_id, dummy in desired if state != 'absent' and group_id not in current)
    owned_after = (owned - set(deleted)) | taken | new

    def lines(ids, source):
        return [source[group_id] for group_id in sorted(ids)]

    return dict(
        upserts=upserts, deletes=['group delete group_id=%d' % group_id for group_id in sorted(deleted)],
        added=sorted(added, key=group_id_of),
        modified=sorted(modified, key=group_id_of),
        removed=lines(deleted, current), before=lines(affected, current), after=lines(after, after),
        deleted=sorted(deleted), conflicts=conflicts, owned=sorted(owned_after))


def group_id_of(line):
    """The group id of a group line (as group_line and dump-groups write it)."""
    return int(_FIELD_SEPARATOR.split(line[len('group_id='):], 1)[0])


# --- OVSDB records ---------------------------------------------------------------------------

def _ovsdb_atom(value):
    """An OVSDB JSON value: ["set", []] (an empty optional column) -> None, ["uuid", U] -> U,
    ["set", [...]] -> list, ["map", [[k, v]...]] -> dict, anything else as it is."""
    if isinstance(value, list) and len(value) == 2:
        kind, data = value
        if kind == 'uuid':
            return data
        if kind == 'set':
            items = [_ovsdb_atom(item) for item in data]
            return None if not items else items
        if kind == 'map':
            return dict((_ovsdb_atom(k), _ovsdb_atom(v)) for k, v in data)
    return value


def _ovsdb_rows(document):
    table = json.loads(document)
    return [dict((heading, _ovsdb_atom(cell)) for heading, cell in zip(table['headings'], row))
            for row in table['data']]


def _as_list(value):
    return [] if value is None else value if isinstance(value, list) else [value]


def ports_query(names):
    """ovs-vsctl commands (one process) listing the named interfaces, and the Port and Bridge
    rows that say which bridge holds them; read by parse_ovsdb_ports."""
    return ['--', '--if-exists', '--columns=_uuid,name,ofport,mac_in_use,type,error', 'list', 'Interface'] + list(names) + [
        '--', '--columns=_uuid,interfaces', 'list', 'Port',
        '--', '--columns=name,ports', 'list', 'Bridge']


def parse_ovsdb_ports(text):
    """{interface name: {ofport, mac_in_use, type, bridge, error}} from ports_query output (three
    JSON documents, one a line). An unset column is None (ofport is -1 when OVS could not open
    the device); `bridge` is None for an interface no bridge holds."""
    documents = [line for line in text.splitlines() if line.strip()]
    if len(documents) != 3:
        raise ValueError('expected 3 JSON documents from ovs-vsctl, got %d' % len(documents))
    interfaces, ports, bridges = (_ovsdb_rows(document) for document in documents)
    port_bridge = dict((port, bridge['name']) for bridge in bridges for port in _as_list(bridge['ports']))
    interface_bridge = dict((interface, port_bridge.get(port['_uuid']))
                            for port in ports for interface in _as_list(port['interfaces']))
    return dict((row['name'], dict(ofport=row['ofport'], mac_in_use=row['mac_in_use'], type=row['type'],
                                   bridge=interface_bridge.get(row['_uuid']), error=row['error']))
                for row in interfaces)


# --- the command-line tools ------------------------------------------------------------------

VSCTL_TIMEOUT = 10  # seconds ovs-vsctl waits for the database


def supports_bundle(protocol):
    """ovs-ofctl --bundle needs OpenFlow 1.3 (ONF extension) or later among the allowed versions."""
    versions = re.findall(r'OpenFlow1(\d)', protocol)
    return any(int(v) >= 3 for v in versions)


def ovs_environ(rundir):
    """Environment for ovs-ofctl/ovs-vsctl so `br0` resolves to <rundir>/br0.mgmt and the
    database to <rundir>/db.sock."""
    return {'OVS_RUNDIR': rundir} if rundir else {}


class OfCtl:
    """ovs-ofctl against one switch through one runner: port numbers rather than names
    (`--no-names`), so that parse-flows (which has no switch) and the dumps print alike.
    Every method raises runner.CommandError when ovs-ofctl fails."""

    def __init__(self, module, protocol, switch, rundir=None):
        self.protocol, self.switch = protocol, switch
        self.runner = CmdRunner(module, 'ovs-ofctl', {
            'protocol': fmt.opt_val('-O'),
            'no_names': fmt.fixed('--no-names'),
            'no_stats': fmt.fixed('--no-stats'),
            'bundle': fmt.flag('--bundle'),
            'command': fmt.positional(),
            'switch': fmt.positional(),
            'argument': fmt.positional(),
            'stdin': fmt.fixed('-'),
        }, environ=ovs_environ(rundir))

    def run(self, args_order, data=None, **values):
        return self.runner.run('protocol no_names ' + args_order, data=data, protocol=self.protocol, **values)

    def parse_flows(self, specs):
        """Normalise flow lines (needs no switch) -> [Flow] in input order."""
        return parse_flow_mods(self.run('command stdin', data='\n'.join(specs), command='parse-flows').out)

    def parse_group(self, text):
        """Normalise one group (needs no switch) -> its line as dump-groups prints it."""
        return parse_group_mod(self.run('command argument', command='parse-group', argument=text).out)

    def dump_flows(self):
        return parse_dump_flows(self.run('no_stats command switch', command='dump-flows', switch=self.switch).out)

    def dump_groups(self):
        return parse_dump_groups(self.run('command switch', command='dump-groups', switch=self.switch).out)

    def add_flows(self, lines):
        """add/modify_strict/delete_strict lines in one call, an atomic bundle from OpenFlow 1.3."""
        return self.run('bundle command switch stdin', data='\n'.join(lines), bundle=supports_bundle(self.protocol),
                        command='add-flows', switch=self.switch)

    def bundle(self, lines):
        """`flow ...` and `group ...` lines in one atomic transaction (OpenFlow 1.3 or later)."""
        return self.run('command switch stdin', data='\n'.join(lines), command='bundle', switch=self.switch)


class VsCtl:
    """ovs-vsctl through one runner (the database of OVS_RUNDIR); raises runner.CommandError."""

    def __init__(self, module, rundir=None):
        self.runner = CmdRunner(module, 'ovs-vsctl', {
            'timeout': fmt.opt_eq_val('--timeout'),
            'no_wait': fmt.fixed('--no-wait'),
            'json': fmt.fixed('--format=json'),
            'commands': fmt.items(),
        }, environ=ovs_environ(rundir))

    def external_ids(self, bridge):
        """The bridge's external_ids as a dict."""
        out = self.runner.run('timeout json commands', timeout=VSCTL_TIMEOUT,
                              commands=['--columns=external_ids', 'list', 'Bridge', bridge]).out
        rows = _ovsdb_rows(out)
        return rows[0]['external_ids'] or {} if rows else {}

    def set_external_id(self, bridge, key, value, what=None):
        """Set (value is a string) or remove (value None) one key of the bridge's external_ids."""
        if value is None:
            commands = ['remove', 'Bridge', bridge, 'external_ids', key]
        else:
            commands = ['set', 'Bridge', bridge, 'external_ids:%s=%s' % (key, json.dumps(value))]
        return self.runner.run('timeout no_wait commands', timeout=VSCTL_TIMEOUT, commands=commands, what=what)

    def ports(self, names):
        """parse_ovsdb_ports of the named interfaces (missing ones are left out)."""
        return parse_ovsdb_ports(self.runner.run('timeout json commands', timeout=VSCTL_TIMEOUT,
                                                 commands=ports_query(names)).out)
