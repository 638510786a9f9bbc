# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ARP frames checked byte by byte; probe/announce driven through a socketpair."""
import socket
import struct
import time

import pytest

from ansible_collections.sdn.egress.plugins.module_utils import garp

MAC = "02:00:c0:00:02:0c"
MAC_RAW = b"\x02\x00\xc0\x00\x02\x0c"
OTHER = "02:00:c0:00:02:0d"
IP = "192.0.2.50"
IP_RAW = b"\xc0\x00\x02\x32"


def fields(frame):
    """Split a frame at the RFC 826 offsets."""
    return {
        "eth_dst": frame[0:6], "eth_src": frame[6:12], "ethertype": frame[12:14],
        "htype": frame[14:16], "ptype": frame[16:18], "hlen": frame[18:19], "plen": frame[19:20],
        "op": frame[20:22], "sha": frame[22:28], "spa": frame[28:32], "tha": frame[32:38], "tpa": frame[38:42],
        "pad": frame[42:],
    }


def assert_ethernet_arp(f):
    assert f["eth_dst"] == b"\xff" * 6
    assert f["eth_src"] == MAC_RAW
    assert f["ethertype"] == b"\x08\x06"
    assert f["htype"] == b"\x00\x01"
    assert f["ptype"] == b"\x08\x00"
    assert f["hlen"] == b"\x06"
    assert f["plen"] == b"\x04"
    assert f["pad"] == b"\x00" * 18


def test_reply_form_rfc5944():
    frame = garp.announcement("reply", MAC, IP)
    assert len(frame) == 60
    f = fields(frame)
    assert_ethernet_arp(f)
    assert f["op"] == b"\x00\x02"
    assert f["sha"] == MAC_RAW and f["spa"] == IP_RAW
    assert f["tha"] == MAC_RAW and f["tpa"] == IP_RAW  # Linux needs tha == sha for a gratuitous reply


def test_request_form_rfc5227_announcement():
    f = fields(garp.announcement("request", MAC, IP))
    assert_ethernet_arp(f)
    assert f["op"] == b"\x00\x01"
    assert f["sha"] == MAC_RAW and f["spa"] == IP_RAW
    assert f["tha"] == b"\x00" * 6 and f["tpa"] == IP_RAW


def test_probe_rfc5227():
    f = fields(garp.probe_frame(MAC, IP))
    assert_ethernet_arp(f)
    assert f["op"] == b"\x00\x01"
    assert f["sha"] == MAC_RAW and f["spa"] == b"\x00" * 4
    assert f["tha"] == b"\x00" * 6 and f["tpa"] == IP_RAW


def test_forms_per_mode():
    assert garp.FORMS == {"reply": ("reply",), "request": ("request",), "both": ("reply", "request")}


def test_mac_conversion():
    assert garp.mac_bytes("02:00:C0:00:02:0C") == MAC_RAW
    assert garp.mac_text(MAC_RAW) == MAC
    with pytest.raises(ValueError):
        garp.mac_bytes("02:00:c0")


def test_parse_and_describe_round_trip():
    assert garp.describe(garp.announcement("reply", MAC, IP)) == {
        "eth_dst": "ff:ff:ff:ff:ff:ff", "eth_src": MAC, "op": "reply", "sender_mac": MAC, "sender_ip": IP,
        "target_mac": MAC, "target_ip": IP}
    parsed = garp.parse_arp_frame(garp.probe_frame(MAC, IP))
    assert parsed["op"] == garp.OP_REQUEST and parsed["sender_ip"] == "0.0.0.0"


def test_parse_ignores_other_frames():
    frame = garp.announcement("reply", MAC, IP)
    assert garp.parse_arp_frame(frame[:41]) is None
    assert garp.parse_arp_frame(frame[:12] + b"\x08\x00" + frame[14:]) is None  # IPv4 ethertype
    assert garp.parse_arp_frame(frame[:14] + struct.pack("!H", 6) + frame[16:]) is None  # not Ethernet hw


def answer(op, sender_mac, sender_ip, target_ip, target_mac="00:00:00:00:00:00"):
    return garp.parse_arp_frame(garp.build_arp_frame(op, garp.mac_bytes(sender_mac), sender_ip,
                                                     garp.mac_bytes(target_mac), target_ip))


def test_conflict_rules():
    assert garp.conflict(answer(garp.OP_REPLY, OTHER, IP, "0.0.0.0", MAC), IP, MAC)  # answer to our probe
    assert garp.conflict(answer(garp.OP_REQUEST, OTHER, IP, IP), IP, MAC)  # someone announces it
    assert garp.conflict(answer(garp.OP_REQUEST, OTHER, "0.0.0.0", IP), IP, MAC)  # someone probes for it
    assert not garp.conflict(answer(garp.OP_REQUEST, MAC, "0.0.0.0", IP), IP, MAC.upper())  # our own probe
    assert not garp.conflict(answer(garp.OP_REQUEST, OTHER, "192.0.2.9", "192.0.2.1"), IP, MAC)
    assert not garp.conflict(answer(garp.OP_REPLY, OTHER, "0.0.0.0", "192.0.2.51"), IP, MAC)
    assert not garp.conflict(None, IP, MAC)


