"""``make test-containers``: the Dockerfile and compose.yaml, for real, with podman.

Builds the image and the nginx image (the local Debian base image first, when missing:
infra/containers/base_image.sh), brings the compose stack up under its own project name with fresh
random secrets and a self-signed certificate, waits until every container's HEALTHCHECK passes,
completes a session through nginx over ``wss://`` with the project's client (real frames from the
media folder), verifies the JWT with the deployment's key, checks that compose refuses to start
without a secret, then brings the stack down, its volumes included, whatever happened.

Recipe and why: ../shared/reference/containers.md (podman with runc, containers.conf ulimits, the
host's CA bundle for the downloads of the build). Figures go to stdout and var/containers/check.json.

Usage: ``python -m tests.containers.check [--data ../shared/data] [--keep]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from infra.client import LPClient
from infra.eval import puppets
from infra.tls_selfsigned import issue
from shared.lpproto import Command
from shared.tokens import verify_token
from tests import media

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "var" / "containers"
PROJECT = "vigil-check"  # its own containers, network and volumes: never an operator's `vigil` stack
IMAGE, NGINX_IMAGE = "localhost/vigil:latest", "localhost/vigil-nginx:latest"
HOST = "127.0.0.1"
# Why each line: containers.md, points 1 and 3 (crun refuses hybrid cgroups; root here cannot raise
# hard limits). netavark: compose services find each other by name (the CNI backend has no DNS).
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"
"""
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
READY_S = 240  # cold: two estimators load their models on a shared 2-core machine
SESSION_S = 120
# The one media video with a person turning both ways and looking up and down, and the actions
# the estimator counts in it (tests/test_active_liveness_video.py says why the others are left out).
PAD = "pad_replay_tranvanluyt/videos__real.mp4"
PAD_ACTIONS = ("blink", "yaw_left", "pitch_up")
CHALLENGE_FRAMES = 200
VIDEO_S = 60  # built at once after SUCCESS (docs/video.md); bounds a failure only
FRAMES = 30  # a still face passes in `session.aggregate_frames` (5) frames; the rest is slack


def log(message: str) -> None:
    print(f"[test-containers] {message}", flush=True)


def expect(condition: bool, failure: object) -> None:
    """A check that holds under ``python -O`` too (unlike assert)."""
    if not condition:
        raise AssertionError(str(failure))


