# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OVN northbound logical router policies, owned and converged (module ovn_lr_policy).

One runner for ``ovn-nbctl`` (``NbCtl``): every call is one process and one OVSDB transaction.
A run reads the router and every Logical_Router_Policy in one call (``--format=json``, one JSON
document per command), compares the policies *we own* (``external_ids`` key ``OWNER_KEY`` equal
to the owner) with the desired ones, writes every create/update/delete in one call of generic
database commands (``create``/``add``/``set``/``remove``, values in OVSDB's JSON-string syntax,
so no quoting by hand), and reads back to prove the result. Policies we do not own are never
changed; a desired policy whose priority and match equal a foreign one's is refused (OVN itself
refuses two policies with the same priority and match on one router) unless ``adopt``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.sdn.egress.plugins.module_utils import addr
from ansible_collections.sdn.egress.plugins.module_utils.runner import CmdRunner, CommandError, command_line, fmt

OWNER_KEY = "sdn.egress/owner"
ACTIONS = ("allow", "drop", "reroute")
STATES = ("present", "absent", "overridden", "gathered", "rendered")
MAX_PRIORITY = 32767
COLUMNS = "_uuid,priority,match,action,nexthops,options,external_ids"
_SPACES = re.compile(r"\s+")


class OvnError(Exception):
    """A refusal after reading the database (conflict, failed read-back)."""

    def fail_args(self):
        return {"msg": str(self)}


def norm_match(text):
    """A match as OVN compares it for duplicates: the text itself; runs of whitespace are one
    space here so that a reflowed YAML string is the same policy."""
    return _SPACES.sub(" ", text.strip())


class Policy:
    __slots__ = ("priority", "match", "action", "nexthops", "options", "external_ids", "uuid")

    def __init__(self, priority, match, action, nexthops=(), options=None, external_ids=None, uuid=None):
        self.priority = priority
        self.match = match
        self.action = action
        self.nexthops = tuple(sorted(nexthops))
        self.options = dict(options or {})
        self.external_ids = dict(external_ids or {})
        self.uuid = uuid

    @property
    def key(self):
        return (self.priority, norm_match(self.match))

    def same(self, other):
        """Equal in everything OVN stores (the uuid aside)."""
        return (self.key == other.key and self.action == other.action and self.nexthops == other.nexthops
                and self.options == other.options and self.external_ids == other.external_ids)

    def owner(self):
        return self.external_ids.get(OWNER_KEY)

    def as_dict(self):
        out = {"priority": self.priority, "match": self.match, "action": self.action,
               "nexthops": list(self.nexthops), "options": dict(self.options),
               "external_ids": dict(self.external_ids)}
        if self.uuid:
            out["uuid"] = self.uuid
        return out

    def line(self):
        """One line as `ovn-nbctl lr-policy-list` shows a policy, plus its external_ids."""
        parts = ["%5d" % self.priority, self.match, self.action]
        if self.nexthops:
            parts.append(",".join(self.nexthops))
        if self.options:
            parts.append(",".join("%s=%s" % kv for kv in sorted(self.options.items())))
        if self.external_ids:
            parts.append("{%s}" % ", ".join("%s=%s" % kv for kv in sorted(self.external_ids.items())))
        return "  ".join(parts)


# ---------------------------------------------------------------- validation
class Spec:
    __slots__ = ("router", "owner", "state", "policies", "adopt")


