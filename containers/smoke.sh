#!/usr/bin/env bash
# Smoke tests of the built images, in order (`make containers` runs them after the builds; they need
# podman, so they are not part of `make test`):
#   a) the bot image replays the AMI meeting with its simulated transport, as its non-root user, on a
#      read-only root filesystem with only a tmpfs /tmp to write to and no network (so the speech model
#      can only come from the image), and its talk time per participant equals the host replay's
#   b) the bot image's own entrypoint (PulseAudio, then `rollcall bot` with the real Meeting SDK) with
#      made-up credentials ends with its documented exit code and prints none of them
#   c) compose.yaml (Redis, the orchestrator, the API from the orchestrator image) through podman-compose:
#      a simulated meeting scheduled through the orchestrator image gets its bot and its record is stored
#      (read back through the API)
#   d) the Job KubernetesLauncher builds, as a Pod (podman plays no Jobs) with `podman kube play`: the bot
#      image starts under the Job's security context, reaches c's Redis, and ends with its exit code
#   e) the bot image's RTMS worker (`rollcall rtms`, the real rtms SDK) receives a 15 s stream of the AMI
#      meeting from the host's loopback emulator of Zoom's RTMS servers (TLS with the emulator's CA), on a
#      read-only root, and reports it: exit 0, talk for the speakers, hands not observed, no secret shown
# Exits non-zero at the first failure, saying which test and why.
#   containers/smoke.sh            # env: ROLLCALL (host rollcall), SHARED_DATA, BOT_IMAGE, ORCH_IMAGE
set -euo pipefail
cd "$(dirname "$0")"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/podman/containers.conf}"
ROLLCALL="${ROLLCALL:-../.venv/bin/rollcall}"
SHARED_DATA="$(cd "${SHARED_DATA:-../../shared/data}" && pwd)"
BOT_IMAGE="${BOT_IMAGE:-localhost/rollcall-bot:latest}"
ORCH_IMAGE="${ORCH_IMAGE:-localhost/rollcall-orchestrator:latest}"
AMI="$SHARED_DATA/meetings/ami-es2004a-750s"
AMI_ID=85020040750
PROJECT=rollcall-smoke
WORK="$(mktemp -d /tmp/rollcall-smoke.XXXXXX)"
# made-up credentials: none of them may appear in any output
FAKE_ID="smokeClientId$RANDOM$RANDOM" FAKE_SECRET="smokeClientSecret$RANDOM$RANDOM$RANDOM"
FAKE_ZAK="smokeZak$RANDOM$RANDOM" FAKE_PASSCODE="smokePwd$RANDOM$RANDOM"
ADMIN_TOKEN="smoke-admin-$RANDOM$RANDOM"
POD_SECRETS=()
POD_NAME=""

