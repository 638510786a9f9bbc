# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BFD monitor ports of dataplane failover (``settings.failover: dataplane``).

A monitor port is a VXLAN port on br0 towards one peer node: ``options:remote_ip=<peer>``,
``options:key=<failover VNI>`` (not ``flow``, so the SDN's vxlan0 still receives every pod
packet) and BFD on (``bfd:enable=true``, ``bfd:min_tx``/``bfd:min_rx``).  BFD makes the port
live only while the peer answers over the underlay; the fast-failover group buckets of the
sdn3 layout watch these ports, so a namespace's traffic moves to its next egress IP without a
playbook run.  Both ends have one: a source node towards each egress node, an egress node
towards every other node.

Names and OpenFlow port numbers are fixed by the peer's host IP, the same on every node, so
the plan can write the buckets' ``watch_port`` without reading OVSDB:

* name ``sdne-<IPv4 address in 8 hex digits>`` (13 characters; interface names are at most 15);
* ``ofport_request`` in the reserved range 0xF000..0xFEFF (61440..65279): CRC-32 of the address
  modulo the range size, collisions resolved by probing upwards in host-IP order (stable: a new
  node moves at most the ports whose slot it takes).

An egress node does not answer BFD itself: its answer is a flow of ours (``reflector_flow``,
table 0, written in phase 1 with the mark flows, after the node's addresses and SNAT rules)
that sends the BFD probes arriving on a monitor port back out of it.  The watching end's BFD
sends its probes to ``PROBE_MAC`` and accepts only packets to ``REPLY_MAC``
(``bfd:bfd_local_dst_mac``/``bfd:bfd_remote_dst_mac``); the reflector rewrites the one into the
other, so BFD comes up against the reflected copy of its own packets (RFC 5880 allows a session
whose remote is a loop).  Flows do not survive a reboot or an ovs-vswitchd restart, OVSDB
does: a rebooted egress node keeps its monitor ports but answers no probe until a run has
restored its addresses, SNAT rules and mark flows, so no source node sends it traffic it would
send out with its node IP.  An end that only reflects (``bfd: false``; the peer is not an
egress node) has no BFD session of its own.

A port is ours when its Interface record has ``external_ids:sdn-egress-owner=<cookie>``.  This
file also plans and applies the ports with one ovs-vsctl transaction (the ovs_monitor_ports
module is a thin layer over it); ovs.VsCtl is the runner.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import zlib

from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError, parse_int, parse_ip, show
from ansible_collections.sdn.egress.plugins.module_utils.ovs import VSCTL_TIMEOUT, _as_list, _ovsdb_rows

PREFIX = "sdne-"
OWNER_KEY = "sdn-egress-owner"
OFPORT_BASE = 0xF000
OFPORT_LAST = 0xFEFF          # OFPP_MAX - 1: the last OpenFlow port number a port may have
OFPORT_SPAN = OFPORT_LAST - OFPORT_BASE + 1
DEFAULT_VNI = 0xFFFFFE
DEFAULT_MIN_TX = 100          # ms; BFD's detect multiplier is 3: about 0.3 s to detect a loss
DEFAULT_MIN_RX = 100
MAX_NAME = 15                 # IFNAMSIZ - 1
# BFD probes go to PROBE_MAC, the reflector returns them to REPLY_MAC (locally administered,
# "sdne" in the middle); BFD consumes only REPLY_MAC packets, PROBE_MAC ones reach the flows
PROBE_MAC = "02:73:64:6e:65:70"
REPLY_MAC = "02:73:64:6e:65:72"
BFD_PORT = 3784
REFLECT_TABLE = 0
REFLECT_PRIORITY = 300        # above the SDN's table-0 flows (openshift-sdn 3.x: at most 250)
REFLECT_WORD = "reflect"


def port_name(ip):
    """The monitor port's name towards the peer with host IP ``ip`` (an IPv4 netaddr/str)."""
    return "%s%08x" % (PREFIX, int(ip) if not isinstance(ip, str) else _ipv4_int(ip))


def _ipv4_int(text):
    parts = [int(part) for part in text.split(".")]
    return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]


