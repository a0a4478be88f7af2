"""The capacity load generator (`make bench-capacity`): paced LPProto sessions against `vigil run`."""