step() { echo "smoke: $*" >&2; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
compose() {
    ROLLCALL_SMOKE_SCENARIOS="$SHARED_DATA/meetings" ROLLCALL_SMOKE_ADMIN_TOKEN="$ADMIN_TOKEN" \
        ROLLCALL_API_PORT="${API_PORT:-8080}" podman-compose -p "$PROJECT" -f compose.yaml -f compose.smoke.yaml "$@"
}
cleanup() {
    [ -n "$POD_NAME" ] && podman pod rm -f "$POD_NAME" >/dev/null 2>&1
    for s in "${POD_SECRETS[@]}"; do podman secret rm "$s" >/dev/null 2>&1; done
    compose down -v >/dev/null 2>&1
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
    rm -rf "$WORK"
    true
}
trap cleanup EXIT
no_secrets() {  # what, file...
    local what="$1"; shift
    for s in "$FAKE_ID" "$FAKE_SECRET" "$FAKE_ZAK" "$FAKE_PASSCODE"; do
        if grep -q -F -- "$s" "$@"; then fail "$what: a made-up credential appears in its output"; fi
    done
    if grep -q -E 'eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.' "$@"; then fail "$what: a JWT appears in its output"; fi
}
talk_times() {  # report.json -> "KEY=SECONDS ..." in the scenario's order
    python3 -c 'import json, sys; print(" ".join("%s=%s" % (p["key"], p["talk_time_s"]) for p in json.load(open(sys.argv[1]))["participants"]))' "$1"
}
for image in "$BOT_IMAGE" "$ORCH_IMAGE"; do podman image exists "$image" || fail "no image $image (make containers builds it)"; done
[ -f "$AMI/scenario.yaml" ] || fail "the AMI meeting is not at $AMI (SHARED_DATA)"
[ -x "$ROLLCALL" ] || fail "no host rollcall at $ROLLCALL (make install)"

# ---- a) the AMI replay in the bot image ------------------------------------------------------------------
t0=$SECONDS
step "a) AMI replay on the host ($ROLLCALL)"
"$ROLLCALL" replay "$AMI/scenario.yaml" --out "$WORK/host" >"$WORK/host.log" 2>&1 || { cat "$WORK/host.log" >&2; fail "a) the host replay failed"; }
step "a) AMI replay in $BOT_IMAGE: read-only root, tmpfs /tmp only, no network, all capabilities dropped"
if ! podman run --rm --network=none --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,nosuid,nodev,size=512m \
        --cap-drop=ALL --security-opt=no-new-privileges -v "$AMI:/data/ami:ro" \
        --entrypoint /usr/bin/tini "$BOT_IMAGE" -- sh -c '
            echo "uid=$(id -u) gid=$(id -g)" >&2
            if touch /opt/rollcall/probe /home/rollcall/probe 2>/dev/null; then echo "root filesystem is writable" >&2; exit 9; fi
            rollcall replay /data/ami/scenario.yaml --out /tmp/out >&2 && cat /tmp/out/report.json' \
        >"$WORK/container.json" 2>"$WORK/container.log"; then
    cat "$WORK/container.log" >&2; fail "a) the replay in the bot image failed"
fi
grep -q '^uid=10001 gid=10001$' "$WORK/container.log" || fail "a) the bot image does not run as uid/gid 10001: $(head -1 "$WORK/container.log")"
host="$(talk_times "$WORK/host/report.json")" || fail "a) the host report has no talk times"
container="$(talk_times "$WORK/container.json")" || fail "a) the container's report has no talk times"
step "a) talk time, host:      $host"
step "a) talk time, container: $container"
[ "$host" = "$container" ] || fail "a) the bot image's talk time differs from the host replay's"
words="$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["transcript"] or []))' "$WORK/container.json")"
[ "$words" -gt 0 ] || fail "a) no transcript: the speech model did not load from the image"
step "a) passed in $((SECONDS - t0)) s (talk time equal for every participant; $words transcript segments, model from the image)"

# ---- b) `rollcall bot` with made-up credentials ------------------------------------------------------------
t0=$SECONDS
step "b) rollcall bot (the image's entrypoint) with made-up credentials, no network"
set +e
timeout 180 podman run --rm --network=none --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,nosuid,nodev,size=256m \
    --cap-drop=ALL --security-opt=no-new-privileges \
    -e ZOOM_SDK_CLIENT_ID="$FAKE_ID" -e ZOOM_SDK_CLIENT_SECRET="$FAKE_SECRET" -e ZOOM_ZAK="$FAKE_ZAK" \
    "$BOT_IMAGE" --meeting-url "https://zoom.us/j/85012345678?pwd=$FAKE_PASSCODE" --out /tmp/out --no-asr \
    >"$WORK/bot.out" 2>"$WORK/bot.err"
code=$?
set -e
last="$(tail -1 "$WORK/bot.err")"
step "b) exit $code; last line: $last"
case "$code" in
    10|11) ;;  # authentication failed / could not reach Zoom (docs/architecture.md): what made-up keys get
    *) cat "$WORK/bot.err" >&2; fail "b) rollcall bot ended with exit $code, not 10 or 11" ;;
esac
grep -q "(exit $code)" <<<"$last" || fail "b) the last line on stderr does not say how the bot ended"
no_secrets "b) rollcall bot" "$WORK/bot.out" "$WORK/bot.err"
step "b) passed in $((SECONDS - t0)) s"