def assign_ofports(ips):
    """{ip text: ofport} for peers' host IPs (texts): CRC-32 slot in the reserved range, then
    the next free slot, peers taken in address order (the same answer on every node).
    Raises ValueError when there are more peers than the range holds."""
    texts = sorted(set(ips), key=lambda text: (len(text), _ipv4_int(text) if "." in text else text))
    if len(texts) > OFPORT_SPAN:
        raise ValueError("%d nodes do not fit the %d monitor port numbers %d..%d"
                         % (len(texts), OFPORT_SPAN, OFPORT_BASE, OFPORT_LAST))
    taken = {}
    result = {}
    for text in texts:
        slot = zlib.crc32(text.encode("ascii")) % OFPORT_SPAN
        while slot in taken:
            slot = (slot + 1) % OFPORT_SPAN
        taken[slot] = text
        result[text] = OFPORT_BASE + slot
    return result


def monitor_line(port):
    """A port {name, ofport, remote_ip, bfd} as one ``ports_text`` line: ``NAME OFPORT
    REMOTE_IP``, plus `` reflect`` when the end runs no BFD session (it only reflects)."""
    line = "%s %d %s" % (port["name"], port["ofport"], port["remote_ip"])
    return line if port.get("bfd", True) else line + " " + REFLECT_WORD


def parse_monitor_text(text):
    """[(label, {name, ofport, remote_ip, bfd})] from ``ports_text`` lines (blank and ``#``
    lines skipped).  Raises AddrError naming the line and the value."""
    result = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        label = "ports_text line %d" % number
        fields = stripped.split()
        if len(fields) not in (3, 4) or (len(fields) == 4 and fields[3] != REFLECT_WORD):
            raise AddrError("%s: %s is not NAME OFPORT REMOTE_IP [%s]" % (label, show(stripped), REFLECT_WORD))
        result.append((label, check_port({"name": fields[0], "ofport": fields[1], "remote_ip": fields[2],
                                          "bfd": len(fields) == 3}, label)))
    return result


def check_port(port, label):
    """A wanted port {name, ofport, remote_ip, bfd (default true)} checked and normalised;
    AddrError names the field."""
    name = port.get("name")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME or name.split() != [name] or "/" in name:
        raise AddrError("%s.name: %s is not an interface name (1-%d characters, no blanks or /)"
                        % (label, show(name), MAX_NAME))
    ofport = parse_int(port.get("ofport"), "%s.ofport" % label, 1, OFPORT_LAST)
    remote = parse_ip(port.get("remote_ip"), "%s.remote_ip" % label)
    bfd = port.get("bfd")
    if bfd is None:
        bfd = True
    if not isinstance(bfd, bool):
        raise AddrError("%s.bfd: %s is not true or false" % (label, show(bfd)))
    return {"name": name, "ofport": ofport, "remote_ip": str(remote), "bfd": bfd}


def reflector_flow(ofport):
    """The flow of an egress node that answers the BFD probes arriving on its monitor port
    ``ofport``: back out of the same port, to REPLY_MAC ({table, priority, match, actions})."""
    return {"table": REFLECT_TABLE, "priority": REFLECT_PRIORITY,
            "match": "udp,in_port=%d,dl_dst=%s,tp_dst=%d" % (ofport, PROBE_MAC, BFD_PORT),
            "actions": "set_field:%s->eth_dst,IN_PORT" % REPLY_MAC}


# --- OVSDB ----------------------------------------------------------------------------------

COLUMNS = "_uuid,name,type,options,bfd,bfd_status,ofport,ofport_request,external_ids"


def read_query():
    """ovs-vsctl commands (one process) listing every Interface with the columns we compare,
    and the Port and Bridge rows that say which bridge and port hold each."""
    return ["--", "--columns=" + COLUMNS, "list", "Interface",
            "--", "--columns=_uuid,name,interfaces", "list", "Port",
            "--", "--columns=name,ports", "list", "Bridge"]


def parse_read(text):
    """{interface name: {type, options, bfd, bfd_status, ofport, ofport_request, external_ids,
    bridge, port}} from read_query output (three JSON documents)."""
    documents = [line for line in text.splitlines() if line.strip()]
    if len(documents) != 3:
        raise ValueError("expected 3 JSON documents from ovs-vsctl, got %d" % len(documents))
    interfaces, ports, bridges = (_ovsdb_rows(document) for document in documents)
    port_bridge = dict((port, bridge["name"]) for bridge in bridges for port in _as_list(bridge["ports"]))
    holder = dict((interface, (port["name"], port_bridge.get(port["_uuid"])))
                  for port in ports for interface in _as_list(port["interfaces"]))
    result = {}
    for row in interfaces:
        port, bridge = holder.get(row["_uuid"], (None, None))
        ofport = row["ofport"]
        result[row["name"]] = {
            "type": row["type"] or "", "options": row["options"] or {}, "bfd": row["bfd"] or {},
            "bfd_status": row["bfd_status"] or {},
            "ofport": ofport[0] if isinstance(ofport, list) else ofport,
            "ofport_request": row["ofport_request"], "external_ids": row["external_ids"] or {},
            "bridge": bridge, "port": port}
    return result


