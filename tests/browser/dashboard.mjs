// dashboard.mjs - drive the cxd dashboard in headless Chromium and report what it did.
//
//   node dashboard.mjs '{"base": "http://127.0.0.1:PORT", "width": 390, "keys": {...}, "shot": "x.png"}'
//
// It measures and prints one JSON object (facts, not verdicts): tests/integration/
// test_dashboard.py starts cxd, runs this at each width and asserts on the facts. Keys:
// read, ingest, wrong (a well-formed secret nobody issued), revoked; typeTo: a date to type
// into "To"; layoutOnly: just load with the read key, measure, audit and screenshot.
// Debian's chromium, playwright-core to drive it, axe-core (WCAG 2.1 A/AA) to audit it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const job = JSON.parse(process.argv[2]);
const W = job.width, H = job.height || (W < 700 ? 844 : 1000);
const out = { width: W };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

/* A fresh browser profile per scenario (no key remembered), with everything it logs. */
async function open(fragment) {
  const ctx = await browser.newContext({ viewport: { width: W, height: H }, acceptDownloads: true,
                                         deviceScaleFactor: 1, isMobile: W < 700, hasTouch: W < 700 });
  const page = await ctx.newPage();
  const log = { console: [], dialogs: 0, failed: [], requests: [], csp: 0, forbidden: [] };
  page.on("console", m => { if (m.type() === "error" || m.type() === "warning") log.console.push(m.type() + ": " + m.text()); });
  page.on("pageerror", e => log.console.push("pageerror: " + e.message));
  page.on("dialog", d => { log.dialogs++; d.dismiss().catch(() => {}); });
  page.on("request", r => log.requests.push(r.url()));
  page.on("response", r => { if (r.status() === 404 || r.status() >= 500) log.failed.push(r.status() + " " + r.url()); });
  page.on("response", r => { if (r.status() === 403) log.forbidden.push(r.request().method() + " " + new URL(r.url()).pathname); });
  page.on("requestfailed", r => log.failed.push("failed " + r.url() + " " + (r.failure() || {}).errorText));
  await page.addInitScript(() => {
    window.__cls = 0;
    new PerformanceObserver(l => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; })
      .observe({ type: "layout-shift", buffered: true });
    document.addEventListener("securitypolicyviolation", e => { window.__csp = (window.__csp || []).concat(e.violatedDirective + " " + e.blockedURI); });
  });
  const t0 = Date.now();
  await page.goto(job.base + "/" + (fragment ? "#key=" + fragment : ""), { waitUntil: "load" });
  return { ctx, page, log, t0 };
}

async function axe(page) {
  await page.evaluate(AXE);   // (evaluated by the driver, so the page's CSP does not apply)
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
                                    first: v.nodes.slice(0, 3).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").slice(0, 200)) }));
  });
}

/* The key form after the page settles: shown? why? */
async function keyScenario(fragment) {
  const { ctx, page, log, t0 } = await open(fragment);
  let state = null;
  try {
    await page.waitForSelector("body[data-state=key]", { timeout: 10000 });
    state = "key";
  } catch (e) {
    state = await page.evaluate(() => document.body.dataset.state);
  }
  const r = await page.evaluate(() => ({
    form: !document.getElementById("keycard").hidden && !!document.getElementById("key-input").offsetParent,
    reason: document.getElementById("key-reason").textContent,
    dash: !document.getElementById("dash").hidden,
    focused: document.activeElement && document.activeElement.id,
    fragmentLeft: location.hash,
  }));
  const res = { state, ms: Date.now() - t0, dialogs: log.dialogs, ...r };
  if (!fragment) res.axe = await axe(page);
  await ctx.close();
  return res;
}

