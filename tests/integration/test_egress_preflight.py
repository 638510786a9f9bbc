# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.egress_preflight through ansible-playbook against a real userspace OVS, real
addresses and real iptables in a namespace: the facts it returns are checked against the tools,
every fault is reported as a problem (the module itself succeeds), and nothing on the node
changes, whatever it finds."""
import os
import signal
import sys
import time

from sdnlab.ovs import running  # conftest puts lab/ on the path


def task(ovs, **args):
    return {'name': 'preflight', 'sdn.egress.egress_preflight': dict({'rundir': ovs.rundir}, **args)}


def node_dump(netns, ovs):
    """Everything the node holds that a run could change."""
    return {
        'flows': ovs.ofctl('--no-stats', 'dump-flows', 'br0') if ovs.alive() else None,
        'iptables': '\n'.join(line for line in netns.run(['iptables-save']).stdout.splitlines()
                              if not line.startswith('#')),
        'addrs': netns.run(['ip', '-o', 'addr', 'show']).stdout,
    }


def lay_out(netns):
    """An uplink with an IPv4 and an IPv6 network, our own claimed /32, and the SDN's chains."""
    netns.run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'])
    netns.run(['ip', 'link', 'set', 'eth0', 'up'])
    netns.run(['ip', 'addr', 'add', '192.0.2.12/24', 'dev', 'eth0'])
    netns.run(['ip', 'addr', 'add', '192.0.2.51/24', 'dev', 'eth0', 'label', 'eth0:sdne'])
    netns.run(['ip', 'addr', 'add', '203.0.113.9/32', 'dev', 'eth0', 'label', 'eth0:sdne'])
    netns.run(['ip', '-6', 'addr', 'add', '2001:db8:5::12/64', 'dev', 'eth0', 'nodad'])
    netns.run(['iptables', '-t', 'nat', '-N', 'OPENSHIFT-MASQUERADE'])
    netns.run(['iptables', '-t', 'filter', '-N', 'OPENSHIFT-FIREWALL-ALLOW'])


def test_reads_the_facts_the_plan_needs(ovs, netns, ansible):
    lay_out(netns)
    before = node_dump(netns, ovs)
    res = ansible([task(ovs, nat_chains=['OPENSHIFT-MASQUERADE'], filter_chains=['OPENSHIFT-FIREWALL-ALLOW'])],
                  netns=netns)
    assert res.rc == 0 and not res.changed, res
    out = res.last
    assert out['problems'] == [], out
    assert out['reachable'] is True and out['openflow'] is True and out['tun0_present'] is True
    assert out['tun0_ofport'] == 2 and out['vxlan_ofport'] == 1
    assert out['tun0_mac'] == ovs.mac_in_use('tun0')
    eth0 = out['interfaces']['eth0']
    assert '192.0.2.12/24' in eth0['addresses'] and '2001:db8:5::12/64' in eth0['addresses']
    assert '203.0.113.9/32' in eth0['addresses']
    # our labelled addresses and secondary ones define no network; link-local IPv6 neither
    assert out['networks']['eth0'] == ['192.0.2.0/24', '2001:db8:5::/64'], out['networks']
    assert out['iptables']['chains'] == ['nat/OPENSHIFT-MASQUERADE', 'filter/OPENSHIFT-FIREWALL-ALLOW']
    assert node_dump(netns, ovs) == before


def test_dead_vswitchd_with_the_database_alive_is_a_problem_not_a_failure(ovs, netns, ansible):
    lay_out(netns)
    pid = ovs.pids()['ovs-vswitchd']
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not running(pid) and ovs.pids()['ovsdb-server'], ovs.pids()
    before = node_dump(netns, ovs)
    res = ansible([task(ovs)], check=True, netns=netns)
    assert res.rc == 0 and not res.changed, res
    out = res.last
    assert out['openflow'] is False
    assert [p['what'] for p in out['problems']] == ['OpenFlow'], out['problems']
    assert 'ovs-vswitchd' in out['problems'][0]['detail'] and 'br0' in out['problems'][0]['detail']
    # OVSDB still answers: the ports are read (the ofports OVS recorded before it died)
    assert out['vxlan_ofport'] == 1
    assert node_dump(netns, ovs) == before


