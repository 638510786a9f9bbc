# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run report of playbooks/egress.yml: pure functions over plain data.

Used by the sdn.egress.egress_report action plugin on the controller. The input is what the
roles registered per host, read without Ansible templating; nothing here knows about Ansible.

    nodes = collect_nodes([(host, vars_of_host), ...])
    namespaces = dataplane_rows(namespaces, nodes)             # dataplane failover: live bucket
    render_json(check_mode, namespaces, nodes, warnings, run)      # egress-report.json
    render_markdown(check_mode, namespaces, nodes, warnings, run)  # egress-report.md (warnings first)
    render_dot(namespaces)                                         # the picture, for graphviz
    data = operator_summary(check_mode, namespaces, nodes, paths, run, warnings)  # set_stats
    summary_lines(data)                                            # printed at the end of a run
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _encode_string

from ansible_collections.sdn.egress.plugins.module_utils.addr import show
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import parse_batch_line
from ansible_collections.sdn.egress.plugins.module_utils.model import warning_message

JSON_NAME = "egress-report.json"
MARKDOWN_NAME = "egress-report.md"
DOT_NAME = "egress-report.dot"
SVG_NAME = "egress-report.svg"
PNG_NAME = "egress-report.png"

# Registered results (all optional) whose `changed` makes the node count as changed.
_CHANGE_RESULTS = ("egress_claim", "egress_mark_flows", "egress_snat_added",
                   "egress_flows", "egress_snat_pruned", "egress_released")

_SCALARS = (bool, int, float)

# Registered sdn.egress.ovs_monitor_ports results (phase 3 first) whose `live` is the node's BFD view.
_BFD_RESULTS = ("egress_monitor_pruned", "egress_monitor_ports")


