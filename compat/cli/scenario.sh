#!/usr/bin/env bash
# The compatibility scenario (see compat/README.md) through the AWS CLI: v2 of
# Debian's awscli package, /usr/bin/aws, with its own nimble model, or the
# one named by AWS_CLI (today's AWS CLI v1, which has no nimble model of its
# own, with the model `opennimble model install` wrote into ~/.aws/models).
#
# Environment (compat_test.go sets it): NIMBLE_ENDPOINT_URL,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION. The server
# runs with --page-size 1, so two sessions and two backups take two pages;
# the CLI follows nextToken itself unless --no-paginate is given.
#
# Every aws call costs the better part of a second of Python start-up, so
# this scenario makes each call count (about 50 in all): two sessions rather
# than three, and the maxBackupsToRetain pruning is left to the SDK clients.
# `aws nimble wait ...` polls every 5 to 10 seconds (the model's waiters);
# this script polls every 100 ms itself (the server completes transitions at
# once, so the first poll usually sees the end state).
set -euo pipefail

AWS=${AWS_CLI:-/usr/bin/aws}
: "${NIMBLE_ENDPOINT_URL:?set NIMBLE_ENDPOINT_URL to the server, e.g. http://127.0.0.1:8080}"
# nimble runs an aws nimble command that must succeed. Many run inside $(...),
# where set -e does not reach the script, so a failure ends the script itself.
main=$$
nimble() {
	local rc=0
	try_nimble "$@" || rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL: aws nimble $1 exited with status $rc" >&2
		kill -TERM "$main"
		exit $rc
	fi
}
# try_nimble runs an aws nimble command that may fail.
try_nimble() {
	"$AWS" nimble --endpoint-url "$NIMBLE_ENDPOINT_URL" --output text --cli-connect-timeout 5 --cli-read-timeout 30 "$@"
}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok: $*"; }
# expect WANT GOT WHAT
expect() { [ "$2" = "$1" ] || fail "$3: got '$2', want '$1'"; }
# one_of WHAT GOT ALLOWED...
one_of() {
	local what=$1 got=$2
	shift 2
	case " $* " in *" $got "*) ;; *) fail "$what: got '$got', want one of: $*" ;; esac
}
# sorted WORDS...: the words sorted, on one line.
sorted() { printf '%s\n' "$@" | sort | paste -sd' ' -; }
# iso8601 TS: the CLI v2 prints the timestamps it parsed as
# 2026-11-26T19:25:39.891000+00:00; the CLI v1 (cli_timestamp_format "none",
# its default) prints them as the server sent them, 2026-11-26T19:25:39.891Z.
# A service error exits 254 with v2, 255 with v1.
tz_suffix='\+00:00' service_error=254
aws_version=$("$AWS" --version 2>&1)
case "$aws_version" in aws-cli/1.*) tz_suffix='Z' service_error=255 ;; esac
iso8601() { [[ $1 =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$tz_suffix$ ]] || fail "timestamp '$1'"; }

# wait_for WHAT WANT PASSING aws-args...: runs the aws arguments, whose
# --query must put the state first, until the state is WANT, and leaves the
# other fields of the last answer in $rest. A state that is neither WANT nor
# in PASSING fails at once.
wait_for() {
	local what=$1 want=$2 pass=$3 out state deadline=$((SECONDS + 60))
	shift 3
	while :; do
		out=$(nimble "$@")
		read -r state rest <<<"$(echo $out)"
		[ "$state" = "$want" ] && return 0
		case " $pass " in *" $state "*) ;; *) fail "$what: state '$state', want $want (answer: $out)" ;; esac
		[ $SECONDS -lt $deadline ] || fail "timed out waiting for $what $want"
		sleep 0.1
	done
}

# expect_error CODE OPERATION aws-args...: the call must exit 254 (v1: 255) with the
# CLI's message for a service error of that code.
expect_error() {
	local code=$1 op=$2 out rc=0
	shift 2
	out=$(try_nimble "$@" 2>&1) || rc=$?
	out=$(echo $out)
	expect "$service_error" "$rc" "exit status of $op (output: $out)"
	case $out in
	"An error occurred ($code) when calling the $op operation: "?*) ok "$op raised $code: ${out#*operation: }" ;;
	*) fail "$op: want $code, got: $out" ;;
	esac
}

