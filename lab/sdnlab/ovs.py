"""One userspace Open vSwitch (ovsdb-server + ovs-vswitchd) per network namespace."""
import os
import signal
import time

from .netns import run

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


class Ovs:
    """An OVS instance living in `netns`, with its run/db/log directory `rundir`."""

    def __init__(self, netns, rundir):
        self.netns = netns
        self.rundir = rundir
        self.db = "unix:%s/db.sock" % rundir
        self.env = dict(os.environ, OVS_RUNDIR=rundir, OVS_DBDIR=rundir, OVS_LOGDIR=rundir)

    def _pidfile(self, daemon):
        return os.path.join(self.rundir, "%s.pid" % daemon)

    def start(self):
        os.makedirs(self.rundir, exist_ok=True)
        conf = os.path.join(self.rundir, "conf.db")
        if os.path.exists(conf):
            os.unlink(conf)
        run(["ovsdb-tool", "create", conf, SCHEMA], env=self.env)
        self.netns.run(["ovsdb-server", conf, "--remote=punix:%s/db.sock" % self.rundir,
                        "--pidfile=%s" % self._pidfile("ovsdb-server"),
                        "--log-file=%s/ovsdb-server.log" % self.rundir, "--detach", "-vconsole:off"],
                       env=self.env)
        self.vsctl("--no-wait", "init")
        self.netns.run(["ovs-vswitchd", self.db, "--pidfile=%s" % self._pidfile("ovs-vswitchd"),
                        "--log-file=%s/ovs-vswitchd.log" % self.rundir, "--detach", "-vconsole:off"],
                       env=self.env)
        return self

    def add_sdn_bridge(self, bridge="br0", mtu=1450):
        """br0 as openshift-sdn lays it out: vxlan0 = ofport 1, tun0 = ofport 2."""
        self.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev",
                   "protocols=OpenFlow13", "fail_mode=secure",
                   "--", "add-port", bridge, "vxlan0", "--", "set", "interface", "vxlan0", "type=vxlan",
                   "options:remote_ip=flow", "options:key=flow", "ofport_request=1",
                   "--", "add-port", bridge, "tun0", "--", "set", "interface", "tun0", "type=internal",
                   "ofport_request=2", "mtu_request=%d" % mtu)
        return bridge

    def vsctl(self, *args):
        return run(["ovs-vsctl", "--db=%s" % self.db, "--timeout=20"] + list(args), env=self.env).stdout

    def ofctl(self, *args):
        return run(["ovs-ofctl", "-O", "OpenFlow13"] + list(args), env=self.env).stdout

    def appctl(self, *args):
        return run(["ovs-appctl"] + list(args), env=self.env).stdout

    def stop(self, timeout=10.0):
        """Stop both daemons by the PIDs in their pidfiles."""
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            path = self._pidfile(daemon)
            try:
                with open(path) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
