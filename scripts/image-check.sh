#!/usr/bin/env bash
# Checks the Dockerfile where no container engine runs, by doing what its stages do with the
# host's toolchain (docs/deployment.md#checking-the-image-without-a-container-engine):
#
#   1. lints the Dockerfile (base images, COPY sources against .dockerignore, a numeric
#      non-root USER, EXPOSE against the image's configuration, HEALTHCHECK, ENTRYPOINT);
#   2. builds the release binary with the build stage's own cargo command, and checks the
#      libraries it needs are in debian:bookworm-slim;
#   3. lays out the runtime stage in a temporary root (binary, configuration, data directory
#      owned by the USER, the libraries the binary loads);
#   4. runs ENTRYPOINT + CMD there as the USER with the stage's ENV, waits for the
#      HEALTHCHECK command to pass (it must fail first), stops the server with SIGTERM;
#   5. checks deploy/compose.yaml parses and the configuration it mounts passes
#      `config check` with the environment it sets (from deploy/.env.example).
#
# Needs root (chroot and a foreign uid), python3 with PyYAML, and the Rust toolchain.
# Not part of scripts/test.sh: the release build takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "image-check: FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || fail "run as root (sudo $0): the runtime stage is run in a chroot as its own user"
command -v python3 >/dev/null || fail "python3 is needed to read the Dockerfile and compose file"
python3 -c 'import yaml' 2>/dev/null || fail "PyYAML is needed for deploy/compose.yaml: pip install pyyaml"

WORK=$(mktemp -d /tmp/image-check.XXXXXX)
chmod 0755 "$WORK"
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step "lint the Dockerfile"
# Reads the Dockerfile the way the builder does (continuations, global ARGs, stages) and
# prints what the next steps need as shell assignments.
python3 - Dockerfile .dockerignore Cargo.toml >"$WORK/plan.sh" <<'PY'
import json, os, re, shlex, subprocess, sys

dockerfile, ignore_file, cargo_toml = sys.argv[1:4]
problems = []

def instructions(path):
    out, buf = [], ""
    for raw in open(path):
        line = raw.rstrip("\n")
        if not buf and (line.lstrip().startswith("#") or not line.strip()):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out

global_args, stages = {}, []
for word, rest in instructions(dockerfile):
    if word == "ARG" and not stages:
        key, _, value = rest.partition("=")
        global_args[key] = value
    elif word == "FROM":
        image = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), ""), rest)
        parts = image.split()
        name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(stages))
        stages.append({"name": name, "image": parts[0], "ins": []})
    else:
        stages[-1]["ins"].append((word, rest))

if len(stages) < 2:
    sys.exit("image-check: FAIL: expected a build stage and a runtime stage")
build = next((s for s in stages if s["name"] == "build"), stages[0])
runtime = stages[-1]

def last(stage, word):
    found = [r for w, r in stage["ins"] if w == word]
    return found[-1] if found else None

# The build image: official Rust on bookworm, new enough for rust-version.
need = re.search(r'^rust-version\s*=\s*"([\d.]+)"', open(cargo_toml).read(), re.M).group(1)
m = re.fullmatch(r"rust:(\d+)\.(\d+)(?:\.(\d+))?-(?:slim-)?bookworm", build["image"])
if not m:
    problems.append(f"build image {build['image']}: expected rust:X.Y[.Z][-slim]-bookworm")
elif tuple(int(x or 0) for x in m.groups()) < tuple(int(x) for x in need.split(".")) + (0,) * (3 - len(need.split("."))):
    problems.append(f"build image {build['image']} is older than rust-version {need}")
if not re.search(r"bookworm|debian12", runtime["image"]):
    problems.append(f"runtime image {runtime['image']}: expected Debian bookworm, as the build stage")

# .dockerignore, as the builder applies it: the last pattern that matches a path or one of
# its parents decides.
def glob_re(pattern):
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif c == "*":
            out, i = out + "[^/]*", i + 1
        elif c == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(c), i + 1
    return re.compile(out + r"\Z")

rules = []
for line in open(ignore_file):
    line = line.strip()
    if line and not line.startswith("#"):
        negate = line.startswith("!")
        rules.append((negate, glob_re(os.path.normpath(line.lstrip("!").strip("/")))))

def included(path):
    path = os.path.normpath(path)
    parts = path.split("/")
    keep = True
    for negate, rx in rules:
        if any(rx.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            keep = negate
    return keep

tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, text=True, check=True).stdout.split()

