// page.mjs - answer cxd's hosted survey page in headless Chromium with the keyboard only,
// and report what happened.
//
//   node page.mjs '{"base": "http://127.0.0.1:PORT", "width": 390, "score": 9, "low": 0,
//                   "links": {"en": "/i/...", "ru": "/i/..."}, "reasons": {"en": "..."},
//                   "shots": "DIR or null", "prefix": "page"}'
//
// For each language: open the link, Tab into the score group, arrow keys down to `score`,
// Tab to the button and press Enter; on step 2 Tab to the reason, type it, Tab to Send and
// press Enter; land on the thank-you page. At each step: axe-core (WCAG 2.1 A/AA), the
// document's width against the viewport (and again at 360 px), the focused control's
// focus ring and size, console messages and CSP violations. It prints one JSON object of
// facts; tests/integration/test_page_browser.py asserts on them and on the stored answers.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const job = JSON.parse(process.argv[2]);
const W = job.width, H = W < 700 ? 844 : 900;
const out = { width: W, langs: {} };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

async function axe(page) {
  await page.evaluate(AXE);   // (evaluated by the driver, so the page's CSP does not apply)
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map(v => ({ id: v.id, nodes: v.nodes.length,
                                    first: v.nodes.slice(0, 3).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").slice(0, 200)) }));
  });
}

/* What a step looks like: widths, the page's language, the focused control. */
async function facts(page) {
  return page.evaluate(() => {
    const a = document.activeElement;
    const target = a && a.type === "radio" ? document.querySelector(`label[for="${a.id}"]`) : a;
    const box = target && target !== document.body ? target.getBoundingClientRect() : null;
    const cs = target && target !== document.body ? getComputedStyle(target) : null;
    return {
      url: location.pathname + location.search,
      lang: document.documentElement.lang, dir: document.documentElement.dir,
      h1: document.querySelectorAll("h1").length, title: document.title,
      scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
      focused: a ? (a.name || a.id || a.tagName) : null,
      focusedValue: a && a.type === "radio" ? a.value : null,
      checked: (document.querySelector("input[name=score]:checked") || {}).value || null,
      ring: cs ? cs.outlineStyle + " " + cs.outlineWidth : null,
      box: box ? { w: box.width, h: box.height } : null,
      text: document.body.innerText.slice(0, 400),
    };
  });
}

/* The most the page overflows its width at 320 and at 360 px (0 = no horizontal scroll). */
async function noScrollAt(page) {
  let worst = 0;
  for (const width of [320, 360]) {
    await page.setViewportSize({ width, height: H });
    worst = Math.max(worst, await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth));
  }
  await page.setViewportSize({ width: W, height: H });
  return worst;
}

async function shot(page, name) {
  if (job.shots)
    await page.screenshot({ path: `${job.shots}/${job.prefix}-${name}-${W}.png`, fullPage: true });
}

async function answer(lang, path) {
  const ctx = await browser.newContext({ viewport: { width: W, height: H }, deviceScaleFactor: 1,
                                         isMobile: W < 700, hasTouch: W < 700, javaScriptEnabled: true });
  const page = await ctx.newPage();
  const log = { console: [], failed: [] };
  const res = { steps: [] };
  page.on("console", m => log.console.push(m.type() + ": " + m.text()));
  page.on("pageerror", e => log.console.push("pageerror: " + e.message));
  page.on("response", r => { if (r.status() >= 400) log.failed.push(r.status() + " " + r.url()); });
  try {
    await page.goto(job.base + path, { waitUntil: "load" });
    const s1 = { axe: await axe(page), scroll360: await noScrollAt(page) };
    await page.keyboard.press("Tab");
    s1.afterTab = await facts(page);
    for (let i = job.low || 0; i < job.score; i++)   // from the lowest score, the first radio
      await page.keyboard.press("ArrowDown");
    s1.afterArrows = await facts(page);
    await shot(page, `${lang}-1`);
    // Tab leaves the group for the button
    await page.keyboard.press("Tab");
    s1.button = await facts(page);
    res.steps.push(s1);
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
    const s2 = { facts: await facts(page), axe: await axe(page), scroll360: await noScrollAt(page) };
    await page.keyboard.press("Tab");
    s2.afterTab = await facts(page);
    await page.keyboard.type(job.reasons[lang]);
    await shot(page, `${lang}-2`);
    await page.keyboard.press("Tab");
    s2.button = await facts(page);
    res.steps.push(s2);
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
    const s3 = { facts: await facts(page), axe: await axe(page), scroll360: await noScrollAt(page) };
    await shot(page, `${lang}-3`);
    res.steps.push(s3);
  } catch (e) {
    res.crash = String(e && e.stack || e);
  }
  res.console = log.console;
  res.failed = log.failed;
  await ctx.close();
  return res;
}

try {
  for (const [lang, path] of Object.entries(job.links))
    out.langs[lang] = await answer(lang, path);
} catch (e) {
  out.crash = String(e && e.stack || e);
}
await browser.close();
console.log(JSON.stringify(out));
