#!/usr/bin/python3
"""The compatibility scenario (see compat/README.md) through boto3.

Run with the environment compat_test.go sets: NIMBLE_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION. The server runs
with --page-size 2, so every list below takes more than one page.

Two ways to the nimble model:
- today's boto3 (no nimble model of its own) finds the one `opennimble model
  install` wrote, in ~/.aws/models or AWS_DATA_PATH, by itself;
- Debian's python3-boto3 (botocore 1.29.27) ships a nimble model without the
  backup operations; with COMPAT_AWSCLI_DATA set to the data folder of
  Debian's awscli package, a botocore Loader whose search path starts there
  loads that newer one.
"""

import datetime
import os
import sys
import time

import boto3
import botocore.exceptions
import botocore.loaders
import botocore.session

AWSCLI_DATA = os.environ.get("COMPAT_AWSCLI_DATA")
NAME = "compatpython"
POLL = 0.1  # seconds between polls: the server completes transitions at once
WAIT = {"Delay": POLL, "MaxAttempts": 300}


def log(msg):
    print(msg, flush=True)


def check(cond, msg, *detail):
    if not cond:
        raise AssertionError(msg + "".join(" " + repr(d) for d in detail))


def poll(desc, fn, timeout=30):
    """Calls fn every POLL seconds until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + desc)
        time.sleep(POLL)


def is_recent_datetime(v):
    """An aware datetime within ten minutes of now (botocore gives it in the local zone)."""
    return (isinstance(v, datetime.datetime) and v.tzinfo is not None
            and abs(datetime.datetime.now(datetime.timezone.utc) - v) < datetime.timedelta(minutes=10))


def client():
    session = botocore.session.get_session()
    if AWSCLI_DATA:
        session.register_component("data_loader", botocore.loaders.Loader(extra_search_paths=[AWSCLI_DATA]))
    c = boto3.Session(botocore_session=session).client(
        "nimble",
        endpoint_url=os.environ["NIMBLE_ENDPOINT_URL"],
        region_name=os.environ["AWS_DEFAULT_REGION"],
    )
    ops = c.meta.service_model.operation_names
    check("ListStreamingSessionBackups" in ops,
          "the nimble model has no ListStreamingSessionBackups: is Debian's awscli package installed, or the model installed?",
          AWSCLI_DATA or os.environ.get("AWS_DATA_PATH") or "~/.aws/models")
    return c


def expect_error(code, fn, **kw):
    """Calls fn, which must raise the modelled exception class named code."""
    exc_type = getattr(nimble.exceptions, code)
    try:
        fn(**kw)
    except exc_type as e:
        check(e.response["Error"]["Code"] == code, "error code", e.response["Error"])
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] in (404, 409), "status", e.response["ResponseMetadata"])
        check(e.response["Error"].get("Message"), "error without a message", e.response)
        log(f"ok: {fn.__name__} raised {code}: {e.response['Error']['Message']}")
        return e
    except botocore.exceptions.ClientError as e:
        raise AssertionError(f"{fn.__name__}: want {code}, got {type(e).__name__} {e.response['Error']}") from e
    raise AssertionError(f"{fn.__name__}: want {code}, got success")


def all_pages(op, key, **kw):
    """Follows nextToken with boto3's paginator; returns (items, pages)."""
    items, pages = [], 0
    for page in nimble.get_paginator(op).paginate(**kw):
        pages += 1
        check(pages <= 50, f"{op}: more than 50 pages; is nextToken honoured?")
        items.extend(page[key])
    return items, pages


def backups_of(studio, session_id, states=("READY",)):
    items, _ = all_pages("list_streaming_session_backups", "streamingSessionBackups", studioId=studio)
    return [b for b in items if b["sessionId"] == session_id and b["state"] in states]


