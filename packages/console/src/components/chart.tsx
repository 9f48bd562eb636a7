/**
 * Charts. Time series use uPlot (small, fast canvas charts); ranked counts ("denials by
 * reason", "top keys") are CSS bars, which need no canvas and read well to screen readers.
 * Colours come from CSS variables so both themes stay readable.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import { Link } from 'wouter';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  values: readonly (number | null)[];
  /** A CSS colour or a var(--…) name. */
  color: string;
  /** Dashed line (baselines, thresholds). */
  dashed?: boolean;
  /** Filled area under the line (stacked look for counts). */
  fill?: boolean;
}

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

function resolveColor(element: Element, color: string): string {
  const match = /^var\((--[\w-]+)\)$/.exec(color);
  if (!match?.[1]) return color;
  return getComputedStyle(element).getPropertyValue(match[1]).trim() || '#888';
}

/**
 * A line chart over time. `times` are epoch milliseconds. The figure has a text summary
 * (`summary`) for people who cannot see the canvas.
 */
export function TimeChart({
  title,
  times,
  series,
  height = 220,
  summary,
  unit,
}: {
  title: string;
  times: readonly number[];
  series: readonly Series[];
  height?: number;
  summary: string;
  unit?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const text = resolveColor(element, 'var(--pico-muted-color)');
    const grid = resolveColor(element, 'var(--pico-muted-border-color)');
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max * 1.1)] },
      },
      axes: [
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        {
          stroke: text,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          // Compact numbers ("12k", "1.5M") keep the axis narrow and the labels whole.
          size: 64,
          values: (_u, splits) => splits.map((v) => `${compact.format(v)}${unit ?? ''}`),
        },
      ],
      series: [
        {},
        ...series.map((s) => {
          const stroke = resolveColor(element, s.color);
          return {
            label: s.label,
            stroke,
            width: 2,
            ...(s.dashed ? { dash: [6, 4] } : {}),
            ...(s.fill ? { fill: `${stroke}22` } : {}),
            // Points mark isolated values between gaps, which a line alone would not draw.
            points: { show: times.length <= 400, size: times.length < 40 ? 5 : 3 },
            spanGaps: false,
          };
        }),
      ],
    };
    const data: uPlot.AlignedData = [times.map((t) => t / 1000), ...series.map((s) => [...s.values])];
    const plot = new uPlot(options, data, element);
    const observer = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(element.clientWidth, 200), height }),
    );
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [times, series, height, unit]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}: ${summary}`} />
    </figure>
  );
}

/** Ranked counts as horizontal bars, largest first. */
export function BarList({
  title,
  items,
  empty = 'Nothing yet.',
  tone = 'neutral',
}: {
  title: string;
  /** `href`: a console address built with consoleHref (lib/links). */
  items: readonly { label: string; value: number; href?: string }[];
  empty?: string;
  tone?: 'neutral' | 'bad';
}) {
  const max = Math.max(1, ...items.map((item) => item.value));
  return (
    <figure className="bar-list">
      <figcaption>{title}</figcaption>
      {items.length === 0 ? (
        <p className="muted">{empty}</p>
      ) : (
        <ul>
          {items.map((item) => (
            <li key={item.label}>
              <span className="bar-label">
                {item.href ? <Link href={item.href}>{item.label}</Link> : item.label}
              </span>
              <span className="bar-track" aria-hidden="true">
                <span className={`bar ${tone}`} style={{ width: `${(item.value / max) * 100}%` }} />
              </span>
              <span className="bar-value">{new Intl.NumberFormat().format(item.value)}</span>
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}