def run(command: list[str], env: dict[str, str], *, check: bool = True, quiet: bool = False,
        timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    if not quiet:
        log("$ " + " ".join(command))
    return subprocess.run(command, env=env, check=check, text=True, timeout=timeout,
                          stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None)


def podman_env() -> dict[str, str]:
    STATE.mkdir(parents=True, exist_ok=True)
    conf = STATE / "containers.conf"
    conf.write_text(CONTAINERS_CONF, encoding="utf-8")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def build(env: dict[str, str]) -> dict[str, float]:
    began = time.monotonic()
    run(["sh", str(ROOT / "infra" / "containers" / "base_image.sh")], env)
    base_s = time.monotonic() - began
    # --network host: the build's downloads use the host's resolver (the default network of the
    # netavark backend did not resolve names here). --format docker: OCI images drop HEALTHCHECK.
    common = ["podman", "build", "--network", "host", "--format", "docker"]
    if HOST_CA_BUNDLE.is_file():  # a TLS-inspecting proxy's CA travels as a build mount, not a layer
        common += ["--volume", f"{HOST_CA_BUNDLE}:/run/build-ca.crt:ro",
                   "--build-arg", "BUILD_CA_BUNDLE=/run/build-ca.crt"]
    began = time.monotonic()
    run([*common, "-t", IMAGE, str(ROOT)], env)
    run([*common, "--target", "nginx", "-t", NGINX_IMAGE, str(ROOT)], env)
    return {"base_image_s": round(base_s, 1), "build_s": round(time.monotonic() - began, 1)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def compose(env: dict[str, str], *args: str, check: bool = True,
            quiet: bool = False) -> subprocess.CompletedProcess[str]:
    podman_compose = Path(sys.executable).parent / "podman-compose"
    return run([str(podman_compose), "-f", str(ROOT / "compose.yaml"), "-p", PROJECT, *args], env,
               check=check, quiet=quiet)


def stack_env(env: dict[str, str], tls: Path) -> tuple[dict[str, str], str]:
    """compose's variables: fresh secrets each run (nothing of the kind is stored anywhere)."""
    issued = issue(HOST, tls, days=1)
    jwt_key = secrets.token_urlsafe(32)
    values = {
        "VIGIL_JWT__KEY": jwt_key,
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
        "TLS_CERT": str(issued.certificate),
        "TLS_KEY": str(issued.key),
        "BIND_ADDRESS": HOST,
        "HTTPS_PORT": str(free_port()),
        "ADMIN_HTTPS_PORT": str(free_port()),
        "HTTP_PORT": str(free_port()),
        # Not the default subnet, so an operator's own `vigil` stack on this host is left alone.
        "NETWORK_SUBNET": f"10.89.{random.randint(100, 250)}.0/24",
    }
    clean = {k: v for k, v in env.items() if not k.startswith("VIGIL_")}  # only what compose.yaml names
    return {**clean, **values}, jwt_key


def https_get(url: str, context: ssl.SSLContext) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return int(response.status), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def containers(env: dict[str, str]) -> list[str]:
    listed = run(["podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={PROJECT}",
                  "--format", "{{.Names}}"], env, quiet=True)
    return sorted(name for name in listed.stdout.split() if name)


def wait_healthy(env: dict[str, str], names: list[str], timeout: float) -> dict[str, float]:
    """Runs each container's HEALTHCHECK (podman runs them from systemd timers, absent here) until
    it passes; returns the seconds each took."""
    began, waiting, took = time.monotonic(), set(names), {}
    while waiting:
        for name in sorted(waiting):
            if run(["podman", "healthcheck", "run", name], env, check=False, quiet=True).returncode == 0:
                took[name] = round(time.monotonic() - began, 1)
                waiting.discard(name)
        if waiting and time.monotonic() - began > timeout:
            for name in sorted(waiting):
                answer = run(["podman", "healthcheck", "run", name], env, check=False, quiet=True)
                log(f"{name}: {answer.stdout.strip()[-500:]}")
            raise SystemExit(f"not healthy after {timeout:.0f} s: {', '.join(sorted(waiting))}")
        if waiting:
            time.sleep(2)
    return took


def restarts(env: dict[str, str], names: list[str]) -> dict[str, int]:
    counts = {}
    for name in names:
        answer = run(["podman", "inspect", name, "--format", "{{.RestartCount}}"], env, quiet=True)
        counts[name] = int(answer.stdout.strip() or 0)
    return {name: count for name, count in counts.items() if count}


async def challenge_session(url: str, context: ssl.SSLContext, clip: puppets.Clip, frames: dict[int, bytes],
                            jwt_key: str) -> dict[str, Any]:
    """A person who does what the prompts ask (an annotated real video, infra/eval/puppets.py)."""
    async with LPClient(url, ssl=context) as client:
        connected = await client.connect()
        expect(connected.command is Command.CONNECTED, connected.message)
        transcript = await puppets.play(client, puppets.CooperativePerson(clip, frames), max_frames=CHALLENGE_FRAMES)
    expect(transcript.succeeded and transcript.token is not None, transcript.summary())
    payload = verify_token(str(transcript.token), key=jwt_key, algorithms=["HS256"])
    expect(payload["isOk"] is True, payload)
    prompts = [action.value for action in transcript.prompts()]
    expect(len(prompts) >= 2, transcript.summary())
    expect(set(prompts) <= set(PAD_ACTIONS), transcript.summary())
    return {"frames": len(transcript.steps), "session_s": round(transcript.steps[-1].elapsed_s, 2),
            "prompts": prompts}


async def session(url: str, context: ssl.SSLContext, frame: bytes, jwt_key: str) -> dict[str, Any]:
    began = time.monotonic()
    async with LPClient(url, ssl=context) as client:
        connected = await client.connect()
        expect(connected.command is Command.CONNECTED, connected.message)
        for sent in range(1, FRAMES + 1):
            reply = await client.frame(frame)
            if reply.command is Command.SUCCESS:
                payload = verify_token(reply.message.body, key=jwt_key, algorithms=["HS256"])
                expect(payload["isOk"] is True, payload)
                expect(payload["sid"] == client.session_id, payload)
                return {"frames": sent, "session_s": round(time.monotonic() - began, 2),
                        "session_id": client.session_id}
            expect(reply.command is Command.STATS, f"frame {sent}: {reply.message}")
    raise AssertionError(f"no SUCCESS in {FRAMES} frames")


def live_setting(env: dict[str, str], group: str, *pairs: str) -> None:
    """``vigil config set`` inside the ingress's container. Retried: right after start-up, with nine
    containers loading on two cores, its connect to Redis once timed out here."""
    command = ["podman", "exec", f"{PROJECT}_ingress_1", "vigil", "config", "set", "default", group, *pairs]
    for attempt in range(1, 6):
        answer = run(command, env, check=False, quiet=True)
        log(f"vigil config set default {group} {' '.join(pairs)}: {answer.stdout.strip()}")
        if answer.returncode == 0:
            return
        time.sleep(2 * attempt)
    raise SystemExit("vigil config set failed 5 times")


def wait_video(env: dict[str, str], session_id: str, timeout: float) -> float:
    """The session's video, written by the video builder's container into the shared volume as
    the non-root user, and seen from the admin panel's container (which serves it)."""
    began = time.monotonic()
    look = f"ls var/videos/{session_id}.* >/dev/null 2>&1"
    while run(["podman", "exec", f"{PROJECT}_videobuilder_1", "sh", "-c", look], env, check=False,
              quiet=True).returncode != 0:
        expect(time.monotonic() - began < timeout, f"no video of {session_id} after {timeout:.0f} s")
        time.sleep(1)
    took = round(time.monotonic() - began, 1)
    seen = run(["podman", "exec", f"{PROJECT}_admin_1", "sh", "-c", look], env, check=False, quiet=True)
    expect(seen.returncode == 0, "the admin panel's container does not see the video")
    log(f"video of {session_id} written after {took} s, visible to the admin panel")
    return took


def refuses_without_secret(env: dict[str, str]) -> None:
    """compose must refuse to start without the JWT key (${VAR:?}), before creating anything."""
    missing = {k: v for k, v in env.items() if k != "VIGIL_JWT__KEY"}
    result = compose(missing, "config", check=False, quiet=True)
    expect(result.returncode != 0, "compose config passed without VIGIL_JWT__KEY")
    expect("VIGIL_JWT__KEY" in result.stdout, result.stdout[-2000:])


def exercise(stack: dict[str, str], jwt_key: str, frame: bytes, clip: puppets.Clip, clip_frames: dict[int, bytes],
             figures: dict[str, Any]) -> None:
    """Up, healthy, a session over wss:// through nginx; figures added as they come."""
    context = ssl.create_default_context(cafile=stack["TLS_CERT"])  # trusts exactly this certificate
    base = f"https://{HOST}:{stack['HTTPS_PORT']}"
    began = time.monotonic()
    compose(stack, "up", "-d", "--no-build")
    figures["compose_up_s"] = round(time.monotonic() - began, 1)
    names = containers(stack)
    log(f"containers: {', '.join(names)}")
    expect(sum("_estimator_" in name for name in names) == 2, names)
    figures["healthy_s"] = wait_healthy(stack, names, READY_S)
    figures["ready_s"] = round(time.monotonic() - began, 1)
    figures["restarts"] = restarts(stack, names)  # a service that died at start (and came back)
    status, headers = https_get(base + "/", context)
    expect(status == 200, status)
    expect("max-age" in headers.get("Strict-Transport-Security", ""), headers)
    hidden = https_get(base + "/health", context)[0]
    expect(hidden == 404, f"/health through nginx: {hidden} (health and metrics stay private)")
    admin = https_get(f"https://{HOST}:{stack['ADMIN_HTTPS_PORT']}/signin", context)[0]
    expect(admin == 200, f"the admin panel's sign-in page through nginx: {admin}")
    url = f"wss://{HOST}:{stack['HTTPS_PORT']}/ws"
    # 1. The production default, active liveness on, answered by a real person's video: the
    # deployment asks only the actions that video performs (a live setting, as an operator would
    # change it), with the evaluation's generous attempt limits so the challenge decides.
    live_setting(stack, "active_liveness", f"interaction_list={json.dumps(list(PAD_ACTIONS))}")
    live_setting(stack, "session", "max_attempts=1000", "max_liveness_attempts=1000")
    challenge = asyncio.run(asyncio.wait_for(challenge_session(url, context, clip, clip_frames, jwt_key), SESSION_S))
    figures["challenge_session"] = challenge
    log(f"challenge session: SUCCESS after {challenge['frames']} frames in {challenge['session_s']} s, "
        f"prompts {challenge['prompts']}")
    # 2. A still photo: it passes only with the challenge off.
    live_setting(stack, "active_liveness", "is_enabled=false")
    result = asyncio.run(asyncio.wait_for(session(url, context, frame, jwt_key), SESSION_S))
    figures.update(result)
    log(f"session {result['session_id']}: SUCCESS after {result['frames']} frames in {result['session_s']} s "
        "over wss:// through nginx; JWT verified with the deployment's key")
    figures["video_s"] = wait_video(stack, str(result["session_id"]), VIDEO_S)
    uid = run(["podman", "exec", f"{PROJECT}_ingress_1", "id", "-u"], stack, quiet=True).stdout.strip()
    expect(uid != "0", "the services run as root")


def stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM (CI's timeout) as an exception, so that the stack still comes down in ``finally``."""
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("VIGIL_TEST_DATA", ROOT.parent / "shared" / "data")))
    parser.add_argument("--keep", action="store_true", help="leave the stack up afterwards (for a look)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    if shutil.which("podman") is None:
        raise SystemExit("podman is missing: sh infra/install_system.sh containers")
    if not (args.data / media.NEUTRAL_FACE).is_file():
        raise SystemExit(f"no media at {args.data} (set VIGIL_TEST_DATA)")
    # Read from the media folder at test time, never copied.
    frame = media.neutral_jpeg(args.data)
    clip = puppets.load_annotations()[PAD]
    clip_frames = puppets.decode_frames(args.data / clip.path, clip.needed_frames())
    env = podman_env()
    figures: dict[str, Any] = build(env)
    size = run(["podman", "image", "inspect", IMAGE, "--format", "{{.Size}}"], env, quiet=True).stdout.strip()
    figures["image_mb"] = round(int(size) / 1e6)
    stack, jwt_key = stack_env(env, STATE / "tls")  # a throwaway key for this run, under var/ (ignored)
    refuses_without_secret(stack)
    compose(stack, "down", "--volumes", check=False, quiet=True)  # whatever an interrupted run left
    try:
        exercise(stack, jwt_key, frame, clip, clip_frames, figures)
    except BaseException:
        compose(stack, "logs", "--tail", "40", check=False)
        raise
    finally:
        if not args.keep:
            began = time.monotonic()
            compose(stack, "down", "--volumes", "--timeout", "10", check=False)
            figures["compose_down_s"] = round(time.monotonic() - began, 1)
    (STATE / "check.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    log(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