def wait_backup_ready(studio, session_id, known):
    """Waits for a READY backup of session_id that is not in known."""
    def new():
        fresh = [b for b in backups_of(studio, session_id, ("CREATE_IN_PROGRESS", "READY")) if b["backupId"] not in known]
        return fresh[0]["backupId"] if fresh else None
    bid = poll(f"a new backup of {session_id} in ListStreamingSessionBackups", new)

    def ready():
        b = nimble.get_streaming_session_backup(studioId=studio, backupId=bid)["streamingSessionBackup"]
        check(b["state"] in ("CREATE_IN_PROGRESS", "READY"), "backup state", b)
        return b if b["state"] == "READY" else None
    b = poll(f"backup {bid} READY", ready)
    check(b["backupId"] == bid and b["sessionId"] == session_id, "backup ids", b)
    check(b["arn"].endswith(bid) and b["arn"].startswith("arn:aws:nimble:"), "backup arn", b)
    check(b["ownedBy"] == "test" and b["launchProfileId"] == launch_profile, "backup owner/profile", b)
    check(is_recent_datetime(b["createdAt"]), "backup createdAt", b)
    log(f"ok: backup {bid} of {session_id} READY")
    return bid


def stop(studio, sid):
    s = nimble.stop_streaming_session(studioId=studio, sessionId=sid, volumeRetentionMode="RETAIN")["session"]
    check(s["state"] in ("STOP_IN_PROGRESS", "STOPPED"), "stop response state", s)
    nimble.get_waiter("streaming_session_stopped").wait(studioId=studio, sessionId=sid, WaiterConfig=WAIT)
    s = nimble.get_streaming_session(studioId=studio, sessionId=sid)["session"]
    check(s["state"] == "STOPPED" and is_recent_datetime(s["stoppedAt"]) and s["stoppedBy"] == "test", "stopped session", s)


def start(studio, sid, backup_id=None):
    kw = {"backupId": backup_id} if backup_id else {}
    s = nimble.start_streaming_session(studioId=studio, sessionId=sid, **kw)["session"]
    check(s["state"] in ("START_IN_PROGRESS", "READY"), "start response state", s)
    if backup_id:
        check(s.get("startedFromBackupId") == backup_id, "start response startedFromBackupId", s)
    nimble.get_waiter("streaming_session_ready").wait(studioId=studio, sessionId=sid, WaiterConfig=WAIT)
    return nimble.get_streaming_session(studioId=studio, sessionId=sid)["session"]


