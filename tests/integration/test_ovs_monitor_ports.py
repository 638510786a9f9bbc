# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.ovs_monitor_ports through ansible-playbook against real userspace OVS in network
namespaces; state is read back with ovs-vsctl, liveness with ovs-appctl bfd/show and
ofproto/trace (the fast-failover group's own verdict)."""
import os
import time

import pytest
from sdnlab.netns import veth_between
from sdnlab.ovs import Ovs

OWNER = '0x65677265'
PORTS = 'sdne-c0000203 61450 192.0.2.3\nsdne-c0000204 61460 192.0.2.4\n'
# the plan's reflector flow on b's end towards a (monitor.reflector_flow(61442)), with our cookie
REFLECTOR = ('cookie=0x65677265,table=0,priority=300,udp,in_port=61442,dl_dst=02:73:64:6e:65:70,tp_dst=3784,'
             'actions=set_field:02:73:64:6e:65:72->eth_dst,in_port')


def task(ovs, **args):
    return {'name': 'monitor', 'sdn.egress.ovs_monitor_ports': dict({'rundir': ovs.rundir}, **args)}


def get(ovs, interface, column):
    return ovs.vsctl('get', 'Interface', interface, column).strip()


def ports(ovs):
    return sorted(ovs.vsctl('list-ports', 'br0').split())


def test_converge_idempotent_check_mode_and_diff(ovs, netns, ansible):
    before = ports(ovs)
    predicted = ansible([task(ovs, ports_text=PORTS)], check=True, diff=True, netns=netns)
    assert predicted.rc == 0 and predicted.changed, predicted
    assert ports(ovs) == before == ['tun0', 'vxlan0']
    assert predicted.last['added'] == ['sdne-c0000203', 'sdne-c0000204']
    assert 'sdne-c0000203 ofport_request=61450 type=vxlan remote_ip=192.0.2.3 key=16777214' in \
        predicted.last['diff']['after']

    first = ansible([task(ovs, ports_text=PORTS)], netns=netns)
    assert first.rc == 0 and first.changed, first
    assert first.last['commands'] == predicted.last['commands']
    assert ports(ovs) == ['sdne-c0000203', 'sdne-c0000204', 'tun0', 'vxlan0']
    assert get(ovs, 'sdne-c0000203', 'ofport') == '61450'
    assert get(ovs, 'sdne-c0000204', 'ofport') == '61460'
    assert get(ovs, 'sdne-c0000203', 'options') == '{key="16777214", remote_ip="192.0.2.3"}'
    assert get(ovs, 'sdne-c0000203', 'bfd') == (
        '{bfd_local_dst_mac="02:73:64:6e:65:70", bfd_remote_dst_mac="02:73:64:6e:65:72", enable="true", '
        'min_rx="100", min_tx="100"}')
    assert get(ovs, 'sdne-c0000203', 'external_ids') == '{sdn-egress-owner="%s"}' % OWNER

    second = ansible([task(ovs, ports_text=PORTS)], check=True, netns=netns)
    assert second.rc == 0 and not second.changed and second.last['commands'] == [], second
    second = ansible([task(ovs, ports_text=PORTS)], netns=netns)
    assert second.rc == 0 and not second.changed, second

    # a changed setting is one modification of that setting's ports
    timers = ansible([task(ovs, ports_text=PORTS, bfd_min_tx=300)], diff=True, netns=netns)
    assert timers.rc == 0 and timers.last['modified'] == ['sdne-c0000203', 'sdne-c0000204'], timers
    assert get(ovs, 'sdne-c0000204', 'bfd') == (
        '{bfd_local_dst_mac="02:73:64:6e:65:70", bfd_remote_dst_mac="02:73:64:6e:65:72", enable="true", '
        'min_rx="100", min_tx="300"}')
    assert 'min_tx:100' in timers.last['diff']['before'] and 'min_tx:300' in timers.last['diff']['after']

    # an end that only reflects the peer's probes: no BFD session; and back
    reflecting = PORTS.replace('192.0.2.4\n', '192.0.2.4 reflect\n')
    only = ansible([task(ovs, ports_text=reflecting, bfd_min_tx=300)], netns=netns)
    assert only.rc == 0 and only.last['modified'] == ['sdne-c0000204'], only
    assert get(ovs, 'sdne-c0000204', 'bfd') == '{}'
    assert ansible([task(ovs, ports_text=reflecting, bfd_min_tx=300)], netns=netns).changed is False
    gathered = ansible([task(ovs, state='gathered')], netns=netns)
    # live: the ports that run BFD only
    assert list(gathered.last['live']) == ['192.0.2.3'], gathered.last['live']


def test_overridden_prunes_only_our_ports_absent_removes_listed(ovs, netns, ansible):
    ovs.vsctl('add-port', 'br0', 'hand0', '--', 'set', 'Interface', 'hand0', 'type=vxlan',
              'options:remote_ip=192.0.2.9', 'options:key=5')
    assert ansible([task(ovs, ports_text=PORTS)], netns=netns).rc == 0
    keep = 'sdne-c0000204 61460 192.0.2.4\n'
    predicted = ansible([task(ovs, ports_text=keep, state='overridden')], check=True, netns=netns)
    assert predicted.changed and predicted.last['removed'] == ['sdne-c0000203'], predicted
    assert 'sdne-c0000203' in ports(ovs)
    pruned = ansible([task(ovs, ports_text=keep, state='overridden')], netns=netns)
    assert pruned.rc == 0 and pruned.last['commands'] == predicted.last['commands'], pruned
    assert ports(ovs) == ['hand0', 'sdne-c0000204', 'tun0', 'vxlan0']
    empty = ansible([task(ovs, ports_text='', state='overridden')], netns=netns)
    assert empty.rc == 0 and empty.last['removed'] == ['sdne-c0000204'], empty
    assert ports(ovs) == ['hand0', 'tun0', 'vxlan0']
    again = ansible([task(ovs, ports_text='', state='overridden')], netns=netns)
    assert again.rc == 0 and not again.changed, again
    refused = ansible([task(ovs, ports_text='hand0 61470 192.0.2.9', state='absent')], netns=netns)
    assert refused.rc != 0 and 'hand0 is not a monitor port of ours on bridge br0' in refused.last['msg'], refused
    assert 'hand0' in ports(ovs)


def test_foreign_name_or_port_number_refused_unless_forced(ovs, netns, ansible):
    ovs.vsctl('add-port', 'br0', 'sdne-c0000203', '--', 'set', 'Interface', 'sdne-c0000203', 'type=vxlan',
              'options:remote_ip=192.0.2.3', 'options:key=7', 'ofport_request=61450')
    ovs.vsctl('add-port', 'br0', 'pod0', '--', 'set', 'Interface', 'pod0', 'type=internal', 'ofport_request=61460')
    res = ansible([task(ovs, ports_text=PORTS)], netns=netns)
    assert res.rc != 0, res
    assert res.last['msg'] == (
        'ports_text line 1.name: sdne-c0000203 exists and is not ours (sdne-c0000203 ofport_request=61450 '
        'type=vxlan remote_ip=192.0.2.3 key=7 bridge=br0); force takes it over; ports_text line 2.ofport: 61460 '
        'is the OpenFlow port of pod0, not ours (force would make Open vSwitch renumber it)')
    assert get(ovs, 'sdne-c0000203', 'options') == '{key="7", remote_ip="192.0.2.3"}'
    assert 'sdne-c0000204' not in ports(ovs)
    forced = ansible([task(ovs, ports_text='sdne-c0000203 61450 192.0.2.3', force=True)], netns=netns)
    assert forced.rc == 0 and forced.last['modified'] == ['sdne-c0000203'], forced
    assert get(ovs, 'sdne-c0000203', 'external_ids') == '{sdn-egress-owner="%s"}' % OWNER
    assert get(ovs, 'pod0', 'ofport') == '61460'


def test_bad_input_names_the_line(ovs, netns, ansible):
    res = ansible([task(ovs, ports_text='sdne-x 61450 192.0.2.300')], netns=netns)
    assert res.rc != 0 and res.last['msg'] == 'ports_text line 1.remote_ip: 192.0.2.300 is not an IP address', res
    assert ports(ovs) == ['tun0', 'vxlan0']


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(0.02)


def trace(ovs):
    return ovs.appctl('ofproto/trace', 'br0', 'in_port=2,ip,reg0=0x7,nw_src=10.128.0.5,nw_dst=203.0.113.9')


def settled(ovs):
    """BFD up and past its slow start (RFC 5880: at most one packet a second until Up, then
    the 100 ms rates after a poll sequence): the detection time is 3 x 100 ms from here."""
    show = ovs.appctl('bfd/show', 'sdne-c0000203')
    return 'Forwarding: true' in show and 'RX Interval: Approx 100ms' in show


@pytest.fixture
def pair(make_netns, workdir):
    """Two nodes: own OVS each, the node IP on br-phy holding the underlay veth (lab notes)."""
    nodes = []
    a, b = make_netns('fa'), make_netns('fb')
    veth_between(a.name, 'eth0', b.name, 'eth0')
    for index, ns in enumerate((a, b)):
        ovs = Ovs(ns, os.path.join(workdir, 'ovs-%d' % index)).start()
        ovs.add_sdn_bridge()
        ovs.add_phy_bridge('eth0')
        ns.run(['ethtool', '-K', 'eth0', 'tx', 'off'])
        ns.run(['sysctl', '-q', '-w', 'net.ipv4.conf.eth0.arp_ignore=8', 'net.ipv6.conf.eth0.disable_ipv6=1'])
        ns.run(['ip', 'link', 'set', 'eth0', 'up'])
        ns.run(['ip', 'link', 'set', 'br-phy', 'up'])
        ns.run(['ip', 'addr', 'add', '192.0.2.%d/24' % (index + 2), 'dev', 'br-phy'])
        ns.run(['ip', 'link', 'set', 'tun0', 'up'])
        nodes.append((ns, ovs))
    yield nodes
    for dummy, ovs in nodes:
        ovs.stop()


def test_bfd_makes_the_fast_failover_bucket_follow_the_underlay(pair, ansible):
    """The module's ports on both ends bring BFD up; cutting the underlay makes the group skip
    the remote bucket within a second, and with no live bucket the packet is dropped."""
    (a, ovs_a), (b, ovs_b) = pair
    # a watches b (BFD); b only answers, with the plan's reflector flow (monitor.reflector_flow)
    for ns, ovs, line in ((a, ovs_a, 'sdne-c0000203 61443 192.0.2.3'), (b, ovs_b, 'sdne-c0000202 61442 192.0.2.2 reflect')):
        res = ansible([task(ovs, ports_text=line)], netns=ns)
        assert res.rc == 0 and res.changed, res
    time.sleep(1.5)  # a window in which b has its port but no reflector: BFD must stay down
    assert 'Forwarding: false' in ovs_a.appctl('bfd/show', 'sdne-c0000203')
    ovs_b.ofctl('add-flow', 'br0', REFLECTOR)
    ovs_a.ofctl('add-group', 'br0', 'group_id=7,type=ff,bucket=watch_port:61443,actions=move:NXM_NX_REG0[]->'
                'NXM_NX_TUN_ID[0..31],set_field:192.0.2.3->tun_dst,output:1,bucket=watch_port:1,actions=drop')
    ovs_a.ofctl('add-flow', 'br0', 'table=0,priority=0,actions=group:7')
    wait_for('BFD up at the configured rate', lambda: settled(ovs_a), 15)
    gathered = ansible([task(ovs_a, state='gathered')], netns=a)
    assert gathered.last['gathered'][0]['forwarding'] is True and gathered.last['gathered'][0]['state'] == 'up'
    assert 'using bucket 0' in trace(ovs_a)

    cut = time.monotonic()
    a.run(['ip', 'link', 'set', 'eth0', 'down'])
    # bucket 1 (vxlan0, always live here) stands for "the next egress IP"
    seen = wait_for('bucket 0 not live', lambda: 'bucket 0: not live due to port 61443' in trace(ovs_a), 3)
    assert seen - cut < 1.0, seen - cut
    assert 'using bucket 1' in trace(ovs_a)
    # no live bucket at all: dropped
    ovs_a.ofctl('mod-group', 'br0', 'group_id=7,type=ff,bucket=watch_port:61443,actions=output:1')
    assert 'no live bucket' in trace(ovs_a) and 'Datapath actions: drop' in trace(ovs_a)
    a.run(['ip', 'link', 'set', 'eth0', 'up'])
    wait_for('bucket 0 live again', lambda: 'using bucket 0' in trace(ovs_a), 5)
    wait_for('BFD back at the configured rate', lambda: settled(ovs_a), 15)
    ovs_a.ofctl('mod-group', 'br0', 'group_id=7,type=ff,bucket=watch_port:61443,actions=move:NXM_NX_REG0[]->'
                'NXM_NX_TUN_ID[0..31],set_field:192.0.2.3->tun_dst,output:1,bucket=watch_port:1,actions=drop')

    # b "reboots": its flows are gone, OVSDB (its monitor port) stays. b answers no probe any
    # more, so a stops using its bucket although b's underlay and ports are all there
    gone = time.monotonic()
    ovs_b.ofctl('del-flows', 'br0', 'cookie=0x65677265/-1')
    seen = wait_for('bucket 0 not live after b lost its flows',
                    lambda: 'bucket 0: not live due to port 61443' in trace(ovs_a), 3)
    assert seen - gone < 1.0, seen - gone
    assert 'sdne-c0000202' in ports(ovs_b)
    ovs_b.ofctl('add-flow', 'br0', REFLECTOR)   # what phase 1 of the next run writes
    wait_for('bucket 0 live after the run', lambda: 'using bucket 0' in trace(ovs_a), 10)