def copies(stage):
    for word, rest in stage["ins"]:
        if word == "COPY":
            args = shlex.split(rest)
            flags = [a for a in args if a.startswith("--")]
            paths = [a for a in args if not a.startswith("--")]
            src_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            yield src_stage, paths[:-1], paths[-1]

for stage in stages:
    for src_stage, sources, dest in copies(stage):
        if src_stage:
            continue
        for src in sources:
            if not os.path.exists(src):
                problems.append(f"COPY {src}: no such file in the build context")
            elif not included(src):
                problems.append(f"COPY {src}: excluded by .dockerignore")
            elif os.path.isdir(src) and not any(f.startswith(src.rstrip("/") + "/") and included(f) for f in tracked):
                problems.append(f"COPY {src}: .dockerignore leaves none of its files")

# The build stage's cargo command, and where its output goes.
cargo, outputs = None, {}
for word, rest in build["ins"]:
    if word == "RUN":
        body = re.sub(r"--mount=\S+", "", rest)
        for segment in (s.strip() for s in body.split("&&")):
            if segment.startswith("cargo build"):
                cargo = segment
            if segment.startswith("install "):
                args = [a for a in shlex.split(segment)[1:] if not a.startswith("-") and not re.fullmatch(r"0?[0-7]{3,4}", a)]
                outputs[args[-1]] = args[-2]
if not cargo:
    sys.exit("image-check: FAIL: no `cargo build` in the build stage")
if "--locked" not in cargo or "--release" not in cargo:
    problems.append(f"build command `{cargo}` should be --release --locked")

# The runtime stage: files, user, environment, port, health check, entrypoint.
layout = []
for src_stage, sources, dest in copies(runtime):
    for src in sources:
        if src_stage:
            built = outputs.get(src)
            if not built:
                problems.append(f"COPY --from={src_stage} {src}: the build stage does not produce it")
                continue
            target = os.environ.get("CARGO_TARGET_DIR", "target")
            layout.append((os.path.join(target, os.path.relpath(built, "target")), dest))
        else:
            layout.append((src, dest))

user = last(runtime, "USER") or "0"
m = re.fullmatch(r"(\d+)(?::(\d+))?", user)
if not m:
    problems.append(f"USER {user}: not numeric (platforms check runAsNonRoot by number)")
    uid = gid = "65534"
else:
    uid, gid = m.group(1), m.group(2) or m.group(1)
    if uid == "0":
        problems.append("USER is root")

env = {}
for word, rest in runtime["ins"]:
    if word == "ENV":
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            env[key] = value
workdir = last(runtime, "WORKDIR") or "/"
if not any(w == "RUN" and f"-o {uid}" in r and workdir in r for w, r in runtime["ins"]):
    problems.append(f"the data directory {workdir} is not created owned by {uid}")

config = env.get("TORII_REALTIME_CONFIG")
config_src = next((s for s, d in layout if d == config), None)
if not config_src:
    problems.append("TORII_REALTIME_CONFIG does not name a file the runtime stage copies")
    port = None
else:
    import tomllib
    listen = tomllib.load(open(config_src, "rb")).get("server", {}).get("listen", "127.0.0.1:8090")
    port = listen.rsplit(":", 1)[1]
    if not listen.startswith(("0.0.0.0:", "[::]:")):
        problems.append(f"{config_src}: server.listen = {listen} is not reachable from outside a container")
exposed = (last(runtime, "EXPOSE") or "").split()
if port and [p.split("/")[0] for p in exposed] != [port]:
    problems.append(f"EXPOSE {' '.join(exposed)} but the image's configuration listens on {port}")

health = last(runtime, "HEALTHCHECK")
health_cmd = []
if not health or " CMD " not in f" {health} ":
    problems.append("no HEALTHCHECK in the runtime stage")
else:
    health_cmd = json.loads(health.split("CMD", 1)[1])

def exec_form(word):
    value = last(runtime, word)
    try:
        return json.loads(value) if value else []
    except json.JSONDecodeError:
        problems.append(f"{word} is not in exec form: signals would go to a shell")
        return []

entrypoint, cmd = exec_form("ENTRYPOINT"), exec_form("CMD")
binary = next((d for s, d in layout if os.path.basename(d) == "torii-realtime"), None)
if not entrypoint or entrypoint[0] not in (binary, os.path.basename(binary or "")):
    problems.append(f"ENTRYPOINT {entrypoint} does not run {binary}")