def main():
    global nimble, launch_profile
    nimble = client()

    # Studio.
    st = nimble.create_studio(
        studioName=NAME, displayName="Compat boto3",
        adminRoleArn="arn:aws:iam::000000000000:role/admin", userRoleArn="arn:aws:iam::000000000000:role/user",
        tags={"suite": "compat"},
    )["studio"]
    studio = st["studioId"]
    check(is_recent_datetime(st["createdAt"]), "studio createdAt", st)
    nimble.get_waiter("studio_ready").wait(studioId=studio, WaiterConfig=WAIT)
    log(f"ok: studio {studio} READY")

    # Streaming image.
    img = nimble.create_streaming_image(studioId=studio, name="compat-image", description="compat",
                                        ec2ImageId="ami-0123456789abcdef0")["streamingImage"]["streamingImageId"]
    nimble.get_waiter("streaming_image_ready").wait(studioId=studio, streamingImageId=img, WaiterConfig=WAIT)
    log(f"ok: streaming image {img} READY")

    # Studio component.
    comp = nimble.create_studio_component(studioId=studio, name="compat-component", type="CUSTOM",
                                          description="compat")["studioComponent"]["studioComponentId"]
    nimble.get_waiter("studio_component_ready").wait(studioId=studio, studioComponentId=comp, WaiterConfig=WAIT)
    log(f"ok: studio component {comp} READY")

    # Launch profile whose sessions back up automatically and keep two backups.
    lp = nimble.create_launch_profile(
        studioId=studio, name="compat-profile", description="compat",
        ec2SubnetIds=["subnet-0123456789abcdef0"], launchProfileProtocolVersions=["2021-03-31"],
        studioComponentIds=[comp],
        streamConfiguration={
            "clipboardMode": "ENABLED",
            "ec2InstanceTypes": ["g4dn.xlarge", "g4dn.2xlarge"],
            "streamingImageIds": [img],
            "maxSessionLengthInMinutes": 60,
            "sessionPersistenceMode": "ACTIVATED",
            "automaticTerminationMode": "ACTIVATED",
            "maxStoppedSessionLengthInMinutes": 120,
            "sessionBackup": {"mode": "AUTOMATIC", "maxBackupsToRetain": 2},
        },
    )["launchProfile"]
    launch_profile = lp["launchProfileId"]
    nimble.get_waiter("launch_profile_ready").wait(studioId=studio, launchProfileId=launch_profile, WaiterConfig=WAIT)
    lp = nimble.get_launch_profile(studioId=studio, launchProfileId=launch_profile)["launchProfile"]
    check(lp["state"] == "READY", "launch profile state", lp)
    check(lp["streamConfiguration"]["sessionBackup"] == {"mode": "AUTOMATIC", "maxBackupsToRetain": 2}, "sessionBackup", lp)
    log(f"ok: launch profile {launch_profile} READY with sessionBackup AUTOMATIC/2")

    # Three sessions: more than one page of ListStreamingSessions.
    sessions = []
    for i in range(3):
        s = nimble.create_streaming_session(studioId=studio, launchProfileId=launch_profile,
                                            ec2InstanceType="g4dn.xlarge", streamingImageId=img,
                                            tags={"session": str(i)})["session"]
        check(s["state"] == "CREATE_IN_PROGRESS", "created session", s)
        sessions.append(s["sessionId"])
    for sid in sessions:
        nimble.get_waiter("streaming_session_ready").wait(studioId=studio, sessionId=sid, WaiterConfig=WAIT)
        s = nimble.get_streaming_session(studioId=studio, sessionId=sid)["session"]
        check(s["state"] == "READY" and s["backupMode"] == "AUTOMATIC" and s["maxBackupsToRetain"] == 2
              and s["sessionPersistenceMode"] == "ACTIVATED" and s["ownedBy"] == "test", "ready session", s)
        check(is_recent_datetime(s["createdAt"]) and is_recent_datetime(s["startedAt"]), "session timestamps", s)
    log(f"ok: sessions {sessions} READY")
    s1, s2, s3 = sessions

    first = nimble.list_streaming_sessions(studioId=studio)
    check(len(first["sessions"]) < 3 and first.get("nextToken"), "the first page should not hold all sessions:",
          len(first["sessions"]), "sessions, nextToken", first.get("nextToken"))
    listed, pages = all_pages("list_streaming_sessions", "sessions", studioId=studio)
    check(sorted(x["sessionId"] for x in listed) == sorted(sessions), "paginated sessions", listed)
    check(pages >= 2, "pages", pages)
    log(f"ok: ListStreamingSessions returned the 3 sessions in {pages} pages")

    # Stop: an AUTOMATIC backup; start from it.
    stop(studio, s1)
    b1 = wait_backup_ready(studio, s1, set())
    s = start(studio, s1, b1)
    check(s["state"] == "READY" and s.get("startedFromBackupId") == b1, "session started from backup", s)
    log(f"ok: session {s1} started from {b1}")

    # Two more backups: more than one page of ListStreamingSessionBackups.
    stop(studio, s2)
    b2 = wait_backup_ready(studio, s2, set())
    stop(studio, s3)
    b3 = wait_backup_ready(studio, s3, set())
    first = nimble.list_streaming_session_backups(studioId=studio)
    check(len(first["streamingSessionBackups"]) < 3 and first.get("nextToken"), "the first page should not hold all backups:",
          len(first["streamingSessionBackups"]), "backups, nextToken", first.get("nextToken"))
    listed, pages = all_pages("list_streaming_session_backups", "streamingSessionBackups", studioId=studio, ownedBy="test")
    check(sorted(b["backupId"] for b in listed) == sorted([b1, b2, b3]), "paginated backups", listed)
    check(pages >= 2, "backup pages", pages)
    log(f"ok: ListStreamingSessionBackups returned the 3 backups in {pages} pages")

    # Errors, typed.
    expect_error("ResourceNotFoundException", nimble.get_streaming_session_backup, studioId=studio, backupId="bak-doesnotexist0000")
    expect_error("ResourceNotFoundException", nimble.start_streaming_session, studioId=studio, sessionId=s2, backupId="bak-doesnotexist0000")
    expect_error("ResourceNotFoundException", nimble.get_streaming_session, studioId=studio, sessionId="ses-doesnotexist0000")
    expect_error("ConflictException", nimble.start_streaming_session, studioId=studio, sessionId=s1)

    # maxBackupsToRetain 2: two more stops of s1 leave its two newest backups.
    stop(studio, s1)
    b4 = wait_backup_ready(studio, s1, {b1})
    start(studio, s1)
    stop(studio, s1)
    b5 = wait_backup_ready(studio, s1, {b1, b4})
    kept = poll("s1 to keep only its two newest backups",
                lambda: (lambda ids: ids if ids == sorted([b4, b5]) else None)(sorted(b["backupId"] for b in backups_of(studio, s1))))
    try:
        old = nimble.get_streaming_session_backup(studioId=studio, backupId=b1)["streamingSessionBackup"]
        check(old["state"] in ("DELETE_IN_PROGRESS", "DELETED"), "pruned backup", old)
    except nimble.exceptions.ResourceNotFoundException:
        pass  # already purged
    log(f"ok: {s1} keeps backups {kept}; {b1} was pruned")

    # Tags.
    arn = nimble.get_streaming_session(studioId=studio, sessionId=s1)["session"]["arn"]
    nimble.tag_resource(resourceArn=arn, tags={"team": "fx", "stage": "compat"})
    tags = nimble.list_tags_for_resource(resourceArn=arn)["tags"]
    check(tags == {"session": "0", "team": "fx", "stage": "compat"}, "tags after TagResource", tags)
    nimble.untag_resource(resourceArn=arn, tagKeys=["stage", "session"])
    tags = nimble.list_tags_for_resource(resourceArn=arn)["tags"]
    check(tags == {"team": "fx"}, "tags after UntagResource", tags)
    bak = nimble.get_streaming_session_backup(studioId=studio, backupId=b5)["streamingSessionBackup"]
    check(nimble.list_tags_for_resource(resourceArn=bak["arn"])["tags"] == {"session": "0"}, "backup tags (copied from the session)")
    expect_error("ResourceNotFoundException", nimble.list_tags_for_resource,
                 resourceArn=arn.rsplit("/", 1)[0] + "/ses-doesnotexist0000")
    log("ok: TagResource, ListTagsForResource, UntagResource")

    # Delete everything, waiting for DELETED.
    for sid in sessions:
        s = nimble.delete_streaming_session(studioId=studio, sessionId=sid)["session"]
        check(s["state"] in ("DELETE_IN_PROGRESS", "DELETED"), "delete session response", s)
    for sid in sessions:
        nimble.get_waiter("streaming_session_deleted").wait(studioId=studio, sessionId=sid, WaiterConfig=WAIT)
    check(all_pages("list_streaming_sessions", "sessions", studioId=studio)[0] == [], "sessions left")
    poll("the sessions' backups to be deleted",
         lambda: all_pages("list_streaming_session_backups", "streamingSessionBackups", studioId=studio)[0] == [])
    log("ok: sessions and their backups DELETED")
    nimble.delete_launch_profile(studioId=studio, launchProfileId=launch_profile)
    nimble.get_waiter("launch_profile_deleted").wait(studioId=studio, launchProfileId=launch_profile, WaiterConfig=WAIT)
    nimble.delete_studio_component(studioId=studio, studioComponentId=comp)
    nimble.get_waiter("studio_component_deleted").wait(studioId=studio, studioComponentId=comp, WaiterConfig=WAIT)
    nimble.delete_streaming_image(studioId=studio, streamingImageId=img)
    nimble.get_waiter("streaming_image_deleted").wait(studioId=studio, streamingImageId=img, WaiterConfig=WAIT)
    nimble.delete_studio(studioId=studio)
    nimble.get_waiter("studio_deleted").wait(studioId=studio, WaiterConfig=WAIT)
    check(nimble.get_studio(studioId=studio)["studio"]["state"] == "DELETED", "studio state")
    log("ok: launch profile, studio component, streaming image and studio DELETED")
    log("PASS boto3 " + boto3.__version__ + " / botocore " + botocore.__version__)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # print the failure in one place for the Go test log
        import traceback
        traceback.print_exc()
        print("FAIL:", e, file=sys.stderr, flush=True)
        sys.exit(1)
