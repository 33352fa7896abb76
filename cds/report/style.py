"""The report's stylesheet, inlined into the page.

Kept as a Python string rather than a .css file so it ships with the package without any
package-data configuration. System fonts only: the page must render with no network.
Colour pairs are chosen for WCAG AA contrast (4.5:1 for text); meaning never rests on
colour alone (verdicts are words, timeline bars also have patterns and dashes).
"""

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #FFFFFF; color: #1A1A1A;
  font: 15px/1.45 system-ui, -apple-system,
    "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 40px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #D0D0D0; }
h3 { font-size: 1.05rem; margin: 18px 0 6px; }
h4, .finding h3 { font-size: 1rem; margin: 0 0 4px; }
a { color: #0B4F9C; }
code { font: 0.88em/1.3 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  background: #F2F2F2; color: #1A1A1A; padding: 0 3px; border-radius: 3px; word-break: break-all; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 24px; margin: 6px 0 0; padding: 0; }
.facts div { display: flex; gap: 6px; }
.facts dt { font-weight: 600; color: #3D3D3D; }
.facts dd { margin: 0; }
.verdicts {
  display: grid;
  grid-template-columns: repeat(auto-fit, minmax(300px, 1fr));
  gap: 12px;
  margin-top: 8px;
}
.verdict { border: 1px solid #BDBDBD; border-left-width: 8px; border-radius: 4px; padding: 10px 14px; }
.verdict h3 { margin: 0 0 4px; }
.verdict .word {
  display: inline-block;
  font-weight: 700;
  font-size: 1.15rem;
  padding: 1px 8px;
  border-radius: 3px;
}
.verdict ul { margin: 6px 0 0; padding-left: 20px; }
.v-appropriate { border-left-color: #1B7A3D; } .v-appropriate .word { background: #E3F4EA; color: #0B5D2A; }
.v-use-with-caution { border-left-color: #B86E00; }
.v-use-with-caution .word { background: #FFF1D1; color: #6E4200; }
.v-contraindicated { border-left-color: #B3261E; }
.v-contraindicated .word { background: #FBE1E0; color: #8A1C16; }
.v-not-indicated { border-left-color: #6B6B6B; }
.v-not-indicated .word { background: #ECECEC; color: #333333; }
.v-insufficient-data { border-left-color: #2F5D9A; }
.v-insufficient-data .word { background: #E3ECF8; color: #1F3F6E; }
.finding {
  border: 1px solid #D0D0D0;
  border-left-width: 6px;
  border-radius: 4px;
  padding: 8px 12px;
  margin: 8px 0;
}
.sev-absolute { border-left-color: #B3261E; } .sev-relative { border-left-color: #B86E00; }
.sev-info { border-left-color: #6B6B6B; } .gap { border-left-color: #2F5D9A; }
.meta { color: #4A4A4A; font-size: 0.88rem; margin: 0 0 4px; }
.obtain { font-weight: 600; }
.finding p, .finding .line { margin: 4px 0; }
.verdict .word-line { margin: 0; }
.refs { display: inline; margin: 0; padding: 0; list-style: none; }
.refs li { display: inline; margin-right: 6px; }
.muted { color: #4A4A4A; }
.chart { overflow-x: auto; }
svg.defs { position: absolute; }
svg.timeline { display: block; width: 100%; height: auto; max-width: 1100px; }
svg.timeline text { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; fill: #1A1A1A; }
svg.timeline .tick { font-size: 11px; fill: #3D3D3D; }
svg.timeline .tick-small { font-size: 9px; fill: #3D3D3D; }
svg.timeline .lane-name { font-size: 12px; font-weight: 600; }
svg.timeline .empty { font-size: 11px; font-style: italic; fill: #4A4A4A; }
/* A white halo keeps label text legible over any fill or pattern. */
svg.timeline .bar-label { font-size: 11px; paint-order: stroke; stroke: #FFFFFF; stroke-width: 3px;
  stroke-linejoin: round; }
svg.timeline .grid { stroke: #E2E2E2; stroke-width: 1; }
svg.timeline .sep { stroke: #C8C8C8; stroke-width: 1; }
svg.timeline .ref { stroke: #9A9A9A; stroke-width: 0.8; stroke-dasharray: 3 3; }
svg.timeline .today { stroke: #1A1A1A; stroke-width: 1.4; stroke-dasharray: 5 3; }
svg.timeline .series { fill: none; stroke-width: 1.2; }
svg.timeline polyline.sys { stroke: #8A1C16; } svg.timeline circle.sys { fill: #8A1C16; }
svg.timeline polyline.dia { stroke: #1F3F6E; stroke-dasharray: 4 2; }
svg.timeline rect.dia { fill: #FFFFFF; stroke: #1F3F6E; stroke-width: 1.4; }
svg.timeline polyline.phq { stroke: #4B2A7A; } svg.timeline circle.phq { fill: #4B2A7A; }
.legend {
  display: flex;
  flex-wrap: wrap;
  gap: 4px 18px;
  margin: 8px 0;
  padding: 0;
  list-style: none;
  font-size: 0.88rem;
}
.legend li { display: flex; align-items: center; gap: 6px; }
.legend svg { flex: none; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #CFCFCF; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #F0F0F0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.calendar td { width: 12%; }
table.calendar td.session { background: #E3ECF8; font-weight: 600; }
table.calendar .date { display: block; font-weight: 400; color: #3D3D3D; }
footer { margin-top: 32px; font-size: 0.85rem; color: #4A4A4A; }
@media print {
  @page { size: A4; margin: 12mm; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  .verdict, .finding, tr, svg.timeline { break-inside: avoid; }
  .chart { overflow: visible; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: #1A1A1A; }
  a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 8pt; word-break: break-all; }
}
"""
