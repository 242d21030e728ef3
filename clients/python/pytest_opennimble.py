"""pytest fixtures for code that talks to the Amazon Nimble Studio API.

moto users reach for ``@mock_aws``; this plugin runs a real ``opennimble serve
--emulator`` for the test session instead and hands each test a boto3 client::

    def test_create_studio(nimble):
        studio = nimble.create_studio(studioName="demo", displayName="Demo",
            adminRoleArn="arn:aws:iam::000000000000:role/admin",
            userRoleArn="arn:aws:iam::000000000000:role/user")["studio"]
        nimble.get_waiter("studio_ready").wait(studioId=studio["studioId"],
                                               WaiterConfig={"Delay": 0.1})

Fixtures:

``opennimble`` (session)
    The running emulator: ``url``, ``region``, ``access_key_id``,
    ``secret_access_key``, ``client()`` for more boto3 clients, ``control(method,
    path, body)`` for signed calls to the ``/_nimble/`` emulator controls
    (transitions, faults, state), and ``reset()``. For the whole session it
    installs the nimble model (``opennimble model install --dir``) and puts it
    first on ``AWS_DATA_PATH``, and sets ``AWS_ENDPOINT_URL_NIMBLE``,
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_DEFAULT_REGION``,
    so code under test that makes its own ``boto3.client("nimble")`` reaches
    the emulator too (botocore 1.31 or later reads AWS_ENDPOINT_URL_NIMBLE).

``nimble`` (function)
    A boto3 nimble client of the emulator, after a reset: every test starts
    with no studios, no fault rules and the default transitions.

The ``opennimble`` binary is ``--opennimble-bin``, else ``$OPENNIMBLE_BIN``,
else ``opennimble`` on the PATH. ``--opennimble-arg=--transition-delay=1s``
(repeatable) passes more flags to ``opennimble serve``.
"""

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

START_TIMEOUT = 60  # seconds for the server to start: a busy machine is slow


class ControlError(Exception):
    """A /_nimble/ control call answered an error status."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Emulator:
    """A running ``opennimble serve --emulator`` process."""

    region = "us-west-2"
    # In emulator mode any secret goes, and the access key id "test" is an
    # administrator (--emulator-admins), as the controls require.
    access_key_id = "test"
    secret_access_key = "test"

    def __init__(self, binary, workdir, extra_args=()):
        self.binary = binary
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "opennimble.log")
        self.url = None
        args = [binary, "serve", "--emulator", "--listen", "127.0.0.1:0",
                "--data-dir", os.path.join(workdir, "data"), "--region", self.region,
                "--sync", "normal", "--log-format", "json", *extra_args]
        env = dict(os.environ, OPENNIMBLE_CONFIG="")
        self._log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _wait_until_serving(self):
        deadline = time.monotonic() + START_TIMEOUT
        while self.url is None:
            for line in self.log_lines():
                if line.get("msg") == "opennimble serving":
                    self.url = line["url"]
            if self.url:
                return
            if self._proc.poll() is not None:
                raise RuntimeError(f"opennimble exited with status {self._proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"opennimble did not start within {START_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def stop(self):
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    def client(self, **kwargs):
        """A boto3 nimble client of the emulator; kwargs go to Session.client."""
        # A new session reads AWS_DATA_PATH now, after the model was installed.
        args = dict(endpoint_url=self.url, region_name=self.region,
                    aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key)
        args.update(kwargs)
        return boto3.session.Session().client("nimble", **args)

    def control(self, method, path, body=None):
        """Calls an emulator control (``/_nimble/...``), signed with SigV4 as
        the server requires, and returns its decoded JSON answer."""
        data = b"" if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        req = AWSRequest(method=method, url=self.url + path, data=data, headers=headers)
        SigV4Auth(Credentials(self.access_key_id, self.secret_access_key), "nimble", self.region).add_auth(req)
        http = urllib.request.Request(req.url, data=data or None, method=method, headers=dict(req.headers.items()))
        try:
            with urllib.request.urlopen(http, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise ControlError(e.code, e.read().decode("utf-8", "replace")) from None
        return json.loads(raw) if raw else None

    def reset(self, controls=True):
        """Deletes every resource; with controls, also the fault and
        transition rules (POST /_nimble/reset)."""
        return self.control("POST", "/_nimble/reset", {"controls": controls})


def pytest_addoption(parser):
    group = parser.getgroup("opennimble")
    group.addoption("--opennimble-bin", default=None,
                    help="the opennimble binary (default: $OPENNIMBLE_BIN, else opennimble on the PATH)")
    group.addoption("--opennimble-arg", action="append", default=[],
                    help="one more flag for `opennimble serve --emulator` (repeatable)")


def _binary(config):
    b = config.getoption("opennimble_bin") or os.environ.get("OPENNIMBLE_BIN") or shutil.which("opennimble")
    if not b:
        raise pytest.UsageError("opennimble not found: give --opennimble-bin, set OPENNIMBLE_BIN, "
                                "or put opennimble on the PATH (go build ./cmd/opennimble)")
    return b


@pytest.fixture(scope="session")
def opennimble(request, tmp_path_factory):
    """The emulator of this test session (see the module's documentation)."""
    binary = _binary(request.config)
    workdir = str(tmp_path_factory.mktemp("opennimble"))
    models = os.path.join(workdir, "models")
    subprocess.run([binary, "model", "install", "--dir", models], check=True, stdout=subprocess.DEVNULL)
    emulator = Emulator(binary, workdir, request.config.getoption("opennimble_arg"))
    saved = {k: os.environ.get(k) for k in (
        "AWS_DATA_PATH", "AWS_ENDPOINT_URL_NIMBLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ["AWS_DATA_PATH"] = os.pathsep.join(p for p in (models, saved["AWS_DATA_PATH"]) if p)
    os.environ["AWS_ENDPOINT_URL_NIMBLE"] = emulator.url
    os.environ["AWS_ACCESS_KEY_ID"] = emulator.access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = emulator.secret_access_key
    os.environ["AWS_DEFAULT_REGION"] = emulator.region
    try:
        yield emulator
    finally:
        emulator.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def nimble(opennimble):
    """A boto3 nimble client of the emulator, which was just reset."""
    opennimble.reset()
    return opennimble.client()
