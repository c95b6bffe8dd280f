"""Lambda's SQS event source mapping, locally: long-polls a queue, invokes a function (`LambdaFunction`,
the same local runtime as the API's functions) with a real SQS event of up to `batch_size` records,
deletes the records that succeeded and leaves the function's `batchItemFailures` (with
`ReportBatchItemFailures`) for SQS to redeliver once their visibility timeout ends — and, after the
queue's `maxReceiveCount`, to move to its dead-letter queue. A function that raises or times out leaves
the whole batch, as Lambda does.

Lambda treats a response naming a record that is not in the batch (or an empty/missing identifier) as a
failure of the whole batch; so does this poller.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any, Protocol

from local_cloud.lambda_runtime import LambdaInvocationError, LambdaTimeout

log = logging.getLogger(__name__)
MAX_BATCH_SIZE = 10  # ReceiveMessage's maximum (Lambda batches more only with a batching window)


class Invocable(Protocol):
    """What the poller needs of a function (`local_cloud.lambda_runtime.LambdaFunction`)."""

    name: str
    timeout: float

    def invoke(self, event: dict[str, Any]) -> Any: ...


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """An SQS message attribute as Lambda's SQS event spells it (camelCase)."""
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
        "dataType": value["DataType"],
    }


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One `Records[]` entry of Lambda's SQS event from a ReceiveMessage message."""
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            key: attributes[key]
            for key in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
                "AWSTraceHeader",
                "MessageGroupId",
                "MessageDeduplicationId",
                "SequenceNumber",
            )
            if key in attributes
        },
        "messageAttributes": {k: _attribute(v) for k, v in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(response: Any, batch: list[str]) -> set[str]:
    """The message ids to leave on the queue after the function answered `response` (partial batch
    response); every id when the response is not one Lambda accepts."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return set(batch)
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(batch)
    ids = {item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures}
    if not ids <= set(batch):  # unknown, empty or missing identifiers: the whole batch failed
        return set(batch)
    return {i for i in ids if isinstance(i, str)}


class SqsEventSource:
    """A background poller (one thread) from `queue_url` to `function`; `start()`, `stop()`."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        function: Invocable,
        region: str,
        batch_size: int,
        wait_seconds: int = 2,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch size {batch_size} is not within 1..{MAX_BATCH_SIZE}")
        self.sqs = sqs
        self.queue_url = queue_url
        self.function = function
        self.region = region
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds  # short long polls, so that stop() returns promptly
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.deleted = 0
        self.left = 0  # records left for redelivery (failures of a batch, or whole failed batches)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # stop() and the start of an invocation exclude each other
        self._invoking = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.is_running():
            return
        if self._thread is not None:  # a stopped poller may still be in its last long poll
            self._thread.join(self.wait_seconds + 5)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"sqs-event-source-{self.function.name}", daemon=True
        )
        self._thread.start()

    def is_running(self) -> bool:
        """Polling: started, not stopped, and its thread alive."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def restart(self) -> None:
        """Start a poller again (the supervisor calls it if the thread ever died)."""
        self.start()

    def stop(self) -> None:
        """Stop polling, without waiting out a long poll: the thread, once its poll returns, invokes
        nothing (what it received becomes visible again after the visibility timeout, as when Lambda
        disables a mapping) and ends. An invocation under way finishes first (bounded by the function's
        timeout)."""
        with self._lock:
            self._stop.set()
            invoking = self._invoking
        if self._thread is not None:
            self._thread.join(self.wait_seconds + self.function.timeout + 5 if invoking else 0.05)
            if invoking and self._thread.is_alive():
                log.warning("the %s event source did not stop in time", self.function.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # moto restarting, a malformed message...: keep polling, as Lambda does
                if self._stop.is_set():  # the local cloud stops (moto may be gone already)
                    return
                log.exception("polling %s for %s failed", self.queue_url, self.function.name)
                self._stop.wait(1.0)

    def poll_once(self) -> int:
        """One long poll and, if records came, one invocation; returns the number of records received."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [sqs_record(m, self.queue_arn, self.region) for m in messages]}
        with self._lock:
            if self._stop.is_set():
                return 0
            self._invoking = True
        try:
            return self._invoke(event, messages)
        finally:
            self._invoking = False

    def _invoke(self, event: dict[str, Any], messages: list[dict[str, Any]]) -> int:
        """Invoke the function with one batch; delete what succeeded. Returns the batch's size."""
        batch = [m["MessageId"] for m in messages]
        try:
            result = self.function.invoke(event)
        except (LambdaInvocationError, LambdaTimeout) as error:
            log.warning(
                "%s failed on a batch of %d (left for redelivery): %s", self.function.name, len(batch), error
            )
            self.left += len(batch)
            return len(batch)
        failed = failed_ids(result, batch)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            answer = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            for failure in answer.get("Failed", []):
                log.warning("deleting a processed record failed: %s", failure)
        self.deleted += len(done)
        self.left += len(failed)
        if failed:
            log.info("%s: %d of %d records left for redelivery", self.function.name, len(failed), len(batch))
        return len(batch)
