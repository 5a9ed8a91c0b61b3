import { trace } from '@opentelemetry/api';
import { expect, it } from 'vitest';
import { parseConfig } from '../../config/index';
import { memoryLogger } from '../../observability/logger';
import { describeTracing, startTracing } from '../../observability/tracing';

it('tracing stays off without an OTLP endpoint: no provider, no exporter, spans record nothing, logs name no trace', async () => {
  const settings = parseConfig({ OTEL_SERVICE_NAME: 'scimflow-eu' }).tracing;
  expect(await startTracing(settings, { defaultServiceName: 'scimflow-api' })).toBeUndefined();
  expect(describeTracing(settings)).toBe('off');
  // The spans scimflow opens itself go to OpenTelemetry's no-op tracer.
  const logger = memoryLogger();
  trace.getTracer('scimflow').startActiveSpan('mirror transaction', (span) => {
    expect(span.isRecording()).toBe(false);
    logger.info('inside');
    span.end();
  });
  expect(JSON.parse(logger.lines[0]!)).not.toHaveProperty('trace_id');
});

it('says where spans go without the URL’s credentials or query', () => {
  const settings = parseConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://user:key@traces.example.com/v1/traces?key=1' }).tracing;
  expect(describeTracing(settings)).toBe('OTLP to https://traces.example.com/v1/traces');
});
