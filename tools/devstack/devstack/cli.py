"""`python -m devstack up|dev|down|status|logs|start|stop`: the native local stack."""

import argparse
import signal
import sys
import time
from pathlib import Path

from devstack import provision
from devstack.stack import Stack, StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "start the stack in the background and return when everything is ready"),
        ("dev", "start the stack in the foreground, stream logs; Ctrl-C stops what it started"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--infra", action="store_true", help="only Redis, Kafka, MongoDB, Weaviate")
    sub.choices["up"].add_argument(
        "--record", type=Path, help="write the names of the components this call started to a file"
    )
    down = sub.add_parser("down", help="stop what devstack started (all, or the named components)")
    down.add_argument("names", nargs="*")
    status = sub.add_parser("status", help="exit 0 only when every asked-for component is up")
    status.add_argument("--infra", action="store_true")
    status.add_argument("--quiet", "-q", action="store_true")
    status.add_argument("names", nargs="*")
    logs = sub.add_parser("logs", help="show (or follow) the log of one or all components")
    logs.add_argument("name", nargs="?")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=40)
    sub.add_parser("provision", help="fetch and build the infrastructure binaries into the cache")
    for name in ("start", "stop"):
        cmd = sub.add_parser(name, help=f"{name} one or more components")
        cmd.add_argument("names", nargs="+")
    args = parser.parse_args(argv)

    stack = Stack()
    try:
        return COMMANDS[args.command](stack, args)
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `devstack status | head`
        return 0


def cmd_up(stack: Stack, args) -> int:
    started_at = time.monotonic()
    started: list[str] = []
    try:
        stack.start(stack.select(infra_only=args.infra), started=started)
    finally:
        if args.record:
            args.record.write_text("".join(f"{name}\n" for name in started))
    print(f"ready in {time.monotonic() - started_at:.1f}s")
    print_urls(stack, infra_only=args.infra)
    return 0


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def cmd_dev(stack: Stack, args) -> int:
    # Explicit handlers: a shell starting us in the background may have set SIGINT to "ignore".
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    comps = stack.select(infra_only=args.infra)
    started: list[str] = []  # filled as components start, so an interrupted startup still cleans up
    try:
        stack.start(comps, started=started)
        print_urls(stack, infra_only=args.infra)
        print("streaming logs; Ctrl-C stops everything this command started\n", flush=True)
        follow([stack.cfg.log_file(c.name) for c in comps], from_end=True)
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not leave half the stack running
        print("\nstopping what this command started ...", flush=True)
        stack.stop(stack.select(started) if started else [])
    return 0


def cmd_down(stack: Stack, args) -> int:
    stopped = stack.stop(stack.select(args.names or None))
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing devstack started is running")
    return 0


def cmd_status(stack: Stack, args) -> int:
    comps = stack.select(args.names or None, infra_only=args.infra)
    all_up = True
    for comp in comps:
        st = stack.status(comp)
        all_up &= st.state in ("up", "external")
        if not args.quiet:
            pid = f"pid {st.pid}" if st.pid else "-"
            print(f"{comp.name:<13} {st.state:<9} {comp.url:<28} {pid:<11} {stack.cfg.log_file(comp.name)}")
    return 0 if all_up else 1


def cmd_logs(stack: Stack, args) -> int:
    comps = stack.select([args.name] if args.name else None)
    files = [stack.cfg.log_file(c.name) for c in comps]
    for path in files:
        if not path.is_file():
            continue
        lines = path.read_text(errors="replace").splitlines()[-args.lines :]
        for line in lines:
            print(f"{path.stem:>12} | {line}" if len(files) > 1 else line)
    if args.follow:
        signal.signal(signal.SIGINT, _interrupt)
        try:
            follow(files, from_end=True)
        except KeyboardInterrupt:
            pass
    return 0


def cmd_provision(stack: Stack, args) -> int:
    try:
        provision.provision_all(stack.cfg)
    except provision.ProvisionError as exc:
        raise StackError(str(exc)) from exc
    print(f"infrastructure binaries ready in {stack.cfg.cache_dir}")
    return 0


def cmd_start(stack: Stack, args) -> int:
    stack.start(stack.select(args.names))
    return 0


def cmd_stop(stack: Stack, args) -> int:
    stack.stop(stack.select(args.names))
    return 0


def print_urls(stack: Stack, *, infra_only: bool) -> None:
    for comp in stack.select(infra_only=infra_only):
        print(f"  {comp.name:<13} {comp.url}")
    print(f"  logs          {stack.cfg.logs_dir}  (python -m devstack logs NAME -f)")


def follow(files: list[Path], *, from_end: bool) -> None:
    """Print lines appended to the files, prefixed with the component name, until interrupted."""
    positions = {f: (f.stat().st_size if from_end and f.is_file() else 0) for f in files}
    width = max((len(f.stem) for f in files), default=0)
    while True:
        idle = True
        for path in files:
            try:
                with path.open("rb") as handle:
                    handle.seek(positions[path])
                    chunk = handle.read()
            except OSError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]
            if complete:
                idle = False
                positions[path] += len(complete)
                for line in complete.decode(errors="replace").splitlines():
                    print(f"{path.stem:>{width}} | {line}", flush=True)
        if idle:
            time.sleep(0.25)


COMMANDS = {
    "up": cmd_up,
    "dev": cmd_dev,
    "down": cmd_down,
    "status": cmd_status,
    "logs": cmd_logs,
    "provision": cmd_provision,
    "start": cmd_start,
    "stop": cmd_stop,
}
