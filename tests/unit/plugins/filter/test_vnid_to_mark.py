# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the sdn.egress.vnid_to_mark / vnid_to_hex filters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.errors import AnsibleFilterError

import os
import subprocess
import sys

from ansible_collections.sdn.egress.plugins.filter import vnid_to_hex, vnid_to_mark

FILTERS = dict(vnid_to_mark.FilterModule().filters(), **vnid_to_hex.FilterModule().filters())
ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def test_filters_are_registered_one_per_file():
    """One filter a file: ansible-doc shows the DOCUMENTATION of the file the filter is in."""
    assert sorted(vnid_to_mark.FilterModule().filters()) == ["vnid_to_mark"]
    assert sorted(vnid_to_hex.FilterModule().filters()) == ["vnid_to_hex"]


@pytest.mark.parametrize("name, says, not_says", [
    ("vnid_to_hex", "as the hex value openshift-sdn matches in reg0", "Computes the packet mark"),
    ("vnid_to_mark", "Computes the packet mark", "as the hex value openshift-sdn matches in reg0"),
])
def test_ansible_doc_shows_each_filters_own_doc(name, says, not_says):
    here = ROOT.split(os.sep)
    installed = os.sep.join(here[:-3]) if here[-3:] == ["ansible_collections", "sdn", "egress"] else None
    env = dict(os.environ, ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=installed or os.path.join(ROOT, ".cache", "collections"))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-t", "filter", "--json",
                           "sdn.egress." + name], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)["sdn.egress." + name]["doc"]
    text = json.dumps(doc)
    assert doc["name"] == name and says in text and not_says not in text


@pytest.mark.parametrize("vnid, kwargs, mark", [
    (14640467, {}, "0x1df6552"),          # egress-test2 in the seed notes, 0xdf6553
    ("7305526", {}, "0x6f7936"),          # egress-test, VNID as a string
    (3064846, {}, "0x2ec40e"),            # egress-test3
    (3064846, {"rule": "4.8"}, "0x102e440e"),
    (0, {}, "0xff000000"),
    (3064846, {"masquerade_bit": 1}, "0x12ec40c"),
])
def test_vnid_to_mark(vnid, kwargs, mark):
    assert FILTERS["vnid_to_mark"](vnid, **kwargs) == mark


def test_vnid_to_hex():
    assert FILTERS["vnid_to_hex"](3064846) == "0x2ec40e"
    assert FILTERS["vnid_to_hex"]("14640467") == "0xdf6553"


@pytest.mark.parametrize("name, args, message", [
    ("vnid_to_mark", (16777216,), "sdn.egress.vnid_to_mark: vnid: 16777216 is out of range 0..16777215"),
    ("vnid_to_mark", (1, "4.7"), "sdn.egress.vnid_to_mark: mark_rule: 4.7 is not one of 3.x, 4.8"),
    ("vnid_to_hex", ("egress",), "sdn.egress.vnid_to_hex: vnid: egress is not an integer"),
])
def test_errors_name_the_field(name, args, message):
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS[name](*args)
    assert message in str(err.value)
