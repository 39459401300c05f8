import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import { readableError } from '../api/errors';
import type { FeedbackStats } from '../api/types';
import {
  toDlqRecords,
  toDlqTopics,
  toFlowGraph,
  toStatSeries,
  type DlqRecord,
  type DlqTopic,
  type FlowGraph,
  type StatSeries,
} from '../lib/flows';
import { AdminFeedback } from './AdminFeedback';

const fmt = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(n >= 10000 ? 0 : 1)}k` : Number.isInteger(n) ? String(n) : n.toFixed(1));

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The pipeline as a picture: producing services → topics → consumer groups, dead letters below. */
export function PipelineDiagram({ graph }: { graph: FlowGraph }) {
  const topics = graph.topics.filter((t) => !t.dlq);
  const dlqs = graph.topics.filter((t) => t.dlq);
  // Groups in the order of the first topic they read, so edges cross as little as possible.
  const firstTopic = (groupId: string) =>
    Math.min(...graph.edges.filter((e) => e.to === groupId).map((e) => topics.findIndex((t) => t.id === e.from)).filter((i) => i >= 0), 99);
  const groups = [...graph.groups].sort((a, b) => firstTopic(a.id) - firstTopic(b.id));
  const cols = [graph.services, topics, groups];
  const rowH = 66;
  const rows = Math.max(1, ...cols.map((c) => c.length));
  const width = 900;
  const colW = [150, 250, 250];
  const colX = [12, 260, width - 250 - 12];
  const top = 34;
  const box = new Map<string, Box>();
  cols.forEach((col, ci) =>
    col.forEach((node, i) => box.set(node.id, { x: colX[ci], y: top + (i + (rows - col.length) / 2) * rowH, w: colW[ci], h: 50 })),
  );
  const dlqTop = top + rows * rowH + 36;
  const dlqW = Math.min(230, (width - 24) / Math.max(dlqs.length, 1) - 12);
  dlqs.forEach((t, i) => box.set(t.id, { x: 12 + i * (dlqW + 12), y: dlqTop, w: dlqW, h: 46 }));
  const height = (dlqs.length ? dlqTop + 60 : top + rows * rowH) + 8;

  if (!topics.length && !graph.groups.length) return <p className="muted">No topics yet.</p>;
  return (
    <svg className="pipeline" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`Pipeline: ${graph.services.length} producers, ${topics.length} topics, ${graph.groups.length} consumer groups, ${dlqs.length} dead-letter topics`}>
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0 0L10 5L0 10z" className="edge-head" />
        </marker>
      </defs>
      {['Producers', 'Topics', 'Consumer groups'].map((label, i) => (
        <text key={label} x={colX[i]} y="16" className="col-label">{label}</text>
      ))}
      {graph.edges.map((e, i) => {
        const a = box.get(e.from);
        const b = box.get(e.to);
        if (!a || !b) return null;
        // Dead-letter topics sit in their own row, named after their source: no crossing lines.
        if (e.kind === 'dead_letters') return null;
        const x1 = a.x + a.w;
        const y1 = a.y + a.h / 2;
        const x2 = b.x;
        const y2 = b.y + b.h / 2;
        const mid = (x1 + x2) / 2;
        const lagging = (e.lag ?? 0) > 0;
        return (
          <g key={i}>
            <path d={`M${x1} ${y1} C${mid} ${y1} ${mid} ${y2} ${x2 - 2} ${y2}`} className={`edge ${lagging ? 'edge-lag' : ''}`} markerEnd="url(#arrow)" />
            {e.kind === 'consumes' && (
              <g transform={`translate(${mid - 38} ${(y1 + y2) / 2 - 11})`}>
                <rect width="76" height="22" rx="11" className={`pill ${lagging ? 'pill-lag' : ''}`} />
                <text x="38" y="15" textAnchor="middle" className="pill-text">lag {fmt(e.lag ?? 0)}</text>
              </g>
            )}
          </g>
        );
      })}
      {graph.services.map((s) => {
        const b = box.get(s.id)!;
        return (
          <g key={s.id} transform={`translate(${b.x} ${b.y})`}>
            <rect width={b.w} height={b.h} rx="25" className="node node-service" />
            <text x={b.w / 2} y="30" textAnchor="middle" className="node-title">{s.name}</text>
          </g>
        );
      })}
      {[...topics, ...dlqs].map((t) => {
        const b = box.get(t.id)!;
        return (
          <g key={t.id} transform={`translate(${b.x} ${b.y})`}>
            <rect width={b.w} height={b.h} rx="10" className={`node ${t.dlq ? 'node-dlq' : 'node-topic'}`} />
            <text x="12" y="20" className="node-title">{t.name}</text>
            <text x="12" y="38" className="node-sub">
              {t.dlq ? `${fmt(t.messages)} dead ${t.messages === 1 ? 'letter' : 'letters'}` : `${fmt(t.rate)} msg/s · ${fmt(t.messages)} total${t.partitions ? ` · ${t.partitions} parts` : ''}`}
            </text>
          </g>
        );
      })}
      {groups.map((g) => {
        const b = box.get(g.id)!;
        return (
          <g key={g.id} transform={`translate(${b.x} ${b.y})`}>
            <rect width={b.w} height={b.h} rx="10" className={`node node-group ${g.lag > 0 ? 'node-lagging' : ''}`} />
            <text x="12" y="20" className="node-title">{g.name}</text>
            <text x="12" y="38" className="node-sub">{fmt(g.rate)} msg/s · lag {fmt(g.lag)}{g.state ? ` · ${g.state}` : ''}</text>
          </g>
        );
      })}
    </svg>
  );
}

function BarChart({ series }: { series: StatSeries }) {
  const max = Math.max(1, ...series.points.map((p) => p.value));
  const w = 320;
  const h = 140;
  const n = Math.max(series.points.length, 1);
  const slot = (w - 20) / n;
  const bw = Math.max(4, Math.min(36, slot - 6));
  return (
    <figure className="chart card">
      <figcaption>{series.label}</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${series.label} per day`}>
        <line x1="10" x2={w - 10} y1={h - 22} y2={h - 22} className="axis" />
        {series.points.map((p, i) => {
          const bh = Math.max(1, ((h - 44) * p.value) / max);
          const x = 10 + i * slot + (slot - bw) / 2;
          return (
            <g key={p.day}>
              <rect x={x} y={h - 22 - bh} width={bw} height={bh} rx="3" className="bar-rect">
                <title>{`${p.day}: ${p.value}`}</title>
              </rect>
              {(n <= 8 || i === 0 || i === n - 1) && (
                <text x={x + bw / 2} y={h - 8} textAnchor="middle" className="tick">{p.day.slice(5)}</text>
              )}
            </g>
          );
        })}
        <text x={w - 10} y="12" textAnchor="end" className="tick">max {fmt(max)}</text>
      </svg>
    </figure>
  );
}

