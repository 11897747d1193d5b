"""`make serve` / `make stop`: a local Prefect server, the work pool, every deployment and a worker.

``python -m flows.serve start`` starts, as background processes with pid files and logs under
``$PREFECT_HOME/serve/`` (``.prefect/serve/`` by default):

1. ``prefect server start`` on 127.0.0.1 (port 4200, or the next free one), SQLite under
   ``$PREFECT_HOME``, no telemetry;
2. the process work pool(s) named in ``prefect.yaml``;
3. ``prefect deploy --all`` of ``prefect.yaml``, then the nightly schedule from params.yaml
   (section ``nightly``);
4. ``prefect worker start`` on that pool, running flows in the project directory.

``python -m flows.serve stop`` stops the worker (and the flow runs it started) and the server.
Host and port: ``--host`` / ``--port`` or ``MMPIPE_PREFECT_HOST`` / ``MMPIPE_PREFECT_PORT``
(port 0 = any free port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from mmdata.params import DEFAULT_PARAMS, load_config
from mmmodel.nightly import NightlyConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
PORT_SEARCH = 50  # when the port is taken, try this many after it
NIGHTLY_DEPLOYMENT = "nightly/default"
SERVER, WORKER = "server", "worker"


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """Where the project and the Prefect state are, and what to start."""

    project_dir: Path
    home: Path  # PREFECT_HOME: database, logs and pid files
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0 = any free port; a taken port moves to the next free one
    deploy: bool = True
    worker: bool = True
    params: Path = DEFAULT_PARAMS  # relative to project_dir
    timeout_s: float = 180.0  # per step (server health, deploy, worker registration)

    @property
    def state_dir(self) -> Path:
        return self.home / "serve"


def default_options(**changes: Any) -> ServeOptions:
    """Options from the environment: PREFECT_HOME, MMPIPE_PREFECT_HOST, MMPIPE_PREFECT_PORT."""
    project = Path.cwd()
    values = dict(project_dir=project, home=Path(os.environ.get("PREFECT_HOME") or project / ".prefect").absolute(),
                  host=os.environ.get("MMPIPE_PREFECT_HOST") or DEFAULT_HOST,
                  port=int(os.environ.get("MMPIPE_PREFECT_PORT") or DEFAULT_PORT))
    values.update({k: v for k, v in changes.items() if v is not None})
    return ServeOptions(**values)


# -- processes ---------------------------------------------------------------------------------

def pid_file(options: ServeOptions, name: str) -> Path:
    return options.state_dir / f"{name}.pid"


def running_pid(options: ServeOptions, name: str) -> int | None:
    """The pid in ``<name>.pid`` when that process is alive and is a Prefect process we started."""
    path = pid_file(options, name)
    if not path.is_file():
        return None
    import psutil

    try:
        process = psutil.Process(int(path.read_text().split()[0]))
        alive = process.status() != psutil.STATUS_ZOMBIE
        cmdline = " ".join(process.cmdline()) if alive else ""
    except (psutil.Error, ValueError, IndexError):
        return None
    return process.pid if "prefect" in cmdline else None


def spawn(options: ServeOptions, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Start ``command`` in its own session (so stop can end it with its children); log to ``<name>.log``."""
    options.state_dir.mkdir(parents=True, exist_ok=True)
    with open(options.state_dir / f"{name}.log", "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        process = subprocess.Popen(command, cwd=options.project_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file(options, name).write_text(f"{process.pid}\n")
    return process


def terminate(pid: int, timeout_s: float = 20.0) -> list[int]:
    """SIGTERM ``pid``, its process group and every descendant (flow runs may have their own session);
    SIGKILL what is left after ``timeout_s``. Returns the pids that were signalled."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)  # the session leader's group: helpers started without a parent link
    _, alive = psutil.wait_procs(family, timeout=timeout_s)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in family]


def child_env(options: ServeOptions, api_url: str) -> dict[str, str]:
    """Environment of the server, deploy and worker processes."""
    return {
        **os.environ,
        "PREFECT_HOME": str(options.home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",  # offline: no upgrade prompts or banners
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{options.home / 'prefect.db'}",
        "PREFECT_SERVER_API_HOST": options.host,
        "PREFECT_SERVER_API_PORT": str(_port_of(api_url)),
        "PREFECT_UI_API_URL": api_url,
        "MMPIPE_PROJECT_DIR": str(options.project_dir),  # prefect.yaml's pull step: runs start here
    }


def choose_port(host: str, preferred: int) -> int:
    """``preferred`` when free, else the next free port after it (0: any free port)."""
    candidates = [0] if preferred == 0 else range(preferred, preferred + PORT_SEARCH)
    for port in candidates:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError(f"no free port on {host} in {preferred}..{preferred + PORT_SEARCH - 1}")


def _port_of(api_url: str) -> int:
    return int(api_url.rsplit(":", 1)[1].split("/", 1)[0])


def wait_healthy(api_url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited ({process.returncode}); see {log}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not answer on {api_url} within {timeout_s:.0f} s; see {log}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""


# -- API steps -----------------------------------------------------------------------------------

def work_pools(project_dir: Path) -> list[str]:
    """The work pool names used by prefect.yaml's deployments."""
    spec = yaml.safe_load((project_dir / "prefect.yaml").read_text())
    return sorted({d["work_pool"]["name"] for d in spec.get("deployments", []) if d.get("work_pool")})


def _run_api(api_url: str, coroutine_fn, *args):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return asyncio.run(coroutine_fn(*args))


async def _ensure_pools(names: list[str]) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    created = []
    async with get_client() as client:
        for name in names:
            try:
                await client.read_work_pool(name)
            except ObjectNotFound:
                template = ProcessWorker.get_default_base_job_template()
                await client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))
                created.append(name)
    return created


