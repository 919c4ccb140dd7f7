"""terraform/ parses as HCL2 and is wired consistently (tools/check_infra.py), and the checks
themselves catch the mistakes they exist for (broken fixture trees)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from arbiter.engine.placement import NODE_RESOURCE, Role
from tools import check_infra
from tools.check_infra import NODE_CLASSES, check_all, parse_dir

TERRAFORM = check_infra.TERRAFORM
MODULES = TERRAFORM / "modules"
ENVS = TERRAFORM / "envs"


def test_repository_terraform_has_no_problems() -> None:
    problems, parsed = check_all()
    assert problems == []
    # every module and both environments were actually parsed
    assert {p.name for p in parsed} >= {
        "kms", "vpc", "registry", "secrets", "observability", "iam", "aurora", "ray_cluster",
        "staging", "production",
    }


@pytest.mark.parametrize("env", ["staging", "production"])
def test_environment_roots_call_every_module(env: str) -> None:
    tf = parse_dir(ENVS / env)
    sources = {Path(check_infra.unquote(a["source"])).name for a in tf.modules.values()}
    assert sources == {p.name for p in MODULES.iterdir() if p.is_dir()}
    assert tf.has_backend and tf.has_provider
    # one arbiter: it owns the journal volume (the module also validates this at plan time)
    groups = next(a for a in tf.modules.values() if "ray_cluster" in a["source"])["node_groups"]
    assert groups["arbiter"]["max_size"] == 1


def test_node_classes_match_engine_placement() -> None:
    assert set(NODE_CLASSES) == {r.value for r in Role}
    assert {f"{c}_node" for c in NODE_CLASSES} == set(NODE_RESOURCE.values())
    # the worker user-data advertises "<class>_node" for its node group's key
    main = (MODULES / "ray_cluster" / "main.tf").read_text()
    assert 'jsonencode({ "${each.key}_node" = each.value.resource_units })' in main
    template = (MODULES / "ray_cluster" / "templates" / "node.sh.tftpl").read_text()
    assert "--resources='${resources_json}'" in template


def test_every_variable_and_output_is_described() -> None:
    missing: list[str] = []
    for path in check_infra.tf_dirs(TERRAFORM):
        for file in path.glob("*.tf"):
            text = file.read_text()
            for kind in ("variable", "output"):
                for match in re.finditer(rf'^{kind} "([\w-]+)" {{\n(.*?)^}}', text, re.S | re.M):
                    if "description" not in match.group(2):
                        missing.append(f"{file.name}: {kind} {match.group(1)}")
    assert missing == []


# --- the checks catch broken trees ------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


MODULE_OK = {
    "modules/m/variables.tf": 'variable "a" {\n  type = string\n}\n'
    'variable "b" {\n  type    = number\n  default = 1\n}\n',
    "modules/m/outputs.tf": 'output "o" {\n  value = "${var.a}-${var.b}"\n}\n',
}


def _problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    _write(tmp_path, {**MODULE_OK, **files})
    problems, _ = check_all(tmp_path, extra_files=[])
    return problems


def test_clean_fixture_has_no_problems(tmp_path: Path) -> None:
    assert _problems(tmp_path, {
        "root/main.tf": 'module "x" {\n  source = "../modules/m"\n  a = "v"\n}\n'
        'output "y" {\n  value = module.x.o\n}\n',
    }) == []


def test_missing_module_dir_is_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {
        "root/main.tf": 'module "x" {\n  source = "../modules/nope"\n  a = "v"\n}\n',
    })
    assert any("is not a module dir" in p for p in problems)


def test_undeclared_and_missing_arguments_are_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {
        "root/main.tf": 'module "x" {\n  source = "../modules/m"\n  c = 1\n}\n',
    })
    assert any("passes 'c'" in p for p in problems)
    assert any("required variable 'a'" in p for p in problems)


def test_undeclared_references_are_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {
        "root/main.tf": 'module "x" {\n  source = "../modules/m"\n  a = var.missing\n}\n'
        'output "y" {\n  value = module.x.nothing\n}\n'
        'output "z" {\n  value = local.gone\n}\n'
        'output "w" {\n  value = data.aws_region.current.name\n}\n'
        'output "v" {\n  value = module.other.o\n}\n',
    })
    assert any("var.missing is not declared" in p for p in problems)
    assert any("has no output 'nothing'" in p for p in problems)
    assert any("local.gone is not declared" in p for p in problems)
    assert any("data.aws_region.current is not declared" in p for p in problems)
    assert any("module.other is not called here" in p for p in problems)


def test_unused_variable_is_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {"root/main.tf": 'variable "dead" {\n  type = string\n}\n'})
    assert problems == [f"{tmp_path / 'root'}: variable 'dead' is declared but never used"]


def test_commented_references_are_ignored(tmp_path: Path) -> None:
    assert _problems(tmp_path, {
        "root/main.tf": '# var.not_real is only mentioned\noutput "y" {\n  value = 1\n}\n',
    }) == []


def test_syntax_errors_are_reported_with_the_file(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {"root/main.tf": 'resource "a" "b" {\n  x = \n'})
    assert any("main.tf: HCL parse error" in p for p in problems)


def test_missing_template_file_is_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {
        "root/main.tf": 'output "y" {\n  value = templatefile("${path.module}/t.tftpl", {})\n}\n',
    })
    assert any("t.tftpl does not exist" in p for p in problems)


def test_unjustified_suppression_is_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {
        "root/main.tf": 'resource "aws_s3_bucket" "b" {\n  #checkov:skip=CKV_AWS_18\n'
        '  #checkov:skip=CKV_AWS_21:versioning is pointless for this scratch bucket\n}\n',
    })
    assert [p for p in problems if "checkov:skip" in p] == [
        next(p for p in problems if "CKV_AWS_18" in p)
    ]


def test_environment_root_needs_backend_and_every_node_class(tmp_path: Path) -> None:
    _write(tmp_path, {
        "modules/ray_cluster/variables.tf": 'variable "node_groups" {\n  type = any\n}\n',
        "envs/bad/main.tf": 'module "ray_cluster" {\n  source = "../../modules/ray_cluster"\n'
        '  node_groups = { monitor = {}, arbiter = {} }\n}\n',
    })
    problems, _ = check_all(tmp_path, extra_files=[])
    assert any("no backend block" in p for p in problems)
    assert any("no provider block" in p for p in problems)
    assert any("node_groups ['arbiter', 'monitor'] != node classes" in p for p in problems)


# --- the node boot script -------------------------------------------------------------------

TEMPLATE = MODULES / "ray_cluster" / "templates" / "node.sh.tftpl"


def render_template(text: str, values: dict[str, object]) -> str:
    """The subset of Terraform's template language node.sh.tftpl uses: ``${name}``,
    ``%{ if name ~}`` / ``%{ if name != "" ~}`` / ``%{ else ~}`` / ``%{ endif ~}`` (``~}``
    strips the whitespace after the directive)."""
    text = re.sub(r"%\{\s*([^}~]*?)\s*~\}\s*", lambda m: "%{" + m.group(1) + "}", text)

    def branch(m: re.Match[str]) -> str:
        value = values[m.group(1)]
        truthy = value != "" if m.group(2) else bool(value)
        return m.group(3) if truthy else (m.group(4) or "")

    text = re.sub(r'%\{if (\w+)( != "")?\}(.*?)(?:%\{else\}(.*?))?%\{endif\}', branch, text,
                  flags=re.S)
    text = re.sub(r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), text)
    assert "${" not in text and "%{" not in text
    return text


def _values(node_class: str) -> dict[str, object]:
    is_head = node_class == "head"
    return {
        "region": "us-east-1", "registry": "1.dkr.ecr.us-east-1.amazonaws.com",
        "image": "1.dkr.ecr.us-east-1.amazonaws.com/arbiter-staging/ray-node:0.1.0",
        "log_group": "/arbiter/staging/ray", "environment": "staging", "shm_size": "4g",
        "data_dir": "/var/lib/arbiter", "node_class": node_class, "is_head": is_head,
        "head_address": "10.40.0.10:6379",
        "resources_json": json.dumps({f"{node_class}_node": 1}, separators=(",", ":")),
        "journal_volume_id": "vol-0123456789abcdef0" if node_class == "arbiter" else "",
        "secrets_uri": "aws:?prefix=arbiter/staging/",
        "ray_token": "arn:aws:secretsmanager:us-east-1:1:secret:arbiter/staging/ray-auth-token-AbCd",
    }


def test_template_variables_are_all_passed_by_the_module() -> None:
    text = TEMPLATE.read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text)) | set(re.findall(r"%\{\s*if (\w+)", text))
    main = (MODULES / "ray_cluster" / "main.tf").read_text()
    passed = set(re.findall(r"^\s*(\w+)\s*=", main, re.M))
    assert used <= passed, used - passed
    assert used == set(_values("head"))


@pytest.mark.parametrize("node_class", ["head", "arbiter", "executor"])
def test_rendered_boot_script_is_valid_bash_and_starts_the_right_node(
    node_class: str, tmp_path: Path
) -> None:
    import subprocess

    script = render_template(TEMPLATE.read_text(), _values(node_class))
    path = tmp_path / "node.sh"
    path.write_text(script)
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # the `ray start` command, continuation lines joined
    command = re.search(r"ray start (.*?)(?<!\\)\n", script, re.S)
    assert command is not None
    args = command.group(1).replace("\\\n", " ").split()
    assert "--block" in args
    assert f"--resources='{{\"{node_class}_node\":1}}'" in args
    assert '-v "/var/lib/arbiter:/var/lib/arbiter"' in script
    assert '-e ARBITER_SECRETS="aws:?prefix=arbiter/staging/"' in script
    if node_class == "head":
        assert {"--head", "--port=6379", "--num-cpus=0"} <= set(args)
        assert not any(a.startswith("--address") for a in args)
    else:
        assert '--address="10.40.0.10:6379"' in args and "--head" not in args
    # Ray's token auth on every node: the token from Secrets Manager into a file the container
    # reads; the head writes a random one if the secret has none yet, every node waits for it
    assert '-e RAY_AUTH_MODE=token' in script
    assert '-e RAY_AUTH_TOKEN_PATH="$token_file"' in script
    assert '-v "$token_file:$token_file:ro"' in script
    assert 'ray_token_secret="arn:aws:secretsmanager:us-east-1:1:secret:arbiter/staging/' \
        'ray-auth-token-AbCd"' in script
    writes = "put-secret-value" in script and "openssl rand -hex 32" in script
    assert writes == (node_class == "head")
    assert script.count("until ray_token=") == 1  # every node waits for a value, the head too
    assert script.index("ray_auth_token") < script.index("docker run")
    # only the arbiter attaches and mounts the journal volume
    attaches = "attach-volume" in script and 'mount "$device" "/var/lib/arbiter"' in script
    assert attaches == (node_class == "arbiter")
    if node_class == "arbiter":
        assert 'volume="vol-0123456789abcdef0"' in script