/* Geometry of the ready page, in CSS pixels. */
function measure() {
  const box = e => { const r = e.getBoundingClientRect(); return { l: r.left, r: r.right, t: r.top, b: r.bottom, w: r.width, h: r.height }; };
  const svgFacts = id => {
    const svg = document.getElementById(id);
    return { box: box(svg), texts: [...svg.querySelectorAll("text")].map(t => ({ text: t.textContent, cls: t.getAttribute("class"), ...box(t) })) };
  };
  const marks = [...document.querySelectorAll("#journey .stage-mark")].map(g => ({
    stage: g.dataset.stage,
    label: g.querySelector(".stage-label") && { text: g.querySelector(".stage-label").textContent, ...box(g.querySelector(".stage-label")) },
    dot: g.querySelector(".dot") && box(g.querySelector(".dot")),
    caps: [...g.querySelectorAll(".cap")].map(box),
    whisker: g.querySelector(".whisker") && box(g.querySelector(".whisker")),
    capsOnTop: !!g.querySelector(".dot ~ .cap"),
  }));
  return {
    viewport: { w: innerWidth, h: innerHeight }, scrollWidth: document.documentElement.scrollWidth,
    journey: svgFacts("journey"), trend: svgFacts("trend"), marks,
    from: document.getElementById("from").value, to: document.getElementById("to").value,
    pressed: [...document.querySelectorAll(".presets .btn")].map(b => b.dataset.days + ":" + b.getAttribute("aria-pressed")),
    tiles: [...document.querySelectorAll("#heat .tile")].map(t => ({ tag: t.tagName, touchpoint: t.dataset.touchpoint, stage: t.dataset.stage, text: t.textContent })),
    pains: [...document.querySelectorAll("#pains .pain")].map(p => ({ tag: p.tagName, touchpoint: p.dataset.touchpoint, stage: p.dataset.stage, text: p.textContent })),
    comments: [...document.querySelectorAll("#comments .comment .meta")].map(m => m.textContent),
    banner: document.getElementById("banner").textContent, bannerRole: document.getElementById("banner").getAttribute("role"),
    tables: ["journey-table", "trend-table"].map(id => document.querySelectorAll("#" + id + " tbody tr").length),
    channels: [...document.querySelectorAll("#channel option")].map(o => o.value).filter(Boolean),
    segments: [...document.querySelectorAll("#segment option")].map(o => o.value).filter(Boolean),
    cls: window.__cls, csp: window.__csp || [], errors: document.body.dataset.errors,
    kpiSub: document.getElementById("k-n-sub").textContent,
  };
}

const ready = page => page.waitForSelector("body[data-ready='1']", { timeout: 20000 });
const settle = page => page.waitForTimeout(900).then(() => ready(page));
const commentsIn = page => page.waitForSelector("#comments[data-state='ready']", { timeout: 20000 });
/* The API requests a step made (path and query), from a log position. */
const since = (log, n) => log.requests.slice(n).filter(u => u.includes("/v1/")).map(u => { const x = new URL(u); return x.pathname + x.search; });

