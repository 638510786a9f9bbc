# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/nodes.py's own arithmetic and options: variants, their environments, ssh master
accounting and the table rows (loaded from its path: it is a script, not part of the collection)."""
import importlib.util
import os

import pytest


@pytest.fixture(scope="module")
def nodes(bench_script):
    return bench_script("nodes")


def test_variants_default_to_default_only(nodes):
    assert nodes.parse_variants(None) == ["default"]
    assert nodes.parse_variants([]) == ["default"]
    assert nodes.parse_variants([","]) == ["default"]


def test_variants_keep_order_split_commas_and_drop_repeats(nodes):
    got = nodes.parse_variants(["mitogen", "default,no-pipelining", "mitogen", " no-controlpersist "])
    assert got == ["mitogen", "default", "no-pipelining", "no-controlpersist"]


def test_unknown_variant_is_named(nodes):
    with pytest.raises(ValueError, match="'mitogen_free'"):
        nodes.parse_variants(["default", "mitogen_free"])


def test_variant_environments(nodes):
    assert nodes.variant_env("default") == {}
    assert nodes.variant_env("no-pipelining") == {"ANSIBLE_PIPELINING": "False"}
    args = nodes.variant_env("no-controlpersist")["ANSIBLE_SSH_ARGS"].split()
    assert "ControlPersist" not in " ".join(args)
    assert "ControlPath=none" in args and "ControlMaster=no" in args
    env = nodes.variant_env("mitogen", "/x/ansible_mitogen/plugins/strategy")
    assert env == {"ANSIBLE_STRATEGY_PLUGINS": "/x/ansible_mitogen/plugins/strategy",
                   "ANSIBLE_STRATEGY": "mitogen_linear"}
    with pytest.raises(ValueError):
        nodes.variant_env("mitogen")
    with pytest.raises(ValueError):
        nodes.variant_env("fast")


def test_env_record_names_no_path_of_the_machine(nodes):
    env = nodes.variant_env("mitogen", "/opt/venv/lib/python3.11/site-packages/ansible_mitogen/plugins/strategy")
    assert nodes.env_record(env) == {"ANSIBLE_STRATEGY_PLUGINS": "<site-packages>/ansible_mitogen/plugins/strategy",
                                     "ANSIBLE_STRATEGY": "mitogen_linear"}
    assert nodes.env_record({"ANSIBLE_PIPELINING": "False"}) == {"ANSIBLE_PIPELINING": "False"}


def test_mitogen_strategy_dir_points_at_the_installed_plugin_or_says_how_to_install(nodes):
    if importlib.util.find_spec("ansible_mitogen") is None:
        with pytest.raises(RuntimeError, match="pip install mitogen=="):
            nodes.mitogen_strategy_dir()
        return
    path, version = nodes.mitogen_strategy_dir()
    assert os.path.isfile(os.path.join(path, "mitogen_linear.py"))
    assert version


# `ss -Htnp state established` on a controller with two ControlPersist masters to lab nodes, an ssh
# to another host, a second process sharing a master's socket, and a python client on port 22
SS = """\
0      0      203.0.113.129:41234 203.0.113.132:22 users:(("ssh",pid=4101,fd=3))
0      0      203.0.113.129:41240 203.0.113.131:22 users:(("ssh",pid=4102,fd=3),("ssh",pid=4110,fd=3))
0      0      192.0.2.7:50000 198.51.100.9:22 users:(("ssh",pid=4200,fd=3))
0      0      203.0.113.129:41250 203.0.113.133:22 users:(("python3",pid=4300,fd=7))
0      0      203.0.113.129:41260 203.0.113.132:2222 users:(("ssh",pid=4400,fd=3))
"""


def test_ssh_pids_are_those_connected_to_the_hosts_ssh_port(nodes):
    hosts = ["203.0.113.131", "203.0.113.132", "203.0.113.133"]
    assert nodes.ssh_pids_to(SS, hosts) == {4101, 4102, 4110}
    assert nodes.ssh_pids_to(SS, ["203.0.113.132"]) == {4101}
    assert nodes.ssh_pids_to(SS, ["203.0.113.13"]) == set()      # a prefix of an address is not it
    assert nodes.ssh_pids_to(SS, ["203.0.113.132"], port=2222) == {4400}
    assert nodes.ssh_pids_to("", hosts) == set()


def test_master_delta_counts_growth_and_new_masters_whole(nodes):
    assert nodes.master_delta({10: 5, 11: 7}, {10: 9, 12: 4}) == (9 - 5) + 4
    assert nodes.master_delta({10: 5}, {}) == 0


def run(seconds, ctl, master=None, rc=0, python3=8):
    r = {"seconds": seconds, "controller_cpu": ctl, "rc": rc, "log": "/l",
         "node_cpu": {"a": 1.0, "b": 3.0, "c": 2.0},
         "procs": {"a": {"python3": python3, "total": 14}, "b": {"python3": python3 + 2, "total": 18},
                   "c": {"python3": python3, "total": 15}}}
    if master is not None:
        r["ssh_master_cpu"] = master
    return r


def test_rows_of_a_variant_result_list_each_variant_then_the_lower_bound(nodes):
    res = {"variants": {"default": {"runs": {"cold": [run(3, 1)], "warm": [run(2, 1)], "check": [run(2, 1)]}},
                        "mitogen": {"runs": {"cold": [run(1, 1)]}}},
           "lower": [run(0.5, 0.1)]}
    rows = [(v, n, len(r)) for v, n, r in nodes.result_rows(res)]
    assert rows == [("default", "cold", 1), ("default", "warm", 1), ("default", "check", 1),
                    ("mitogen", "cold", 1), ("mitogen", "warm", 0), ("mitogen", "check", 0), ("-", "lower", 1)]


def test_rows_of_an_older_result_read_as_the_default_variant(nodes):
    res = {"runs": {"cold": [run(3, 1)], "warm": [run(2, 1)], "check": [run(2, 1)], "lower": [run(0.5, 0.1)]}}
    rows = [(v, n, r[0]["seconds"]) for v, n, r in nodes.result_rows(res)]
    assert rows == [("default", "cold", 3), ("default", "warm", 2), ("default", "check", 2), ("-", "lower", 0.5)]


def test_summary_line_medians_per_node_and_failed_runs_left_out(nodes):
    runs = [run(4.0, 6.0, 0.5), run(2.0, 3.0, 0.3), run(99.0, 99.0, rc=2)]
    line = nodes.summary_line(3, "mitogen", "warm", runs)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:3] == ["3", "mitogen", "warm"]
    assert float(cells[3]) == pytest.approx(3.0)                  # median wall of the two good runs
    assert cells[4] == "4.50 (1.500)"                             # controller CPU and per node
    assert float(cells[5]) == pytest.approx(0.4)
    assert cells[6] == "2.000, 3.000"                             # node CPU: median node, max node
    assert cells[7] == "8-10" and cells[8] == "14-18"
    assert nodes.summary_line(3, "x", "cold", [run(1, 1, rc=1)]) is None
    assert nodes.summary_line(3, "x", "cold", [run(1, 1)]).split("|")[6].strip() == "-"   # no master figure


def test_summary_names_failed_runs(nodes):
    record = {"3": {"lab": {"build_seconds": 1.0, "mem_available_drop_kib": 2048},
                    "variants": {"mitogen": {"runs": {"cold": [run(1, 1, rc=2)]}}}, "lower": []}}
    text = nodes.summary(record, 20)
    assert "K=3 mitogen cold: 1 failed run(s) (rc 2, log /l)" in text
    assert "| 3 | mitogen |" not in text


def test_fit_line_through_exact_and_noisy_points(nodes):
    assert nodes.fit_line([(10, 12.0), (40, 42.0)]) == pytest.approx((2.0, 1.0))
    fixed, per = nodes.fit_line([(10, 11.0), (10, 13.0), (40, 42.0)])
    assert per == pytest.approx(1.0 * 30 / 30, rel=0.05) and fixed == pytest.approx(2.0, abs=0.5)
    with pytest.raises(ValueError, match=r"\[10\]"):
        nodes.fit_line([(10, 1.0), (10, 2.0)])


def naive_run(size, seconds, ctl, rc=0):
    r = run(seconds, ctl, rc=rc)
    r["namespaces"] = size
    return r


def test_naive_at_extrapolates_on_the_measured_sizes_and_leaves_failed_runs_out(nodes):
    res = {"naive": [naive_run(10, 12.0, 5.0), naive_run(40, 42.0, 20.0), naive_run(40, 999.0, 999.0, rc=2)]}
    got = nodes.naive_at(res, 1000)
    assert got["seconds"] == pytest.approx(1002.0)
    assert got["controller_cpu"] == pytest.approx(500.0)
    assert (got["fixed"], got["per_namespace"], got["sizes"]) == (2.0, 1.0, [10, 40])
    assert nodes.naive_at({"naive": [naive_run(10, 12.0, 5.0)]}, 1000) is None
    assert nodes.naive_at({}, 1000) is None


def k_result(cold, warm, ctl_cold, ctl_warm, lower, naive=()):
    return {"variants": {"default": {"runs": {"cold": [run(cold, ctl_cold)], "warm": [run(warm, ctl_warm)],
                                              "check": [run(warm, ctl_warm)]}}},
            "lower": [run(lower, 0.1)], "naive": list(naive)}


def test_targets_name_each_figure_and_whether_it_is_met(nodes):
    record = {"3": k_result(5.0, 4.0, 6.0, 3.0, 0.5),
              "30": k_result(60.0, 40.0, 45.0, 30.0, 2.0, [naive_run(10, 12.0, 5.0), naive_run(40, 42.0, 20.0)])}
    lines = nodes.targets(record, 1000)
    assert lines[0] == "warm at K=3: 4.00 s against 3 x lower bound + 1 s = 2.50 s: not met (1.6x the bound)"
    assert lines[1] == "controller CPU per node, cold: K=3 2.000 s, K=30 1.500 s (ratio 0.75)"
    assert lines[2] == "controller CPU per node, warm: K=3 1.000 s, K=30 1.000 s (ratio 1.00)"
    assert lines[3].startswith("cold at K=30: 60.00 s; by-hand playbook at N=1000 extrapolated from N=10,40")
    assert lines[3].endswith("1002.0 s; 16.7x: not met")
    record["3"]["variants"]["default"]["runs"]["warm"] = [run(2.0, 3.0)]
    assert nodes.targets(record, 1000)[0].endswith(": met")
    record["3"]["floor"] = [run(1.5, 1.0), run(1.7, 1.0), run(1.6, 1.0)]
    assert nodes.targets(record, 1000)[1] == ("Ansible's floor at K=3 (one ping per node, bench/floor.yml): "
                                              "1.60 s; warm above it: 0.40 s")
    assert nodes.targets({}, 1000) == []


def test_rows_list_the_by_hand_runs_after_the_lower_bound(nodes):
    res = k_result(5.0, 4.0, 6.0, 3.0, 0.5, [naive_run(10, 12.0, 5.0), naive_run(40, 42.0, 20.0)])
    rows = [(v, n) for v, n, r in nodes.result_rows(res)]
    assert rows[-3:] == [("-", "lower"), ("by hand", "cold, N=10"), ("by hand", "cold, N=40")]
    res["floor"] = [run(1.5, 1.0)]
    assert [(v, n) for v, n, r in nodes.result_rows(res)][-4:-2] == [("-", "lower"), ("-", "floor")]
    assert "| by hand | cold, N=40 |" in nodes.summary_line(30, "by hand", "cold, N=40", res["naive"][1:])


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README_RUN = os.path.join(ROOT, "bench", "results", "nodes-2026-12-01T10-58-57.json")


def test_readme_many_nodes_table_is_the_stored_run(nodes):
    """The README's "Many nodes" rows and targets are what the stored run says (medians, per-node
    controller CPU, the by-hand extrapolation and the ratio), computed with nodes.py's own code."""
    import json
    with open(README_RUN) as handle:
        data = json.load(handle)
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    record, n = data["record"], data["meta"]["namespaces"]

    def med(runs, key="seconds"):
        return nodes.bench.med([r[key] for r in runs if r.get("rc") == 0])

    for k in ("3", "10", "30"):
        res = record[k]
        runs = res["variants"]["default"]["runs"]
        warm_cpu = sorted(nodes.bench.med([r["node_cpu"][node] for r in runs["warm"]])
                          for node in runs["warm"][0]["node_cpu"])
        naive = nodes.naive_at(res, n)
        row = "| %s | %.1f s | %.1f s | %.1f s | %.2f / %.2f s | %.2f s | 3 | %.2f s | %.2f s | %.0f s | %.0fx |" % (
            k, med(runs["cold"]), med(runs["warm"]), med(runs["check"]),
            med(runs["cold"], "controller_cpu") / int(k), med(runs["warm"], "controller_cpu") / int(k),
            warm_cpu[len(warm_cpu) // 2], med(res["lower"]), med(res["floor"]), naive["seconds"],
            naive["seconds"] / med(runs["cold"]))
        assert row in readme.splitlines(), row
    lines = nodes.targets(record, n)
    assert lines[0].startswith("warm at K=3: 6.42 s against 3 x lower bound + 1 s = 3.56 s: not met")
    assert "| warm run at K=3 within 3x the lower bound + 1 s | 6.4 s against 3.6 s | no |" in readme
    assert lines[-1].endswith("9131.4 s; 120.6x: met") and "| 121x (by hand extrapolated" in readme
