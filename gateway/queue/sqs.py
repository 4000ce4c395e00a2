"""The AWS ``Queue`` adapter: SQS, boto3 ``sqs`` client injected, queue URLs given by name.

Redrive (dead-letter queues) is a property of the SQS queues themselves (their ``RedrivePolicy``,
set by the backend definition or :func:`create_sqs_queues`); this adapter only sends, receives,
deletes and changes visibility. SQS timeouts are whole seconds: fractional values round up.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gateway.queue.memory import DEFAULT_REDRIVE
from gateway.queue.port import (
    MAX_BATCH,
    QUEUE_NAMES,
    OutgoingMessage,
    QueueUnavailable,
    ReceiptInvalid,
    ReceivedMessage,
    RedrivePolicy,
)

MAX_WAIT_SECONDS = 20  # SQS long polling limit
_BATCH_RETRIES = 3
_STALE_RECEIPT = {
    "ReceiptHandleIsInvalid",
    "InvalidParameterValue",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
    "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
}


def _seconds(value: float) -> int:
    return math.ceil(value)


class SqsQueue:
    def __init__(self, client: Any, name: str, url: str) -> None:
        self._client = client
        self._name = name
        self.url = url

    @property
    def name(self) -> str:
        return self._name

    @contextmanager
    def _errors(self, operation: str, receipt: bool = False) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            if receipt and code in _STALE_RECEIPT:
                raise ReceiptInvalid(f"{self._name}: receipt handle is not valid ({message})") from None
            if "NonExistentQueue" in code or code == "QueueDoesNotExist":
                raise QueueUnavailable(
                    f"SQS queue {self._name} ({self.url}) does not exist: {message}; deploy the backend's "
                    "queues or fix the queue URL settings"
                ) from None
            raise QueueUnavailable(
                f"SQS {operation} on {self._name} ({self.url}) failed: {code}: {message}"
            ) from None
        except BotoCoreError as exc:
            raise QueueUnavailable(
                f"SQS {operation} on {self._name} failed before reaching the service: {exc}; check network "
                "access, the region and credentials"
            ) from None

    @staticmethod
    def _attributes(attributes: Mapping[str, str] | None) -> dict[str, dict[str, str]]:
        return {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}

    def send(self, body: str, *, attributes: Mapping[str, str] | None = None, delay_seconds: int = 0) -> str:
        request: dict[str, Any] = {"QueueUrl": self.url, "MessageBody": body, "DelaySeconds": delay_seconds}
        if attributes:
            request["MessageAttributes"] = self._attributes(attributes)
        with self._errors("SendMessage"):
            resp = self._client.send_message(**request)
        return str(resp["MessageId"])

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Send up to 10 messages. SQS may accept part of a batch; the rest are retried, then reported.

        Delivery stays at-least-once: if a retry also fails, QueueUnavailable is raised and a caller
        that resends the whole batch may duplicate the messages SQS already accepted.
        """
        if not 1 <= len(messages) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} messages, got {len(messages)}")
        pending: dict[str, dict[str, Any]] = {}
        for i, m in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": m.body, "DelaySeconds": m.delay_seconds}
            if m.attributes:
                entry["MessageAttributes"] = self._attributes(m.attributes)
            pending[str(i)] = entry
        ids: dict[str, str] = {}
        failures: list[dict[str, Any]] = []
        for _ in range(_BATCH_RETRIES):
            with self._errors("SendMessageBatch"):
                resp = self._client.send_message_batch(QueueUrl=self.url, Entries=list(pending.values()))
            for ok in resp.get("Successful", []):
                ids[ok["Id"]] = ok["MessageId"]
                pending.pop(ok["Id"], None)
            failures = resp.get("Failed", [])
            if not pending or any(f.get("SenderFault") for f in failures):
                break
        if pending:
            detail = "; ".join(f"{f.get('Id')}: {f.get('Code')} {f.get('Message', '')}" for f in failures)
            raise QueueUnavailable(
                f"SQS SendMessageBatch on {self._name}: {len(pending)} not sent ({detail})"
            )
        return [ids[str(i)] for i in range(len(messages))]

    def receive(
        self, max_messages: int = 1, *, visibility_timeout: float | None = None, wait_seconds: float = 0
    ) -> list[ReceivedMessage]:
        if isinstance(max_messages, bool) or not 1 <= max_messages <= MAX_BATCH:
            raise ValueError(f"max_messages must be 1 to {MAX_BATCH}")
        request: dict[str, Any] = {
            "QueueUrl": self.url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": min(MAX_WAIT_SECONDS, _seconds(max(0.0, wait_seconds))),
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
        }
        if visibility_timeout is not None:
            request["VisibilityTimeout"] = _seconds(visibility_timeout)
        with self._errors("ReceiveMessage"):
            resp = self._client.receive_message(**request)
        out = []
        for m in resp.get("Messages", []):
            system = m.get("Attributes", {})
            attributes = {k: str(v.get("StringValue", "")) for k, v in m.get("MessageAttributes", {}).items()}
            out.append(
                ReceivedMessage(
                    message_id=m["MessageId"],
                    body=m["Body"],
                    receipt_handle=m["ReceiptHandle"],
                    receive_count=int(system.get("ApproximateReceiveCount", "1")),
                    attributes=attributes,
                    sent_at=int(system.get("SentTimestamp", "0")) / 1000.0,
                )
            )
        return out

    def delete(self, receipt_handle: str) -> None:
        with self._errors("DeleteMessage", receipt=True):
            self._client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt_handle)

    def change_visibility(self, receipt_handle: str, timeout: float) -> None:
        with self._errors("ChangeMessageVisibility", receipt=True):
            self._client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=_seconds(timeout)
            )

    def approximate_count(self) -> int:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        with self._errors("GetQueueAttributes"):
            resp = self._client.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)
        attrs = resp.get("Attributes", {})
        return sum(int(attrs.get(n, 0)) for n in names)


class SqsQueues:
    """The four queues on SQS; ``urls`` maps each queue name (inbound-dlq, bulk-queue, …) to its URL."""

    def __init__(self, client: Any, urls: Mapping[str, str]) -> None:
        missing = [n for n in QUEUE_NAMES if not urls.get(n)]
        if missing:
            raise ValueError(f"no SQS queue URL for {missing}; set the queue URL settings")
        self._queues = {n: SqsQueue(client, n, urls[n]) for n in QUEUE_NAMES}

    def __getitem__(self, name: str) -> SqsQueue:
        try:
            return self._queues[name]
        except KeyError:
            raise KeyError(f"no queue {name!r}; the queues are {list(self._queues)}") from None

    def close(self) -> None:
        return None  # the client belongs to the caller


def create_sqs_queues(
    client: Any,
    prefix: str = "",
    *,
    visibility_timeout: int = 30,
    redrive: Mapping[str, RedrivePolicy] | None = None,
) -> dict[str, str]:
    """Create the four queues (dead-letter queues first, then their sources' RedrivePolicy); name → URL."""
    policies = DEFAULT_REDRIVE if redrive is None else redrive
    urls: dict[str, str] = {}
    order = sorted(QUEUE_NAMES, key=lambda n: n in policies)  # DLQs before the queues that feed them
    for name in order:
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        policy = policies.get(name)
        if policy is not None:
            dlq_url = urls[policy.dead_letter_queue]
            found = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
            arn = found["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": str(policy.max_receive_count)}
            )
        urls[name] = client.create_queue(QueueName=prefix + name, Attributes=attributes)["QueueUrl"]
    return urls
