"""Components from Python functions and from KFP v1 component YAML, as `kfp.components` makes them.

A function component embeds the function's source in its container: the step runs
`python3 -u -c PROGRAM --input value ... --output-path path ...` in any image with Python, the program
turns the text arguments back into typed values, calls the function and writes each output to its file.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from kubeline.api import yamlsafe
from kubeline.api.names import to_dns_label
from kubeline.engine.templates import to_text
from kubeline.engine.values import coerce, kfp_value_type

DEFAULT_BASE_IMAGE = "python:3.11-slim"

_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "list", dict: "object"}


class InputPath:
    """Annotation: the function reads this input from a file; the argument is the file's path."""

    def __init__(self, type: Any = None):
        self.type = type


class OutputPath:
    """Annotation: the function writes this output to a file; the argument is the path to write."""

    def __init__(self, type: Any = None):
        self.type = type


class CompileError(ValueError):
    """A pipeline or component that cannot be compiled; the message names the task and the problem."""


@dataclass
class IO:
    name: str
    type: str = "string"
    default: Any = None
    optional: bool = False
    #: a task must pass it (KFP raises TypeError for a missing one); not part of the document
    required: bool = False


@dataclass
class ComponentSpec:
    """A component as kubeline's Pipeline format holds it."""

    name: str
    inputs: list[IO]
    outputs: list[IO]
    image: str
    command: list[str]
    args: list[str]
    #: by name: a value (text with placeholders) or, as a dict, where Kubernetes reads it from (valueFrom)
    env: dict[str, str | dict[str, Any]] = field(default_factory=dict)
    description: str | None = None
    #: KFP YAML whose arguments hold `if: {cond: {isPresent: x}}`: resolved per task (see resolve_conditionals)
    conditional: dict[str, Any] | None = None
    #: the step pod's own settings (KFP ContainerOp methods), as the Pipeline API's camelCase dicts
    env_from: list[dict[str, Any]] = field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)
    image_pull_policy: str | None = None
    security_context: dict[str, Any] | None = None
    working_dir: str | None = None
    volumes: list[dict[str, Any]] = field(default_factory=list)
    sidecars: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name}
        if self.description:
            document["description"] = self.description
        if self.inputs:
            document["inputs"] = [_io_dict(i, with_default=True) for i in self.inputs]
        if self.outputs:
            document["outputs"] = [_io_dict(o) for o in self.outputs]
        container: dict[str, Any] = {"image": self.image}
        if self.command:
            container["command"] = self.command
        if self.args:
            container["args"] = self.args
        if self.env:
            container["env"] = [env_entry(k, v) for k, v in self.env.items()]
        for key, value in (
            ("envFrom", self.env_from),
            ("workingDir", self.working_dir),
            ("volumeMounts", self.volume_mounts),
            ("imagePullPolicy", self.image_pull_policy),
            ("securityContext", self.security_context),
        ):
            if value:
                container[key] = value
        document["container"] = container
        for key, value in (
            ("volumes", self.volumes),
            ("sidecars", [self._mirrored(c) for c in self.sidecars]),
            ("initContainers", [self._mirrored(c) for c in self.init_containers]),
        ):
            if value:
                document[key] = value
        pod_metadata = {k: v for k, v in (("labels", self.pod_labels), ("annotations", self.pod_annotations)) if v}
        if pod_metadata:
            document["podMetadata"] = pod_metadata
        return document

    def _mirrored(self, container: dict[str, Any]) -> dict[str, Any]:
        """KFP's mirror_volume_mounts: the main container's mounts too, at the same paths (its own win)."""
        if not container.get("mirrorVolumeMounts"):
            return container
        own = container.get("volumeMounts") or []
        paths = {m["mountPath"] for m in own}
        mounts = [*own, *(dict(m) for m in self.volume_mounts if m["mountPath"] not in paths)]
        mirrored = {k: v for k, v in container.items() if k != "mirrorVolumeMounts"}
        if mounts:
            mirrored["volumeMounts"] = mounts
        return mirrored


def env_entry(name: str, value: str | dict[str, Any]) -> dict[str, Any]:
    """A container's env entry: a value, or (a dict) where Kubernetes reads the value from."""
    return {"name": name, "value": value} if isinstance(value, str) else {"name": name, "valueFrom": value}


