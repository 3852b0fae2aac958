import type { TokenOverlay } from '../analysis/token-overlay.js';
import { displayHtml, escapeHtml, scriptJson } from './html.js';
import { plural } from '../plural.js';
import { showToken, tokenJson } from './token-display.js';

/**
 * The token overlay on a page: an interactive view (a layer picker, a search box over the embedded
 * prompts, each token coloured by its top-1 expert at the picked layer, hovering a token shows its K
 * experts with their weights and its bytes) and a static form that prints (one row per layer for the
 * first few prompts). The script builds every token with textContent, so no user text is ever parsed as
 * markup, and it uses no eval; its data travels as JSON in a <script type="application/json">.
 */

export interface OverlayViewOptions {
  /** Items shown before anything is searched. */
  initial: number;
  /** Model layer picked first. */
  layer?: number;
  /** Items (and their first tokens) drawn in the static form. */
  staticItems?: number;
  staticTokens?: number;
  /** What an item is called in the counts, singular ("prompt", "sentence"). */
  noun?: string;
}

/** Matches of a search drawn at most, so a common word does not draw every embedded prompt. */
const maxMatches = 30;

/** The expert's colour: light enough for black text; experts of neighbouring ids far apart in hue (the golden angle). */
export function expertColour(expert: number): string {
  const hue = (expert * 137.508) % 360;
  return `hsl(${hue.toFixed(1)}, 70%, ${expert % 2 === 0 ? 80 : 68}%)`;
}

/** A special token (BOS and other added tokens) covers no text. */
const specialToken = '⟨special⟩';

/**
 * What the page's script reads: every token as contract.md's JSON form (its text, and `bytes_hex` where its
 * bytes are not UTF-8 alone), the experts and weights [tokens, L, K], and each expert's colour.
 */
export function overlayData(overlay: TokenOverlay, options: OverlayViewOptions) {
  const { layers, K, E, items } = overlay;
  return {
    layers,
    K,
    items: items.map(({ title, tokens, experts, weights, mark }) => ({
      title,
      tokens: tokens.map((bytes) => (bytes.length === 0 ? { text: specialToken } : tokenJson(bytes))),
      experts,
      weights,
      mark,
    })),
    colours: Array.from({ length: E }, (_, e) => expertColour(e)),
    initial: options.initial,
    maxMatches,
    noun: options.noun ?? 'prompt',
  };
}

/** The interactive view and the static form, as markup for a section's `html`. */
export function overlayHtml(overlay: TokenOverlay, options: OverlayViewOptions): string {
  const { layers } = overlay;
  const layer = options.layer !== undefined && layers.includes(options.layer) ? options.layer : layers[0];
  const data = overlayData(overlay, options);
  const colours = data.colours;
  const layerOptions = layers.map((l) => `<option value="${l}"${l === layer ? ' selected' : ''}>${l}</option>`).join('');
  const interactive = `<div class="overlay" data-overlay>
<div class="overlay-controls"><label>layer <select class="overlay-layer">${layerOptions}</select></label>
<label>search <input type="search" class="overlay-search" placeholder="text to find" size="28"></label>
<span class="overlay-count"></span></div>
<div class="overlay-legend"></div>
<div class="overlay-items"></div>
<div class="overlay-tip" role="tooltip"></div>
<script type="application/json" class="overlay-data">${scriptJson(data)}</script>
</div>`;
  return `${interactive}\n${staticOverlayHtml(overlay, colours, options.staticItems ?? 3, options.staticTokens ?? 40, options.noun ?? 'prompt')}`;
}

/**
 * The printable form: for the first prompts, one row per layer, each token coloured by its top-1 expert
 * there (the expert's number is in the token's title).
 */
