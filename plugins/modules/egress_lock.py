#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: egress_lock
short_description: Keep two egress runs from interleaving their changes on one node
version_added: 0.1.0
description:
  - Takes or gives back a per-node lock (a directory created atomically with C(mkdir)) that
    holds the token of the run that owns it.
  - A run that finds the lock held by another token waits up to O(timeout) seconds, then fails
    naming the holder. A lock older than O(stale_after) seconds is taken over (its holder died).
  - Taking the lock again with the same token succeeds, so a playbook may retry.
  - The lock is bookkeeping, not dataplane state, so this module never reports C(changed).
  - In check mode the lock is not created; the module only waits until no other run holds it.
author:
  - sdn.egress developers (@sdn-egress)
options:
  path:
    description: Lock directory on the node.
    type: path
    default: /run/lock/sdn-egress.lock
  token:
    description:
      - Identifies the run that holds the lock; use one value per playbook run.
      - It is not a secret; it is returned and shown in messages naming the holder.
    type: str
    required: true
  state:
    description: C(acquired) takes the lock, C(released) gives it back if this token holds it.
    type: str
    choices: [acquired, released]
    default: acquired
  timeout:
    description:
      - Seconds to wait for another run's lock.
      - A waiter stops early, without taking the lock, when the run that asked for it is gone
        (its output closed, for example a cancelled job), so that no lock is taken for a dead run.
    type: float
    default: 300
  stale_after:
    description: Seconds after which a held lock is considered abandoned and taken over.
    type: float
    default: 3600
attributes:
  check_mode:
    support: full
    description: The lock is not created; the module only waits until no other run holds it.
  diff_mode:
    support: none
    description: The lock is bookkeeping, not dataplane state; there is no diff.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
"""

EXAMPLES = r"""
- name: Lock the node for this run
  sdn.egress.egress_lock:
    token: "{{ egress_run_token }}"

- name: Give the lock back
  sdn.egress.egress_lock:
    token: "{{ egress_run_token }}"
    state: released

- name: Remove the locks a killed run left behind (its token is named by the run that waited for it)
  sdn.egress.egress_lock:
    token: 20261127T223041-1234567
    state: released
  register: unlock
  changed_when: unlock.released
"""

RETURN = r"""
holder:
  description: Token that held the lock before this call, if any.
  returned: always
  type: str
  sample: "20261124T013000-5b1f"
waited:
  description: Seconds spent waiting for another run.
  returned: always
  type: float
  sample: 0.0
taken_over:
  description: Whether an abandoned (stale) lock was taken over.
  returned: always
  type: bool
held_for:
  description:
    - When the lock could not be taken within O(timeout), for how many seconds its holder has
      held it. With O(timeout=0) a playbook can try once, say who holds the lock, then wait.
  returned: failure, when another run holds the lock
  type: float
  sample: 12.5
released:
  description:
    - With O(state=released), whether the lock was held by O(token) and removed (in check mode,
      whether it would be). A lock held by another token is left in place with a warning.
  returned: always
  type: bool
"""

import errno
import os
import select
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

POLL = 0.25


def read_holder(path):
    try:
        with open(os.path.join(path, "token")) as f:
            return f.read().strip()
    except (IOError, OSError):
        return ""


def lock_age(path):
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0


def try_create(path, token):
    try:
        os.mkdir(path, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
        return False
    with open(os.path.join(path, "token"), "w") as f:
        f.write(token + "\n")
    return True


def caller_gone(fd=1):
    """True when nobody reads our output any more: the run that asked for the lock ended (its
    connection closed, say a cancelled job) while we were waiting. A waiter that went on would
    take the lock for a run that no longer exists and hold it until it turns stale."""
    try:
        poller = select.poll()
        poller.register(fd, 0)  # POLLERR, POLLHUP and POLLNVAL are reported whatever is asked for
        return any(events & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for dummy, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def acquire(module, path, token, timeout, stale_after):
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent) and not module.check_mode:
        os.makedirs(parent, 0o755)
    start = time.monotonic()
    holder, taken_over = "", False
    while True:
        current = read_holder(path) if os.path.isdir(path) else ""
        holder = holder or current
        if current == token:
            break
        if os.path.isdir(path) and lock_age(path) > stale_after:
            if module.check_mode:
                break
            shutil.rmtree(path, ignore_errors=True)
            taken_over = True
            continue
        if not os.path.isdir(path):
            if module.check_mode or try_create(path, token):
                break
            continue
        waited = time.monotonic() - start
        if waited >= timeout:
            module.fail_json(msg="node is locked by another egress run (token %s) for %.0f s; waited %.1f s. "
                                 "If that run is dead, release its locks with state=released and its token "
                                 "(playbooks/unlock.yml -e egress_unlock_token=%s), or wait until the lock is "
                                 "older than stale_after (%.0f s)"
                             % (current or "unknown", lock_age(path), waited, current or "TOKEN", stale_after),
                             holder=current, waited=waited, taken_over=False, released=False,
                             held_for=round(lock_age(path), 1))
        if caller_gone():
            module.fail_json(msg="the run waiting for this lock went away (its output is closed); not taking the lock",
                             holder=current, waited=waited, taken_over=False, released=False)
        time.sleep(POLL)
    return dict(changed=False, holder=holder, waited=round(time.monotonic() - start, 3), taken_over=taken_over,
                released=False)


def release(module, path, token):
    holder = read_holder(path) if os.path.isdir(path) else ""
    if holder == token and not module.check_mode:
        shutil.rmtree(path)
    elif holder and holder != token:
        module.warn("lock %s is held by another run (token %s); left in place" % (path, holder))
    return dict(changed=False, holder=holder, waited=0.0, taken_over=False, released=bool(holder) and holder == token)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/run/lock/sdn-egress.lock"),
            token=dict(type="str", required=True, no_log=False),
            state=dict(type="str", choices=["acquired", "released"], default="acquired"),
            timeout=dict(type="float", default=300),
            stale_after=dict(type="float", default=3600),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["token"].strip() or "\n" in p["token"]:
        module.fail_json(msg="token: %r must be a non-empty single line" % p["token"])
    if p["state"] == "acquired":
        result = acquire(module, p["path"], p["token"].strip(), p["timeout"], p["stale_after"])
    else:
        result = release(module, p["path"], p["token"].strip())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
