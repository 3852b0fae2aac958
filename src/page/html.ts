import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { bytesHtml, type DisplayText } from './token-display.js';

/**
 * The HTML page every report command writes (report, and diff and wic after it): one self-contained file.
 * vega, vega-lite and vega-embed are inlined from node_modules, the chart specs travel as JSON inside the
 * page, and a Content-Security-Policy forbids every network request, so the page works from disk and
 * offline. All text that comes from users (prompts, tokens, labels, file names) is escaped, in the HTML
 * and inside the script JSON alike.
 */

export interface ReportTable {
  columns: string[];
  /**
   * Numbers are shown with up to 4 significant digits (integers in full); strings as given, escaped; display
   * text (tokens) with its byte runs as hex in a span.bytes.
   */
  rows: Array<Array<string | number | DisplayText | undefined>>;
  /** Rows shown open; the rest go behind a disclosure. */
  shownRows?: number;
}

export interface ReportSection {
  title: string;
  /** What the chart shows and what a good or bad value is. Plain text; blank lines start paragraphs. */
  explanation: string;
  /** A vega-lite spec. */
  spec?: object;
  /** Canvas draws big heatmaps faster; SVG (the default) prints sharper. */
  renderer?: 'svg' | 'canvas';
  table?: ReportTable;
  /** Markup made by this program (every user text in it escaped), shown after the chart: interactive views. */
  html?: string;
  /** Warnings and omissions, shown highlighted. */
  notes?: string[];
}

export interface ReportPage {
  title: string;
  subtitle?: string;
  /** Key facts under the title (inputs, model, placement). */
  facts?: Array<[string, string]>;
  notes?: string[];
  sections: ReportSection[];
  /** Extra inline styles and scripts that sections' `html` needs (no eval; run after the charts are set up). */
  styles?: string[];
  scripts?: string[];
}

