"""What `docker compose config` does to a compose file, without a Docker engine.

Compose (compose-go) reads the YAML, fills in `${VAR...}` from the environment, validates the result
against the Compose Specification's JSON schema, then checks that what the services name exists. This
does the same: the schema is the compose-spec project's own `compose-spec.json` as vendored by the pinned
check-jsonschema, and the validator is `jsonschema` for the draft the schema declares.

    .venv/bin/python -m tests.support.compose [FILE] [--env-file FILE]

prints the interpolated config as JSON, or the first error and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
# Go's time.ParseDuration, which compose applies to every duration ("1m30s", "500ms"; "0" alone).
_DURATION = re.compile(r"[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)")
_HEALTHCHECK_DURATIONS = ("interval", "timeout", "start_period", "start_interval")


class ComposeError(Exception):
    """The file is not one `docker compose config` would accept."""


class PortBinding(NamedTuple):
    host_ip: str  # "" means every interface
    published: str
    target: str


def read_env_file(path: Path) -> dict[str, str]:
    """A .env file as compose reads it: KEY=VALUE lines, `#` comments, optional quotes."""
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not _NAME.fullmatch(key.strip()):
            raise ComposeError(f"{path}:{number}: not KEY=VALUE: {raw!r}")
        value = value.strip()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) > 1:
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        env[key.strip()] = value
    return env


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Every string value with its variables filled in (keys are left alone, as compose does)."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, str):
        return _substitute(node, env)
    return node


def _substitute(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):  # the escape for a literal $
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            out.append(_braced(text[i + 2:end], env, text))
            i = end + 1
        elif name := _NAME.match(text, i + 1):
            out.append(env.get(name.group(), ""))
            i = name.end()
        else:  # a lone $ stays as it is
            out.append("$")
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth, i = 1, start
    while i < len(text):
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ComposeError(f"invalid interpolation format: {text!r}")


def _braced(inner: str, env: Mapping[str, str], text: str) -> str:
    name = _NAME.match(inner)
    if not name:
        raise ComposeError(f"invalid interpolation format: {text!r}")
    var, rest = name.group(), inner[name.end():]
    value = env.get(var)
    if not rest:
        return value or ""
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise ComposeError(f"invalid interpolation format: {text!r}")
    argument = rest[len(operator):]
    if operator.startswith(":") and not value:  # with a colon, an empty value counts as unset
        value = None
    if operator.endswith("-"):
        return _substitute(argument, env) if value is None else value
    if operator.endswith("?"):
        if value is None:
            raise ComposeError(f"required variable {var} is missing a value: {_substitute(argument, env)}")
        return value
    return "" if value is None else _substitute(argument, env)


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = get_builtin_schema("vendor.compose-spec")
    cls = jsonschema.validators.validator_for(schema, default=None)
    if cls is None:
        raise ComposeError(f"the compose schema declares a draft jsonschema does not know: {schema.get('$schema')}")
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate(config: dict[str, Any]) -> None:
    """Raises ComposeError naming where the config breaks the Compose Specification's schema."""
    errors = list(_validator().iter_errors(config))
    if errors:
        # The deepest error names the culprit; the ones above it (allOf, oneOf) only say that it failed.
        deepest = max(_descendants(errors), key=lambda error: len(error.absolute_path))
        where = "/".join(str(part) for part in deepest.absolute_path) or "(top level)"
        raise ComposeError(f"{where}: {deepest.message} ({len(errors)} schema error(s))")


def _descendants(errors: list[jsonschema.ValidationError]) -> Iterator[jsonschema.ValidationError]:
    for error in errors:
        yield error
        yield from _descendants(error.context or [])


def check_consistency(config: dict[str, Any]) -> None:
    """What compose checks after the schema: the names a service uses exist, durations parse."""
    services: dict[str, Any] = config.get("services") or {}
    volumes = set(config.get("volumes") or {})
    networks = set(config.get("networks") or {}) | {"default"}
    for name, service in services.items():
        if "image" not in service and "build" not in service:
            raise ComposeError(f"service {name!r} has neither an image nor a build context specified")
        for dependency in service.get("depends_on") or ():
            if dependency not in services:
                raise ComposeError(f"service {name!r} depends on undefined service {dependency!r}")
        for network in service.get("networks") or ():
            if network not in networks:
                raise ComposeError(f"service {name!r} refers to undefined network {network!r}")
        for volume in service.get("volumes") or ():
            if isinstance(volume, dict):
                source, named = volume.get("source", ""), volume.get("type") == "volume"
            else:  # short syntax: a named volume's source is a name, not a path
                source, separator, _ = volume.partition(":")
                named = bool(separator) and not source.startswith((".", "/", "~"))
            if named and source and source not in volumes:
                raise ComposeError(f"service {name!r} refers to undefined volume {source!r}")
        healthcheck = service.get("healthcheck") or {}
        test = healthcheck.get("test")
        if isinstance(test, list) and test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise ComposeError(f'service {name!r}: healthcheck.test must start with "CMD", "CMD-SHELL" or "NONE"')
        durations = [(f"healthcheck.{key}", healthcheck.get(key)) for key in _HEALTHCHECK_DURATIONS]
        for field, value in [*durations, ("stop_grace_period", service.get("stop_grace_period"))]:
            if value is not None and not _DURATION.fullmatch(str(value)):
                raise ComposeError(f"service {name!r}: {field} {value!r} is not a duration")


def load(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """The file as compose would run it with this environment, or ComposeError."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ComposeError(f"{path} is not YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ComposeError("top-level object must be a mapping")
    # Through JSON, as compose does before validating: only JSON types reach the schema.
    config: dict[str, Any] = json.loads(json.dumps(interpolate(raw, env)))
    validate(config)
    check_consistency(config)
    return config


def port_bindings(service: Mapping[str, Any]) -> Iterator[PortBinding]:
    """A service's published ports, short ("[host_ip:]published:target[/protocol]") or long syntax."""
    for port in service.get("ports") or ():
        if isinstance(port, dict):
            yield PortBinding(port.get("host_ip", ""), str(port.get("published", "")), str(port["target"]))
            continue
        spec, host_ip = str(port).split("/", 1)[0], ""
        if spec.startswith("["):  # an IPv6 address
            host_ip, spec = spec[1:].split("]:", 1)
        parts = spec.split(":")
        if len(parts) == 3:
            host_ip, published, target = parts
        elif len(parts) == 2:
            published, target = parts
        else:
            published, target = "", parts[0]
        yield PortBinding(host_ip, published, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.compose", description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=COMPOSE_FILE)
    parser.add_argument("--env-file", type=Path, default=None,
                        help="variables to interpolate (default: .env beside the file, if there is one); "
                             "the process environment wins, as with compose")
    args = parser.parse_args(argv)
    env_file: Path | None = args.env_file or (args.file.parent / ".env")
    env = read_env_file(env_file) if env_file and env_file.is_file() else {}
    env.update(os.environ)
    try:
        config = load(args.file, env)
    except ComposeError as error:
        print(f"{args.file}: {error}", file=sys.stderr)
        return 1
    json.dump(config, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