def _io_dict(io: IO, with_default: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {"name": io.name, "type": io.type}
    if with_default and io.default is not None:
        document["default"] = io.default
    if with_default and io.optional:
        document["optional"] = True
    return document


def dns_name(text: str) -> str:
    """A DNS label from a display name: ``Add numbers`` -> ``add-numbers``."""
    return to_dns_label(text, fallback="step")


def io_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", text)
    return name if re.match(r"^[A-Za-z_]", name) else f"_{name}"


#: KFP v1's outputs its UI shows, by the name KFP knows them by (any spelling: `mlpipeline_metrics`,
#: `MLPipeline Metrics`), and their types.
KFP_UI_OUTPUTS = {"mlpipeline-metrics": "metrics", "mlpipeline-ui-metadata": "ui-metadata"}
#: KFP v1's type names of those outputs (`Metrics`, `UI_metadata`, `UI metadata`).
_KFP_UI_TYPES = {"metrics": "metrics", "ui_metadata": "ui-metadata"}


def output_name(name: str) -> str:
    """An output's name: KFP's metrics and visualizations outputs under the name KFP gives them
    (`MLPipeline Metrics` is `mlpipeline-metrics`), the others as io_name makes them."""
    known = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return known if known in KFP_UI_OUTPUTS else io_name(name)


def kfp_output(name: str, kfp_type: Any, kind: str) -> IO:
    """An output as KFP v1 reads it: named as KFP's metrics or visualizations output, or of their types
    (`Metrics`, `UI_metadata`), it has that type; otherwise it is of ``kind``."""
    renamed = output_name(name)
    type_key = re.sub(r"[^a-z0-9]+", "_", kfp_type.lower()) if isinstance(kfp_type, str) else ""
    return IO(renamed, KFP_UI_OUTPUTS.get(renamed) or _KFP_UI_TYPES.get(type_key, kind))


def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation) or annotation
    if origin in _TYPES:
        return _TYPES[origin]
    if isinstance(annotation, str):
        return kfp_value_type(annotation) or "string"
    kfp_type = getattr(annotation, "TYPE_NAME", None)  # kfp.dsl.types: Integer or Integer()
    if isinstance(kfp_type, str):
        return kfp_value_type(kfp_type) or "string"
    return "string"


class ComponentFactory:
    """What create_component_from_func returns: call it in a pipeline to add a task."""

    def __init__(self, spec: ComponentSpec):
        self.component_spec = spec
        self.__name__ = spec.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from kubeline.sdk.dsl import ContainerOp

        return ContainerOp.from_component(self.component_spec, self._arguments(args, kwargs))

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The task's arguments by input name; wrong calls raise TypeError as a Python function would."""
        spec = self.component_spec
        names = [i.name for i in spec.inputs]
        signature = f"{spec.name}({', '.join(names)})"
        if len(args) > len(names):
            raise TypeError(
                f"{signature} takes {len(names)} argument{'s' if len(names) != 1 else ''} but {len(args)} were given"
            )
        arguments = dict(zip(names, args, strict=False))  # fewer arguments than names: the rest by keyword
        for key, value in kwargs.items():
            name = key if key in names else _input_named(names, key)
            if name not in names:
                raise TypeError(f"{signature} got an unexpected argument {key!r}: pass one of its inputs")
            if name in arguments:
                raise TypeError(f"{signature} got two values for {name!r}")
            arguments[name] = value
        missing = [i.name for i in spec.inputs if i.required and i.name not in arguments]
        if missing:
            raise TypeError(
                f"{signature} is missing required argument{'s' if len(missing) != 1 else ''} "
                f"{', '.join(map(repr, missing))}: pass a value for each"
            )
        return arguments