export function renderHtmlReport(page: ReportPage): string {
  const charts: Array<{ spec: object; renderer: 'svg' | 'canvas' }> = [];
  const sections = page.sections.map((section, i) => {
    let chart = '';
    if (section.spec) {
      // vega-embed makes its element inline-block, so the frame around it is what scrolls a too-wide chart.
      chart = `<div class="chart-frame"><div class="chart" data-chart="${charts.length}"></div></div>`;
      charts.push({ spec: section.spec, renderer: section.renderer ?? 'svg' });
    }
    const explanation = section.explanation
      .split(/\n\s*\n/)
      .map((paragraph) => `<p>${escapeHtml(paragraph.trim())}</p>`)
      .join('\n');
    return `<section id="section-${i}">
<h2>${escapeHtml(section.title)}</h2>
<div class="explanation">${explanation}</div>
${notesHtml(section.notes)}${chart}${section.html ? `\n${section.html}` : ''}
${section.table ? tableHtml(section.table) : ''}
</section>`;
  });
  const toc = page.sections.map((section, i) => `<li><a href="#section-${i}">${escapeHtml(section.title)}</a></li>`).join('');
  const facts = page.facts?.length
    ? `<dl class="facts">${page.facts.map(([key, value]) => `<dt>${escapeHtml(key)}</dt><dd>${escapeHtml(value)}</dd>`).join('')}</dl>`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${stylesheet}${(page.styles ?? []).join('\n')}</style>
</head>
<body>
<header>
<h1>${escapeHtml(page.title)}</h1>
${page.subtitle ? `<p class="subtitle">${escapeHtml(page.subtitle)}</p>` : ''}
${facts}
${notesHtml(page.notes)}
</header>
<nav class="toc"><h2>Contents</h2><ol>${toc}</ol></nav>
<main>
${sections.join('\n')}
</main>
<script type="application/json" id="moe-inspect-charts">${scriptJson(charts)}</script>
${vegaLibraries()}
<script>${embedScript}</script>
${(page.scripts ?? []).map((script) => `<script>${script}</script>`).join('\n')}
</body>
</html>
`;
}

/** Display text (a token) as HTML: its strings escaped, its byte runs in a span.bytes. */
export function displayHtml(text: DisplayText): string {
  return text.map((piece) => (typeof piece === 'string' ? escapeHtml(piece) : bytesHtml(piece.bytes))).join('');
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => htmlEntities[c]);
}

/**
 * JSON that is safe inside a <script> element: `<` and `>` cannot close the element or open a comment,
 * `&` cannot start an entity, and U+2028/U+2029 (line terminators to old JavaScript parsers) are escaped.
 * JSON.parse reads it back unchanged.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const htmlEntities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Nothing may be fetched: no connections, images, fonts or frames. Vega compiles its expressions with
 * `new Function`, hence 'unsafe-eval'; the scripts and styles are inline, hence 'unsafe-inline'. data:
 * and blob: images are what vega's canvas and export paths create locally.
 */
const contentSecurityPolicy = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:";

function notesHtml(notes: string[] | undefined): string {
  if (!notes?.length) return '';
  return `<ul class="notes">${notes.map((note) => `<li>${escapeHtml(note)}</li>`).join('')}</ul>\n`;
}

function tableHtml({ columns, rows, shownRows }: ReportTable): string {
  if (shownRows !== undefined && rows.length > shownRows) {
    const rest = rows.length - shownRows;
    return `${tableHtml({ columns, rows: rows.slice(0, shownRows) })}\n<details class="more-rows"><summary>${rest} more row${rest > 1 ? 's' : ''}</summary>${tableHtml({ columns, rows: rows.slice(shownRows) })}</details>`;
  }
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map(cellHtml).join('')}</tr>`)
    .join('\n');
  return `<div class="table"><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function cellHtml(cell: string | number | DisplayText | undefined): string {
  if (typeof cell === 'number') return `<td class="num">${escapeHtml(formatNumber(cell))}</td>`;
  if (Array.isArray(cell)) return `<td>${displayHtml(cell)}</td>`;
  return `<td>${escapeHtml(cell ?? '')}</td>`;
}

/** Integers in full, other numbers to 4 significant digits. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '';
  if (Number.isInteger(value)) return String(value);
  return Number(value.toPrecision(4)).toString();
}

const libraries: Array<[pkg: string, file: string]> = [
  ['vega', 'vega.min.js'],
  ['vega-lite', 'vega-lite.min.js'],
  ['vega-embed', 'vega-embed.min.js'],
];

let inlinedLibraries: string | undefined;

/**
 * The three browser bundles as <script> elements. Their packages export only the module entry, which
 * lives in the same build/ folder as the browser bundle, so the bundle is found next to it.
 */
function vegaLibraries(): string {
  if (inlinedLibraries !== undefined) return inlinedLibraries;
  const require = createRequire(import.meta.url);
  inlinedLibraries = libraries
    .map(([pkg, file]) => {
      const bundle = path.join(path.dirname(require.resolve(pkg)), file);
      const code = fs.readFileSync(bundle, 'utf8');
      // Either would end or derail the inline <script>; none of the pinned versions contains them.
      if (/<\/script|<!--/i.test(code)) throw new Error(`${bundle} contains "</script" or "<!--" and cannot be inlined`);
      return `<script>${code}</script>`;
    })
    .join('\n');
  return inlinedLibraries;
}

/** Draws every chart; a failure shows in place of the chart and on the console. */
const embedScript = `
(function () {
  var charts = JSON.parse(document.getElementById('moe-inspect-charts').textContent);
  document.querySelectorAll('[data-chart]').forEach(function (element) {
    var chart = charts[Number(element.getAttribute('data-chart'))];
    vegaEmbed(element, chart.spec, { mode: 'vega-lite', actions: false, renderer: chart.renderer })
      .then(function () { element.setAttribute('data-rendered', 'true'); })
      .catch(function (error) {
        element.textContent = 'This chart could not be drawn: ' + error.message;
        console.error(error);
      });
  });
})();
`;

const stylesheet = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; background: #fff; margin: 0; }
header, nav.toc, main { max-width: 1160px; margin: 0 auto; padding: 0 20px; }
h1 { font-size: 26px; margin: 24px 0 4px; }
h2 { font-size: 19px; margin: 0 0 6px; }
.subtitle { color: #555; margin: 0 0 12px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
nav.toc { margin-top: 8px; }
nav.toc h2 { font-size: 15px; }
nav.toc ol { columns: 3; margin: 0; padding-left: 20px; font-size: 14px; }
section { border-top: 1px solid #ddd; padding: 18px 0 12px; }
.explanation { max-width: 900px; color: #333; }
.explanation p { margin: 0 0 8px; }
.notes { background: #fff6e0; border-left: 4px solid #e0a800; padding: 8px 12px 8px 28px; margin: 8px 0; }
.chart-frame { margin: 8px 0; max-width: 100%; overflow-x: auto; }
.table { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bytes { font: 12px ui-monospace, Menlo, Consolas, monospace; background: #eef1f8; color: #33508a; border: 1px solid #c9d2e8; border-radius: 3px; padding: 0 3px; }
@media print {
  body { font-size: 11pt; }
  header, main { max-width: none; padding: 0; }
  nav.toc, #vg-tooltip-element { display: none; }
  section { break-inside: avoid-page; }
  .chart-frame, .table { overflow: visible; }
  .chart svg, .chart canvas { max-width: 100%; height: auto; }
  th { position: static; }
}
`;
