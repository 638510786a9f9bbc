"""What the built-in lab (sdnlab) and the OVN lab (ovnlab) share: processes stopped by the PID
in their pidfile, namespace clean-up and sysctls (procs.py), the API server stand-in's HTTP
plumbing (fakeapi.py)."""