class Spec:
    """What every monitor port of one run shares: VNI, BFD intervals, owner cookie, bridge."""

    def __init__(self, bridge, key, min_tx, min_rx, owner):
        self.bridge, self.key, self.min_tx, self.min_rx, self.owner = bridge, key, min_tx, min_rx, owner

    def bfd(self, port):
        """The ``bfd`` column of a wanted port: a session whose probes go to PROBE_MAC and whose
        answers come to REPLY_MAC, or nothing for an end that only reflects."""
        if not port.get("bfd", True):
            return {}
        return {"enable": "true", "min_tx": str(self.min_tx), "min_rx": str(self.min_rx),
                "bfd_local_dst_mac": PROBE_MAC, "bfd_remote_dst_mac": REPLY_MAC}

    def columns(self, port):
        """The Interface columns of a wanted port, as we compare them."""
        return {"type": "vxlan",
                "options": {"remote_ip": port["remote_ip"], "key": str(self.key)},
                "bfd": self.bfd(port),
                "ofport_request": port["ofport"],
                "external_ids": {OWNER_KEY: self.owner}}

    def settings(self, port):
        """ovs-vsctl `set Interface` arguments of a wanted port."""
        bfd = self.bfd(port)
        return (["type=vxlan", "options:remote_ip=%s" % json.dumps(port["remote_ip"]), "options:key=%d" % self.key,
                 "ofport_request=%d" % port["ofport"]]
                + ["bfd:%s=%s" % (key, json.dumps(bfd[key])) for key in sorted(bfd)]
                + ["external_ids:%s=%s" % (OWNER_KEY, json.dumps(self.owner))])


def owned(record, owner):
    return record["external_ids"].get(OWNER_KEY) == owner


def describe(name, record):
    """One line for before/after and --diff: a port as OVSDB has it."""
    options, bfd = record.get("options") or {}, record.get("bfd") or {}
    text = "%s ofport_request=%s type=%s remote_ip=%s key=%s" % (
        name, record.get("ofport_request"), record.get("type"), options.get("remote_ip"), options.get("key"))
    if bfd:
        text += " bfd=" + ",".join("%s:%s" % (key, bfd[key]) for key in sorted(bfd))
    owner = (record.get("external_ids") or {}).get(OWNER_KEY)
    if owner:
        text += " owner=%s" % owner
    if record.get("bridge") is not None:
        text += " bridge=%s" % record["bridge"]
    return text


def _differs(record, wanted, bridge):
    if record["bridge"] != bridge or record["port"] != wanted["name"]:
        return True
    columns = dict(wanted["columns"])
    for key in ("type", "options", "bfd", "ofport_request"):
        if record[key] != columns[key]:
            return True
    return record["external_ids"].get(OWNER_KEY) != columns["external_ids"][OWNER_KEY]


