/** Every field of one request record, with shortcuts to filter the list by who sent it. */
import { Badge } from '../components/states';
import { formatBytes, formatTime } from '../lib/format';
import type { LogRecord } from './logs-feed';
import type { LogFilterKey } from './logs-filters';
import { decisionLabel, decisionTone, latency, statusTone } from './logs-format';
import { Item, Maybe } from './logs-table';

const DOORS: Record<string, string> = {
  gateway: 'gateway (proxied request)',
  forward_auth: 'forward-auth',
  verify: 'verification API',
};

export function LogDetail({
  record: r,
  onFilter,
}: {
  record: LogRecord;
  onFilter: (patch: Partial<Record<LogFilterKey, string>>) => void;
}) {
  const shortcuts: [string, Partial<Record<LogFilterKey, string>>][] = [];
  if (r.keyId) shortcuts.push(['Only this key', { key: r.keyId }]);
  if (r.clientId) shortcuts.push(['Only this client', { client: r.clientId }]);
  if (r.routeId) shortcuts.push(['Only this route', { route: r.routeId }]);
  shortcuts.push(['Only this IP', { ip: r.ip }]);

  return (
    <>
      <dl className="record-fields">
        <Item label="Time" wide>
          {formatTime(r.at)} <span className="muted">({r.at})</span>
        </Item>
        <Item label="Request id">
          <code>{r.requestId}</code>
        </Item>
        <Item label="Door">{DOORS[r.door] ?? r.door}</Item>
        <Item label="Method">{r.method}</Item>
        <Item label="Path">
          <code>{r.path}</code>
        </Item>
        <Item label="Status">
          <Badge tone={statusTone(r.status)}>{r.status}</Badge>
        </Item>
        <Item label="Decision">
          <Badge tone={decisionTone(r.decision)}>{decisionLabel(r.decision)}</Badge>
        </Item>
        <Item label="Code">
          <Maybe value={r.code} code />
        </Item>
        <Item label="Route">
          <Maybe value={r.routeId} code />
        </Item>
        <Item label="Client">
          <Maybe value={r.clientId} code />
        </Item>
        <Item label="Key">
          <Maybe value={r.keyId} code />
        </Item>
        <Item label="User">
          <Maybe value={r.userId} code />
        </Item>
        <Item label="IP">
          <code>{r.ip}</code>
        </Item>
        <Item label="Total time">{latency(r.totalMs)} ms</Item>
        <Item label="Upstream time">
          {r.upstreamMs === null ? <Maybe value={null} /> : `${latency(r.upstreamMs)} ms`}
        </Item>
        <Item label="Bytes in">{r.bytesIn === null ? <Maybe value={null} /> : formatBytes(r.bytesIn)}</Item>
        <Item label="Bytes out">{formatBytes(r.bytesOut)}</Item>
      </dl>
      <footer className="record-shortcuts">
        {shortcuts.map(([label, patch]) => (
          <button key={label} type="button" className="secondary outline" onClick={() => onFilter(patch)}>
            {label}
          </button>
        ))}
      </footer>
    </>
  );
}
