"""The API task role and the loader job role grant exactly the AWS calls their code makes.

How "the calls the code makes" is found, statically (no AWS, no emulator):

1. Every function and method in `shared/repository/` (the only code that talks to AWS) is scanned
   for AWS operations: boto3 client calls (`self._client.get_item(` / `client.head_object(`,
   checked against botocore's own operation names), `generate_presigned_url("put_object")`, the
   S3 transfer helpers (`download_file` = HeadObject + GetObject, `upload_file` = PutObject and,
   above 8 MB, the multipart calls), and the loader's raw `X-Amz-Target: DynamoDB_20120810.X`.
   A method's calls include those of the `self._helper(...)` methods it calls.
2. Each service's code is the import closure of its entry module (`services.api.main`,
   `services.loader.cli`). In it, names are typed by their annotations (parameters, dataclass
   fields, `self._x = x` in `__init__`, `Annotated[...]` aliases such as `Orders`), and a call
   `<...>.name.method(...)` on a name typed as a repository class (or a Protocol a repository
   class implements, like the loader's `BatchSink`) uses that method; a call of a repository
   function (`table_is_reachable`), or passing one to another call (a thread pool), uses it too.
3. The union of the reached methods' operations, mapped to IAM actions (a transaction needs the
   actions of the item kinds the code puts in it; HeadObject also needs s3:ListBucket so that a
   missing key is a 404), must equal the actions granted to the role in the synthesized template.

Limits, on purpose: a call through an untyped variable or a stored bound method is not seen.
Runtime recording (a botocore `before-call` hook over the integration tests) would catch those;
this scan instead sees every call site, including error paths no test exercises.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.session
import pytest
from botocore import xform_name

from infra.container_env import REPORT_PREFIX, UPLOAD_PREFIX
from shared.schema import BOOK_INDEX

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY_PACKAGE = "shared.repository"
ENTRY_MODULES = {"api": "services.api.main", "loader": "services.loader.cli"}

Operation = tuple[str, str]  # (service, OperationName)

TRANSFER_OPERATIONS: dict[str, tuple[Operation, ...]] = {
    "download_file": (("s3", "HeadObject"), ("s3", "GetObject")),
    "upload_file": (
        ("s3", "PutObject"),
        ("s3", "CreateMultipartUpload"),
        ("s3", "UploadPart"),
        ("s3", "CompleteMultipartUpload"),
        ("s3", "AbortMultipartUpload"),
    ),
}
TRANSACTION_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
S3_ACTIONS: dict[str, set[str]] = {
    "PutObject": {"s3:PutObject"},
    "GetObject": {"s3:GetObject"},
    # HeadObject is authorized by s3:GetObject; without s3:ListBucket a missing key is a 403,
    # which the code would take for an outage instead of `UploadMissing`.
    "HeadObject": {"s3:GetObject", "s3:ListBucket"},
    "CreateMultipartUpload": {"s3:PutObject"},
    "UploadPart": {"s3:PutObject"},
    "CompleteMultipartUpload": {"s3:PutObject"},
    "AbortMultipartUpload": {"s3:AbortMultipartUpload"},
}


@cache
def botocore_operations() -> dict[str, dict[str, str]]:
    """snake_case method name → OperationName, per service, from botocore's models."""
    session = botocore.session.get_session()
    return {
        service: {
            xform_name(name): name for name in session.get_service_model(service).operation_names
        }
        for service in ("dynamodb", "s3")
    }


# --- step 1: what each repository function calls ----------------------------------------------


@dataclass
class Function:
    """One function or method of the repository package."""

    operations: set[Operation] = field(default_factory=set)
    self_calls: set[str] = field(default_factory=set)
    # `self._x.method(…)`: (attribute, method), resolved through `Repository.attributes`.
    attribute_calls: set[tuple[str, str]] = field(default_factory=set)
    transaction_items: set[str] = field(default_factory=set)


