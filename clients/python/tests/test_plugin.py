"""The plugin's own tests: run by compat/pytest_test.go (scripts/test) with
Debian's python3-pytest and python3-boto3, against the opennimble built from
this repository (OPENNIMBLE_BIN)."""

import os

import boto3
import pytest

import pytest_opennimble

ROLE = "arn:aws:iam::000000000000:role/"


def make_studio(client, name):
    studio = client.create_studio(studioName=name, displayName=name,
                                  adminRoleArn=ROLE + "admin", userRoleArn=ROLE + "user")["studio"]
    client.get_waiter("studio_ready").wait(studioId=studio["studioId"], WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return studio["studioId"]


def test_client_speaks_the_installed_model(nimble):
    # Debian's boto3 ships an older nimble model without the backup
    # operations: these come from the model the plugin installed.
    assert "ListStreamingSessionBackups" in nimble.meta.service_model.operation_names
    studio_id = make_studio(nimble, "first")
    assert nimble.get_studio(studioId=studio_id)["studio"]["state"] == "READY"
    with pytest.raises(nimble.exceptions.ResourceNotFoundException):
        nimble.get_streaming_session_backup(studioId=studio_id, backupId="bak-nope")


def test_each_test_starts_empty(nimble):
    # The previous test's studio is gone, so its name is free again.
    assert nimble.list_studios()["studios"] == []
    make_studio(nimble, "first")


def test_session_environment(opennimble):
    models = os.environ["AWS_DATA_PATH"].split(os.pathsep)[0]
    assert os.path.isfile(os.path.join(models, "nimble", "2020-08-01", "service-2.json"))
    assert os.environ["AWS_ENDPOINT_URL_NIMBLE"] == opennimble.url
    # Code under test that makes its own client with the session's settings.
    own = boto3.session.Session().client("nimble", endpoint_url=os.environ["AWS_ENDPOINT_URL_NIMBLE"])
    assert "studios" in own.list_studios()


def test_controls_are_signed_and_reset(opennimble, nimble):
    fault = opennimble.control("POST", "/_nimble/faults", {
        "operation": "ListStudios", "count": 1,
        "error": {"code": "AccessDeniedException", "message": "not today"}})
    assert fault["operation"] == "ListStudios"
    with pytest.raises(nimble.exceptions.AccessDeniedException):
        nimble.list_studios()
    opennimble.control("POST", "/_nimble/faults", {"operation": "ListStudios", "error": {"code": "AccessDeniedException"}})
    opennimble.reset()
    assert opennimble.control("GET", "/_nimble/faults")["faults"] == []
    assert nimble.list_studios()["studios"] == []


def test_controls_refuse_a_wrong_path(opennimble):
    with pytest.raises(pytest_opennimble.ControlError) as e:
        opennimble.control("POST", "/_nimble/transitions/advance", {"id": "stu-x"})
    assert e.value.status == 400
