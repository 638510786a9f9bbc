# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.ovs_ports through ansible-playbook against a real userspace OVS in a namespace;
the values are checked against ovs-vsctl get."""


def task(ovs, **args):
    return {'name': 'ports', 'sdn.egress.ovs_ports': dict({'rundir': ovs.rundir}, **args)}


def get(ovs, interface, column):
    return ovs.vsctl('get', 'Interface', interface, column).strip().strip('"')


def test_reads_the_sdn_ports(ovs, netns, ansible):
    res = ansible([task(ovs, bridge='br0', ports=['tun0', 'vxlan0'])], check=True, netns=netns)
    assert res.rc == 0 and not res.changed, res
    assert res.last['ports'] == {
        'tun0': {'ofport': 2, 'mac_in_use': get(ovs, 'tun0', 'mac_in_use'), 'type': 'internal', 'bridge': 'br0'},
        'vxlan0': {'ofport': 1, 'mac_in_use': get(ovs, 'vxlan0', 'mac_in_use'), 'type': 'vxlan', 'bridge': 'br0'},
    }
    assert int(get(ovs, 'tun0', 'ofport')) == 2


def test_missing_and_misplaced_ports_fail_naming_them(ovs, netns, ansible):
    ovs.vsctl('add-br', 'br1', '--', 'set', 'bridge', 'br1', 'datapath_type=netdev',
              '--', 'add-port', 'br1', 'ext0', '--', 'set', 'Interface', 'ext0', 'type=internal')
    res = ansible([task(ovs, bridge='br0', ports=['tun0', 'nosuch0', 'ext0'])], netns=netns)
    assert res.rc != 0, res
    assert res.last['msg'] == ('ports: nosuch0 is not an interface in the Open vSwitch database; '
                               'ext0 is on bridge br1, not on bridge br0')
    fine = ansible([task(ovs, ports=['ext0'])], netns=netns)
    assert fine.rc == 0 and fine.last['ports']['ext0']['bridge'] == 'br1', fine
