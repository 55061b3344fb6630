"""Test-only entry of a scaled mcp replica under host networking (compose.test-scale.yml).

The replicas of `scale: 3` are identical containers, but on the host's network each needs a port of its own. This
takes the first of PRYNAI_TEST_REPLICA_PORTS whose lock file (in a directory all replicas mount) it can lock, and
execs the real entry `prynai-mcp serve` on that port with the lock still held: the lock lives exactly as long as the
server process, so a replica that is killed frees its port for the container that replaces it.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

LOCKS = Path("/run/prynai-test-ports")


def claim_port(ports: list[str]) -> str:
    for port in ports:
        fd = os.open(LOCKS / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.set_inheritable(fd, True)  # kept open across exec, so the server process holds the lock
        return port
    raise SystemExit(f"no free port among {ports}")


def main() -> None:
    port = claim_port(os.environ["PRYNAI_TEST_REPLICA_PORTS"].split(","))
    os.environ["PRYNAI_PORT"] = port
    os.execvp("prynai-mcp", ["prynai-mcp", "serve", *sys.argv[1:]])


if __name__ == "__main__":
    main()
