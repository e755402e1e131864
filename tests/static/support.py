"""What the static tests share: the template and the definition as a deployment would see them.

- ``load_template`` reads template.yaml with cfn-lint's decoder, which understands the short tags
  (``!Ref``, ``!Sub``, ``!GetAtt``, ``!FindInMap``).
- ``Resolver`` evaluates intrinsic functions to the strings CloudFormation would produce for one region,
  account and set of parameter values, with realistic physical names and ARNs for the stack's resources.
- ``substituted_definition`` applies the state machine's DefinitionSubstitutions to the ASL file, as the
  deployment does.
- ``simulate`` walks the definition's happy path the way Step Functions does (Parameters, ResultSelector,
  ResultPath, OutputPath, ``$$`` context, ``States.StringToJson``), feeding each Lambda task the output of
  the real handler and each SageMaker task a response in the shape SageMaker returns. It records the
  parameters every task sends, so they can be checked against botocore's input shapes.
- ``input_errors`` checks a parameter dict against a botocore input shape: botocore's ParamValidator plus
  the lengths, ranges, patterns and enums it does not check.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import itertools
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.loaders
import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FILE = ROOT / "template.yaml"
DEFINITION_FILE = ROOT / "statemachine" / "tuning.asl.json"
EVENTS_DIR = ROOT / "events"

ACCOUNT_ID = "123456789012"
STACK_NAME = "sagemaker-xgboost-tuning"
STATE_MACHINE = "TuningStateMachine"
# Regions of every partition the template's mapping serves and that botocore knows how to name.
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-4", "cn-north-1", "us-gov-west-1")
# An execution the console starts gets a UUID as its name (36 characters).
CONSOLE_EXECUTION_NAME = "3f6c1b2e-9a4d-4c7e-8b21-5d0e7a9f4c13"
EXECUTION_START_TIME = "2026-11-28T10:00:00.000Z"

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def load_template() -> dict[str, Any]:
    """template.yaml as plain dicts, lists and scalars; intrinsic functions in their long form."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE_FILE))))


def load_event(name: str) -> Any:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def definition_text() -> str:
    return DEFINITION_FILE.read_text(encoding="utf-8")


def placeholders(text: str) -> set[str]:
    """The names of every ``${...}`` in ``text``."""
    return set(_PLACEHOLDER.findall(text))


@dataclass(frozen=True)
class Partition:
    name: str
    dns_suffix: str


@cache
def partition_of(region: str) -> Partition:
    """The partition and URL suffix (``AWS::URLSuffix``) of a region, from botocore's endpoint data."""
    for partition in botocore.loaders.create_loader().load_data("endpoints")["partitions"]:
        if region in partition["regions"] or re.fullmatch(partition["regionRegex"], region):
            return Partition(partition["partition"], partition["dnsSuffix"])
    raise LookupError(f"botocore knows no partition for region {region}")


def _suffix(logical_id: str, upper: bool) -> str:
    """The random part CloudFormation appends to generated names, fixed per logical id."""
    digest = hashlib.sha256(logical_id.encode()).hexdigest()[:12]
    return digest.upper() if upper else digest