def test_every_missing_piece_is_named(ovs, netns, ansible):
    """No tun0 interface in the kernel, vxlan0 gone from OVSDB, a chain missing, the wrong
    bridge named: each is one problem; the module still succeeds and changes nothing."""
    netns.run(['iptables', '-t', 'nat', '-N', 'OPENSHIFT-MASQUERADE'])
    ovs.vsctl('del-port', 'br0', 'vxlan0')
    before = node_dump(netns, ovs)
    res = ansible([task(ovs, tun_port='tun9', filter_chains=['OPENSHIFT-FIREWALL-ALLOW'])], netns=netns)
    assert res.rc == 0 and not res.changed, res
    assert res.last['problems'] == [
        {'what': 'tun9', 'detail': 'tun9 is not an interface in the Open vSwitch database'},
        {'what': 'vxlan0', 'detail': 'vxlan0 is not an interface in the Open vSwitch database'},
        {'what': 'tun9', 'detail': 'there is no network interface tun9 on the node'},
        {'what': 'iptables',
         'detail': 'chain OPENSHIFT-FIREWALL-ALLOW does not exist in the filter table (iptables backend auto)'},
    ], res.last['problems']
    assert res.last['tun0_mac'] is None and res.last['vxlan_ofport'] is None
    other = ansible([task(ovs, bridge='br9')], netns=netns)
    assert other.rc == 0, other
    whats = [p['what'] for p in other.last['problems']]
    assert 'OpenFlow' in whats and 'tun0' in whats, other.last['problems']  # tun0 is on br0, not br9
    assert node_dump(netns, ovs) == before


def test_returns_foreign_rules_and_flows_and_our_monitor_ports_only(ovs, netns, ansible):
    """What the plan checks conflicts against, read from the real tools: the rules above the
    anchor jump that are not ours, the flows of table 100 at our priority or above with another
    cookie, and the monitor ports carrying our owner - never our own rules or flows."""
    lay_out(netns)
    nat = ['iptables', '-t', 'nat']
    netns.run(nat + ['-N', 'OPENSHIFT-MASQUERADE-2'])
    netns.run(nat + ['-A', 'OPENSHIFT-MASQUERADE', '-s', '10.128.0.0/14', '-m', 'mark', '--mark', '0x2ec40e',
                     '-j', 'SNAT', '--to-source', '192.0.2.13'])
    netns.run(nat + ['-A', 'OPENSHIFT-MASQUERADE', '-s', '10.128.0.0/14', '-m', 'mark', '--mark', '0x6f7936',
                     '-m', 'comment', '--comment', 'sdn.egress egress-test', '-j', 'SNAT', '--to-source', '192.0.2.51'])
    netns.run(nat + ['-A', 'OPENSHIFT-MASQUERADE', '-s', '10.128.0.0/14', '-j', 'OPENSHIFT-MASQUERADE-2'])
    netns.run(nat + ['-A', 'OPENSHIFT-MASQUERADE', '-j', 'ACCEPT'])  # below the anchor: not returned
    ovs.ofctl('add-flows', 'br0', '-', input='\n'.join([
        'cookie=0x99,table=100,priority=200,ip,actions=drop',
        'cookie=0x99,table=100,priority=50,ip,actions=drop',           # below our priority
        'cookie=0x65677265,table=100,priority=100,ip,reg0=0x7,actions=drop',  # ours
        'cookie=0x99,table=101,priority=300,ip,actions=drop']) + '\n')  # another table
    ovs.vsctl('add-port', 'br0', 'sdne-c000020b', '--', 'set', 'Interface', 'sdne-c000020b', 'type=vxlan',
              'options:remote_ip=192.0.2.11', 'options:key=16777214', 'external_ids:sdn-egress-owner="0x65677265"')
    before = node_dump(netns, ovs)
    res = ansible([task(ovs, snat_chain='OPENSHIFT-MASQUERADE', flow_tables=[100], flow_priority=100)],
                  check=True, netns=netns)
    assert res.rc == 0 and not res.changed, res
    out = res.last
    assert out['problems'] == [] and out['openflow'] is True, out
    assert out['foreign_rules'] == [{'index': 0, 'rule': '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark '
                                                         '0x2ec40e -j SNAT --to-source 192.0.2.13'}]
    assert out['foreign_flows'] == ['cookie=0x99, table=100, priority=200,ip actions=drop']
    assert out['owned_monitor_ports'] == ['sdne-c000020b']
    assert node_dump(netns, ovs) == before


