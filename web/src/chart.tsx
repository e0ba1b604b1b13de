// Issued, redeemed and reversed per local day, drawn by hand as SVG: three lines on
// one scale, the days along the bottom. The same figures follow as a table for
// screen readers and for reading exact numbers.
import type { RefObject } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Day } from "./api";
import { day, number, shortDay } from "./format";
import { useI18n } from "./i18n";

// drawn at the figure's own width (text stays at its size on a phone), at least MIN_WIDTH
const MIN_WIDTH = 280;
const HEIGHT = 220;
const LEFT = 44;
const RIGHT = 24;
const TOP = 12;
const BOTTOM = 28;
const SERIES = ["issued", "redeemed", "reversed"] as const;

function niceMax(value: number): number {
  if (value <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

function useWidth(): [RefObject<HTMLElement | null>, number] {
  const ref = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(640);
  useEffect(() => {
    const element = ref.current;
    if (!element) return undefined;
    const measure = () => setWidth(Math.max(MIN_WIDTH, Math.floor(element.clientWidth - 16)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, [ref.current]);
  return [ref, width];
}

export function DailyChart({ days, titleId }: { days: Day[]; titleId: string }) {
  const { t, lang } = useI18n();
  const [figure, WIDTH] = useWidth();
  if (!days.length) return <p>{t("chart_empty")}</p>;
  const top = niceMax(Math.max(...days.flatMap((d) => SERIES.map((s) => d[s]))));
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const x = (i: number) => LEFT + (days.length === 1 ? plotW / 2 : (i * plotW) / (days.length - 1));
  const y = (v: number) => TOP + plotH - (v / top) * plotH;
  const totals = Object.fromEntries(SERIES.map((s) => [s, days.reduce((sum, d) => sum + d[s], 0)])) as Record<
    (typeof SERIES)[number],
    number
  >;
  const summary = t("chart_summary", {
    first: day(lang, days[0]?.day ?? ""),
    last: day(lang, days[days.length - 1]?.day ?? ""),
    issued: number(lang, totals.issued),
    redeemed: number(lang, totals.redeemed),
    reversed: number(lang, totals.reversed),
  });
  const labelEvery = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor(plotW / 64))));
  const descId = `${titleId}-desc`;
  return (
    <figure class="chart" ref={figure}>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby={`${titleId} ${descId}`}>
        <desc id={descId}>{summary}</desc>
        {[0, top / 2, top].map((v) => (
          <g key={v} class="grid">
            <line x1={LEFT} x2={WIDTH - RIGHT} y1={y(v)} y2={y(v)} />
            <text x={LEFT - 6} y={y(v) + 4} text-anchor="end">
              {number(lang, v)}
            </text>
          </g>
        ))}
        {days.map((d, i) =>
          i % labelEvery === 0 || i === days.length - 1 ? (
            <text
              key={d.day}
              class="axis"
              x={x(i)}
              y={HEIGHT - 8}
              text-anchor={i === days.length - 1 && days.length > 1 ? "end" : i === 0 && days.length > 1 ? "start" : "middle"}
            >
              {shortDay(d.day)}
            </text>
          ) : null,
        )}
        {SERIES.map((s) => (
          <g key={s} class={`series ${s}`}>
            <polyline points={days.map((d, i) => `${x(i)},${y(d[s])}`).join(" ")} />
            {days.length <= 62 && days.map((d, i) => <circle key={d.day} cx={x(i)} cy={y(d[s])} r={3} />)}
          </g>
        ))}
      </svg>
      <figcaption>
        <ul class="legend">
          {SERIES.map((s) => (
            <li key={s} class={`key ${s}`}>
              {t(s)}: {number(lang, totals[s])}
            </li>
          ))}
        </ul>
        <details>
          <summary>{t("chart_table")}</summary>
          <table>
            <thead>
              <tr>
                <th scope="col">{t("col_day")}</th>
                {SERIES.map((s) => (
                  <th key={s} scope="col" class="num">
                    {t(s)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {days.map((d) => (
                <tr key={d.day}>
                  <th scope="row">{day(lang, d.day)}</th>
                  {SERIES.map((s) => (
                    <td key={s} class="num">
                      {number(lang, d[s])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      </figcaption>
    </figure>
  );
}
