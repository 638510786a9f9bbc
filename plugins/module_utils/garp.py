# -*- coding: utf-8 -*-
# Copyright: sdn.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gratuitous ARP over raw AF_PACKET sockets (stdlib only, Linux).

Frame forms (Ethernet destination always broadcast, source = our MAC):
- reply form ("arping -A", RFC 5944 4.6): opcode 2, sender = target = (our MAC, IP).
  Linux only treats an unsolicited reply as gratuitous when target MAC == sender MAC.
- request form ("arping -U", RFC 5227 ARP Announcement): opcode 1, sender = (our MAC, IP),
  target = (00:00:00:00:00:00, IP).
- probe (RFC 5227 2.1.1): opcode 1, sender = (our MAC, 0.0.0.0), target = (zero MAC, IP).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import functools
import select
import socket
import struct
import time

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
OP_REQUEST = 1
OP_REPLY = 2
BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
FRAME_MIN = 60  # Ethernet minimum without FCS; the ARP payload is padded with zeros

_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
FORMS = {"reply": ("reply",), "request": ("request",), "both": ("reply", "request")}


@functools.lru_cache(maxsize=None)
def mac_bytes(mac):
    """bytes of a MAC in text (remembered: a burst repeats an interface's MAC in every frame)."""
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError("%r is not a MAC address" % (mac,))
    return bytes(bytearray(int(p, 16) for p in parts))


def mac_text(raw):
    return ":".join("%02x" % b for b in bytearray(raw))


def build_arp_frame(op, src_mac, sender_ip, target_mac, target_ip, eth_dst=BROADCAST):
    """An Ethernet/ARP frame (bytes); MACs as bytes, IPs as dotted strings."""
    arp = _ARP.pack(ARPHRD_ETHER, ETH_P_IP, 6, 4, op, src_mac, socket.inet_aton(sender_ip),
                    target_mac, socket.inet_aton(target_ip))
    frame = _ETH.pack(eth_dst, src_mac, ETH_P_ARP) + arp
    return frame + b"\x00" * (FRAME_MIN - len(frame))


def announcement(form, mac, ip):
    """The gratuitous ARP frame of `form` ("reply" or "request") for ip at mac (text)."""
    raw = mac_bytes(mac)
    if form == "reply":
        return build_arp_frame(OP_REPLY, raw, ip, raw, ip)
    return build_arp_frame(OP_REQUEST, raw, ip, ZERO_MAC, ip)


def probe_frame(mac, ip):
    return build_arp_frame(OP_REQUEST, mac_bytes(mac), "0.0.0.0", ZERO_MAC, ip)


def parse_arp_frame(frame):
    """{eth_dst, eth_src, op, sender_mac, sender_ip, target_mac, target_ip} or None (not Ethernet/IPv4 ARP)."""
    if len(frame) < _ETH.size + _ARP.size:
        return None
    eth_dst, eth_src, ethertype = _ETH.unpack_from(frame)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, _ETH.size)
    if (htype, ptype, hlen, plen) != (ARPHRD_ETHER, ETH_P_IP, 6, 4):
        return None
    return {
        "eth_dst": mac_text(eth_dst), "eth_src": mac_text(eth_src), "op": op,
        "sender_mac": mac_text(sha), "sender_ip": socket.inet_ntoa(spa),
        "target_mac": mac_text(tha), "target_ip": socket.inet_ntoa(tpa),
    }


def describe(frame):
    """A frame as a result dict (op as text)."""
    info = parse_arp_frame(frame)
    info["op"] = "reply" if info["op"] == OP_REPLY else "request"
    return info


def conflict(arp, ip, own_mac):
    """True when a parsed ARP frame shows another host using or probing for `ip` (RFC 5227 2.1.1)."""
    if arp is None or arp["sender_mac"] == own_mac.lower():
        return False
    if arp["sender_ip"] == ip:
        return True
    return arp["op"] == OP_REQUEST and arp["sender_ip"] == "0.0.0.0" and arp["target_ip"] == ip


