"""What only the DynamoDB adapter promises: table creation, number types, paging loops, error mapping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from gateway.clock import FakeClock
from gateway.store.conditions import Attr, SortKey, eq, not_exists
from gateway.store.dynamodb import DynamoTables, create_dynamodb_tables, table_definition
from gateway.store.port import ConditionFailed, StoreUnavailable
from gateway.store.schema import TABLE_NAMES, table_schemas

NOW = 1_764_067_200


def client() -> Any:
    return boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


class Counting:
    """Counts calls per operation (to see the adapter loop over DynamoDB pages)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        yield client()


def test_create_tables_builds_the_schema(aws: Any) -> None:
    created = create_dynamodb_tables(aws, "dev-")
    assert created == [f"dev-{n}" for n in TABLE_NAMES]
    for name, schema in table_schemas().items():
        table = aws.describe_table(TableName=f"dev-{name}")["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["KeySchema"][0] == {"AttributeName": schema.partition_key.name, "KeyType": "HASH"}
        gsis = {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes", [])}
        assert set(gsis) == set(schema.indexes)
        for idx in schema.indexes.values():
            assert gsis[idx.name]["Projection"] == {"ProjectionType": "ALL"}
            assert gsis[idx.name]["KeySchema"][0]["AttributeName"] == idx.partition_key.name
        ttl = aws.describe_time_to_live(TableName=f"dev-{name}")["TimeToLiveDescription"]
        if schema.ttl_attribute is None:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
        else:
            assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": schema.ttl_attribute}
    assert create_dynamodb_tables(aws, "dev-") == []  # idempotent


def test_table_definition_declares_number_keys() -> None:
    definition = table_definition(table_schemas()["RateLimitTrackers"], "x")
    assert {"AttributeName": "windowStart", "AttributeType": "N"} in definition["AttributeDefinitions"]
    assert definition["KeySchema"][1] == {"AttributeName": "windowStart", "KeyType": "RANGE"}


def test_numbers_come_back_as_int_or_float_never_decimal(aws: Any) -> None:
    create_dynamodb_tables(aws, "")
    contacts = DynamoTables(aws, "", FakeClock())["Contacts"]
    contacts.put({"contactId": "c", "i": 3, "f": 0.1, "whole": 2.0, "big": 10**20, "nested": [{"x": 1.25}]})
    got = contacts.get({"contactId": "c"})
    assert got == {"contactId": "c", "i": 3, "f": 0.1, "whole": 2, "big": 10**20, "nested": [{"x": 1.25}]}
    assert got is not None
    assert type(got["i"]) is int and type(got["f"]) is float and type(got["whole"]) is int


def test_unstorable_numbers_are_value_errors(aws: Any) -> None:
    create_dynamodb_tables(aws, "")
    contacts = DynamoTables(aws, "", FakeClock())["Contacts"]
    with pytest.raises(ValueError):
        contacts.put({"contactId": "c", "x": float("inf")})
    with pytest.raises(ValueError):
        contacts.put({"contactId": "c", "x": 10**40})


def test_missing_tables_are_store_unavailable_naming_the_table(aws: Any) -> None:
    tables = DynamoTables(aws, "nowhere-", FakeClock())
    with pytest.raises(StoreUnavailable) as err:
        tables["Contacts"].get({"contactId": "c"})
    assert "nowhere-Contacts" in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(StoreUnavailable) as err:
        tables.check()
    assert all(f"nowhere-{n}" in str(err.value) for n in TABLE_NAMES)
    create_dynamodb_tables(aws, "nowhere-")
    tables.check()


def test_query_loops_over_dynamodb_pages_until_limit_matches(aws: Any) -> None:
    create_dynamodb_tables(aws, "")
    counting = Counting(aws)
    clock = FakeClock(NOW)
    messages = DynamoTables(counting, "", clock)["Messages"]
    # 40 expired items (moto, like DynamoDB before its sweep, still holds them) and 3 live ones.
    for i in range(43):
        expires = NOW + 100 if i in (5, 20, 41) else NOW - 1
        messages.put({"messageId": f"m{i:02d}", "contactId": "c", "timestamp": i, "expiresAt": expires})
    counting.calls.clear()
    page = messages.query("c", index="byContact", limit=2)
    assert [i["messageId"] for i in page.items] == ["m05", "m20"]
    assert counting.calls["query"] > 1  # each DynamoDB page held fewer than limit + 1 live items
    rest = messages.query("c", index="byContact", limit=2, cursor=page.cursor)
    assert [i["messageId"] for i in rest.items] == ["m41"] and rest.cursor is None


def test_query_request_shape_and_cursor_round_trip() -> None:
    c = client()
    messages = DynamoTables(c, "prod-", FakeClock(NOW), cursor_key=b"k" * 32)["Messages"]
    item = {
        "messageId": {"S": "m1"},
        "contactId": {"S": "c"},
        "timestamp": {"N": "5"},
        "status": {"S": "sent"},
    }
    item2 = {**item, "messageId": {"S": "m2"}, "timestamp": {"N": "6"}}
    expected = {
        "TableName": "prod-Messages",
        "IndexName": "byContact",
        "KeyConditionExpression": "#n0 = :v0 AND #n1 > :v1",
        "ScanIndexForward": False,
        "FilterExpression": "(NOT (attribute_type(#n2, :v2) AND #n2 = :v3)) AND "
        "(attribute_not_exists(#n3) OR NOT attribute_type(#n3, :v4) OR #n3 > :v5)",
        "ExpressionAttributeNames": {
            "#n0": "contactId",
            "#n1": "timestamp",
            "#n2": "status",
            "#n3": "expiresAt",
        },
        "ExpressionAttributeValues": {
            ":v0": {"S": "c"},
            ":v1": {"N": "1"},
            ":v2": {"S": "S"},
            ":v3": {"S": "failed"},
            ":v4": {"S": "N"},
            ":v5": {"N": str(NOW)},
        },
    }
    with Stubber(c) as stub:
        last_key = {"messageId": {"S": "m0"}, "contactId": {"S": "c"}, "timestamp": {"N": "9"}}
        stub.add_response("query", {"Items": [], "LastEvaluatedKey": last_key}, expected)
        stub.add_response("query", {"Items": [item, item2]}, {**expected, "ExclusiveStartKey": last_key})
        page = messages.query(
            "c",
            index="byContact",
            sort=SortKey("gt", 1),
            descending=True,
            filter=Attr("status", "ne", "failed"),
            limit=1,
        )
        stub.assert_no_pending_responses()
    assert page.items == [{"messageId": "m1", "contactId": "c", "timestamp": 5, "status": "sent"}]
    assert page.cursor is not None
    with Stubber(c) as stub:
        start = {"messageId": {"S": "m1"}, "contactId": {"S": "c"}, "timestamp": {"N": "5"}}
        stub.add_response("query", {"Items": [item2]}, {**expected, "ExclusiveStartKey": start})
        rest = messages.query(
            "c",
            index="byContact",
            sort=SortKey("gt", 1),
            descending=True,
            filter=Attr("status", "ne", "failed"),
            limit=1,
            cursor=page.cursor,
        )
        stub.assert_no_pending_responses()
    assert [i["messageId"] for i in rest.items] == ["m2"] and rest.cursor is None


def test_conditional_put_request_shape() -> None:
    c = client()
    contacts = DynamoTables(c, "", FakeClock(NOW))["Contacts"]
    with Stubber(c) as stub:
        stub.add_client_error(
            "put_item",
            "ConditionalCheckFailedException",
            "The conditional request failed",
            expected_params={
                "TableName": "Contacts",
                "Item": {"contactId": {"S": "c"}, "n": {"N": "1.5"}},
                "ConditionExpression": "attribute_not_exists(#n0)",
                "ExpressionAttributeNames": {"#n0": "contactId"},
            },
        )
        with pytest.raises(ConditionFailed):
            contacts.put({"contactId": "c", "n": 1.5}, condition=not_exists("contactId"))
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "raised", "words"),
    [
        ("ProvisionedThroughputExceededException", StoreUnavailable, "throttled"),
        ("ThrottlingException", StoreUnavailable, "throttled"),
        ("AccessDeniedException", StoreUnavailable, "IAM"),
        ("ResourceNotFoundException", StoreUnavailable, "does not exist"),
        ("InternalServerError", StoreUnavailable, "InternalServerError"),
        ("ValidationException", ValueError, "rejected"),
    ],
)
def test_client_errors_are_mapped(code: str, raised: type[Exception], words: str) -> None:
    c = client()
    users = DynamoTables(c, "p-", FakeClock(NOW))["Users"]
    with Stubber(c) as stub:
        stub.add_client_error("get_item", code, "details from AWS")
        with pytest.raises(raised) as err:
            users.get({"userId": "u"})
    assert words in str(err.value) and "details from AWS" in str(err.value)
    assert not isinstance(err.value, ConditionFailed)


def test_connection_failures_are_store_unavailable() -> None:
    class Down:
        meta = None

        def get_item(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    with pytest.raises(StoreUnavailable, match="before reaching the service"):
        DynamoTables(Down(), "", FakeClock())["Users"].get({"userId": "u"})


def test_a_failed_condition_on_a_live_item_does_not_purge_it(aws: Any) -> None:
    create_dynamodb_tables(aws, "")
    clock = FakeClock(NOW)
    messages = DynamoTables(aws, "", clock)["Messages"]
    messages.put({"messageId": "m", "status": "sent", "expiresAt": NOW + 10})
    with pytest.raises(ConditionFailed):
        messages.put({"messageId": "m"}, condition=eq("status", "failed"))
    assert messages.get({"messageId": "m"}) == {"messageId": "m", "status": "sent", "expiresAt": NOW + 10}
