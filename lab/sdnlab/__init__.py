"""Building blocks of the sdn.egress lab: network namespaces and userspace Open vSwitch."""