def _str_map(value, field):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise addr.error(field, value, "is not a mapping of strings")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or isinstance(v, (dict, list)) or v is None:
            raise addr.error("%s.%s" % (field, k), v, "is not a string value with a non-empty key")
        out[k] = v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _policy(raw, field, owner):
    if not isinstance(raw, dict):
        raise addr.error(field, raw, "is not a mapping")
    priority = addr.parse_int(raw.get("priority"), field + ".priority", 0, MAX_PRIORITY)
    match = raw.get("match")
    if not isinstance(match, str) or not match.strip():
        raise addr.error(field + ".match", match, "is not a non-empty OVN match expression")
    action = raw.get("action")
    if action not in ACTIONS:
        raise addr.error(field + ".action", action, "is not one of %s" % ", ".join(ACTIONS))
    hops = raw.get("nexthops") or []
    if isinstance(hops, str):
        hops = [hops]
    if not isinstance(hops, list):
        raise addr.error(field + ".nexthops", hops, "is not a list of IP addresses")
    nexthops = []
    versions = set()
    for i, hop in enumerate(hops):
        ip = addr.parse_ip(hop, "%s.nexthops[%d]" % (field, i))
        versions.add(ip.version)
        nexthops.append(str(ip))
    if action == "reroute" and not nexthops:
        raise addr.error(field + ".nexthops", hops, "is empty; a reroute needs at least one next hop")
    if action != "reroute" and nexthops:
        raise addr.error(field + ".nexthops", hops, "is set; only a reroute has next hops")
    if len(versions) > 1:
        raise addr.error(field + ".nexthops", hops, "mixes IPv4 and IPv6 next hops")
    options = _str_map(raw.get("options"), field + ".options")
    external_ids = _str_map(raw.get("external_ids"), field + ".external_ids")
    if OWNER_KEY in external_ids:
        raise addr.error("%s.external_ids.%s" % (field, OWNER_KEY), external_ids[OWNER_KEY],
                         "is set by the module from its owner option")
    external_ids[OWNER_KEY] = owner
    return Policy(priority, match.strip(), action, nexthops, options, external_ids)


def validate(params):
    """A Spec from the module parameters; every problem at once in one AddrError."""
    spec = Spec()
    problems = []
    spec.router = params.get("router")
    if not isinstance(spec.router, str) or not spec.router.strip():
        problems.append(str(addr.error("router", spec.router, "is not a router name")))
    spec.owner = params.get("owner")
    if not isinstance(spec.owner, str) or not spec.owner.strip():
        problems.append(str(addr.error("owner", spec.owner, "is not a non-empty owner name")))
    spec.state = params.get("state", "present")
    spec.adopt = bool(params.get("adopt"))
    spec.policies = []
    seen = {}
    for i, raw in enumerate(params.get("policies") or []):
        field = "policies[%d]" % i
        try:
            policy = _policy(raw, field, spec.owner)
        except addr.AddrError as exc:
            problems.append(str(exc))
            continue
        if policy.key in seen:
            problems.append("%s: priority %d and match %s repeat %s (OVN keeps one policy per priority and match)"
                            % (field, policy.priority, addr.show(policy.match), seen[policy.key]))
            continue
        seen[policy.key] = field
        spec.policies.append(policy)
    if problems:
        raise addr.AddrError("; ".join(problems))
    return spec


# ---------------------------------------------------------------- OVSDB values
def q(text):
    """A string in OVSDB's data syntax (a JSON string)."""
    return json.dumps(text)


def set_value(items):
    return "[%s]" % ", ".join(q(i) for i in items)


def map_value(mapping):
    return "{%s}" % ", ".join("%s=%s" % (q(k), q(v)) for k, v in sorted(mapping.items()))


def _atoms(value):
    """An OVSDB JSON set (["set", [...]] or a single atom) as a list."""
    if isinstance(value, list) and value and value[0] == "set":
        return list(value[1])
    return [value]


def _uuid(value):
    return value[1] if isinstance(value, list) and value and value[0] in ("uuid", "named-uuid") else None


def _map(value):
    if isinstance(value, list) and value and value[0] == "map":
        return dict(value[1])
    return {}


def parse_table(doc):
    """Rows of one `--format=json` table as dicts by heading."""
    return [dict(zip(doc["headings"], row)) for row in doc.get("data", [])]


def json_documents(text):
    """The JSON documents ovn-nbctl prints, one per command."""
    decoder = json.JSONDecoder()
    out, pos, text = [], 0, text.strip()
    while pos < len(text):
        doc, end = decoder.raw_decode(text, pos)
        out.append(doc)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def policy_from_row(row):
    return Policy(int(row["priority"]), row["match"], row["action"],
                  [h for h in _atoms(row["nexthops"]) if isinstance(h, str)],
                  _map(row["options"]), _map(row["external_ids"]), _uuid(row["_uuid"]))


