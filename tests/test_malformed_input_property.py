"""Property: malformed input to any API operation is a 4xx in the documented error shape and
changes nothing in the database. The operations come from the OpenAPI schema itself, so a
new endpoint is covered the day it is documented.

Malformed by construction (never valid by chance): bytes that are not JSON, JSON that is
not an object, nested too deep, holding a NUL or a lone surrogate, an object with a key no
operation declares, a declared field with a value of the wrong JSON type or an amount off
the pattern; for reads, a declared query parameter with a value outside its type.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.models import AlertChannel
from alerts.tests.factories import EnergyAlertFactory
from conftest import verified_staff_client
from partners.models import PartnerWallet, Role
from partners.tests.factories import CustomerFactory, MembershipFactory
from pools.models import RentalOrder
from pools.tests.factories import EnergyPoolFactory
from tests.db_state import database_state
from withdrawals.tests.factories import WithdrawalFactory

pytestmark = pytest.mark.django_db


def _operations() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    schema = SchemaGenerator(api_version="v1").get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            found.append((path, method, operation, components))
    return sorted(found, key=lambda op: (op[0], op[1]))


OPERATIONS = _operations()


def _request_fields(operation: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return {}
    ref = content["schema"]
    if "$ref" in ref:
        ref = components[ref["$ref"].rsplit("/", 1)[1]]
    fields: dict[str, Any] = {}
    for variant in ref.get("oneOf", [ref]):
        if "$ref" in variant:
            variant = components[variant["$ref"].rsplit("/", 1)[1]]
        fields.update(variant.get("properties", {}))
    return fields


def _wrong_value(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A JSON value the field's schema does not allow."""
    kind = spec.get("type")
    if "$ref" in spec or "allOf" in spec or "enum" in spec:  # an enum: a string not in it
        return st.one_of(st.integers(), st.text().map(lambda t: f"\x7f{t}"), st.lists(st.none()))
    if kind == "integer":
        return st.one_of(
            st.integers().map(str),
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
            st.booleans(),
            st.integers(min_value=2**63),
            st.integers(max_value=-(2**63) - 1),
        )
    if kind == "boolean":
        return st.one_of(st.integers(), st.sampled_from(["true", "false", "1", "yes"]))
    if spec.get("format") == "decimal":
        return st.one_of(
            st.integers(),
            st.sampled_from(["1_000", "1E+2", "\u0661", " 5", "5 ", "-5", ".5", "5.", "NaN", ""]),
        )
    if kind == "string":
        return st.one_of(
            st.integers(),
            st.lists(st.text(), max_size=2),
            st.text(min_size=1).map(lambda t: f" {t}"),
            st.text().map(lambda t: f"{t}\x00"),
            st.sampled_from(["\u200b", "\ufeff\u2060", "\x07"]),
        )
    return st.just({"nested": [1]}) if kind != "object" else st.integers()


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def malformed_body(draw: st.DrawFn, fields: dict[str, Any]) -> bytes:
    shape = draw(
        st.sampled_from(
            ["not-json", "not-object", "deep", "surrogate", "nul", "unknown-key", "wrong-field"]
        )
    )
    if shape == "not-json":
        return b"\xff" + draw(st.binary(max_size=40))
    if shape == "not-object":
        value = draw(st.one_of(JSON_SCALARS, st.lists(ANY_JSON, max_size=3)))
        return json.dumps(value).encode()
    if shape == "deep":
        depth = draw(st.integers(min_value=33, max_value=6000))
        return b"[" * depth + b"]" * draw(st.integers(min_value=0, max_value=depth))
    if shape == "surrogate":
        return b'{"' + draw(st.sampled_from([b"\\ud800", b"a\\udfff"])) + b'": "\\udbff"}'
    if shape == "nul":
        name = draw(st.sampled_from(sorted(fields) or ["name"]))
        return json.dumps({name: "a\x00b"}).encode()
    body: dict[str, Any] = {}
    for name, spec in fields.items():  # plausible values for the rest
        if draw(st.booleans()):
            body[name] = draw(ANY_JSON) if spec.get("readOnly") else draw(JSON_SCALARS)
    if shape == "unknown-key" or not fields:
        body["zz_" + draw(st.text(max_size=8))] = draw(ANY_JSON)
    else:
        name = draw(st.sampled_from(sorted(fields)))
        body[name] = draw(_wrong_value(fields[name]))
    return json.dumps(body).encode()