if binary and os.path.dirname(binary) not in ("/usr/local/bin", "/usr/bin", "/bin"):
    problems.append(f"{binary} is not on the default PATH")

for p in problems:
    print(f"image-check: FAIL: {p}", file=sys.stderr)
if problems:
    sys.exit(1)

q = shlex.quote
print(f"BUILD_CMD={q(cargo)}")
print(f"BUILD_IMAGE={q(build['image'])} RUNTIME_IMAGE={q(runtime['image'])}")
print(f"RUN_UID={uid} RUN_GID={gid} WORKDIR={q(workdir)} PORT={q(port)}")
print("LAYOUT=(" + " ".join(q(f"{s}={d}") for s, d in layout) + ")")
print("IMAGE_ENV=(" + " ".join(q(f"{k}={v}") for k, v in env.items()) + ")")
print("RUN_CMD=(" + " ".join(q(a) for a in entrypoint + cmd) + ")")
print("HEALTH_CMD=(" + " ".join(q(a) for a in health_cmd) + ")")
PY
# shellcheck source=/dev/null
source "$WORK/plan.sh"
echo "build $BUILD_IMAGE, runtime $RUNTIME_IMAGE as $RUN_UID:$RUN_GID, port $PORT"
echo "runs: ${RUN_CMD[*]}; health check: ${HEALTH_CMD[*]}"

step "build: $BUILD_CMD"
eval "$BUILD_CMD"
BIN_SRC=
for entry in "${LAYOUT[@]}"; do
  case "${entry#*=}" in */torii-realtime) BIN_SRC=${entry%%=*} ;; esac
done
[ -x "$BIN_SRC" ] || fail "the build produced no $BIN_SRC"

# debian:bookworm-slim has glibc 2.36 and libgcc_s; nothing else may be needed.
needed=$(readelf -d "$BIN_SRC" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | libgcc_s.so.1 | libpthread.so.0 | libdl.so.2 | librt.so.1 | ld-linux-*.so.*) ;;
    *) fail "the binary needs $lib, which debian:bookworm-slim does not have" ;;
  esac
