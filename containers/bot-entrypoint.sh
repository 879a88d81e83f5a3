#!/bin/sh
# The bot's HOME first, then a private PulseAudio with a null sink under it (its socket and cookie live
# there, so the SDK finds it), waited for, then the bot, which keeps this HOME (ROLLCALL_BOT_HOME) rather
# than making its own. tini forwards SIGTERM to the bot, which leaves the meeting and writes its report
# before exiting with the code for how it ended (22 here: the audio system did not start).
set -eu
export HOME="${ROLLCALL_BOT_HOME:-${TMPDIR:-/tmp}/rollcall-home}"
export ROLLCALL_BOT_HOME="$HOME" XDG_RUNTIME_DIR="$HOME/.run"
mkdir -p "$XDG_RUNTIME_DIR"
chmod 700 "$HOME" "$XDG_RUNTIME_DIR"
pulseaudio --daemonize=yes --exit-idle-time=-1 --disallow-exit --load="module-null-sink sink_name=rollcall" \
    >/dev/null 2>&1 || true
tries=0
until pactl info >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 25 ]; then
        echo "bot-entrypoint: PulseAudio did not start within 5 s (exit 22)" >&2
        exit 22
    fi
    sleep 0.2
done
exec rollcall bot "$@"
