"""A second host on this machine: a Linux network namespace joined to this one by a veth pair.

Processes started with :attr:`SecondHost.prefix` see only their own loopback and the veth: they
reach the first host (this namespace) at :attr:`SecondHost.local_address` and nothing else, as a
worker on another machine reaches Redis over the network. Needs root (CI runs as root) and
Debian's iproute2 (``ip``). Each instance has its own names and /30, so parallel runs do not clash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from types import TracebackType

# 10.213.0.0/16 holds 16,384 /30 subnets; a process picks one by its pid.
SUBNET_BASE = (10, 213)


def can_make_hosts() -> str | None:
    """None when this machine can run :class:`SecondHost`, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is missing"
    return None


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class SecondHost:
    tag: str = ""

    def __post_init__(self) -> None:
        slot = (os.getpid() * 7 + len(self.tag)) % 16_384
        third, fourth = divmod(slot * 4, 256)
        subnet = f"{SUBNET_BASE[0]}.{SUBNET_BASE[1]}.{third}"
        self.local_address, self.remote_address = f"{subnet}.{fourth + 1}", f"{subnet}.{fourth + 2}"
        suffix = f"{os.getpid() % 100_000}{self.tag}"[:9]  # interface names: 15 characters at most
        self.namespace, self.local_link, self.remote_link = f"vigil-{suffix}", f"vga{suffix}", f"vgb{suffix}"

    @property
    def prefix(self) -> tuple[str, ...]:
        """Run a command on the second host: ``[*host.prefix, program, ...]`` (it execs: same pid)."""
        return ("ip", "netns", "exec", self.namespace)

    def __enter__(self) -> SecondHost:
        ip("netns", "add", self.namespace)
        try:
            ip("link", "add", self.local_link, "type", "veth", "peer", "name", self.remote_link)
            ip("link", "set", self.remote_link, "netns", self.namespace)
            ip("addr", "add", f"{self.local_address}/30", "dev", self.local_link)
            ip("link", "set", self.local_link, "up")
            ip("netns", "exec", self.namespace, "ip", "addr", "add", f"{self.remote_address}/30", "dev",
               self.remote_link)
            ip("netns", "exec", self.namespace, "ip", "link", "set", self.remote_link, "up")
            ip("netns", "exec", self.namespace, "ip", "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            self.remove()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.remove()

    def cut(self) -> None:
        """Take the link down: the second host drops off the network (no reset reaches anyone)."""
        ip("link", "set", self.local_link, "down")

    def remove(self) -> None:
        # Deleting the namespace deletes its end of the pair, and with it ours; both are tried so
        # that a half-made host is cleaned up too.
        for args in (("netns", "del", self.namespace), ("link", "del", self.local_link)):
            with contextlib.suppress(subprocess.CalledProcessError):  # already gone: the other removed it
                ip(*args)
