# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for ovs_ports against ovs-vsctl output recorded from OVS 3.1 (vsctl_ports.json:
tun0 and vxlan0 on br0, ghost0 on br0 without a device, ext0 on br1, nosuch0 missing)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.sdn.egress.plugins.modules import ovs_ports

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'ovs')


@pytest.fixture
def vsctl(monkeypatch):
    """ovs-vsctl answering with the recorded output; records each call."""
    with open(os.path.join(FIXTURES, 'vsctl_ports.json')) as f:
        state = dict(out=f.read(), rc=0, err='', calls=[])

    def run_command(module, args, data=None, environ_update=None, **kwargs):
        state['calls'].append(dict(argv=args, env=environ_update))
        return state['rc'], state['out'], state['err']
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, required=False, opt_dirs=None: '/usr/bin/' + name)
    return state


@pytest.fixture
def run(capsys):
    def run(args, check=False):
        with patch_module_args(dict(args, _ansible_check_mode=check)):
            with pytest.raises(SystemExit):
                ovs_ports.main()
        return json.loads(capsys.readouterr().out)
    return run


def test_reads_ports_in_one_call(vsctl, run):
    result = run(dict(ports=['tun0', 'vxlan0'], bridge='br0', rundir='/tmp/ovs'))
    assert not result['changed']
    assert result['ports'] == {
        'tun0': dict(ofport=2, mac_in_use='22:c6:4b:5f:c9:9e', type='internal', bridge='br0'),
        'vxlan0': dict(ofport=1, mac_in_use='1a:43:5d:8e:84:30', type='vxlan', bridge='br0'),
    }
    (call,) = vsctl['calls']
    assert call['argv'] == [
        '/usr/bin/ovs-vsctl', '--timeout=10', '--format=json',
        '--', '--if-exists', '--columns=_uuid,name,ofport,mac_in_use,type,error', 'list', 'Interface', 'tun0', 'vxlan0',
        '--', '--columns=_uuid,interfaces', 'list', 'Port', '--', '--columns=name,ports', 'list', 'Bridge']
    assert call['env'] == {'OVS_RUNDIR': '/tmp/ovs', 'LC_ALL': 'C', 'LANG': 'C'}


def test_without_bridge_any_bridge_will_do_and_check_mode_reads(vsctl, run):
    result = run(dict(ports=['ext0']), check=True)
    assert result['ports'] == {'ext0': dict(ofport=1, mac_in_use='a2:bb:41:5e:de:36', type='internal', bridge='br1')}
    assert not result['changed'] and len(vsctl['calls']) == 1


@pytest.mark.parametrize('args, message', [
    (dict(ports=['tun0', 'nosuch0']), 'ports: nosuch0 is not an interface in the Open vSwitch database'),
    (dict(ports=['ext0', 'tun0'], bridge='br0'), 'ports: ext0 is on bridge br1, not on bridge br0'),
    (dict(ports=['ghost0']),
     'ports: ghost0 has no OpenFlow port number (ofport -1): could not open network device ghost0 (No such device)'),
    (dict(ports=['nosuch0', 'ghost0', 'ext0'], bridge='br0'),  # every problem at once
     'ports: nosuch0 is not an interface in the Open vSwitch database; ghost0 has no OpenFlow port number (ofport -1): '
     'could not open network device ghost0 (No such device); ext0 is on bridge br1, not on bridge br0'),
    (dict(ports=['tun0', ' tun0']), "ports[1]: ' tun0' is not an interface name"),
    (dict(ports=['']), "ports[0]: '' is not an interface name"),
])
def test_failures_name_the_port(vsctl, run, args, message):
    result = run(args)
    assert result['failed'] and result['msg'] == message, result


def test_unset_ofport_and_no_bridge(vsctl, run):
    document = json.dumps({'data': [[['uuid', 'u1'], 'new0', ['set', []], ['set', []], 'internal', ['set', []]]],
                           'headings': ['_uuid', 'name', 'ofport', 'mac_in_use', 'type', 'error']})
    vsctl['out'] = '\n'.join([document, '{"data":[],"headings":["_uuid","interfaces"]}',
                              '{"data":[],"headings":["name","ports"]}']) + '\n'
    assert run(dict(ports=['new0']))['msg'] == 'ports: new0 has no OpenFlow port number (ofport unset)'
    assert run(dict(ports=['new0'], bridge='br0'))['msg'] == 'ports: new0 is on no bridge, not on bridge br0'


def test_ovs_vsctl_failure_reads_like_every_command_failure(vsctl, run):
    vsctl.update(rc=1, out='', err='ovs-vsctl: unix:/tmp/ovs/db.sock: database connection failed (No such file or directory)\n')
    result = run(dict(ports=['tun0'], rundir='/tmp/ovs'))
    assert result['failed'] and result['rc'] == 1
    assert result['msg'].startswith('/usr/bin/ovs-vsctl --timeout=10 --format=json -- --if-exists ')
    assert result['msg'].endswith('failed (rc=1): ovs-vsctl: unix:/tmp/ovs/db.sock: database connection failed '
                                  '(No such file or directory)')
    assert result['cmd'][0] == '/usr/bin/ovs-vsctl'
