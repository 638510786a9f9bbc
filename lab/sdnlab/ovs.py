"""One userspace Open vSwitch (ovsdb-server + ovs-vswitchd) per network namespace."""
import os
import signal
import time

from .netns import run

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def running(pid):
    """True while `pid` exists and is not a zombie (an exited daemon whose reaper is slow)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


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

    def add_sdn_bridge(self, bridge="br0", mtu=1450, layout="sdn3"):
        """br0 as openshift-sdn lays it out: vxlan0 = ofport 1, tun0 = ofport 2.

        layout "sdn48" (LAB ONLY, see sdn.py): tun0 is a patch port whose peer `shim0` (ofport 1)
        sits on the netdev bridge br-shim with the internal port `tun0gw` (ofport 2) that holds
        the gateway address in the kernel; tun0gw takes over tun0's mac_in_use, so what the SDN
        addresses to tun0's MAC is accepted by the kernel."""
        if layout == "sdn48":
            tun0 = ["type=patch", "options:peer=shim0", "ofport_request=2"]
        else:
            tun0 = ["type=internal", "ofport_request=2", "mtu_request=%d" % mtu]
        args = ["add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev",
                "protocols=OpenFlow13", "fail_mode=secure",
                "--", "add-port", bridge, "vxlan0", "--", "set", "interface", "vxlan0", "type=vxlan",
                "options:remote_ip=flow", "options:key=flow", "ofport_request=1",
                "--", "add-port", bridge, "tun0", "--", "set", "interface", "tun0"] + tun0
        if layout == "sdn48":
            args += ["--", "add-br", "br-shim", "--", "set", "bridge", "br-shim", "datapath_type=netdev",
                     "protocols=OpenFlow13", "fail_mode=secure",
                     "--", "add-port", "br-shim", "shim0", "--", "set", "interface", "shim0", "type=patch",
                     "options:peer=tun0", "ofport_request=1",
                     "--", "add-port", "br-shim", "tun0gw", "--", "set", "interface", "tun0gw", "type=internal",
                     "ofport_request=2", "mtu_request=%d" % mtu]
        self.vsctl(*args)
        if layout == "sdn48":
            self.vsctl("set", "interface", "tun0gw", 'mac="%s"' % self.mac_in_use("tun0"))
        return bridge

    def mac_in_use(self, ifname, timeout=10.0):
        """The interface's mac_in_use, waiting (bounded) for ovs-vswitchd to fill it in."""
        deadline = time.monotonic() + timeout
        while True:
            mac = self.vsctl("get", "interface", ifname, "mac_in_use").strip().strip('"')
            if mac and mac != "[]":
                return mac
            if time.monotonic() > deadline:
                raise RuntimeError("timed out after %.0fs waiting for the mac_in_use of %s" % (timeout, ifname))
            time.sleep(0.02)

    def vsctl(self, *args):
        return run(["ovs-vsctl", "--db=%s" % self.db, "--timeout=20"] + list(args), env=self.env).stdout

    def ofctl(self, *args, input=None):
        return run(["ovs-ofctl", "-O", "OpenFlow13"] + list(args), env=self.env, input=input).stdout

    def add_phy_bridge(self, uplink, bridge="br-phy"):
        """A netdev bridge (NORMAL switching) holding the uplink, so the node IP can sit on it and
        the userspace VXLAN finds its routes and ARP entries."""
        self.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev",
                   "--", "add-port", bridge, uplink)
        return bridge

    def pids(self):
        """{daemon: pid or None} from the pidfiles, None when the process is gone."""
        out = {}
        for daemon in ("ovsdb-server", "ovs-vswitchd"):
            out[daemon] = None
            try:
                with open(self._pidfile(daemon)) as f:
                    pid = int(f.read().strip())
                if running(pid):
                    out[daemon] = pid
            except (OSError, ValueError):
                pass
        return out

    def alive(self):
        return all(self.pids().values())

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
                if not running(pid):
                    break
                time.sleep(0.02)
            else:
                os.kill(pid, signal.SIGKILL)
