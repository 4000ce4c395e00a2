import collections, json
from fastapi.testclient import TestClient
from hypothesis import settings, HealthCheck
from tests.api.test_schemathesis import schema, product, Product, PASSWORD  # noqa
from gateway.auth.permissions import rule_for
from gateway.auth.principal import Role
import pytest
SEEN = collections.Counter(); FAIL = collections.Counter(); SAMPLE = {}
@pytest.fixture(scope="module")
def admin(product):
    product.container.users.create("admin2@example.com", "Admin", actor="test", password=PASSWORD)
    with TestClient(product.app) as c:
        r = c.post("/api/auth/login", json={"email": "admin2@example.com", "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}
@schema.include(lambda ctx: rule_for(ctx.operation.method, ctx.operation.path) is Role.Admin).parametrize()
@settings(max_examples=200, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
def test_x(case, product, admin):
    try:
        r = case.call_and_validate(headers=admin, app=product.app)
        SEEN[(case.method, case.path, r.status_code)] += 1
    except BaseException as exc:
        for f in getattr(exc, "exceptions", [exc]):
            k = f"{case.method} {case.path} {type(f).__name__}"
            FAIL[k] += 1; SAMPLE.setdefault(k, str(exc)[:1500])
def test_y(product):
    print(SEEN); print(FAIL)
    for k, v in SAMPLE.items():
        if "Positive" not in k: print("=====", k, v)
