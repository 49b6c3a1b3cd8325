// loop.mjs - the dashboard's follow-up cases and webhook endpoint health (issue 12) in
// headless Chromium, reported as facts for tests/integration/test_dashboard_loop.py.
//
//   node loop.mjs '{"base": "http://127.0.0.1:PORT", "width": 390, "keys": {"admin": ..,
//                   "agent": .., "read": ..}, "work": 12, "shots": {"agent": "a.png", ...}}'
//
// Three visits (or job.only: those keys' visits, without steps), each in a fresh browser profile: an agent key (reads the cases, pages on,
// chooses a touchpoint, marks case `work` contacted and then closed), a read key (sees the
// cases without buttons, then reloads) and an admin key (sees the endpoints' health, then
// reloads). Each visit: axe-core (WCAG 2.1 A/AA), the console, CSP
// violations, failed requests and the page's width.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const job = JSON.parse(process.argv[2]);
const W = job.width, H = W < 700 ? 844 : 1000;
const out = { width: W };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

async function open(key) {
  const ctx = await browser.newContext({ viewport: { width: W, height: H }, deviceScaleFactor: 1,
                                         isMobile: W < 700, hasTouch: W < 700 });
  const page = await ctx.newPage();
  const log = { console: [], failed: [], requests: [] };
  page.on("console", m => { if (m.type() === "error" || m.type() === "warning") log.console.push(m.type() + ": " + m.text()); });
  page.on("pageerror", e => log.console.push("pageerror: " + e.message));
  page.on("request", r => log.requests.push(r.method() + " " + r.url()));
  page.on("response", r => { if (r.status() >= 400) log.failed.push(r.status() + " " + r.request().method() + " " + new URL(r.url()).pathname); });
  page.on("requestfailed", r => log.failed.push("failed " + r.url() + " " + (r.failure() || {}).errorText));
  await page.addInitScript(() => {
    window.__cls = 0;
    new PerformanceObserver(l => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; })
      .observe({ type: "layout-shift", buffered: true });
    document.addEventListener("securitypolicyviolation", e => { window.__csp = (window.__csp || []).concat(e.violatedDirective + " " + e.blockedURI); });
  });
  await page.goto(job.base + "/#key=" + key, { waitUntil: "load" });
  await ready(page);
  return { ctx, page, log };
}
const ready = page => page.waitForSelector("body[data-ready='1']", { timeout: 30000 });
const casesIn = page => page.waitForSelector("#cases[data-state='ready']", { state: "attached", timeout: 30000 });
const api = (log, n) => log.requests.slice(n).filter(u => u.includes("/v1/")).map(u => { const [m, x] = u.split(" "); const p = new URL(x); return m + " " + p.pathname + p.search; });

async function axe(page) {
  await page.evaluate(AXE);   // (evaluated by the driver, so the page's CSP does not apply)
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
                                    first: v.nodes.slice(0, 3).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").slice(0, 200)) }));
  });
}

/* What the cases and endpoints cards show, in CSS pixels where it matters. */
function facts() {
  const box = e => { const r = e.getBoundingClientRect(); return { l: r.left, r: r.right, t: r.top, b: r.bottom, w: r.width, h: r.height }; };
  const text = (e, sel) => { const x = e.querySelector(sel); return x ? x.textContent : null; };
  const vis = id => { const e = document.getElementById(id); return !!e && !e.closest("[hidden]") && e.getClientRects().length > 0; };
  return {
    viewport: innerWidth, scrollWidth: document.documentElement.scrollWidth,
    cases: [...document.querySelectorAll("#cases .case")].map(li => ({
      id: Number(li.dataset.id), status: li.dataset.status, state: text(li, ".state"), age: text(li, ".age .words"),
      who: text(li, ".who"), comment: text(li, "q"), meta: text(li, ".meta"), error: text(li, ".rowerr"),
      buttons: [...li.querySelectorAll(".actions button")].map(b => b.textContent + (b.disabled ? " (disabled)" : "")),
      box: box(li),
    })),
    casesScope: document.getElementById("cases-scope").textContent,
    casesCount: document.getElementById("cases-count").textContent,
    casesNote: vis("cases-note") ? document.getElementById("cases-note").textContent : null,
    casesMore: vis("cases-more"),
    casesCard: box(document.getElementById("cases-card")), commentsCard: box(document.getElementById("comments-card")),
    endpointsShown: vis("endpoints-card"),
    endpoints: [...document.querySelectorAll("#endpoints .endpoint")].map(li => ({
      id: li.dataset.id, state: li.dataset.state, badges: [...li.querySelectorAll(".state")].map(b => b.textContent),
      why: text(li, ".why"), figures: Object.fromEntries([...li.querySelectorAll(".figs div")].map(d => [d.querySelector("dt").textContent, d.querySelector("dd").textContent])),
      lastError: text(li, ".lasterr"), box: box(li),
    })),
    endpointsCount: document.getElementById("endpoints-count").textContent,
    wide: [...document.querySelectorAll("#cases-card *, #endpoints-card *")].filter(e => { const r = e.getBoundingClientRect(); return r.width && (r.right > innerWidth + 0.5 || r.left < -0.5); }).map(e => e.tagName + "." + e.className),
    cls: window.__cls, csp: window.__csp || [], errors: document.body.dataset.errors, banner: document.getElementById("banner").textContent,
  };
}

