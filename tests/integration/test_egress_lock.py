"""egress_lock through ansible-playbook: one run holds a node, another waits or fails."""
import os
import threading


def lock_task(path, token, state="acquired", timeout=2.0, stale_after=3600):
    return {"name": "lock", "sdn.egress.egress_lock": {
        "path": path, "token": token, "state": state, "timeout": timeout, "stale_after": stale_after}}


def test_second_token_waits_then_fails_naming_holder(ansible, workdir):
    path = os.path.join(workdir, "node.lock")
    first = ansible([lock_task(path, "run-a")])
    assert first.rc == 0 and not first.changed, first
    assert open(os.path.join(path, "token")).read().strip() == "run-a"

    again = ansible([lock_task(path, "run-a")])
    assert again.rc == 0 and again.last["holder"] == "run-a", again

    second = ansible([lock_task(path, "run-b", timeout=0.5)])
    assert second.rc != 0, second
    assert "run-a" in second.last["msg"] and second.last["waited"] >= 0.5

    released = ansible([lock_task(path, "run-a", state="released")])
    assert released.rc == 0 and not os.path.exists(path), released
    taken = ansible([lock_task(path, "run-b")])
    assert taken.rc == 0 and open(os.path.join(path, "token")).read().strip() == "run-b"


def test_release_by_other_token_leaves_lock(ansible, workdir):
    path = os.path.join(workdir, "node.lock")
    assert ansible([lock_task(path, "run-a")]).rc == 0
    other = ansible([lock_task(path, "run-b", state="released")])
    assert other.rc == 0 and os.path.isdir(path), other
    assert any("run-a" in w for w in other.last.get("warnings", [])), other


def test_stale_lock_is_taken_over(ansible, workdir):
    path = os.path.join(workdir, "node.lock")
    assert ansible([lock_task(path, "run-dead")]).rc == 0
    os.utime(path, (1, 1))  # the holder died long ago
    res = ansible([lock_task(path, "run-b", stale_after=60)])
    assert res.rc == 0 and res.last["taken_over"] and res.last["holder"] == "run-dead", res


def test_check_mode_creates_nothing(ansible, workdir):
    path = os.path.join(workdir, "node.lock")
    res = ansible([lock_task(path, "run-a")], check=True)
    assert res.rc == 0 and not os.path.exists(path), res


def test_waiter_proceeds_when_holder_releases(ansible, workdir):
    """Run B blocks while A holds the lock and gets it as soon as A releases."""
    path = os.path.join(workdir, "node.lock")
    assert ansible([lock_task(path, "run-a")]).rc == 0
    box = {}
    waiter = threading.Thread(target=lambda: box.update(r=ansible([lock_task(path, "run-b", timeout=120)])))
    waiter.start()
    # B must still be waiting: the lock is A's until A lets go
    token_file = os.path.join(path, "token")
    assert open(token_file).read().strip() == "run-a"
    assert waiter.is_alive()
    assert ansible([lock_task(path, "run-a", state="released")]).rc == 0
    waiter.join(180)
    res = box["r"]
    assert res.rc == 0 and res.last["holder"] in ("", "run-a"), res
    assert open(token_file).read().strip() == "run-b"


def test_blocked_run_names_the_unlock_and_unlock_playbook_releases_only_that_token(ansible, playbook, workdir):
    path = os.path.join(workdir, "node.lock")
    assert ansible([lock_task(path, "run-dead")]).rc == 0
    blocked = ansible([lock_task(path, "run-b", timeout=0.3)])
    assert blocked.rc != 0 and "egress_unlock_token=run-dead" in blocked.last["msg"], blocked

    def unlock_playbook(*extra, check=False):
        return playbook("unlock.yml", {"egress_lock_path": path}, *extra, check=check)

    missing = unlock_playbook()
    assert missing.rc != 0 and "egress_unlock_token" in missing.failed[0]["msg"], missing
    assert os.path.isdir(path)

    wrong = unlock_playbook("egress_unlock_token=run-typo")
    assert wrong.rc == 0 and not wrong.changed and os.path.isdir(path), wrong
    assert any("run-dead" in w for w in wrong.last.get("warnings", [])), wrong

    checked = unlock_playbook("egress_unlock_token=run-dead", check=True)
    assert checked.rc == 0 and checked.changed and os.path.isdir(path), checked  # would release, did not

    done = unlock_playbook("egress_unlock_token=run-dead")
    assert done.rc == 0 and done.changed and done.last["released"] and not os.path.exists(path), done
    again = unlock_playbook("egress_unlock_token=run-dead")
    assert again.rc == 0 and not again.changed, again
    assert ansible([lock_task(path, "run-b", timeout=0.3)]).rc == 0


def test_waiter_whose_run_went_away_does_not_take_the_lock(ansible, workdir):
    """The module waits for run-a's lock with nobody reading its output (the connection of the
    run that asked is gone, as when a job is cancelled): it ends long before its timeout and
    never takes the lock, even once run-a lets go."""
    import json
    import subprocess
    import sys
    path = os.path.join(workdir, "node.lock")
    assert ansible([lock_task(path, "run-a")]).rc == 0
    args = os.path.join(workdir, "args.json")
    with open(args, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": {"path": path, "token": "run-b", "timeout": 120}}, f)
    module = os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "modules", "egress_lock.py")
    proc = subprocess.Popen([sys.executable, module, args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdout.close()  # the reader goes away
    assert proc.wait(timeout=60) != 0  # ended on its own, well before its 120 s timeout
    assert open(os.path.join(path, "token")).read().strip() == "run-a"
    assert ansible([lock_task(path, "run-a", state="released")]).rc == 0
    assert not os.path.exists(path)  # nobody took it for run-b


def test_a_run_says_which_run_holds_the_lock_before_waiting(ansible, playbook, workdir):
    """playbooks/egress.yml tries each node lock once without waiting; a held lock is named in a
    line of its own (holder, how long held, how long this run waits) before the run waits."""
    path = os.path.join(workdir, "node.lock")
    quick = ansible([lock_task(path, "run-free", timeout=0)])
    assert quick.rc == 0 and quick.last["waited"] < 0.5, quick   # a free lock: taken at once
    assert ansible([lock_task(path, "run-free", state="released")]).rc == 0

    assert ansible([lock_task(path, "run-holder")]).rc == 0
    tried = ansible([lock_task(path, "run-b", timeout=0)])
    assert tried.rc != 0 and tried.last["holder"] == "run-holder" and tried.last["held_for"] >= 0, tried

    blocked = playbook("egress.yml", {"egress_lock_path": path, "egress_lock_timeout": 0.5})
    assert blocked.rc != 0, blocked
    said = [r for r in blocked.results if r["task"].startswith("Say which run holds the node lock")]
    assert len(said) == 1 and "locked by egress run run-holder" in said[0]["msg"], blocked
    assert "waiting up to 0.5 s" in said[0]["msg"] and "egress_unlock_token=run-holder" in said[0]["msg"]
    waited = [r for r in blocked.results if r["task"].startswith("Lock the node against a concurrent run (waiting")]
    assert waited[0]["waited"] >= 0.5 and "run-holder" in waited[0]["msg"], blocked
    stopped = [r for r in blocked.failed if r["task"] == "Stop when a node could not be locked"]
    assert stopped and "run-holder" in stopped[0]["msg"], blocked
    assert open(os.path.join(path, "token")).read().strip() == "run-holder"  # never taken from its holder
