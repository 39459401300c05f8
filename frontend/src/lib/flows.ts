// Shapes the kafkaflow graph (`GET /api/admin/flows`: nodes of kind service|topic|consumer_group
// and edges of kind produces|consumes|dead_letters), its DLQ listing and the dataflow's daily
// stats (`GET /api/admin/stats`) into what the admin view draws. The inputs are the generated
// response types, so a renamed field fails the typecheck instead of blanking a label.
import type { DailyStats, DlqRecordPage, DlqTopicList, FlowView } from '../api/types';

export interface FlowTopic {
  id: string;
  name: string;
  partitions: number;
  rate: number;
  messages: number;
  dlq: boolean;
}
export interface FlowGroup {
  id: string;
  name: string;
  lag: number;
  rate: number;
  state: string;
}
export interface FlowEdge {
  from: string;
  to: string;
  kind: 'produces' | 'consumes' | 'dead_letters';
  lag?: number;
  rate?: number;
}
export interface FlowGraph {
  services: { id: string; name: string }[];
  topics: FlowTopic[];
  groups: FlowGroup[];
  edges: FlowEdge[];
}

export interface DlqRecord {
  topic: string;
  partition: number;
  offset: number;
  error?: string;
  preview?: string;
  replayed: boolean;
}

export function toFlowGraph(view: FlowView): FlowGraph {
  const graph: FlowGraph = { services: [], topics: [], groups: [], edges: [] };
  for (const node of view.nodes) {
    const { id, name } = node;
    if (node.kind === 'service') graph.services.push({ id, name });
    else if (node.kind === 'topic')
      graph.topics.push({ id, name, partitions: node.partitions, rate: node.messages_per_second, messages: node.end_offset, dlq: node.dlq });
    else graph.groups.push({ id, name, lag: node.lag, rate: node.messages_per_second, state: node.state });
  }
  const drawn = new Set([...graph.services, ...graph.topics, ...graph.groups].map((x) => x.id));
  for (const edge of view.edges) {
    // An edge may name a node kafkaflow left out of the graph (its own bookkeeping topics).
    if (!drawn.has(edge.from) || !drawn.has(edge.to)) continue;
    graph.edges.push(
      edge.kind === 'consumes'
        ? { from: edge.from, to: edge.to, kind: edge.kind, lag: edge.lag, rate: edge.messages_per_second }
        : { from: edge.from, to: edge.to, kind: edge.kind },
    );
  }
  return graph;
}

export interface DlqTopic {
  topic: string;
  sourceTopic: string;
  records: number;
}

export function toDlqTopics(list: DlqTopicList): DlqTopic[] {
  return list.items.map((t) => ({ topic: t.topic, sourceTopic: t.source_topic, records: t.records }));
}

export function toDlqRecords(page: DlqRecordPage): DlqRecord[] {
  return page.records.map((r) => ({
    topic: page.topic,
    partition: r.partition,
    offset: r.offset,
    error: r.error ?? undefined,
    preview: r.value_encoding === 'null' ? undefined : typeof r.value === 'string' ? r.value : JSON.stringify(r.value),
    replayed: r.replayed,
  }));
}

export interface StatSeries {
  key: string;
  label: string;
  points: { day: string; value: number }[];
}

type Day = DailyStats['days'][number];

const CHARTS: [string, string, (day: Day) => number | null][] = [
  ['messages', 'Messages', (d) => d.messages],
  ['active_users', 'Active users', (d) => d.active_users],
  ['tokens', 'Tokens', (d) => d.tokens],
  ['latency_ms_p50', 'Reply latency p50 (ms)', (d) => d.latency_ms.p50],
  ['latency_ms_p95', 'Reply latency p95 (ms)', (d) => d.latency_ms.p95],
];

/** One series per chart, oldest day first; a chart no day has a value for is left out. */
export function toStatSeries(stats: DailyStats): StatSeries[] {
  const days = [...stats.days].sort((a, b) => a.day.localeCompare(b.day));
  return CHARTS.filter(([, , value]) => days.some((d) => value(d) !== null)).map(([key, label, value]) => ({
    key,
    label,
    points: days.map((d) => ({ day: d.day, value: value(d) ?? 0 })),
  }));
}