def plain(value):
    """``value`` as plain JSON types (str, int, float, bool, None, list, dict).

    Ansible hands out subclasses of str, int, list and dict (tagged values); they are copied
    into the base types. Anything else that JSON cannot hold becomes its text.
    """
    if isinstance(value, str):
        return str.__str__(value)  # the value itself when it is a plain str, else a plain copy
    if isinstance(value, dict):
        return dict((plain_key(key), plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def plain_key(key):
    """A mapping key as JSON keeps it (a string; JSON turns 1 into "1")."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, _SCALARS):
        return json.dumps(key)
    return str(key)


def _result(host_vars, name):
    """A registered result as a dict; missing, skipped or not a mapping is empty."""
    value = host_vars.get(name)
    if not isinstance(value, dict) or value.get("skipped") is True:
        return {}
    return value


def _items(result, key):
    """``result[key]`` as a list (missing or null is empty)."""
    value = result.get(key)
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _claimed(result):
    """The addresses an egress_addr result claimed, as entries {address, interface, prefix, label}.

    From ``claimed``; a result without it (``return_entries=false``) from its ``commands``,
    the ``ip -batch`` lines ``addr add A/P dev IF label L``.
    """
    if "claimed" in result:
        return _items(result, "claimed")
    entries = (parse_batch_line(line) for line in _items(result, "commands"))
    return [entry for entry in entries if entry is not None]


def node_report(host, host_vars):
    """``(node name, report)`` of one inventory host from its registered variables.

    The report is ``{reachable, changed, addresses_claimed, addresses_released,
    flow_commands, iptables_commands}`` in plain types. Addresses claimed on the interfaces
    the inventory names (``egress_claim_named``, a loop result) count as claimed.
    """
    name = host_vars.get("egress_node_name")
    if name is None:
        name = host
    facts = host_vars.get("egress_node_facts")
    reachable = facts.get("reachable", False) if isinstance(facts, dict) else False

    claim = _result(host_vars, "egress_claim")
    named = _result(host_vars, "egress_claim_named")
    named_items = [item for item in _items(named, "results") if isinstance(item, dict)]
    marks = _result(host_vars, "egress_mark_flows")
    flows = _result(host_vars, "egress_flows")
    snat_added = _result(host_vars, "egress_snat_added")
    snat_pruned = _result(host_vars, "egress_snat_pruned")
    released = _result(host_vars, "egress_released")

    changed = any(bool(_result(host_vars, var).get("changed")) for var in _CHANGE_RESULTS)
    changed = changed or any(bool(item.get("changed")) for item in named_items)
    claimed = _claimed(claim)
    for item in named_items:
        claimed.extend(_claimed(item))
    report = {
        "reachable": reachable,
        "changed": changed,
        "addresses_claimed": claimed,
        "addresses_released": _items(released, "released"),
        "flow_commands": _items(marks, "commands") + _items(flows, "commands"),
        "iptables_commands": _items(snat_added, "commands") + _items(snat_pruned, "commands"),
    }
    # dataplane failover: BFD forwarding per peer host IP as the monitor ports had it this run
    # (phase 3 reads them on every node, also in check mode; empty without dataplane failover)
    for var in _BFD_RESULTS:
        live = _result(host_vars, var).get("live")
        if isinstance(live, Mapping) and live:
            report["bfd_live"] = live
            break
    return plain_key(name), plain(report)


def collect_nodes(hosts_vars):
    """``{node name: report}`` from ``[(inventory host, its variables), ...]``.

    A later host with the same node name replaces an earlier one.
    """
    nodes = {}
    for host, host_vars in hosts_vars:
        name, report = node_report(host, host_vars)
        nodes[name] = report
    return nodes


def _bucket_view(buckets, observer, live):
    """The index of the first live bucket of a fast-failover group on node ``observer`` (whose
    BFD view is ``live``: {host IP: forwarding}) and the indexes of the buckets before it that
    are down, or (None, all).  A local bucket (the observer holds the IP) watches tun0: live."""
    down = []
    for index, (dummy, node, host_ip) in enumerate(buckets):
        if node == observer or live.get(host_ip) is True:
            return index, tuple(down)
        down.append(index)
    return None, tuple(down)


def _names(nodes):
    text = ", ".join(_text(node) for node in nodes)
    return "%s %s" % (text, "is" if len(nodes) == 1 else "are")


def _view_text(buckets, view):
    index, down = view
    down_nodes = []
    for position in down:
        node = buckets[position][1]
        if node not in down_nodes:
            down_nodes.append(node)
    if index is None:
        return "no live bucket, traffic dropped: %s down (BFD)" % _names(down_nodes)
    ip, node = buckets[index][0], buckets[index][1]
    if index == 0:
        return "serving via %s (%s), the first IP" % (_text(ip), _text(node))
    return "serving via %s (%s) because %s down (BFD)" % (_text(ip), _text(node), _names(down_nodes))


def dataplane_rows(namespaces, nodes):
    """Dataplane failover: the namespace rows with ``live_ip`` (the egress IP every observing
    node's fast-failover group sends through now, None if they disagree or none is live) and
    ``dataplane`` (a sentence: "serving via <ip> (<node>) because <node> is down (BFD)"),
    computed from the nodes' BFD view (``bfd_live``, reachable nodes only).  Rows without
    ``buckets`` are returned as they are; the list is new, changed rows are copies.  The views
    are computed once per distinct bucket list of nodes (namespaces share them)."""
    observers = sorted((name, node["bfd_live"]) for name, node in nodes.items()
                       if node.get("reachable") and isinstance(node.get("bfd_live"), Mapping))
    if not observers:
        return list(namespaces or [])
    cache = {}
    out = []
    for ns in namespaces or []:
        buckets = ns.get("buckets") if isinstance(ns, Mapping) else None
        if not isinstance(buckets, list) or not buckets:
            out.append(ns)
            continue
        key = tuple((bucket[1], bucket[2]) for bucket in buckets)
        views = cache.get(key)
        if views is None:
            views = {}
            for name, live in observers:
                views.setdefault(_bucket_view(buckets, name, live), []).append(name)
            cache[key] = views
        row = dict(ns)
        if len(views) == 1:
            view = next(iter(views))
            row["live_ip"] = buckets[view[0]][0] if view[0] is not None else None
            row["dataplane"] = _view_text(buckets, view)
        else:
            row["live_ip"] = None
            row["dataplane"] = "; ".join("%s: %s" % (", ".join(_text(name) for name in names), _view_text(buckets, view))
                                         for view, names in sorted(views.items(), key=lambda item: item[1]))
        out.append(row)
    return out


def report_data(check_mode, namespaces, nodes, warnings=None, run=None):
    """The JSON report as a dict (the namespaces as given, not copied); ``warnings`` (the
    plan's {field, value, reason}) and ``run`` (``{token, started, finished,
    collection_version, check_mode, picture}``) only when given."""
    data = {"check_mode": bool(check_mode), "namespaces": namespaces or [], "nodes": nodes}
    if warnings is not None:
        data["warnings"] = warnings
    if run is not None:
        data["run"] = run
    return data


def _json_default(value):
    """What JSON cannot hold as it is (subclasses of str, int, list and dict need nothing)."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def render_json(check_mode, namespaces, nodes, warnings=None, run=None):
    """egress-report.json as ``to_nice_json`` prints it (indented by 4, keys sorted, ASCII only),
    with one trailing newline."""
    data = report_data(check_mode, namespaces, nodes, warnings, run)
    out = []
    _encode_indented(data, out, "\n")
    out.append("\n")
    return "".join(out)


def _json_key(key):
    """A mapping key as ``json.dumps`` writes it (before quoting)."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return json.dumps(float(key))
    raise TypeError("keys must be str, int, float, bool or None, not %s" % type(key).__name__)


_NO_KEY = object()  # a list member has no key (None is a key JSON can hold)


def _encode_members(members, opening, closing, out, newline):
    """The members of a list (key _NO_KEY) or of a mapping, ``json.dumps`` style (indent 4)."""
    inner = newline + "    "
    empty = True
    out.append(opening)
    for key, item in members:
        head = inner if empty else "," + inner
        empty = False
        if key is not _NO_KEY:
            head += _encode_string(key if isinstance(key, str) else _json_key(key)) + ": "
        if isinstance(item, str):  # most leaves: no call
            out.append(head + _encode_string(item))
        else:
            out.append(head)
            _encode_indented(item, out, inner)
    out.append(closing if empty else newline + closing)


def _encode_indented(value, out, newline):
    """Append the text of ``json.dumps(value, indent=4, sort_keys=True, separators=(",", ": "),
    default=_json_default)`` to ``out``, ``newline`` being the line break plus the current
    indent.  The same text as the standard encoder, which with an indent runs in pure Python a
    generator step per token (several times slower on a report of thousands of namespaces)."""
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(json.dumps(float(value)))
    elif isinstance(value, (list, tuple)):
        _encode_members(((_NO_KEY, item) for item in value), "[", "]", out, newline)
    elif isinstance(value, dict):
        _encode_members(sorted(value.items()), "{", "}", out, newline)
    else:
        _encode_indented(_json_default(value), out, newline)


def _text(value):
    """A value as a Jinja ``{{ }}`` prints it; a string holding a control character JSON-escaped
    (addr.show), so that a user's name cannot forge lines of the Markdown report."""
    if isinstance(value, str):
        return show(value) if value else value
    return str(value)


def _or_dash(value):
    return _text(value) if value else "-"


def _in_use(ns):
    """[(egress IP, node)] a namespace row sends traffic through: every online IP of a
    load-balanced layout (``active_ips``/``nodes``, sdn48), else the active one."""
    ips, nodes = ns.get("active_ips"), ns.get("nodes")
    if isinstance(ips, list) and isinstance(nodes, list) and len(ips) == len(nodes):
        return list(zip(ips, nodes))
    return [(ns["active_ip"], ns.get("node"))] if ns.get("active_ip") else []


def _command_line(line):
    if isinstance(line, str):
        return line
    if isinstance(line, (list, tuple)):
        return " ".join(_text(part) for part in line)
    return _text(line)


def _addresses(entries):
    return ", ".join(_text(entry.get("address") if isinstance(entry, dict) else entry) for entry in entries) or "-"


def _run_lines(run):
    """The run's identity under the mode line: token, times, collection version, picture."""
    if not run:
        return []
    out = ["Run: %s, %s -> %s, sdn.egress %s" % (
        _or_dash(run.get("token")), _or_dash(run.get("started")), _or_dash(run.get("finished")),
        _or_dash(run.get("collection_version")))]
    picture = run.get("picture")
    if isinstance(picture, Mapping):
        if picture.get("svg") or picture.get("png"):
            out.append("Picture: %s" % ", ".join(
                _text(os.path.basename(picture[kind])) for kind in ("svg", "png") if picture.get(kind)))
        if picture.get("note"):
            out.append("Picture: %s" % _text(picture["note"]))
    return out


def render_markdown(check_mode, namespaces, nodes, warnings=None, run=None):
    """egress-report.md: the warnings (if any), the namespace table, the automatic egress IPs
    (if any: where each lives and why it moved), a mermaid picture
    namespace -> egress IP -> node, the node table and the commands every node ran (or would
    run, in check mode). With ``run``, its token, times, collection version and where the
    picture was rendered as SVG/PNG (or why not) follow the mode line."""
    namespaces = namespaces or []
    out = [
        "# Egress report",
        "Mode: %s" % ("check (nothing was changed)" if check_mode else "converge"),
    ]
    out += _run_lines(run)
    out.append("")
    if warnings:
        out += ["## Warnings", ""]
        out += ["- %s" % _text(message) for message in warning_lines(warnings)]
        out.append("")
    dataplane = any(isinstance(ns, Mapping) and "dataplane" in ns for ns in namespaces)
    out += [
        "## Namespaces",
        "",
        "| namespace | VNID | mark | egress IPs (failover order) | in use | node | state |"
        + (" dataplane (BFD, now) |" if dataplane else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if dataplane else ""),
    ]
    for ns in namespaces:
        in_use = _in_use(ns)
        line = "| %s | %s | %s | %s | %s | %s | %s |" % (
            _text(ns.get("name")), _text(ns.get("netid")), _text(ns.get("mark")),
            ", ".join(_text(ip) for ip in ns.get("egress_ips") or []),
            _or_dash(", ".join(_text(ip) for ip, dummy in in_use)),
            _or_dash(", ".join(_text(node) for dummy, node in in_use if node)), _text(ns.get("state")))
        if dataplane:
            line += " %s |" % _or_dash(ns.get("dataplane"))
        out.append(line)

    out += _allocation_lines(namespaces)
    out += ["", "## Namespaces, egress IPs and nodes", "", "```mermaid", "flowchart LR"]
    index = 0
    for ns in namespaces:
        if not ns.get("egress_ips"):
            continue
        index += 1
        in_use = _in_use(ns)
        if not in_use:
            out.append('  ns_%d["%s"] %s ip_none["no usable IP"]' % (
                index, _text(ns.get("name")), "-->" if ns.get("state") == "active" else "-.->|dropped|"))
        for active, node in in_use:
            out.append('  ns_%d["%s"] --> ip_%s["%s"]' % (
                index, _text(ns.get("name")), _text(active).replace(".", "_"), _text(active)))
            if node:
                out.append('  ip_%s --> node_%s[["%s"]]' % (
                    _text(active).replace(".", "_"), _text(node).replace("-", "_"), _text(node)))
    out += ["```", "", "## Nodes", "",
            "| node | reachable | changed | addresses claimed | addresses released | flow commands | iptables commands |",
            "|---|---|---|---|---|---|---|"]
    names = sorted(nodes)
    for name in names:
        node = nodes[name]
        out.append("| %s | %s | %s | %s | %s | %d | %d |" % (
            _text(name), _text(node["reachable"]), _text(node["changed"]),
            _addresses(node["addresses_claimed"]), _addresses(node["addresses_released"]),
            len(node["flow_commands"]), len(node["iptables_commands"])))
    for name in names:
        node = nodes[name]
        lines = node["flow_commands"] + node["iptables_commands"]
        if not lines:
            continue
        out += ["", "### %s" % _text(name), "", "```"]
        out += [_command_line(line) for line in lines]
        out.append("```")
    return "\n".join(out) + "\n"


def _allocation_lines(namespaces):
    """The automatic egress IPs (nodes with egress_cidrs, row key ``allocated``): where each
    lives, where it was declared and why; nothing when there are none."""
    rows = [ns for ns in namespaces if isinstance(ns.get("allocated"), Mapping)]
    if not rows:
        return []
    out = ["", "## Automatic egress IPs (egress_cidrs)", "",
           "| egress IP | namespace | node | declared on | why |", "|---|---|---|---|---|"]
    for ns in rows:
        placed = ns["allocated"]
        out.append("| %s | %s | %s | %s | %s |" % (
            _text(placed.get("ip")), _text(ns.get("name")), _or_dash(placed.get("node")),
            _or_dash(placed.get("from")), _text(placed.get("why"))))
    return out


def _dot_id(prefix, value):
    return '"%s:%s"' % (prefix, _dot_text(value))


def _dot_text(value):
    """A value inside a DOT double-quoted string (escaped like JSON, which DOT reads)."""
    return json.dumps(_text(value), ensure_ascii=True)[1:-1]


def render_dot(namespaces):
    """The namespace -> egress IP -> node picture of the mermaid block as a graphviz DOT graph
    (``dot -Tsvg``/``-Tpng`` render it). Dropped namespaces point to "no usable IP", dashed."""
    out = ["digraph egress {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];',
           '  edge [color="#555555"];']
    edges = []
    seen = set()

    def node(ident, label, shape):
        if ident not in seen:
            seen.add(ident)
            out.append('  %s [label="%s", shape=%s];' % (ident, _dot_text(label), shape))

    for ns in namespaces or []:
        if not ns.get("egress_ips"):
            continue
        name = ns.get("name")
        ns_id = _dot_id("ns", name)
        node(ns_id, name, "box")
        in_use = _in_use(ns)
        if not in_use:
            node('"none"', "no usable IP", "plaintext")
            edges.append('  %s -> "none" [style=dashed, label="%s"];' % (ns_id, _dot_text(ns.get("state"))))
        for active, host in in_use:
            ip_id = _dot_id("ip", active)
            node(ip_id, active, "ellipse")
            edges.append("  %s -> %s;" % (ns_id, ip_id))
            if host:
                node_id = _dot_id("node", host)
                node(node_id, host, "box3d")
                edge = "  %s -> %s;" % (ip_id, node_id)
                if edge not in edges:
                    edges.append(edge)
    return "\n".join(out + edges + ["}"]) + "\n"


# namespace rows and addresses per node in the run summary (a task result: see operator_summary)
SUMMARY_LIMIT = 50


def operator_summary(check_mode, namespaces, nodes, paths=None, run=None, warnings=None, limit=SUMMARY_LIMIT):
    """What an operator needs at the end of a run, as plain data (published with set_stats):
    per namespace with egress IPs the IPs in use, their nodes and the state; per node whether it
    answered and what changed; the report paths; the run's token, times and version.

    At most ``limit`` namespace rows (those not active first, then by name) and ``limit``
    addresses per node and direction: the summary is a task result that Ansible copies and
    prints, so it must not grow with the namespaces (design.md, scale rule). ``namespaces_total``
    and ``states`` count them all; the report files list every one."""
    run = run or {}
    rows = []
    no_egress = 0
    for ns in namespaces or []:
        if not ns.get("egress_ips"):
            no_egress += 1
            continue
        in_use = _in_use(ns)
        rows.append({"name": _text(ns.get("name")), "state": _text(ns.get("state")),
                     "ips_in_use": [_text(ip) for ip, dummy in in_use],
                     "nodes": [_text(host) for dummy, host in in_use if host]})
    states = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    total = len(rows)
    if total > limit:
        rows = sorted(rows, key=lambda row: (row["state"] == "active", row["name"]))[:limit]
    per_node = {}
    for name in sorted(nodes):
        node = nodes[name]
        per_node[name] = {
            "reachable": bool(node["reachable"]), "changed": bool(node["changed"]),
            "addresses_claimed": [_text(e.get("address") if isinstance(e, dict) else e)
                                  for e in node["addresses_claimed"][:limit]],
            "addresses_released": [_text(e.get("address") if isinstance(e, dict) else e)
                                   for e in node["addresses_released"][:limit]],
            "addresses_claimed_count": len(node["addresses_claimed"]),
            "addresses_released_count": len(node["addresses_released"]),
            "flow_commands": len(node["flow_commands"]), "iptables_commands": len(node["iptables_commands"]),
        }
    return plain({
        "run_token": run.get("token"), "started": run.get("started"), "finished": run.get("finished"),
        "collection_version": run.get("collection_version"), "check_mode": bool(check_mode),
        "namespaces": rows, "namespaces_total": total, "states": states,
        "namespaces_without_egress": no_egress, "nodes": per_node,
        "reports": dict(paths or {}), "picture_note": (run.get("picture") or {}).get("note"),
        "warnings": warning_lines(warnings),
    })


def summary_lines(data):
    """The operator summary as the lines printed at the end of a run."""
    mode = "check mode, nothing was changed" if data.get("check_mode") else "converge"
    out = ["sdn.egress %s run %s (%s), %s -> %s" % (
        _or_dash(data.get("collection_version")), _or_dash(data.get("run_token")), mode,
        _or_dash(data.get("started")), _or_dash(data.get("finished")))]
    for row in data.get("namespaces") or []:
        if row["ips_in_use"]:
            where = ", ".join("%s on %s" % (ip, host) for ip, host in zip(row["ips_in_use"], row["nodes"] + ["?"] * (
                len(row["ips_in_use"]) - len(row["nodes"]))))
        else:
            where = "no egress IP in use"
        out.append("namespace %s: %s (%s)" % (_text(row["name"]), where, row["state"]))
    more = data.get("namespaces_total", 0) - len(data.get("namespaces") or [])
    if more > 0:
        out.append("... and %d more namespaces with egress IPs (all: %s; every one is in the report)" % (
            more, ", ".join("%s %d" % (_text(state), count) for state, count in sorted(data["states"].items()))))
    if data.get("namespaces_without_egress"):
        out.append("namespaces without egress IPs: %d" % data["namespaces_without_egress"])
    for name, node in sorted((data.get("nodes") or {}).items()):
        if not node["reachable"]:
            out.append("node %s: did not answer, nothing changed on it" % _text(name))
            continue
        verb = "would change" if data.get("check_mode") else "changed"
        if not node["changed"]:
            out.append("node %s: unchanged" % _text(name))
            continue
        out.append("node %s: %s - addresses claimed %s, released %s, %d flow commands, %d iptables lines" % (
            _text(name), verb, _some(node["addresses_claimed"], node.get("addresses_claimed_count")),
            _some(node["addresses_released"], node.get("addresses_released_count")), node["flow_commands"],
            node["iptables_commands"]))
    for kind in ("markdown", "json", "svg", "png"):
        if (data.get("reports") or {}).get(kind):
            out.append("report (%s): %s" % (kind, data["reports"][kind]))
    if data.get("picture_note"):
        out.append("picture: %s" % data["picture_note"])
    return out


def _some(listed, count):
    """The listed addresses, and how many more there are."""
    text = ", ".join(listed) or "-"
    if count is not None and count > len(listed):
        text += " and %d more" % (count - len(listed))
    return text


def warning_lines(warnings):
    """The plan's warnings as lines "<field>: <value> <reason>" (user strings escaped)."""
    return [warning_message(warning) for warning in warnings or () if isinstance(warning, Mapping)]


def summary(namespaces, nodes):
    """Counts for the task result."""
    states = {}
    for ns in namespaces or []:
        state = _text(ns.get("state"))
        states[state] = states.get(state, 0) + 1
    return {
        "namespaces": len(namespaces or []),
        "namespaces_by_state": states,
        "nodes": len(nodes),
        "nodes_changed": sum(1 for node in nodes.values() if node["changed"]),
        "nodes_unreachable": sum(1 for node in nodes.values() if not node["reachable"]),
        "addresses_claimed": sum(len(node["addresses_claimed"]) for node in nodes.values()),
        "addresses_released": sum(len(node["addresses_released"]) for node in nodes.values()),
        "flow_commands": sum(len(node["flow_commands"]) for node in nodes.values()),
        "iptables_commands": sum(len(node["iptables_commands"]) for node in nodes.values()),
    }


def write_if_changed(path, text, mode=0o644):
    """Write ``text`` (str, or bytes as they are) to ``path`` atomically (a temporary file in
    the same directory, renamed over it) unless the file already holds exactly that. Returns
    whether it was written."""
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    try:
        with open(path, "rb") as handle:
            same = handle.read() == data
    except OSError:
        same = False
    if same:
        if (os.stat(path).st_mode & 0o7777) != mode:
            os.chmod(path, mode)
        return False
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return True