def pythonic(name: str) -> str:
    """The name KFP gives an input or output in Python: `Input text` is `input_text`, `résultat` is `r_sultat`."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _input_named(names: list[str], key: str) -> str:
    """The input a keyword argument names: as written, without KFP's _path/_file suffix, or in KFP's pythonic form."""
    for candidate in (
        io_name(_strip_suffix(key)),
        *(n for n in names if pythonic(n) in (pythonic(key), pythonic(_strip_suffix(key)))),
    ):
        if candidate in names:
            return candidate
    return key


def _strip_suffix(name: str) -> str:
    for suffix in ("_path", "_file"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def create_component_from_func(
    func: Callable[..., Any],
    output_component_file: str | None = None,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    annotations: dict[str, str] | None = None,
) -> ComponentFactory:
    if annotations:
        raise CompileError(
            f"create_component_from_func({getattr(func, '__name__', func)!r}, annotations=...) is not supported: "
            "a kubeline component has no annotations; describe it in the function's docstring"
        )
    spec = _spec_from_function(func, _base_image(func, base_image), packages_to_install or [])
    output_component_file = output_component_file or getattr(func, "_component_target_component_file", None)
    if output_component_file:
        Path(output_component_file).write_text(yaml.safe_dump(kfp_component(spec), sort_keys=False))
    return ComponentFactory(spec)


#: KFP v1's type name of each kubeline value type, for component YAML (artifacts are left untyped).
_KFP_TYPE_NAMES = {
    "string": "String",
    "integer": "Integer",
    "number": "Float",
    "boolean": "Boolean",
    "list": "JsonArray",
    "object": "JsonObject",
    "metrics": "Metrics",
    "ui-metadata": "UI_metadata",
}
_PLACEHOLDER = re.compile(r"\{\{(inputs|outputs)\.([A-Za-z0-9_-]+)(\.path)?\}\}")


def kfp_component(spec: ComponentSpec) -> dict[str, Any]:
    """The component as KFP v1 component YAML (what output_component_file holds, as KFP writes it): files that
    load_component_from_file, KFP's included, read back."""
    document: dict[str, Any] = {"name": spec.name}
    if spec.description:
        document["description"] = spec.description
    if spec.inputs:
        document["inputs"] = [_kfp_io(i, with_default=True) for i in spec.inputs]
    if spec.outputs:
        document["outputs"] = [_kfp_io(o) for o in spec.outputs]
    parts = spec.conditional or {"command": spec.command, "args": spec.args}
    container: dict[str, Any] = {"image": spec.image}
    for key in ("command", "args"):
        if parts.get(key):
            container[key] = [_kfp_part(part) for part in parts[key]]
    if spec.env:
        container["env"] = {k: v for k, v in spec.env.items() if isinstance(v, str)}
    document["implementation"] = {"container": container}
    return document


