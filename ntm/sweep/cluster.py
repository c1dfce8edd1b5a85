"""Running cells on a Ray cluster (``ntm sweep --address``): each cell one Ray task running the
same `ntm.sweep.local.run_cell` as a local sweep, into the same run directories; only the
scheduling differs. The cluster's nodes must share the sweep's filesystem (OUT and the recipes at
the same paths everywhere) and have this package installed; a cluster without a shared filesystem
is not supported.

Ray (https://docs.ray.io) is the optional ``cluster`` extra: ``pip install -e '.[cluster]'``. A
task whose worker process or node dies is run again by Ray (`RETRIES` times), and `run_cell`
resumes the cell from its checkpoint, so no cell is lost and none runs twice to completion.
"""

from __future__ import annotations

import logging
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ntm.errors import ClusterError

RETRIES = 3               # a cell whose worker or node dies runs again (resuming) at most this many times
CONNECT_TIMEOUT = 3.0     # seconds for the TCP check of HOST:PORT (ray.init itself would retry for a minute)
_NO_HOST = ("auto", "local")


def _import_ray():
    """The `ray` module.

    Raises:
        ClusterError: Ray is not installed (names the extra that brings it).
    """
    try:
        import ray
    except ImportError:
        raise ClusterError("--address needs Ray: install the cluster extra: pip install -e '.[cluster]'") from None
    return ray


def host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``HOST:PORT`` or ``ray://HOST:PORT``; None for ``auto`` and ``local``.

    Raises:
        ClusterError: anything else (no port, a port that is not an integer in 1-65535).
    """
    if address in _NO_HOST:
        return None
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"--address {address!r}: expected HOST:PORT, ray://HOST:PORT, auto or local")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Open (and close) a TCP connection to the address's host and port, so that an unreachable
    address fails in `timeout` seconds; ``auto`` and ``local`` are not checked here.

    Raises:
        ClusterError: a malformed address, or nothing answers at it.
    """
    hp = host_port(address)
    if hp is None:
        return
    try:
        socket.create_connection(hp, timeout=timeout).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ClusterError(f"--address {address}: cannot reach {hp[0]}:{hp[1]} ({reason}); "
                           "is a Ray head running there (`ray start --head`)?") from None


@contextmanager
def connected(address: str) -> Iterator[object]:
    """Ray, connected to the cluster at `address` for the with-block (``local`` starts one in this
    process), and disconnected after it. A connection this process already holds is used as it
    is and left open.

    Raises:
        ClusterError: a malformed or unreachable address, Ray not installed, or ray.init could not
            connect (its ConnectionError or TimeoutError, in one line).
    """
    host_port(address)                  # the address's form first (no network), then Ray itself,
    ray = _import_ray()                 # without which no address can work, then the network
    check_reachable(address)
    if ray.is_initialized():
        yield ray
        return
    extra = {"include_dashboard": False} if address == "local" else {}
    try:
        # the cells log to RUN/sweep.log; the workers' output would tear the progress bar
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, **extra)
    except (ConnectionError, TimeoutError) as e:
        raise ClusterError(f"--address {address}: Ray could not connect: {' '.join(str(e).split())}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _resources(cfg) -> dict:
    """The Ray resources of a cell: the CPU threads it runs (kernel_threads, torch threads), a GPU
    when its device is cuda."""
    cpus = max(cfg.kernel_threads or 1, cfg.threads or 1)
    return {"num_cpus": cpus, "num_gpus": 1 if cfg.device == "cuda" else 0}


def _error(ray, ref) -> str | None:
    """None if the cell's task ended well, else its one-line error."""
    from ntm.sweep.local import one_line
    try:
        ray.get(ref)
        return None
    except ray.exceptions.RayTaskError as e:          # the cell raised: its own error, as locally
        return one_line(e.cause)
    except ray.exceptions.RayError as e:              # its worker or node died RETRIES + 1 times
        return f"{one_line(e)} (after {RETRIES} retries); run the sweep again to resume this cell"


def _running(ray, pending: int) -> int:
    """Cells running now, as far as the cluster's CPUs in use tell (cells take one CPU by default)."""
    used = ray.cluster_resources().get("CPU", 0) - ray.available_resources().get("CPU", 0)
    return min(pending, max(0, int(round(used))))


def run_cells_ray(jobs: list[tuple[str, object, Path]], on_done: Callable[[str], str | None], *,
                  progress: bool = True) -> dict[str, str]:
    """Run every (name, cfg, run_dir) job as a Ray task on the connected cluster (see `connected`);
    `on_done(name)` is called in this process when a cell finishes and returns an error message
    or None. A task whose worker or node dies is retried `RETRIES` times (resuming the cell); an
    exception the cell raises is not retried (it would be raised again) and fails the cell.

    Returns:
        {cell name: one-line error} of the cells that failed (the others finished).
    """
    import ray

    from ntm.sweep.local import Tally, run_cell
    task = ray.remote(max_retries=RETRIES, retry_exceptions=False)(run_cell)
    names = {task.options(**_resources(cfg)).remote(cfg, str(run_dir)): name for name, cfg, run_dir in jobs}
    tally = Tally(len(jobs), on_done, progress)
    pending = list(names)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in ready:
                tally.finish(names[ref], _error(ray, ref))
            tally.show(_running(ray, len(pending)))
        return tally.failed
    finally:
        tally.close()