FLOWS = '\n'.join([
    'table=101,priority=100,ip,reg0=0x2ec40e,actions=group:3064846',
    'table=101,priority=100,reg0=0x9,actions=drop',
    'table=100,priority=100,ip,reg0=0x6f7936,actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],'
    'set_field:10.0.0.3->tun_dst,output:1'])
GROUPS = ('group_id=3064846,type=select,bucket=actions=set_field:0a:58:0a:80:00:00->eth_dst,'
          'set_field:0x102e440e->pkt_mark,output:2')
RULES = '0x2ec40e 192.0.2.51 egress-test'
SPEC = {'owner': 'sdn.egress', 'chain': 'OPENSHIFT-MASQUERADE', 'anchor': 'OPENSHIFT-MASQUERADE-2',
        'reject_chain': 'OPENSHIFT-FIREWALL-ALLOW', 'reject_inbound': True, 'cluster_cidrs': ['10.128.0.0/14'],
        'masquerade_cluster': True}
NAMED = [{'interface': 'eth0', 'prefix': 32, 'addresses': '203.0.113.9'}]


def converge(ovs, ansible, netns):
    """Our flows, groups, rules and addresses written by the modules themselves."""
    res = ansible([
        {'sdn.egress.ovs_flow': {'bridge': 'br0', 'rundir': ovs.rundir, 'flows_text': FLOWS, 'groups_text': GROUPS,
                                 'state': 'overridden'}},
        {'sdn.egress.egress_snat': {'chain': SPEC['chain'], 'anchor_target': SPEC['anchor'],
                                    'cluster_cidrs': SPEC['cluster_cidrs'], 'rules_text': RULES,
                                    'masquerade_cluster': True, 'reject_chain': SPEC['reject_chain'],
                                    'reject_inbound': True,
                                    'state': 'overridden'}},
        {'sdn.egress.egress_addr': {'addresses': ['192.0.2.51'], 'named': NAMED, 'state': 'overridden'}},
    ], netns=netns)
    assert res.rc == 0, res.output


def test_digests_of_what_the_modules_wrote_equal_the_plans_and_change_on_drift(ovs, netns, ansible):
    """The preflight's digests (digests.py) of objects the modules converged equal the plan
    side's digests of the texts they were given; a flow deleted, a rule deleted, an address
    deleted by hand each change the one digest of its kind, and nothing on the node changes."""
    collections = os.path.join(os.path.dirname(__file__), '..', '..', '.cache', 'collections')
    if collections not in sys.path:
        sys.path.insert(0, collections)
    from ansible_collections.sdn.egress.plugins.module_utils import digests

    lay_out(netns)
    nat = ['iptables', '-t', 'nat']
    netns.run(nat + ['-N', 'OPENSHIFT-MASQUERADE-2'])
    netns.run(nat + ['-A', 'OPENSHIFT-MASQUERADE', '-s', '10.128.0.0/14', '-j', 'OPENSHIFT-MASQUERADE-2'])
    converge(ovs, ansible, netns)

    def owned():
        before = node_dump(netns, ovs)
        res = ansible([task(ovs, snat_chain=SPEC['chain'], flow_tables=[100, 101], flow_priority=100,
                            reject_chain=SPEC['reject_chain'], digests=True)], check=True, netns=netns)
        assert res.rc == 0 and not res.changed and res.last['problems'] == [], res.output
        assert node_dump(netns, ovs) == before
        return res.last['owned'], res.last['networks']

    have, networks = owned()
    wanted = {'flows': digests.plan_flows(FLOWS, GROUPS), 'rules': digests.plan_rules(RULES, SPEC),
              'addresses': digests.plan_addresses('192.0.2.51', NAMED, networks)}
    assert dict((kind, have[kind]) for kind in wanted) == wanted, (have, wanted)
    assert have['rules_spec']['owner'] == 'sdn.egress'

    ovs.ofctl('del-flows', 'br0', 'table=101,reg0=0x9,cookie=0x65677265/-1')
    netns.run(['iptables', '-t', 'filter', '-F', 'OPENSHIFT-FIREWALL-ALLOW'])
    netns.run(['ip', 'addr', 'del', '203.0.113.9/32', 'dev', 'eth0'])
    drifted, dummy = owned()
    assert all(drifted[kind] != wanted[kind] for kind in wanted), (drifted, wanted)

    converge(ovs, ansible, netns)
    again, dummy = owned()
    assert dict((kind, again[kind]) for kind in wanted) == wanted