# stop_and_backup SESSION: stops the session, waits for STOPPED and for its
# AUTOMATIC backup to be listed and READY; sets $backup.
stop_and_backup() {
	local sid=$1 deadline=$((SECONDS + 60))
	one_of "stop-streaming-session $sid" "$(nimble stop-streaming-session --studio-id "$STUDIO" --session-id "$sid" \
		--volume-retention-mode RETAIN --query session.state)" STOP_IN_PROGRESS STOPPED
	wait_for "session $sid" STOPPED STOP_IN_PROGRESS get-streaming-session --studio-id "$STUDIO" --session-id "$sid" \
		--query 'session.[state, stoppedBy, stoppedAt]'
	read -r by at <<<"$rest"
	expect test "$by" "stoppedBy"
	iso8601 "$at"
	# With --output text the CLI applies --query to each page, so list
	# queries here select items and never aggregate across pages.
	backup=""
	while :; do
		read -r backup _ <<<"$(echo $(nimble list-streaming-session-backups --studio-id "$STUDIO" \
			--query "streamingSessionBackups[?sessionId=='$sid'].backupId"))"
		[ -z "$backup" ] || break
		[ $SECONDS -lt $deadline ] || fail "no backup of $sid was listed"
		sleep 0.1
	done
	wait_for "backup $backup" READY CREATE_IN_PROGRESS get-streaming-session-backup --studio-id "$STUDIO" --backup-id "$backup" \
		--query 'streamingSessionBackup.[state, backupId, sessionId, ownedBy, launchProfileId, createdAt, arn]'
	read -r b_id b_sid b_owner b_lp b_created b_arn <<<"$rest"
	expect "$backup $sid test $PROFILE" "$b_id $b_sid $b_owner $b_lp" "backup $backup"
	iso8601 "$b_created"
	[[ $b_arn == arn:aws:nimble:*"$backup" ]] || fail "backup arn '$b_arn'"
	ok "session $sid STOPPED; its backup $backup is READY"
}

echo "using $aws_version"

# Studio.
read -r STUDIO created <<<"$(nimble create-studio --studio-name compatcli --display-name "Compat CLI" \
	--admin-role-arn arn:aws:iam::000000000000:role/admin --user-role-arn arn:aws:iam::000000000000:role/user \
	--tags '{"suite": "compat"}' --query 'studio.[studioId, createdAt]')"
iso8601 "$created"
wait_for "studio $STUDIO" READY CREATE_IN_PROGRESS get-studio --studio-id "$STUDIO" --query studio.state
ok "studio $STUDIO READY"

# Streaming image and studio component.
IMAGE=$(nimble create-streaming-image --studio-id "$STUDIO" --name compat-image --description compat \
	--ec2-image-id ami-0123456789abcdef0 --query streamingImage.streamingImageId)
COMPONENT=$(nimble create-studio-component --studio-id "$STUDIO" --name compat-component --type CUSTOM --description compat \
	--query studioComponent.studioComponentId)
wait_for "image $IMAGE" READY CREATE_IN_PROGRESS get-streaming-image --studio-id "$STUDIO" --streaming-image-id "$IMAGE" \
	--query streamingImage.state
wait_for "component $COMPONENT" READY CREATE_IN_PROGRESS get-studio-component --studio-id "$STUDIO" \
	--studio-component-id "$COMPONENT" --query studioComponent.state
ok "streaming image $IMAGE and studio component $COMPONENT READY"