function staticOverlayHtml(overlay: TokenOverlay, colours: string[], itemCount: number, tokenCount: number, noun: string): string {
  const { layers, K } = overlay;
  const L = layers.length;
  const tables = overlay.items.slice(0, itemCount).map((item) => {
    const shown = Math.min(item.tokens.length, tokenCount);
    const rows = layers.map((layer, l) => {
      const cells = item.tokens.slice(0, shown).map((token, t) => {
        const expert = item.experts[(t * L + l) * K];
        const marked = item.mark && t >= item.mark[0] && t <= item.mark[1] ? ' marked' : '';
        return `<span class="tok${marked}" style="background:${colours[expert]}" title="expert ${expert}">${tokenHtml(token)}</span>`;
      });
      return `<tr><th>${layer}</th><td>${cells.join('')}</td></tr>`;
    });
    const more = item.tokens.length > shown ? ` (first ${shown} of ${item.cut ?? item.tokens.length} tokens)` : '';
    return `<table class="overlay-static"><caption>${escapeHtml(item.title)}${more}</caption><thead><tr><th>layer</th><td></td></tr></thead><tbody>${rows.join('')}</tbody></table>`;
  });
  return `<details class="overlay-print" open><summary>Printable form: every layer for the first ${plural(tables.length, noun)}</summary>${tables.join('\n')}</details>`;
}

function tokenHtml(bytes: Uint8Array): string {
  return bytes.length === 0 ? escapeHtml(specialToken) : displayHtml(showToken({ id: 0, bytes }));
}

export const overlayStyles = `
.overlay-controls { display: flex; gap: 18px; align-items: center; margin: 8px 0; flex-wrap: wrap; }
.overlay-legend { display: flex; flex-wrap: wrap; gap: 4px 10px; font-size: 12px; margin: 4px 0 8px; }
.overlay-legend .swatch { display: inline-block; width: 14px; height: 14px; vertical-align: -2px; margin-right: 3px; border: 1px solid #0002; }
.overlay-item { margin: 6px 0 10px; }
.overlay-title { font-size: 12px; color: #555; }
.overlay-text, .overlay-static td { font: 14px/1.9 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.tok { padding: 1px 0; margin-right: 1px; border-radius: 2px; white-space: pre-wrap; }
.tok .ws { opacity: 0.45; }
.tok.marked { outline: 2px solid #000; font-weight: 700; }
.overlay-tip { position: fixed; display: none; background: #fff; border: 1px solid #999; box-shadow: 0 2px 6px #0003; padding: 6px 8px; font-size: 12px; max-width: 360px; z-index: 10; pointer-events: none; white-space: pre-line; }
.overlay-static { margin: 8px 0; }
.overlay-static caption { text-align: left; font-size: 12px; color: #555; }
.overlay-static th { font-size: 11px; width: 3em; }
.overlay-static td { font-size: 12px; line-height: 1.6; }
@media print { .overlay { display: none; } .overlay-print summary { display: none; } }
`;

