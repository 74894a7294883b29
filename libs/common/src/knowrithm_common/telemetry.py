"""OpenTelemetry: a tracer provider per process, OTLP export when configured, and trace context
carried in HTTP headers and NATS message headers (W3C traceparent)."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False


def setup_tracing(service: str, otlp_endpoint: str | None) -> None:
    """Install a tracer provider; export over OTLP/HTTP only when an endpoint is given."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"knowrithm-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str = "knowrithm") -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Add the current trace context (traceparent/tracestate) to a header dict."""
    carrier: dict[str, str] = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, for event envelopes."""
    return inject_headers().get("traceparent")


def extract_context(headers: Mapping[str, str] | None) -> context.Context:
    """The trace context carried by incoming headers (HTTP or NATS)."""
    return propagate.extract(dict(headers or {}))