def plan(wanted, current, spec, state, force=False):
    """What to change so the bridge's monitor ports satisfy ``wanted`` [(label, port)].

    present:    add missing ports, set owned ones that differ; a same-named interface that is
                not ours (or not on the bridge) is a conflict unless ``force`` (then it is
                taken over); a wanted ofport held by an interface that is not ours is a
                conflict unless ``force`` (OVS would renumber that interface);
    absent:     delete the listed ports we own; foreign ones are conflicts;
    overridden: present, plus delete every owned port on the bridge that is not listed.

    Returns {commands: [[ovs-vsctl args]], added, modified, removed: [names], before, after:
    [describe lines of the affected ports], conflicts: [message]}.
    """
    bridge, owner = spec.bridge, spec.owner
    result = {"commands": [], "added": [], "modified": [], "removed": [], "before": [], "after": [],
              "conflicts": []}
    names = set()
    ofport_holders = {}
    for name, record in current.items():
        if record["bridge"] is None or owned(record, owner):
            continue
        for number in (record["ofport"], record["ofport_request"]):
            if isinstance(number, int) and number > 0:
                ofport_holders.setdefault(number, name)
    for label, port in wanted:
        name = port["name"]
        if name in names:
            result["conflicts"].append("%s.name: %s is listed twice" % (label, show(name)))
            continue
        names.add(name)
        record = current.get(name)
        mine = record is not None and owned(record, owner) and record["bridge"] == bridge
        if state == "absent":
            if record is None:
                continue
            if not mine:
                result["conflicts"].append("%s: %s is not a monitor port of ours on bridge %s (%s)"
                                           % (label, show(name), bridge, describe(name, record)))
                continue
            result["removed"].append(name)
            result["before"].append(describe(name, record))
            result["commands"].append(["--", "del-port", bridge, name])
            continue
        columns = spec.columns(port)
        holder = ofport_holders.get(port["ofport"])
        if holder is not None and holder != name and not force:
            result["conflicts"].append("%s.ofport: %d is the OpenFlow port of %s, not ours (force would make "
                                       "Open vSwitch renumber it)" % (label, port["ofport"], show(holder)))
            continue
        after = dict(columns, bridge=bridge)
        if record is None:
            result["added"].append(name)
            result["commands"].append(["--", "add-port", bridge, name, "--", "set", "Interface", name]
                                      + spec.settings(port))
        elif not mine and not force:
            result["conflicts"].append("%s.name: %s exists and is not ours (%s); force takes it over"
                                       % (label, show(name), describe(name, record)))
            continue
        elif not mine or _differs(record, dict(port, columns=columns), bridge):
            result["modified"].append(name)
            result["before"].append(describe(name, record))
            if record["bridge"] != bridge or record["port"] != name:
                # taken over from another bridge or port: recreated on ours
                result["commands"].append(["--", "--if-exists", "del-port", record["port"] or name,
                                           "--", "add-port", bridge, name,
                                           "--", "set", "Interface", name] + spec.settings(port))
            else:
                result["commands"].append(["--", "clear", "Interface", name, "options", "bfd",
                                           "--", "set", "Interface", name] + spec.settings(port))
        else:
            continue
        result["after"].append(describe(name, after))
    if state == "overridden":
        for name in sorted(current):
            record = current[name]
            if name in names or record["bridge"] != bridge or not owned(record, owner):
                continue
            result["removed"].append(name)
            result["before"].append(describe(name, record))
            result["commands"].insert(0, ["--", "del-port", bridge, record["port"] or name])
    return result


def gathered(current, spec):
    """The owned monitor ports of the bridge: [{name, ofport, remote_ip, key, bfd, forwarding,
    state, remote_state}] by name (forwarding: BFD says the peer answers)."""
    result = []
    for name in sorted(current):
        record = current[name]
        if record["bridge"] != spec.bridge or not owned(record, spec.owner):
            continue
        status = record["bfd_status"]
        result.append({"name": name, "ofport": record["ofport"], "remote_ip": record["options"].get("remote_ip"),
                       "key": record["options"].get("key"), "bfd": record["bfd"],
                       "forwarding": status.get("forwarding") == "true", "state": status.get("state"),
                       "remote_state": status.get("remote_state")})
    return result


def live(current, spec):
    """{remote IP: BFD forwarding (bool)} of our monitor ports on the bridge that run BFD:
    whether each peer answers now, i.e. whether the fast-failover buckets watching the port
    are live.  Grows with
    the nodes, not the namespaces; the run report reads it."""
    result = {}
    for record in current.values():
        if record["bridge"] != spec.bridge or not owned(record, spec.owner):
            continue
        remote = record["options"].get("remote_ip")
        if remote is not None and record["bfd"].get("enable") == "true":
            result[remote] = record["bfd_status"].get("forwarding") == "true"
    return result


def read(vsctl):
    """parse_read of the switch behind an ovs.VsCtl."""
    return parse_read(vsctl.runner.run("timeout json commands", timeout=VSCTL_TIMEOUT, commands=read_query()).out)


def apply(vsctl, commands):
    """All the commands in one ovs-vsctl transaction (which waits for ovs-vswitchd)."""
    flat = []
    for command in commands:
        flat.extend(command)
    return vsctl.runner.run("timeout commands", timeout=VSCTL_TIMEOUT, commands=flat)


def command_text(command):
    """A command as one line for the result (the argv items after the leading ``--``)."""
    return " ".join(command[1:] if command and command[0] == "--" else command)