# ---------------------------------------------------------------- the runner
class NbCtl:
    """ovn-nbctl against one northbound database (unix:, tcp: or ssl: with certificates)."""

    def __init__(self, module, db=None, private_key=None, certificate=None, ca_cert=None, timeout=30):
        self.db = db
        self.runner = CmdRunner(module, "ovn-nbctl", {
            "db": fmt.opt_eq_val("--db"),
            "private_key": fmt.opt_eq_val("--private-key"),
            "certificate": fmt.opt_eq_val("--certificate"),
            "ca_cert": fmt.opt_eq_val("--ca-cert"),
            "timeout": fmt.opt_eq_val("--timeout"),
            "json": fmt.fixed("--format=json"),
            "commands": fmt.items(),
        })
        self.conn = dict(db=db, private_key=private_key, certificate=certificate, ca_cert=ca_cert, timeout=timeout)
        self.calls = 0

    def run(self, commands, json_out=False, what=None):
        order = "db private_key certificate ca_cert timeout" + (" json" if json_out else "") + " commands"
        self.calls += 1
        return self.runner.run(order, commands=commands, what=what, **self.conn).out

    def read(self, router):
        """(router uuid or None, [Policy on that router], {uuid: Policy} of every router) in one call."""
        out = self.run(["--columns=_uuid,policies", "find", "Logical_Router", "name=%s" % q(router),
                        "--", "--columns=%s" % COLUMNS, "list", "Logical_Router_Policy"],
                       json_out=True, what="reading router %s" % addr.show(router))
        docs = json_documents(out)
        if len(docs) != 2:
            raise OvnError("ovn-nbctl printed %d JSON documents, expected 2: %s" % (len(docs), out[:200]))
        routers = parse_table(docs[0])
        if not routers:
            return None, []
        if len(routers) > 1:
            raise OvnError("router: %s names %d logical routers; give a unique name"
                           % (addr.show(router), len(routers)))
        mine = {_uuid(u) for u in _atoms(routers[0]["policies"])}
        policies = [policy_from_row(r) for r in parse_table(docs[1])]
        return _uuid(routers[0]["_uuid"]), [p for p in policies if p.uuid in mine]


# ---------------------------------------------------------------- plan and commands
def _create(router_ref, policy, n):
    ref = "@p%d" % n
    cmd = ["--id=%s" % ref, "create", "Logical_Router_Policy", "priority=%d" % policy.priority,
           "match=%s" % q(policy.match), "action=%s" % policy.action]
    if policy.nexthops:
        cmd.append("nexthops=%s" % set_value(policy.nexthops))
    if policy.options:
        cmd.append("options=%s" % map_value(policy.options))
    cmd.append("external_ids=%s" % map_value(policy.external_ids))
    return [cmd, ["add", "Logical_Router", router_ref, "policies", ref]]


def _update(old, new):
    return [["set", "Logical_Router_Policy", old.uuid, "action=%s" % new.action,
             "nexthops=%s" % set_value(new.nexthops), "options=%s" % map_value(new.options),
             "external_ids=%s" % map_value(new.external_ids)]]


def _delete(router_ref, old):
    # a policy is not a root row: removing the router's reference deletes it
    return [["remove", "Logical_Router", router_ref, "policies", old.uuid]]


def plan(spec, current):
    """{create: [Policy], update: [(old, new)], delete: [Policy], keep: [Policy]} for spec.state."""
    owned = {p.key: p for p in current if p.owner() == spec.owner}
    foreign = {p.key: p for p in current if p.owner() != spec.owner}
    out = {"create": [], "update": [], "delete": [], "keep": []}
    if spec.state == "absent":
        targets = {p.key for p in spec.policies} if spec.policies else set(owned)
        out["delete"] = [owned[k] for k in sorted(targets) if k in owned]
        out["keep"] = [p for k, p in sorted(owned.items()) if k not in targets]
        return out
    conflicts = []
    for want in spec.policies:
        have = owned.get(want.key)
        other = foreign.get(want.key)
        if have is None and other is not None:
            if not spec.adopt:
                conflicts.append("priority %d match %s: a policy not owned by %s has them (%s; uuid %s)"
                                 % (want.priority, addr.show(want.match), addr.show(spec.owner),
                                    "owner %s" % addr.show(other.owner()) if other.owner() else "no owner",
                                    other.uuid))
                continue
            have = other
        if have is None:
            out["create"].append(want)
        elif have.same(want):
            out["keep"].append(have)
        else:
            out["update"].append((have, want))
    if conflicts:
        raise OvnError("policies: %d conflict(s) with foreign policies on router %s (adopt: true takes them "
                       "over): %s" % (len(conflicts), addr.show(spec.router), "; ".join(conflicts)))
    if spec.state == "overridden":
        wanted = {p.key for p in spec.policies}
        out["delete"] = [p for k, p in sorted(owned.items()) if k not in wanted]
    else:
        wanted = {p.key for p in spec.policies}
        out["keep"] += [p for k, p in sorted(owned.items()) if k not in wanted]
    return out