async def _apply_nightly_schedule(config: NightlyConfig) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.schedules import CronSchedule

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(NIGHTLY_DEPLOYMENT)
        for schedule in deployment.schedules:
            await client.delete_deployment_schedule(deployment.id, schedule.id)
        await client.create_deployment_schedules(
            deployment.id, [(CronSchedule(cron=config.cron, timezone=config.timezone), config.schedule_active)])
    return f"{config.cron} ({config.timezone}){'' if config.schedule_active else ', paused'}"


async def _worker_online(pool: str) -> bool:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        workers = await client.read_workers_for_work_pool(pool)
    return any(w.status == "ONLINE" or str(getattr(w.status, "value", w.status)) == "ONLINE" for w in workers)


def deploy_all(options: ServeOptions, env: dict[str, str]) -> None:
    log = options.state_dir / "deploy.log"
    with open(log, "wb") as out:
        done = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
                              cwd=options.project_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=options.timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"prefect deploy --all failed ({done.returncode}); see {log}:\n{_tail(log)}")


# -- start / stop ------------------------------------------------------------------------------

def state(options: ServeOptions) -> dict[str, Any] | None:
    path = options.state_dir / "serve.json"
    return json.loads(path.read_text()) if path.is_file() else None


def start(options: ServeOptions) -> dict[str, Any]:
    """Start server, pool, deployments and worker; return the state (also in ``serve.json``)."""
    current = state(options)
    if current and running_pid(options, SERVER):
        return {**current, "already_running": True}
    if not _is_loopback(options.host):
        print(f"warning: the Prefect API will listen on {options.host}, not only on this machine", file=sys.stderr)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    port = choose_port(options.host, options.port)
    host_in_url = f"[{options.host}]" if ":" in options.host else options.host
    api_url = f"http://{host_in_url}:{port}/api"
    env = child_env(options, api_url)
    info: dict[str, Any] = {"api_url": api_url, "ui_url": f"http://{host_in_url}:{port}", "home": str(options.home),
                            "project_dir": str(options.project_dir), "pools": work_pools(options.project_dir)}
    began = time.perf_counter()
    timings: dict[str, float] = {}
    info["seconds"] = timings
    try:
        server = spawn(options, SERVER, [sys.executable, "-m", "prefect", "server", "start", "--host", options.host,
                                         "--port", str(port)], env)
        wait_healthy(api_url, server, options.state_dir / "server.log", options.timeout_s)
        info["server_pid"] = server.pid
        timings["server"] = round(time.perf_counter() - began, 1)
        info["pools_created"] = _run_api(api_url, _ensure_pools, info["pools"])
        if options.deploy:
            deploy_all(options, env)
            nightly = load_config(NightlyConfig, "nightly", options.project_dir / options.params)
            info["nightly_schedule"] = _run_api(api_url, _apply_nightly_schedule, nightly)
            timings["deploy"] = round(time.perf_counter() - began - sum(timings.values()), 1)
        if options.worker:
            info["worker_pids"] = [spawn(options, WORKER, [sys.executable, "-m", "prefect", "worker", "start",
                                                           "--pool", pool, "--type", "process"], env).pid
                                   for pool in info["pools"][:1]]
            _wait_worker(options, api_url, info["pools"][0])
            timings["worker"] = round(time.perf_counter() - began - sum(timings.values()), 1)
    except BaseException:
        stop(options)
        raise
    (options.state_dir / "serve.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def _wait_worker(options: ServeOptions, api_url: str, pool: str) -> None:
    deadline = time.monotonic() + options.timeout_s
    while time.monotonic() < deadline:
        if running_pid(options, WORKER) is None:
            log = options.state_dir / "worker.log"
            raise RuntimeError(f"the Prefect worker exited; see {log}:\n{_tail(log)}")
        if _run_api(api_url, _worker_online, pool):
            return
        time.sleep(1.0)
    raise RuntimeError(f"the worker did not come online in pool {pool!r} within {options.timeout_s:.0f} s")


def stop(options: ServeOptions) -> dict[str, list[int]]:
    """Stop the worker (first, with its flow runs) and the server; remove pid files. Idempotent."""
    stopped: dict[str, list[int]] = {}
    for name in (WORKER, SERVER):
        pid = running_pid(options, name)
        if pid is not None:
            stopped[name] = terminate(pid)
        pid_file(options, name).unlink(missing_ok=True)
    (options.state_dir / "serve.json").unlink(missing_ok=True)
    return stopped


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# -- command line --------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="start server, work pool, deployments and worker")
    start_parser.add_argument("--host", help=f"listen address (default {DEFAULT_HOST}, or $MMPIPE_PREFECT_HOST)")
    start_parser.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT} or the next free one; 0 = any)")
    start_parser.add_argument("--no-deploy", dest="deploy", action="store_false", default=None)
    start_parser.add_argument("--no-worker", dest="worker", action="store_false", default=None)
    commands.add_parser("stop", help="stop the worker and the server")
    commands.add_parser("status", help="print what is running")
    args = parser.parse_args(argv)
    if args.command == "start":
        options = default_options(host=args.host, port=args.port, deploy=args.deploy, worker=args.worker)
        try:
            info = start(options)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as err:
            print(f"serve: {err}", file=sys.stderr)
            return 1
        word = "already running" if info.get("already_running") else "started"
        print(f"Prefect {word}: UI {info['ui_url']}  (logs and pids in {options.state_dir})")
        if info.get("nightly_schedule"):
            print(f"deployed prefect.yaml to pool {', '.join(info['pools'])}; nightly at {info['nightly_schedule']}")
        print(f"\nexport PREFECT_API_URL={info['api_url']}\n\nthen: prefect deployment run ingest/default")
        return 0
    options = default_options()
    if args.command == "stop":
        stopped = stop(options)
        print("stopped " + (", ".join(f"{name} (pids {pids})" for name, pids in stopped.items()) or "nothing (not running)"))
        return 0
    info = state(options)
    alive = {name: running_pid(options, name) for name in (SERVER, WORKER)}
    if not info or not alive[SERVER]:
        print("not running (start with `make serve`)")
        return 1
    print(f"running: UI {info['ui_url']}, server pid {alive[SERVER]}, worker pid {alive[WORKER]}\n"
          f"export PREFECT_API_URL={info['api_url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
