// funnel.mjs - the dashboard's response funnel panel (issue 13) in headless Chromium,
// reported as facts for tests/integration/test_funnel.py (DashboardFunnelTest).
//
//   node funnel.mjs '{"base": "http://127.0.0.1:PORT", "width": 390, "key": "cxd_...",
//                     "visits": [{"name": "shop", "survey": "shop", "channel": "email",
//                                 "shot": "a.png", "cardShot": "b.png"}, ...]}'
//
// Each visit, in a fresh browser profile: /?survey=ID#key=KEY, wait for the page to be ready;
// optionally choose a channel (then wait again); report what the funnel card shows (its
// steps, its table cell by cell), whether it is shown at all, axe-core (WCAG 2.1 A/AA), the
// console, CSP violations, refused requests, the page's width and the funnel requests made.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const job = JSON.parse(process.argv[2]);
const W = job.width, H = W < 700 ? 844 : 1000;
const out = { width: W, visits: {} };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const ready = page => page.waitForSelector("body[data-ready='1']", { timeout: 30000 });

async function axe(page) {
  await page.evaluate(AXE);   // (evaluated by the driver, so the page's CSP does not apply)
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
                                    first: v.nodes.slice(0, 3).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").slice(0, 200)) }));
  });
}

function facts() {
  const card = document.getElementById("funnel-card");
  const shown = !card.hidden && card.getClientRects().length > 0;
  const part = (c, sel) => c.querySelector(sel) ? c.querySelector(sel).textContent : null;
  const cells = tr => [...tr.children].map(c => ({ tag: c.tagName, scope: c.getAttribute("scope"), full: c.textContent,
                                                  text: c.firstChild ? c.firstChild.textContent : "",
                                                  r: part(c, ".r"), small: part(c, "small") }));
  const table = document.querySelector("#funnel-table table");
  return {
    shown,
    scope: document.getElementById("funnel-scope").textContent,
    note: document.getElementById("funnel-note").textContent,
    steps: [...document.querySelectorAll("#funnel-steps .step")].map(li => ({
      step: li.dataset.step, name: li.querySelector("h3").textContent, count: li.querySelector(".count").textContent,
      rate: li.querySelector(".rate").textContent, ci: li.querySelector(".ci").textContent,
      bar: li.querySelector(".bar span").getBoundingClientRect().width / li.querySelector(".bar").getBoundingClientRect().width,
    })),
    table: table && !document.getElementById("funnel-table").hidden ? {
      caption: table.caption ? table.caption.textContent : null,
      head: [...table.tHead.rows[0].cells].map(c => ({ text: c.textContent, scope: c.getAttribute("scope"), tag: c.tagName })),
      body: [...table.tBodies[0].rows].map(r => ({ cls: r.className, cells: cells(r) })),
      foot: table.tFoot ? [...table.tFoot.rows].map(r => cells(r)) : [],
    } : null,
    viewport: innerWidth, scrollWidth: document.documentElement.scrollWidth,
    tableFits: (w => [w.scrollWidth, w.clientWidth])(document.getElementById("funnel-table")),
    wide: [...document.querySelectorAll("#funnel-card *")].filter(e => e.closest(".tablewrap") === null || e.classList.contains("tablewrap"))
      .filter(e => { const r = e.getBoundingClientRect(); return r.width && (r.right > innerWidth + 0.5 || r.left < -0.5); })
      .map(e => e.tagName + "." + e.className),
    csp: window.__csp || [], errors: document.body.dataset.errors, banner: document.getElementById("banner").textContent,
  };
}

async function visit(v) {
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
    document.addEventListener("securitypolicyviolation", e => { window.__csp = (window.__csp || []).concat(e.violatedDirective + " " + e.blockedURI); });
  });
  await page.goto(job.base + "/?survey=" + encodeURIComponent(v.survey) + "#key=" + job.key, { waitUntil: "load" });
  await ready(page);
  if (v.channel || v.segment) {
    await page.evaluate(() => { document.body.dataset.ready = "0"; });
    if (v.segment) await page.selectOption("#segment", v.segment);
    if (v.channel) {
      if (v.segment) { await ready(page); await page.evaluate(() => { document.body.dataset.ready = "0"; }); }
      await page.selectOption("#channel", v.channel);
    }
    await ready(page);
  }
  await page.waitForTimeout(200);
  const r = out.visits[v.name] = await page.evaluate(facts);
  r.axe = await axe(page);
  r.funnelRequests = log.requests.filter(u => u.includes("/funnel")).map(u => { const p = new URL(u.split(" ")[1]); return p.pathname + p.search; });
  if (v.shot) await page.screenshot({ path: v.shot, fullPage: true });
  if (v.cardShot && r.shown) {
    await page.evaluate(() => { document.querySelector("header").style.position = "static"; });
    await page.locator("#funnel-card").screenshot({ path: v.cardShot });
  }
  r.console = log.console.slice();
  r.failed = log.failed.slice();
  await ctx.close();
}

try {
  for (const v of job.visits) await visit(v);
} catch (e) {
  out.crash = String(e && e.stack || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