def open_socket(ifname):
    """A raw packet socket that sends on and receives ARP from `ifname` only."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: no traffic before bind
    try:
        sock.bind((ifname, ETH_P_ARP))
    except Exception:
        sock.close()
        raise
    return sock


class GarpError(Exception):
    """Announcing failed; the message names the interface or the reason."""


class RawSocketError(GarpError):
    """A raw ARP socket could not be opened (nothing was sent); the message names the interface."""


def unfit_for_arp(iface):
    """Why an interface cannot carry gratuitous ARP, as the end of a sentence ("is down"), or
    None when it can. `iface`: an entry of ipaddr.Ip.interfaces(), None when it is gone."""
    if iface is None or iface["link_type"] != "ether" or not iface["mac"]:
        return "is not an Ethernet interface (link type %s)" % (iface["link_type"] if iface else None)
    if not iface["up"]:
        return "is down"
    return None


def frames_by_interface(targets, forms):
    """{interface name: frames} for [(address, iface)]: one announcement per form and address,
    sent from the interface's MAC, in the order given."""
    batches = {}
    for address, iface in targets:
        batches.setdefault(iface["name"], []).extend(
            announcement(form, iface["mac"], address) for form in forms)
    return batches


@contextlib.contextmanager
def raw_sockets(batches, opener=None):
    """Open one raw ARP socket per interface of `batches` (frames_by_interface), by name;
    yields [(socket, frames)] for announce_all and closes them all on leaving.
    RawSocketError, before any frame is sent, when one cannot be opened."""
    opener = opener or open_socket
    sockets = []
    try:
        for name, frames in sorted(batches.items()):
            try:
                sockets.append((opener(name), frames))
            except (OSError, IOError) as exc:
                raise RawSocketError("cannot open a raw ARP socket on %s (needs root or CAP_NET_RAW): %s"
                                     % (name, exc))
        yield sockets
    finally:
        for sock, dummy in sockets:
            sock.close()


def announce_claims(interfaces, claims, forms, count, interval, opener=None):
    """Announce each claimed entry {address, interface} from its interface, all addresses in
    shared bursts (announce_all); the number of frames sent.

    `interfaces`: the interfaces as read back after the claim (ipaddr.Ip.interfaces()).
    GarpError naming the interface that cannot carry ARP (before anything is sent), or why
    sending failed."""
    by_name = dict((iface["name"], iface) for iface in interfaces)
    targets = []
    for claim in claims:
        iface = by_name.get(claim["interface"])
        why = unfit_for_arp(iface)
        if why:
            raise GarpError("interface: %s %s; cannot announce %s with ARP" % (claim["interface"], why, claim["address"]))
        targets.append((claim["address"], iface))
    try:
        with raw_sockets(frames_by_interface(targets, forms), opener) as sockets:
            return announce_all(sockets, count, interval)
    except (OSError, IOError) as exc:
        raise GarpError("sending ARP failed: %s" % exc)


def probe(sock, mac, ip, count, timeout, clock=time.monotonic):
    """Send `count` ARP probes spread over `timeout` seconds and listen until it ends.

    Returns {"probes_sent", "conflict", "conflicting_mac", "answer"}; stops at the first
    frame from another MAC that uses or probes for `ip`.
    """
    frame = probe_frame(mac, ip)
    start = clock()
    deadline = start + timeout
    spacing = float(timeout) / count
    sent = 0
    while True:
        now = clock()
        if sent < count and now >= start + sent * spacing:
            sock.send(frame)
            sent += 1
            continue
        if now >= deadline:
            return {"probes_sent": sent, "conflict": False, "conflicting_mac": None, "answer": None}
        wake = min(deadline, start + sent * spacing) if sent < count else deadline
        readable = select.select([sock], [], [], max(0.0, wake - now))[0]
        if readable:
            arp = parse_arp_frame(sock.recv(2048))
            if conflict(arp, ip, mac):
                arp["op"] = "reply" if arp["op"] == OP_REPLY else "request"
                return {"probes_sent": sent, "conflict": True, "conflicting_mac": arp["sender_mac"], "answer": arp}


def announce_all(batches, count, interval, sleep=time.sleep, clock=time.monotonic):
    """Send `count` bursts over [(socket, frames)]; returns frames sent. Each burst sends every
    pair's frames, so announcing many addresses costs `count` bursts, not `count` bursts per address.

    Burst k starts `k * interval` seconds after the first (no wait after the last one): every
    address is announced `interval` apart however long a burst of many addresses takes."""
    sent = 0
    start = clock()
    for burst in range(count):
        if burst:
            wait = start + burst * interval - clock()
            if wait > 0:
                sleep(wait)
        for sock, frames in batches:
            for frame in frames:
                sock.send(frame)
                sent += 1
    return sent


