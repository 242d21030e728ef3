#!/bin/sh
# session-start.sh starts the desktop of an opennimble streaming session:
# an X server with a VNC server in it (TigerVNC's Xvnc), the openbox window
# manager and an xterm, after the session's initialization scripts.
#
# The local driver runs it inside the session's bubblewrap sandbox; the
# Kubernetes workstation image (deploy/workstation/Containerfile) runs the
# very same file as its entry point. Everything it needs comes from the
# environment:
#
#   NIMBLE_RUNTIME  the session's runtime folder (required): the VNC unix
#                   socket vnc.sock, the initialization scripts in init/,
#                   their log init.log, and the markers ready and failed
#   HOME            the session's home: its volume
#   NIMBLE_DISPLAY  the X display number (default 1)
#   NIMBLE_GEOMETRY the screen, WIDTHxHEIGHT or WIDTHxHEIGHTxDEPTH (default
#                   1280x800x24; depth 16 halves the framebuffer)
#   NIMBLE_GLX      1 turns on the X server's GLX extension (software
#                   OpenGL: Mesa's llvmpipe, about 50 MiB more per desktop);
#                   off by default, since xterm and openbox do not use it
#   NIMBLE_WEBSOCKET_PORT  when set, websockify serves noVNC and the VNC
#                   socket on this TCP port (the container image; the local
#                   driver bridges the socket itself)
#
# init/ holds system-NNN and user-NNN scripts, each with a .name file that
# names its studio component. system-* run before the X server starts,
# user-* once the desktop's display is up, both in name order. Their output
# goes to init.log; the first that fails writes the component's name and its
# exit status to "failed" and ends the session with status 3.
#
# The script writes "ready" once the desktop answers, then waits for the X
# server: when it ends, for whatever reason, the session's desktop is over.
set -u

: "${NIMBLE_RUNTIME:?NIMBLE_RUNTIME names the session runtime folder}"
display=":${NIMBLE_DISPLAY:-1}"
geometry="${NIMBLE_GEOMETRY:-1280x800x24}"
depth=24
case "$geometry" in *x*x*)
	depth="${geometry##*x}"
	geometry="${geometry%x*}"
	;;
esac
glx="-extension GLX"
[ "${NIMBLE_GLX:-0}" = 1 ] && glx="+extension GLX"
log="$NIMBLE_RUNTIME/init.log"
sock="$NIMBLE_RUNTIME/vnc.sock"
export DISPLAY="$display"
# Caches and sessions of the desktop programs stay out of the home volume.
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-/tmp/.cache}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/.run}"
mkdir -p "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR" /tmp/.X11-unix 2>/dev/null
chmod 1777 /tmp/.X11-unix 2>/dev/null
chmod 700 "$XDG_RUNTIME_DIR"
rm -f "$NIMBLE_RUNTIME/ready" "$NIMBLE_RUNTIME/failed" "$sock"

# run_scripts KIND runs init/KIND-* in order, logging each; it stops the
# session at the first failure.
run_scripts() {
	for script in "$NIMBLE_RUNTIME"/init/"$1"-*; do
		case "$script" in *.name) continue ;; esac
		[ -f "$script" ] || continue
		name=$(cat "$script.name" 2>/dev/null || basename "$script")
		echo "== $1 initialization: $name" >>"$log"
		(cd "$HOME" && sh "$script") >>"$log" 2>&1
		status=$?
		echo "== $1 initialization: $name: exit status $status" >>"$log"
		if [ "$status" -ne 0 ]; then
			printf '%s\n%s\n%s\n' "$1" "$name" "$status" >"$NIMBLE_RUNTIME/failed"
			exit 3
		fi
	done
}

run_scripts system

xvnc=Xvnc
command -v Xvnc >/dev/null 2>&1 || xvnc=Xtigervnc
# No TCP port and no abstract X socket: the display is reached only through
# the private /tmp, and VNC only through the runtime folder's socket.
# shellcheck disable=SC2086 # $glx is two words
"$xvnc" "$display" -geometry "$geometry" -depth "$depth" $glx -rfbport -1 -rfbunixpath "$sock" \
	-SecurityTypes None -nolisten tcp -nolisten local -AlwaysShared -desktop "${NIMBLE_SESSION_ID:-opennimble}" \
	>>"$NIMBLE_RUNTIME/desktop.log" 2>&1 &
xpid=$!
i=0
until xdpyinfo >/dev/null 2>&1; do
	if ! kill -0 "$xpid" 2>/dev/null; then
		echo "session-start: the X server ended before it answered" >>"$NIMBLE_RUNTIME/desktop.log"
		exit 4
	fi
	i=$((i + 1))
	[ "$i" -gt 600 ] && exit 4 # 30 seconds
	sleep 0.05
done

run_scripts user

openbox >>"$NIMBLE_RUNTIME/desktop.log" 2>&1 &
# The terminal starts once the window manager manages the screen: a window
# mapped while openbox starts up may never be shown.
i=0
until xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q "window id"; do
	i=$((i + 1))
	[ "$i" -gt 600 ] && break
	sleep 0.02
done
# At +96+48: clear of noVNC's control bar, which the browser shows over the
# left edge of the screen, and of its connection banner along the top.
(cd "$HOME" && exec xterm -geometry 100x30+96+48 -title "opennimble" >>"$NIMBLE_RUNTIME/desktop.log" 2>&1) &
if [ -n "${NIMBLE_WEBSOCKET_PORT:-}" ]; then
	websockify --web /usr/share/novnc "$NIMBLE_WEBSOCKET_PORT" --unix-target="$sock" \
		>>"$NIMBLE_RUNTIME/desktop.log" 2>&1 &
fi
: >"$NIMBLE_RUNTIME/ready"
wait "$xpid"
status=$?
echo "session-start: the X server ended with status $status" >>"$NIMBLE_RUNTIME/desktop.log"
exit "$status"
