"""template.yaml as CloudFormation would deploy it: the project's one resolver of intrinsic functions.

- ``load_template`` reads the template with cfn-lint's decoder (short tags such as ``!Sub`` become their
  long forms) into plain dicts, lists and strings.
- ``resolve_parameters`` takes each parameter's Default unless overridden and checks the value against
  AllowedValues, MinValue and MaxValue, as CloudFormation does before it creates anything.
- ``partition_of`` reads a region's partition and URL suffix from botocore's endpoint data
  (``cn-north-1`` -> ``aws-cn``, ``amazonaws.com.cn``).
- ``Stack`` is one deployment (stack name, region, account, parameter values): it names every resource as
  CloudFormation does (``<stack>-<LogicalId>-<random>``; SAM's implicit ``<Function>Role``), builds their
  ARNs, and evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::FindInMap, Fn::Join and Fn::Select.
- ``substitute_definition`` applies a state machine's DefinitionSubstitutions as SAM does.

The offline engine and the static tests both use it; ``offline/`` is development tooling, never part of a
function's deployment package.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_FILE = ROOT / "template.yaml"
DEFINITION_FILE = ROOT / "statemachine" / "tuning.asl.json"
STATE_MACHINE_LOGICAL_ID = "TuningStateMachine"
DEFAULT_STACK_NAME = "sagemaker-xgboost-tuning"  # samconfig.toml's stack_name
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")

_UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
# The property that, when set, is a resource's physical name.
_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
}


class TemplateError(ValueError):
    """The template cannot be resolved as CloudFormation would resolve it; the message says where."""


class SubstitutionError(TemplateError):
    """The definition uses a ``${Name}`` that DefinitionSubstitutions does not define."""


def load_template(path: Path = TEMPLATE_FILE) -> dict[str, Any]:
    """template.yaml as plain dicts, lists and scalars; intrinsic functions in their long form."""
    from cfnlint.decode import cfn_yaml

    try:
        return json.loads(json.dumps(cfn_yaml.load(str(path))))
    except Exception as e:
        raise TemplateError(f"cannot read the template {path}: {e}") from e


def resolve_parameters(template: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """Parameter values as CloudFormation takes them: defaults, overrides checked against the constraints.

    Every value is a string, as intrinsic functions see it (a Number parameter included).
    """
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(
            f"unknown template parameter(s): {', '.join(unknown)}; "
            f"the template declares {', '.join(declared)}"
        )
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"template parameter {name} has no Default: pass a value for it")
        text = str(value)
        if spec.get("Type") == "Number":
            try:
                number = float(text)
            except ValueError:
                raise TemplateError(f"parameter {name} must be a number, got {text!r}") from None
            low, high = spec.get("MinValue"), spec.get("MaxValue")
            if (low is not None and number < float(low)) or (high is not None and number > float(high)):
                raise TemplateError(f"parameter {name} must be between {low} and {high}, got {text}")
        pattern = spec.get("AllowedPattern")
        # CloudFormation matches the pattern against every item of a CommaDelimitedList.
        items = text.split(",") if spec.get("Type") == "CommaDelimitedList" else [text]
        if pattern is not None and not all(re.fullmatch(str(pattern), item) for item in items):
            raise TemplateError(f"parameter {name} must match the pattern {pattern}, got {text!r}")
        allowed = spec.get("AllowedValues")
        if allowed is not None and text not in [str(v) for v in allowed]:
            raise TemplateError(
                f"parameter {name} must be one of {', '.join(str(v) for v in allowed)}, got {text!r}"
            )
        values[name] = text
    return values


@functools.cache
def partition_of(region: str) -> tuple[str, str]:
    """(partition, URL suffix) of a region, from botocore's endpoint data."""
    import botocore.loaders

    for partition in botocore.loaders.create_loader().load_data("endpoints")["partitions"]:
        if region in partition["regions"] or re.fullmatch(partition["regionRegex"], region):
            return partition["partition"], partition["dnsSuffix"]
    raise TemplateError(f"botocore knows no partition for the region {region}")


def _random_part(stack: str, logical_id: str, alphabet: str) -> str:
    """CloudFormation's random suffix of a generated name, derived from the names so it is reproducible."""
    digest = hashlib.sha256(f"{stack}/{logical_id}".encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:12])