@pytest.fixture
def pair():
    ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    yield ours, peer
    ours.close()
    peer.close()


def drain(sock):
    frames = []
    sock.setblocking(False)
    try:
        while True:
            frames.append(sock.recv(2048))
    except BlockingIOError:
        return frames


def test_probe_reports_the_answering_mac(pair):
    ours, peer = pair
    peer.send(garp.announcement("reply", MAC, IP))  # our own frame looped back: ignored
    peer.send(b"\x00" * 20)  # runt: ignored
    peer.send(garp.build_arp_frame(garp.OP_REPLY, garp.mac_bytes(OTHER), IP, MAC_RAW, "0.0.0.0", MAC_RAW))
    outcome = garp.probe(ours, MAC, IP, count=3, timeout=5.0)
    assert outcome["conflict"] is True
    assert outcome["conflicting_mac"] == OTHER
    assert outcome["answer"]["op"] == "reply" and outcome["answer"]["sender_ip"] == IP
    assert outcome["probes_sent"] == 1  # stopped at the first answer, long before the 5 s
    assert drain(peer) == [garp.probe_frame(MAC, IP)]


def test_probe_without_answer_sends_all_probes_and_times_out(pair):
    ours, peer = pair
    outcome = garp.probe(ours, MAC, IP, count=3, timeout=0.09)
    assert outcome == {"probes_sent": 3, "conflict": False, "conflicting_mac": None, "answer": None}
    assert drain(peer) == [garp.probe_frame(MAC, IP)] * 3


def test_probe_spreads_probes_over_the_timeout(pair):
    ours, peer = pair
    sends = []

    class Timed:
        def send(self, frame):
            sends.append(time.monotonic())
            return ours.send(frame)

        def fileno(self):
            return ours.fileno()

    start = time.monotonic()
    outcome = garp.probe(Timed(), MAC, IP, count=3, timeout=0.3)
    assert outcome["probes_sent"] == 3
    # probe i is due i * timeout / count after the start (lower bounds only: a loaded machine is late)
    assert sends[1] >= start + 0.1 and sends[2] >= start + 0.2
    assert time.monotonic() - start >= 0.3  # listened to the end


class FakeTime:
    """A clock that sleeping moves on, and that each send moves on by `per_send` seconds."""

    def __init__(self, per_send=0.0):
        self.now = 100.0
        self.per_send = per_send
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class TimedSocket:
    def __init__(self, sock, fake):
        self.sock, self.fake = sock, fake

    def send(self, frame):
        self.fake.now += self.fake.per_send
        return self.sock.send(frame)


def test_announce_bursts_and_intervals(pair):
    ours, peer = pair
    fake = FakeTime()
    frames = [garp.announcement(form, MAC, IP) for form in garp.FORMS["both"]]
    assert garp.announce_all([(ours, frames)], count=3, interval=1.5, sleep=fake.sleep, clock=fake.clock) == 6
    assert fake.sleeps == [1.5, 1.5]  # between bursts, none after the last one
    assert drain(peer) == frames * 3


def test_announce_bursts_start_interval_apart_however_long_a_burst_takes(pair):
    """A burst of many addresses takes time to send; the next one starts `interval` after the
    previous one started, so each address is announced `interval` apart."""
    ours, peer = pair
    fake = FakeTime(per_send=0.1)
    frames = [garp.announcement(form, MAC, IP) for form in garp.FORMS["both"]]
    assert garp.announce_all([(TimedSocket(ours, fake), frames)], count=3, interval=1.0, sleep=fake.sleep,
                             clock=fake.clock) == 6
    assert fake.sleeps == [0.8, 0.8]  # 1.0 s from burst start to burst start, 0.2 s of it sending
    assert drain(peer) == frames * 3
    slow = FakeTime(per_send=0.6)  # a burst longer than the interval: the next follows at once
    assert garp.announce_all([(TimedSocket(ours, slow), frames)], count=2, interval=1.0, sleep=slow.sleep,
                             clock=slow.clock) == 4
    assert slow.sleeps == []


def test_announce_single_burst_never_sleeps(pair):
    ours, peer = pair
    fake = FakeTime()
    assert garp.announce_all([(ours, [garp.announcement("request", MAC, IP)])], count=1, interval=9,
                             sleep=fake.sleep, clock=fake.clock) == 1
    assert fake.sleeps == []


def test_announce_all_shares_bursts_between_addresses(pair):
    ours, peer = pair
    fake = FakeTime()
    first = [garp.announcement("reply", MAC, IP)]
    second = [garp.announcement("reply", MAC, "192.0.2.51")]
    assert garp.announce_all([(ours, first), (ours, second)], count=2, interval=0.5, sleep=fake.sleep,
                             clock=fake.clock) == 4
    assert fake.sleeps == [0.5]  # two bursts for both addresses, not two per address
    assert drain(peer) == (first + second) * 2


def iface(name="eth0", link_type="ether", mac=MAC, up=True):
    return {"name": name, "link_type": link_type, "mac": mac, "up": up}