class Resolver:
    """Evaluates intrinsic functions as CloudFormation would for one deployment of the template."""

    def __init__(
        self,
        template: Mapping[str, Any],
        region: str,
        parameters: Mapping[str, str] | None = None,
        account: str = ACCOUNT_ID,
        stack_name: str = STACK_NAME,
    ) -> None:
        self.template, self.region, self.account, self.stack_name = template, region, account, stack_name
        self.partition = partition_of(region)
        declared = template.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")
        # CloudFormation hands every parameter value, numbers included, to intrinsics as a string.
        self.parameters = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
        self.parameters.update({k: str(v) for k, v in (parameters or {}).items()})

    @property
    def resources(self) -> dict[str, Any]:
        return self.template["Resources"]

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return ":".join(
            [
                "arn",
                self.partition.name,
                service,
                self.region if region else "",
                self.account if account else "",
                resource,
            ]
        )

    # --- physical names and attributes of the stack's resources ---

    def physical_name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            if "BucketName" in props:
                return self.resolve(props["BucketName"])
            return f"{self.stack_name}-{logical_id.lower()}-{_suffix(logical_id, upper=False)}"
        if kind == "AWS::Logs::LogGroup" and "LogGroupName" in props:
            return self.resolve(props["LogGroupName"])
        name_property = {
            "AWS::Serverless::Function": "FunctionName",
            "AWS::IAM::Role": "RoleName",
            "AWS::Serverless::StateMachine": "Name",
        }.get(kind)
        if name_property and name_property in props:
            return self.resolve(props[name_property])
        if kind == "AWS::Serverless::StateMachine":
            return f"{logical_id}-{_suffix(logical_id, upper=True)}"
        if kind in ("AWS::Serverless::Function", "AWS::IAM::Role", "AWS::Logs::LogGroup"):
            return f"{self.stack_name}-{logical_id}-{_suffix(logical_id, upper=True)}"
        raise NotImplementedError(f"no realistic name for {logical_id} ({kind}): extend Resolver")

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": self.partition.name,
            "AWS::URLSuffix": self.partition.dns_suffix,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.arn(
                "cloudformation", f"stack/{self.stack_name}/5d1e2c40-ad7e-11ef-8e0f-0a1b2c3d4e5f"
            ),
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template.get("Parameters", {}):
            raise KeyError(f"parameter {name} has no Default and no value was given")
        kind = self.resources[name]["Type"]
        if kind == "AWS::Serverless::StateMachine":  # Ref of a state machine is its ARN
            return self.get_att(name, "Arn")
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        arns = {
            "AWS::S3::Bucket": lambda: self.arn("s3", name, region=False, account=False),
            "AWS::Serverless::Function": lambda: self.arn("lambda", f"function:{name}"),
            "AWS::IAM::Role": lambda: self.arn("iam", f"role/{name}", region=False),
            "AWS::Logs::LogGroup": lambda: self.arn("logs", f"log-group:{name}:*"),
            "AWS::Serverless::StateMachine": lambda: self.arn("states", f"stateMachine:{name}"),
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]()
        if attribute == "Name" and kind == "AWS::Serverless::StateMachine":
            return name
        raise NotImplementedError(
            f"no realistic value for {logical_id}.{attribute} ({kind}): extend Resolver"
        )

    # --- intrinsic functions ---

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated; unknown intrinsics raise."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::FindInMap":
                name, first, second = (self.resolve(part) for part in arg)
                return self.template["Mappings"][name][first][second]
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key.startswith("Fn::") or key == "Condition":
                raise NotImplementedError(f"{key} is not evaluated by the tests: extend Resolver.resolve")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("!"):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return self.ref(name)

        return _PLACEHOLDER.sub(replace, text)

    # --- the state machine ---

    def definition_substitutions(self) -> dict[str, str]:
        props = self.resources[STATE_MACHINE]["Properties"]
        return {key: str(self.resolve(value)) for key, value in props["DefinitionSubstitutions"].items()}

    def function_for_arn(self, arn: str) -> str:
        """The logical id of the function with this ARN."""
        for logical_id, resource in self.resources.items():
            if resource["Type"] == "AWS::Serverless::Function" and self.get_att(logical_id, "Arn") == arn:
                return logical_id
        raise LookupError(f"no function of the template has the ARN {arn}")


def substitute(text: str, substitutions: Mapping[str, str]) -> str:
    """The definition text with ``${Key}`` replaced for every key given; other placeholders stay."""
    return _PLACEHOLDER.sub(lambda m: substitutions.get(m[1], m[0]), text)


