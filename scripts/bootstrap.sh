#!/usr/bin/env bash
# Prepare a fresh Debian machine for the demo and the tests:
#   1. Debian packages (Open vSwitch, iptables both backends, iproute2, ethtool, sshd, and
#      python3-netaddr: the lab's nodes run the modules with the system Python)
#   2. a venv in .venv with the pinned Python requirements
#   3. the collections sdn.egress depends on, in .cache/collections, from Galaxy when it
#      answers, otherwise extracted from the last `ansible` PyPI wheel that bundles them;
#      awx.awx (playbooks/awx_setup.yml) from the `ansible` 12 wheel
# Re-running is cheap: each step is skipped when its result is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

PY=${PYTHON:-python3}
VENV=.venv
COLL=.cache/collections
WHEEL_VERSION=10.7.0   # an `ansible` release that bundles kubernetes.core and ansible.posix
NEEDED="kubernetes/core ansible/posix"  # posix: the benchmark's profile_tasks callback
AWX_WHEEL_VERSION=12.3.0  # bundles awx.awx 24.6.1
# graphviz: the report's SVG/PNG picture on the controller
DEBS="graphviz python3-netaddr nftables openvswitch-switch openvswitch-common iptables iproute2 ethtool tcpdump openssh-server openssh-client make procps python3-venv rsync"

need_debs=""
for p in $DEBS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_debs="$need_debs $p"
done
if [ -n "$need_debs" ]; then
  echo "bootstrap: installing Debian packages:$need_debs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need_debs >/dev/null
fi
# OVN (the OVN lab runs its own NB/SB ovsdb-server, ovn-northd and ovn-controller): the packages
# start system services on install; a temporary policy-rc.d (only when there is none) stops that
ovn_debs=""
for p in ovn-central ovn-host ovn-common; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || ovn_debs="$ovn_debs $p"
done
if [ -n "$ovn_debs" ]; then
  echo "bootstrap: installing Debian packages (no services started):$ovn_debs"
  export DEBIAN_FRONTEND=noninteractive
  [ -n "$need_debs" ] || apt-get update -qq
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $ovn_debs >/dev/null || { [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

stamp=$VENV/.requirements.sha
want=$(sha256sum requirements/python.txt | cut -d' ' -f1)
if [ ! -x $VENV/bin/python ] || [ "$(cat $stamp 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating $VENV"
  $PY -m venv $VENV
  $VENV/bin/pip install -q --disable-pip-version-check -r requirements/python.txt
  echo "$want" > $stamp
fi

mkdir -p $COLL/ansible_collections/sdn
missing=""
for c in $NEEDED; do
  [ -f "$COLL/ansible_collections/$c/MANIFEST.json" ] || missing="$missing $c"
done
if [ -n "$missing" ]; then
  echo "bootstrap: fetching collections:$missing"
  if ! timeout 60 $VENV/bin/ansible-galaxy collection install -r requirements.yml -p $COLL >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    $VENV/bin/pip download -q --disable-pip-version-check --no-deps "ansible==$WHEEL_VERSION" -d "$tmp"
    # shellcheck disable=SC2086
    $VENV/bin/python scripts/extract_collections.py "$tmp"/ansible-$WHEEL_VERSION-*.whl $COLL $NEEDED
    rm -rf "$tmp"
  fi
fi
if [ ! -f "$COLL/ansible_collections/awx/awx/MANIFEST.json" ]; then
  echo "bootstrap: fetching collections: awx/awx"
  if ! timeout 60 $VENV/bin/ansible-galaxy collection install "awx.awx==24.6.1" -p $COLL >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    $VENV/bin/pip download -q --disable-pip-version-check --no-deps "ansible==$AWX_WHEEL_VERSION" -d "$tmp"
    $VENV/bin/python scripts/extract_collections.py "$tmp"/ansible-$AWX_WHEEL_VERSION-*.whl $COLL awx/awx
    rm -rf "$tmp"
  fi
fi
# ansible-test sanity bootstraps pip in its venvs with a script from outside PyPI; give it ours
pip_ver=$(sed -n "s/^ *pip='\([0-9.]*\)',$/\1/p" $VENV/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -n1)
getpip="$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py"
[ -f "$getpip" ] || { mkdir -p "$(dirname "$getpip")"; cp scripts/get_pip_offline.py "$getpip"; }

# this checkout is the sdn.egress collection
ln -sfn ../../../.. $COLL/ansible_collections/sdn/egress
echo "bootstrap: ready"