def _kfp_io(io: IO, with_default: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {"name": io.name}
    if io.type in _KFP_TYPE_NAMES:
        document["type"] = _KFP_TYPE_NAMES[io.type]
    if with_default and io.default is not None:
        document["default"] = to_text(io.default)  # KFP keeps every default as text
    if with_default and io.optional:
        document["optional"] = True
    return document


def _kfp_part(part: Any) -> Any:
    """A command or args entry with kubeline's placeholders as KFP's (inputValue, inputPath, outputPath, concat)."""
    if isinstance(part, dict):  # an `if: {cond: {isPresent: x}, then: [...]}` kept for the tasks to resolve
        branches = {k: [_kfp_part(p) for p in v] for k, v in part["if"].items() if k in ("then", "else")}
        return {"if": {"cond": part["if"]["cond"], **branches}}
    pieces: list[Any] = []
    at = 0
    for match in _PLACEHOLDER.finditer(part):
        pieces += [part[at : match.start()]] if match.start() > at else []
        kind, name, path = match.groups()
        key = "outputPath" if kind == "outputs" else "inputPath" if path else "inputValue"
        pieces.append({key: name})
        at = match.end()
    pieces += [part[at:]] if at < len(part) else []
    return pieces[0] if len(pieces) == 1 else {"concat": pieces} if pieces else part


func_to_container_op = create_component_from_func


def _base_image(func: Callable[..., Any], given: str | None) -> str:
    """The image given, else the one @dsl.python_component set, else kubeline's default; two that differ
    are an error, as in KFP."""
    decorated = getattr(func, "_component_base_image", None)
    if decorated is not None and given is not None and decorated != given:
        raise CompileError(
            f"{func.__name__}(): base_image={given!r} differs from the image @dsl.python_component gave "
            f"({decorated!r}): keep one of them"
        )
    return given or decorated or DEFAULT_BASE_IMAGE


def component(
    func: Callable[..., Any] | None = None,
    *,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
) -> Any:
    """Decorator form: ``@component`` or ``@component(base_image=..., packages_to_install=[...])``."""
    if func is None:
        return lambda f: create_component_from_func(f, base_image=base_image, packages_to_install=packages_to_install)
    return create_component_from_func(func)


def _spec_from_function(func: Callable[..., Any], image: str, packages: list[str]) -> ComponentSpec:
    source = _function_source(func)
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception as error:  # noqa: BLE001 - an annotation naming what does not exist
        raise CompileError(
            f"the type hints of {func.__name__}() cannot be read ({type(error).__name__}: {error})"
        ) from None
    inputs, outputs, plan = [], [], []  # plan: how the program passes each parameter
    for parameter in signature.parameters.values():
        annotation = (
            parameter.annotation
            if not isinstance(parameter.annotation, str)
            else hints.get(parameter.name, parameter.annotation)
        )
        has_default = parameter.default is not inspect.Parameter.empty
        if isinstance(annotation, OutputPath):
            output = kfp_output(_strip_suffix(parameter.name), annotation.type, "artifact")
            outputs.append(output)
            plan.append(("output_path", parameter.name, output.name, "artifact"))
        elif isinstance(annotation, InputPath):
            name = io_name(_strip_suffix(parameter.name))
            inputs.append(IO(name, "artifact", optional=has_default, required=not has_default))
            plan.append(("input_path", parameter.name, name, "artifact"))
        else:
            kind = type_name(annotation)
            default = parameter.default if has_default else None
            inputs.append(
                IO(
                    io_name(parameter.name),
                    kind,
                    default=default,
                    optional=has_default and default is None,
                    required=not has_default,
                )
            )
            plan.append(("value", parameter.name, io_name(parameter.name), kind))
    returns = hints.get("return", signature.return_annotation)
    fields = getattr(returns, "_fields", None)
    if fields:
        field_types = _field_types(returns)
        for name in fields:
            kind = field_types.get(name, str)
            outputs.append(kfp_output(name, kind, type_name(kind)))
    elif returns not in (inspect.Signature.empty, None, type(None)):
        outputs.append(IO("Output", type_name(returns)))
    _check_unique(
        func.__name__, [p[2] for p in plan] + [o.name for o in outputs if not any(p[2] == o.name for p in plan)]
    )
    program = _program(func, source, plan, [o.name for o in outputs if not any(p[2] == o.name for p in plan)], packages)
    args: list[Any] = []
    absent_is_none = {i.name for i in inputs if i.optional}
    for kind, _, name, _ in plan:
        placeholder = {
            "value": f"{{{{inputs.{name}}}}}",
            "input_path": f"{{{{inputs.{name}.path}}}}",
            "output_path": f"{{{{outputs.{name}.path}}}}",
        }[kind]
        if name in absent_is_none:
            # a task that does not pass it leaves the option out, so the function sees its default None (as in KFP)
            args.append({"if": {"cond": {"isPresent": name}, "then": [f"--{name}", placeholder]}})
        else:
            args += [f"--{name}", placeholder]
    for output in outputs:
        if not any(p[2] == output.name for p in plan):
            args += [f"--output-{output.name}", f"{{{{outputs.{output.name}.path}}}}"]
    # @dsl.python_component's name and description come first, as in KFP
    description = getattr(func, "_component_description", None) or inspect.getdoc(func)
    command = ["python3", "-u", "-c", program]
    spec = ComponentSpec(
        dns_name(getattr(func, "_component_human_name", None) or func.__name__),
        inputs,
        outputs,
        image,
        command,
        [],
        description=description.splitlines()[0] if description else None,
    )
    spec.conditional = {"command": command, "args": args}
    # every input present: what the component says outside a task (each task resolves its own)
    spec.args = resolve_conditionals(spec, absent_is_none).args
    if not absent_is_none:
        spec.conditional = None
    return spec


def _field_types(returns: Any) -> dict[str, Any]:
    """A NamedTuple's field types; KFP's type names given as text (`('mlpipeline_metrics', 'Metrics')`) stay text."""
    try:
        return typing.get_type_hints(returns)
    except NameError:
        annotations = getattr(returns, "__annotations__", {})
        return {k: v.__forward_arg__ if isinstance(v, typing.ForwardRef) else v for k, v in annotations.items()}


def _function_source(func: Any) -> str:
    """The source of a function defined with ``def``: what the step runs. Anything else is a CompileError
    saying why it cannot be a component."""
    what = getattr(func, "__name__", None) or type(func).__name__
    if not inspect.isfunction(func):
        raise CompileError(
            f"{what!r} is a {type(func).__name__}, not a Python function: a component is made from "
            "a function defined with `def` in a file, whose source kubeline ships to the step"
        )
    if func.__name__ == "<lambda>":
        raise CompileError(
            "a lambda cannot be a component: its source is not a function kubeline can ship to the step; "
            "define the function with `def` and pass its name"
        )
    if inspect.iscoroutinefunction(func) or inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise CompileError(
            f"{what}() is a coroutine or generator function: a component must be a plain function "
            "that returns its outputs"
        )
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        raise CompileError(
            f"the source of {what}() cannot be found (made with exec or typed interactively?): "
            "define the function with `def` in a Python file"
        ) from None
    try:
        return _without_annotations(source, func.__name__)
    except SyntaxError:
        raise CompileError(
            f"the source of {what}() cannot be read on its own: define it with `def` at the start of a line"
        ) from None


def _check_unique(function: str, names: list[str]) -> None:
    """Two parameters must not become one input or output (``a-b`` and ``a_b``, or two non-ASCII names)."""
    seen = set()
    for name in names:
        if name in seen:
            raise CompileError(
                f"two parameters or outputs of {function}() become the same input or output name "
                f"{name!r}: rename one (use ASCII letters, digits and '_')"
            )
        seen.add(name)


def _program(
    func: Callable[..., Any],
    source: str,
    plan: list[tuple[str, str, str, str]],
    returned: list[str],
    packages: list[str],
) -> str:
    parameters = [(kind, parameter, name, type_) for kind, parameter, name, type_ in plan]
    return _PROGRAM.format(
        install=_INSTALL.format(packages=repr(packages)) if packages else "",
        source=source,
        function=func.__name__,
        parameters=repr(parameters),
        returned=repr(returned),
    )


def _without_annotations(source: str, name: str) -> str:
    """The function's source with no decorators or type hints: in the container, names such as
    OutputPath or a NamedTuple type are not defined (KFP strips them the same way)."""
    tree = ast.parse(source)
    function = tree.body[0] if tree.body else None
    if not isinstance(function, ast.FunctionDef) or function.name != name:
        raise SyntaxError(f"no definition of {name}")
    function.decorator_list = []
    function.returns = None
    arguments = function.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]:
        if argument is not None:
            argument.annotation = None
    return ast.unparse(tree)