@dataclass
class Repository:
    """Functions by name (`Class.method` or `function`) and the methods of each class."""

    functions: dict[str, Function] = field(default_factory=dict)
    classes: dict[str, set[str]] = field(default_factory=dict)
    # class → its attributes set in `__init__` to an instance of a repository class
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)

    def reach(self, name: str) -> Function:
        """The function with its own calls and those of the `self.` methods it reaches."""
        total, seen, todo = Function(), set(), [name]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            function = self.functions[current]
            total.operations |= function.operations
            total.transaction_items |= function.transaction_items
            owner = current.rpartition(".")[0]
            if owner:  # `self._clock()` and the like are attributes, not methods
                todo += [f"{owner}.{m}" for m in function.self_calls if m in self.classes[owner]]
                members = self.attributes.get(owner, {})
                for attribute, method in function.attribute_calls:
                    kind = members.get(attribute)
                    if kind is not None and method in self.classes[kind]:
                        todo.append(f"{kind}.{method}")
        return total


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _scan_function(body: ast.AST) -> Function:
    operations = botocore_operations()
    function = Function()
    for node in ast.walk(body):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            target = re.fullmatch(r"DynamoDB_\d{8}\.(\w+)", node.value)
            if target:
                function.operations.add(("dynamodb", target.group(1)))
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            function.transaction_items |= keys & set(TRANSACTION_ITEMS)
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method, receiver = node.func.attr, _receiver_name(node.func.value)
        held = node.func.value
        if (
            isinstance(held, ast.Attribute)
            and isinstance(held.value, ast.Name)
            and held.value.id == "self"
        ):
            function.attribute_calls.add((held.attr, method))
        if receiver == "self":
            function.self_calls.add(method)
            continue
        if receiver not in ("_client", "client"):
            continue
        if method in TRANSFER_OPERATIONS:
            function.operations.update(TRANSFER_OPERATIONS[method])
        elif method == "generate_presigned_url":
            first = node.args[0]
            assert isinstance(first, ast.Constant), "presigned operation must be a literal"
            function.operations.add(("s3", operations["s3"][first.value]))
        elif method == "get_waiter":
            function.operations.add(("dynamodb", "DescribeTable"))
        else:
            services = [s for s in operations if method in operations[s]]
            assert len(services) == 1, f"cannot tell which service {method!r} belongs to"
            function.operations.add((services[0], operations[services[0]][method]))
    return function


@cache
def repository() -> Repository:
    """Every function of `shared/repository/*.py`, scanned."""
    scanned = Repository()
    for path in sorted((ROOT / "shared" / "repository").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                scanned.functions[node.name] = _scan_function(node)
            elif isinstance(node, ast.ClassDef):
                methods = [n for n in node.body if isinstance(n, ast.FunctionDef)]
                scanned.classes[node.name] = {m.name for m in methods}
                for method in methods:
                    scanned.functions[f"{node.name}.{method.name}"] = _scan_function(method)
                    if method.name == "__init__":
                        scanned.attributes[node.name] = _constructed_attributes(method)
    # Only instances of repository classes are followed.
    for members in scanned.attributes.values():
        for attribute in [a for a, kind in members.items() if kind not in scanned.classes]:
            del members[attribute]
    return scanned


def _constructed_attributes(init: ast.FunctionDef) -> dict[str, str]:
    """`self._x = SomeClass(…)` in a constructor: attribute → class name."""
    found: dict[str, str] = {}
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
        ):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    found[target.attr] = node.value.func.id
    return found


# --- step 2: which repository functions each service reaches ----------------------------------


def _module_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@dataclass
class _Module:
    tree: ast.Module
    definitions: dict[str, ast.AST]  # top-level functions, classes and assignments by name
    imports: dict[str, tuple[str, str | None]]  # local name → (module, name; None = module)


