// MathJax 3 settings for pymdownx.arithmatex (generic mode): typeset only what arithmatex
// marked, with the SVG output, whose glyphs travel inside tex-svg-full.js (no font files).
// The script itself is served from this site (docs/hooks/mathjax.py), never from a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
  svg: { fontCache: "global" },
};