def substituted_definition(resolver: Resolver) -> dict[str, Any]:
    text = substitute(definition_text(), resolver.definition_substitutions())
    return json.loads(text)


# --------------------------------------------------------------------------------------------------------
# JSONPath and payload templates, as Step Functions evaluates them (the subset the definition may use)
# --------------------------------------------------------------------------------------------------------

_PATH = re.compile(r"\$\$?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
_STRING_TO_JSON = re.compile(r"States\.StringToJson\('((?:[^'\\]|\\.)*)'\)")


class PathError(LookupError):
    """A JSONPath selects nothing: Step Functions would fail the state with States.Runtime."""


def select(path: str, document: Any, context: Mapping[str, Any]) -> Any:
    match = _PATH.fullmatch(path)
    if not match:
        raise NotImplementedError(f"JSONPath {path!r} is outside the subset the tests evaluate")
    value: Any = context if path.startswith("$$") else document
    for key in filter(None, match[1].split(".")):
        if not isinstance(value, Mapping) or key not in value:
            raise PathError(f"{path} selects nothing: no {key!r} in {json.dumps(value)[:300]}")
        value = value[key]
    return copy.deepcopy(value)


def evaluate(expression: str, document: Any, context: Mapping[str, Any]) -> Any:
    """The value of a ``"key.$"`` field: a path, or an intrinsic function."""
    if expression.startswith("$"):
        return select(expression, document, context)
    match = _STRING_TO_JSON.fullmatch(expression)
    if match:
        return json.loads(match[1].replace("\\'", "'"))
    raise NotImplementedError(f"intrinsic {expression!r} is not evaluated by the tests: extend evaluate()")


def fill(template: Any, document: Any, context: Mapping[str, Any]) -> Any:
    """A Parameters / ResultSelector template with its ``.$`` fields evaluated."""
    if isinstance(template, list):
        return [fill(item, document, context) for item in template]
    if not isinstance(template, dict):
        return copy.deepcopy(template)
    result = {}
    for key, value in template.items():
        if key.endswith(".$"):
            result[key[:-2]] = evaluate(value, document, context)
        else:
            result[key] = fill(value, document, context)
    return result


def put(document: Any, path: str | None, value: Any) -> Any:
    """``document`` with ``value`` placed at a ResultPath."""
    if path is None:
        return document
    match = _PATH.fullmatch(path)
    if not match or path.startswith("$$"):
        raise NotImplementedError(f"ResultPath {path!r} is outside the subset the tests evaluate")
    keys = [key for key in match[1].split(".") if key]
    if not keys:
        return value
    result = copy.deepcopy(document) if isinstance(document, dict) else {}
    node = result
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return result


# --------------------------------------------------------------------------------------------------------
# A walk of the happy path, fed by the real handlers
# --------------------------------------------------------------------------------------------------------

_module_ids = itertools.count()
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class FakeS3:
    """The calls generate_dataset makes, kept in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self._uploads: dict[str, tuple[str, str, dict[int, bytes]]] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = bytes(Body)
        return {"ETag": '"0"'}

    def create_multipart_upload(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        upload_id = f"upload-{len(self._uploads)}"
        self._uploads[upload_id] = (Bucket, Key, {})
        return {"UploadId": upload_id}

    def upload_part(self, *, UploadId: str, PartNumber: int, Body: bytes, **_: Any) -> dict[str, Any]:
        self._uploads[UploadId][2][PartNumber] = bytes(Body)
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, *, UploadId: str, **_: Any) -> dict[str, Any]:
        bucket, key, parts = self._uploads.pop(UploadId)
        self.objects[(bucket, key)] = b"".join(parts[n] for n in sorted(parts))
        return {}

    def abort_multipart_upload(self, *, UploadId: str, **_: Any) -> dict[str, Any]:
        self._uploads.pop(UploadId, None)
        return {}

    def delete_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        self.objects.pop((Bucket, Key), None)
        return {}


class FakeSageMaker:
    """DescribeTrainingJob for the training jobs the simulated tuning job ran."""

    def __init__(self, training_jobs: Mapping[str, dict[str, Any]]) -> None:
        self.training_jobs = training_jobs

    def describe_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        return copy.deepcopy(self.training_jobs[TrainingJobName])


@dataclass
class Run:
    """What a simulated execution did."""

    resolver: Resolver
    execution_name: str
    execution_input: Any
    visited: list[str] = field(default_factory=list)
    # state name -> (Resource, the parameters the task sent)
    calls: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    s3: FakeS3 = field(default_factory=FakeS3)
    training_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    output: Any = None


def load_handler_module(code_uri: str) -> ModuleType:
    path = ROOT / code_uri / "app.py"
    name = f"_static_handler_{next(_module_ids)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _epoch_ms(offset_seconds: int = 0) -> int:
    return 1_795_860_000_000 + offset_seconds * 1000


class Simulator:
    """Runs the definition's happy path for one deployment; see the module docstring."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.definition = substituted_definition(resolver)
        self._handlers: dict[str, ModuleType] = {}
        self._clients: dict[str, dict[str, str]] = {}

    def run(self, execution_input: Any, execution_name: str = CONSOLE_EXECUTION_NAME) -> Run:
        r = self.resolver
        machine_arn = r.get_att(STATE_MACHINE, "Arn")
        machine_name = r.get_att(STATE_MACHINE, "Name")
        run = Run(r, execution_name, execution_input)
        context: dict[str, Any] = {
            "Execution": {
                "Id": r.arn("states", f"execution:{machine_name}:{execution_name}"),
                "Name": execution_name,
                "StartTime": EXECUTION_START_TIME,
                "Input": copy.deepcopy(execution_input),
                "RoleArn": r.get_att("StateMachineRole", "Arn"),
            },
            "StateMachine": {"Id": machine_arn, "Name": machine_name},
        }
        document = copy.deepcopy(execution_input)
        name = self.definition["StartAt"]
        while True:
            state = self.definition["States"][name]
            run.visited.append(name)
            context["State"] = {"Name": name, "EnteredTime": EXECUTION_START_TIME, "RetryCount": 0}
            if state["Type"] not in ("Task", "Pass"):
                raise NotImplementedError(f"state type {state['Type']} is not simulated: extend Simulator")
            effective = select(state.get("InputPath", "$"), document, context)
            params = fill(state["Parameters"], effective, context) if "Parameters" in state else effective
            if state["Type"] == "Task":
                run.calls[name] = (state["Resource"], params)
                result = self._call(run, state["Resource"], params)
            else:
                result = state.get("Result", params)
            # Everything a state returns travels as JSON.
            result = json.loads(json.dumps(result))
            if "ResultSelector" in state:
                result = fill(state["ResultSelector"], result, context)
            document = put(document, state.get("ResultPath", "$"), result)
            document = select(state.get("OutputPath", "$"), document, context)
            if state.get("End"):
                run.output = document
                return run
            name = state["Next"]

    # --- task integrations ---

    def _call(self, run: Run, resource: str, params: dict[str, Any]) -> Any:
        match = re.fullmatch(
            r"arn:[a-z-]+:states:::([a-z0-9-]+):([A-Za-z]+)(\.sync|\.waitForTaskToken)?", resource
        )
        if not match:
            raise NotImplementedError(f"resource {resource} is not simulated: extend Simulator._call")
        service, action, _ = match.groups()
        if (service, action) == ("lambda", "invoke"):
            return self._invoke(run, params)
        if service == "sagemaker":
            return getattr(self, f"_sagemaker_{action}")(run, params)
        raise NotImplementedError(f"{service}:{action} is not simulated: extend Simulator._call")

    def _handler(self, logical_id: str) -> ModuleType:
        if logical_id not in self._handlers:
            props = self.resolver.resources[logical_id]["Properties"]
            # Handlers create their clients at import, which looks for credentials: never use real ones.
            with patched_environ({**FAKE_AWS_ENV, "AWS_DEFAULT_REGION": self.resolver.region}):
                module = load_handler_module(props["CodeUri"])
            # The module's boto3 clients (attribute -> service): each run replaces them with its fakes.
            self._clients[logical_id] = {
                attribute: value.meta.service_model.service_name
                for attribute, value in vars(module).items()
                if hasattr(getattr(value, "meta", None), "service_model")
            }
            self._handlers[logical_id] = module
        return self._handlers[logical_id]

    def _invoke(self, run: Run, params: dict[str, Any]) -> dict[str, Any]:
        logical_id = self.resolver.function_for_arn(params["FunctionName"])
        module = self._handler(logical_id)
        fakes = {"s3": run.s3, "sagemaker": FakeSageMaker(run.training_jobs)}
        for attribute, service in self._clients[logical_id].items():
            setattr(module, attribute, fakes[service])
        props = self.resolver.resources[logical_id]["Properties"]
        variables = self.resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        payload = json.loads(json.dumps(params.get("Payload", {})))
        with patched_environ({key: str(value) for key, value in variables.items()}):
            output = module.lambda_handler(payload, None)
        return {
            "ExecutedVersion": "$LATEST",
            "Payload": output,
            "SdkHttpMetadata": {"HttpStatusCode": 200},
            "SdkResponseMetadata": {"RequestId": "8f2c0f0e-5a9b-4d6c-9e1f-2b3c4d5e6f70"},
            "StatusCode": 200,
        }

    def _sagemaker_createHyperParameterTuningJob(self, run: Run, params: dict[str, Any]) -> dict[str, Any]:
        """DescribeHyperParameterTuningJob of the finished job, as the .sync task returns it."""
        name = params["HyperParameterTuningJobName"]
        config = params["HyperParameterTuningJobConfig"]
        definition = copy.deepcopy(params["TrainingJobDefinition"])
        objective = config["HyperParameterTuningJobObjective"]
        definition["StaticHyperParameters"]["_tuning_objective_metric"] = objective["MetricName"]
        # SageMaker names a tuning job's training jobs <tuning job>-<3 digits>-<8 hex digits>.
        best = f"{name}-013-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        run.training_jobs[best] = {
            "TrainingJobName": best,
            "TrainingJobArn": self.resolver.arn("sagemaker", f"training-job/{best.lower()}"),
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {
                "S3ModelArtifacts": f"{definition['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{best}"
                "/output/model.tar.gz"
            },
        }
        tuned = {}
        ranges = config.get("ParameterRanges", {})
        for spec in ranges.get("ContinuousParameterRanges", []):
            tuned[spec["Name"]] = str((float(spec["MinValue"]) + float(spec["MaxValue"])) / 2)
        for spec in ranges.get("IntegerParameterRanges", []):
            tuned[spec["Name"]] = str((int(spec["MinValue"]) + int(spec["MaxValue"])) // 2)
        description = load_event("extract_model_path")  # the real response's shape and counters
        description.update(
            HyperParameterTuningJobName=name,
            HyperParameterTuningJobArn=self.resolver.arn(
                "sagemaker", f"hyper-parameter-tuning-job/{name.lower()}"
            ),
            HyperParameterTuningJobConfig=config,
            TrainingJobDefinition=definition,
        )
        description["BestTrainingJob"].update(
            TrainingJobName=best,
            TrainingJobArn=run.training_jobs[best]["TrainingJobArn"],
            TunedHyperParameters=tuned,
        )
        description["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"].update(
            Type=objective["Type"], MetricName=objective["MetricName"]
        )
        return description

    def _sagemaker_createModel(self, run: Run, params: dict[str, Any]) -> dict[str, Any]:
        return {"ModelArn": self.resolver.arn("sagemaker", f"model/{params['ModelName'].lower()}")}

    def _sagemaker_createTransformJob(self, run: Run, params: dict[str, Any]) -> dict[str, Any]:
        """DescribeTransformJob of the finished job, as the .sync task returns it."""
        name = params["TransformJobName"]
        return {
            **copy.deepcopy(params),
            "TransformJobArn": self.resolver.arn("sagemaker", f"transform-job/{name.lower()}"),
            "TransformJobStatus": "Completed",
            "CreationTime": _epoch_ms(2600),
            "TransformStartTime": _epoch_ms(2700),
            "TransformEndTime": _epoch_ms(2900),
        }


# --------------------------------------------------------------------------------------------------------
# botocore input shapes, with the limits ParamValidator does not check
# --------------------------------------------------------------------------------------------------------


@cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def operation_for(resource: str) -> str:
    """``arn:...:states:::sagemaker:createModel`` -> ``CreateModel``."""
    action = resource.rsplit(":", 1)[1].split(".", 1)[0]
    return action[:1].upper() + action[1:]


def input_errors(params: Any, service: str, operation: str) -> list[str]:
    """Everything wrong with ``params`` as the input of ``service``'s ``operation``."""
    shape = service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    errors = report.generate_report().splitlines() if report.has_errors() else []
    limit_errors(params, shape, "$", errors)
    return errors


def _compiled(pattern: str) -> re.Pattern[str]:
    body = pattern.removeprefix("^").removesuffix("$")
    try:
        return re.compile(body)
    except re.error:
        # Java classes such as \p{L} (tag keys): the `regex` module understands them.
        import regex  # statelint's dependency

        return regex.compile(body)


def limit_errors(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    """Lengths, ranges, full-match patterns and enums of ``value`` against ``shape`` and its members."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure" and isinstance(value, Mapping):
        for key, member in shape.members.items():
            if key in value:
                limit_errors(value[key], member, f"{path}.{key}", errors)
    elif kind == "list" and isinstance(value, list):
        _check_range(len(value), meta, f"{path} (items)", errors)
        for index, item in enumerate(value):
            limit_errors(item, shape.member, f"{path}[{index}]", errors)
    elif kind == "map" and isinstance(value, Mapping):
        _check_range(len(value), meta, f"{path} (entries)", errors)
        for key, item in value.items():
            limit_errors(key, shape.key, f"{path} key {key!r}", errors)
            limit_errors(item, shape.value, f"{path}.{key}", errors)
    elif kind == "string" and isinstance(value, str):
        _check_range(len(value), meta, f"{path} (length)", errors)
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} is not one of {shape.enum}")
        if "pattern" in meta and not _compiled(meta["pattern"]).fullmatch(value):
            errors.append(f"{path}: {value!r} does not match the pattern {meta['pattern']}")
    elif kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        _check_range(value, meta, path, errors)


def _check_range(number: float, meta: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "min" in meta and number < meta["min"]:
        errors.append(f"{path}: {number} is below the minimum {meta['min']}")
    if "max" in meta and number > meta["max"]:
        errors.append(f"{path}: {number} is above the maximum {meta['max']}")


# --------------------------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def glob_matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def role_statements(resolver: Resolver, logical_id: str) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies, intrinsics resolved."""
    props = resolver.resources[logical_id]["Properties"]
    statements = []
    for policy in props.get("Policies", []):
        statements.extend(as_list(resolver.resolve(policy["PolicyDocument"])["Statement"]))
    return statements


def allowing_statements(statements: list[dict[str, Any]], action: str, resource: str) -> list[dict[str, Any]]:
    """The Allow statements that grant ``action`` on ``resource`` (NotAction/NotResource are not used)."""
    found = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        if any(glob_matches(a, action, case_sensitive=False) for a in actions) and any(
            glob_matches(r, resource) for r in resources
        ):
            found.append(statement)
    return found
