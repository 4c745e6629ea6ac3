// Small inline SVG charts drawn with DOM calls: no library and no network, because the console
// must work in an inspection hall without internet. Bars are counts on the left axis; lines are
// rates (0–1) on the right axis; an optional band shades an interval around a line.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so that axis labels are round.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function countStep(v) {
    if (!(v > 1)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p && Number.isInteger(m * p)) return m * p;
    return 10 * p;
  }

  // chart draws into box. spec: {labels: [...], bars: {values, label}, lines: [{values, label,
  // cls, lo, hi}], height, rateMax, format(v) for rate ticks, testid}. Every series has one value
  // per label; null leaves a gap in a line.
  function chart(box, spec) {
    box.replaceChildren();
    const W = Math.max(320, box.clientWidth || 720), H = spec.height || 220;
    const m = { l: 48, r: spec.lines && spec.lines.length && !spec.sameAxis ? 48 : 12, t: 14, b: 34 };
    const iw = W - m.l - m.r, ih = H - m.t - m.b;
    const n = spec.labels.length;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart", role: "img",
      "aria-label": spec.title || "", "data-testid": spec.testid || "chart" });
    if (n === 0) { box.append(root); return root; }
    const step = iw / n;
    const x = (i) => m.l + step * (i + 0.5);
    const bars = spec.bars ? spec.bars.values : [];
    const lineVals = (spec.lines || []).flatMap((l) => (l.hi || l.values).filter((v) => typeof v === "number"));
    // Counts are whole: the axis is four whole ticks of a round step (1, 2, 2.5, 5 × 10ⁿ, at
    // least 1). With sameAxis the lines are counts too and share the bars' axis.
    const bmax = 4 * countStep(Math.max(0, ...bars.filter((v) => typeof v === "number"), ...(spec.sameAxis ? lineVals : [])) / 4);
    const rmax = spec.rateMax || niceMax(Math.max(0.01, ...lineVals));
    const yb = (v) => m.t + ih - (v / bmax) * ih;
    const yr = spec.sameAxis ? yb : (v) => m.t + ih - (Math.min(v, rmax) / rmax) * ih;

    // Grid and axes.
    for (let k = 0; k <= 4; k++) {
      const y = m.t + ih - (ih * k) / 4;
      root.append(svg("line", { x1: m.l, x2: m.l + iw, y1: y, y2: y, class: "grid-line" }));
      if (spec.bars) root.append(svg("text", { x: m.l - 6, y: y + 4, class: "tick tick-left" }, fmtCount((bmax * k) / 4)));
      if (spec.lines && spec.lines.length && !spec.sameAxis) root.append(svg("text", { x: m.l + iw + 6, y: y + 4, class: "tick tick-right" }, (spec.format || pct)((rmax * k) / 4)));
    }
    const every = Math.max(1, Math.ceil(n / Math.floor(iw / 64)));
    for (let i = 0; i < n; i += every) {
      root.append(svg("text", { x: x(i), y: H - m.b + 16, class: "tick tick-x" }, spec.labels[i]));
    }

    // Bars.
    const bw = Math.max(2, Math.min(28, step * 0.6));
    bars.forEach((v, i) => {
      if (typeof v !== "number") return;
      const r = svg("rect", { x: x(i) - bw / 2, y: yb(v), width: bw, height: Math.max(0, m.t + ih - yb(v)), class: "bar-count", "data-value": v });
      r.append(svg("title", {}, spec.labels[i] + " · " + spec.bars.label + " " + fmtCount(v)));
      root.append(r);
    });

    // Bands, then lines with dots.
    for (const l of spec.lines || []) {
      if (l.lo && l.hi) {
        let d = "";
        const idx = l.values.map((v, i) => i).filter((i) => typeof l.lo[i] === "number" && typeof l.hi[i] === "number");
        idx.forEach((i, k) => { d += (k ? "L" : "M") + x(i) + " " + yr(l.hi[i]); });
        idx.slice().reverse().forEach((i) => { d += "L" + x(i) + " " + yr(l.lo[i]); });
        if (idx.length > 1) root.append(svg("path", { d: d + "Z", class: "band " + (l.cls || "") }));
      }
      let d = "", pen = false;
      l.values.forEach((v, i) => {
        if (typeof v !== "number") { pen = false; return; }
        d += (pen ? "L" : "M") + x(i) + " " + yr(v);
        pen = true;
      });
      if (d) root.append(svg("path", { d, class: "line " + (l.cls || "") }));
      l.values.forEach((v, i) => {
        if (typeof v !== "number") return;
        const c = svg("circle", { cx: x(i), cy: yr(v), r: 3, class: "dot " + (l.cls || "") });
        c.append(svg("title", {}, spec.labels[i] + " · " + l.label + " " + (spec.sameAxis ? fmtCount(v) : (spec.format || pct)(v))));
        root.append(c);
      });
    }
    root.append(svg("line", { x1: m.l, x2: m.l + iw, y1: m.t + ih, y2: m.t + ih, class: "axis" }));
    box.append(root);

    // Legend under the chart.
    const legend = document.createElement("div");
    legend.className = "legend";
    const key = (cls, label) => {
      const s = document.createElement("span");
      s.className = "key";
      const sw = document.createElement("i");
      sw.className = "swatch " + cls;
      s.append(sw, label);
      return s;
    };
    if (spec.bars) legend.append(key("swatch-bar", spec.bars.label));
    for (const l of spec.lines || []) legend.append(key("swatch-line " + (l.cls || ""), l.label));
    box.append(legend);
    return root;
  }

  // intervals draws proportions with their intervals as horizontal whiskers on one 0–max axis:
  // items [{label, rate, lo, hi, cls, testid}].
  function intervals(box, items, opts) {
    box.replaceChildren();
    const W = Math.max(300, box.clientWidth || 480), row = 30;
    const m = { l: 110, r: 20, t: 8, b: 26 };
    const H = m.t + m.b + row * items.length;
    const iw = W - m.l - m.r;
    const max = niceMax(Math.max(0.01, ...items.map((x) => x.hi || x.rate || 0)));
    const x = (v) => m.l + (Math.min(v, max) / max) * iw;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart", role: "img", "data-testid": (opts && opts.testid) || "intervals" });
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      root.append(svg("line", { x1: x(v), x2: x(v), y1: m.t, y2: H - m.b, class: "grid-line" }));
      root.append(svg("text", { x: x(v), y: H - m.b + 16, class: "tick tick-x" }, pct(v)));
    }
    items.forEach((it, i) => {
      const y = m.t + row * i + row / 2;
      root.append(svg("text", { x: m.l - 8, y: y + 4, class: "tick tick-left label" }, it.label));
      if (!it.n) {
        root.append(svg("text", { x: m.l + 4, y: y + 4, class: "tick" }, (opts && opts.none) || "—"));
        return;
      }
      root.append(svg("line", { x1: x(it.lo), x2: x(it.hi), y1: y, y2: y, class: "whisker " + (it.cls || "") }));
      for (const v of [it.lo, it.hi]) root.append(svg("line", { x1: x(v), x2: x(v), y1: y - 6, y2: y + 6, class: "whisker " + (it.cls || "") }));
      const c = svg("circle", { cx: x(it.rate), cy: y, r: 5, class: "dot-solid " + (it.cls || "") });
      c.append(svg("title", {}, it.label + " " + pct(it.rate) + " [" + pct(it.lo) + ", " + pct(it.hi) + "]"));
      root.append(c);
    });
    box.append(root);
    return root;
  }

  function pct(v) { return (v * 100).toFixed(v < 0.1 && v > 0 ? 1 : 0) + "%"; }
  function fmtCount(v) {
    if (v >= 10000) return (v / 1000).toFixed(0) + "k";
    if (v >= 1000) return (v / 1000).toFixed(1) + "k";
    return String(Math.round(v * 10) / 10);
  }

  window.PG_CHART = { chart, intervals, niceMax };
})();
