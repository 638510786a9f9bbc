# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy routing rules owned by their `protocol` (module egress_ip_rule), for EgressServices
with ``sourceIPBy: Network``: ``ip rule`` priority 5000 ``from <endpoint> lookup <network>``.

A rule is owned when its protocol is ours (default 229); rules of any other protocol are never
changed. Read with ``ip -j -4 rule show`` and ``ip -j -6 rule show``; every change of a family is
one ``ip -<family> -batch -`` call; read back afterwards.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.sdn.egress.plugins.module_utils import addr
from ansible_collections.sdn.egress.plugins.module_utils.runner import CmdRunner, fmt

STATES = ("present", "absent", "overridden", "gathered", "rendered")


class IpRuleError(Exception):
    def fail_args(self):
        return {"msg": str(self)}


def _table(value, field):
    text = str(value).strip() if value is not None else ""
    if not text or any(c.isspace() for c in text) or text.startswith("-"):
        raise addr.error(field, value, "is not a routing table (a number or a name from rt_tables)")
    return text


def validate(params):
    """(protocol, state, {(version, priority, source, table): name}); AddrError with every problem."""
    problems = []
    try:
        protocol = addr.parse_int(params.get("protocol"), "protocol", 1, 255)
    except addr.AddrError as exc:
        problems.append(str(exc))
        protocol = None
    want = {}
    for i, rule in enumerate(params.get("rules") or []):
        where = "rules[%d]" % i
        try:
            ip = addr.parse_ip(rule.get("from"), where + ".from")
            prio = addr.parse_int(rule.get("priority", 5000), where + ".priority", 0, 4294967295)
            table = _table(rule.get("table"), where + ".table")
        except addr.AddrError as exc:
            problems.append(str(exc))
            continue
        key = (ip.version, prio, str(ip), table)
        if key in want:
            problems.append("%s: priority %d from %s lookup %s is listed twice" % (where, prio, ip, table))
        want[key] = rule.get("name")
    if problems:
        raise addr.AddrError("; ".join(problems))
    return protocol, params.get("state"), want


class IpRule:
    def __init__(self, module):
        self.runner = CmdRunner(module, "ip", {
            "family": lambda version: ["-%d" % version],
            "json": fmt.fixed("-j"),
            "batch": fmt.fixed("-batch", "-"),
            "words": fmt.items(),
        })

    def read(self, version):
        out = self.runner.run("family json words", family=version, words=["rule", "show"]).out
        return json.loads(out or "[]")

    def batch(self, version, lines):
        self.runner.run("family batch", family=version, data="".join(l + "\n" for l in lines),
                        what="ip -%d -batch" % version)


def owned(rules, version, protocol):
    """{(version, priority, source, table)} of the rules with our protocol."""
    out = set()
    for r in rules:
        if str(r.get("protocol")) != str(protocol):
            continue
        src = r.get("src", "all")
        if src != "all" and r.get("srclen") not in (None, 32 if version == 4 else 128):
            src = "%s/%s" % (src, r["srclen"])
        out.add((version, int(r.get("priority", 0)), src, str(r.get("table"))))
    return out


def line(verb, key, protocol):
    _v, prio, src, table = key
    return "rule %s priority %d from %s lookup %s protocol %d" % (verb, prio, src, table, protocol)


def plan(protocol, state, want, have):
    """{version: [ip -batch lines]} and (added, removed) keys."""
    wanted = set(want)
    if state == "absent":
        remove, add = have & wanted, set()
    elif state == "overridden":
        remove, add = have - wanted, wanted - have
    else:
        remove, add = set(), wanted - have
    lines = {4: [], 6: []}
    for key in sorted(remove):
        lines[key[0]].append(line("del", key, protocol))
    for key in sorted(add):
        lines[key[0]].append(line("add", key, protocol))
    return lines, sorted(add), sorted(remove)


def text(keys, protocol):
    return [line("add", k, protocol)[len("rule add "):] for k in sorted(keys)]


def converge(protocol, state, want, cli, check_mode):
    have = owned(cli.read(4), 4, protocol) | owned(cli.read(6), 6, protocol)
    lines, added, removed = plan(protocol, state, want, have)
    changed = bool(added or removed)
    result = {"changed": changed, "commands": ["-%d %s" % (v, l) for v in (4, 6) for l in lines[v]],
              "added": text(added, protocol), "removed": text(removed, protocol), "before": text(have, protocol)}
    after = (have - set(removed)) | set(added)
    if changed and not check_mode:
        for version in (4, 6):
            if lines[version]:
                cli.batch(version, lines[version])
        now = owned(cli.read(4), 4, protocol) | owned(cli.read(6), 6, protocol)
        if now != after:
            raise IpRuleError("the owned rules read back differ from the plan: %s" % text(now ^ after, protocol))
    result["after"] = text(after, protocol)
    return result
