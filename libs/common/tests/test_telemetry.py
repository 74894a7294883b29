import uuid

from opentelemetry import trace

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import CompanyCreatedV1
from knowrithm_common.telemetry import extract_context, inject_headers, setup_tracing, tracer


def test_event_carries_the_trace_of_the_request_that_caused_it():
    setup_tracing("libtest", None)
    with tracer().start_as_current_span("request") as span:
        event = new_event(CompanyCreatedV1(company_id=uuid.uuid4(), name="A", email="a@example.com"), source="t", company_id=None)
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert event.traceparent is not None and trace_id in event.traceparent


def test_consumer_side_continues_the_same_trace():
    setup_tracing("libtest", None)
    with tracer().start_as_current_span("producer") as producer:
        headers = inject_headers()
    with tracer().start_as_current_span("consumer", context=extract_context(headers)) as consumer:
        pass
    assert consumer.get_span_context().trace_id == producer.get_span_context().trace_id
    assert trace.get_current_span() is not consumer
