"""sdn.egress OVN lab: an OVN-Kubernetes-like cluster in network namespaces (lab/ovnlab.py)."""