# ---- c) compose: Redis, orchestrator, API; a simulated meeting and its record ------------------------------
t0=$SECONDS
API_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
step "c) podman-compose up ($PROJECT, API on port $API_PORT)"
compose down -v >/dev/null 2>&1 || true
compose up -d >"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log" >&2; fail "c) podman-compose up failed"; }
api="${PROJECT}_api_1" redis="${PROJECT}_redis_1" orch="${PROJECT}_orchestrator_1"
for _ in $(seq 60); do
    # the API answers with Redis behind it, and the orchestrator has connected (it restarts until it can)
    if podman exec "$api" rollcall status --json >/dev/null 2>&1 \
        && curl -sf -o /dev/null -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$API_PORT/bots" \
        && podman logs "$orch" 2>&1 | grep -q 'local bots, capacity'; then ready=1; break; fi
    sleep 1
done
[ "${ready:-}" = 1 ] || { podman logs --tail 20 "$api" >&2; podman logs --tail 20 "$orch" >&2; fail "c) the API and the orchestrator were not up with Redis within 60 s"; }
podman exec "$api" rollcall schedule add --scenario /scenarios/ami-es2004a-750s/scenario.yaml --at +5 >&2 \
    || fail "c) rollcall schedule add (orchestrator image) failed"
step "c) scheduled the AMI meeting (60 s, real time) through the orchestrator image; waiting for its record"
for _ in $(seq 150); do
    if curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$API_PORT/reports/$AMI_ID" >"$WORK/record.json"; then got=1; break; fi
    sleep 1
done
if [ "${got:-}" != 1 ]; then
    podman exec "$api" rollcall status >&2 || true; podman logs --tail 30 "$orch" >&2
    fail "c) no record for meeting $AMI_ID within 150 s"
fi
python3 - "$WORK/record.json" "$AMI_ID" <<'EOF' || fail "c) the stored record is not the meeting's"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["meeting"]["id"] == sys.argv[2], r["meeting"]
assert [p["key"] for p in r["participants"]] == ["FEE016", "FEE013", "MEO015", "MEE014"], r["participants"]
assert r["observer"]["observed_s"] > 55, r["observer"]
EOF
podman exec "$api" rollcall status --json >"$WORK/status.json"
python3 - "$WORK/status.json" <<'EOF' || fail "c) the orchestrator's bot did not end as the meeting did"
import json, sys
bots = json.load(open(sys.argv[1]))["bots"]
assert len(bots) == 1 and bots[0]["status"] == "finished", bots
EOF
step "c) record talk time:      $(talk_times "$WORK/record.json") (bot at wall-clock pace, as in a meeting)"
step "c) passed in $((SECONDS - t0)) s"

# ---- d) the launcher's Job as a pod -----------------------------------------------------------------------
t0=$SECONDS
step "d) the Job KubernetesLauncher builds (orchestrator image), played as a pod on the compose network"
podman run --rm -i --network=none --read-only --entrypoint /opt/rollcall/bin/python "$ORCH_IMAGE" - \
    redis://redis:6379/0 "$FAKE_ID" "$FAKE_SECRET" "$FAKE_PASSCODE" <podman/bot_pod.py >"$WORK/bot-pod.json" \
    || fail "d) the launcher did not build the Job"
python3 - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
built = json.loads((work / "bot-pod.json").read_text())
(work / "pod.json").write_text(json.dumps(built["pod"]))
(work / "job-name").write_text(built["job"]["metadata"]["name"])
(work / "job-id").write_text(built["job"]["metadata"]["annotations"]["rollcall/job-id"])
for name, secret in built["secrets"].items():  # podman 4.3 reads a secret's data map, base64 values
    (work / f"secret.{name}").write_text(json.dumps(secret["data"]))
EOF
for f in "$WORK"/secret.*; do
    name="${f##*/secret.}"
    podman secret rm "$name" >/dev/null 2>&1 || true
    podman secret create "$name" "$f" >/dev/null
    POD_SECRETS+=("$name")
done
POD_NAME="$(cat "$WORK/job-name")"
podman kube play --network "${PROJECT}_default" "$WORK/pod.json" >"$WORK/play.log" 2>&1 \
    || { cat "$WORK/play.log" >&2; fail "d) podman kube play refused the pod"; }
ctr="$POD_NAME-bot"
code="$(timeout 180 podman wait "$ctr")" || fail "d) the bot pod did not end within 180 s"
podman logs "$ctr" >"$WORK/pod.log" 2>&1
step "d) exit $code; last line: $(tail -1 "$WORK/pod.log")"
case "$code" in
    10|11) ;;
    *) cat "$WORK/pod.log" >&2; fail "d) the bot pod ended with exit $code, not 10 or 11" ;;
