// widget.mjs - drive cxd's widget (and the README's plain HTML form) on a host page in
// headless Chromium, with the keyboard only, and report what happened.
//
//   node widget.mjs '{"page": "http://127.0.0.1:HOSTPORT/host.html", "width": 390,
//                     "scenario": "answer"|"refused"|"dismiss"|"form", "comment": "...",
//                     "shot": "x.png"}'
//
// Prints one JSON object (facts, not verdicts); tests/integration/test_widget.py starts
// cxd and the host pages' servers and asserts on the facts against the API.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const job = JSON.parse(process.argv[2]);
const W = job.width, H = W < 700 ? 844 : 900;
const out = { width: W, scenario: job.scenario, steps: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const ctx = await browser.newContext({ viewport: { width: W, height: H }, deviceScaleFactor: 1,
                                       isMobile: W < 700, hasTouch: W < 700 });
const page = await ctx.newPage();
out.console = [];
out.posts = [];
page.on("console", m => out.console.push(m.type() + ": " + m.text()));
page.on("pageerror", e => out.console.push("pageerror: " + e.message));
page.on("request", r => { if (r.method() === "POST") out.posts.push(r.url()); });

/* What has the focus, through the widget's shadow root. */
const focused = () => page.evaluate(() => {
  let a = document.activeElement;
  const inWidget = !!(a && a.shadowRoot);
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  return a ? { tag: a.tagName.toLowerCase(), text: (a.textContent || "").trim(), inWidget,
               label: a.getAttribute("aria-label"), type: a.type || null,
               name: a.name || null, value: a.value || null, pressed: a.getAttribute("aria-pressed") }
           : null;
});

const card = () => page.evaluate(() => {
  const h = document.querySelector("[data-cxd-widget]");
  const c = h && h.shadowRoot && h.shadowRoot.querySelector(".card");
  if (!c) return null;
  const r = c.getBoundingClientRect(), cs = getComputedStyle(c);
  const err = c.querySelector(".err");
  const lg = c.querySelector("legend, label, p");
  return { text: c.innerText, spacing: lg ? getComputedStyle(lg).letterSpacing : null, rect: { l: r.left, t: r.top, r: r.right, b: r.bottom },
           position: cs.position, lang: c.lang, err: err ? err.textContent : null,
           buttons: [...c.querySelectorAll("button.s")].map(b => b.textContent),
           pressed: [...c.querySelectorAll("button[aria-pressed=true]")].map(b => b.textContent),
           vw: document.documentElement.clientWidth, vh: window.innerHeight,
           scrollW: document.documentElement.scrollWidth };
});

async function axe() {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } });
    return r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
      first: v.nodes.slice(0, 3).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").slice(0, 200)) }));
  });
}

/* Tab until the focused element matches (at most `max` presses); the presses it took. */
async function tabTo(match, max = 40) {
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press("Tab");
    const f = await focused();
    if (f && match(f)) return i;
  }
  throw new Error("Tab never reached the element");
}

async function answer(comment) {
  out.tabs = await tabTo(f => f.inWidget && f.text === String(job.score ?? 9));
  await page.keyboard.press("Enter");
  out.afterScore = await focused();
  out.cardReason = await card();
  await page.keyboard.type(comment);
  await page.keyboard.press("Tab");
  out.afterComment1 = await focused();
  if (job.scenario === "skip") {
    await page.keyboard.press("Enter");
    return;
  }
  await page.keyboard.press("Tab");
  out.afterComment2 = await focused();
  if (job.shot) await page.screenshot({ path: job.shot.replace(/\.png$/, "-reason.png") });
  await page.keyboard.press("Enter");
}

try {
  await page.goto(job.page, { waitUntil: "load" });
  if (job.scenario === "svg") {   // a QR code's SVG as Chromium draws it
    out.svgSize = await page.evaluate(() => {
      const r = document.documentElement.getBoundingClientRect();
      return [r.width, r.height];
    });
    await page.screenshot({ path: job.shot });
  } else if (job.scenario === "form") {
    out.tabs = await tabTo(f => f.type === "radio");
    out.firstRadio = await focused();
    for (let i = 0; i < 9; i++) await page.keyboard.press("ArrowRight");
    out.radio = await focused();
    await page.keyboard.press("Tab");
    await page.keyboard.type(job.comment);
    out.inTextarea = await focused();
    await page.keyboard.press("Tab");
    out.submit = await focused();
    if (job.shot) await page.screenshot({ path: job.shot, fullPage: true });
    out.axe = await axe();
    await Promise.all([page.waitForURL(u => !String(u).includes("form.html"), { timeout: 15000 }),
                       page.keyboard.press("Enter")]);
    out.landed = page.url();
    out.landedText = await page.evaluate(() => document.body.innerText);
  } else {
    await page.waitForSelector("[data-cxd-widget]", { state: "attached", timeout: 15000 });
    out.focusOnLoad = await focused();
    out.card = await card();
    out.axe = await axe();
    if (job.shot) await page.screenshot({ path: job.shot });
    if (job.scenario === "dismiss") {
      await tabTo(f => f.inWidget);
      await page.keyboard.press("Escape");
      out.afterEscape = await card();
      await page.reload({ waitUntil: "load" });
      await page.waitForTimeout(500);
      out.afterReload = await card();
    } else {
      await answer(job.comment);
      if (job.scenario === "answer") {
        await page.waitForFunction(() => {
          const h = document.querySelector("[data-cxd-widget]");
          return h && !h.shadowRoot.querySelector("textarea");
        }, null, { timeout: 15000 });
        out.done = await card();
        out.doneFocus = await focused();
        out.axeDone = await axe();
        if (job.shot) await page.screenshot({ path: job.shot.replace(/\.png$/, "-thanks.png") });
        await page.reload({ waitUntil: "load" });
        await page.waitForTimeout(500);
        out.afterReload = await card();
      } else if (job.scenario === "skip") {
        await page.waitForFunction(() => {
          const h = document.querySelector("[data-cxd-widget]");
          return h && !h.shadowRoot.querySelector("textarea");
        }, null, { timeout: 15000 });
        out.done = await card();
      } else {
        await page.waitForFunction(() => {
          const h = document.querySelector("[data-cxd-widget]");
          const e = h && h.shadowRoot.querySelector(".err");
          return e && e.textContent;
        }, null, { timeout: 15000 });
        out.done = await card();
        out.axeDone = await axe();
        if (job.shot) await page.screenshot({ path: job.shot.replace(/\.png$/, "-error.png") });
      }
    }
  }
} catch (e) {
  out.crash = String(e && e.stack || e);
}
await browser.close();
console.log(JSON.stringify(out));