export default function AdminPage() {
  const [graph, setGraph] = useState<FlowGraph | null>(null);
  const [dlqTopics, setDlqTopics] = useState<DlqTopic[]>([]);
  const [records, setRecords] = useState<Record<string, DlqRecord[]>>({});
  const [stats, setStats] = useState<StatSeries[] | null>(null);
  const [feedback, setFeedback] = useState<FeedbackStats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const [flows, dlq] = await Promise.all([api.adminFlows(), api.adminDlqTopics().catch(() => ({ items: [] }))]);
      setGraph(toFlowGraph(flows));
      const topics = toDlqTopics(dlq);
      setDlqTopics(topics);
      const withRecords = topics.filter((t) => t.records > 0);
      const lists = await Promise.all(withRecords.map((t) => api.adminDlqRecords(t.topic).then(toDlqRecords, () => [])));
      setRecords(Object.fromEntries(withRecords.map((t, i) => [t.topic, lists[i]])));
      setError(null);
    } catch (err) {
      setError(readableError(err));
    }
  }, []);
  useEffect(() => {
    void load();
    api.adminStats().then((s) => setStats(toStatSeries(s)), (e) => setError(readableError(e)));
    api.adminFeedback().then(setFeedback, (e) => setError(readableError(e)));
    const t = setInterval(() => void load(), 3000);
    return () => clearInterval(t);
  }, [load]);

  const replay = async (topic: string, record?: DlqRecord) => {
    try {
      await api.replayDlq(topic, record && { partition: record.partition, offset: record.offset });
      setNotice(record ? `Replayed ${topic} ${record.partition}/${record.offset}.` : `Replayed every pending record of ${topic}.`);
      void load();
    } catch (err) {
      setError(readableError(err));
    }
  };

  const withLetters = dlqTopics.filter((t) => (records[t.topic] ?? []).length > 0);
  return (
    <section className="page" aria-labelledby="admin-title">
      <header className="page-head">
        <h1 id="admin-title" className="page-title">Pipeline</h1>
        <span className="live-dot" aria-hidden="true" /> <span className="muted small">live, every 3 s</span>
      </header>
      {/* Focusable: without dead letters there is nothing to tab to, and the keyboard could not scroll it. */}
      <div className="page-body wide" tabIndex={0}>
        {error && <p className="form-error" role="alert">{error}</p>}
        {notice && <p className="notice" role="status">{notice}</p>}
        <div className="card">
          <h2 className="card-title">Kafka flows</h2>
          {graph ? <PipelineDiagram graph={graph} /> : <p className="muted">Loading…</p>}
        </div>
        <div className="card">
          <h2 className="card-title">Dead letters</h2>
          {withLetters.length === 0 && <p className="muted">No dead letters. Everything was processed.</p>}
          {withLetters.map(({ topic }) => (
            <div key={topic} className="dlq">
              <div className="dlq-head">
                <strong>{topic}</strong>
                <button type="button" className="btn btn-secondary btn-sm" onClick={() => void replay(topic)}>Replay all</button>
              </div>
              <ul className="dlq-list">
                {records[topic].map((r) => (
                  <li key={`${r.partition}-${r.offset}`}>
                    <code>{r.partition}/{r.offset}</code>
                    <span className="form-error small">{r.error ?? 'unknown error'}</span>
                    {r.preview && <span className="muted small dlq-preview">{r.preview.slice(0, 160)}</span>}
                    {r.replayed ? (
                      <span className="tag">replayed</span>
                    ) : (
                      <button type="button" className="btn btn-ghost btn-sm" onClick={() => void replay(topic, r)}>Replay</button>
                    )}
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </div>
        {feedback && <AdminFeedback stats={feedback} />}
        <h2 className="section-title">Daily activity</h2>
        {stats && stats.length === 0 && <p className="muted">No activity recorded yet.</p>}
        <div className="charts">{stats?.map((s) => <BarChart key={s.key} series={s} />)}</div>
      </div>
    </section>
  );
}
