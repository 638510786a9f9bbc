# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ipaddr against `ip -j addr show` outputs recorded from namespaces (tests/unit/fixtures/ip)."""
import os

import pytest
from netaddr import IPAddress, IPNetwork

from ansible_collections.sdn.egress.plugins.module_utils import ipaddr as nu
from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import ClaimError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "ip")


def load(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return nu.parse_ip_addr(f.read())


def by_name(interfaces):
    return dict((i["name"], i) for i in interfaces)


# parsing


def test_parse_two_nics():
    ifs = by_name(load("two_nics.json"))
    assert sorted(ifs) == ["ens18", "ens19", "lo"]
    ens18 = ifs["ens18"]
    assert ens18["mac"] == "3a:17:ed:19:8a:0e"
    assert ens18["link_type"] == "ether"
    assert ens18["up"] is True
    # IPv6 addresses are left out
    assert ens18["addresses"] == [{"address": "192.0.2.12", "prefix": 24, "label": "ens18", "secondary": False,
                                   "scope": "global", "interface": "ens18"}]
    assert ifs["lo"]["addresses"][0]["scope"] == "host"


def test_parse_labels_secondary_and_down_links():
    ifs = by_name(load("claimed.json"))
    ens19 = [(a["address"], a["prefix"], a["label"], a["secondary"]) for a in ifs["ens19"]["addresses"]]
    assert ens19 == [
        ("198.51.100.200", 24, "ens19", False),
        ("203.0.113.77", 32, "ens19:sdne", False),
        ("198.51.100.50", 24, "ens19:sdne", True),
        ("198.51.100.60", 24, "ens19:hand", True),
    ]
    assert ifs["dummy9"]["up"] is False
    assert ifs["eth0"]["addresses"][0]["prefix"] == 25


def test_parse_skips_filtered_links_and_rejects_garbage():
    assert nu.parse_ip_addr('[{}, {"ifname": "x", "addr_info": []}]')[0]["name"] == "x"
    with pytest.raises(ClaimError, match="cannot parse"):
        nu.parse_ip_addr("not json")
    with pytest.raises(ClaimError, match="expected a JSON list"):
        nu.parse_ip_addr("{}")


def test_owned_only_exact_label():
    assert nu.owned(load("claimed.json"), "sdne") == [
        {"address": "192.0.2.51", "interface": "ens18", "prefix": 24, "label": "ens18:sdne"},
        {"address": "198.51.100.50", "interface": "ens19", "prefix": 24, "label": "ens19:sdne"},
        {"address": "203.0.113.77", "interface": "ens19", "prefix": 32, "label": "ens19:sdne"},
    ]
    assert [e["address"] for e in nu.owned(load("claimed.json"), "eip")] == ["192.0.2.52"]


def test_local_networks_leave_out_secondary_host_scope_and_ours():
    nets = nu.local_networks(load("claimed.json"), "sdne")
    assert [str(n) for n in nets["ens19"]] == ["198.51.100.0/24"]  # not the /32 we claimed
    assert [str(n) for n in nets["ens18"]] == ["192.0.2.0/24"]
    assert nets["lo"] == []
    # without an owner everything primary counts
    assert [str(n) for n in nu.local_networks(load("claimed.json"), None)["ens19"]] == [
        "198.51.100.0/24", "203.0.113.77/32"]


# validation


@pytest.mark.parametrize("value", ["192.0.2.300", "192.0.2", "abc", "2001:db8::1", "192.0.2.1/24", "192.0.2.01"])
def test_validate_address_names_field_and_value(value):
    with pytest.raises(AddrError) as exc:
        nu.validate_address(value)
    assert str(exc.value) == "address: %s is not an IPv4 address" % value


def test_validate_address_shows_empty_and_control_characters_escaped():
    with pytest.raises(AddrError) as exc:
        nu.validate_address("")
    assert str(exc.value) == 'address: "" is not an IPv4 address'
    with pytest.raises(AddrError) as exc:
        nu.validate_address("192.0.2.1\nx")
    assert str(exc.value) == 'address: "192.0.2.1\\nx" is not an IPv4 address'


def test_validate_address_ignores_surrounding_blanks():
    assert nu.validate_address(" 192.0.2.1\t") == "192.0.2.1"


@pytest.mark.parametrize("value", ["0.0.0.0", "127.0.0.5", "224.0.0.1", "255.255.255.255"])
def test_validate_address_refuses_non_unicast(value):
    with pytest.raises(AddrError) as exc:
        nu.validate_address(value)
    assert str(exc.value) == "address: %s is not a unicast host address" % value


def test_validate_addresses_dedups_and_names_index():
    assert nu.validate_addresses(["192.0.2.50", "192.0.2.51", "192.0.2.50"]) == [
        "192.0.2.50", "192.0.2.51"]
    with pytest.raises(AddrError) as exc:
        nu.validate_addresses(["192.0.2.50", "x"])
    assert str(exc.value) == "addresses[1]: x is not an IPv4 address"


@pytest.mark.parametrize("value", [0, 33, -1, True])
def test_validate_prefix(value):
    with pytest.raises(AddrError) as exc:
        nu.validate_prefix(value)
    reason = "is not an integer" if value is True else "is out of range 1..32"
    assert str(exc.value) == "prefix: %s %s" % (str(value).lower(), reason)
    assert nu.validate_prefix(32) == 32


@pytest.mark.parametrize("value", ["", "eth0:1", "a b", "x/y", "sixteencharsname", ".."])
def test_validate_ifname(value):
    with pytest.raises(ClaimError, match="interface: "):
        nu.validate_ifname(value)


@pytest.mark.parametrize("value", ["", "with space", "a:b", "fourteenchars_"])
def test_validate_suffix(value):
    with pytest.raises(ClaimError, match="label_suffix: "):
        nu.validate_suffix(value)


def test_make_label_limit():
    assert nu.make_label("eth1", "sdne") == "eth1:sdne"
    assert nu.make_label("eth1", "x" * 10) == "eth1:xxxxxxxxxx"  # exactly 15
    with pytest.raises(ClaimError) as exc:
        nu.make_label("verylongifname0", "sdne")
    assert str(exc.value) == ("label_suffix: 'sdne' does not fit on interface verylongifname0: the label "
                              "'verylongifname0:sdne' has 20 characters, labels start with the interface name "
                              "and have at most 15")


# interface / prefix choice


def test_second_interface_is_chosen_with_its_prefix():
    ifs = load("two_nics.json")
    assert nu.choose_interface(ifs, "198.51.100.50", "sdne") == ("ens19", 24)
    assert nu.choose_interface(ifs, "192.0.2.50", "sdne") == ("ens18", 24)
    assert nu.choose_interface(load("long_name.json"), "198.51.100.50", "sdne") == ("eth1", 24)


def test_outside_every_network_is_refused():
    with pytest.raises(ClaimError) as exc:
        nu.choose_interface(load("two_nics.json"), "203.0.113.5", "sdne")
    assert str(exc.value) == (
        "address: 203.0.113.5 is not in the local network of any interface (networks: ens18 192.0.2.0/24, "
        "ens19 198.51.100.0/24); set interface and prefix to claim it anyway")
    # a prefix alone is not enough
    with pytest.raises(ClaimError, match="not in the local network of any interface"):
        nu.choose_interface(load("two_nics.json"), "203.0.113.5", "sdne", prefix=32)


def test_explicit_interface():
    ifs = load("two_nics.json")
    with pytest.raises(ClaimError) as exc:
        nu.choose_interface(ifs, "192.0.2.50", "sdne", interface="ens19")
    assert str(exc.value) == ("address: 192.0.2.50 is not in local network ens19 198.51.100.0/24 of interface "
                              "ens19; set prefix (with interface) to claim it there anyway")
    assert nu.choose_interface(ifs, "203.0.113.5", "sdne", interface="ens19", prefix=32) == ("ens19", 32)
    assert nu.choose_interface(ifs, "198.51.100.9", "sdne", interface="ens19") == ("ens19", 24)
    with pytest.raises(ClaimError, match=r"interface: 'eth7' does not exist on this host \(interfaces: ens18, "):
        nu.choose_interface(ifs, "198.51.100.9", "sdne", interface="eth7")


def test_ambiguous_networks_ask_for_interface():
    ifs = load("claimed.json")  # ens18 192.0.2.0/24 and eth0 192.0.2.128/25
    with pytest.raises(ClaimError) as exc:
        nu.choose_interface(ifs, "192.0.2.200", "sdne")
    assert str(exc.value) == ("address: 192.0.2.200 is in the local networks of several interfaces "
                              "(ens18 192.0.2.0/24, eth0 192.0.2.128/25); set interface to choose one")
    assert nu.choose_interface(ifs, "192.0.2.200", "sdne", interface="eth0") == ("eth0", 25)
    assert nu.choose_interface(ifs, "192.0.2.20", "sdne") == ("ens18", 24)


# planning


def claim(address, interface, prefix, label=None):
    return {"address": address, "interface": interface, "prefix": prefix, "label": label or interface + ":sdne"}


def test_plan_present_claims_on_second_interface():
    out = nu.plan(load("two_nics.json"), ["198.51.100.50", "192.0.2.50"], "present", "sdne", node_ip="192.0.2.12")
    assert out == {"release": [], "claim": [claim("198.51.100.50", "ens19", 24), claim("192.0.2.50", "ens18", 24)],
                   "warnings": []}


def test_plan_present_is_idempotent_and_accepts_foreign_labels():
    ifs = load("claimed.json")
    # ours, a hand-added one and one labelled by openshift-sdn: all already there
    out = nu.plan(ifs, ["198.51.100.50", "198.51.100.60", "192.0.2.52", "203.0.113.77"], "present", "sdne")
    assert out == {"release": [], "claim": [], "warnings": []}


def test_plan_refuses_node_ip_in_any_state():
    for state in ("present", "absent", "overridden"):
        with pytest.raises(ClaimError) as exc:
            nu.plan(load("two_nics.json"), ["192.0.2.50", "192.0.2.12"], state, "sdne", node_ip="192.0.2.12")
        assert str(exc.value) == "address: 192.0.2.12 is refused: desired egress IP is the node IP (node_ip)"


def test_plan_refuses_address_on_another_interface():
    with pytest.raises(ClaimError) as exc:
        nu.plan(load("claimed.json"), ["198.51.100.60"], "present", "sdne", interface="ens18", prefix=32)
    assert str(exc.value) == ("address: 198.51.100.60 is already configured on interface ens19 (label ens19:hand), "
                              "not on the requested interface ens18; remove it there first or request interface "
                              "ens19")


def test_plan_moves_our_own_address_to_the_requested_interface():
    out = nu.plan(load("claimed.json"), ["198.51.100.50"], "present", "sdne", interface="eth0", prefix=32)
    assert out["release"] == [claim("198.51.100.50", "ens19", 24)]
    assert out["claim"] == [claim("198.51.100.50", "eth0", 32)]


def test_plan_replaces_our_address_with_another_prefix_only_when_asked():
    ifs = load("claimed.json")
    assert nu.plan(ifs, ["203.0.113.77"], "present", "sdne")["claim"] == []
    out = nu.plan(ifs, ["203.0.113.77"], "present", "sdne", prefix=31)
    assert out["release"] == [claim("203.0.113.77", "ens19", 32)]
    assert out["claim"] == [claim("203.0.113.77", "ens19", 31)]
    # a foreign address is never replaced
    assert nu.plan(ifs, ["198.51.100.60"], "present", "sdne", prefix=32) == {"release": [], "claim": [],
                                                                             "warnings": []}


def test_plan_overridden_releases_only_our_unlisted_addresses():
    out = nu.plan(load("claimed.json"), ["198.51.100.50", "198.51.100.51"], "overridden", "sdne")
    assert out["release"] == [claim("192.0.2.51", "ens18", 24), claim("203.0.113.77", "ens19", 32)]
    assert out["claim"] == [claim("198.51.100.51", "ens19", 24)]
    everything = nu.plan(load("claimed.json"), [], "overridden", "sdne")
    assert [e["address"] for e in everything["release"]] == ["192.0.2.51", "198.51.100.50", "203.0.113.77"]
    assert everything["claim"] == []


def test_plan_absent_releases_ours_and_warns_about_foreign():
    out = nu.plan(load("claimed.json"), ["198.51.100.50", "198.51.100.60", "198.51.100.99"], "absent", "sdne")
    assert out["release"] == [claim("198.51.100.50", "ens19", 24)]
    assert out["claim"] == []
    assert out["warnings"] == ["address 198.51.100.60 on ens19 has label ens19:hand, not ens19:sdne; left in place"]


def test_plan_fails_whole_when_one_label_cannot_fit():
    with pytest.raises(ClaimError, match="label_suffix: 'sdne' does not fit on interface verylongifname0"):
        nu.plan(load("long_name.json"), ["198.51.100.50", "203.0.113.50"], "present", "sdne")
    # a 15-character interface name leaves no room for any label suffix
    with pytest.raises(ClaimError, match="the label 'verylongifname0:e' has 17 characters"):
        nu.plan(load("long_name.json"), ["203.0.113.50"], "present", "e")
    assert nu.plan(load("long_name.json"), ["198.51.100.50"], "present", "e")["claim"] == [
        claim("198.51.100.50", "eth1", 24, "eth1:e")]


@pytest.mark.parametrize("address,msg", [("198.51.100.0", "network address of 198.51.100.0/24"),
                                         ("198.51.100.255", "broadcast address of 198.51.100.0/24")])
def test_plan_refuses_network_and_broadcast(address, msg):
    with pytest.raises(ClaimError, match="address: %s is the %s" % (address, msg)):
        nu.plan(load("two_nics.json"), [address], "present", "sdne")


def test_predict_render_and_batch_lines():
    ifs = load("claimed.json")
    before = nu.owned(ifs, "sdne")
    changes = nu.plan(ifs, ["198.51.100.51"], "overridden", "sdne")
    after = nu.predict(before, changes)
    assert after == [claim("198.51.100.51", "ens19", 24)]
    assert nu.render(after) == "198.51.100.51/24 dev ens19 label ens19:sdne\n"
    assert nu.add_line(after[0]) == "addr add 198.51.100.51/24 dev ens19 label ens19:sdne"
    assert nu.del_line(before[0]) == "addr del 192.0.2.51/24 dev ens18"
    # the report reads the claims back from the lines
    assert nu.parse_batch_line(nu.add_line(after[0])) == after[0]
    assert nu.parse_batch_line(nu.del_line(before[0])) is None
    assert nu.parse_batch_line("addr add 198.51.100.51/x dev ens19 label ens19:sdne") is None


def test_local_networks_find_the_same_networks_as_a_scan():
    """LocalNetworks.holding (a lookup per prefix length) answers what testing every network
    answers, in the same order, over random interfaces, overlapping networks and addresses."""
    import random

    rng = random.Random(5227)

    def some_address():
        return "%d.%d.%d.%d" % (rng.choice([10, 192, 198]), rng.randint(0, 3), rng.randint(0, 3), rng.randint(0, 255))

    for dummy in range(200):
        nets = nu.LocalNetworks()
        for index in range(rng.randint(1, 6)):
            nets["if%d" % index] = [IPNetwork("%s/%d" % (some_address(), length)).cidr
                                    for length in rng.sample(range(8, 33), rng.randint(0, 4))]
        for dummy2 in range(40):
            ip = IPAddress(some_address())
            scanned = dict((name, [net for net in networks if ip in net]) for name, networks in nets.items())
            scanned = dict((name, found) for name, found in scanned.items() if found)
            held = nets.holding(ip)
            assert held == scanned
            assert list(held) == list(scanned)