@dataclass
class Stack:
    """The template deployed once: a stack name, a region, an account and the parameters' values."""

    template: Mapping[str, Any] = field(repr=False)
    region: str = DEFAULT_REGION
    overrides: Mapping[str, Any] | None = None
    account_id: str = DEFAULT_ACCOUNT_ID
    name: str = DEFAULT_STACK_NAME
    parameters: dict[str, str] = field(init=False)
    partition: str = field(init=False)
    url_suffix: str = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = resolve_parameters(self.template, self.overrides)
        self.partition, self.url_suffix = partition_of(self.region)

    @property
    def resources(self) -> Mapping[str, Any]:
        """The stack's resources: one whose ``Condition`` is false is left out, as CloudFormation does."""
        return {
            logical_id: resource
            for logical_id, resource in (self.template.get("Resources") or {}).items()
            if "Condition" not in resource or self.condition(str(resource["Condition"]))
        }

    def condition(self, name: str) -> bool:
        """The value of one of the template's Conditions for this stack's parameters."""
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"the template has no condition {name}")
        return self._condition_value(conditions[name])

    def _condition_value(self, value: Any) -> bool:
        if isinstance(value, Mapping) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Fn::Not":
                return not self._condition_value(arg[0])
            if key == "Fn::And":
                return all(self._condition_value(item) for item in arg)
            if key == "Fn::Or":
                return any(self._condition_value(item) for item in arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in arg)
                return str(left) == str(right)
            if key == "Condition":
                return self.condition(str(arg))
        raise TemplateError(f"condition {value!r} is not evaluated offline: extend Stack._condition_value")

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        """``arn:<partition>:<service>:<region>:<account>:<resource>`` (region or account left empty)."""
        return ":".join(
            [
                "arn",
                self.partition,
                service,
                self.region if region else "",
                self.account_id if account else "",
                resource,
            ]
        )

    # --- physical names and attributes -------------------------------------------------------------------

    def _kind(self, logical_id: str) -> str:
        if logical_id in self.resources:
            return str(self.resources[logical_id].get("Type", ""))
        owner = logical_id.removesuffix("Role")
        if logical_id.endswith("Role") and self._implicit_role_of(owner):
            return "AWS::IAM::Role"
        raise TemplateError(f"the template has no resource {logical_id}")

    def _implicit_role_of(self, logical_id: str) -> bool:
        """SAM creates ``<Function>Role`` for a serverless function that names no Role of its own."""
        resource = self.resources.get(logical_id) or {}
        return resource.get("Type") == "AWS::Serverless::Function" and "Role" not in (
            resource.get("Properties") or {}
        )

    def physical_name(self, logical_id: str) -> str:
        """The name CloudFormation gives the resource: its name property if set, else a generated one."""
        kind = self._kind(logical_id)
        props = (self.resources.get(logical_id) or {}).get("Properties") or {}
        name_property = _NAME_PROPERTY.get(kind)
        if name_property and name_property in props:
            return str(self.resolve(props[name_property]))
        # CloudFormation shortens the stack and logical id part to fit the service's limit, never the
        # random part.
        if kind == "AWS::S3::Bucket":  # bucket names are lower case, at most 63 characters
            suffix = _random_part(self.name, logical_id, _LOWER_ALNUM)
            return f"{f'{self.name}-{logical_id}'.lower()[: 63 - 13]}-{suffix}"
        suffix = _random_part(self.name, logical_id, _UPPER_ALNUM)
        if kind in _STATE_MACHINE_TYPES:
            return f"{logical_id[: 80 - 13]}-{suffix}"
        return f"{f'{self.name}-{logical_id}'[: 64 - 13]}-{suffix}"

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackName": self.name,
            "AWS::StackId": self.arn(
                "cloudformation",
                # An id, not a secret: md5 gives the 16 bytes of a UUID.
                f"stack/{self.name}/{uuid.UUID(bytes=hashlib.md5(self.name.encode()).digest())}",  # noqa: S324
            ),
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            declared = (self.template.get("Parameters") or {}).get(name) or {}
            if declared.get("Type") == "CommaDelimitedList":  # Ref gives the list ("" gives [""])
                return self.parameters[name].split(",")
            return self.parameters[name]
        if name.endswith("Role") and self._implicit_role_of(name.removesuffix("Role")):
            return self.physical_name(name)
        if name in self.resources:
            if self._kind(name) in _STATE_MACHINE_TYPES:  # Ref of a state machine is its ARN
                return self.get_att(name, "Arn")
            if self._kind(name) == "AWS::SNS::Topic":  # Ref of a topic is its ARN
                return self.get_att(name, "TopicArn")
            if self._kind(name) == "AWS::KMS::Key":  # Ref of a key is its id
                return self.get_att(name, "KeyId")
            if self._kind(name) == "AWS::SageMaker::ModelPackageGroup":  # Ref of a group is its ARN
                return self.get_att(name, "ModelPackageGroupArn")
            if self._kind(name) == "AWS::SQS::Queue":  # Ref of a queue is its URL
                return f"https://sqs.{self.region}.{self.url_suffix}/{self.account_id}/{self.physical_name(name)}"
            return self.physical_name(name)
        raise TemplateError(f"!Ref {name}: no parameter, pseudo parameter or resource of that name")

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self._kind(logical_id)
        name = self.physical_name(logical_id)
        attributes: dict[str, str] = {}
        if kind == "AWS::S3::Bucket":
            attributes = {
                "Arn": self.arn("s3", name, region=False, account=False),
                "DomainName": f"{name}.s3.{self.url_suffix}",
                "RegionalDomainName": f"{name}.s3.{self.region}.{self.url_suffix}",
            }
        elif kind in _FUNCTION_TYPES:
            attributes = {"Arn": self.arn("lambda", f"function:{name}")}
        elif kind == "AWS::IAM::Role":
            role_id = "AROA" + _random_part(self.name, logical_id, _UPPER_ALNUM).upper()
            attributes = {"Arn": self.arn("iam", f"role/{name}", region=False), "RoleId": role_id}
        elif kind in _STATE_MACHINE_TYPES:
            attributes = {"Arn": self.arn("states", f"stateMachine:{name}"), "Name": name}
        elif kind == "AWS::Logs::LogGroup":
            attributes = {"Arn": self.arn("logs", f"log-group:{name}:*")}
        elif kind == "AWS::SNS::Topic":
            attributes = {"TopicArn": self.arn("sns", name), "TopicName": name}
        elif kind == "AWS::Events::Rule":
            attributes = {"Arn": self.arn("events", f"rule/{name}")}
        elif kind == "AWS::SQS::Queue":
            attributes = {"Arn": self.arn("sqs", name), "QueueName": name}
        elif kind == "AWS::CloudWatch::Alarm":
            attributes = {"Arn": self.arn("cloudwatch", f"alarm:{name}")}
        elif kind == "AWS::SageMaker::ModelPackageGroup":
            attributes = {"ModelPackageGroupArn": self.arn("sagemaker", f"model-package-group/{name}")}
        elif kind == "AWS::KMS::Key":
            key_id = str(uuid.UUID(bytes=hashlib.sha256(f"{self.name}/{logical_id}".encode()).digest()[:16]))
            attributes = {"KeyId": key_id, "Arn": self.arn("kms", f"key/{key_id}")}
        if attribute not in attributes:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute} ({kind}) is not known offline")
        return attributes[attribute]

    # --- intrinsic functions -----------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated; one this resolver lacks raises TemplateError."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(str(logical_id), str(self.resolve(attribute)))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::FindInMap":
                map_name, top, second = (self.resolve(part) for part in arg)
                try:
                    return self.template["Mappings"][map_name][top][second]
                except KeyError:
                    raise TemplateError(
                        f"!FindInMap [{map_name}, {top}, {second}]: no such entry in the template's Mappings"
                    ) from None
            if key == "Fn::Join":
                delimiter, items = arg
                return str(delimiter).join(str(item) for item in self.resolve(items))
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(str(delimiter))
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"{key} is not evaluated offline: extend offline.template.Stack.resolve")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, raw_variables = arg
            variables = {str(k): str(self.resolve(v)) for k, v in (raw_variables or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expression = match[1]
            if expression.startswith("!"):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + expression[1:] + "}"
            if expression in variables:
                return variables[expression]
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(expression)

        return PLACEHOLDER.sub(replace, str(text))

    # --- the state machine -------------------------------------------------------------------------------

    def definition_substitutions(self, logical_id: str = STATE_MACHINE_LOGICAL_ID) -> dict[str, str]:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"the template has no resource {logical_id}")
        raw = (resource.get("Properties") or {}).get("DefinitionSubstitutions") or {}
        return {str(key): str(self.resolve(value)) for key, value in raw.items()}

    def definition_text(self, path: Path = DEFINITION_FILE) -> str:
        """The definition file with this stack's DefinitionSubstitutions applied."""
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as e:
            raise TemplateError(f"cannot read the definition {path}: {e}") from e
        return substitute_definition(raw, self.definition_substitutions(), str(path))


def placeholders(text: str) -> set[str]:
    """The names of every ``${...}`` in ``text``."""
    return set(PLACEHOLDER.findall(text))


def substitute_definition(text: str, substitutions: Mapping[str, str], source: str = "definition") -> str:
    """SAM's DefinitionSubstitutions: every ``${Name}`` replaced; a name with no substitution is an error."""
    missing = sorted(placeholders(text) - set(substitutions))
    if missing:
        raise SubstitutionError(
            f"{source}: ${{{missing[0]}}} has no entry in the template's DefinitionSubstitutions "
            f"(it has {', '.join(sorted(substitutions))})"
        )
    return PLACEHOLDER.sub(lambda match: substitutions[match[1]], text)
