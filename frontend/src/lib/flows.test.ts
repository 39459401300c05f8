import { describe, expect, it } from 'vitest';
import type { DailyStats, DlqRecordPage, FlowView } from '../api/types';
import { toDlqRecords, toFlowGraph, toStatSeries } from './flows';

// Inputs are typed with the generated shapes, so a backend rename breaks this file's compile.
const partitions = (n: number) => Array.from({ length: n }, (_, partition) => ({ partition, oldest_offset: 0, end_offset: 7 }));
const view: FlowView = {
  prefix: 'alice.',
  taken_at: 1_800_000_000,
  age_s: 0.5,
  brokers: 1,
  last_error: null,
  nodes: [
    { kind: 'service', id: 'service:backend', name: 'backend' },
    { kind: 'topic', id: 'topic:chat.requests', name: 'chat.requests', kafka_name: 'alice.chat.requests', dlq: false, partitions: 6, end_offset: 42, records: 40, messages_per_second: 1.5, partition_offsets: partitions(6) },
    { kind: 'topic', id: 'topic:chat.requests.dlq', name: 'chat.requests.dlq', kafka_name: 'alice.chat.requests.dlq', dlq: true, partitions: 6, end_offset: 1, records: 1, messages_per_second: 0, partition_offsets: partitions(6) },
    { kind: 'consumer_group', id: 'group:orchestrator', name: 'orchestrator', kafka_name: 'alice.orchestrator', lag: 3, messages_per_second: 1.2, state: 'Stable', members: 2 },
  ],
  edges: [
    { kind: 'produces', from: 'service:backend', to: 'topic:chat.requests' },
    { kind: 'consumes', from: 'topic:chat.requests', to: 'group:orchestrator', lag: 3, messages_per_second: 1.2, partitions: [] },
    { kind: 'dead_letters', from: 'topic:chat.requests', to: 'topic:chat.requests.dlq' },
    { kind: 'consumes', from: 'topic:gone', to: 'group:orchestrator', lag: 0, messages_per_second: 0, partitions: [] },
  ],
};

describe('toFlowGraph', () => {
  it('reads the kafkaflow node/edge graph', () => {
    const graph = toFlowGraph(view);
    expect(graph.services).toEqual([{ id: 'service:backend', name: 'backend' }]);
    expect(graph.topics.map((t) => [t.name, t.dlq, t.rate, t.messages])).toEqual([
      ['chat.requests', false, 1.5, 42],
      ['chat.requests.dlq', true, 0, 1],
    ]);
    expect(graph.groups).toEqual([{ id: 'group:orchestrator', name: 'orchestrator', lag: 3, rate: 1.2, state: 'Stable' }]);
    expect(graph.edges).toEqual([
      { from: 'service:backend', to: 'topic:chat.requests', kind: 'produces' },
      { from: 'topic:chat.requests', to: 'group:orchestrator', kind: 'consumes', lag: 3, rate: 1.2 },
      { from: 'topic:chat.requests', to: 'topic:chat.requests.dlq', kind: 'dead_letters' },
    ]);
  });
});

describe('toDlqRecords', () => {
  it('keeps partition, offset, error and a preview', () => {
    const page: DlqRecordPage = {
      topic: 'documents.uploaded.dlq',
      kafka_name: 'alice.documents.uploaded.dlq',
      total: 2,
      records: [
        { partition: 2, offset: 7, timestamp: '2026-11-26T10:00:00+00:00', key: 'd1', key_encoding: 'text', value: { document_id: 'd1' }, value_encoding: 'json', headers: [], error: 'ValueError: corrupt PDF', replayed: false },
        { partition: 0, offset: 1, timestamp: '2026-11-26T10:00:01+00:00', key: null, key_encoding: 'null', value: null, value_encoding: 'null', headers: [], error: null, replayed: true },
      ],
    };
    expect(toDlqRecords(page)).toEqual([
      { topic: 'documents.uploaded.dlq', partition: 2, offset: 7, error: 'ValueError: corrupt PDF', preview: '{"document_id":"d1"}', replayed: false },
      { topic: 'documents.uploaded.dlq', partition: 0, offset: 1, error: undefined, preview: undefined, replayed: true },
    ]);
  });
});

describe('toStatSeries', () => {
  const day = (d: string, messages: number, p50: number | null, p95: number | null): DailyStats['days'][number] => ({
    day: d,
    messages,
    replies: messages,
    active_users: 1,
    tokens: 10 * messages,
    prompt_tokens: 5 * messages,
    completion_tokens: 5 * messages,
    latency_ms: { p50, p95 },
  });
  const totals = { messages: 0, replies: 0, tokens: 0, prompt_tokens: 0, completion_tokens: 0 };

  it('turns daily rows into chart series, oldest day first, latency percentiles included', () => {
    const series = toStatSeries({ days: [day('2026-11-26', 4, 300, 900), day('2026-11-25', 1, 200, 500)], totals });
    expect(series.map((s) => s.key)).toEqual(['messages', 'active_users', 'tokens', 'latency_ms_p50', 'latency_ms_p95']);
    expect(series[0].points).toEqual([{ day: '2026-11-25', value: 1 }, { day: '2026-11-26', value: 4 }]);
    expect(series[4].points[1].value).toBe(900);
  });

  it('leaves out the latency charts when no reply was timed', () => {
    const series = toStatSeries({ days: [day('2026-11-25', 1, null, null)], totals });
    expect(series.map((s) => s.key)).toEqual(['messages', 'active_users', 'tokens']);
  });
});