@pytest.mark.parametrize("entry, why", [
    (iface(), None),
    (iface(up=False), "is down"),
    (iface(link_type="none", mac=None), "is not an Ethernet interface (link type none)"),
    (iface(link_type="loopback", mac="00:00:00:00:00:00", up=True), "is not an Ethernet interface (link type loopback)"),
    (iface(mac=None), "is not an Ethernet interface (link type ether)"),  # no MAC to send from
    (iface(link_type="none", up=False), "is not an Ethernet interface (link type none)"),  # the type first
    (None, "is not an Ethernet interface (link type None)"),  # gone since the claim
])
def test_unfit_for_arp(entry, why):
    assert garp.unfit_for_arp(entry) == why


def test_frames_by_interface_groups_every_form_of_each_address_on_its_interface():
    eth0, eth1 = iface("eth0"), iface("eth1", mac=OTHER)
    batches = garp.frames_by_interface([(IP, eth0), ("192.0.2.60", eth1), ("192.0.2.51", eth0)], garp.FORMS["both"])
    assert sorted(batches) == ["eth0", "eth1"]
    assert batches["eth0"] == [garp.announcement("reply", MAC, IP), garp.announcement("request", MAC, IP),
                               garp.announcement("reply", MAC, "192.0.2.51"),
                               garp.announcement("request", MAC, "192.0.2.51")]
    assert batches["eth1"] == [garp.announcement("reply", OTHER, "192.0.2.60"),
                               garp.announcement("request", OTHER, "192.0.2.60")]
    assert garp.frames_by_interface([], garp.FORMS["reply"]) == {}


class Recorder:
    def __init__(self, fail_on=()):
        self.fail_on, self.opened = fail_on, []

    def __call__(self, name):
        if name in self.fail_on:
            raise OSError(1, "Operation not permitted")
        sock = FakeSocket(name)
        self.opened.append(sock)
        return sock


class FakeSocket:
    def __init__(self, name):
        self.name, self.closed = name, False

    def close(self):
        self.closed = True


def test_raw_sockets_open_one_per_interface_by_name_and_close_them_all():
    batches = {"eth1": ["b"], "eth0": ["a"]}
    opener = Recorder()
    with garp.raw_sockets(batches, opener) as sockets:
        assert [(s.name, frames) for s, frames in sockets] == [("eth0", ["a"]), ("eth1", ["b"])]
        assert not any(s.closed for s in opener.opened)
    assert [s.closed for s in opener.opened] == [True, True]
    with pytest.raises(ZeroDivisionError):  # closed however the block is left
        with garp.raw_sockets(batches, opener):
            raise ZeroDivisionError
    assert len(opener.opened) == 4 and all(s.closed for s in opener.opened)


def test_raw_sockets_name_the_interface_that_cannot_be_opened_and_close_the_others():
    batches = {"eth0": ["a"], "eth1": ["b"]}
    opener = Recorder(fail_on=("eth1",))
    with pytest.raises(garp.RawSocketError) as err:
        with garp.raw_sockets(batches, opener):
            pytest.fail("the block ran although a socket could not be opened")
    assert str(err.value) == ("cannot open a raw ARP socket on eth1 (needs root or CAP_NET_RAW): "
                              "[Errno 1] Operation not permitted")
    assert [(s.name, s.closed) for s in opener.opened] == [("eth0", True)]


def test_announce_claims_sends_each_claim_from_its_interface(pair):
    ours, peer = pair
    opened = []

    def opener(name):
        opened.append(name)
        return ours

    interfaces = [iface("eth0"), iface("eth1", mac=OTHER)]
    claims = [{"address": IP, "interface": "eth0"}, {"address": "192.0.2.60", "interface": "eth1"}]
    assert garp.announce_claims(interfaces, claims, garp.FORMS["reply"], 1, 0, opener) == 2
    assert opened == ["eth0", "eth1"]
    assert drain(peer) == [garp.announcement("reply", MAC, IP), garp.announcement("reply", OTHER, "192.0.2.60")]


@pytest.mark.parametrize("interfaces, message", [
    ([iface("eth0", up=False)], "interface: eth0 is down; cannot announce 192.0.2.50 with ARP"),
    ([], "interface: eth0 is not an Ethernet interface (link type None); cannot announce 192.0.2.50 with ARP"),
])
def test_announce_claims_refuses_an_unfit_link_before_sending(interfaces, message):
    opener = Recorder()
    with pytest.raises(garp.GarpError) as err:
        garp.announce_claims(interfaces, [{"address": IP, "interface": "eth0"}], garp.FORMS["both"], 1, 0, opener)
    assert str(err.value) == message and opener.opened == []


def test_announce_claims_names_the_interface_without_permission():
    with pytest.raises(garp.RawSocketError) as err:
        garp.announce_claims([iface("eth0")], [{"address": IP, "interface": "eth0"}], garp.FORMS["both"], 1, 0,
                             Recorder(fail_on=("eth0",)))
    assert str(err.value).startswith("cannot open a raw ARP socket on eth0 (needs root or CAP_NET_RAW)")