# RFC 5227 2.1.1 timing of the probes sent before a claim (PROBE_WAIT's random start is left
# out: all of a node's addresses are probed together, once per run, not at boot by many hosts)
PROBE_NUM = 3          # probes per address
PROBE_INTERVAL = 1.0   # seconds between probes (RFC 5227: random between PROBE_MIN 1 and PROBE_MAX 2)
PROBE_LISTEN = 2.0     # seconds to listen after the last probe (RFC 5227 ANNOUNCE_WAIT)
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20+: a packet socket does not see its own frames
PROBE_RCVBUF = 4 << 20       # room for every answer of a burst of many probes


def probe_duration(count=PROBE_NUM, interval=PROBE_INTERVAL, listen=PROBE_LISTEN):
    """Seconds a probe_all run takes without a conflict, however many addresses it probes."""
    return (count - 1) * interval + listen


def probe_line(address, interface, owners, known=()):
    """One line of a probe text: ``ADDRESS INTERFACE|- OWNER[,OWNER] [MAC[,MAC]]``.

    ``interface`` None ("-"): the interface whose network holds the address, found on the node;
    ``owners``: who declares the address (namespace names, no spaces); ``known``: MACs of other
    managed nodes that hold the address now and give it up in the same run (their answer is
    not a conflict)."""
    fields = [address, interface or "-", ",".join(owners) or "-"]
    if known:
        fields.append(",".join(sorted(known)))
    return " ".join(fields)


def parse_probe_text(text):
    """[{address, interface, owners, known}] of the lines probe_line writes (blank lines
    skipped); ValueError naming the line that is not one."""
    entries = []
    for number, line in enumerate((text or "").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (3, 4):
            raise ValueError("line %d: %r is not 'ADDRESS INTERFACE|- OWNER[,OWNER] [MAC,...]'" % (number, line))
        known = fields[3].lower().split(",") if len(fields) == 4 else []
        for mac in known:
            mac_bytes(mac)  # ValueError naming it
        entries.append({"address": fields[0], "interface": None if fields[1] == "-" else fields[1],
                        "owners": [] if fields[2] == "-" else fields[2].split(","), "known": known})
    return entries


def _quiet_socket(sock):
    """Best effort: skip our own outgoing frames, and make room for many answers."""
    for level, option, value in ((SOL_PACKET, PACKET_IGNORE_OUTGOING, 1),
                                 (socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), PROBE_RCVBUF)):
        try:
            sock.setsockopt(level, option, value)
        except (OSError, IOError):
            pass


def foreign_user(arp, watch):
    """The watched address a parsed ARP frame shows another host using or probing for, or None.
    ``watch`` {address: set of MACs that are not foreign (ours)}."""
    if arp is None:
        return None
    ip = arp["sender_ip"]
    if ip == "0.0.0.0" and arp["op"] == OP_REQUEST:
        ip = arp["target_ip"]  # another host probing for it (RFC 5227 2.1.1)
    ours = watch.get(ip)
    if ours is None or arp["sender_mac"] in ours:
        return None
    return ip


def probe_all(sockets, watch, count=PROBE_NUM, interval=PROBE_INTERVAL, listen=PROBE_LISTEN,
              clock=time.monotonic):
    """Probe many addresses in parallel: [(socket, frames, interface name)] (one socket per
    interface, its probe frames), ``count`` bursts ``interval`` apart, each burst carrying every
    probe, then listen ``listen`` more seconds: probe_duration() in all, however many addresses.

    Returns (probes sent, conflicts [{address, interface, mac, op}]), one conflict per address,
    the first frame that showed it, sorted by address. Listens to the end even after a conflict,
    so that every conflicting address is named."""
    for sock, dummy, dummy in sockets:
        _quiet_socket(sock)
    by_fd = dict((sock.fileno(), (sock, name)) for sock, dummy, name in sockets)
    start = clock()
    deadline = start + (count - 1) * interval + listen
    sent, bursts, found = 0, 0, {}
    while True:
        now = clock()
        if bursts < count and now >= start + bursts * interval:
            for sock, frames, dummy in sockets:
                for frame in frames:
                    sock.send(frame)
                    sent += 1
            bursts += 1
            continue
        if now >= deadline:
            break
        wake = min(deadline, start + bursts * interval) if bursts < count else deadline
        for fd in select.select(list(by_fd), [], [], max(0.0, wake - now))[0]:
            sock, name = by_fd[fd]
            arp = parse_arp_frame(sock.recv(2048))
            address = foreign_user(arp, watch)
            if address is not None and address not in found:
                found[address] = {"address": address, "interface": name, "mac": arp["sender_mac"],
                                  "op": "reply" if arp["op"] == OP_REPLY else "request"}
    return sent, [found[address] for address in sorted(found, key=socket.inet_aton)]