/** Draws every [data-overlay] element from its JSON; plain DOM calls, no eval, no markup from data. */
export const overlayScript = `
(function () {
  function visibleText(text) {
    var parts = [];
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (c === ' ') parts.push([true, '\\u2423']);
      else if (c === '\\n') parts.push([true, '\\u21b5']);
      else if (c === '\\t') parts.push([true, '\\u21e5']);
      else if (c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127) parts.push([true, '\\\\x' + ('0' + c.charCodeAt(0).toString(16)).slice(-2)]);
      else parts.push([false, c]);
    }
    return parts;
  }
  function hexOf(text) {
    return Array.prototype.map.call(new TextEncoder().encode(text), function (b) { return ('0' + b.toString(16).toUpperCase()).slice(-2); }).join(' ');
  }
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  document.querySelectorAll('[data-overlay]').forEach(function (root) {
    var data = JSON.parse(root.querySelector('.overlay-data').textContent);
    var L = data.layers.length, K = data.K;
    var select = root.querySelector('.overlay-layer');
    var search = root.querySelector('.overlay-search');
    var list = root.querySelector('.overlay-items');
    var legend = root.querySelector('.overlay-legend');
    var count = root.querySelector('.overlay-count');
    var tip = root.querySelector('.overlay-tip');
    data.items.forEach(function (item) {
      item.search = (item.title + '\\n' + item.tokens.map(function (t) { return t.text; }).join('')).toLowerCase();
    });
    function draw() {
      var l = data.layers.indexOf(Number(select.value));
      var query = search.value.trim().toLowerCase();
      var items = query ? data.items.filter(function (item) { return item.search.indexOf(query) >= 0; }) : data.items.slice(0, data.initial);
      var embedded = data.items.length + ' embedded ' + data.noun + (data.items.length === 1 ? '' : 's');
      if (!query) count.textContent = 'the first ' + items.length + ' of ' + embedded;
      else count.textContent = items.length + ' of ' + embedded + (items.length === 1 ? ' matches' : ' match') + (items.length > data.maxMatches ? ', the first ' + data.maxMatches + ' shown' : '');
      items = items.slice(0, data.maxMatches);
      list.textContent = '';
      var seen = {};
      items.forEach(function (item) {
        var box = element('div', 'overlay-item');
        box.appendChild(element('div', 'overlay-title', item.title));
        var text = element('div', 'overlay-text');
        item.tokens.forEach(function (token, t) {
          var expert = item.experts[(t * L + l) * K];
          seen[expert] = (seen[expert] || 0) + 1;
          var span = element('span', 'tok');
          if (item.mark && t >= item.mark[0] && t <= item.mark[1]) span.className += ' marked';
          span.style.background = data.colours[expert];
          span.setAttribute('data-expert', String(expert));
          span.setAttribute('data-item', item.title);
          span.setAttribute('data-token', String(t));
          if (token.bytes_hex !== undefined) span.appendChild(element('span', 'bytes', token.bytes_hex));
          else visibleText(token.text).forEach(function (part) { span.appendChild(part[0] ? element('span', 'ws', part[1]) : document.createTextNode(part[1])); });
          span.__overlay = { item: item, t: t };
          text.appendChild(span);
          if (token.bytes_hex === undefined && token.text.indexOf('\\n') >= 0) text.appendChild(document.createElement('br'));
        });
        box.appendChild(text);
        list.appendChild(box);
      });
      legend.textContent = '';
      legend.appendChild(element('span', '', 'top-1 expert at layer ' + data.layers[l] + ' (tokens shown):'));
      Object.keys(seen).map(Number).sort(function (a, b) { return seen[b] - seen[a] || a - b; }).forEach(function (expert) {
        var entry = element('span', 'legend-entry');
        entry.setAttribute('data-expert', String(expert));
        var swatch = element('span', 'swatch');
        swatch.style.background = data.colours[expert];
        entry.appendChild(swatch);
        entry.appendChild(document.createTextNode(expert + ' (' + seen[expert] + ')'));
        legend.appendChild(entry);
      });
    }
    list.addEventListener('mouseover', function (event) {
      var span = event.target.closest ? event.target.closest('.tok') : null;
      if (!span || !span.__overlay) return;
      var item = span.__overlay.item, t = span.__overlay.t, token = item.tokens[t];
      var l = data.layers.indexOf(Number(select.value));
      var lines = ['token ' + JSON.stringify(token.text), 'bytes ' + (token.bytes_hex !== undefined ? token.bytes_hex : hexOf(token.text)), 'layer ' + data.layers[l] + ', experts (weight):'];
      for (var k = 0; k < K; k++) {
        var at = (t * L + l) * K + k;
        lines.push('  ' + item.experts[at] + (item.weights ? '  (' + item.weights[at] + ')' : ''));
      }
      tip.textContent = lines.join('\\n');
      tip.style.display = 'block';
      var box = span.getBoundingClientRect();
      tip.style.left = Math.min(box.left, window.innerWidth - 380) + 'px';
      tip.style.top = (box.bottom + 6) + 'px';
    });
    list.addEventListener('mouseout', function () { tip.style.display = 'none'; });
    select.addEventListener('change', draw);
    search.addEventListener('input', draw);
    draw();
  });
})();
`;