@cache
def _parse(module: str) -> _Module | None:
    path = _module_path(module)
    if path is None:
        return None
    tree = ast.parse(path.read_text())
    definitions: dict[str, ast.AST] = {}
    imports: dict[str, tuple[str, str | None]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            definitions[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    definitions[target.id] = node
    for node in ast.walk(tree):  # imports inside functions too (the CLI imports lazily)
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports[alias.asname or alias.name.split(".")[0]] = (alias.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                target = (submodule, None) if _module_path(submodule) else (node.module, alias.name)
                imports[alias.asname or alias.name] = target
    return _Module(tree, definitions, imports)


def service_code(entry: str) -> list[ast.AST]:
    """The definitions the service's entry module reaches, by name, outside the repository.

    A module imported as a module (or the entry itself) counts whole, since its functions may be
    registered by decorators; `from module import name` brings in that definition only, and a
    definition brings in every project name it mentions.
    """
    reached: dict[tuple[str, str | None], ast.AST] = {}
    todo: list[tuple[str, str | None]] = [(entry, None)]
    while todo:
        module_name, name = todo.pop()
        if (module_name, name) in reached or module_name.startswith(REPOSITORY_PACKAGE):
            continue
        if module_name.split(".")[0] not in ("services", "shared"):
            continue
        module = _parse(module_name)
        if module is None:
            continue
        node = module.tree if name is None else module.definitions.get(name)
        if node is None:  # a name re-exported by a package's __init__
            if name in module.imports:
                todo.append(module.imports[name])
            continue
        reached[(module_name, name)] = node
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and child.id in module.definitions:
                todo.append((module_name, child.id))
            if isinstance(child, ast.Name) and child.id in module.imports:
                todo.append(module.imports[child.id])
            if (
                isinstance(child, ast.Attribute)
                and isinstance(child.value, ast.Name)
                and module.imports.get(child.value.id, ("", ""))[1] is None
            ):
                todo.append((module.imports[child.value.id][0], child.attr))
    return list(reached.values())


def _annotation_names(node: ast.expr | None) -> Iterator[str]:
    """Class names an annotation may denote (`X`, `X | None`, `Annotated[X, ...]`, `'X'`)."""
    if node is None:
        return
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr
    elif isinstance(node, ast.BinOp):
        yield from _annotation_names(node.left)
        yield from _annotation_names(node.right)
    elif isinstance(node, ast.Subscript):
        inner = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
        yield from _annotation_names(inner)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield from _annotation_names(ast.parse(node.value, mode="eval").body)


@dataclass
class ServiceUse:
    """Which repository functions a service's code calls."""

    entry_points: set[str] = field(default_factory=set)

    def operations(self) -> tuple[set[Operation], set[str]]:
        calls: set[Operation] = set()
        items: set[str] = set()
        for name in self.entry_points:
            reached = repository().reach(name)
            calls |= reached.operations
            items |= reached.transaction_items
        return calls, items


def service_use(entry: str) -> ServiceUse:
    """Resolve the service's calls on repository objects by the names' annotated types."""
    repo = repository()
    trees = service_code(entry)
    protocols: dict[str, set[str]] = {}
    aliases: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                "Protocol" in set(_annotation_names(base)) for base in node.bases
            ):
                protocols[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        aliases[target.id] = set(_annotation_names(node.value))

    def classes(annotation: ast.expr | None) -> set[str]:
        result: set[str] = set()
        for name in _annotation_names(annotation):
            for candidate in aliases.get(name, {name}):
                if candidate in repo.classes:
                    result.add(candidate)
                elif candidate in protocols:
                    result |= {c for c, m in repo.classes.items() if protocols[candidate] <= m}
        return result

    # Attributes are typed wherever they are declared (`self._x = x`, dataclass fields) and
    # looked up by name; parameters and local variables only inside their own function.
    attributes: dict[str, set[str]] = {}
    functions: list[tuple[ast.AST, dict[str, set[str]]]] = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        attributes.setdefault(item.target.id, set()).update(
                            classes(item.annotation)
                        )
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            local = {a.arg: classes(a.annotation) for a in node.args.args + node.args.kwonlyargs}
            for statement in ast.walk(node):
                if isinstance(statement, ast.AnnAssign):
                    if isinstance(statement.target, ast.Name):
                        local.setdefault(statement.target.id, set()).update(
                            classes(statement.annotation)
                        )
                    elif isinstance(statement.target, ast.Attribute):
                        attributes.setdefault(statement.target.attr, set()).update(
                            classes(statement.annotation)
                        )
                elif isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Name):
                    for target in statement.targets:
                        if isinstance(target, ast.Attribute):
                            attributes.setdefault(target.attr, set()).update(
                                local.get(statement.value.id, set())
                            )
            functions.append((node, local))

    use = ServiceUse()
    for function, local in functions:
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id in repo.functions:
                use.entry_points.add(node.func.id)
            # A repository function handed to a thread pool (`run_sync(table_is_reachable, …)`)
            # is called there.
            for argument in node.args:
                if isinstance(argument, ast.Name) and argument.id in repo.functions:
                    use.entry_points.add(argument.id)
            if not isinstance(node.func, ast.Attribute):
                continue
            receiver = node.func.value
            if isinstance(receiver, ast.Name):
                kinds = local.get(receiver.id, set())
            elif isinstance(receiver, ast.Attribute):
                kinds = attributes.get(receiver.attr, set())
            else:
                kinds = set()
            for kind in kinds:
                if node.func.attr in repo.classes[kind]:
                    use.entry_points.add(f"{kind}.{node.func.attr}")
    return use


# --- step 3: AWS operations → IAM actions, compared with the template ----------------------------


def iam_actions(calls: Iterable[Operation], transaction_items: set[str]) -> set[str]:
    """The IAM actions the calls need."""
    actions: set[str] = set()
    for service, operation in calls:
        if (service, operation) == ("dynamodb", "TransactWriteItems"):
            # No IAM action of its own: each item needs the action of its kind.
            assert transaction_items, "a transaction without items?"
            actions |= {TRANSACTION_ITEMS[kind] for kind in transaction_items}
        elif service == "dynamodb":
            actions.add(f"dynamodb:{operation}")
        else:
            assert operation in S3_ACTIONS, f"map s3 {operation} to its IAM actions"
            actions |= S3_ACTIONS[operation]
    return actions


def expected_actions(service: str) -> set[str]:
    """What the service's code needs, from the scan."""
    calls, items = service_use(ENTRY_MODULES[service]).operations()
    return iam_actions(calls, items)


def role_statements(app: Synthesized, service: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the service's role."""
    compute = app.deployment.compute
    role = compute.api.task_role if service == "api" else compute.loader.job_role
    role_ref = app.resolve(compute, role.role_name)
    statements: list[dict[str, Any]] = []
    for policy in app.resources(compute, "AWS::IAM::Policy").values():
        if role_ref in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    role_resource = app.template_json(compute)["Resources"][role_ref["Ref"]]["Properties"]
    assert "ManagedPolicyArns" not in role_resource and "Policies" not in role_resource
    return statements


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted_actions(app: Synthesized, service: str) -> set[str]:
    return {action for s in role_statements(app, service) for action in _list(s["Action"])}


def test_scan_sees_the_calls_each_service_is_known_to_make() -> None:
    api = service_use(ENTRY_MODULES["api"]).entry_points
    loader = service_use(ENTRY_MODULES["loader"]).entry_points
    assert {
        "OrderRepository.create",
        "BookReader.walk_order",
        "TradeRepository.settle",
        "IdempotencyStore.claim",
        "ApiKeyRepository.get",
        "ApiKeyRepository.revoke",
        "UploadStore.presign_put",
        "table_is_reachable",
    } <= api
    assert {"LoadRepository.start", "UploadStore.download", "LoadBatchWriter.write"} <= loader
    # What each service does not call is not in its set either.
    assert "LoadRepository.start" not in api and "UploadStore.download" not in api
    assert "LoadRepository.create" not in loader and "ensure_table" not in api | loader


def test_transaction_needs_put_update_and_delete_but_no_condition_check() -> None:
    assert iam_actions(*service_use(ENTRY_MODULES["api"]).operations()) >= {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    assert "dynamodb:ConditionCheckItem" not in expected_actions("api")


@pytest.mark.parametrize("service", ENTRY_MODULES)
def test_role_grants_exactly_the_actions_its_code_calls(each: Synthesized, service: str) -> None:
    assert granted_actions(each, service) == expected_actions(service)


def _statement_for(app: Synthesized, service: str, action: str) -> dict[str, Any]:
    (statement,) = [s for s in role_statements(app, service) if action in _list(s["Action"])]
    assert statement["Effect"] == "Allow" and "Condition" not in statement
    return statement


def test_api_writes_items_on_the_table_and_queries_only_the_book_index(each: Synthesized) -> None:
    compute, table = each.deployment.compute, each.deployment.data.table
    table_arn = each.resolve(compute, table.table_arn)
    assert _statement_for(each, "api", "dynamodb:GetItem")["Resource"] == table_arn
    query = _statement_for(each, "api", "dynamodb:Query")
    assert query["Resource"] == {"Fn::Join": ["", [table_arn, f"/index/{BOOK_INDEX}"]]}


def _objects(app: Synthesized, prefix: str) -> Any:
    bucket_arn = app.resolve(app.deployment.compute, app.deployment.data.bucket.bucket_arn)
    return {"Fn::Join": ["", [bucket_arn, f"/{prefix}*"]]}


def test_api_may_only_presign_puts_under_the_upload_prefix(each: Synthesized) -> None:
    assert _statement_for(each, "api", "s3:PutObject")["Resource"] == _objects(each, UPLOAD_PREFIX)


def test_loader_reads_uploads_and_writes_reports_each_under_its_own_prefix(
    each: Synthesized,
) -> None:
    compute = each.deployment.compute
    assert _statement_for(each, "loader", "s3:GetObject")["Resource"] == _objects(
        each, UPLOAD_PREFIX
    )
    assert _statement_for(each, "loader", "s3:PutObject")["Resource"] == _objects(
        each, REPORT_PREFIX
    )
    assert _statement_for(each, "loader", "s3:ListBucket")["Resource"] == each.resolve(
        compute, each.deployment.data.bucket.bucket_arn
    )
    table_arn = each.resolve(compute, each.deployment.data.table.table_arn)
    assert _statement_for(each, "loader", "dynamodb:PutItem")["Resource"] == table_arn


def test_no_policy_in_the_app_grants_a_wildcard_action(each: Synthesized) -> None:
    for stack in each.deployment.stacks:
        for policy in each.resources(stack, "AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert not any("*" in action for action in _list(statement["Action"])), statement