_INSTALL = '''\
def _install(packages):
    """Install what the image (or, locally, this interpreter) lacks."""
    import importlib.metadata, re, subprocess
    missing = []
    for package in packages:
        try:
            importlib.metadata.distribution(re.split(r"[<>=!~\\[ ;]", package, maxsplit=1)[0])
        except importlib.metadata.PackageNotFoundError:
            missing.append(package)
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-script-location", *missing])

_install({packages})

'''

_PROGRAM = """\
import argparse, json, os, sys

{install}{source}

def _value(text, kind):
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        return text.strip().lower() in ("true", "1", "yes")
    if kind in ("list", "object"):
        return json.loads(text)
    return text

def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)

_parser = argparse.ArgumentParser()
for _kind, _parameter, _name, _type in {parameters}:
    _parser.add_argument("--" + _name, dest=_name, default=None)
for _name in {returned}:
    _parser.add_argument("--output-" + _name, dest="output-" + _name)
_args = vars(_parser.parse_args())
_call = {{}}
for _kind, _parameter, _name, _type in {parameters}:
    _given = _args[_name]
    if _kind == "value":
        if _given is None or (_given == "" and _type != "string"):
            continue
        _call[_parameter] = _value(_given, _type)
    else:
        if _kind == "output_path":
            os.makedirs(os.path.dirname(_given) or ".", exist_ok=True)
        _call[_parameter] = _given
_result = {function}(**_call)
_names = {returned}
if _names:
    _values = list(_result) if len(_names) > 1 else [_result]
    for _name, _item in zip(_names, _values):
        _path = _args["output-" + _name]
        os.makedirs(os.path.dirname(_path) or ".", exist_ok=True)
        with open(_path, "w") as _file:
            _file.write(_text(_item))
"""


# -- KFP v1 component YAML -------------------------------------------------------------------------------


def load_component_from_text(text: str) -> ComponentFactory:
    """A component from KFP v1 component YAML, read with the bounds of every YAML kubeline reads."""
    documents = yamlsafe.load_all(text)
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ValueError("not a KFP component: a component file holds one mapping with implementation.container")
    return ComponentFactory(_spec_from_yaml(documents[0]))


def load_component_from_file(path: str) -> ComponentFactory:
    return load_component_from_text(Path(path).read_text())


#: Longest a component URL may take to answer, and the most it may send (a component file is a few KiB).
_URL_SECONDS = 30
_URL_MAX_BYTES = 4 * 1024 * 1024


