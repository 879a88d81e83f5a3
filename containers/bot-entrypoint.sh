#!/bin/sh
# A private PulseAudio with a null sink for the SDK, then the bot; tini forwards SIGTERM to it, and the
# bot leaves the meeting and writes its report before exiting with the code for how it ended.
set -e
pulseaudio --daemonize=yes --exit-idle-time=-1 --disallow-exit --load="module-null-sink sink_name=rollcall" >/dev/null 2>&1 || true
exec /opt/rollcall/bin/rollcall bot "$@"
