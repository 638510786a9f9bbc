# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EgressService SNAT in nftables (OVN-Kubernetes 1.1+), module egress_nft_snat.

The objects, as OVN-Kubernetes lays them out::

    table inet ovn-kubernetes {
      map egress-service-snat-v4 { type ipv4_addr : ipv4_addr }
      map egress-service-snat-v6 { type ipv6_addr : ipv6_addr }
      chain egress-services { type nat hook postrouting priority srcnat; policy accept;
        meta mark 0x3f0 return
        snat ip to ip saddr map @egress-service-snat-v4
        snat ip6 to ip6 saddr map @egress-service-snat-v6 } }

What we own: map elements whose comment is the owner tag or starts with it and a space
("<owner> <namespace>/<name>"). The table, maps, chain and its three rules are created when
missing (never deleted: they are shared with OVN-Kubernetes' own layout); rules of the chain that
are not these three are left alone. Reads are ``nft -j list table``; every change of a run is one
``nft -f -`` transaction (check mode: ``nft -c -f -``, the kernel checks it, nothing changes),
then read back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.sdn.egress.plugins.module_utils import addr
from ansible_collections.sdn.egress.plugins.module_utils.runner import CmdRunner, CommandError, fmt

STATES = ("present", "absent", "overridden", "gathered", "rendered")
FAMILY = "inet"
_PRIORITY = re.compile(r"(srcnat( *[+-] *[0-9]+)?|-?[0-9]+)\Z")


class NftError(Exception):
    def fail_args(self):
        return {"msg": str(self)}


def _name(value, field):
    if not isinstance(value, str) or not value or any(c.isspace() or c in '";{}' for c in value):
        raise addr.error(field, value, "is not an nftables name (no blanks, quotes, ; or braces)")
    return value


def _comment(text, field):
    if '"' in text or "\\" in text or len(text.encode("utf-8")) > 128 or addr.show(text) != text:
        raise addr.error(field, text, "cannot be an nftables comment (at most 128 bytes, no quotes, "
                         "backslashes or control characters)")
    return text


class Spec:
    __slots__ = ("table", "chain", "maps", "return_mark", "priority", "owner", "state", "elements")


def validate(params):
    """Spec; AddrError naming the field and the value (every problem at once)."""
    spec = Spec()
    problems = []

    def check(fn, *args):
        try:
            return fn(*args)
        except addr.AddrError as exc:
            problems.append(str(exc))
            return None

    spec.table = check(_name, params.get("table"), "table")
    spec.chain = check(_name, params.get("chain"), "chain")
    spec.maps = {4: check(_name, params.get("map_v4"), "map_v4"), 6: check(_name, params.get("map_v6"), "map_v6")}
    mark = params.get("return_mark")
    spec.return_mark = None if mark is None else check(addr.parse_int, mark, "return_mark", 0, 0xFFFFFFFF)
    prio = params.get("priority")
    spec.priority = str(prio).strip() if prio is not None and _PRIORITY.match(str(prio).strip()) else None
    if spec.priority is None:
        problems.append(str(addr.error("priority", prio, "is not srcnat, srcnat + N, srcnat - N or an integer")))
    spec.owner = params.get("owner")
    if not isinstance(spec.owner, str) or not spec.owner or " " in spec.owner:
        problems.append(str(addr.error("owner", spec.owner, "is not a non-empty tag without blanks")))
    spec.state = params.get("state")
    spec.elements = {}
    seen = {}
    for i, rule in enumerate(params.get("rules") or []):
        where = "rules[%d]" % i
        ip = check(addr.parse_ip, rule.get("source"), where + ".source")
        to = rule.get("egress_ip")
        to_ip = check(addr.parse_ip, to, where + ".egress_ip") if to is not None else None
        if to is None and spec.state in ("present", "overridden", "rendered"):
            problems.append("%s.egress_ip: required with state=%s" % (where, spec.state))
        if ip is not None and to_ip is not None and ip.version != to_ip.version:
            problems.append("%s.egress_ip: %s is IPv%d, the source %s is IPv%d"
                            % (where, to_ip, to_ip.version, ip, ip.version))
        name = rule.get("name")
        comment = "%s %s" % (spec.owner, name) if name else spec.owner
        if isinstance(comment, str):
            check(_comment, comment, where + ".name")
        if ip is None:
            continue
        if str(ip) in seen:
            problems.append("%s.source: %s is the same source as %s" % (where, ip, seen[str(ip)]))
            continue
        seen[str(ip)] = where
        spec.elements[str(ip)] = (ip.version, None if to_ip is None else str(to_ip), comment)
    if problems:
        raise addr.AddrError("; ".join(problems))
    return spec


# ---------------------------------------------------------------- reading
class Nft:
    def __init__(self, module):
        self.runner = CmdRunner(module, "nft", {
            "json": fmt.fixed("-j"),
            "check": fmt.flag("-c"),
            "file": fmt.fixed("-f", "-"),
            "words": fmt.items(),
        })

    def list_table(self, table):
        """The parsed `nft -j list table inet TABLE`, or None when there is no such table."""
        res = self.runner.run("json words", words=["list", "table", FAMILY, table], ok_rcs=(0, 1),
                              what="reading table %s %s" % (FAMILY, table))
        if res.rc != 0:
            if "No such file or directory" in res.err:
                return None
            raise CommandError(res.argv, res.rc, res.out, res.err, "reading table %s %s" % (FAMILY, table))
        return json.loads(res.out)["nftables"]

    def apply(self, payload, check_mode):
        return self.runner.run("check file", check=check_mode, data=payload, what="nft -f transaction")


class State:
    """What a table holds: maps {name: {ip: (to, comment)}}, the chain's rules (expr lists), whether
    the chain exists."""

    def __init__(self, items, spec):
        self.table = items is not None
        self.maps = {}
        self.chain = False
        self.rules = []
        for item in items or []:
            if "map" in item and item["map"].get("table") == spec.table:
                m = item["map"]
                elems = {}
                for key, value in m.get("elem", []) or []:
                    comment = None
                    if isinstance(key, dict) and "elem" in key:
                        comment = key["elem"].get("comment")
                        key = key["elem"]["val"]
                    elems[str(key)] = (str(value), comment)
                self.maps[m["name"]] = elems
            elif "chain" in item and item["chain"].get("name") == spec.chain:
                self.chain = True
            elif "rule" in item and item["rule"].get("chain") == spec.chain:
                self.rules.append(item["rule"]["expr"])


def structure_rules(spec):
    """The chain's rules, as nft -f text and as the JSON expressions `nft -j` prints for them."""
    out = []
    if spec.return_mark is not None:
        out.append(("meta mark 0x%x return" % spec.return_mark,
                    [{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": spec.return_mark}},
                     {"return": None}]))
    for version, fam in ((4, "ip"), (6, "ip6")):
        lookup = {"key": {"payload": {"protocol": fam, "field": "saddr"}}, "data": "@%s" % spec.maps[version]}
        out.append(("snat %s to %s saddr map @%s" % (fam, fam, spec.maps[version]),
                    [{"snat": {"family": fam, "addr": {"map": lookup}}}]))
    return out


def _owned(comment, owner):
    return comment is not None and (comment == owner or comment.startswith(owner + " "))


def plan(spec, state):
    """(nft -f lines, changes dict)."""
    lines = []
    t = "%s %s" % (FAMILY, spec.table)
    if not state.table:
        lines.append("add table %s" % t)
    for version, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        if spec.maps[version] not in state.maps:
            lines.append("add map %s %s { type %s : %s; }" % (t, spec.maps[version], kind, kind))
    if not state.chain:
        lines.append("add chain %s %s { type nat hook postrouting priority %s; policy accept; }"
                     % (t, spec.chain, spec.priority))
    structure = structure_rules(spec)
    have = state.rules
    missing = [(text, expr) for text, expr in structure if expr not in have]
    for text, expr in missing:
        if text.startswith("meta mark"):
            lines.append("insert rule %s %s %s" % (t, spec.chain, text))    # first in the chain
        else:
            lines.append("add rule %s %s %s" % (t, spec.chain, text))
    changes = {"added": [], "removed": [], "conflicts": []}
    for version in (4, 6):
        name = spec.maps[version]
        current = state.maps.get(name, {})
        want = {ip: (to, comment) for ip, (v, to, comment) in spec.elements.items() if v == version}
        for ip, (to, comment) in sorted(current.items()):
            owned = _owned(comment, spec.owner)
            if not owned:
                if ip in want and spec.state in ("present", "overridden"):
                    changes["conflicts"].append("%s : %s in map %s (comment %s)" % (ip, to, name, addr.show(comment)))
                continue
            if spec.state == "absent":
                gone = ip in want and (want[ip][0] is None or want[ip][0] == to)
            elif spec.state == "overridden":
                gone = want.get(ip) != (to, comment)
            else:
                gone = ip in want and want[ip] != (to, comment)
            if gone:
                lines.append("delete element %s %s { %s }" % (t, name, ip))
                changes["removed"].append({"source": ip, "egress_ip": to, "comment": comment, "map": name})
        if spec.state in ("present", "overridden", "rendered"):
            for ip, (to, comment) in sorted(want.items()):
                if current.get(ip) != (to, comment) and _owned(current.get(ip, (None, spec.owner))[1], spec.owner):
                    lines.append('add element %s %s { %s comment "%s" : %s }' % (t, name, ip, comment, to))
                    changes["added"].append({"source": ip, "egress_ip": to, "comment": comment, "map": name})
    return lines, changes


def owned_lines(state, spec):
    out = []
    for version in (4, 6):
        for ip, (to, comment) in sorted(state.maps.get(spec.maps[version], {}).items()):
            if _owned(comment, spec.owner):
                out.append("%s %s : %s  # %s" % (spec.maps[version], ip, to, comment))
    return out


def converge(spec, cli, check_mode):
    state = State(cli.list_table(spec.table), spec)
    lines, changes = plan(spec, state)
    if changes["conflicts"]:
        raise NftError("rules: %d source(s) already mapped by elements we do not own (owner %s): %s"
                       % (len(changes["conflicts"]), spec.owner, "; ".join(changes["conflicts"])))
    before = owned_lines(state, spec)
    result = {"changed": bool(lines), "commands": lines, "added": changes["added"], "removed": changes["removed"],
              "before": before}
    if not lines:
        result["after"] = before
        return result
    payload = "".join(line + "\n" for line in lines)
    cli.apply(payload, check_mode)
    if check_mode:
        result["after"] = _predicted(before, changes, spec)
        return result
    now = State(cli.list_table(spec.table), spec)
    again, _changes = plan(spec, now)
    result["after"] = owned_lines(now, spec)
    if again:
        raise NftError("table %s %s after the transaction still differs from the rules: %s"
                       % (FAMILY, spec.table, "; ".join(again)))
    return result


def _predicted(before, changes, spec):
    gone = {(c["map"], c["source"]) for c in changes["removed"]}
    out = [l for l in before if (l.split()[0], l.split()[1]) not in gone]
    out += ["%s %s : %s  # %s" % (c["map"], c["source"], c["egress_ip"], c["comment"]) for c in changes["added"]]
    return sorted(out, key=lambda l: (l.split()[0] != spec.maps[4], l))


def rendered(spec):
    lines, _changes = plan(spec, State(None, spec))
    return "".join(line + "\n" for line in lines)


def gathered(spec, cli):
    state = State(cli.list_table(spec.table), spec)
    rules = []
    for version in (4, 6):
        for ip, (to, comment) in sorted(state.maps.get(spec.maps[version], {}).items()):
            if _owned(comment, spec.owner):
                name = comment[len(spec.owner) + 1:] or None if comment != spec.owner else None
                rules.append({"source": ip, "egress_ip": to, "name": name})
    foreign = sum(1 for version in (4, 6) for _ip, (_to, c) in state.maps.get(spec.maps[version], {}).items()
                  if not _owned(c, spec.owner))
    return {"table": spec.table, "exists": state.table, "rules": rules, "foreign_elements": foreign}