done
glibc=$(objdump -T "$BIN_SRC" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
[ "$(printf '%s\n2.36\n' "$glibc" | sort -V | tail -n 1)" = 2.36 ] ||
  fail "the binary needs glibc $glibc; bookworm has 2.36"
echo "needs: $needed(glibc $glibc)"

step "lay out the runtime stage"
ROOT=$WORK/root
mkdir -p "$ROOT/tmp" "$ROOT/dev" "$ROOT/etc/ssl/certs"
chmod 1777 "$ROOT/tmp"
for entry in "${LAYOUT[@]}"; do
  src=${entry%%=*} dest=${entry#*=}
  install -D -m "$([ -x "$src" ] && echo 0755 || echo 0644)" "$src" "$ROOT$dest"
  echo "$src -> $dest"
done
install -d -o "$RUN_UID" -g "$RUN_GID" -m 0750 "$ROOT$WORKDIR"
# What the base image and apt-get bring: the loader and libraries, CA certificates, devices.
for lib in $(ldd "$BIN_SRC" | grep -o '/[^ ]*'); do
  install -D "$(readlink -f "$lib")" "$ROOT$lib"
done
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
mknod -m 0666 "$ROOT/dev/null" c 1 3 2>/dev/null || true
mknod -m 0444 "$ROOT/dev/urandom" c 1 9 2>/dev/null || true

# The image's port may be taken on this host: then another, set as a deployment would.
PORT_ENV=()
# (SO_REUSEADDR as the server sets it: connections of an earlier run in TIME_WAIT do not count.)
if ! python3 -c "import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1])))" "$PORT" 2>/dev/null; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PORT_ENV=("TORII_REALTIME__SERVER__LISTEN=0.0.0.0:$PORT")
  echo "port taken on this host: listening on $PORT instead"
fi
# As the container runs: its root, its working directory, its user without supplementary
# groups, only the image's environment. It replaces the shell it runs in (call it in a
# subshell), so that a signal sent to the background job reaches the server itself.
in_image() {
  exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=image-check \
    "${IMAGE_ENV[@]}" "${PORT_ENV[@]}" \
    unshare --root="$ROOT" --wd="$WORKDIR" --setgid="$RUN_GID" --setuid="$RUN_UID" "$@"
}

step "run ${RUN_CMD[*]} as $RUN_UID:$RUN_GID"
if (in_image "${HEALTH_CMD[@]}") >"$WORK/health.out" 2>&1; then
  fail "the health check passed before the server started: $(cat "$WORK/health.out")"
fi
echo "before start, the health check fails: $(tail -n 1 "$WORK/health.out")"
in_image "${RUN_CMD[@]}" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ready=
for _ in $(seq 1 60); do
  if (in_image "${HEALTH_CMD[@]}") >"$WORK/health.out" 2>&1; then
    ready=1
    break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 1
done
if [ -z "$ready" ]; then
  cat "$WORK/server.log" >&2
  fail "the health check did not pass within 60 s: $(cat "$WORK/health.out")"
fi
echo "health check: $(cat "$WORK/health.out")"
kill -TERM "$SERVER_PID"
# Within server.shutdown_timeout (30 s) and some: what `docker stop --time 40` allows.
for _ in $(seq 1 40); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 1
done
kill -0 "$SERVER_PID" 2>/dev/null && fail "the server did not exit within 40 s of SIGTERM"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=
[ "$status" = 0 ] || {
  cat "$WORK/server.log" >&2
  fail "the server exited with status $status after SIGTERM"
}
grep -q '"stopped"' "$WORK/server.log" || fail "no \"stopped\" line in the server's log"
for f in "$ROOT$WORKDIR"/*; do
  [ "$(stat -c %u:%g "$f")" = "$RUN_UID:$RUN_GID" ] || fail "$f is not owned by $RUN_UID:$RUN_GID"
done
echo "stopped on SIGTERM with status 0; wrote $(cd "$ROOT$WORKDIR" && echo *) as $RUN_UID:$RUN_GID"

step "check deploy/compose.yaml"
python3 - deploy "$BIN_SRC" <<'PY'
import os, re, subprocess, sys, yaml

deploy, binary = sys.argv[1:3]
compose = yaml.safe_load(open(os.path.join(deploy, "compose.yaml")))
problems = []
dotenv = {}
for line in open(os.path.join(deploy, ".env.example")):
    line = line.strip()
    if line and not line.startswith("#"):
        key, _, value = line.partition("=")
        dotenv[key] = value

def interpolate(text):
    def one(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = dotenv.get(name)
        if op in (":-", "-"):
            return value if value not in (None, "") else arg
        if op in (":?", "?") and value in (None, ""):
            problems.append(f"{name} is required but unset in .env.example")
        return value or ""
    return re.sub(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}", one, str(text))

services = compose["services"]
for name, svc in services.items():
    for volume in svc.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith(".") and not os.path.exists(os.path.join(deploy, source)):
            problems.append(f"{name}: mounts {source}, which does not exist")
    if "build" in svc and not os.path.exists(os.path.join(deploy, svc["build"]["context"], svc["build"].get("dockerfile", "Dockerfile"))):
        problems.append(f"{name}: no Dockerfile at its build context")
    for dep, cond in (svc.get("depends_on") or {}).items():
        if dep not in services:
            problems.append(f"{name}: depends on unknown service {dep}")
        elif cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            problems.append(f"{name}: waits for {dep} to be healthy, which has no healthcheck")

edge = interpolate(compose["networks"]["edge"]["ipam"]["config"][0]["subnet"])
haproxy = open(os.path.join(deploy, "haproxy.cfg")).read()
for name, svc in services.items():
    mounts = [v for v in svc.get("volumes", []) if v.split(":")[1] == "/etc/torii-realtime/realtime.toml"]
    if not mounts:
        continue
    env = {k: interpolate(v) for k, v in (svc.get("environment") or {}).items()}
    if svc.get("command") == ["serve"]:
        if edge not in env.get("TORII_REALTIME__SERVER__TRUSTED_PROXIES", ""):
            problems.append(f"{name}: trusted_proxies does not name the edge network {edge}")
        if not re.search(rf"^\s*server\s+{re.escape(name)}\s+{re.escape(name)}:8090\b", haproxy, re.M):
            problems.append(f"{name}: no server line for it in haproxy.cfg")
    config = os.path.normpath(os.path.join(deploy, mounts[0].split(":")[0]))
    run = subprocess.run([binary, "config", "check", config],
                         env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True)
    if run.returncode != 0:
        problems.append(f"{name}: {run.stderr.strip()}")
    else:
        print(f"{name}: {run.stdout.strip()} with its environment")

for p in problems:
    print(f"image-check: FAIL: compose: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY

echo "image-check: ok"