# Launch profile whose sessions back up automatically and keep two backups.
PROFILE=$(nimble create-launch-profile --studio-id "$STUDIO" --name compat-profile --description compat \
	--ec2-subnet-ids subnet-0123456789abcdef0 --launch-profile-protocol-versions 2021-03-31 --studio-component-ids "$COMPONENT" \
	--stream-configuration '{
		"clipboardMode": "ENABLED",
		"ec2InstanceTypes": ["g4dn.xlarge", "g4dn.2xlarge"],
		"streamingImageIds": ["'"$IMAGE"'"],
		"maxSessionLengthInMinutes": 60,
		"sessionPersistenceMode": "ACTIVATED",
		"automaticTerminationMode": "ACTIVATED",
		"maxStoppedSessionLengthInMinutes": 120,
		"sessionBackup": {"mode": "AUTOMATIC", "maxBackupsToRetain": 2}
	}' --query launchProfile.launchProfileId)
wait_for "launch profile $PROFILE" READY CREATE_IN_PROGRESS get-launch-profile --studio-id "$STUDIO" --launch-profile-id "$PROFILE" \
	--query 'launchProfile.[state, streamConfiguration.sessionBackup.mode, streamConfiguration.sessionBackup.maxBackupsToRetain]'
expect "AUTOMATIC 2" "$rest" "streamConfiguration.sessionBackup"
ok "launch profile $PROFILE READY with sessionBackup AUTOMATIC/2"

# Two sessions: two pages of list-streaming-sessions.
SESSIONS=()
for i in 0 1; do
	read -r sid state <<<"$(nimble create-streaming-session --studio-id "$STUDIO" --launch-profile-id "$PROFILE" \
		--ec2-instance-type g4dn.xlarge --streaming-image-id "$IMAGE" --tags "{\"session\": \"$i\"}" --query 'session.[sessionId, state]')"
	one_of "create-streaming-session $sid" "$state" CREATE_IN_PROGRESS READY
	SESSIONS+=("$sid")
done
for sid in "${SESSIONS[@]}"; do
	wait_for "session $sid" READY CREATE_IN_PROGRESS get-streaming-session --studio-id "$STUDIO" --session-id "$sid" \
		--query 'session.[state, backupMode, maxBackupsToRetain, sessionPersistenceMode, ownedBy, startedAt]'
	read -r mode keep persist owner started <<<"$rest"
	expect "AUTOMATIC 2 ACTIVATED test" "$mode $keep $persist $owner" "session $sid"
	iso8601 "$started"
done
ok "sessions ${SESSIONS[*]} READY"
S1=${SESSIONS[0]} S2=${SESSIONS[1]}

read -r n token <<<"$(nimble list-streaming-sessions --studio-id "$STUDIO" --no-paginate --query '[length(sessions), nextToken]')"
[ "$n" -lt 2 ] && [ "$token" != None ] || fail "the first page should not hold both sessions ($n sessions, nextToken $token)"
expect "$(sorted "${SESSIONS[@]}")" "$(sorted $(nimble list-streaming-sessions --studio-id "$STUDIO" --query 'sessions[].sessionId'))" \
	"list-streaming-sessions, all pages"
ok "list-streaming-sessions returned both sessions over two pages"

# Stop: an AUTOMATIC backup; start from it.
stop_and_backup "$S1"
B1=$backup
read -r state from <<<"$(nimble start-streaming-session --studio-id "$STUDIO" --session-id "$S1" --backup-id "$B1" \
	--query 'session.[state, startedFromBackupId]')"
one_of "start-streaming-session $S1" "$state" START_IN_PROGRESS READY
expect "$B1" "$from" "startedFromBackupId of the start-streaming-session answer"
wait_for "session $S1" READY START_IN_PROGRESS get-streaming-session --studio-id "$STUDIO" --session-id "$S1" \
	--query 'session.[state, startedFromBackupId]'
expect "$B1" "$rest" "startedFromBackupId"
ok "session $S1 started from $B1"

# A second backup: two pages of list-streaming-session-backups.
stop_and_backup "$S2"
B2=$backup
read -r n token <<<"$(nimble list-streaming-session-backups --studio-id "$STUDIO" --no-paginate \
	--query '[length(streamingSessionBackups), nextToken]')"
[ "$n" -lt 2 ] && [ "$token" != None ] || fail "the first page should not hold both backups ($n backups, nextToken $token)"
expect "$(sorted "$B1" "$B2")" \
	"$(sorted $(nimble list-streaming-session-backups --studio-id "$STUDIO" --owned-by test --query 'streamingSessionBackups[].backupId'))" \
	"list-streaming-session-backups, all pages"