esac
facts="$(podman inspect "$ctr" --format '{{.ImageName}} user={{.Config.User}} ro={{.HostConfig.ReadonlyRootfs}} mem={{.HostConfig.Memory}}')"
step "d) $facts"
[ "$facts" = "$BOT_IMAGE user=10001:10001 ro=true mem=1073741824" ] || fail "d) the pod did not run the bot image as the Job says"
no_secrets "d) the bot pod" "$WORK/pod.log"
reported="$(podman exec "$redis" redis-cli hget "rollcall:bot:$(cat "$WORK/job-id")" exit_code)"
[ "$reported" = "$code" ] || fail "d) the bot did not report its exit to Redis (got '$reported')"
step "d) passed in $((SECONDS - t0)) s (the bot reported exit $code to Redis)"
# ---- e) an RTMS worker in the bot image ----------------------------------------------------------------------
t0=$SECONDS
RTMS_SECONDS=15
step "e) rollcall rtms in $BOT_IMAGE (the real rtms SDK) against the host's emulator of Zoom's RTMS servers"
"$(dirname "$ROLLCALL")/python" podman/rtms_stream.py "$AMI/scenario.yaml" "$WORK/rtms" "$RTMS_SECONDS" \
    >"$WORK/rtms-emulator.log" 2>&1 &
emulator=$!
for _ in $(seq 100); do [ -s "$WORK/rtms/stream.env" ] && break; sleep 0.2; done
[ -s "$WORK/rtms/stream.env" ] || { cat "$WORK/rtms-emulator.log" >&2; fail "e) the RTMS emulator did not start"; }
# shellcheck disable=SC1091
. "$WORK/rtms/stream.env"
rtms_secret="$(cat "$WORK/rtms/secret")"
(umask 077; printf 'ZOOM_RTMS_CLIENT_ID=%s\nZOOM_RTMS_CLIENT_SECRET=%s\nZM_RTMS_CA=/run/rtms-ca.pem\n' \
    "$RTMS_CLIENT" "$rtms_secret" >"$WORK/rtms.env")
code=0
timeout 180 podman run --rm --network=host --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,nosuid,nodev,size=256m \
        --cap-drop=ALL --security-opt=no-new-privileges --env-file "$WORK/rtms.env" -v "$RTMS_CA:/run/rtms-ca.pem:ro" \
        --entrypoint /usr/bin/tini "$BOT_IMAGE" -- sh -c "rollcall rtms --meeting-uuid '$RTMS_UUID' \
            --stream-id '$RTMS_STREAM' --server-urls '$RTMS_URLS' --started-ms $RTMS_T0_MS --meeting-id $AMI_ID \
            --no-asr --out /tmp/out >&2 && cat /tmp/out/report.json" >"$WORK/rtms.json" 2>"$WORK/rtms.log" || code=$?
wait "$emulator" || true
[ "$code" = 0 ] || { tail -20 "$WORK/rtms.log" >&2; fail "e) rollcall rtms in the bot image exited $code"; }
if grep -q -F -- "$rtms_secret" "$WORK/rtms.log" "$WORK/rtms.json"; then fail "e) the RTMS secret appears in its output"; fi
got="$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["observer"]["transport"], r["meeting"]["duration_s"], sum(1 for p in r["participants"] if (p["talk_time_s"] or 0) > 1), max((p["hand_raises"] is None for p in r["participants"]), default=False))' "$WORK/rtms.json")" \
    || fail "e) the RTMS worker wrote no report"
step "e) report: transport, duration, participants who talked over 1 s, hands not observed: $got"
read -r transport duration talked unobserved <<<"$got"
[ "$transport" = rtms ] && [ "$unobserved" = True ] && [ "$talked" -ge 2 ] \
    && python3 -c "import sys; sys.exit(not $RTMS_SECONDS - 1 <= $duration <= $RTMS_SECONDS + 5)" \
    || fail "e) the RTMS worker's report is not what the stream held"
step "e) passed in $((SECONDS - t0)) s"
step "all passed"