def load_component_from_url(url: str, auth: Any = None) -> ComponentFactory:
    """A component from KFP v1 component YAML at a URL, as the KFP docs load published components."""
    import urllib.error
    import urllib.request

    if auth is not None:
        raise CompileError(
            f"load_component_from_url({url!r}, auth=...) is not supported: download the file and use "
            "load_component_from_file"
        )
    try:
        with urllib.request.urlopen(url, timeout=_URL_SECONDS) as response:
            data = response.read(_URL_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise CompileError(f"cannot read the component at {url!r}: {error}; check the URL") from None
    if len(data) > _URL_MAX_BYTES:
        raise CompileError(f"the component at {url!r} is larger than {_URL_MAX_BYTES} bytes: not a component file")
    return load_component_from_text(data.decode())


def _spec_from_yaml(document: dict[str, Any]) -> ComponentSpec:
    """The KFP v1 component.yaml format: inputs, outputs and implementation.container with placeholders."""
    if "implementation" not in document:
        raise ValueError("not a KFP component: it has no implementation.container")
    container = document["implementation"]["container"]
    file_inputs = _path_placeholders(container, "inputPath")
    inputs = [
        _yaml_input(i, "artifact" if i["name"] in file_inputs else kfp_value_type(i.get("type")) or "string")
        for i in document.get("inputs") or []
    ]
    outputs = [
        kfp_output(o["name"], o.get("type"), kfp_value_type(o.get("type")) or "string")
        for o in document.get("outputs") or []
    ]
    spec = ComponentSpec(
        dns_name(document.get("name", "component")),
        inputs,
        outputs,
        container["image"],
        [],
        [],
        {k: str(v) for k, v in (container.get("env") or {}).items()},
        description=document.get("description"),
    )
    if _has_if(container):
        spec.conditional = container
    else:
        spec.command = [_placeholder(part) for part in container.get("command") or []]
        spec.args = [_placeholder(part) for part in container.get("args") or []]
    return spec


def _yaml_input(declared: dict[str, Any], kind: str) -> IO:
    """An input of component YAML. KFP v1 passes a default as its text whatever the input's type, so a default
    the type cannot take is kept as text: an empty one (`{type: List, default: ''}`, as the published Dataproc
    components have) renders empty, as an optional input; any other makes the input a string."""
    name, default, optional = io_name(declared["name"]), declared.get("default"), bool(declared.get("optional"))
    if default is None or kind == "artifact":
        return IO(name, kind, default=default, optional=optional)
    try:
        coerce(default, kind)
    except ValueError:
        if default == "":
            return IO(name, kind, optional=True)
        return IO(name, "string", default=to_text(default), optional=optional)
    return IO(name, kind, default=default, optional=optional)


def _path_placeholders(container: dict[str, Any], key: str) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if key in value:
                found.add(value[key])
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(container)
    return found


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        if "inputValue" in part:
            return f"{{{{inputs.{io_name(part['inputValue'])}}}}}"
        if "inputPath" in part:
            return f"{{{{inputs.{io_name(part['inputPath'])}.path}}}}"
        if "outputPath" in part:
            return f"{{{{outputs.{output_name(part['outputPath'])}.path}}}}"
        if "concat" in part:
            return "".join(_placeholder(p) for p in part["concat"])
    raise ValueError(f"unsupported placeholder in component: {part!r}")


def _is_if(part: Any) -> bool:
    return isinstance(part, dict) and "if" in part


def _has_if(container: dict[str, Any]) -> bool:
    return any(_is_if(p) for p in (container.get("command") or []) + (container.get("args") or []))


def resolve_conditionals(spec: ComponentSpec, present: set[str]) -> ComponentSpec:
    """The component's command and args for a task that passes the inputs in ``present``."""
    container = spec.conditional
    if container is None:
        return spec

    def expand(parts: list[Any]) -> list[str]:
        result: list[str] = []
        for part in parts:
            if _is_if(part):
                condition = part["if"]["cond"]
                name = condition.get("isPresent") if isinstance(condition, dict) else None
                truth = name in present if name is not None else bool(condition)
                result += expand(part["if"].get("then" if truth else "else") or [])
            else:
                result.append(_placeholder(part))
        return result

    return replace(
        spec,
        command=expand(container.get("command") or []),
        args=expand(container.get("args") or []),
        conditional=None,
    )
