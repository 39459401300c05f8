// Shapes the kafkaflow graph (`GET /api/admin/flows`: nodes of kind service|topic|consumer_group
// and edges of kind produces|consumes|dead_letters), its DLQ listing and the dataflow's daily
// stats (`GET /api/admin/stats`) into what the admin view draws. Unknown fields are ignored and
// missing ones default, so a renamed field degrades a label, never the page.

export interface FlowTopic {
  id: string;
  name: string;
  partitions?: number;
  rate: number;
  messages?: number;
  dlq: boolean;
}
export interface FlowGroup {
  id: string;
  name: string;
  lag: number;
  rate: number;
  state?: string;
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
  replayed?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objs = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const str = (o: Obj, ...keys: string[]) => {
  for (const k of keys) if (typeof o[k] === 'string' && o[k]) return o[k] as string;
  return undefined;
};
const num = (o: Obj, ...keys: string[]) => {
  for (const k of keys) if (typeof o[k] === 'number' && Number.isFinite(o[k])) return o[k] as number;
  return undefined;
};

export function normaliseFlows(raw: unknown): FlowGraph {
  const root = isObj(raw) ? raw : {};
  const graph: FlowGraph = { services: [], topics: [], groups: [], edges: [] };
  for (const n of objs(root.nodes)) {
    const id = str(n, 'id') ?? '';
    const name = str(n, 'name') ?? id;
    const kind = str(n, 'kind', 'type');
    if (kind === 'service') graph.services.push({ id, name });
    else if (kind === 'topic')
      graph.topics.push({
        id,
        name,
        partitions: num(n, 'partitions'),
        rate: num(n, 'messages_per_second', 'rate') ?? 0,
        messages: num(n, 'end_offset', 'records'),
        dlq: n.dlq === true || name.endsWith('.dlq'),
      });
    else if (kind === 'consumer_group' || kind === 'group')
      graph.groups.push({ id, name, lag: num(n, 'lag') ?? 0, rate: num(n, 'messages_per_second', 'rate') ?? 0, state: str(n, 'state') });
  }
  const known = new Set([...graph.services, ...graph.topics, ...graph.groups].map((x) => x.id));
  for (const e of objs(root.edges)) {
    const from = str(e, 'from', 'source');
    const to = str(e, 'to', 'target');
    const kind = str(e, 'kind');
    if (!from || !to || !known.has(from) || !known.has(to)) continue;
    if (kind !== 'produces' && kind !== 'consumes' && kind !== 'dead_letters') continue;
    graph.edges.push({ from, to, kind, lag: num(e, 'lag'), rate: num(e, 'messages_per_second', 'rate') });
  }
  return graph;
}

export interface DlqTopic {
  topic: string;
  sourceTopic?: string;
  records: number;
}

export function normaliseDlqTopics(raw: unknown): DlqTopic[] {
  const root = isObj(raw) ? raw : {};
  return objs(Array.isArray(raw) ? raw : root.items).map((t) => ({
    topic: str(t, 'topic', 'name') ?? '',
    sourceTopic: str(t, 'source_topic'),
    records: num(t, 'records', 'total') ?? 0,
  })).filter((t) => t.topic);
}

export function normaliseDlqRecords(topic: string, raw: unknown): DlqRecord[] {
  const root = isObj(raw) ? raw : {};
  return objs(root.records ?? root.items).map((r) => {
    const value = r.value;
    return {
      topic,
      partition: num(r, 'partition') ?? 0,
      offset: num(r, 'offset') ?? 0,
      error: typeof r.error === 'string' ? r.error : isObj(r.error) ? str(r.error, 'message', 'type') : undefined,
      preview: typeof value === 'string' ? value : value === undefined ? undefined : JSON.stringify(value),
      replayed: r.replayed === true,
    };
  });
}

export interface StatSeries {
  key: string;
  label: string;
  points: { day: string; value: number }[];
}

const CHARTS: [string, string][] = [
  ['messages', 'Messages'],
  ['active_users', 'Active users'],
  ['tokens', 'Tokens'],
  ['latency_ms_p50', 'Reply latency p50 (ms)'],
  ['latency_ms_p95', 'Reply latency p95 (ms)'],
];

function flatten(obj: Obj, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'number') out[prefix + k] = v;
    else if (isObj(v)) Object.assign(out, flatten(v, `${prefix}${k}_`));
  }
  return out;
}

export function normaliseStats(raw: unknown): StatSeries[] {
  const root = isObj(raw) ? raw : {};
  const rows = objs(Array.isArray(raw) ? raw : root.days ?? root.items)
    .map((r) => ({ day: (str(r, 'day', 'date', '_id') ?? '').slice(0, 10), values: flatten(r) }))
    .filter((r) => r.day)
    .sort((a, b) => a.day.localeCompare(b.day));
  return CHARTS.filter(([key]) => rows.some((r) => key in r.values)).map(([key, label]) => ({
    key,
    label,
    points: rows.map((r) => ({ day: r.day, value: r.values[key] ?? 0 })),
  }));
}