def _wrong_query_value(spec: dict[str, Any]) -> st.SearchStrategy[str]:
    schema = spec.get("schema", {})
    kind = schema.get("type")
    if kind == "integer" or spec["name"] in ("page", "page_size", "pool"):
        beyond = ["10000000000"] if spec["name"].startswith("page") else []  # past the last
        return st.sampled_from(
            ["9223372036854775808", "-1", "0", "1.5", "1e3", "abc", "\u0661", " 1", *beyond]
        )
    if schema.get("format") == "date-time":
        return st.sampled_from(["yesterday", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59-23:00"])
    if "enum" in schema or kind == "array" or spec["name"] in ("status", "kind", "custody"):
        return st.text(min_size=1, max_size=10).map(lambda t: f"zz{t}")
    return st.text(max_size=5).map(lambda t: f"{t}\x00")


@pytest.fixture
def world(partner, devnet):
    """Ids for every path parameter; a staff user who is also the partner's owner."""
    customer = CustomerFactory(partner=partner)
    client = verified_staff_client()
    user = User.objects.get(pk=client.session["_auth_user_id"])
    MembershipFactory(partner=partner, role=Role.OWNER, user=user)
    pool = EnergyPoolFactory(partner=partner)
    withdrawal = WithdrawalFactory(customer=customer, partner=partner)
    alert = EnergyAlertFactory(partner=partner, pool=pool)
    channel = AlertChannel.objects.create(
        partner=partner, name="ops", kind="email", target="ops@example.com"
    )
    wallet = PartnerWallet.objects.create(partner=partner, address=pool.address)
    rental_order = RentalOrder.objects.create(
        pool=pool,
        provider="devnet-market",
        need_key="need",
        reason="runs dry",
        energy=65_000,
        days=1,
        price_sun=40,
        burn_price_sun=100,
        cost_sun=2_600_000,
    )
    ids = {
        "rental_order_id": rental_order.pk,
        "wallet_id": wallet.pk,
        "alert_id": alert.pk,
        "channel_id": channel.pk,
        "pool_id": pool.pk,
        "customer_id": customer.pk,
        "withdrawal_id": withdrawal.pk,
        "partner_id": partner.pk,
        "job": "sync_pools",
    }
    return client, ids


def _url(path: str, ids: dict[str, Any]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    assert "{" not in path, path
    return path


def assert_refused(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["status"] == response.status_code
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["message"]


BODY_OPERATIONS = [op for op in OPERATIONS if "requestBody" in op[2]]
PAGE_PARAMS = [{"name": "page", "in": "query"}, {"name": "page_size", "in": "query"}]


def _documented_query(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p["in"] == "query"]


def _lists(operation: dict[str, Any]) -> bool:
    ok = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
    schema = ok.get("schema", {})
    # A paginated list is documented as its Paginated…List component.
    return schema.get("type") == "array" or str(schema.get("$ref", "")).startswith(
        "#/components/schemas/Paginated"
    )


QUERY_OPERATIONS = [
    op for op in OPERATIONS if op[1] == "get" and (_documented_query(op[2]) or _lists(op[2]))
]
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_every_operation_is_covered():
    assert len(BODY_OPERATIONS) >= 10
    assert len(QUERY_OPERATIONS) >= 5


@pytest.mark.parametrize(
    "operation", BODY_OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _, _ in BODY_OPERATIONS]
)
def test_a_malformed_body_is_a_4xx_and_changes_nothing(world, operation):
    client, ids = world
    path, method, spec, components = operation
    url = _url(path, ids)
    fields = _request_fields(spec, components)
    state = database_state()

    @PROPERTY
    @given(body=malformed_body(fields))
    def check(body: bytes) -> None:
        response = client.generic(
            method.upper(),
            url,
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="property",
        )
        assert_refused(response)
        assert database_state() == state

    check()


@pytest.mark.parametrize(
    "operation", QUERY_OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _, _ in QUERY_OPERATIONS]
)
def test_a_malformed_query_parameter_is_a_4xx_and_changes_nothing(world, operation):
    client, ids = world
    path, method, spec, _ = operation
    url = _url(path, ids)
    params = _documented_query(spec)
    first = client.get(url)
    assert first.status_code == 200, first.content
    if isinstance(first.json(), dict) and "results" in first.json():  # a paginated list
        params += PAGE_PARAMS
    if not params:
        pytest.skip("a list without pages or parameters: no query input to malform")
    state = database_state()

    @PROPERTY
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        param = data.draw(st.sampled_from(params))
        value = data.draw(_wrong_query_value(param))
        response = client.generic(method.upper(), url, QUERY_STRING=_encode(param["name"], value))
        assert_refused(response)
        assert database_state() == state

    check()


def _encode(name: str, value: str) -> str:
    from urllib.parse import urlencode

    return urlencode({name: value})


@given(amount=st.text(max_size=12))
@settings(max_examples=200, deadline=None)
def test_the_amount_check_agrees_with_the_schemas_pattern(amount: str) -> None:
    """Whatever text an amount is, the field's verdict is the pattern's."""
    import re

    from common.api.serializers import StrictDecimalField, json_type_errors

    field = StrictDecimalField(max_digits=24, decimal_places=6, min_value=0)
    assert (not json_type_errors(field, amount)) == bool(
        re.fullmatch(field.pattern, amount, re.ASCII)
    )


PATH_OPERATIONS = [op for op in OPERATIONS if "{" in op[0] and "{job}" not in op[0]]


@pytest.mark.parametrize(
    "operation", PATH_OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _, _ in PATH_OPERATIONS]
)
@pytest.mark.parametrize("huge", [2**63, 10**30])
def test_an_id_past_64_bits_in_the_path_is_a_404_not_a_500(world, operation, huge):
    client, ids = world
    path, method, _, _ = operation
    state = database_state()
    url = _url(path, dict.fromkeys(ids, huge))
    response = client.generic(method.upper(), url, b"{}", content_type="application/json")
    assert response.status_code == 404, response.content
    assert_refused(response)
    assert database_state() == state
