import { describe, expect, it } from 'vitest';
import { normaliseDlqRecords, normaliseFlows, normaliseStats } from './flows';

describe('normaliseFlows', () => {
  it('reads the kafkaflow node/edge graph', () => {
    const graph = normaliseFlows({
      nodes: [
        { id: 'service:backend', kind: 'service', name: 'backend' },
        { id: 'topic:chat.requests', kind: 'topic', name: 'chat.requests', dlq: false, partitions: 6, end_offset: 42, messages_per_second: 1.5 },
        { id: 'topic:chat.requests.dlq', kind: 'topic', name: 'chat.requests.dlq', dlq: true, partitions: 6, end_offset: 1, messages_per_second: 0 },
        { id: 'group:orchestrator', kind: 'consumer_group', name: 'orchestrator', lag: 3, messages_per_second: 1.2, state: 'Stable' },
      ],
      edges: [
        { from: 'service:backend', to: 'topic:chat.requests', kind: 'produces' },
        { from: 'topic:chat.requests', to: 'group:orchestrator', kind: 'consumes', lag: 3, messages_per_second: 1.2 },
        { from: 'topic:chat.requests', to: 'topic:chat.requests.dlq', kind: 'dead_letters' },
        { from: 'topic:gone', to: 'group:orchestrator', kind: 'consumes' },
      ],
    });
    expect(graph.services).toEqual([{ id: 'service:backend', name: 'backend' }]);
    expect(graph.topics.map((t) => [t.name, t.dlq, t.rate, t.messages])).toEqual([
      ['chat.requests', false, 1.5, 42],
      ['chat.requests.dlq', true, 0, 1],
    ]);
    expect(graph.groups).toEqual([{ id: 'group:orchestrator', name: 'orchestrator', lag: 3, rate: 1.2, state: 'Stable' }]);
    expect(graph.edges.map((e) => e.kind)).toEqual(['produces', 'consumes', 'dead_letters']);
  });

  it('returns an empty graph for anything else', () => {
    expect(normaliseFlows(null)).toEqual({ services: [], topics: [], groups: [], edges: [] });
  });
});

describe('normaliseDlqRecords', () => {
  it('keeps partition, offset, error and a preview', () => {
    const [r] = normaliseDlqRecords('documents.uploaded.dlq', { records: [{ partition: 2, offset: 7, error: { type: 'ValueError', message: 'corrupt PDF' }, value: { document_id: 'd1' } }] });
    expect(r).toEqual({ topic: 'documents.uploaded.dlq', partition: 2, offset: 7, error: 'corrupt PDF', preview: '{"document_id":"d1"}', replayed: false });
  });
});

describe('normaliseStats', () => {
  it('turns daily rows into chart series, oldest day first, nested latency included', () => {
    const series = normaliseStats({
      days: [
        { day: '2026-11-26', messages: 4, active_users: 2, tokens: 100, latency_ms: { p50: 300, p95: 900 } },
        { day: '2026-11-25', messages: 1, active_users: 1, tokens: 10, latency_ms: { p50: 200, p95: 500 } },
      ],
    });
    expect(series.map((s) => s.key)).toEqual(['messages', 'active_users', 'tokens', 'latency_ms_p50', 'latency_ms_p95']);
    expect(series[0].points).toEqual([{ day: '2026-11-25', value: 1 }, { day: '2026-11-26', value: 4 }]);
    expect(series[4].points[1].value).toBe(900);
  });
});