ok "list-streaming-session-backups returned both backups over two pages"

# Errors.
expect_error ResourceNotFoundException GetStreamingSessionBackup get-streaming-session-backup --studio-id "$STUDIO" \
	--backup-id bak-doesnotexist0000
expect_error ResourceNotFoundException StartStreamingSession start-streaming-session --studio-id "$STUDIO" --session-id "$S2" \
	--backup-id bak-doesnotexist0000
expect_error ConflictException StartStreamingSession start-streaming-session --studio-id "$STUDIO" --session-id "$S1"

# Tags, by ARN.
ARN=$(nimble get-streaming-session --studio-id "$STUDIO" --session-id "$S1" --query session.arn)
nimble tag-resource --resource-arn "$ARN" --tags team=fx,stage=compat
expect "0 compat fx 3" "$(echo $(nimble list-tags-for-resource --resource-arn "$ARN" \
	--query '[tags.session, tags.stage, tags.team, length(keys(tags))]'))" "tags after tag-resource (session stage team count)"
nimble untag-resource --resource-arn "$ARN" --tag-keys stage session
expect "None None fx 1" "$(echo $(nimble list-tags-for-resource --resource-arn "$ARN" \
	--query '[tags.session, tags.stage, tags.team, length(keys(tags))]'))" "tags after untag-resource (session stage team count)"
expect_error ResourceNotFoundException ListTagsForResource list-tags-for-resource --resource-arn "${ARN%/*}/ses-doesnotexist0000"
ok "tag-resource, list-tags-for-resource, untag-resource"

# Delete everything, waiting for DELETED.
for sid in "${SESSIONS[@]}"; do
	one_of "delete-streaming-session $sid" "$(nimble delete-streaming-session --studio-id "$STUDIO" --session-id "$sid" \
		--query session.state)" DELETE_IN_PROGRESS DELETED
done
for sid in "${SESSIONS[@]}"; do
	wait_for "session $sid" DELETED DELETE_IN_PROGRESS get-streaming-session --studio-id "$STUDIO" --session-id "$sid" --query session.state
done
expect "" "$(echo $(nimble list-streaming-sessions --studio-id "$STUDIO" --query 'sessions[].sessionId'))" "sessions listed after deletion"
deadline=$((SECONDS + 60))
until [ -z "$(echo $(nimble list-streaming-session-backups --studio-id "$STUDIO" --query 'streamingSessionBackups[].backupId'))" ]; do
	[ $SECONDS -lt $deadline ] || fail "the deleted sessions' backups are still listed"
	sleep 0.1
done
ok "sessions and their backups DELETED"
nimble delete-launch-profile --studio-id "$STUDIO" --launch-profile-id "$PROFILE" >/dev/null
wait_for "launch profile $PROFILE" DELETED DELETE_IN_PROGRESS get-launch-profile --studio-id "$STUDIO" \
	--launch-profile-id "$PROFILE" --query launchProfile.state
nimble delete-studio-component --studio-id "$STUDIO" --studio-component-id "$COMPONENT" >/dev/null
nimble delete-streaming-image --studio-id "$STUDIO" --streaming-image-id "$IMAGE" >/dev/null
wait_for "component $COMPONENT" DELETED DELETE_IN_PROGRESS get-studio-component --studio-id "$STUDIO" \
	--studio-component-id "$COMPONENT" --query studioComponent.state
wait_for "image $IMAGE" DELETED DELETE_IN_PROGRESS get-streaming-image --studio-id "$STUDIO" --streaming-image-id "$IMAGE" \
	--query streamingImage.state
nimble delete-studio --studio-id "$STUDIO" >/dev/null
wait_for "studio $STUDIO" DELETED DELETE_IN_PROGRESS get-studio --studio-id "$STUDIO" --query studio.state
ok "launch profile, studio component, streaming image and studio DELETED"
echo "PASS in ${SECONDS}s"
