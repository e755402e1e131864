"""`sam local invoke` of the built functions, against moto's server as the fake AWS.

The pieces `make local-invoke` (and ``make test`` where a container engine answers) put together:

- the functions and their events, discovered from template.yaml and ``events/functions/<logical id>/``;
- ``sam build`` into a directory of its own, then a copy of the built template in which every function also
  declares ``AWS_ENDPOINT_URL`` (``sam local invoke --env-vars`` sets only the variables a function declares,
  and the deployed template has no reason to declare this one);
- moto's server bound to the Docker bridge's gateway address, the host as the containers see it
  (``--docker-network host`` does not give a SAM CLI container host networking);
- ``invoke``: one ``sam local invoke``, its output parsed. SAM CLI exits 0 when the function raises, so
  ``Invocation.result`` reads the function's output and names the function and event in every failure.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline.template import ROOT, load_template

FUNCTION_EVENTS_DIR = ROOT / "events" / "functions"
BASE_IMAGE_SCRIPT = ROOT / "scripts" / "lambda-base-image.sh"
# Set by `make local-invoke`: a missing container engine is then a failure, not a reason to skip.
REQUIRED_ENV = "LOCAL_INVOKE_REQUIRED"


class LocalInvokeFailed(AssertionError):
    """A function did not give what its event should give under `sam local invoke`."""


def functions() -> list[str]:
    """The template's Lambda functions, by logical ID."""
    resources = load_template()["Resources"]
    return sorted(name for name, r in resources.items() if r.get("Type") == "AWS::Serverless::Function")


def function_events() -> list[tuple[str, Path]]:
    """(function, event file) for every file in ``events/functions/<function>/``."""
    return [
        (function, path)
        for function in functions()
        for path in sorted((FUNCTION_EVENTS_DIR / function).glob("*.json"))
    ]


def architecture() -> str:
    """The Lambda architecture this machine runs natively."""
    return "arm64" if platform.machine().lower() in {"arm64", "aarch64"} else "x86_64"


def container_engine_answers() -> str | None:
    """None when ``docker info`` succeeds, else why not."""
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 60 s"
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return f"`docker info` failed: {said[-1] if said else f'exit status {done.returncode}'}"
    return None


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge network, where the function containers run."""
    done = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{ json .IPAM.Config }}"],
        capture_output=True,
        text=True,
        check=True,
    )
    (config,) = json.loads(done.stdout)
    # Older engines leave Gateway out of the default bridge's configuration: it is the subnet's first host.
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def ensure_base_image(arch: str) -> None:
    """The Lambda base image, pulled or built as a stand-in by the script users run too."""
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(BASE_IMAGE_SCRIPT), arch], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{BASE_IMAGE_SCRIPT.name} {arch} failed:\n{done.stdout}\n{done.stderr}")


def sam_env() -> dict[str, str]:
    """SAM CLI's environment: no telemetry, a region, fake credentials (the fake AWS accepts any)."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}
    bin_dir = str(Path(sys.executable).parent)
    return {
        **env,
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def sam_build(build_dir: Path, arch: str) -> Path:
    """``sam build`` into build_dir; returns the built template with AWS_ENDPOINT_URL declared."""
    done = subprocess.run(
        [
            "sam",
            "build",
            "--template-file",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(build_dir),
            "--parameter-overrides",
            f"FunctionArchitecture={arch}",
            "--no-cached",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=sam_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{done.stdout}\n{done.stderr}")
    return declare_endpoint_variable(build_dir / "template.yaml")


def declare_endpoint_variable(built_template: Path) -> Path:
    """A copy of the built template, beside it, in which every function declares AWS_ENDPOINT_URL."""
    template = yaml.safe_load(built_template.read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = resource.setdefault("Properties", {})
            variables = properties.setdefault("Environment", {}).setdefault("Variables", {})
            variables["AWS_ENDPOINT_URL"] = ""
    local = built_template.with_name("template-local-invoke.yaml")
    local.write_text(yaml.safe_dump(template, sort_keys=False), encoding="utf-8")
    return local


@dataclass
class FakeAws:
    """moto's server in a process of its own; every test starts from an empty account (reset)."""

    url: str
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 (http to moto)
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()


@contextmanager
def fake_aws(host: str, log: Path) -> Iterator[FakeAws]:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.local_invoke.fake_aws_server", "-H", host, "-p", str(port)],
            stdout=output,
            stderr=output,
        )
    server = FakeAws(f"http://{host}:{port}", process)
    try:
        _wait_until_up(server, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: FakeAws, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"moto's server exited ({server.process.returncode}): {log.read_text()[-2000:]}"
            )
        try:
            server.reset()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"moto's server did not answer on {server.url}: {log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.5)


@dataclass
class Invocation:
    """What one `sam local invoke` of a function with an event gave."""

    function: str
    event: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def where(self) -> str:
        return f"{self.function} with {self.event}"

    def output(self) -> Any:
        """The function's return value or error document (SAM CLI prints it last on stdout)."""
        if self.returncode != 0:
            raise LocalInvokeFailed(
                f"{self.where}: sam local invoke exited {self.returncode}:\n{self._log_tail()}"
            )
        text = self.stdout.strip()
        try:
            return json.loads(text.splitlines()[-1]) if text else None
        except json.JSONDecodeError as error:
            raise LocalInvokeFailed(
                f"{self.where}: the output is not JSON ({error}): {text[-500:]}"
            ) from None

    def result(self) -> Any:
        """The function's return value; a LocalInvokeFailed naming the function if it raised."""
        output = self.output()
        if isinstance(output, Mapping) and "errorType" in output:
            raise LocalInvokeFailed(
                f"{self.where}: the function raised {output['errorType']}: {output.get('errorMessage')}\n"
                f"{self._log_tail()}"
            )
        return output

    def error(self) -> tuple[str, str]:
        """(errorType, errorMessage) of a function that must raise; a LocalInvokeFailed if it returned."""
        output = self.output()
        if not (isinstance(output, Mapping) and "errorType" in output):
            raise LocalInvokeFailed(f"{self.where}: expected an error, the function returned {output!r}")
        return str(output["errorType"]), str(output.get("errorMessage"))

    def _log_tail(self) -> str:
        return "\n".join(self.stderr.strip().splitlines()[-15:])


def invoke(
    template: Path, function: str, event: Path, env_vars: Mapping[str, Any], workdir: Path
) -> Invocation:
    """``sam local invoke <function> -e <event>`` on the built template, with the variables given to every
    function that declares them."""
    env_file = workdir / "env-vars.json"
    env_file.write_text(json.dumps({"Parameters": dict(env_vars)}), encoding="utf-8")
    done = subprocess.run(
        [
            "sam",
            "local",
            "invoke",
            function,
            "--template-file",
            str(template),
            "--event",
            str(event),
            "--env-vars",
            str(env_file),
            "--parameter-overrides",
            f"FunctionArchitecture={architecture()}",
            # The base image is already local: pulled, or built as a stand-in (scripts/lambda-base-image.sh).
            "--skip-pull-image",
        ],
        cwd=template.parent,
        capture_output=True,
        text=True,
        env=sam_env(),
    )
    return Invocation(function, event.name, done.returncode, done.stdout, done.stderr)