async function readScenario() {
  const { ctx, page, log, t0 } = await open(job.keys.read);
  await ready(page);
  await page.waitForTimeout(300);
  out.read = { ms: Date.now() - t0, dialogs: log.dialogs, first: since(log, 0), ...(await page.evaluate(measure)) };
  out.read.consoleBefore = log.console.slice();
  out.read.failedBefore = log.failed.slice();
  out.read.forbidden = log.forbidden.slice();
  out.read.axe = await axe(page);
  if (job.shot) await page.screenshot({ path: job.shot, fullPage: true });
  if (job.layoutOnly) { await ctx.close(); return; }

  const steps = out.steps = {};
  let n;
  // a heat-map tile, clicked: that touchpoint's comments
  const tile = page.locator("#heat button.tile").nth(2);
  const tp = { stage: await tile.getAttribute("data-stage"), touchpoint: await tile.getAttribute("data-touchpoint") };
  n = log.requests.length;
  await tile.click();
  await page.waitForFunction(tp => document.getElementById("comments-scope").textContent.includes(tp.touchpoint), tp);
  await commentsIn(page);
  steps.tile = { ...tp, requests: since(log, n), comments: (await page.evaluate(measure)).comments,
                 focused: await page.evaluate(() => document.activeElement.id) };
  // more comments: the next page, by cursor
  n = log.requests.length;
  const before = steps.tile.comments.length;
  if (await page.locator("#comments-more").isVisible()) {
    await page.click("#comments-more");
    await page.waitForFunction(b => document.querySelectorAll("#comments .comment").length > b, before);
  }
  steps.more = { before, after: await page.locator("#comments .comment").count(), requests: since(log, n) };
  // a pain point, by keyboard: focus it and press Enter
  const pain = page.locator("#pains .pain").first();
  const pt = { stage: await pain.getAttribute("data-stage"), touchpoint: await pain.getAttribute("data-touchpoint") };
  n = log.requests.length;
  await pain.focus();
  await page.keyboard.press("Enter");
  await page.waitForFunction(tp => document.getElementById("comments-scope").textContent.includes(tp.touchpoint), pt);
  await commentsIn(page);
  steps.pain = { ...pt, requests: since(log, n), comments: (await page.evaluate(measure)).comments };
  // reachable by Tab: walk the focus order and note what gets it
  await page.focus("#survey");
  const seen = new Set();
  for (let i = 0; i < 50; i++) {
    await page.keyboard.press("Tab");
    seen.add(await page.evaluate(() => { const a = document.activeElement; return a.className + "|" + (a.dataset.touchpoint || a.id || ""); }));
  }
  steps.tab = [...seen];
  // channel and segment filters
  n = log.requests.length;
  const channel = out.read.channels[0], segment = out.read.segments[0];
  await page.selectOption("#channel", channel);
  await settle(page);
  await page.selectOption("#segment", segment);
  await settle(page);
  await commentsIn(page);
  steps.filters = { channel, segment, requests: since(log, n), comments: (await page.evaluate(measure)).comments };
  await page.selectOption("#channel", "");
  await page.selectOption("#segment", "");
  await settle(page);
  // typing a date: one load when it is committed, not one per keystroke
  n = log.requests.length;
  const [y, m, d] = job.typeTo.split("-");
  await page.focus("#to");   // (its month: typing a whole date passes through other valid ones)
  for (const k of [m, d, y].join("")) { await page.keyboard.type(k); await page.waitForTimeout(30); }
  await page.waitForTimeout(1500);
  await ready(page);
  steps.typed = { requests: since(log, n), ...(await page.evaluate(measure)) };
  // the CSV export
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }), page.click("#export")]);
  const csv = readFileSync(await dl.path(), "utf8");
  steps.export = { name: dl.suggestedFilename(), lines: csv.split("\r\n").filter(Boolean).length, head: csv.slice(0, 200),
                   status: await page.locator("#export-status").textContent() };
  // 90 days, then back to 30
  n = log.requests.length;
  await page.click(".presets .btn[data-days='90']");
  await settle(page);
  steps.ninety = { requests: since(log, n), ...(await page.evaluate(measure)) };
  out.read.consoleAfter = log.console.slice();
  out.read.failedAfter = log.failed.slice();
  out.read.forbiddenAfter = log.forbidden.slice();
  out.read.selfAsked = since(log, 0).filter(p => p === "/v1/keys/self").length;   // the role: once per load
  // a failed load shows the banner; the next good load clears it
  let once = true;
  await page.route("**/journey?**", route => {
    if (once) { once = false; return route.fulfill({ status: 500, contentType: "application/json",
      body: JSON.stringify({ error: { code: "internal", message: "injected failure", field: null } }) }); }
    return route.continue();
  });
  await page.click(".presets .btn[data-days='30']");
  await page.waitForFunction(() => document.getElementById("banner").textContent !== "");
  steps.banner = { shown: await page.locator("#banner").textContent(), visible: await page.locator("#banner").isVisible() };
  await page.click(".presets .btn[data-days='90']");
  await settle(page);
  steps.banner.after = await page.locator("#banner").textContent();
  steps.banner.visibleAfter = await page.locator("#banner").isVisible();
  await page.unroute("**/journey?**");
  // change key: an ingest key is refused with a reason and the data stays; a read key works
  await page.click("#changekey");
  steps.change = { form: await page.locator("#keycard").isVisible(), focused: await page.evaluate(() => document.activeElement.id) };
  await page.fill("#key-input", job.keys.ingest);
  await page.click("#keyform button[type=submit]");
  await page.waitForFunction(() => /ingest/.test(document.getElementById("key-reason").textContent));
  steps.change.ingestReason = await page.locator("#key-reason").textContent();
  steps.change.dashStill = await page.locator("#dash").isVisible();
  await page.fill("#key-input", job.keys.read);
  await page.click("#keyform button[type=submit]");
  await page.waitForFunction(() => document.getElementById("keycard").hidden);
  await settle(page);
  steps.change.after = await page.evaluate(() => document.body.dataset.state);
  out.read.dialogsEnd = log.dialogs;
  await ctx.close();
}

/* Declared touchpoints nobody has answered yet (n = 0) render as such. */
async function emptyCells() {
  const { ctx, page } = await open(job.keys.read);
  await page.route("**/journey?**", async route => {
    const r = await route.fetch(), j = await r.json();
    j.stages[0].touchpoints.push({ touchpoint: "kiosk", responses: 0, nps: null, csat: null, ces: null, change: { nps: null, csat: null, ces: null } });
    j.stages[j.stages.length - 1].touchpoints = [];
    j.stages[j.stages.length - 1].responses = 0;
    for (const m of ["nps", "csat", "ces"]) j.stages[j.stages.length - 1][m] = null;
    await route.fulfill({ response: r, json: j });
  });
  await page.reload();
  await ready(page);
  out.empty = await page.evaluate(() => [...document.querySelectorAll("#heat .tile.empty")].map(t => ({ tag: t.tagName, text: t.textContent })));
  out.emptyErrors = await page.evaluate(() => document.body.dataset.errors);
  await ctx.close();
}

try {
  if (!job.layoutOnly) {
    out.nokey = await keyScenario("");
    out.wrong = await keyScenario(job.keys.wrong);
    out.revoked = await keyScenario(job.keys.revoked);
    out.ingest = await keyScenario(job.keys.ingest);
  }
  await readScenario();
  if (!job.layoutOnly) await emptyCells();
} catch (e) {
  out.crash = String(e && e.stack || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