def commands(router_ref, ops):
    """The ovn-nbctl db commands of a plan, as a list of command argv lists (one transaction)."""
    cmds = []
    for old in ops["delete"]:
        cmds += _delete(router_ref, old)
    for old, new in ops["update"]:
        cmds += _update(old, new)
    for n, new in enumerate(ops["create"]):
        cmds += _create(router_ref, new, n)
    return cmds


def joined(cmds):
    """One argv for one ovn-nbctl call: the commands separated by `--`."""
    argv = []
    for cmd in cmds:
        argv += (["--"] if argv else []) + cmd
    return argv


def _sorted(policies):
    return sorted(policies, key=lambda p: (-p.priority, norm_match(p.match)))


def state_of(policies, owner):
    return [p.as_dict() for p in _sorted(p for p in policies if p.owner() == owner)]


def diff_text(policies):
    return "".join(Policy(**d).line() + "\n" for d in policies)


def converge(spec, cli, check_mode):
    router_uuid, current = cli.read(spec.router)
    if router_uuid is None:
        raise OvnError("router: %s is not a logical router in the northbound database %s"
                       % (addr.show(spec.router), addr.show(cli.db or "(ovn-nbctl default)")))
    ops = plan(spec, current)
    cmds = commands(router_uuid, ops)
    before = state_of(current, spec.owner)
    result = {"changed": bool(cmds), "commands": [command_line(c) for c in cmds],
              "created": [p.as_dict() for p in ops["create"]],
              "updated": [new.as_dict() for _old, new in ops["update"]],
              "deleted": [p.as_dict() for p in ops["delete"]],
              "foreign": len([p for p in current if p.owner() != spec.owner]),
              "before": before}
    if not cmds or check_mode:
        after = _predicted(current, ops, spec.owner)
        result["after"] = after
        return result
    cli.run(joined(cmds), what="writing %d policy change(s) to router %s" % (len(cmds), addr.show(spec.router)))
    _uuid2, now = cli.read(spec.router)
    result["after"] = state_of(now, spec.owner)
    expected = _predicted(current, ops, spec.owner)
    strip = [{k: v for k, v in d.items() if k != "uuid"} for d in result["after"]]
    if strip != [{k: v for k, v in d.items() if k != "uuid"} for d in expected]:
        raise OvnError("router %s: the policies read back differ from the ones written (another writer?): "
                       "%s" % (addr.show(spec.router), json.dumps(strip)[:500]))
    return result


def _predicted(current, ops, owner):
    gone = {p.uuid for p in ops["delete"]} | {old.uuid for old, _new in ops["update"]}
    after = [p for p in current if p.uuid not in gone] + [new for _old, new in ops["update"]] + ops["create"]
    return [{k: v for k, v in d.items() if k != "uuid"} for d in state_of(after, owner)]


def gathered(spec, cli):
    router_uuid, current = cli.read(spec.router)
    if router_uuid is None:
        raise OvnError("router: %s is not a logical router in the northbound database" % addr.show(spec.router))
    return {"router": spec.router, "owner": spec.owner, "policies": state_of(current, spec.owner),
            "foreign": [p.as_dict() for p in _sorted(p for p in current if p.owner() != spec.owner)]}


def rendered(spec):
    """The ovn-nbctl arguments that would create the listed policies on a router without any."""
    ops = {"create": list(spec.policies), "update": [], "delete": [], "keep": []}
    return command_line(joined(commands(spec.router, ops)))


__all__ = ["NbCtl", "OvnError", "CommandError", "validate", "converge", "gathered", "rendered", "diff_text",
           "STATES", "OWNER_KEY"]