async function visit(role, steps) {
  const { ctx, page, log } = await open(job.keys[role]);
  await casesIn(page);
  await page.waitForTimeout(300);
  const r = out[role] = { first: api(log, 0), ...(await page.evaluate(facts)) };
  r.axe = await axe(page);
  if (job.shots && job.shots[role]) await page.screenshot({ path: job.shots[role], fullPage: true });
  await page.evaluate(() => { document.querySelector("header").style.position = "static"; });   // (not over a card)
  for (const card of ["cases", "endpoints"])   // a card alone, to look at closely
    if (job.shots && job.shots[role + "-" + card]) await page.locator("#" + card + "-card").screenshot({ path: job.shots[role + "-" + card] });
  await page.evaluate(() => { document.querySelector("header").style.position = ""; });
  if (steps) await steps(page, log, r);
  r.console = log.console.slice();
  r.failed = log.failed.slice();
  await ctx.close();
}

/* The agent: pages on, chooses a touchpoint, works one case. */
async function agent(page, log, r) {
  let n = log.requests.length;
  if (r.casesMore) {
    await page.click("#cases-more");
    await page.waitForFunction(k => document.querySelectorAll("#cases .case").length > k, r.cases.length);
    await casesIn(page);
  }
  r.more = { requests: api(log, n), ...(await page.evaluate(facts)) };
  // mark the case contacted, then closed, with the keyboard and the mouse
  const row = "#case-" + job.work;
  await page.locator(row).scrollIntoViewIfNeeded();
  r.before = await page.evaluate(facts);
  // (done when the card's status line changes: "Case N is now ...", or why not)
  const said = () => page.locator("#cases-count").textContent();
  const saysMore = prev => page.waitForFunction(p => document.getElementById("cases-count").textContent !== p, prev, { timeout: 20000 });
  n = log.requests.length;
  let prev = await said();
  await page.locator(row + " button[data-to=contacted]").focus();
  await page.keyboard.press("Enter");
  await saysMore(prev);
  r.contacted = { requests: api(log, n), focused: await page.evaluate(() => document.activeElement.textContent + "|" + (document.activeElement.closest(".case") || {}).id),
                  status: await page.locator("#cases-count").textContent(), ...(await page.evaluate(facts)) };
  n = log.requests.length;
  prev = await said();
  await page.click(row + " button[data-to=closed]");
  await saysMore(prev);
  r.closed = { requests: api(log, n), focused: await page.evaluate(() => document.activeElement.id),
               status: await page.locator("#cases-count").textContent(), ...(await page.evaluate(facts)) };
  r.consoleWorked = log.console.slice();
  // a refused change says why in words (the case is gone: job.missing was never made)
  await page.evaluate(id => {   // a row for a case id the server does not have, as a stale page would
    const li = document.querySelector("#cases .case");
    const copy = li.cloneNode(true);
    copy.id = "case-" + id; copy.dataset.id = String(id);
    document.getElementById("cases").append(copy);
  }, job.missing);
  // (a cloned row has no listeners: ask the page's own code to change it)
  n = log.requests.length;
  await page.evaluate(id => setStatus({ id, status: "open" }, "contacted"), job.missing);
  await page.waitForFunction(id => document.querySelector("#case-" + id + " .rowerr").textContent !== "", job.missing);
  r.refused = { requests: api(log, n), error: await page.locator("#case-" + job.missing + " .rowerr").textContent() };
  // a touchpoint chosen on the heat map: its cases only
  n = log.requests.length;
  await page.click("#heat button.tile[data-touchpoint='" + job.touchpoint + "']");
  await page.waitForFunction(tp => document.getElementById("cases-scope").textContent.includes(tp), job.touchpoint);
  await casesIn(page);
  r.tile = { requests: api(log, n), ...(await page.evaluate(facts)) };
  r.axeAfter = await axe(page);
}

/* A reload: what it asks (GET /v1/keys/self once more, nothing refused) and shows. */
async function reload(page, log, r) {
  const n = log.requests.length;
  await page.reload();
  await ready(page);
  await casesIn(page);
  r.reload = { requests: api(log, n), ...(await page.evaluate(facts)) };
  r.consoleAfterReload = log.console.slice();
}

try {
  const steps = { agent, read: reload, admin: reload };
  for (const role of job.only || Object.keys(steps)) await visit(role, job.only ? null : steps[role]);
} catch (e) {
  out.crash = String(e && e.stack || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
